"""The session model, headless (no Qt): one patient at a time, nothing saved under the wrong patient.

Results are real ScreenResults from the tiny bundle on real photos (IDRiD), so the rules are tested
on what the screener really returns.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_screen.gui.session import Accepted, Choice, Question, QuestionKind, Session
from edge_screen.gui.visit import (
    Capture,
    CaptureFailure,
    Eye,
    Finding,
    Identity,
    PatientSource,
    ShotState,
    SourceKind,
    VisitError,
)


@pytest.fixture(scope="module")
def results(tiny_bundle: Path, fundus_dev: Path) -> dict:
    """Real results: a normal photo, an 'abnormal' one (bright patch the tiny model fires on), ungradable ones."""
    from edge_screen.screener import Screener

    screener = Screener(tiny_bundle, backend="onnxruntime")
    photo = cv2.cvtColor(cv2.imread(str(fundus_dev / "images" / "idrid_0001.jpg")), cv2.COLOR_BGR2RGB)
    lesion = photo.copy()
    cv2.circle(lesion, (600, 300), 130, (255, 250, 240), -1)
    house = np.full((480, 640, 3), 128, np.uint8)
    cv2.rectangle(house, (200, 150), (440, 400), (90, 60, 40), -1)
    out = {"normal": screener.screen(photo), "abnormal": screener.screen(lesion), "house": screener.screen(house),
           "dark": screener.screen((photo * 0.12).astype(np.uint8))}
    assert [out[k].verdict for k in ("normal", "abnormal", "house", "dark")] == [
        "normal", "abnormal", "ungradable", "ungradable"]
    return out


def jpeg() -> Capture:
    return Capture(data=b"\xff\xd8 jpeg bytes", ext=".jpg", source=SourceKind.FILE, name="photo.jpg")


def dicom(patient: str, eye: Eye | None) -> Capture:
    return Capture(data=b"DICM", ext=".dcm", source=SourceKind.DICOM, name="x.dcm", identity=Identity(patient, eye))


def accept(session: Session, capture: Capture) -> Accepted:
    got = session.offer(capture)
    assert isinstance(got, Accepted), got
    return got


def save_all(session: Session) -> list:
    """What the controller does: save every saveable shot with the visit's operator at save time."""
    saved = []
    for visit, shot in session.to_save():
        session.mark_saving(shot)
        session.mark_saved(shot, f"rec-{len(saved)}-{shot.id[:4]}", visit.operator)
        saved.append((visit.patient_id, shot.eye, visit.operator, shot))
    return saved


def test_two_patients_from_dicom_never_mix(results) -> None:
    """The 'Why' case: PATIENT-BBB-222's left eye after PATIENT-AAA-111's file was saved as AAA, wrong eye."""
    s = Session(operator="Asha")
    s.select_eye(Eye.OD)
    a = accept(s, dicom("PATIENT-AAA-111", Eye.OD))
    s.set_result(a.shot, results["normal"])
    assert [(p, e) for p, e, _, _ in save_all(s)] == [("PATIENT-AAA-111", Eye.OD)]
    b = accept(s, dicom("PATIENT-BBB-222", Eye.OS))
    assert b.new_visit and b.eye_from_file
    assert s.visits[0].closed and s.visit.patient_id == "PATIENT-BBB-222"
    assert s.visit.patient_source is PatientSource.FILE and s.selected_eye is Eye.OS
    s.set_result(b.shot, results["abnormal"])
    assert [(p, e) for p, e, _, _ in save_all(s)] == [("PATIENT-BBB-222", Eye.OS)]
    assert s.visits[0].summary().finding is Finding.NO_SIGN and s.visit.summary().finding is Finding.REFER


