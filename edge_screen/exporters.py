"""The export-format registry: one :class:`Exporter` entry per ``edge-screen export --format``.

An export format writes bundle entries for one registered backend (:mod:`edge_screen.backends`),
under the backend's name. It is registered by one line in its distribution's ``pyproject.toml``::

    [project.entry-points."edge_screen.exporters"]
    openvino = "edge_screen.quantize.formats:OPENVINO"

``edge-screen export --format/--precision`` choices, the exporter's target check and the export
test matrices are derived from this table. The entry must load without torch (``edge-screen
--help`` reads it): the heavy work sits behind ``write``, imported when a bundle is written.
This module is torch-free; the exporters themselves live in the ``train`` layer (``quantize/``).
"""

from __future__ import annotations

import importlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from edge_screen import registry
from edge_screen.backends import backends, precision_rank
from edge_screen.errors import UsageError

log = logging.getLogger(__name__)

GROUP = "edge_screen.exporters"
_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclass(frozen=True)
class ExportJob:
    """What an exporter's ``write`` gets for one (format, precision) of an export.

    Attributes:
        writer: the :class:`~edge_screen.bundle.BundleWriter` of the bundle being written; ``write``
            adds its entry with ``writer.add_model(exporter.backend, precision, files, **extra)``.
        root: the bundle folder (absolute); artifacts go under ``root / <format>/``.
        fp32: the FP32 ONNX reference (input ``image``, outputs ``probabilities``, ``heatmap`` [+ gate]).
        graph: the torch module behind it (``image -> (probabilities, heatmap[, ...])``), eval mode.
        precision: the precision to write.
        input_size: S of the ``(B, 3, S, S)`` input.
        calib: calibration ``ImageSet`` (images ``(N, 3, S, S)`` float32, preprocessed) or None.
        val: labelled validation ``ImageSet`` or None.
        options: the export's INT8 options (``float_convs``, ``bias_correction``, ``weight_bits``).
    """

    writer: Any
    root: Path
    fp32: Path
    graph: Any
    precision: str
    input_size: int
    calib: Any = None
    val: Any = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Exporter:
    """One export format.

    Attributes:
        name: the ``--format`` name (``"onnx"``).
        backend: the registered backend whose entries it writes (``"onnxruntime"``).
        precisions: what it can write; each must be one the backend declares.
        file_roles: the manifest ``files`` keys every entry it writes carries (``("model",)``; TensorRT
            writes ``("onnx",)``: the engine is built on the device and added as ``engine``).
        write: ``"module:function"``, ``function(job: ExportJob) -> Path | None`` (the artifact the INT8
            report compares, or None), for formats outside the built-in pipeline; None for the
            built-in ones (``edge_screen.quantize`` writes them itself).
        check: ``() -> None`` when it can export here, else why not and what to install.
        hint: one line added to errors about it (e.g. which precision to pick instead).
    """

    name: str
    backend: str
    precisions: tuple[str, ...]
    file_roles: tuple[str, ...]
    write: str | None = None
    check: Callable[[], str | None] | None = None
    hint: str = ""

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"export format name must be lowercase letters, digits, '-' or '_', got {self.name!r}")
        if not self.precisions or not self.file_roles:
            raise ValueError(f"export format {self.name!r}: precisions and file_roles must not be empty")
        if self.write is not None and ":" not in self.write:
            raise ValueError(f"export format {self.name!r}: write must be 'module:function', got {self.write!r}")

    def unavailable(self) -> str | None:
        """None when this format can be written here, else why not (one line)."""
        if self.check is None:
            return None
        try:
            return self.check()
        except Exception as exc:  # noqa: BLE001 - a broken optional install is "unavailable"
            return f"export format {self.name!r} is not usable here ({type(exc).__name__}: {exc})"

    def run(self, job: ExportJob) -> Path | None:
        """Write ``job.precision`` with this format's ``write`` function (plug-in formats)."""
        if self.write is None:
            raise UsageError(f"export format {self.name!r} is written by edge_screen.quantize itself, not by run()")
        reason = self.unavailable()
        if reason is not None:
            raise UsageError(reason)
        module, _, attr = self.write.partition(":")
        return getattr(importlib.import_module(module), attr)(job)


def exporters() -> dict[str, Exporter]:
    """Every registered export format whose backend is registered too, by name.

    A format for a backend nobody registered would write entries no runtime can run: it is left
    out, with a warning (a bundle must not carry them).
    """
    table = registry.load_group(GROUP, Exporter)
    known = backends()
    out = {}
    for name, e in table.items():
        b = known.get(e.backend)
        if b is None:
            log.warning("skipping export format %r: it writes for backend %r, which is not registered "
                                 "(registered: %s)", name, e.backend, ", ".join(known))  # fmt: skip
            continue
        extra = [p for p in e.precisions if p not in b.precisions]
        if extra:
            log.warning("skipping export format %r: backend %r declares no %s models", name, e.backend,
                                 ", ".join(extra))  # fmt: skip
            continue
        out[name] = e
    return out


def exporter_names() -> list[str]:
    """Registered export formats, sorted."""
    return sorted(exporters())


def export_precisions() -> tuple[str, ...]:
    """Every precision some export format can write (int8 > fp16 > fp32)."""
    return tuple(sorted({p for e in exporters().values() for p in e.precisions}, key=precision_rank))


def get_exporter(name: str) -> Exporter:
    """The entry for ``name``; an unknown name is a UsageError listing the valid ones and the closest."""
    table = exporters()
    if name not in table:
        raise registry.unknown_name("export format", name, sorted(table))
    return table[name]


def check_target(format: str, precision: str) -> Exporter:
    """The exporter of a ``(format, precision)`` export target; UsageError naming the valid ones."""
    e = get_exporter(format)
    if precision not in e.precisions:
        raise UsageError(f"precision {precision!r} is not available for {format}; valid: {', '.join(e.precisions)}"
                         + (f" ({e.hint})" if e.hint else ""))  # fmt: skip
    return e
