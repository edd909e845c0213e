"""One-page PDF report per visit: patient, eye, time, verdict, probability, image + heatmap, disclaimer.

Drawn with QPdfWriter + QPainter (no widgets, so it can run in a worker thread; a
QGuiApplication must exist for fonts). Everything comes from the record store, so a report can be
made again later from the history.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QMarginsF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPageLayout, QPageSize, QPainter, QPdfWriter, QPen

from edge_screen.errors import UsageError
from edge_screen.gui.records import RecordStore, StoreError, VisitRecord
from edge_screen.gui.strings import Strings
from edge_screen.gui.widgets import VERDICT_COLOURS, rgb_to_qimage

log = logging.getLogger(__name__)

DPI = 150


def load_visit_images(record: VisitRecord, store: RecordStore) -> tuple[np.ndarray, np.ndarray | None]:
    """The stored image ((H, W, 3) uint8 RGB) and heatmap ((H', W') float32 0..1, or None) of a visit.

    Raises:
        StoreError: a stored file is missing or unreadable.
    """
    from edge_screen.errors import ImageError
    from edge_screen.imageio import load_image

    path = store.image_path(record)
    try:
        rgb = load_image(path).rgb
    except ImageError as exc:
        raise StoreError(f"The stored image of visit {record.visit_id} cannot be read ({exc}); "
                         "the records folder may be damaged.") from exc
    heat = None
    hpath = store.heatmap_path(record)
    if hpath is not None:
        grey = cv2.imread(str(hpath), cv2.IMREAD_GRAYSCALE)
        if grey is None:
            raise StoreError(f"The stored heatmap of visit {record.visit_id} is missing or damaged at {hpath}.")
        heat = grey.astype(np.float32) / 255.0
    return rgb, heat


def write_visit_report(path: str | os.PathLike, record: VisitRecord, store: RecordStore, tr: Strings, *,
                       alpha: float = 0.45) -> Path:
    """Write the A4 PDF report of one saved visit to ``path``; returns the path.

    Raises:
        StoreError: the visit's stored files cannot be read.
        UsageError: the PDF cannot be written there.
    """
    from edge_screen.heatmap import evidence_weight, overlay

    rgb, heat = load_visit_images(record, store)
    out = Path(path)
    writer = QPdfWriter(str(out))
    writer.setResolution(DPI)
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageMargins(QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter)
    writer.setTitle(f"{tr('report.title')} {record.visit_id}")
    writer.setCreator("edge-screen")
    p = QPainter()
    if not p.begin(writer):
        raise UsageError(f"Cannot write the PDF at {out}: choose a writable folder.")
    try:
        if heat is not None:  # faint map when the model saw little evidence (as in the app)
            heat = heat * evidence_weight(record.probability, record.threshold or 0.0)
        _draw(p, writer.width(), writer.height(), record, rgb, heat, tr, overlay, alpha)
    finally:
        p.end()
    if not out.is_file() or out.stat().st_size == 0:
        raise UsageError(f"The PDF at {out} was not written: check the folder is writable and the disk not full.")
    log.info("wrote the PDF report of visit %s", record.visit_id)
    return out


def _font(pt: float, bold: bool = False) -> QFont:
    f = QFont("DejaVu Sans")
    f.setPointSizeF(pt)
    f.setBold(bold)
    return f


def _draw(p: QPainter, width: int, height: int, rec: VisitRecord, rgb: np.ndarray, heat: np.ndarray | None,
          tr: Strings, overlay, alpha: float) -> None:  # noqa: ANN001
    u = DPI / 25.4          # device pixels per millimetre
    y = 0.0
    p.setFont(_font(18, True))
    p.drawText(QRectF(0, y, width, 12 * u), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
               tr("report.title"))
    y += 14 * u
    p.setFont(_font(10))
    rows = [("Patient ID", rec.patient_id), ("Eye", tr(f"eye.{rec.eye}")), ("Time (UTC)", rec.time_utc),
            ("Visit", rec.visit_id), ("Operator", rec.operator or "-"),
            ("Model", f"{rec.bundle_id} ({rec.backend})")]
    for k, v in rows:
        p.setFont(_font(10, True))
        p.drawText(QRectF(0, y, 35 * u, 6 * u), Qt.AlignmentFlag.AlignLeft, k)
        p.setFont(_font(10))
        p.drawText(QRectF(36 * u, y, width - 36 * u, 6 * u), Qt.AlignmentFlag.AlignLeft, v)
        y += 6 * u
    y += 4 * u
    bg, fg = VERDICT_COLOURS[rec.verdict]
    box = QRectF(0, y, width, 26 * u)
    p.fillRect(box, QColor(bg))
    p.setPen(QColor(fg))
    p.setFont(_font(18, True))
    p.drawText(box.adjusted(5 * u, 2 * u, -5 * u, -12 * u), Qt.AlignmentFlag.AlignVCenter, tr(f"verdict.{rec.verdict}"))
    p.setFont(_font(10))
    detail = (tr("verdict.prob", prob=rec.probability, thr=rec.threshold or 0.0) if rec.probability is not None
              else tr("verdict.prob.none", thr=rec.threshold or 0.0))
    if rec.quality_reasons:
        detail += "   Quality: " + rec.quality_reasons.replace(",", ", ")
    p.drawText(box.adjusted(5 * u, 14 * u, -5 * u, -2 * u), Qt.AlignmentFlag.AlignVCenter, detail)
    p.setPen(QColor("#000000"))
    y += 30 * u

    gap = 5 * u
    col = (width - gap) / 2
    h, w = rgb.shape[:2]
    img_h = col * h / w
    panels = [(tr("image.original"), rgb)]
    panels.append((tr("image.heatmap"), overlay(rgb, heat, alpha=alpha) if heat is not None else None))
    for i, (caption, img) in enumerate(panels):
        x = i * (col + gap)
        p.setFont(_font(10, True))
        p.drawText(QRectF(x, y, col, 6 * u), Qt.AlignmentFlag.AlignLeft, caption)
        target = QRectF(x, y + 7 * u, col, img_h)
        if img is None:
            p.setPen(QPen(QColor("#888888")))
            p.drawRect(target)
            p.drawText(target, Qt.AlignmentFlag.AlignCenter, "No heatmap: the image was not graded.")
            p.setPen(QColor("#000000"))
        else:
            p.drawImage(target, rgb_to_qimage(img))
    y += img_h + 12 * u

    disc = QRectF(0, max(y, height - 30 * u), width, 24 * u)
    p.setPen(QPen(QColor("#000000"), 0.6 * u))
    p.drawRect(disc)
    p.setFont(_font(11, True))
    p.drawText(disc.adjusted(4 * u, 2 * u, -4 * u, -2 * u), Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextWordWrap,
               tr("report.disclaimer"))