def test_jpeg_after_dicom_asks_and_is_not_saved_under_that_patient(results) -> None:
    s = Session()
    a = accept(s, dicom("PATIENT-AAA-111", Eye.OD))
    s.set_result(a.shot, results["normal"])
    save_all(s)
    q = s.offer(jpeg())
    assert isinstance(q, Question) and q.kind is QuestionKind.SAME_PATIENT and q.visit_patient == "PATIENT-AAA-111"
    assert len(s.visit.shots) == 1                               # nothing placed while asking
    got = s.answer(q, Choice.NEW_PATIENT)
    # a new, unidentified visit: the eye is asked, then the photo waits for a patient ID
    assert isinstance(got, Question) and got.kind is QuestionKind.WHICH_EYE
    placed = s.answer(got, Choice.EYE_OS)
    assert isinstance(placed, Accepted) and placed.new_visit is False and s.visit.patient_id == ""
    s.set_result(placed.shot, results["normal"])
    assert save_all(s) == []
    s.visit.set_typed_patient("PT-0099")
    assert [(p, e) for p, e, _, _ in save_all(s)] == [("PT-0099", Eye.OS)]


def test_jpeg_confirmed_as_same_patient_joins_and_is_not_asked_again(results) -> None:
    s = Session()
    accept(s, dicom("P-1", Eye.OD))
    q = s.offer(jpeg())
    s.select_eye(Eye.OS)
    got = s.answer(q, Choice.SAME_PATIENT)
    assert isinstance(got, Accepted) and got.shot.eye is Eye.OS and s.visit.patient_id == "P-1"
    assert isinstance(s.offer(jpeg()), Accepted)


def test_dicom_conflicting_with_typed_id_asks(results) -> None:
    s = Session()
    s.visit.set_typed_patient("PT-0043")
    s.select_eye(Eye.OD)
    q = s.offer(dicom("PT-9999", Eye.OS))
    assert isinstance(q, Question) and q.kind is QuestionKind.PATIENT_CONFLICT
    assert (q.file_patient, q.visit_patient) == ("PT-9999", "PT-0043")
    assert s.answer(q, Choice.SKIP_PHOTO) is None and s.visit.patient_id == "PT-0043" and not s.visit.shots
    q = s.offer(dicom("PT-9999", Eye.OS))
    got = s.answer(q, Choice.USE_FILE_PATIENT)               # the file's identity wins: a new patient
    assert isinstance(got, Accepted) and got.new_visit and s.visit.patient_id == "PT-9999"
    assert s.visits[0].patient_id == "PT-0043" and not s.visits[0].shots
    with pytest.raises(VisitError):
        s.answer(q, Choice.EYE_OD)                            # not an answer to this question


def test_same_id_in_file_and_field_is_no_conflict(results) -> None:
    s = Session()
    s.visit.set_typed_patient("P-7")
    got = accept(s, dicom("P-7", Eye.OS))
    assert got.shot.eye is Eye.OS and not got.new_visit


def test_file_id_after_photos_without_id_asks_about_them(results) -> None:
    s = Session()
    s.select_eye(Eye.OD)
    first = accept(s, jpeg())
    s.set_result(first.shot, results["normal"])
    q = s.offer(dicom("P-5", Eye.OS))
    assert q.kind is QuestionKind.EARLIER_PHOTOS and q.unsaved == 1
    got = s.answer(q, Choice.SAME_PATIENT)
    s.set_result(got.shot, results["normal"])
    assert sorted((p, e.value) for p, e, _, _ in save_all(s)) == [("P-5", "OD"), ("P-5", "OS")]


def test_ungradable_photos_are_never_saved_as_a_verdict(results) -> None:
    """The 'Why' case: a house photo, a blurred and a dark photo were saved under PT-0043."""
    s = Session()
    s.visit.set_typed_patient("PT-0043")
    s.select_eye(Eye.OD)
    shots = []
    for kind in ("house", "dark"):
        got = accept(s, jpeg())
        s.set_result(got.shot, results[kind])
        shots.append(got.shot)
    assert all(sh.state is ShotState.UNGRADABLE for sh in shots)
    assert save_all(s) == []
    assert s.visit.summary().finding is Finding.RETAKE
    s.visit.keep_ungradable(shots[1])                         # the technician chose to keep the attempt
    saved = save_all(s)
    assert [sh for *_, sh in saved] == [shots[1]] and shots[1].result.verdict == "ungradable"
    ok = accept(s, jpeg())
    s.set_result(ok.shot, results["normal"])
    with pytest.raises(VisitError):
        s.visit.keep_ungradable(ok.shot)


