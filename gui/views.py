"""The main window's layout. No behaviour here: the controller connects and drives these widgets.

Designed for 1280x800: a top bar with the patient and eye (the two things a technician must set
per photo), the verdict banner full width, original and heatmap side by side, image sources on the
left. Drag-and-drop is turned into the ``files_dropped`` signal.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QTableWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from edge_screen.gui.settings import BACKENDS
from edge_screen.gui.strings import CATALOGS, Strings
from edge_screen.gui.widgets import ImagePane, VerdictBanner, big_button


def _font(size: int, bold: bool = False) -> QFont:
    f = QFont()
    f.setPointSize(size)
    f.setBold(bold)
    return f


class MainWindow(QMainWindow):
    """All widgets of the app, as attributes the controller uses."""

    files_dropped = Signal(list)   # list[str] of local file paths

    def __init__(self, tr: Strings) -> None:
        super().__init__()
        self.tr_ = tr
        self.setWindowTitle(tr("app.title"))
        self.resize(1280, 800)
        self.setAcceptDrops(True)
        central = QWidget(self)
        outer = QVBoxLayout(central)
        outer.setContentsMargins(10, 8, 10, 4)
        outer.addWidget(self._top_bar())
        self.tabs = QTabWidget(central)
        self.tabs.setFont(_font(12))
        self.tabs.addTab(self._screen_page(), tr("tab.screen"))
        self.tabs.addTab(self._history_page(), tr("tab.history"))
        self.tabs.addTab(self._settings_page(), tr("tab.settings"))
        outer.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.status = self.statusBar()
        self.status.setFont(_font(11))
        self.capture_shortcut = QShortcut(QKeySequence(Qt.Key.Key_Space), self)

    # -- top bar -----------------------------------------------------------------------------
    def _top_bar(self) -> QWidget:
        tr = self.tr_
        bar = QWidget(self)
        row = QHBoxLayout(bar)
        row.setContentsMargins(0, 0, 0, 0)
        lab = QLabel(tr("patient.label"), bar)
        lab.setFont(_font(14, True))
        self.patient_id = QLineEdit(bar)
        self.patient_id.setPlaceholderText(tr("patient.placeholder"))
        self.patient_id.setFont(_font(16))
        self.patient_id.setMinimumWidth(280)
        self.patient_id.setMinimumHeight(44)
        row.addWidget(lab)
        row.addWidget(self.patient_id)
        row.addSpacing(16)
        self.eye_group = QButtonGroup(bar)
        self.eye_buttons: dict[str, QPushButton] = {}
        for code in ("OD", "OS"):
            b = QPushButton(tr(f"eye.{code}"), bar)
            b.setCheckable(True)
            b.setMinimumHeight(44)
            b.setMinimumWidth(190)
            b.setFont(_font(14, True))
            b.setStyleSheet("QPushButton:checked { background: #333; color: white; border-radius: 6px; }")
            self.eye_group.addButton(b)
            self.eye_buttons[code] = b
            row.addWidget(b)
        self.eye_buttons["OD"].setChecked(True)
        row.addSpacing(16)
        op = QLabel(tr("operator.label"), bar)
        op.setFont(_font(12))
        self.operator = QLineEdit(bar)
        self.operator.setFont(_font(12))
        self.operator.setMaximumWidth(140)
        row.addWidget(op)
        row.addWidget(self.operator)
        row.addStretch(1)
        self.model_status = QLabel(bar)
        self.model_status.setFont(_font(11))
        self.model_status.setWordWrap(True)
        self.model_status.setMaximumWidth(330)
        row.addWidget(self.model_status)
        return bar

    # -- screening page ----------------------------------------------------------------------
    def _screen_page(self) -> QWidget:
        tr = self.tr_
        page = QWidget(self)
        row = QHBoxLayout(page)
        self.sources = QTabWidget(page)
        self.sources.setFixedWidth(340)
        self.sources.setFont(_font(11))
        self.sources.addTab(self._file_source(), tr("source.file"))
        self.sources.addTab(self._camera_source(), tr("source.camera"))
        self.sources.addTab(self._watch_source(), tr("source.watch"))
        self.sources.addTab(self._dicom_source(), tr("source.dicom"))
        row.addWidget(self.sources)

        right = QVBoxLayout()
        self.no_model = QLabel(tr("model.none"), page)
        self.no_model.setWordWrap(True)
        self.no_model.setFont(_font(13, True))
        self.no_model.setStyleSheet("background: #fff3cd; color: #000; border: 2px solid #E69F00; padding: 8px;")
        self.no_model.hide()
        right.addWidget(self.no_model)
        self.banner = VerdictBanner(page)
        right.addWidget(self.banner)
        panes = QHBoxLayout()
        self.original = ImagePane(tr("image.original"), page)
        self.overlay = ImagePane(tr("image.heatmap"), page)
        panes.addWidget(self.original, 1)
        panes.addWidget(self.overlay, 1)
        right.addLayout(panes, 1)

        controls = QHBoxLayout()
        self.heatmap_toggle = QCheckBox(tr("heatmap.show"), page)
        self.heatmap_toggle.setChecked(True)
        self.heatmap_toggle.setFont(_font(13))
        self.heatmap_toggle.setStyleSheet("QCheckBox::indicator { width: 26px; height: 26px; }")
        controls.addWidget(self.heatmap_toggle)
        lab = QLabel(tr("heatmap.opacity"), page)
        lab.setFont(_font(12))
        controls.addWidget(lab)
        self.opacity = QSlider(Qt.Orientation.Horizontal, page)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(45)
        self.opacity.setMinimumWidth(160)
        self.opacity.setMinimumHeight(36)
        controls.addWidget(self.opacity)
        self.busy = QProgressBar(page)
        self.busy.setRange(0, 0)          # indeterminate
        self.busy.setTextVisible(True)
        self.busy.setFormat(tr("busy.screening"))
        self.busy.setMaximumWidth(180)
        self.busy.hide()
        controls.addWidget(self.busy)
        controls.addStretch(1)
        self.save_button = big_button(tr("save.button"), page, primary=True)
        self.save_button.setEnabled(False)
        self.report_button = big_button(tr("report.button"), page)
        self.report_button.setEnabled(False)
        controls.addWidget(self.save_button)
        controls.addWidget(self.report_button)
        right.addLayout(controls)
        self.save_status = QLabel(page)
        self.save_status.setFont(_font(12))
        self.save_status.setWordWrap(True)
        right.addWidget(self.save_status)
        row.addLayout(right, 1)
        return page

    def _file_source(self) -> QWidget:
        tr = self.tr_
        w = QWidget(self)
        lay = QVBoxLayout(w)
        self.open_button = big_button(tr("file.open"), w, primary=True)
        lay.addWidget(self.open_button)
        hint = QLabel(tr("file.drop"), w)
        hint.setWordWrap(True)
        hint.setFont(_font(12))
        lay.addWidget(hint)
        lay.addStretch(1)
        return w

    def _camera_source(self) -> QWidget:
        tr = self.tr_
        w = QWidget(self)
        lay = QVBoxLayout(w)
        self.camera_combo = QComboBox(w)
        self.camera_combo.setMinimumHeight(36)
        self.camera_refresh = QPushButton(tr("camera.refresh"), w)
        lay.addWidget(QLabel(tr("camera.device"), w))
        lay.addWidget(self.camera_combo)
        lay.addWidget(self.camera_refresh)
        self.camera_start = big_button(tr("camera.start"), w)
        lay.addWidget(self.camera_start)
        self.camera_preview = ImagePane("", w)
        self.camera_preview.setMinimumHeight(220)
        lay.addWidget(self.camera_preview, 1)
        self.camera_resolution = QLabel(w)
        self.camera_resolution.setFont(_font(11, True))
        self.camera_resolution.setWordWrap(True)
        lay.addWidget(self.camera_resolution)
        self.capture_button = big_button(tr("camera.capture"), w, primary=True)
        self.capture_button.setEnabled(False)
        lay.addWidget(self.capture_button)
        return w

    def _watch_source(self) -> QWidget:
        tr = self.tr_
        w = QWidget(self)
        lay = QVBoxLayout(w)
        lay.addWidget(QLabel(tr("watch.folder"), w))
        self.watch_path = QLineEdit(w)
        lay.addWidget(self.watch_path)
        self.watch_choose = QPushButton(tr("watch.choose"), w)
        lay.addWidget(self.watch_choose)
        self.watch_start = big_button(tr("watch.start"), w)
        lay.addWidget(self.watch_start)
        self.watch_list = QListWidget(w)
        self.watch_list.setWordWrap(True)
        lay.addWidget(self.watch_list, 1)
        return w

    def _dicom_source(self) -> QWidget:
        tr = self.tr_
        w = QWidget(self)
        lay = QVBoxLayout(w)
        self.dicom_import = big_button(tr("dicom.import"), w, primary=True)
        lay.addWidget(self.dicom_import)
        lay.addSpacing(12)
        self.dicom_receiver = QCheckBox(tr("dicom.receiver"), w)
        lay.addWidget(self.dicom_receiver)
        port_row = QHBoxLayout()
        port_row.addWidget(QLabel(tr("dicom.port"), w))
        self.dicom_port = QSpinBox(w)
        self.dicom_port.setRange(1, 65535)
        port_row.addWidget(self.dicom_port)
        lay.addLayout(port_row)
        self.dicom_status = QLabel(tr("dicom.stopped"), w)
        self.dicom_status.setWordWrap(True)
        lay.addWidget(self.dicom_status)
        lay.addStretch(1)
        return w

    # -- history -----------------------------------------------------------------------------
    def _history_page(self) -> QWidget:
        tr = self.tr_
        w = QWidget(self)
        lay = QVBoxLayout(w)
        top = QHBoxLayout()
        self.history_search = QLineEdit(w)
        self.history_search.setPlaceholderText(tr("history.search"))
        self.history_search.setFont(_font(13))
        self.history_search.setMinimumHeight(40)
        top.addWidget(self.history_search, 1)
        self.history_report = big_button(tr("history.report"), w)
        self.history_export = big_button(tr("history.export"), w)
        top.addWidget(self.history_report)
        top.addWidget(self.history_export)
        lay.addLayout(top)
        cols = tr("history.cols").split("|")
        self.history_table = QTableWidget(0, len(cols), w)
        self.history_table.setHorizontalHeaderLabels(cols)
        self.history_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.history_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.history_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.history_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.history_table.setFont(_font(12))
        lay.addWidget(self.history_table, 1)
        return w

    # -- settings ----------------------------------------------------------------------------
    def _settings_page(self) -> QWidget:
        tr = self.tr_
        w = QWidget(self)
        form = QFormLayout(w)
        self.set_bundle = QLineEdit(w)
        self.set_bundle_browse = QPushButton("...", w)
        r = QHBoxLayout()
        r.addWidget(self.set_bundle, 1)
        r.addWidget(self.set_bundle_browse)
        form.addRow(tr("settings.bundle"), r)
        self.set_backend = QComboBox(w)
        self.set_backend.addItems(list(BACKENDS))
        form.addRow(tr("settings.backend"), self.set_backend)
        self.set_threads = QSpinBox(w)
        self.set_threads.setRange(0, 256)
        self.set_threads.setSpecialValueText("auto")
        form.addRow(tr("settings.threads"), self.set_threads)
        self.set_data_dir = QLineEdit(w)
        form.addRow(tr("settings.data_dir"), self.set_data_dir)
        self.set_language = QComboBox(w)
        self.set_language.addItems(sorted(CATALOGS))
        form.addRow("Language", self.set_language)
        self.set_apply = big_button(tr("settings.apply"), w, primary=True)
        form.addRow("", self.set_apply)
        return w

    # -- drag and drop -----------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt API
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.files_dropped.emit(paths)
            event.acceptProposedAction()
