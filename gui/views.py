"""The main window's layout. No behaviour here: the controllers connect and drive these widgets.

Fits 1280x720 and up: a top bar with the patient, the eye and the operator (what a technician sets
per patient), a "New patient" button, and three pages (Screen, History, Settings). Drag-and-drop
becomes the ``files_dropped`` signal; a language change re-runs every ``retranslate()`` and emits
``language_changed`` so controllers redraw their texts.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from edge_screen.gui.pages import HistoryPage, SettingsPage
from edge_screen.gui.screen_view import ScreenPage
from edge_screen.gui.visit import Eye
from edge_screen.gui.widgets import big_button, font

MIN_SIZE = (1280, 720)


class MainWindow(QMainWindow):
    """All widgets of the app, as attributes the controllers use."""

    files_dropped = Signal(list)   # list[str] of local file paths
    language_changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setAcceptDrops(True)
        central = QWidget(self)
        outer = QVBoxLayout(central)
        outer.setContentsMargins(8, 6, 8, 2)
        outer.setSpacing(4)
        outer.addWidget(self._top_bar())
        self.tabs = QTabWidget(central)
        self.tabs.setFont(font(12))
        self.screen_page = ScreenPage(self.tabs)
        self.history = HistoryPage(self.tabs)
        self.settings = SettingsPage(self.tabs)
        for page in (self.screen_page, self.history, self.settings):
            self.tabs.addTab(page, "")
        outer.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.status = self.statusBar()
        self.status.setFont(font(10.5))
        self.capture_shortcut = QShortcut(QKeySequence(Qt.Key.Key_Space), self)
        self.resize(*MIN_SIZE)
        self.retranslate()

    # -- top bar -----------------------------------------------------------------------------
    def _top_bar(self) -> QWidget:
        bar = QWidget(self)
        row = QHBoxLayout(bar)
        row.setContentsMargins(0, 0, 0, 0)
        self.patient_label = QLabel(bar)
        self.patient_label.setFont(font(13, True))
        self.patient_id = QLineEdit(bar)
        self.patient_id.setFont(font(15))
        self.patient_id.setMinimumWidth(200)
        self.patient_id.setMinimumHeight(40)
        row.addWidget(self.patient_label)
        row.addWidget(self.patient_id, 2)
        row.addSpacing(8)
        self.eye_group = QButtonGroup(bar)
        self.eye_group.setExclusive(False)     # both off = no eye chosen yet (the controller keeps at most one)
        self.eye_buttons: dict[Eye, QPushButton] = {}
        for eye in Eye:
            b = QPushButton(bar)
            b.setCheckable(True)
            b.setMinimumHeight(40)
            b.setFont(font(12, True))
            b.setStyleSheet("QPushButton:checked { background: #333; color: white; border-radius: 6px; }")
            self.eye_group.addButton(b)
            self.eye_buttons[eye] = b
            row.addWidget(b)
        row.addSpacing(8)
        self.operator_label = QLabel(bar)
        self.operator_label.setFont(font(11))
        self.operator = QLineEdit(bar)
        self.operator.setFont(font(12))
        self.operator.setMinimumWidth(110)
        self.operator.setMaximumWidth(170)
        row.addWidget(self.operator_label)
        row.addWidget(self.operator, 1)
        row.addSpacing(8)
        self.new_patient = big_button("", bar, primary=True)
        self.new_patient.setMinimumHeight(40)
        row.addWidget(self.new_patient)
        self.model_status = QLabel(bar)
        self.model_status.setFont(font(10))
        self.model_status.setWordWrap(True)
        self.model_status.setMinimumWidth(90)
        self.model_status.setMaximumWidth(150)
        row.addWidget(self.model_status)
        return bar

    # -- texts -------------------------------------------------------------------------------
    def retranslate(self) -> None:
        """Set every static text in the current language (pages included)."""
        from edge_screen.gui.wording import eye_name

        self.setWindowTitle(self.tr("edge-screen: eye screening"))
        self.patient_label.setText(self.tr("Patient ID"))
        self.patient_id.setPlaceholderText(self.tr("Type or scan, then Enter"))
        for eye, b in self.eye_buttons.items():
            b.setText(eye_name(eye))
        self.operator_label.setText(self.tr("Operator"))
        self.operator.setPlaceholderText(self.tr("Your name"))
        self.new_patient.setText(self.tr("New patient"))
        for i, text in enumerate((self.tr("Screen"), self.tr("History"), self.tr("Settings"))):
            self.tabs.setTabText(i, text)
        self.screen_page.retranslate()
        self.history.retranslate()
        self.settings.retranslate()

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate()
            self.language_changed.emit()
        super().changeEvent(event)

    # -- drag and drop -----------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.files_dropped.emit(paths)
            event.acceptProposedAction()