def test_nothing_saved_without_id_unless_confirmed(results) -> None:
    s = Session()
    s.select_eye(Eye.OS)
    got = accept(s, jpeg())
    s.set_result(got.shot, results["normal"])
    assert save_all(s) == []
    q = s.new_patient()
    assert q.kind is QuestionKind.DISCARD_UNSAVED and q.unsaved == 1
    assert s.answer(q, Choice.CANCEL) is None and not s.visit.closed
    s.visit.confirm_no_id()
    assert [(p, e) for p, e, _, _ in save_all(s)] == [("", Eye.OS)]
    with pytest.raises(VisitError):
        s.visit.set_typed_patient("late ID")                  # saved without ID: the visit is locked


def test_new_patient_clears_patient_eye_and_results(results) -> None:
    s = Session(operator="Asha")
    s.visit.set_typed_patient("P-1")
    s.select_eye(Eye.OS)
    got = accept(s, jpeg())
    s.set_result(got.shot, results["abnormal"])
    save_all(s)
    assert s.new_patient() is None
    v = s.visit
    assert (v.patient_id, s.selected_eye, v.latest, v.shots, v.operator) == ("", None, {}, [], "Asha")
    assert v.summary().finding is Finding.NONE
    q = s.offer(jpeg())
    assert q.kind is QuestionKind.WHICH_EYE                   # no eye carried over from the last patient
    with pytest.raises(VisitError):
        s.visits[0].set_typed_patient("P-2")                  # a closed visit takes nothing


def test_typed_patient_locks_once_saved(results) -> None:
    s = Session()
    s.visit.set_typed_patient("P-1")
    s.visit.set_typed_patient("P-12")                         # a typo fixed before anything was saved
    s.select_eye(Eye.OD)
    got = accept(s, jpeg())
    s.set_result(got.shot, results["normal"])
    assert save_all(s)[0][0] == "P-12"
    with pytest.raises(VisitError, match="New patient"):
        s.visit.set_typed_patient("P-13")


def test_operator_recorded_at_save_time_and_corrected_with_a_trail(results) -> None:
    """The 'Why' case: 'Asha' typed before Save showed as 'Operator: -'."""
    s = Session()
    s.visit.set_typed_patient("P-1")
    s.select_eye(Eye.OD)
    got = accept(s, jpeg())
    s.set_result(got.shot, results["normal"])
    assert s.set_operator("Asha") == []                       # typed after screening, before saving
    assert save_all(s)[0][2] == "Asha"
    fixes = s.set_operator("Asha K.")
    assert [(c.field, c.old, c.new) for c in fixes] == [("operator", "Asha", "Asha K.")]
    assert got.shot.saved_operator == "Asha K."
    assert s.visit.corrections == fixes


def test_eye_correction_swaps_and_records_corrections(results) -> None:
    s = Session(operator="Asha")
    s.visit.set_typed_patient("P-1")
    s.select_eye(Eye.OD)
    right = accept(s, jpeg()).shot
    s.set_result(right, results["abnormal"])
    save_all(s)
    fixes = s.visit.correct_eye(Eye.OD)                         # it was the left eye
    assert right.eye is Eye.OS and s.visit.latest == {Eye.OS: right}
    assert [(c.field, c.old, c.new, c.by) for c in fixes] == [("eye", "OD", "OS", "Asha")]
    s.select_eye(Eye.OD)
    other = accept(s, jpeg()).shot
    s.set_result(other, results["normal"])
    save_all(s)
    fixes = s.visit.correct_eye(Eye.OS)                          # swap both
    assert (right.eye, other.eye) == (Eye.OD, Eye.OS) and len(fixes) == 2
    s.new_patient()
    with pytest.raises(VisitError):
        s.visits[0].correct_eye(Eye.OD)                          # closed: no more corrections


