"""The record store and the History page: the table, search, CSV export and PDF reports.

The store opens read-only when it cannot be written (full disk, read-only folder): the history is
still shown, with a line saying why nothing can be saved. PDFs go into ``<records>/reports`` by
default, named by patient ID, eye and date.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QTableWidgetItem

from edge_screen.gui.jobs import export_csv_job, write_report_job
from edge_screen.gui.records import RecordStore, StoreError, VisitRecord
from edge_screen.gui.report import report_file_name
from edge_screen.gui.workers import JobError, WorkerPool

translate = QCoreApplication.translate   # lupdate finds calls named translate(...)


log = logging.getLogger(__name__)


class HistoryController(QObject):
    """Owns the RecordStore; fills the History page."""

    store_changed = Signal(object)     # RecordStore or None
    report_written = Signal(object)    # Path
    report_failed = Signal(object)     # JobError
    csv_written = Signal(object)       # Path

    def __init__(self, window, pool: WorkerPool, settings) -> None:  # noqa: ANN001
        super().__init__(window)
        self.w, self.page, self.pool, self.settings = window, window.history, pool, settings
        self.store: RecordStore | None = None
        self.store_error: StoreError | None = None
        self.page.search.textChanged.connect(lambda _t: self.refresh())
        self.page.export.clicked.connect(lambda: self.export_csv())
        self.page.report.clicked.connect(lambda: self.report_selected())
        window.tabs.currentChanged.connect(lambda i: self.refresh() if window.tabs.widget(i) is self.page else None)
        window.language_changed.connect(self.refresh)

    # -- the store ---------------------------------------------------------------------------
    def open_store(self) -> None:
        """Open (or re-open) the store in the settings' records folder."""
        if self.store is not None:
            self.store.close()
        try:
            self.store, self.store_error = RecordStore(self.settings.data_dir), None
        except StoreError as exc:
            self.store, self.store_error = None, exc
            log.error("no records folder: %s", exc.reason)
        self.refresh()
        self.store_changed.emit(self.store)

    @property
    def reports_dir(self) -> Path:
        """Where PDFs go by default."""
        return Path(self.settings.data_dir) / "reports"

    # -- the table ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Fill the table from the search box, and say when the store cannot be written."""
        from edge_screen.gui.wording import eye_name, local_time, store_problem, verdict_word
        from edge_screen.gui.visit import Eye

        page = self.page
        why = self.store_error or (self.store.read_only_reason if self.store is not None else None)
        if why is not None:
            page.status.setText(translate("History", "Records can be read but not saved. {problem}").format(
                problem=store_problem(why.reason)) if self.store is not None else store_problem(why.reason))
        page.status.setVisible(why is not None)
        rows = [] if self.store is None else self.store.search(page.search.text())
        table = page.table
        table.setRowCount(len(rows))
        sources = {"file": translate("History", "File"), "camera": translate("History", "Camera"),
                   "watch": translate("History", "Camera folder"), "dicom": translate("History", "DICOM file"),
                   "dicom-scp": translate("History", "DICOM network")}
        for i, r in enumerate(rows):
            patient = r.patient_id or translate("History", "(no ID)")
            eye = eye_name(Eye(r.eye)) if r.eye in ("OD", "OS") else r.eye
            values = [local_time(r.time_utc), patient, eye, verdict_word(r.verdict), r.operator,
                      sources.get(r.source, r.source)]
            for j, v in enumerate(values):
                item = QTableWidgetItem(v)
                item.setData(Qt.ItemDataRole.UserRole, r.visit_id)
                table.setItem(i, j, item)
        table.resizeColumnsToContents()

    def selected(self) -> VisitRecord | None:
        """The record selected in the table."""
        items = self.page.table.selectedItems()
        if not items or self.store is None:
            return None
        return self.store.get(items[0].data(Qt.ItemDataRole.UserRole))

    # -- exports -----------------------------------------------------------------------------
    def report_selected(self, path: str | Path | None = None):  # noqa: ANN201
        """The PDF of the visit the selected record belongs to (both eyes)."""
        rec = self.selected()
        if rec is None or self.store is None:
            return None
        latest: dict[str, VisitRecord] = {}
        for r in self.store.session(rec):
            latest[r.eye] = r        # oldest first: the last of each eye is the one shown
        if rec.session_id == "" or rec.eye not in latest:
            latest[rec.eye] = rec
        return self.write_report([latest[e] for e in ("OD", "OS") if e in latest], path)

    def write_report(self, records: list[VisitRecord], path: str | Path | None = None):  # noqa: ANN201
        """Write the PDF of ``records`` (one visit) in a worker; default path in the records folder."""
        if not records or self.store is None:
            return None
        if path is None:
            out_dir = self.reports_dir
            name = report_file_name(records)
            path, i = out_dir / name, 2
            while path.exists():
                path, i = out_dir / f"{Path(name).stem}-{i}.pdf", i + 1
        corrections = {r.visit_id: self.store.corrections(r.visit_id) for r in records}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return self.pool.submit(write_report_job, Path(path), records, self.store, corrections,
                                on_done=self._on_report, on_error=self._on_report_error)

    def _on_report(self, path: Path) -> None:
        text = translate("History", "PDF saved: {path}").format(path=path)
        self.w.status.showMessage(text, 20000)
        self.w.screen_page.notice.show_message("ok", text)
        if self.w.tabs.currentWidget() is self.page:
            self.page.status.setText(text)
            self.page.status.show()
        self.report_written.emit(path)

    def _on_report_error(self, err: JobError) -> None:
        from edge_screen.gui.wording import store_problem

        text = store_problem(err.reason)
        self.w.screen_page.notice.show_message("problem", text)
        self.w.status.showMessage(text, 20000)
        log.error("PDF failed: %s (%s)", err.kind, err.reason)
        self.report_failed.emit(err)

    def export_csv(self, path: str | Path | None = None):  # noqa: ANN201
        """Export the records matching the search as CSV (asks where when ``path`` is None)."""
        if self.store is None:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self.w, translate("History", "Export CSV"),
                                                  str(Path(self.settings.data_dir) / "visits.csv"), "CSV (*.csv)")
            if not path:
                return None
        rows = self.store.search(self.page.search.text(), limit=10**9)
        return self.pool.submit(export_csv_job, self.store, Path(path), rows, on_done=self._on_csv,
                                on_error=self._on_report_error)

    def _on_csv(self, path: Path) -> None:
        text = translate("History", "CSV saved: {path}").format(path=path)
        self.page.status.setText(text)
        self.page.status.show()
        self.w.status.showMessage(text, 20000)
        self.csv_written.emit(path)
