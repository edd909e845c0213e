"""The technician's session: one patient visit at a time. Qt-free, so every rule is tested headless.

A :class:`Session` holds the open :class:`Visit` (patient, eye, operator, shots and their results
and saved state, the correction trail) and the closed ones whose saves are still in flight. Every
image source hands over the same typed :class:`Capture`; :meth:`Session.offer` decides where it
goes, or returns a :class:`Question` for the technician. The rules (issue 14):

- **One patient at a time.** "New patient" closes the visit and clears patient, eye and results.
  A visit's patient never changes once something was saved under it.
- **The file's identity wins.** A DICOM file names its patient and eye: it fills an empty visit,
  starts a new visit when the open one came from another patient's file, and asks when it
  disagrees with an ID the technician typed. A photo without identity that follows another
  patient's file asks "is this the same patient?" instead of joining silently.
- The rules of one visit (saving, corrections, the summary) are in :mod:`edge_screen.gui.visit`.

No user-facing text lives here: questions and answers are enums, worded by
:mod:`edge_screen.gui.wording`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from edge_screen.gui.visit import (
    Capture,
    CaptureFailure,
    Eye,
    PatientSource,
    Shot,
    ShotState,
    Visit,
    VisitError,
)


class QuestionKind(str, enum.Enum):
    """What the technician is asked."""

    PATIENT_CONFLICT = "patient_conflict"   # the file names another patient than the typed ID
    EARLIER_PHOTOS = "earlier_photos"       # a file names a patient; earlier photos have no ID
    SAME_PATIENT = "same_patient"           # a photo without ID after another patient's file
    WHICH_EYE = "which_eye"                 # neither the file nor the eye buttons say which eye
    DISCARD_UNSAVED = "discard_unsaved"     # New patient with photos that cannot be saved


class Choice(str, enum.Enum):
    """An answer to a :class:`Question`."""

    USE_FILE_PATIENT = "use_file_patient"
    SAME_PATIENT = "same_patient"
    NEW_PATIENT = "new_patient"
    EYE_OD = "eye_od"
    EYE_OS = "eye_os"
    SKIP_PHOTO = "skip_photo"
    DISCARD_AND_NEW = "discard_and_new"
    CANCEL = "cancel"


@dataclass(frozen=True, eq=False)
class Question:
    """A question for the technician; the capture waits until it is answered."""

    kind: QuestionKind
    choices: tuple[Choice, ...]
    capture: Capture | None = None
    file_patient: str = ""
    visit_patient: str = ""
    unsaved: int = 0


@dataclass(frozen=True)
class Accepted:
    """The capture was placed: screen ``shot``. ``new_visit``: a new patient was started for it."""

    shot: Shot
    new_visit: bool = False
    eye_from_file: bool = False


class Session:
    """The open visit plus earlier visits of this run (their saves may still be in flight)."""

    def __init__(self, *, operator: str = "") -> None:
        self.operator = operator.strip()
        self.selected_eye: Eye | None = None
        self.visits: list[Visit] = [Visit(operator=self.operator)]

    @property
    def visit(self) -> Visit:
        """The open visit."""
        return self.visits[-1]

    def _start_new_visit(self) -> Visit:
        self.visit.close()
        self.visits.append(Visit(operator=self.operator))
        self.selected_eye = None
        return self.visit

    def set_operator(self, name: str) -> list[Correction]:
        """The operator field changed (corrections for records of the open visit)."""
        self.operator = name.strip()
        return self.visit.set_operator(self.operator)

    def select_eye(self, eye: Eye | None) -> None:
        """The eye buttons: which eye the next photo without laterality shows."""
        self.selected_eye = eye

    # -- patients ---------------------------------------------------------------------------
    def new_patient(self, *, discard: bool = False) -> Question | None:
        """Close the visit and start an empty one; asks first when photos would be lost."""
        v = self.visit
        lost = [] if v.identified else v.unsaved()
        if lost and not discard:
            return Question(QuestionKind.DISCARD_UNSAVED, (Choice.DISCARD_AND_NEW, Choice.CANCEL), unsaved=len(lost))
        self._start_new_visit()
        return None

    def offer(self, capture: Capture) -> Accepted | Question:
        """Place a capture in the open visit (or a new one), or ask the technician first."""
        return self._admit(capture)

    def _admit(self, capture: Capture, *, new_visit: bool = False) -> Accepted | Question:
        v = self.visit
        file_id = capture.identity.patient_id if capture.identity else ""
        if file_id and file_id != v.patient_id:
            if not v.patient_id and not v.no_id:
                if v.unsaved():
                    return Question(QuestionKind.EARLIER_PHOTOS,
                                    (Choice.SAME_PATIENT, Choice.NEW_PATIENT, Choice.SKIP_PHOTO), capture,
                                    file_patient=file_id, unsaved=len(v.unsaved()))
                v.adopt_file_patient(file_id)
            elif v.patient_source is PatientSource.FILE and not v.no_id:
                # another patient's file after a file-identified visit: the file's identity wins
                self._start_new_visit().adopt_file_patient(file_id)
                new_visit = True
            else:
                return Question(QuestionKind.PATIENT_CONFLICT, (Choice.USE_FILE_PATIENT, Choice.SKIP_PHOTO), capture,
                                file_patient=file_id, visit_patient=v.patient_id)
        elif not file_id and v.patient_source is PatientSource.FILE and v.has_captures \
                and not v.same_patient_confirmed:
            return Question(QuestionKind.SAME_PATIENT, (Choice.SAME_PATIENT, Choice.NEW_PATIENT, Choice.SKIP_PHOTO),
                            capture, visit_patient=v.patient_id)
        return self._place(capture, new_visit=new_visit)

    def _place(self, capture: Capture, *, new_visit: bool = False, eye: Eye | None = None) -> Accepted | Question:
        file_eye = capture.identity.eye if capture.identity else None
        if eye is None:
            eye = file_eye or self.selected_eye
        if eye is None:
            return Question(QuestionKind.WHICH_EYE, (Choice.EYE_OD, Choice.EYE_OS, Choice.SKIP_PHOTO), capture)
        self.selected_eye = eye          # the eye buttons follow the file's laterality
        return Accepted(self.visit.add_shot(capture, eye), new_visit=new_visit, eye_from_file=file_eye is not None)

    def answer(self, question: Question, choice: Choice) -> Accepted | Question | None:
        """Apply the technician's answer; returns where the capture went, a further question, or None."""
        if choice not in question.choices:
            raise VisitError(f"{choice.value!r} is not an answer to {question.kind.value!r}.")
        if choice in (Choice.SKIP_PHOTO, Choice.CANCEL):
            return None
        kind, capture = question.kind, question.capture
        if kind is QuestionKind.DISCARD_UNSAVED:
            self._start_new_visit()
            return None
        if kind is QuestionKind.WHICH_EYE:
            return self._place(capture, eye=Eye.OD if choice is Choice.EYE_OD else Eye.OS)
        if kind is QuestionKind.PATIENT_CONFLICT:   # USE_FILE_PATIENT: the file's identity wins
            self._start_new_visit().adopt_file_patient(question.file_patient)
            return self._place(capture, new_visit=True)
        if kind is QuestionKind.EARLIER_PHOTOS:
            if choice is Choice.SAME_PATIENT:
                self.visit.adopt_file_patient(question.file_patient)
                return self._place(capture)
            self._start_new_visit().adopt_file_patient(question.file_patient)   # earlier photos discarded
            return self._place(capture, new_visit=True)
        # SAME_PATIENT: a photo without identity after a file's patient
        if choice is Choice.SAME_PATIENT:
            self.visit.same_patient_confirmed = True
            return self._place(capture)
        self._start_new_visit()
        return self._place(capture, new_visit=True)

    # -- results and saving -----------------------------------------------------------------
    def find(self, shot_id: str) -> tuple[Visit, Shot]:
        """The visit and shot with this id (in any visit of the run)."""
        for v in reversed(self.visits):
            for s in v.shots:
                if s.id == shot_id:
                    return v, s
        raise KeyError(shot_id)

    def fail(self, failure: CaptureFailure) -> Shot:
        """A failed image goes to its eye's panel (file laterality or the eye buttons), else blocks the PDF."""
        return self.visit.add_failure(failure, failure.eye or self.selected_eye)

    @staticmethod
    def set_result(shot: Shot, result: Any, display: Any = None) -> None:
        """Store a ScreenResult on its shot: graded or ungradable."""
        shot.result, shot.display = result, display
        shot.state = ShotState.UNGRADABLE if result.verdict == "ungradable" else ShotState.GRADED

    @staticmethod
    def set_failed(shot: Shot, failure: CaptureFailure) -> None:
        """Screening raised: the shot shows the failure and is never saved."""
        shot.failure, shot.state, shot.result, shot.display = failure, ShotState.FAILED, None, None

    def to_save(self) -> list[tuple[Visit, Shot]]:
        """Every shot of the run that can be saved now, oldest first."""
        return [(v, s) for v in self.visits for s in v.saveable()]

    @staticmethod
    def mark_saving(shot: Shot) -> None:
        """A save job took the shot."""
        shot.saving = True

    @staticmethod
    def mark_saved(shot: Shot, record_id: str, operator: str) -> None:
        """The record store has the shot."""
        shot.record_id, shot.saved_operator, shot.saving, shot.save_error = record_id, operator, False, None

    @staticmethod
    def mark_save_failed(shot: Shot, error: Any) -> None:
        """The save failed; the shot stays unsaved (Retry save takes it again)."""
        shot.saving, shot.save_error = False, error

    def save_errors(self) -> list[Shot]:
        """Unsaved shots whose last save failed."""
        return [s for v in self.visits for s in v.shots if s.save_error is not None and not s.saved]
