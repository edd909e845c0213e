"""Custom widgets (drawing and layout only, no behaviour): verdict icon and banner, image panes,
heatmap legend, the in-place notice bar, big buttons.

Verdict colours come from the Okabe-Ito palette, which stays distinguishable with every common
colour-vision deficiency (Okabe & Ito 2008, "Color Universal Design"): blue for no referable sign,
vermillion for refer, yellow for retake. The colour is never the only cue: each verdict also has
its own icon shape (check mark, exclamation triangle, circular retake arrow) and its own words.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

# verdict -> (background, foreground)
VERDICT_COLOURS: dict[str, tuple[str, str]] = {
    "abnormal": ("#D55E00", "#FFFFFF"),     # vermillion
    "normal": ("#0072B2", "#FFFFFF"),       # blue
    "ungradable": ("#F0E442", "#000000"),   # yellow
    "none": ("#E8E8E8", "#303030"),
    "error": ("#E8E8E8", "#000000"),
}
NOTICE_COLOURS: dict[str, tuple[str, str]] = {
    "info": ("#E3F0FA", "#0072B2"),
    "ok": ("#E3F0FA", "#0072B2"),
    "question": ("#FFF6CC", "#B08800"),
    "problem": ("#FDE8DD", "#D55E00"),
}


def font(size: float, bold: bool = False) -> QFont:
    """The app's font at ``size`` points."""
    f = QFont()
    f.setPointSizeF(size)
    f.setBold(bold)
    return f


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """(H, W, 3) uint8 RGB -> a QImage that owns a copy of the pixels."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def paint_verdict_icon(p: QPainter, box: QRectF, kind: str, fg: QColor) -> None:
    """Draw the icon of ``kind`` ("normal" | "abnormal" | "ungradable" | "error" | "none") into ``box``."""
    s = min(box.width(), box.height())
    x0, y0 = box.x() + (box.width() - s) / 2, box.y() + (box.height() - s) / 2

    def pt(fx: float, fy: float) -> QPointF:
        return QPointF(x0 + fx * s, y0 + fy * s)

    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(QPen(fg, s * 0.09, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
    inner = QRectF(x0 + s * 0.1, y0 + s * 0.1, s * 0.8, s * 0.8)
    if kind == "normal":
        p.drawEllipse(inner)
        path = QPainterPath(pt(0.3, 0.52))
        path.lineTo(pt(0.45, 0.67))
        path.lineTo(pt(0.72, 0.36))
        p.drawPath(path)
    elif kind == "abnormal":
        p.drawPolygon(QPolygonF([pt(0.5, 0.1), pt(0.9, 0.9), pt(0.1, 0.9)]))
        p.drawLine(pt(0.5, 0.38), pt(0.5, 0.64))
        p.drawPoint(pt(0.5, 0.78))
    elif kind == "ungradable":
        p.drawArc(inner.adjusted(s * 0.06, s * 0.06, -s * 0.06, -s * 0.06), 60 * 16, 300 * 16)
        p.setBrush(fg)
        p.drawPolygon(QPolygonF([pt(0.66, 0.08), pt(0.84, 0.26), pt(0.58, 0.33)]))
    elif kind == "error":
        p.drawEllipse(inner)
        p.drawLine(pt(0.35, 0.35), pt(0.65, 0.65))
        p.drawLine(pt(0.65, 0.35), pt(0.35, 0.65))
    elif kind == "question":
        p.drawEllipse(inner)
        f = QFont()
        f.setPixelSize(max(1, int(s * 0.55)))
        f.setBold(True)
        p.setFont(f)
        p.drawText(inner, Qt.AlignmentFlag.AlignCenter, "?")
    else:
        p.setPen(QPen(fg, s * 0.05, Qt.PenStyle.DashLine))
        p.drawEllipse(inner)
    p.restore()


class VerdictIcon(QWidget):
    """A painted icon per verdict: check (normal), "!" triangle (abnormal), retake arrow (ungradable)."""

    def __init__(self, size: int = 56, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = "none"
        self.fg = QColor("#303030")
        self.setFixedSize(QSize(size, size))

    def set_kind(self, kind: str, fg: str) -> None:
        """Which icon to draw and in which colour."""
        self.kind, self.fg = kind, QColor(fg)
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        paint_verdict_icon(p, QRectF(self.rect()), self.kind, self.fg)
        p.end()


class VerdictBanner(QFrame):
    """Icon + headline + detail lines, on the verdict's colour (the visit summary, and each eye)."""

    def __init__(self, parent: QWidget | None = None, *, icon: int = 56, headline_pt: float = 20,
                 detail_pt: float = 12) -> None:
        super().__init__(parent)
        self.setObjectName("VerdictBanner")
        self.icon = VerdictIcon(icon, self)
        self.headline = QLabel(self)
        self.headline.setFont(font(headline_pt, True))
        self.headline.setWordWrap(True)
        self.detail = QLabel(self)
        self.detail.setFont(font(detail_pt))
        self.detail.setWordWrap(True)
        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self.headline)
        text.addWidget(self.detail)
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 8, 12, 8)
        row.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignVCenter)
        row.addSpacing(8)
        row.addLayout(text, 1)
        self.kind = "none"
        self.set_verdict("none", "", "")

    def set_verdict(self, kind: str, headline: str, detail: str) -> None:
        """Show ``kind`` ("abnormal" | "normal" | "ungradable" | "none" | "error") with its colour and icon."""
        bg, fg = VERDICT_COLOURS[kind]
        self.kind = kind
        self.setStyleSheet(f"#VerdictBanner {{ background: {bg}; border-radius: 8px; }}"
                           f"#VerdictBanner QLabel {{ color: {fg}; background: transparent; }}")
        self.icon.set_kind(kind, fg)
        self.headline.setText(headline)
        self.detail.setText(detail)
        self.detail.setVisible(bool(detail))


