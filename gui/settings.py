"""Persistent app settings (QSettings): bundle, backend, threads, camera, watch folder, DICOM receiver, language.

Values are validated when set (``UsageError``). A stored value that no longer validates (hand-edited
INI, older version) is reported at WARNING with the value and the default used instead.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

from edge_screen.errors import UsageError
from edge_screen.gui.translations import LANGUAGES

log = logging.getLogger(__name__)



def backends() -> tuple[str, ...]:
    """"auto" plus every runtime in the core's registry (imported on first use, not at start-up)."""
    from edge_screen.runtime import runtime_names

    return ("auto", *runtime_names())


def default_data_dir() -> Path:
    """Per-user folder for records (``~/.local/share/edge-screen`` on Linux)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)
    return Path(base or Path.home() / ".local" / "share") / "edge-screen"


class AppSettings:
    """Typed view of the app's QSettings.

    Args:
        path: an INI file (tests, portable installs); None uses the platform's native store
            under organisation "edge-screen", application "edge-screen-app".
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        if path is None:
            self._q = QSettings("edge-screen", "edge-screen-app")
        else:
            self._q = QSettings(str(path), QSettings.Format.IniFormat)

    def _get(self, key: str, default, kind, valid=None):
        raw = self._q.value(key, None)
        if raw is None or raw == "":
            return default
        try:
            value = kind(raw)
        except (TypeError, ValueError):
            log.warning("setting %s=%r is not a valid %s; using %r", key, raw, kind.__name__, default)
            return default
        if valid is not None and not valid(value):
            log.warning("setting %s=%r is out of range; using %r", key, value, default)
            return default
        return value

    def sync(self) -> None:
        """Write pending changes to disk."""
        self._q.sync()

    @property
    def file_name(self) -> str:
        """Where the settings live."""
        return self._q.fileName()

    # -- model -----------------------------------------------------------------------------------
    @property
    def bundle_path(self) -> str:
        """Model bundle folder or .zip; "" = the default bundle shipped with the package."""
        return self._get("model/bundle", "", str)

    @bundle_path.setter
    def bundle_path(self, value: str) -> None:
        self._q.setValue("model/bundle", str(value))

    @property
    def backend(self) -> str:
        """Inference backend name or "auto"."""
        return self._get("model/backend", "auto", str, lambda v: v in backends())

    @backend.setter
    def backend(self, value: str) -> None:
        if value not in backends():
            raise UsageError(f"Backend {value!r} is not valid: use one of {', '.join(backends())}.")
        self._q.setValue("model/backend", value)

    @property
    def threads(self) -> int:
        """Inference threads; 0 = the runtime's default."""
        return self._get("model/threads", 0, int, lambda v: 0 <= v <= 256)

    @threads.setter
    def threads(self, value: int) -> None:
        if not 0 <= int(value) <= 256:
            raise UsageError(f"Threads {value!r} is not valid: use 0 (automatic) to 256.")
        self._q.setValue("model/threads", int(value))

    # -- sources ---------------------------------------------------------------------------------
    @property
    def camera(self) -> str:
        """Camera: a device index ("0") or a device/video path; "" = none chosen."""
        return self._get("sources/camera", "", str)

    @camera.setter
    def camera(self, value: str) -> None:
        self._q.setValue("sources/camera", str(value))

    @property
    def watch_folder(self) -> str:
        """The folder a tabletop camera exports to; "" = none."""
        return self._get("sources/watch_folder", "", str)

    @watch_folder.setter
    def watch_folder(self, value: str) -> None:
        self._q.setValue("sources/watch_folder", str(value))

    @property
    def dicom_port(self) -> int:
        """TCP port of the DICOM C-STORE receiver (1..65535; default 11112, the DICOM-registered port)."""
        return self._get("dicom/port", 11112, int, lambda v: 1 <= v <= 65535)

    @dicom_port.setter
    def dicom_port(self, value: int) -> None:
        if not 1 <= int(value) <= 65535:
            raise UsageError(f"DICOM port {value!r} is not valid: use 1 to 65535 (default 11112).")
        self._q.setValue("dicom/port", int(value))

    @property
    def dicom_enabled(self) -> bool:
        """Start the C-STORE receiver with the app."""
        return self._get("dicom/enabled", "false", str).lower() == "true"

    @dicom_enabled.setter
    def dicom_enabled(self, value: bool) -> None:
        self._q.setValue("dicom/enabled", "true" if value else "false")

    @property
    def dicom_host(self) -> str:
        """Address the receiver binds to; loopback unless the clinic changes it on purpose."""
        return self._get("dicom/host", "127.0.0.1", str)

    @dicom_host.setter
    def dicom_host(self, value: str) -> None:
        self._q.setValue("dicom/host", str(value))

    @property
    def dicom_callers(self) -> list[str]:
        """Calling AE titles allowed to send (the fundus cameras); empty = the receiver cannot start."""
        raw = self._get("dicom/callers", "", str)
        return [t for t in (x.strip() for x in raw.split(",")) if t]

    @dicom_callers.setter
    def dicom_callers(self, value: list[str] | str) -> None:
        items = value.split(",") if isinstance(value, str) else list(value)
        titles = [t.strip() for t in items if t.strip()]
        for t in titles:
            if len(t) > 16 or not t.isascii() or "\\" in t:
                raise UsageError(f"AE title {t!r} is not valid: up to 16 ASCII characters, no backslash.")
        self._q.setValue("dicom/callers", ",".join(titles))

    @property
    def dicom_general(self) -> bool:
        """Also accept VL Photographic and Secondary Capture objects (not only ophthalmic photography)."""
        return self._get("dicom/general_photos", "false", str).lower() == "true"

    @dicom_general.setter
    def dicom_general(self, value: bool) -> None:
        self._q.setValue("dicom/general_photos", "true" if value else "false")

    @property
    def dicom_max_mb(self) -> int:
        """Largest received object, in MiB."""
        return self._get("dicom/max_mb", 100, int, lambda v: 1 <= v <= 2048)

    @dicom_max_mb.setter
    def dicom_max_mb(self, value: int) -> None:
        if not 1 <= int(value) <= 2048:
            raise UsageError(f"DICOM size limit {value!r} MB is not valid: use 1 to 2048.")
        self._q.setValue("dicom/max_mb", int(value))

    # -- records / people ------------------------------------------------------------------------
    @property
    def data_dir(self) -> str:
        """Records folder (database + images)."""
        return self._get("records/data_dir", str(default_data_dir()), str)

    @data_dir.setter
    def data_dir(self, value: str) -> None:
        self._q.setValue("records/data_dir", str(value))

    @property
    def operator(self) -> str:
        """Name or code of the technician, stored with each visit."""
        return self._get("records/operator", "", str)

    @operator.setter
    def operator(self, value: str) -> None:
        self._q.setValue("records/operator", str(value))

    @property
    def language(self) -> str:
        """UI language code (a key of translations.LANGUAGES)."""
        return self._get("ui/language", "en", str, lambda v: v in LANGUAGES)

    @language.setter
    def language(self, value: str) -> None:
        if value not in LANGUAGES:
            raise UsageError(f"Language {value!r} is not available: use one of {', '.join(LANGUAGES)}.")
        self._q.setValue("ui/language", value)
