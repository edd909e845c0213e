"""The Screen page's layout: image sources on the left; on the right the notice bar, the visit summary,
the two eyes side by side (OD | OS) and the save / report buttons. No behaviour here.

Texts are set in ``retranslate()`` (called at construction and on every language change).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from edge_screen.gui.visit import Eye
from edge_screen.gui.widgets import HeatmapLegend, ImagePane, NoticeBar, VerdictBanner, big_button, font

SOURCES = ("file", "camera", "watch", "dicom")


class EyePanel(QFrame):
    """One eye: its name, its result, the photo (or heatmap), save state, corrections, details."""

    def __init__(self, eye: Eye, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.eye = eye
        self.setObjectName("EyePanel")
        self.setStyleSheet("#EyePanel { border: 1px solid #bbb; border-radius: 8px; }")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.setSpacing(4)
        self.title = QLabel(self)
        self.title.setFont(font(14, True))
        lay.addWidget(self.title)
        self.verdict = VerdictBanner(self, icon=34, headline_pt=14, detail_pt=10.5)
        lay.addWidget(self.verdict)
        self.image = ImagePane(self)
        lay.addWidget(self.image, 1)
        self.legend = HeatmapLegend(self)
        lay.addWidget(self.legend)
        self.earlier = QLabel(self)
        self.earlier.setWordWrap(True)
        self.earlier.setFont(font(10.5, True))
        self.earlier.setStyleSheet("color: #A04000;")
        lay.addWidget(self.earlier)
        self.save_line = QLabel(self)
        self.save_line.setWordWrap(True)
        self.save_line.setFont(font(11, True))
        lay.addWidget(self.save_line)
        actions = QHBoxLayout()
        self.move_eye = QPushButton(self)
        self.move_eye.setMinimumHeight(32)
        self.keep = QPushButton(self)
        self.keep.setMinimumHeight(32)
        actions.addWidget(self.move_eye)
        actions.addWidget(self.keep)
        actions.addStretch(1)
        lay.addLayout(actions)
        self.details = QLabel(self)
        self.details.setWordWrap(True)
        self.details.setFont(font(9.5))
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setStyleSheet("color: #333;")
        lay.addWidget(self.details)


class ScreenPage(QWidget):
    """Sources | (notice, summary, OD | OS, buttons)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 4, 4, 4)
        row.addWidget(self._sources_panel())
        right = QVBoxLayout()
        right.setSpacing(6)
        self.notice = NoticeBar(self)
        right.addWidget(self.notice)
        self.summary = VerdictBanner(self, icon=44, headline_pt=18, detail_pt=11.5)
        self.summary.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        right.addWidget(self.summary)
        self.patient_line = QLabel(self)
        self.patient_line.setFont(font(12, True))
        right.addWidget(self.patient_line)
        eyes = QHBoxLayout()
        self.eyes = {eye: EyePanel(eye, self) for eye in Eye}
        eyes.addWidget(self.eyes[Eye.OD], 1)     # the patient's right eye on the viewer's left
        eyes.addWidget(self.eyes[Eye.OS], 1)
        right.addLayout(eyes, 1)
        controls = QHBoxLayout()
        self.heatmap_toggle = QCheckBox(self)
        self.heatmap_toggle.setChecked(True)
        self.heatmap_toggle.setFont(font(12))
        self.heatmap_toggle.setStyleSheet("QCheckBox::indicator { width: 22px; height: 22px; }")
        controls.addWidget(self.heatmap_toggle)
        self.details_toggle = QPushButton(self)
        self.details_toggle.setCheckable(True)
        self.details_toggle.setMinimumHeight(36)
        controls.addWidget(self.details_toggle)
        self.busy = QProgressBar(self)
        self.busy.setRange(0, 0)
        self.busy.setTextVisible(False)
        self.busy.setMaximumWidth(120)
        self.busy.hide()
        controls.addWidget(self.busy)
        controls.addStretch(1)
        self.no_id_button = QPushButton(self)
        self.no_id_button.setMinimumHeight(44)
        self.no_id_button.setFont(font(12))
        controls.addWidget(self.no_id_button)
        self.retry_button = big_button("", self, primary=True)
        controls.addWidget(self.retry_button)
        self.report_button = big_button("", self)
        self.report_button.setEnabled(False)
        controls.addWidget(self.report_button)
        right.addLayout(controls)
        row.addLayout(right, 1)

    # -- sources -----------------------------------------------------------------------------
    def _sources_panel(self) -> QWidget:
        panel = QFrame(self)
        panel.setFixedWidth(260)
        lay = QVBoxLayout(panel)
        lay.setContentsMargins(0, 0, 4, 0)
        self.sources_title = QLabel(panel)
        self.sources_title.setFont(font(12, True))
        lay.addWidget(self.sources_title)
        self.source_group = QButtonGroup(panel)
        self.source_buttons: dict[str, QPushButton] = {}
        for i, key in enumerate(SOURCES):
            b = QPushButton(panel)
            b.setCheckable(True)
            b.setMinimumHeight(34)
            b.setFont(font(12))
            b.setStyleSheet("QPushButton:checked { background: #333; color: white; border-radius: 4px; }")
            self.source_group.addButton(b, i)
            self.source_buttons[key] = b
            lay.addWidget(b)
        self.source_buttons["file"].setChecked(True)
        self.source_stack = QStackedWidget(panel)
        for build in (self._file_source, self._camera_source, self._watch_source, self._dicom_source):
            self.source_stack.addWidget(build())
        self.source_group.idClicked.connect(self.source_stack.setCurrentIndex)
        lay.addSpacing(6)
        lay.addWidget(self.source_stack, 1)
        return panel

    def _file_source(self) -> QWidget:
        w = QWidget(self)
        lay = QVBoxLayout(w)
        lay.setContentsMargins(0, 0, 0, 0)
        self.open_button = big_button("", w, primary=True)
        lay.addWidget(self.open_button)
        self.drop_hint = QLabel(w)
        self.drop_hint.setWordWrap(True)
        self.drop_hint.setFont(font(11))
        lay.addWidget(self.drop_hint)
        lay.addStretch(1)
        return w

    def _camera_source(self) -> QWidget:
        w = QWidget(self)
        lay = QVBoxLayout(w)
        lay.setContentsMargins(0, 0, 0, 0)
        self.camera_combo = QComboBox(w)
        self.camera_combo.setEditable(True)
        self.camera_combo.setMinimumHeight(32)
        self.camera_refresh = QPushButton(w)
        self.camera_start = big_button("", w)
        self.camera_preview = ImagePane(w)
        self.camera_preview.setMinimumHeight(150)
        self.camera_status = QLabel(w)
        self.camera_status.setWordWrap(True)
        self.camera_status.setFont(font(10.5, True))
        self.capture_button = big_button("", w, primary=True)
        self.capture_button.setEnabled(False)
        for x in (self.camera_combo, self.camera_refresh, self.camera_start):
            lay.addWidget(x)
        lay.addWidget(self.camera_preview, 1)
        lay.addWidget(self.camera_status)
        lay.addWidget(self.capture_button)
        return w

    def _watch_source(self) -> QWidget:
        w = QWidget(self)
        lay = QVBoxLayout(w)
        lay.setContentsMargins(0, 0, 0, 0)
        self.watch_label = QLabel(w)
        self.watch_label.setWordWrap(True)
        self.watch_path = QLineEdit(w)
        self.watch_choose = QPushButton(w)
        self.watch_start = big_button("", w)
        self.watch_list = QListWidget(w)
        self.watch_list.setWordWrap(True)
        for x in (self.watch_label, self.watch_path, self.watch_choose, self.watch_start):
            lay.addWidget(x)
        lay.addWidget(self.watch_list, 1)
        return w

    def _dicom_source(self) -> QWidget:
        w = QWidget(self)
        lay = QVBoxLayout(w)
        lay.setContentsMargins(0, 0, 0, 0)
        self.dicom_import = big_button("", w, primary=True)
        lay.addWidget(self.dicom_import)
        lay.addSpacing(8)
        self.dicom_receiver = QCheckBox(w)
        self.dicom_receiver.setFont(font(11))
        lay.addWidget(self.dicom_receiver)
        self.dicom_status = QLabel(w)
        self.dicom_status.setWordWrap(True)
        self.dicom_status.setFont(font(10.5))
        lay.addWidget(self.dicom_status)
        lay.addStretch(1)
        return w

    # -- texts -------------------------------------------------------------------------------
    def retranslate(self) -> None:
        """Set every static text in the current language."""
        from edge_screen.gui.wording import eye_name

        self.sources_title.setText(self.tr("Photo from"))
        for key, text in zip(SOURCES, (self.tr("File"), self.tr("Camera"), self.tr("Camera folder"),
                                       self.tr("DICOM"))):
            self.source_buttons[key].setText(text)
        self.open_button.setText(self.tr("Open photo..."))
        self.drop_hint.setText(self.tr("Or drag a photo onto this window."))
        self.camera_refresh.setText(self.tr("Find cameras"))
        self.capture_button.setText(self.tr("Capture (Space)"))
        self.watch_label.setText(self.tr("The folder the camera saves photos to:"))
        self.watch_choose.setText(self.tr("Choose folder..."))
        self.dicom_import.setText(self.tr("Open DICOM file..."))
        self.dicom_receiver.setText(self.tr("Receive from the camera"))
        self.heatmap_toggle.setText(self.tr("Show where the signs are"))
        self.details_toggle.setText(self.tr("Details"))
        self.no_id_button.setText(self.tr("Save without ID..."))
        self.retry_button.setText(self.tr("Retry save"))
        self.report_button.setText(self.tr("PDF report"))
        for eye, panel in self.eyes.items():
            panel.title.setText(eye_name(eye))
            panel.move_eye.setText(self.tr("This is the left eye") if eye is Eye.OD else
                                   self.tr("This is the right eye"))
            panel.keep.setText(self.tr("Keep as ungradable"))
            panel.legend.title.setText(self.tr("Where the signs are:"))
            panel.legend.weak.setText(self.tr("weak"))
            panel.legend.strong.setText(self.tr("strong"))
