"""Custom widgets (drawing only, no behaviour): verdict banner with icon, image panes, big buttons.

Verdict colours come from the Okabe-Ito palette, which stays distinguishable with every common
colour-vision deficiency (Okabe & Ito 2008, "Color Universal Design"): blue for no abnormality,
vermillion for refer, yellow for retake. The colour is never the only cue: each verdict also has
its own icon shape (check mark, exclamation triangle, circular retake arrow) and its own words.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

# verdict -> (background, foreground)
VERDICT_COLOURS: dict[str, tuple[str, str]] = {
    "abnormal": ("#D55E00", "#FFFFFF"),     # vermillion
    "normal": ("#0072B2", "#FFFFFF"),       # blue
    "ungradable": ("#F0E442", "#000000"),   # yellow
    "none": ("#E8E8E8", "#303030"),
    "error": ("#E8E8E8", "#000000"),
}


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """(H, W, 3) uint8 RGB -> a QImage that owns a copy of the pixels."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class VerdictIcon(QWidget):
    """A painted icon per verdict: check (normal), "!" triangle (abnormal), retake arrow (ungradable)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = "none"
        self.fg = QColor("#303030")
        self.setFixedSize(QSize(96, 96))

    def set_kind(self, kind: str, fg: str) -> None:
        """Which icon to draw and in which colour."""
        self.kind = kind
        self.fg = QColor(fg)
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        s = min(self.width(), self.height())
        pen = QPen(self.fg, s * 0.09, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
        p.setPen(pen)
        m = s * 0.1
        box = QRectF(m, m, s - 2 * m, s - 2 * m)
        if self.kind == "normal":
            p.drawEllipse(box)
            path = QPainterPath(QPointF(s * 0.3, s * 0.52))
            path.lineTo(QPointF(s * 0.45, s * 0.67))
            path.lineTo(QPointF(s * 0.72, s * 0.36))
            p.drawPath(path)
        elif self.kind == "abnormal":
            tri = QPolygonF([QPointF(s / 2, m), QPointF(s - m, s - m), QPointF(m, s - m)])
            p.drawPolygon(tri)
            p.drawLine(QPointF(s / 2, s * 0.38), QPointF(s / 2, s * 0.64))
            p.drawPoint(QPointF(s / 2, s * 0.78))
        elif self.kind == "ungradable":
            p.drawArc(box.adjusted(s * 0.06, s * 0.06, -s * 0.06, -s * 0.06), 60 * 16, 300 * 16)
            head = QPolygonF([QPointF(s * 0.66, s * 0.08), QPointF(s * 0.84, s * 0.26), QPointF(s * 0.58, s * 0.33)])
            p.setBrush(self.fg)
            p.drawPolygon(head)
        elif self.kind == "error":
            p.drawEllipse(box)
            p.drawLine(QPointF(s * 0.35, s * 0.35), QPointF(s * 0.65, s * 0.65))
            p.drawLine(QPointF(s * 0.65, s * 0.35), QPointF(s * 0.35, s * 0.65))
        else:
            p.setPen(QPen(self.fg, s * 0.05, Qt.PenStyle.DashLine))
            p.drawEllipse(box)
        p.end()


class VerdictBanner(QFrame):
    """The big answer: icon + headline + detail lines, on the verdict's colour."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("VerdictBanner")
        self.icon = VerdictIcon(self)
        self.headline = QLabel(self)
        f = QFont()
        f.setPointSize(26)
        f.setBold(True)
        self.headline.setFont(f)
        self.headline.setWordWrap(True)
        self.detail = QLabel(self)
        f2 = QFont()
        f2.setPointSize(13)
        self.detail.setFont(f2)
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        text = QVBoxLayout()
        text.addWidget(self.headline)
        text.addWidget(self.detail)
        text.addStretch(1)
        row = QHBoxLayout(self)
        row.setContentsMargins(18, 14, 18, 14)
        row.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addSpacing(12)
        row.addLayout(text, 1)
        self.setMinimumHeight(150)
        self.kind = "none"
        self.set_verdict("none", "", "")

    def set_verdict(self, kind: str, headline: str, detail: str) -> None:
        """Show ``kind`` ("abnormal" | "normal" | "ungradable" | "none" | "error") with its colour and icon."""
        bg, fg = VERDICT_COLOURS[kind]
        self.kind = kind
        self.setStyleSheet(f"#VerdictBanner {{ background: {bg}; border-radius: 10px; }}"
                           f"#VerdictBanner QLabel {{ color: {fg}; background: transparent; }}")
        self.icon.set_kind(kind, fg)
        self.headline.setText(headline)
        self.detail.setText(detail)


class ImagePane(QFrame):
    """A captioned image that scales to fit, keeping its aspect ratio."""

    def __init__(self, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.caption = QLabel(caption, self)
        f = QFont()
        f.setPointSize(12)
        f.setBold(True)
        self.caption.setFont(f)
        self.view = QLabel(self)
        self.view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.view.setMinimumSize(200, 150)
        self.view.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.view.setStyleSheet("background: #111; color: #bbb;")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.caption)
        lay.addWidget(self.view, 1)
        self._pixmap: QPixmap | None = None

    def set_image(self, rgb: np.ndarray | None, placeholder: str = "") -> None:
        """Show (H, W, 3) uint8 RGB, or a placeholder text when None."""
        if rgb is None:
            self._pixmap = None
            self.view.setPixmap(QPixmap())
            self.view.setText(placeholder)
        else:
            self._pixmap = QPixmap.fromImage(rgb_to_qimage(rgb))
            self.view.setText("")
            self._rescale()

    def _rescale(self) -> None:
        if self._pixmap is not None:
            self.view.setPixmap(self._pixmap.scaled(self.view.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                                    Qt.TransformationMode.SmoothTransformation))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._rescale()


def big_button(text: str, parent: QWidget | None = None, *, primary: bool = False) -> QPushButton:
    """A tall button with large text (gloved or tired hands)."""
    b = QPushButton(text, parent)
    b.setMinimumHeight(52)
    f = QFont()
    f.setPointSize(14)
    f.setBold(primary)
    b.setFont(f)
    if primary:
        b.setStyleSheet("QPushButton { background: #0072B2; color: white; border-radius: 6px; padding: 6px 14px; }"
                        "QPushButton:disabled { background: #9bb7c9; }")
    return b
