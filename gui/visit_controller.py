"""The technician's workflow on the Screen page: captures -> session rules -> screening -> saving.

Every image source hands its :class:`~edge_screen.gui.visit.Capture` (or
:class:`~edge_screen.gui.visit.CaptureFailure`) to :meth:`VisitController.offer` /
:meth:`VisitController.report_failure`. The Qt-free :class:`~edge_screen.gui.session.Session`
decides where it goes or asks a question, which appears in the notice bar above the eyes. Screening
and saving run in workers; after every change :meth:`render` redraws the page from the session, so
what the screen shows is always what the model holds.

Patient identifiers and file names (cameras often name files after the patient) never go into log
messages.
"""

from __future__ import annotations

import logging
from collections import deque
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from edge_screen.gui.jobs import SaveRequest, correct_job, save_job, screen_job
from edge_screen.gui.session import Accepted, Choice, Question, Session
from edge_screen.gui.visit import Capture, CaptureFailure, Eye, Shot, ShotState, VisitError
from edge_screen.gui.workers import JobError, WorkerPool

log = logging.getLogger(__name__)

_CONFIRM_NO_ID = "confirm_no_id"


class VisitController(QObject):
    """Owns the session; connects the top bar and the Screen page; screens and saves in workers."""

    screened = Signal(object)       # Shot, graded or ungradable
    failed = Signal(object)         # Shot that failed
    saved = Signal(object)          # VisitRecord
    save_failed = Signal(object)    # JobError
    asked = Signal(object)          # Question (or the "no ID" confirmation key)
    corrected = Signal(object)      # list[VisitRecord]

    def __init__(self, window, pool: WorkerPool, models, history, settings) -> None:  # noqa: ANN001
        super().__init__(window)
        self.w, self.page = window, window.screen_page
        self.pool, self.models, self.history, self.settings = pool, models, history, settings
        self.session = Session(operator=settings.operator)
        self.queue: deque[Shot] = deque()
        self.busy = False
        self.question: Question | str | None = None
        self.waiting: deque[Capture] = deque()     # captures that arrived while a question was open
        self._shown_visit = ""
        self._connect()
        self.render()

    # -- wiring ------------------------------------------------------------------------------
    def _connect(self) -> None:
        w, p = self.w, self.page
        w.patient_id.editingFinished.connect(self.commit_patient)
        w.operator.editingFinished.connect(lambda: self.set_operator(w.operator.text()))
        w.operator.setText(self.session.operator)
        for eye, button in w.eye_buttons.items():
            button.clicked.connect(lambda on, e=eye: self.select_eye(e if on else None))
        w.new_patient.clicked.connect(self.new_patient)
        w.language_changed.connect(self.render)
        p.heatmap_toggle.toggled.connect(lambda _on: self.render())
        p.details_toggle.toggled.connect(lambda _on: self.render())
        p.no_id_button.clicked.connect(self.ask_no_id)
        p.retry_button.clicked.connect(self.save_pending)
        p.report_button.clicked.connect(lambda: self.write_report())
        p.notice.chosen.connect(self.answer)
        for eye, panel in p.eyes.items():
            panel.move_eye.clicked.connect(lambda _=False, e=eye: self.correct_eye(e))
            panel.keep.clicked.connect(lambda _=False, e=eye: self.keep_ungradable(e))
        self.models.model_changed.connect(lambda _s: self._next())

    # -- the top bar -------------------------------------------------------------------------
    def commit_patient(self) -> None:
        """The patient field's text becomes the visit's patient (Enter, leaving the field, a new photo)."""
        text = self.w.patient_id.text().strip()
        visit = self.session.visit
        if text == visit.patient_id or self.w.patient_id.isReadOnly():
            return
        try:
            visit.set_typed_patient(text)
        except VisitError:
            self.w.patient_id.setText(visit.patient_id)
            self._notice("problem", self.tr("The patient of this visit cannot change any more. Press New patient "
                                            "to screen another patient."))
            return
        self.save_pending()
        self.render()

    def select_eye(self, eye: Eye | None) -> None:
        """The eye buttons: the eye of the next photo that does not say which it is."""
        self.session.select_eye(eye)
        self.render()

    def set_operator(self, name: str) -> None:
        """The operator field: taken at save time; corrects the saved records of this visit."""
        self.settings.operator = name.strip()
        fixes = self.session.set_operator(name)
        self._write_corrections(fixes)

    def new_patient(self) -> None:
        """Close the visit (asking first when unsaved photos would be lost) and start an empty one."""
        question = self.session.new_patient()
        if question is not None:
            self._ask(question)
            return
        self._clear_notice()
        self.render()
        self.w.patient_id.setFocus()

    # -- captures ----------------------------------------------------------------------------
    def offer(self, capture: Capture) -> None:
        """A photo from any source."""
        if self.question is not None:
            self.waiting.append(capture)
            return
        self.commit_patient()
        self._handle(self.session.offer(capture))

    def report_failure(self, failure: CaptureFailure) -> None:
        """A file that could not be used (any source): it replaces its eye's panel, never a result."""
        shot = self.session.fail(failure)
        log.info("a %s image could not be used (%s)", failure.source.value, failure.reason)
        self.render()
        self.failed.emit(shot)

    def _handle(self, got: Accepted | Question | None) -> None:
        if isinstance(got, Question):
            self._ask(got)
            return
        if isinstance(got, Accepted):
            if got.new_visit and self.session.visit.patient_id:
                self._notice("info", self.tr("New patient from the file: {patient}").format(
                    patient=self.session.visit.patient_id))
            self.queue.append(got.shot)
            self._next()
        self.render()
        self._drain_waiting()

    def _drain_waiting(self) -> None:
        while self.question is None and self.waiting:
            self._handle(self.session.offer(self.waiting.popleft()))

    def _ask(self, question: Question | str) -> None:
        from edge_screen.gui.wording import choice_label, question_text

        self.question = question
        if question == _CONFIRM_NO_ID:
            text = self.tr("Save without a patient ID? These photos cannot be found by patient later.")
            buttons = [(_CONFIRM_NO_ID, self.tr("Save without ID")), (Choice.CANCEL.value, self.tr("Cancel"))]
        else:
            text = question_text(question)
            buttons = [(c.value, choice_label(question, c)) for c in question.choices]
        self.page.notice.show_message("question", text, buttons)
        self.render()
        self.asked.emit(question)

    def answer(self, key: str) -> None:
        """A button of the notice bar was pressed."""
        question, self.question = self.question, None
        self._clear_notice()
        if question is None:
            return
        if question == _CONFIRM_NO_ID:
            if key == _CONFIRM_NO_ID:
                self.session.visit.confirm_no_id()
                self.save_pending()
            self.render()
            return
        self._handle(self.session.answer(question, Choice(key)))

    def ask_no_id(self) -> None:
        """The "Save without ID..." button: ask for confirmation first."""
        if self.question is None:
            self._ask(_CONFIRM_NO_ID)

    # -- screening ---------------------------------------------------------------------------
    def _next(self) -> None:
        if self.busy or not self.queue:
            return
        if self.models.screener is None:
            if self.models.error is not None:          # no model: say so for each waiting photo
                while self.queue:
                    shot = self.queue.popleft()
                    self._fail_shot(shot, "no_model")
            return
        shot = self.queue.popleft()
        self.busy = True
        self.page.busy.show()
        self.pool.submit(screen_job, self.models.screener, shot.capture,
                         on_done=lambda rd, s=shot: self._on_screened(s, *rd),
                         on_error=lambda err, s=shot: self._on_screen_error(s, err))

    def _on_screened(self, shot: Shot, result, display) -> None:  # noqa: ANN001
        self.busy = False
        self.session.set_result(shot, result, display)
        log.info("screened a photo from %s: %s", shot.capture.source.value, result.verdict)
        self.save_pending()
        self.render()
        self.screened.emit(shot)
        self._next()

    def _on_screen_error(self, shot: Shot, err: JobError) -> None:
        self.busy = False
        log.info("screening failed: %s (%s)", err.kind, err.reason)
        if err.kind == "ImageError":
            reason = err.reason
        elif err.kind == "InferenceError":    # NaN or out-of-range output: never a verdict
            reason = "model_output"
        else:
            reason = err.reason or "internal"
        self._fail_shot(shot, reason)
        self._next()

    def _fail_shot(self, shot: Shot, reason: str | None) -> None:
        c = shot.capture
        self.session.set_failed(shot, CaptureFailure(c.source, c.name, reason, eye=shot.eye, capture_id=c.id))
        self.render()
        self.failed.emit(shot)

    # -- saving ------------------------------------------------------------------------------
    def save_pending(self) -> None:
        """Save every shot that can be saved now (each in a worker); Retry save calls this too."""
        store = self.history.store
        for visit, shot in self.session.to_save():
            if store is None or store.read_only:
                from edge_screen.gui.records import StoreError

                why = self.history.store_error or (store.read_only_reason if store is not None else None)
                self.session.mark_save_failed(shot, why or StoreError("no records folder", reason="read_only"))
                self.save_failed.emit(JobError("StoreError", getattr(why, "reason", "read_only"), str(why), why))
                continue
            self.session.mark_saving(shot)
            request = SaveRequest(shot_id=shot.id, patient_id=visit.patient_id, no_id=visit.no_id, eye=shot.eye.value,
                                  operator=visit.operator, session_id=visit.id, capture=shot.capture,
                                  result=shot.result, heatmap_png=getattr(shot.display, "heatmap_png", None))
            self.pool.submit(save_job, store, request, on_done=lambda out, r=request: self._on_saved(r, out[1]),
                             on_error=lambda err, s=shot: self._on_save_error(s, err))
        self.render()

    def _on_saved(self, request: SaveRequest, record) -> None:  # noqa: ANN001
        visit, shot = self.session.find(request.shot_id)
        self.session.mark_saved(shot, record.visit_id, request.operator)
        if not visit.closed:   # eye or operator changed while the save was in flight
            fixes = visit.set_operator(visit.operator) if visit.operator != request.operator else []
            if shot.eye is not None and shot.eye.value != request.eye:
                fixes.append(visit.note_correction(record.visit_id, "eye", request.eye, shot.eye.value))
            self._write_corrections(fixes)
        self.render()
        self.saved.emit(record)

    def _on_save_error(self, shot: Shot, err: JobError) -> None:
        from edge_screen.gui.wording import store_problem

        self.session.mark_save_failed(shot, err.error)
        log.error("saving failed: %s (%s)", err.kind, err.reason)
        self._notice("problem", store_problem(err.reason))
        self.render()
        self.save_failed.emit(err)

    def keep_ungradable(self, eye: Eye) -> None:
        """The technician keeps the ungradable photo of ``eye`` as an attempt (never as a verdict)."""
        shot = self.session.visit.latest.get(eye)
        if shot is not None and shot.state is ShotState.UNGRADABLE:
            self.session.visit.keep_ungradable(shot)
            self.save_pending()

    # -- corrections -------------------------------------------------------------------------
    def correct_eye(self, eye: Eye) -> None:
        """The photo shown as ``eye`` is the other eye."""
        from edge_screen.gui.wording import eye_name

        visit = self.session.visit
        if visit.closed or eye not in visit.latest:
            return
        self._write_corrections(visit.correct_eye(eye))
        self._notice("ok", self.tr("Corrected. This photo is now marked: {eye}.").format(eye=eye_name(eye.other)))
        self.render()

    def _write_corrections(self, fixes: list) -> None:
        store = self.history.store
        if not fixes or store is None:
            return
        self.pool.submit(correct_job, store, fixes, on_done=self.corrected.emit,
                         on_error=lambda err: self._on_save_error_text(err))

    def _on_save_error_text(self, err: JobError) -> None:
        from edge_screen.gui.wording import store_problem

        self._notice("problem", store_problem(err.reason))
        self.save_failed.emit(err)

    # -- PDF ---------------------------------------------------------------------------------
    def write_report(self, path: str | Path | None = None):  # noqa: ANN201
        """Write the PDF of the open visit (default: the records folder, named by patient, eye and date)."""
        visit, store = self.session.visit, self.history.store
        if store is None or not visit.report_ready:
            return None
        records = []
        for eye in Eye:
            saved = [s for s in visit.shots if s.eye is eye and s.saved]
            shown = visit.latest.get(eye)
            pick = shown if shown is not None and shown.saved else (saved[-1] if saved else None)
            if pick is not None:
                records.append(store.get(pick.record_id))
        return self.history.write_report(records, path)

    # -- notices -----------------------------------------------------------------------------
    def _notice(self, kind: str, text: str) -> None:
        if self.question is not None:      # never hide an open question behind a message
            self.w.status.showMessage(text, 15000)
            return
        self.page.notice.show_message(kind, text)
        self.w.status.showMessage(text, 15000)

    def _clear_notice(self) -> None:
        if self.question is None:
            self.page.notice.hide()

    # -- drawing -----------------------------------------------------------------------------
    def render(self) -> None:
        """Redraw the top bar and the Screen page from the session."""
        from edge_screen.gui.wording import (
            details_text,
            patient_line,
            save_state,
            shot_advice,
            shot_headline,
            summary_text,
        )

        w, p, s = self.w, self.page, self.session
        visit = s.visit
        # a new visit always shows its own (empty) patient: stale text must never be committed to it
        new_visit = self._shown_visit != visit.id
        self._shown_visit = visit.id
        if w.patient_id.text().strip() != visit.patient_id and (new_visit or visit.locked
                                                                 or not w.patient_id.hasFocus()):
            w.patient_id.setText(visit.patient_id)
        w.patient_id.setReadOnly(visit.locked)
        w.patient_id.setStyleSheet("background: #eee;" if visit.locked else "")
        for eye, button in w.eye_buttons.items():
            button.setChecked(s.selected_eye is eye)
        kind, head, detail = summary_text(visit.summary())
        p.summary.set_verdict(kind, head, detail)
        p.patient_line.setText(patient_line(visit))
        show_heat, show_details = p.heatmap_toggle.isChecked(), p.details_toggle.isChecked()
        for eye, panel in p.eyes.items():
            shot = visit.latest.get(eye)
            kind, head = shot_headline(shot)
            panel.verdict.set_verdict(kind, head, shot_advice(shot))
            display = shot.display if shot is not None and shot.state is not ShotState.FAILED else None
            if display is None:
                panel.image.set_image(None, "")
            else:
                panel.image.set_image(display.overlay if show_heat and display.overlay is not None else display.photo)
            panel.legend.setVisible(show_heat and display is not None and display.overlay is not None)
            panel.save_line.setText(save_state(shot, visit))
            panel.earlier.setText(self.tr("An earlier photo of this eye was referred.") if visit.earlier_worse(eye)
                                  and visit.eye_finding(eye).value == "refer" else "")
            panel.earlier.setVisible(bool(panel.earlier.text()))
            panel.move_eye.setVisible(shot is not None and shot.state is not ShotState.FAILED and not visit.closed)
            selected = s.selected_eye is eye
            panel.setStyleSheet("#EyePanel { border: %s; border-radius: 8px; }"
                                % ("3px solid #0072B2" if selected else "1px solid #bbb"))
            panel.keep.setVisible(shot is not None and shot.state is ShotState.UNGRADABLE and not shot.keep_ungradable)
            panel.details.setText(details_text(shot) if show_details else "")
            panel.details.setVisible(show_details and bool(panel.details.text()))
        store = self.history.store
        p.report_button.setEnabled(store is not None and visit.report_ready)
        p.retry_button.setVisible(bool(s.save_errors()))
        p.no_id_button.setVisible(not visit.identified and any(sh.wants_saving for sh in visit.shots))
        p.busy.setVisible(self.busy or bool(self.queue))
