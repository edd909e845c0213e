"""The folder a tabletop camera exports to, polled by a worker (Qt-free).

:func:`watch_loop` reports typed events through ``report``: :class:`WatchStarted` once, a
:class:`~edge_screen.gui.visit.Capture` per new photo, a
:class:`~edge_screen.gui.visit.CaptureFailure` per file that cannot be a photo, and
:class:`WatchProblem` when the folder itself cannot be read. Files are only read, never moved or
changed.

A file is checked with the core's limits before anything is decoded: the file size
(:data:`edge_screen.gui.jobs.MAX_FILE_BYTES`), the format from its magic bytes and the pixel count
from its header (:func:`edge_screen.imageio.image_size_from_header` against
:data:`edge_screen.imageio.DEFAULT_MAX_PIXELS`), so a decompression bomb costs only its header.
The pixels are decoded once, by the screener (``load_image``, same limits), which also reports
damaged data.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edge_screen.errors import ImageError, UsageError
from edge_screen.gui.jobs import DICOM_EXTS, IMAGE_EXTS, capture_from_bytes, read_bytes
from edge_screen.gui.visit import CaptureFailure, SourceKind

if TYPE_CHECKING:
    from edge_screen.gui.workers import CancelToken

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchStarted:
    """Watching began (``skipped`` files were there before and are left alone)."""

    folder: str
    skipped: int


@dataclass(frozen=True)
class WatchProblem:
    """The folder cannot be read right now (watching goes on)."""

    reason: str


def check_header(data: bytes) -> None:
    """Refuse what cannot be a photo before decoding: unknown format, too many or too few pixels.

    Raises:
        ImageError: with the core's reason code (``unsupported_format``, ``too_large``,
            ``too_small``, ``damaged_file``).
    """
    from edge_screen.imageio import DEFAULT_MAX_PIXELS, MIN_SIDE, image_size_from_header, sniff_format

    fmt = sniff_format(data)
    if fmt is None:
        raise ImageError("not an image the app can read", reason="unsupported_format")
    if fmt == "DICOM":
        return   # read_dicom decodes it with load_image's limits
    width, height = image_size_from_header(data, fmt)
    if width * height > DEFAULT_MAX_PIXELS:
        raise ImageError(f"{width}x{height} pixels is more than the limit (possible decompression bomb)",
                         reason="too_large")
    if min(width, height) < MIN_SIDE:
        raise ImageError(f"{width}x{height} pixels is too small to grade", reason="too_small")


def watch_loop(token: CancelToken, report: Callable[[object], None], folder: str | os.PathLike, *,
               interval_s: float = 0.5, settle_polls: int = 2, include_existing: bool = False) -> str:
    """Poll ``folder`` and report each new image once its size and mtime stop changing.

    A file is taken after ``settle_polls`` consecutive polls with the same non-zero size and mtime
    (cameras write exports in pieces). A replaced file (new size or mtime) is considered again.

    Returns:
        "cancelled".

    Raises:
        UsageError: ``folder`` is not a directory.
    """
    root = Path(folder)
    if not root.is_dir():
        raise UsageError("The watch folder does not exist or is not a folder: choose the folder the camera "
                         "exports to.")
    done: set[tuple[str, int, int]] = set()
    pending: dict[str, tuple[int, int, int]] = {}   # name -> (size, mtime_ns, stable polls)
    suffixes = IMAGE_EXTS + DICOM_EXTS

    def scan() -> list[os.DirEntry]:
        try:
            return [e for e in os.scandir(root)
                    if e.is_file() and not e.name.startswith(".") and e.name.lower().endswith(suffixes)]
        except OSError as exc:
            report(WatchProblem("unreadable"))
            log.info("watch folder unreadable: %s", exc.strerror or exc)
            return []

    if not include_existing:
        for e in scan():
            st = e.stat()
            done.add((e.name, st.st_size, st.st_mtime_ns))
    report(WatchStarted(str(root), len(done)))
    log.info("watching a folder (%d existing files skipped)", len(done))
    while not token.cancelled:
        for e in scan():
            try:
                st = e.stat()
            except OSError:
                continue   # vanished between scandir and stat
            key = (e.name, st.st_size, st.st_mtime_ns)
            if key in done:
                continue
            prev = pending.get(e.name)
            stable = prev[2] + 1 if prev and prev[:2] == (st.st_size, st.st_mtime_ns) and st.st_size > 0 else 0
            pending[e.name] = (st.st_size, st.st_mtime_ns, stable)
            if stable < settle_polls:
                continue
            del pending[e.name]
            done.add(key)
            try:
                data = read_bytes(e.path)
                check_header(data)
                capture = capture_from_bytes(data, e.name, SourceKind.WATCH)
            except ImageError as exc:
                log.info("watch folder: rejected a file (%s)", exc.reason)
                report(CaptureFailure(SourceKind.WATCH, e.name, exc.reason))
                continue
            report(capture)
        token.wait(interval_s)
    return "cancelled"
