"""Layouts of the History and Settings pages. No behaviour here; texts set in ``retranslate()``."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from edge_screen.gui.widgets import big_button, font

HISTORY_COLUMNS = 6   # time, patient, eye, result, operator, source


class HistoryPage(QWidget):
    """Search box, report / export buttons, and the table of saved records."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        top = QHBoxLayout()
        self.search = QLineEdit(self)
        self.search.setFont(font(12))
        self.search.setMinimumHeight(38)
        self.search.setClearButtonEnabled(True)
        top.addWidget(self.search, 1)
        self.report = big_button("", self)
        self.export = big_button("", self)
        top.addWidget(self.report)
        top.addWidget(self.export)
        lay.addLayout(top)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setFont(font(11, True))
        self.status.hide()
        lay.addWidget(self.status)
        self.table = QTableWidget(0, HISTORY_COLUMNS, self)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setTextElideMode(Qt.TextElideMode.ElideNone)   # never cut a time or a result
        self.table.setWordWrap(False)
        self.table.setFont(font(11))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        lay.addWidget(self.table, 1)

    def retranslate(self) -> None:
        """Set every static text in the current language."""
        self.search.setPlaceholderText(self.tr("Search by patient ID, date, result or operator"))
        self.report.setText(self.tr("PDF report of the selected visit"))
        self.export.setText(self.tr("Export CSV..."))
        self.table.setHorizontalHeaderLabels([self.tr("Date and time"), self.tr("Patient"), self.tr("Eye"),
                                              self.tr("Result"), self.tr("Operator"), self.tr("Source")])


class SettingsPage(QScrollArea):
    """Model, records folder, language, DICOM receiver, and advanced settings for the IT person."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        body = QWidget(self)
        lay = QVBoxLayout(body)
        self.setWidget(body)

        self.model_box = QGroupBox(body)
        form = QFormLayout(self.model_box)
        self.bundle = QLineEdit(self.model_box)
        self.bundle_browse = QPushButton(self.model_box)
        row = QHBoxLayout()
        row.addWidget(self.bundle, 1)
        row.addWidget(self.bundle_browse)
        self.bundle_label = QLabel(self.model_box)
        form.addRow(self.bundle_label, row)
        self.model_info = QLabel(self.model_box)
        self.model_info.setWordWrap(True)
        self.calibration = QLabel(self.model_box)
        self.calibration.setWordWrap(True)
        self.calibration.setFont(font(11, True))
        form.addRow(self.model_info)
        form.addRow(self.calibration)
        lay.addWidget(self.model_box)

        self.records_box = QGroupBox(body)
        form = QFormLayout(self.records_box)
        self.data_dir = QLineEdit(self.records_box)
        self.data_dir_browse = QPushButton(self.records_box)
        row = QHBoxLayout()
        row.addWidget(self.data_dir, 1)
        row.addWidget(self.data_dir_browse)
        self.data_dir_label = QLabel(self.records_box)
        form.addRow(self.data_dir_label, row)
        self.language = QComboBox(self.records_box)
        self.language_label = QLabel(self.records_box)
        form.addRow(self.language_label, self.language)
        lay.addWidget(self.records_box)

        self.dicom_box = QGroupBox(body)
        form = QFormLayout(self.dicom_box)
        self.dicom_port = QSpinBox(self.dicom_box)
        self.dicom_port.setRange(1, 65535)
        self.dicom_port_label = QLabel(self.dicom_box)
        form.addRow(self.dicom_port_label, self.dicom_port)
        self.dicom_callers = QLineEdit(self.dicom_box)
        self.dicom_callers_label = QLabel(self.dicom_box)
        form.addRow(self.dicom_callers_label, self.dicom_callers)
        self.dicom_max_mb = QSpinBox(self.dicom_box)
        self.dicom_max_mb.setRange(1, 2048)
        self.dicom_max_mb_label = QLabel(self.dicom_box)
        form.addRow(self.dicom_max_mb_label, self.dicom_max_mb)
        self.dicom_general = QCheckBox(self.dicom_box)
        form.addRow(self.dicom_general)
        lay.addWidget(self.dicom_box)

        self.advanced_box = QGroupBox(body)
        form = QFormLayout(self.advanced_box)
        self.backend = QComboBox(self.advanced_box)
        self.backend_label = QLabel(self.advanced_box)
        form.addRow(self.backend_label, self.backend)
        self.threads = QSpinBox(self.advanced_box)
        self.threads.setRange(0, 256)
        self.threads_label = QLabel(self.advanced_box)
        form.addRow(self.threads_label, self.threads)
        self.runtime_info = QLabel(self.advanced_box)
        self.runtime_info.setWordWrap(True)
        form.addRow(self.runtime_info)
        lay.addWidget(self.advanced_box)

        buttons = QHBoxLayout()
        self.apply = big_button("", body, primary=True)
        buttons.addWidget(self.apply)
        buttons.addStretch(1)
        lay.addLayout(buttons)
        lay.addStretch(1)

    def retranslate(self) -> None:
        """Set every static text in the current language."""
        self.model_box.setTitle(self.tr("Screening model"))
        self.bundle_label.setText(self.tr("Model folder or file"))
        self.bundle.setPlaceholderText(self.tr("Empty: the model that came with the app"))
        self.bundle_browse.setText(self.tr("Choose..."))
        self.records_box.setTitle(self.tr("Records and language"))
        self.data_dir_label.setText(self.tr("Records folder"))
        self.data_dir_browse.setText(self.tr("Choose..."))
        self.language_label.setText(self.tr("Language"))
        self.dicom_box.setTitle(self.tr("Receiving from the camera (DICOM)"))
        self.dicom_port_label.setText(self.tr("Network port"))
        self.dicom_callers_label.setText(self.tr("Cameras allowed to send (AE titles)"))
        self.dicom_callers.setPlaceholderText(self.tr("e.g. FUNDUSCAM, separated by commas"))
        self.dicom_max_mb_label.setText(self.tr("Largest photo accepted (MB)"))
        self.dicom_general.setText(self.tr("Also accept general photos (VL Photographic, Secondary Capture)"))
        self.advanced_box.setTitle(self.tr("Advanced (for the IT person)"))
        self.backend_label.setText(self.tr("Inference engine"))
        self.threads_label.setText(self.tr("Processor threads"))
        self.threads.setSpecialValueText(self.tr("Automatic"))
        self.apply.setText(self.tr("Apply settings"))
