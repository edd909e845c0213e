"""The functions the controllers run in workers (``fn(token, report, ...)``), and what they return.

Qt-free: they call only ``edge_screen`` APIs and the gui's record store, so they are plain
functions a test can call directly.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_screen.errors import ImageError, UsageError
from edge_screen.gui.visit import Capture, Identity, SourceKind

log = logging.getLogger(__name__)

#: Pixels: longest side of the images kept for display, the stored heatmap and the PDF.
DISPLAY_MAX = 900
#: Bytes: the largest file any source reads (a 24 MP uncompressed DICOM is ~72 MB).
MAX_FILE_BYTES = 256 * 1024 * 1024
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
DICOM_EXTS = (".dcm", ".dicom")


@dataclass(frozen=True)
class Display:
    """What the screen shows for one photo, prepared off the GUI thread.

    ``photo``: (h, w, 3) uint8 RGB, longest side <= :data:`DISPLAY_MAX`. ``overlay``: the heatmap
    drawn by :func:`edge_screen.heatmap.render_heatmap` over ``photo`` (None when not graded).
    ``heatmap_png``: the (h, w) heatmap as an 8-bit PNG, stored with the record for the PDF.
    """

    photo: np.ndarray
    overlay: np.ndarray | None
    heatmap_png: bytes | None


def shrink(rgb: np.ndarray, longest: int = DISPLAY_MAX) -> np.ndarray:
    """Downscale (area filter) so the longest side is at most ``longest``; returns the input if smaller."""
    h, w = rgb.shape[:2]
    s = min(1.0, longest / max(h, w))
    if s == 1.0:
        return rgb
    return cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def encode_png(image: np.ndarray) -> bytes:
    """(H, W, 3) uint8 RGB or (H, W) uint8 -> PNG bytes (lossless)."""
    arr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, buf = cv2.imencode(".png", arr)
    if not ok:
        raise UsageError("PNG encoding failed.")
    return buf.tobytes()


def heatmap_png(heatmap: np.ndarray) -> bytes:
    """(H, W) float32 0..1 -> 8-bit grey PNG bytes."""
    return encode_png(np.clip(np.round(heatmap * 255.0), 0, 255).astype(np.uint8))


def load_model_job(token, report, bundle_path: str, backend: str, threads: int):  # noqa: ANN001, ANN201
    """Load the bundle and create the Screener (the slow part of start-up: runtime import + compile)."""
    from edge_screen.bundle import default_bundle_path, load_bundle
    from edge_screen.errors import BundleError
    from edge_screen.screener import Screener

    path = bundle_path or default_bundle_path()
    if path is None:
        raise BundleError("no default model is installed and no bundle is set")
    bundle = load_bundle(path)
    return Screener(bundle, backend=None if backend in ("", "auto") else backend, threads=threads or None)


def screen_job(token, report, screener, capture: Capture):  # noqa: ANN001, ANN201
    """Screen a capture and prepare its display. Returns ``(ScreenResult, Display)``.

    The screener's decoded image is reused for display (no second decode); the heatmap is mapped
    straight to the display size and drawn by the core's one rendering.
    """
    from edge_screen.heatmap import render_heatmap

    result = screener.screen(capture.pixels if capture.pixels is not None else capture.data, heatmap=True)
    d = result.display(DISPLAY_MAX)  # the screener's decoded image, its map and its disc, at display size
    if result.verdict == "ungradable" or result.cam is None or d.heatmap is None:
        return result, Display(photo=d.rgb, overlay=None, heatmap_png=None)
    overlay = render_heatmap(d.rgb, d.heatmap, probability=result.probability, threshold=result.threshold,
                             fov=d.fov)  # no second FOV detection: the screener's disc, scaled
    return result, Display(photo=d.rgb, overlay=overlay, heatmap_png=heatmap_png(d.heatmap))


@dataclass(frozen=True)
class SaveRequest:
    """Everything one record needs, copied on the GUI thread so the worker reads no live state."""

    shot_id: str
    patient_id: str
    no_id: bool
    eye: str
    operator: str
    session_id: str
    capture: Capture
    result: Any
    heatmap_png: bytes | None


def save_job(token, report, store, request: SaveRequest):  # noqa: ANN001, ANN201
    """Write one record; returns ``(shot_id, VisitRecord)``. Raises StoreError (disk full, read-only)."""
    r = request.result
    bundle_version = r.bundle.split("@", 1)[1].split(":", 1)[0] if "@" in r.bundle else ""
    backend = f"{r.backend}/{r.precision}"
    if getattr(r, "recheck", None):  # a borderline INT8 result decided by FP32: the record says which ran first
        backend += f" (re-check of {r.recheck['first']})"
    rec = store.add_visit(
        patient_id=request.patient_id, no_id=request.no_id, eye=request.eye, image=request.capture.data,
        image_ext=request.capture.ext, verdict=r.verdict, probability=r.probability, threshold=r.threshold,
        bundle_id=r.bundle, bundle_version=bundle_version, backend=backend,
        operator=request.operator, source=request.capture.source.value, quality_reasons=r.quality.reasons,
        heatmap_png=request.heatmap_png, session_id=request.session_id)
    return request.shot_id, rec


def correct_job(token, report, store, corrections):  # noqa: ANN001, ANN201
    """Apply corrections (eye, operator) to saved records, each with its trail entry."""
    return [store.correct(c.record_id, c.field, c.new, by=c.by, time_utc=c.time_utc) for c in corrections]


def read_bytes(path: str | os.PathLike) -> bytes:
    """Read a file for screening, refusing anything larger than :data:`MAX_FILE_BYTES`.

    Raises:
        ImageError: missing, unreadable or too large (with its reason code).
    """
    p = Path(path)
    try:
        size = p.stat().st_size
    except FileNotFoundError as exc:
        raise ImageError("the file was not found", reason="not_found") from exc
    except OSError as exc:
        raise ImageError(f"the file cannot be read: {exc.strerror or exc}", reason="unreadable") from exc
    if not p.is_file():
        raise ImageError("not a file", reason="not_found")
    if size > MAX_FILE_BYTES:
        raise ImageError(f"the file has {size:,} bytes, more than the {MAX_FILE_BYTES:,} allowed", reason="too_large")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise ImageError(f"the file cannot be read: {exc.strerror or exc}", reason="unreadable") from exc


def capture_from_bytes(data: bytes, name: str, source: SourceKind) -> Capture:
    """A Capture from file bytes; DICOM is decoded here (identity and pixels, with the core's limits)."""
    ext = Path(name).suffix.lower()
    if ext in DICOM_EXTS or data[128:132] == b"DICM":
        from edge_screen.gui.dicom_io import read_dicom

        image = read_dicom(data)
        return Capture(data=image.data, ext=".dcm", source=SourceKind.DICOM if source is SourceKind.FILE else source,
                       name=name, pixels=image.rgb, identity=Identity(image.patient_id, image.eye))
    return Capture(data=data, ext=ext or ".img", source=source, name=name)


def read_file_job(token, report, path: str) -> Capture:  # noqa: ANN001
    """An opened or dropped file -> Capture (raises ImageError with its reason)."""
    return capture_from_bytes(read_bytes(path), Path(path).name, SourceKind.FILE)


def write_report_job(token, report, path, records, store, corrections):  # noqa: ANN001, ANN201
    """Write the PDF of a visit (QPdfWriter paints no widgets, so it may run off the GUI thread)."""
    from edge_screen.gui.report import write_visit_report

    return write_visit_report(path, records, store, corrections=corrections)


def export_csv_job(token, report, store, path, records):  # noqa: ANN001, ANN201
    """Write the CSV export."""
    return store.export_csv(path, records)