class ImagePane(QLabel):
    """An image that scales to fit its space, keeping its aspect ratio; a placeholder text when empty."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setStyleSheet("background: #111; color: #ccc; border-radius: 4px;")
        self.setWordWrap(True)
        self.setFont(font(11))
        self._pixmap: QPixmap | None = None

    def set_image(self, rgb: np.ndarray | None, placeholder: str = "") -> None:
        """Show (H, W, 3) uint8 RGB, or a placeholder text when None."""
        if rgb is None:
            self._pixmap = None
            self.setPixmap(QPixmap())
            self.setText(placeholder)
        else:
            self._pixmap = QPixmap.fromImage(rgb_to_qimage(rgb))
            self.setText("")
            self._rescale()

    @property
    def has_image(self) -> bool:
        """True while a photo is shown."""
        return self._pixmap is not None

    def _rescale(self) -> None:
        if self._pixmap is not None:
            self.setPixmap(self._pixmap.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                               Qt.TransformationMode.SmoothTransformation))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._rescale()


class HeatmapLegend(QWidget):
    """"Where the signs are: weak -> strong" with the colour scale the overlay uses (from the core)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from edge_screen.heatmap import legend_bar

        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel(self)
        self.weak = QLabel(self)
        self.strong = QLabel(self)
        self.bar = QLabel(self)
        self.bar.setPixmap(QPixmap.fromImage(rgb_to_qimage(legend_bar(120, 12))))
        for w in (self.title, self.weak, self.strong):
            w.setFont(font(10))
        row.addWidget(self.title)
        row.addWidget(self.weak)
        row.addWidget(self.bar)
        row.addWidget(self.strong)
        row.addStretch(1)


class NoticeBar(QFrame):
    """A message where the technician looks (above the eyes), with optional answer buttons."""

    chosen = Signal(str)   # the key of the pressed button

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("NoticeBar")
        self.icon = VerdictIcon(30, self)
        self.text = QLabel(self)
        self.text.setWordWrap(True)
        self.text.setFont(font(12, True))
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons_row = QHBoxLayout()
        self.buttons_row.setSpacing(8)
        col = QVBoxLayout()
        col.addWidget(self.text)
        col.addLayout(self.buttons_row)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 10, 6)
        row.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addLayout(col, 1)
        self.close_button = QPushButton("x", self)
        self.close_button.setFlat(True)
        self.close_button.setFixedWidth(28)
        self.close_button.clicked.connect(self.hide)
        row.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.buttons: dict[str, QPushButton] = {}
        self.kind = "info"
        self.hide()

    def show_message(self, kind: str, text: str, buttons: list[tuple[str, str]] = (), *, closable: bool = True) -> None:
        """Show ``text`` in the colours of ``kind`` ("info" | "ok" | "question" | "problem") with (key, label) buttons."""
        bg, edge = NOTICE_COLOURS[kind]
        self.kind = kind
        self.setStyleSheet(f"#NoticeBar {{ background: {bg}; border: 2px solid {edge}; border-radius: 6px; }}"
                           "#NoticeBar QLabel { color: #000; background: transparent; }")
        icon = {"question": "question", "problem": "error", "ok": "normal"}.get(kind, "none")
        self.icon.set_kind(icon, edge)
        self.text.setText(text)
        while self.buttons_row.count():
            item = self.buttons_row.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.buttons = {}
        for key, label in buttons:
            b = QPushButton(label, self)
            b.setMinimumHeight(36)
            b.setFont(font(12, True))
            b.clicked.connect(lambda _=False, k=key: self.chosen.emit(k))
            self.buttons_row.addWidget(b)
            self.buttons[key] = b
        if buttons:
            self.buttons_row.addStretch(1)
        self.close_button.setVisible(closable and not buttons)
        self.show()


def big_button(text: str = "", parent: QWidget | None = None, *, primary: bool = False) -> QPushButton:
    """A tall button with large text (gloved or tired hands)."""
    b = QPushButton(text, parent)
    b.setMinimumHeight(44)
    b.setFont(font(13, primary))
    if primary:
        b.setStyleSheet("QPushButton { background: #0072B2; color: white; border-radius: 6px; padding: 4px 14px; }"
                        "QPushButton:disabled { background: #9bb7c9; }")
    return b
