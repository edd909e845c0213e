"""One-page PDF report of a visit: patient, time (local, with its zone), operator, the visit summary,
both eyes side by side (photo, heatmap drawn by the core's :func:`edge_screen.heatmap.render_heatmap`
with its legend, result, details), the correction trail and the disclaimer.

Drawn with QPdfWriter + QPainter (no widgets, so it can run in a worker thread; a QGuiApplication
must exist for fonts). Everything comes from the record store, so a report can be made again later
from the history. Texts are translated with the app's installed QTranslator.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QCoreApplication, QMarginsF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPageLayout, QPageSize, QPainter, QPdfWriter, QPen

from edge_screen.errors import UsageError
from edge_screen.gui.records import RecordStore, StoreError, VisitRecord
from edge_screen.gui.widgets import VERDICT_COLOURS, paint_verdict_icon, rgb_to_qimage

translate = QCoreApplication.translate   # lupdate finds calls named translate(...)


log = logging.getLogger(__name__)

DPI = 150
_A = Qt.AlignmentFlag


def report_file_name(records: list[VisitRecord]) -> str:
    """``<patient>_<eyes>_<YYYY-MM-DD>.pdf`` (characters unsafe in file names replaced)."""
    first = records[0]
    patient = re.sub(r"[^\w.-]+", "-", first.patient_id, flags=re.UNICODE).strip("-.") or "no-ID"
    eyes = "-".join(e for e in ("OD", "OS") if any(r.eye == e for r in records))
    try:
        day = datetime.fromisoformat(first.time_utc).astimezone().strftime("%Y-%m-%d")
    except ValueError:
        day = first.time_utc[:10]
    return f"{patient}_{eyes}_{day}.pdf"


def load_visit_images(record: VisitRecord, store: RecordStore) -> tuple[np.ndarray, np.ndarray | None]:
    """The stored image ((H, W, 3) uint8 RGB, longest side <= 900) and heatmap ((h, w) float32 0..1, or None).

    Raises:
        StoreError: a stored file is missing or unreadable.
    """
    from edge_screen.errors import ImageError
    from edge_screen.gui.jobs import DISPLAY_MAX, shrink
    from edge_screen.imageio import load_image

    try:
        rgb = shrink(load_image(store.image_path(record), target_size=DISPLAY_MAX // 2).rgb)
    except ImageError as exc:
        raise StoreError(f"The stored image of record {record.visit_id} cannot be read ({exc.reason}); "
                         "the records folder may be damaged.", reason="damaged") from exc
    heat = None
    hpath = store.heatmap_path(record)
    if hpath is not None:
        grey = cv2.imread(str(hpath), cv2.IMREAD_GRAYSCALE)
        if grey is None:
            raise StoreError(f"The stored heatmap of record {record.visit_id} is missing or damaged.",
                             reason="damaged")
        heat = grey.astype(np.float32) / 255.0
    return rgb, heat


def _font(pt: float, bold: bool = False) -> QFont:
    f = QFont()
    f.setPointSizeF(pt)
    f.setBold(bold)
    return f


def write_visit_report(path: str | os.PathLike, records: list[VisitRecord], store: RecordStore, *,
                       corrections: dict | None = None) -> Path:
    """Write the A4 PDF of one visit (its records: at most one per eye) to ``path``; returns the path.

    Raises:
        StoreError: a stored file cannot be read.
        UsageError: no records, or the PDF cannot be written there.
    """
    from edge_screen.heatmap import render_heatmap

    if not records:
        raise UsageError("A report needs at least one saved record.")
    by_eye: dict[str, tuple[VisitRecord, np.ndarray, np.ndarray | None]] = {}
    for rec in records:
        rgb, heat = load_visit_images(rec, store)
        overlay = None if heat is None else render_heatmap(rgb, heat, probability=rec.probability,
                                                           threshold=rec.threshold)
        by_eye[rec.eye] = (rec, rgb, overlay)
    out = Path(path)
    writer = QPdfWriter(str(out))
    writer.setResolution(DPI)
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageMargins(QMarginsF(14, 12, 14, 12), QPageLayout.Unit.Millimeter)
    writer.setTitle(translate("Report", "Eye screening report"))
    writer.setCreator("edge-screen")
    p = QPainter()
    if not p.begin(writer):
        raise UsageError(f"Cannot write the PDF at {out}: choose a writable folder.")
    try:
        _Page(p, writer.width(), writer.height()).draw(by_eye, corrections or {})
    finally:
        p.end()
    if not out.is_file() or out.stat().st_size == 0:
        raise UsageError(f"The PDF at {out} was not written: check the folder is writable and the disk not full.")
    log.info("wrote the PDF report of %d record(s)", len(records))
    return out


class _Page:
    """Lays one A4 page out top to bottom; the photos take the height that is left."""

    def __init__(self, p: QPainter, width: int, height: int) -> None:
        self.p, self.width, self.height = p, width, height
        self.mm = DPI / 25.4

    def text(self, rect: QRectF, s: str, pt: float, *, bold: bool = False, flags=_A.AlignLeft | _A.AlignTop,  # noqa: ANN001
             colour: str = "#000000") -> float:
        """Draw wrapped text; returns the height used."""
        self.p.setFont(_font(pt, bold))
        self.p.setPen(QColor(colour))
        box = self.p.boundingRect(rect, int(flags | Qt.TextFlag.TextWordWrap), s)
        self.p.drawText(rect, int(flags | Qt.TextFlag.TextWordWrap), s)
        return box.height()

    def draw(self, by_eye: dict, corrections: dict) -> None:
        from edge_screen.gui.visit import FINDING_OF_VERDICT, Eye, Finding, summarize
        from edge_screen.gui.wording import (
            eye_name,
            local_time,
            quality_reason,
            retake_headline,
            summary_text,
            verdict_word,
        )

        mm, w = self.mm, self.width
        first = next(iter(by_eye.values()))[0]
        y = self.text(QRectF(0, 0, w, 12 * mm), translate("Report", "Eye screening report"), 18, bold=True) + 2 * mm
        patient = first.patient_id or translate("Report", "no ID (confirmed by the operator)")
        operators = sorted({r.operator for r, _, _ in by_eye.values() if r.operator}) or ["-"]
        rows = [(translate("Report", "Patient ID"), patient),
                (translate("Report", "Date and time"), local_time(min(r.time_utc for r, _, _ in by_eye.values()))),
                (translate("Report", "Operator"), ", ".join(operators))]
        for k, v in rows:
            self.text(QRectF(0, y, 42 * mm, 6 * mm), k, 10.5, bold=True)
            self.text(QRectF(43 * mm, y, w - 43 * mm, 6 * mm), v, 10.5)
            y += 6 * mm
        y += 2 * mm
        eyes = {e: FINDING_OF_VERDICT[by_eye[e.value][0].verdict] for e in Eye if e.value in by_eye}
        missing = tuple(e for e in Eye if e.value not in by_eye)
        eyes.update({e: Finding.NONE for e in missing})
        kind, head, detail = summary_text(summarize(eyes, missing=missing))
        y += self.banner(QRectF(0, y, w, 22 * mm), kind, head, detail) + 3 * mm

        disclaimer = translate("Report", "Screening support, not a diagnosis. An eye specialist must confirm any finding. "
                                 "A normal result does not rule out eye disease.")
        trail = [c for recs in corrections.values() for c in recs]
        bottom_reserved = 24 * mm + (6 * mm * (len(trail) + 1) if trail else 0)
        gap = 6 * mm
        col = (w - gap) / 2
        # photos: what is left after the fixed parts (titles, verdicts, legend, details)
        fixed = 8 * mm + 14 * mm + 8 * mm + 18 * mm
        avail = self.height - y - bottom_reserved - fixed
        aspect = max((rgb.shape[0] / rgb.shape[1] for _, rgb, _ in by_eye.values()), default=0.66)
        img_h = min(col * aspect, avail / 2 - 2 * mm)
        img_w = img_h / aspect
        for i, eye in enumerate(Eye):
            x = i * (col + gap)
            yy = y
            yy += self.text(QRectF(x, yy, col, 8 * mm), eye_name(eye), 13, bold=True) + mm
            if eye.value not in by_eye:
                box = QRectF(x, yy, col, img_h)
                self.p.setPen(QPen(QColor("#888888"), 0.3 * mm))
                self.p.drawRect(box)
                self.text(box, translate("Report", "No photo of this eye was saved."), 11, flags=_A.AlignCenter)
                continue
            rec, rgb, overlay = by_eye[eye.value]
            vkind = rec.verdict
            vhead = (retake_headline(rec.quality_reasons.split(",") if rec.quality_reasons else [])
                     if vkind == "ungradable" else verdict_word(vkind))
            yy += self.banner(QRectF(x, yy, col, 12 * mm), vkind, vhead, "", small=True) + 2 * mm
            ix = x + (col - img_w) / 2
            self.p.drawImage(QRectF(ix, yy, img_w, img_h), rgb_to_qimage(rgb))
            yy += img_h + 2 * mm
            if overlay is not None:
                self.p.drawImage(QRectF(ix, yy, img_w, img_h), rgb_to_qimage(overlay))
                yy += img_h + mm
                yy += self.legend(QRectF(ix, yy, img_w, 6 * mm)) + mm
            elif vkind == "ungradable":
                codes = rec.quality_reasons.split(",") if rec.quality_reasons else ["ungradable"]
                yy += self.text(QRectF(x, yy, col, 20 * mm), quality_reason(codes[0])[1], 10) + mm
            details = [translate("Report", "Saved: {time}").format(time=local_time(rec.time_utc))]
            if rec.probability is not None:
                details.append(translate("Report", "Score {score:.3f} (refer at {threshold:.3f} or more)").format(
                    score=rec.probability, threshold=rec.threshold or 0.0))
            details.append(translate("Report", "Model {model} on {backend}").format(
                model=rec.bundle_id.split(":")[0].replace("@", " "), backend=rec.backend))
            self.text(QRectF(x, yy, col, 18 * mm), "\n".join(details), 8.5, colour="#333333")

        yb = self.height - bottom_reserved
        if trail:
            lines = [translate("Report", "Corrections:")]
            for c in trail:
                what = eye_name(Eye(c.new)) if c.field == "eye" and c.new in ("OD", "OS") else c.new or "-"
                field = translate("Report", "eye") if c.field == "eye" else translate("Report", "operator")
                lines.append(translate("Report", "{field} changed to {value} by {by}, {time}").format(
                    field=field, value=what, by=c.by or "-", time=local_time(c.time_utc)))
            self.text(QRectF(0, yb, w, 6 * mm * len(lines)), "\n".join(lines), 9)
            yb += 6 * mm * len(lines)
        box = QRectF(0, self.height - 22 * mm, w, 20 * mm)
        self.p.setPen(QPen(QColor("#000000"), 0.4 * mm))
        self.p.drawRect(box)
        self.text(box.adjusted(3 * mm, 2 * mm, -3 * mm, -2 * mm), disclaimer, 10.5, bold=True,
                  flags=_A.AlignLeft | _A.AlignVCenter)

    def banner(self, rect: QRectF, kind: str, head: str, detail: str, *, small: bool = False) -> float:
        """A coloured verdict box with the verdict icon; returns its height."""
        bg, fg = VERDICT_COLOURS[kind]
        mm = self.mm
        self.p.fillRect(rect, QColor(bg))
        icon = rect.height() - 3 * mm
        paint_verdict_icon(self.p, QRectF(rect.x() + 1.5 * mm, rect.y() + 1.5 * mm, icon, icon), kind, QColor(fg))
        tx = QRectF(rect.x() + icon + 4 * mm, rect.y() + mm, rect.width() - icon - 5 * mm, rect.height() - 2 * mm)
        if detail:
            h = self.text(tx, head, 15, bold=True, colour=fg)
            self.text(QRectF(tx.x(), tx.y() + h, tx.width(), tx.height() - h), detail, 10.5, colour=fg)
        else:
            self.text(tx, head, 11 if small else 15, bold=True, colour=fg, flags=_A.AlignLeft | _A.AlignVCenter)
        return rect.height()

    def legend(self, rect: QRectF) -> float:
        """The heatmap legend under the overlay: 'Where the signs are: weak [scale] strong'."""
        from edge_screen.heatmap import legend_bar

        mm = self.mm
        self.p.setFont(_font(8.5))
        fm = self.p.fontMetrics()
        label = translate("Report", "Where the signs are:")
        weak, strong = translate("Report", "weak"), translate("Report", "strong")
        x = rect.x()
        for part in (label, weak):
            self.text(QRectF(x, rect.y(), fm.horizontalAdvance(part) + mm, rect.height()), part, 8.5,
                      flags=_A.AlignLeft | _A.AlignVCenter)
            x += fm.horizontalAdvance(part) + 1.5 * mm
        bar_w = max(10 * mm, min(30 * mm, rect.right() - x - fm.horizontalAdvance(strong) - 2 * mm))
        self.p.drawImage(QRectF(x, rect.y() + 1.5 * mm, bar_w, rect.height() - 3 * mm),
                         rgb_to_qimage(legend_bar(240, 8)))
        x += bar_w + 1.5 * mm
        self.text(QRectF(x, rect.y(), fm.horizontalAdvance(strong) + mm, rect.height()), strong, 8.5,
                  flags=_A.AlignLeft | _A.AlignVCenter)
        return rect.height()