def test_summary_is_the_worse_eye_and_pdf_needs_saved_results(results) -> None:
    s = Session()
    s.visit.set_typed_patient("P-1")
    s.select_eye(Eye.OD)
    od = accept(s, jpeg()).shot
    assert s.visit.summary().finding is Finding.SCREENING and not s.visit.report_ready
    s.set_result(od, results["normal"])
    summary = s.visit.summary()
    assert summary.finding is Finding.NO_SIGN and summary.missing == (Eye.OS,)
    assert not s.visit.report_ready                               # not saved yet
    save_all(s)
    assert s.visit.report_ready
    s.select_eye(Eye.OS)
    os_ = accept(s, jpeg()).shot
    s.set_result(os_, results["abnormal"])
    save_all(s)
    summary = s.visit.summary()
    assert summary.finding is Finding.REFER and summary.worst_eyes == (Eye.OS,)
    assert summary.eyes == {Eye.OD: Finding.NO_SIGN, Eye.OS: Finding.REFER}
    # a failed image clears that eye's panel and disables the PDF
    s.fail(CaptureFailure(SourceKind.FILE, "broken.jpg", "damaged_file"))
    assert s.visit.latest[Eye.OS].state is ShotState.FAILED and not s.visit.report_ready
    assert s.visit.summary().finding is Finding.REFER              # a failed file never hides a referral
    assert s.visit.earlier_worse(Eye.OS)
    retake = accept(s, jpeg()).shot
    s.set_result(retake, results["normal"])
    save_all(s)
    assert s.visit.summary().eyes[Eye.OS] is Finding.REFER and s.visit.report_ready   # nor does a retake


def test_eye_without_graded_photo_shows_its_latest_state(results) -> None:
    s = Session()
    s.visit.set_typed_patient("P-1")
    s.select_eye(Eye.OS)
    s.set_result(accept(s, jpeg()).shot, results["house"])
    assert s.visit.summary().eyes == {Eye.OD: Finding.NONE, Eye.OS: Finding.RETAKE}
    s.fail(CaptureFailure(SourceKind.FILE, "broken.jpg", "damaged_file"))
    assert s.visit.summary().eyes[Eye.OS] is Finding.FAILED and not s.visit.earlier_worse(Eye.OS)


def test_failure_without_eye_blocks_pdf_until_next_photo(results) -> None:
    s = Session()
    s.visit.set_typed_patient("P-1")
    s.select_eye(Eye.OD)
    od = accept(s, jpeg()).shot
    s.set_result(od, results["normal"])
    save_all(s)
    s.select_eye(None)
    s.fail(CaptureFailure(SourceKind.WATCH, "x.png", "too_large"))
    assert not s.visit.report_ready and s.visit.summary().finding is Finding.FAILED
    s.select_eye(Eye.OD)
    s.set_result(accept(s, jpeg()).shot, results["normal"])
    save_all(s)
    assert s.visit.report_ready


def test_saves_of_a_closed_visit_go_on_and_failures_are_retried(results) -> None:
    s = Session()
    s.visit.set_typed_patient("P-1")
    s.select_eye(Eye.OD)
    shot = accept(s, jpeg()).shot
    s.new_patient()                                               # pressed while the photo was screening
    visit, found = s.find(shot.id)
    assert found is shot and visit.closed
    s.set_result(shot, results["normal"])
    [(v, sh)] = s.to_save()
    assert v.patient_id == "P-1" and sh is shot
    s.mark_saving(shot)
    assert s.to_save() == []
    s.mark_save_failed(shot, "disk full")
    assert s.save_errors() == [shot] and s.to_save() == [(visit, shot)]


def test_session_model_imports_no_qt() -> None:
    code = ("import sys\n"
            "import edge_screen.gui.session, edge_screen.gui.visit, edge_screen.gui.records\n"
            "print(sorted(m for m in sys.modules if m.startswith('PySide6')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
