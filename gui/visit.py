"""One patient visit: patient, eyes, operator, shots with their results and saved state, corrections.

Qt-free (tested headless). The rules that decide where a capture goes live in
:mod:`edge_screen.gui.session`; this module holds the data and the rules of one visit:

- a visit's patient never changes once something was saved under it (or the ID came from a file);
- nothing is saved without a patient ID and an eye, unless the technician confirmed "no ID";
- a photo that cannot be graded is never saved as a verdict; the technician may keep it as an
  "ungradable" attempt;
- eye and operator can be corrected until the visit is closed, and each change of a saved record
  becomes a :class:`Correction` (the record store keeps the trail); the operator is the one at
  save time, not at screening time;
- the visit summary is the worse of the two eyes (refer > retake > no referable sign).

No user-facing text lives here: states are enums, and :mod:`edge_screen.gui.wording` words them.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from edge_screen.errors import EdgeScreenError

if TYPE_CHECKING:   # the session model itself needs no numpy (keeps the app's start-up light)
    import numpy as np


class VisitError(EdgeScreenError):
    """A workflow rule was broken (e.g. changing the patient of a visit that already saved records)."""


class Eye(str, enum.Enum):
    """Which eye a photo shows."""

    OD = "OD"   # right eye (oculus dexter)
    OS = "OS"   # left eye (oculus sinister)

    @property
    def other(self) -> Eye:
        """The other eye."""
        return Eye.OS if self is Eye.OD else Eye.OD


class SourceKind(str, enum.Enum):
    """Where a capture came from (stored with the record)."""

    FILE = "file"
    CAMERA = "camera"
    WATCH = "watch"
    DICOM = "dicom"
    DICOM_SCP = "dicom-scp"


@dataclass(frozen=True)
class Identity:
    """Who and which eye a file says it shows (DICOM PatientID and laterality)."""

    patient_id: str = ""
    eye: Eye | None = None


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, eq=False)
class Capture:
    """One image from any source: the event every source controller emits.

    ``data`` is stored with the record exactly as received (JPEG/PNG/DICOM bytes; PNG for camera
    frames). ``pixels`` is (H, W, 3) uint8 RGB when the source already decoded it (camera, DICOM).
    ``name`` is the file name for display; it may contain a patient name, so it is never logged.
    ``identity`` is None when the image carries none (JPEG, camera frame).
    """

    data: bytes
    ext: str
    source: SourceKind
    name: str = ""
    pixels: np.ndarray | None = None
    identity: Identity | None = None
    id: str = field(default_factory=_new_id)


@dataclass(frozen=True, eq=False)
class CaptureFailure:
    """An image that could not be read or screened.

    ``reason`` is an :data:`edge_screen.errors.IMAGE_ERROR_REASONS` code, or one of the app's
    codes ``"no_model"``, ``"too_large_file"``, ``"internal"``; None when unknown.
    ``capture_id`` links it to the :class:`Capture` it came from, when there was one.
    """

    source: SourceKind
    name: str
    reason: str | None
    eye: Eye | None = None
    capture_id: str | None = None
    id: str = field(default_factory=_new_id)


class ShotState(str, enum.Enum):
    """Where one photo of one eye stands."""

    SCREENING = "screening"
    GRADED = "graded"           # normal or abnormal
    UNGRADABLE = "ungradable"   # quality too poor to grade: retake
    FAILED = "failed"           # the file could not be read or screened


class Finding(str, enum.Enum):
    """What a technician must do about an eye or a visit, worst first in :data:`SEVERITY`."""

    REFER = "refer"
    RETAKE = "retake"
    FAILED = "failed"
    SCREENING = "screening"
    NO_SIGN = "no_sign"
    NONE = "none"


SEVERITY = (Finding.REFER, Finding.RETAKE, Finding.FAILED, Finding.SCREENING, Finding.NO_SIGN, Finding.NONE)


@dataclass(eq=False)
class Shot:
    """One capture (or failure) placed on one eye of one visit, with its result and saved state."""

    visit_id: str
    eye: Eye | None
    capture: Capture | None = None
    failure: CaptureFailure | None = None
    state: ShotState = ShotState.SCREENING
    result: Any = None              # edge_screen.screener.ScreenResult once screened
    display: Any = None             # images prepared for display off the GUI thread (see jobs)
    record_id: str | None = None    # set once saved
    saved_operator: str | None = None
    keep_ungradable: bool = False   # the technician chose to keep an ungradable attempt
    saving: bool = False
    save_error: Any = None          # the last save failure (a StoreError), cleared on success
    id: str = field(default_factory=_new_id)

    @property
    def saved(self) -> bool:
        """True once the record store has it."""
        return self.record_id is not None

    @property
    def wants_saving(self) -> bool:
        """A graded photo, or an ungradable one the technician chose to keep, not yet saved."""
        keep = self.state is ShotState.GRADED or (self.state is ShotState.UNGRADABLE and self.keep_ungradable)
        return keep and not self.saved

    @property
    def finding(self) -> Finding:
        """What this photo asks of the technician."""
        if self.state is ShotState.GRADED:
            return Finding.REFER if self.result.verdict == "abnormal" else Finding.NO_SIGN
        return {ShotState.UNGRADABLE: Finding.RETAKE, ShotState.FAILED: Finding.FAILED,
                ShotState.SCREENING: Finding.SCREENING}[self.state]


class PatientSource(str, enum.Enum):
    """Where the visit's patient ID came from."""

    NONE = "none"
    TYPED = "typed"
    FILE = "file"


