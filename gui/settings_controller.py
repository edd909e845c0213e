"""The Settings page: model (switch bundle, calibration shown), records folder, language, DICOM
receiver, and the advanced runtime choice. Apply reloads the model / reopens the store / switches the
language as needed.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QCoreApplication, QObject, Signal
from PySide6.QtWidgets import QFileDialog

from edge_screen.errors import UsageError
from edge_screen.gui import translations

log = logging.getLogger(__name__)


class SettingsController(QObject):
    """Settings page <-> AppSettings."""

    applied = Signal()

    def __init__(self, window, settings, models, history) -> None:  # noqa: ANN001
        super().__init__(window)
        self.w, self.page, self.settings, self.models, self.history = window, window.settings, settings, models, history
        p = self.page
        p.apply.clicked.connect(self.apply)
        p.bundle_browse.clicked.connect(self.browse_bundle)
        p.data_dir_browse.clicked.connect(self.browse_data_dir)
        for code, name in translations.LANGUAGES.items():
            p.language.addItem(name, code)
        self._backends_filled = False
        window.tabs.currentChanged.connect(lambda i: self.fill_backends() if window.tabs.widget(i) is p else None)
        for spin in (p.dicom_port, p.dicom_max_mb, p.threads):
            spin.setMaximumWidth(160)
        self.load_into_view()

    def load_into_view(self) -> None:
        """Show the stored settings."""
        s, p = self.settings, self.page
        p.bundle.setText(s.bundle_path)
        p.data_dir.setText(s.data_dir)
        p.language.setCurrentIndex(max(0, p.language.findData(s.language)))
        p.dicom_port.setValue(s.dicom_port)
        p.dicom_callers.setText(", ".join(s.dicom_callers))
        p.dicom_max_mb.setValue(s.dicom_max_mb)
        p.dicom_general.setChecked(s.dicom_general)
        p.threads.setValue(s.threads)

    def fill_backends(self) -> None:
        """The inference engines of the core's registry, when the Settings page is first shown.

        Which are installed comes from pip's metadata (:meth:`Backend.installed`): importing each
        runtime to ask (OpenVINO alone: 0.1-1 s) would freeze the window.
        """
        from edge_screen.backends import backends as registered
        from edge_screen.gui.settings import backends

        if self._backends_filled:
            return
        installed = {n for n, b in registered().items() if b.installed() and not b.installed().startswith("error")}
        combo = self.page.backend
        combo.clear()
        for name in backends():
            label = QCoreApplication.translate("Settings", "Automatic (the fastest installed)") if name == "auto" else (
                name if name in installed else QCoreApplication.translate("Settings", "{name} (not installed)").format(
                    name=name))
            combo.addItem(label, name)
        combo.setCurrentIndex(max(0, combo.findData(self.settings.backend)))
        self._backends_filled = True

    def browse_bundle(self) -> None:
        """Choose a bundle folder (e.g. a calibrated copy of the model)."""
        folder = QFileDialog.getExistingDirectory(self.w, self.page.bundle_label.text(), self.page.bundle.text())
        if folder:
            self.page.bundle.setText(folder)

    def browse_data_dir(self) -> None:
        """Choose the records folder."""
        folder = QFileDialog.getExistingDirectory(self.w, self.page.data_dir_label.text(), self.page.data_dir.text())
        if folder:
            self.page.data_dir.setText(folder)

    def apply(self) -> None:
        """Persist the page; reload the model / reopen the records folder / switch language when they changed."""
        s, p = self.settings, self.page
        self.fill_backends()
        try:
            s.dicom_callers = p.dicom_callers.text()      # first: when it is refused, nothing else is changed
            backend = p.backend.currentData() or "auto"
            s.backend = backend
            s.threads = p.threads.value()
            s.dicom_port = p.dicom_port.value()
            s.dicom_max_mb = p.dicom_max_mb.value()
            s.dicom_general = p.dicom_general.isChecked()
            language = p.language.currentData()
            s.language = language
        except UsageError:
            # the only free-text setting is the list of AE titles (the others are spin and combo boxes)
            text = QCoreApplication.translate("Settings", "The camera AE titles are not valid: up to 16 letters or "
                                                          "digits each, separated by commas. Nothing was changed.")
            self.w.screen_page.notice.show_message("problem", text)
            self.w.status.showMessage(text, 15000)
            return
        bundle = p.bundle.text().strip()
        model_changed = (bundle, backend, s.threads) != (self.models.bundle_path, self.models.backend,
                                                        self.models.threads)
        s.bundle_path = bundle
        data_changed = p.data_dir.text().strip() != s.data_dir
        s.data_dir = p.data_dir.text().strip()
        s.sync()
        translations.install(language)        # a LanguageChange event redraws every text
        if data_changed:
            self.history.open_store()
        if model_changed:
            self.models.load(bundle=bundle, backend=backend, threads=s.threads)
        self.w.status.showMessage(QCoreApplication.translate("Settings", "Settings saved."), 10000)
        self.applied.emit()