@dataclass(frozen=True)
class Correction:
    """One change to a saved record, for the record store's correction trail."""

    record_id: str
    field: str          # "eye" | "operator"
    old: str
    new: str
    time_utc: str
    by: str             # the operator at the time of the correction


@dataclass(frozen=True)
class Summary:
    """The visit at a glance: the worse finding of the two eyes, each eye's, and eyes without a photo."""

    finding: Finding
    eyes: dict[Eye, Finding]
    missing: tuple[Eye, ...]
    worst_eyes: tuple[Eye, ...]     # the eyes that have the visit's finding


def summarize(eyes: dict[Eye, Finding], *, missing: tuple[Eye, ...] = (), extra: Finding | None = None) -> Summary:
    """The visit's finding: the worse of the eyes' (``extra``: a finding not tied to an eye)."""
    worst = min([*eyes.values(), *([extra] if extra is not None else [])], key=SEVERITY.index)
    # a failed file needs a new photo too: "retake" names the eyes of both
    group = (Finding.RETAKE, Finding.FAILED) if worst is Finding.RETAKE else (worst,)
    return Summary(finding=worst, eyes=dict(eyes), missing=tuple(missing),
                   worst_eyes=tuple(e for e in Eye if eyes.get(e) in group))


FINDING_OF_VERDICT = {"abnormal": Finding.REFER, "normal": Finding.NO_SIGN, "ungradable": Finding.RETAKE}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Visit:
    """One patient at one sitting: up to one current photo per eye, plus superseded retakes."""

    def __init__(self, *, operator: str = "") -> None:
        self.id = _new_id()
        self.started_utc = _now()
        self.patient_id = ""
        self.patient_source = PatientSource.NONE
        self.no_id = False                  # the technician confirmed there is no patient ID
        self.same_patient_confirmed = False  # photos without identity may join a file's patient
        self.operator = operator
        self.shots: list[Shot] = []
        self.latest: dict[Eye, Shot] = {}
        self.unplaced_failure: Shot | None = None   # a failure whose eye is unknown
        self.closed = False
        self.corrections: list[Correction] = []

    # -- identity ---------------------------------------------------------------------------
    @property
    def identified(self) -> bool:
        """A patient ID, or a confirmed "no ID": records may be saved."""
        return bool(self.patient_id) or self.no_id

    @property
    def locked(self) -> bool:
        """The patient can no longer be changed: something was saved, or the ID came from a file."""
        return self.patient_source is PatientSource.FILE or self.no_id or any(s.saved for s in self.shots)

    def _check_open(self) -> None:
        if self.closed:
            raise VisitError("This visit is closed: start a new patient to screen more photos.")

    def set_typed_patient(self, text: str) -> None:
        """The ID the technician typed (committed with Enter or by leaving the field)."""
        self._check_open()
        text = text.strip()
        if text == self.patient_id:
            return
        if self.locked:
            raise VisitError("The patient of this visit cannot change any more: press New patient to screen "
                             "another patient.")
        self.patient_id = text
        self.patient_source = PatientSource.TYPED if text else PatientSource.NONE

    def adopt_file_patient(self, patient_id: str) -> None:
        """Take the patient ID a file carries (only when the visit has none, or already has it)."""
        self._check_open()
        if self.patient_id and self.patient_id != patient_id:
            raise VisitError("This visit belongs to another patient.")
        self.patient_id = patient_id
        self.patient_source = PatientSource.FILE

    def confirm_no_id(self) -> None:
        """The technician confirmed the photos are saved without a patient ID."""
        self._check_open()
        if self.patient_id:
            raise VisitError("This visit has a patient ID.")
        self.no_id = True

    # -- shots ------------------------------------------------------------------------------
    @property
    def has_captures(self) -> bool:
        """True when any photo (not only failures) was placed in this visit."""
        return any(s.capture is not None for s in self.shots)

    def add_shot(self, capture: Capture, eye: Eye) -> Shot:
        """Place a capture on an eye; it becomes that eye's current photo (a retake supersedes)."""
        self._check_open()
        shot = Shot(visit_id=self.id, eye=eye, capture=capture)
        self.shots.append(shot)
        self.latest[eye] = shot
        self.unplaced_failure = None
        return shot

    def add_failure(self, failure: CaptureFailure, eye: Eye | None) -> Shot:
        """Record a failed image: it replaces the eye's panel (or, eye unknown, blocks the PDF)."""
        shot = Shot(visit_id=self.id, eye=eye, failure=failure, state=ShotState.FAILED)
        self.shots.append(shot)
        if eye is None:
            self.unplaced_failure = shot
        else:
            self.latest[eye] = shot
        return shot

    def keep_ungradable(self, shot: Shot) -> None:
        """The technician chose to save an ungradable attempt (as "ungradable", never as a verdict)."""
        self._check_open()
        if shot.state is not ShotState.UNGRADABLE:
            raise VisitError("Only a photo that could not be graded can be kept as an ungradable attempt.")
        shot.keep_ungradable = True

    def unsaved(self) -> list[Shot]:
        """Photos that should be saved and are not (yet)."""
        return [s for s in self.shots if s.wants_saving or (s.state is ShotState.SCREENING and s.capture)]

    def saveable(self) -> list[Shot]:
        """Photos ready to save now: a result, an eye, an identified visit, no save in flight."""
        if not self.identified:
            return []
        return [s for s in self.shots if s.wants_saving and s.eye is not None and not s.saving]

    # -- corrections ------------------------------------------------------------------------
    def correct_eye(self, eye: Eye) -> list[Correction]:
        """The photo shown as ``eye`` is the other eye: swap the two eyes' current photos.

        Returns the corrections of saved records (to write to the store).
        """
        self._check_open()
        moving = self.latest.pop(eye, None)
        staying = self.latest.pop(eye.other, None)
        out: list[Correction] = []
        for shot, new in ((moving, eye.other), (staying, eye)):
            if shot is None:
                continue
            old = shot.eye
            shot.eye = new
            self.latest[new] = shot
            if shot.saved and old is not None and old is not new:
                out.append(Correction(shot.record_id, "eye", old.value, new.value, _now(), self.operator))
        self.corrections.extend(out)
        return out

    def note_correction(self, record_id: str, field: str, old: str, new: str) -> Correction:
        """Record a correction made outside :meth:`correct_eye` / :meth:`set_operator` (e.g. a save in flight)."""
        c = Correction(record_id, field, old, new, _now(), self.operator)
        self.corrections.append(c)
        return c

    def set_operator(self, name: str) -> list[Correction]:
        """The operator field changed: records saved in this visit take the new name (with a trail)."""
        self._check_open()
        name = name.strip()
        self.operator = name
        out: list[Correction] = []
        for shot in self.shots:
            if shot.saved and (shot.saved_operator or "") != name:
                out.append(Correction(shot.record_id, "operator", shot.saved_operator or "", name, _now(), name))
                shot.saved_operator = name
        self.corrections.extend(out)
        return out

    # -- summary ----------------------------------------------------------------------------
    def eye_finding(self, eye: Eye) -> Finding:
        """What the visit found for one eye: the worst of its graded photos (a retake never hides a
        referral), else the state of its latest photo (retake, failed, screening), else NONE."""
        graded = [s.finding for s in self.shots if s.eye is eye and s.state is ShotState.GRADED]
        if graded:
            return min(graded, key=SEVERITY.index)
        return self.latest[eye].finding if eye in self.latest else Finding.NONE

    def earlier_worse(self, eye: Eye) -> bool:
        """True when an earlier photo of ``eye`` found worse than the one shown (e.g. refer, then a retake)."""
        shown = self.latest.get(eye)
        return shown is not None and SEVERITY.index(self.eye_finding(eye)) < SEVERITY.index(shown.finding)

    def summary(self) -> Summary:
        """The worse finding of the two eyes."""
        return summarize({e: self.eye_finding(e) for e in Eye}, missing=tuple(e for e in Eye if e not in self.latest),
                         extra=Finding.FAILED if self.unplaced_failure is not None else None)

    @property
    def report_ready(self) -> bool:
        """A PDF can be made: something is saved and nothing shown is failed, screening or unsaved."""
        if self.unplaced_failure is not None or not any(s.saved for s in self.shots):
            return False
        return all(s.state not in (ShotState.FAILED, ShotState.SCREENING) and not s.wants_saving
                   for s in self.latest.values())

    def close(self) -> None:
        """No more photos or corrections."""
        self.closed = True
