"""The technician's workflow in the real window (pytest-qt, offscreen), with real photos, DICOM files
written by pydicom and the real SQLite record store. Each 'Why' case of issue 14 is reproduced here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402

from edge_screen.gui.session import Choice  # noqa: E402
from edge_screen.gui.visit import Eye  # noqa: E402

pytestmark = pytest.mark.gui


def open_photo(parts, qtbot, path: Path, *, until: str = "screened"):
    """Open a file as the Open... button does and wait for its outcome (screened | failed | asked | saved)."""
    signal = getattr(parts.visits, until)
    with qtbot.waitSignal(signal, timeout=30000) as got:
        parts.files.open_paths([str(path)])
    return got.args[0]


def type_patient(parts, qtbot, text: str) -> None:
    w = parts.window
    w.patient_id.setFocus()
    w.patient_id.clear()
    qtbot.keyClicks(w.patient_id, text)
    qtbot.keyClick(w.patient_id, Qt.Key.Key_Return)


def press(parts, qtbot, choice: Choice | str) -> None:
    key = choice.value if isinstance(choice, Choice) else choice
    button = parts.window.screen_page.notice.buttons[key]
    assert button.isVisible()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def records(parts):
    return list(reversed(parts.history.store.search()))     # oldest first (the store lists newest first)


def wait_saved(parts, qtbot, n: int) -> None:
    qtbot.waitUntil(lambda: parts.history.store.count() == n and not parts.pool.busy, timeout=20000)


def panel(parts, eye: Eye):
    return parts.window.screen_page.eyes[eye]


# ------------------------------------------------------------------------------------- patients
def test_two_patients_from_dicom_are_never_mixed(make_app, qtbot, screen_bundle, photos, make_dicom):
    """'Why' 1: PATIENT-BBB-222's left eye, opened after PATIENT-AAA-111's, was saved as AAA with the wrong eye."""
    parts = make_app(screen_bundle)
    w = parts.window
    a = make_dicom(photos["normal"], "PATIENT-AAA-111", "R")
    b = make_dicom(photos["abnormal"], "PATIENT-BBB-222", "L")
    open_photo(parts, qtbot, a)
    wait_saved(parts, qtbot, 1)
    assert w.patient_id.text() == "PATIENT-AAA-111" and w.patient_id.isReadOnly()
    assert w.eye_buttons[Eye.OD].isChecked()
    open_photo(parts, qtbot, b)
    wait_saved(parts, qtbot, 2)
    recs = records(parts)
    assert [(r.patient_id, r.eye, r.verdict) for r in recs] == [("PATIENT-AAA-111", "OD", "normal"),
                                                                 ("PATIENT-BBB-222", "OS", "abnormal")]
    assert recs[0].session_id != recs[1].session_id                  # two visits
    assert w.patient_id.text() == "PATIENT-BBB-222" and w.eye_buttons[Eye.OS].isChecked()
    assert "PATIENT-BBB-222" in w.screen_page.notice.text.text()          # said where the eye is
    assert not panel(parts, Eye.OD).image.has_image                  # AAA's photo is gone from the screen
    assert w.screen_page.summary.kind == "abnormal"


def test_jpeg_after_dicom_asks_and_is_not_saved_under_that_patient(make_app, qtbot, screen_bundle, photos,
                                                                   make_dicom):
    """'Why' 1: a JPEG opened after a DICOM was saved under the DICOM's patient."""
    parts = make_app(screen_bundle)
    w = parts.window
    open_photo(parts, qtbot, make_dicom(photos["normal"], "PATIENT-AAA-111", "R"))
    wait_saved(parts, qtbot, 1)
    question = open_photo(parts, qtbot, photos["normal2"], until="asked")
    assert "PATIENT-AAA-111" in w.screen_page.notice.text.text() and "no patient ID" in w.screen_page.notice.text.text()
    assert parts.history.store.count() == 1
    press(parts, qtbot, Choice.NEW_PATIENT)
    assert parts.visits.question is not None and "Which eye" in w.screen_page.notice.text.text()
    with qtbot.waitSignal(parts.visits.screened, timeout=30000):
        press(parts, qtbot, Choice.EYE_OS)
    assert w.patient_id.text() == "" and not w.patient_id.isReadOnly()
    assert parts.history.store.count() == 1                          # waits for a patient ID
    assert "patient ID" in panel(parts, Eye.OS).save_line.text()
    type_patient(parts, qtbot, "PT-0044")
    wait_saved(parts, qtbot, 2)
    assert [(r.patient_id, r.eye) for r in records(parts)] == [("PATIENT-AAA-111", "OD"), ("PT-0044", "OS")]
    assert question is not None


def test_dicom_conflicting_with_typed_id_asks_the_technician(make_app, qtbot, screen_bundle, photos, make_dicom):
    parts = make_app(screen_bundle)
    w = parts.window
    type_patient(parts, qtbot, "PT-0043")
    dcm = make_dicom(photos["normal"], "PT-9999", "L")
    open_photo(parts, qtbot, dcm, until="asked")
    text = w.screen_page.notice.text.text()
    assert "PT-9999" in text and "PT-0043" in text
    press(parts, qtbot, Choice.SKIP_PHOTO)
    assert parts.history.store.count() == 0 and w.patient_id.text() == "PT-0043"
    open_photo(parts, qtbot, dcm, until="asked")
    with qtbot.waitSignal(parts.visits.saved, timeout=30000) as saved:
        press(parts, qtbot, Choice.USE_FILE_PATIENT)
    assert (saved.args[0].patient_id, saved.args[0].eye) == ("PT-9999", "OS")
    assert w.patient_id.text() == "PT-9999"


def test_ungradable_photos_are_not_saved_under_the_patient(make_app, qtbot, screen_bundle, photos):
    """'Why' 1: a house photo and a dark photo were saved under PT-0043 (issue 13: no verdict, retake)."""
    parts = make_app(screen_bundle)
    type_patient(parts, qtbot, "PT-0043")
    parts.visits.select_eye(Eye.OD)
    for name, reason in (("house", "retina"), ("dark", "too dark")):
        shot = open_photo(parts, qtbot, photos[name])
        assert shot.result.verdict == "ungradable"
        head = panel(parts, Eye.OD).verdict.headline.text()
        assert head.startswith("Retake the photo: ") and reason in head
        assert parts.window.screen_page.summary.kind == "ungradable"
        assert "Not saved" in panel(parts, Eye.OD).save_line.text()
    qtbot.wait(200)
    assert parts.history.store.count() == 0
    assert not parts.window.screen_page.report_button.isEnabled()
    # the technician may keep the attempt, as "ungradable" only
    with qtbot.waitSignal(parts.visits.saved, timeout=20000) as saved:
        panel(parts, Eye.OD).keep.click()
    assert saved.args[0].verdict == "ungradable" and saved.args[0].probability is None
    assert saved.args[0].quality_reasons.startswith("too_dark")


def test_nothing_saved_without_id_unless_confirmed(make_app, qtbot, screen_bundle, photos):
    parts = make_app(screen_bundle)
    p = parts.window.screen_page
    parts.visits.select_eye(Eye.OS)
    open_photo(parts, qtbot, photos["normal"])
    qtbot.wait(200)
    assert parts.history.store.count() == 0 and p.no_id_button.isVisible()
    # New patient would lose it: asked first
    parts.window.new_patient.click()
    assert Choice.DISCARD_AND_NEW.value in p.notice.buttons
    press(parts, qtbot, Choice.CANCEL)
    p.no_id_button.click()
    with qtbot.waitSignal(parts.visits.saved, timeout=20000) as saved:
        press(parts, qtbot, "confirm_no_id")
    assert saved.args[0].no_id is True and saved.args[0].patient_id == ""
    assert "no ID" in p.patient_line.text()


def test_new_patient_clears_patient_eye_and_results(make_app, qtbot, screen_bundle, photos):
    parts = make_app(screen_bundle)
    w = parts.window
    type_patient(parts, qtbot, "PT-1")
    parts.visits.select_eye(Eye.OD)
    open_photo(parts, qtbot, photos["abnormal"])
    wait_saved(parts, qtbot, 1)
    assert w.screen_page.report_button.isEnabled()
    w.new_patient.click()
    assert w.patient_id.text() == "" and not w.patient_id.isReadOnly()
    assert not any(b.isChecked() for b in w.eye_buttons.values())
    assert w.screen_page.summary.kind == "none" and not w.screen_page.report_button.isEnabled()
    assert all(not panel(parts, e).image.has_image for e in Eye)
    assert panel(parts, Eye.OD).verdict.headline.text() == "No photo yet"


# ------------------------------------------------------------------------------- corrections
def test_operator_taken_at_save_time_and_corrections_are_recorded(make_app, qtbot, screen_bundle, photos):
    """'Why' 2: 'Asha', typed before Save, showed as 'Operator: -'."""
    parts = make_app(screen_bundle)
    w = parts.window
    parts.visits.select_eye(Eye.OD)
    open_photo(parts, qtbot, photos["normal"])                    # screened before anything is typed
    w.operator.setFocus()
    qtbot.keyClicks(w.operator, "Asha")
    type_patient(parts, qtbot, "PT-7")                            # leaving the operator field commits it
    wait_saved(parts, qtbot, 1)
    rec = records(parts)[0]
    assert rec.operator == "Asha" and parts.settings.operator == "Asha"
    # the eye was wrong: correct it, with a trail
    with qtbot.waitSignal(parts.visits.corrected, timeout=10000):
        panel(parts, Eye.OD).move_eye.click()
    store = parts.history.store
    assert store.get(rec.visit_id).eye == "OS"
    assert panel(parts, Eye.OS).image.has_image and not panel(parts, Eye.OD).image.has_image
    # and the operator
    w.operator.clear()
    qtbot.keyClicks(w.operator, "Asha K.")
    with qtbot.waitSignal(parts.visits.corrected, timeout=10000):
        qtbot.keyClick(w.operator, Qt.Key.Key_Return)
    assert store.get(rec.visit_id).operator == "Asha K."
    trail = [(c.field, c.old, c.new, c.by) for c in store.corrections(rec.visit_id)]
    assert trail == [("eye", "OD", "OS", "Asha"), ("operator", "Asha", "Asha K.", "Asha K.")]
    # after the visit is closed nothing can be corrected
    w.new_patient.click()
    assert not panel(parts, Eye.OS).move_eye.isVisible()


# ---------------------------------------------------------------------------- results, PDF
def test_failed_image_clears_the_panel_and_disables_pdf(make_app, qtbot, screen_bundle, photos):
    """'Why' 3: after a failed image the screen kept the previous photo, its saved line and an enabled PDF."""
    parts = make_app(screen_bundle)
    p = parts.window.screen_page
    type_patient(parts, qtbot, "PT-2")
    parts.visits.select_eye(Eye.OD)
    open_photo(parts, qtbot, photos["normal"])
    wait_saved(parts, qtbot, 1)
    assert p.report_button.isEnabled() and panel(parts, Eye.OD).image.has_image
    shot = open_photo(parts, qtbot, photos["damaged"], until="failed")
    assert shot.failure.reason == "damaged_file"
    od = panel(parts, Eye.OD)
    assert od.verdict.headline.text() == "Damaged file: re-export it"
    assert not od.image.has_image and od.save_line.text() == ""
    assert not p.report_button.isEnabled()
    for label in (od.verdict.headline, od.verdict.detail, p.summary.detail):
        assert not re.search(r"b'|\\x[0-9a-f]{2}|Error\(|Traceback", label.text())


def test_both_eyes_side_by_side_summary_is_the_worse_and_pdf_in_records_folder(make_app, qtbot, screen_bundle,
                                                                               photos, tmp_path):
    parts = make_app(screen_bundle)
    w, p = parts.window, parts.window.screen_page
    type_patient(parts, qtbot, "PT 0043/A")
    parts.visits.select_eye(Eye.OD)
    open_photo(parts, qtbot, photos["normal"])
    assert p.summary.kind == "normal" and "left eye has no photo" in p.summary.detail.text()
    parts.visits.select_eye(Eye.OS)
    open_photo(parts, qtbot, photos["abnormal"])
    wait_saved(parts, qtbot, 2)
    assert panel(parts, Eye.OD).verdict.kind == "normal" and panel(parts, Eye.OS).verdict.kind == "abnormal"
    assert p.summary.kind == "abnormal" and p.summary.headline.text() == "Refer to an eye specialist"
    assert "left eye" in p.summary.detail.text()
    # heatmap: on shows the overlay, off the photo; the legend goes with it
    od = panel(parts, Eye.OS)
    on = od.image.pixmap().toImage()
    assert od.legend.isVisible()
    p.heatmap_toggle.setChecked(False)
    assert od.image.pixmap().toImage() != on and not od.legend.isVisible()
    p.heatmap_toggle.setChecked(True)
    # technical details only under Details
    assert not od.details.isVisible()
    p.details_toggle.setChecked(True)
    assert od.details.isVisible() and "Score" in od.details.text() and "onnxruntime" in od.details.text()
    with qtbot.waitSignal(parts.history.report_written, timeout=30000) as done:
        p.report_button.click()
    pdf = Path(done.args[0])
    assert pdf.parent == Path(parts.settings.data_dir) / "reports"
    assert re.fullmatch(r"PT-0043-A_OD-OS_\d{4}-\d{2}-\d{2}\.pdf", pdf.name), pdf.name
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and len(re.findall(rb"/Type\s*/Page\b", data)) == 1
    assert len(re.findall(rb"/Subtype\s*/Image", data)) >= 4           # two photos, two heatmaps
    assert str(pdf) in p.notice.text.text()                             # confirmed where the eye is


def test_no_model_still_opens_and_says_so(make_app, qtbot, tmp_path, photos):
    parts = make_app(tmp_path / "no-such-bundle")
    w = parts.window
    assert parts.models.screener is None and w.model_status.text() == "No model"
    parts.visits.select_eye(Eye.OD)
    shot = open_photo(parts, qtbot, photos["normal"], until="failed")
    assert shot.failure.reason == "no_model"
    assert panel(parts, Eye.OD).verdict.headline.text() == "No model loaded: photos cannot be screened"
    assert "Settings" in panel(parts, Eye.OD).verdict.detail.text()


def test_window_shows_before_the_model_is_loaded(make_app, qtbot, screen_bundle, photos):
    parts = make_app(screen_bundle, wait_model=False)
    worker = parts.models.load()
    assert parts.window.isVisible() and parts.models.loading
    assert parts.window.model_status.text() == "Loading the model..."
    parts.visits.select_eye(Eye.OD)
    with qtbot.waitSignal(parts.visits.screened, timeout=30000):   # a photo opened meanwhile waits, then runs
        parts.files.open_paths([str(photos["normal"])])
    assert worker is not None and parts.models.screener is not None


@pytest.fixture()
def nan_bundle(tiny_bundle_factory, tmp_path):
    """A real bundle whose ONNX model answers NaN probabilities (a broken export or runtime)."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    from edge_screen.bundle import BundleWriter, load_bundle
    from edge_screen.preprocess import Preprocessing

    src = load_bundle(tiny_bundle_factory(openvino=False))
    model = onnx.load(str(src.path(src.model("onnxruntime").files["model"])))
    graph = model.graph
    for node in graph.node:
        node.output[:] = ["probabilities_ok" if o == "probabilities" else o for o in node.output]
    graph.initializer.append(numpy_helper.from_array(np.array([np.nan], np.float32), "nan"))
    graph.node.append(helper.make_node("Mul", ["probabilities_ok", "nan"], ["probabilities"]))
    path = tmp_path / "nan.onnx"
    onnx.save(model, str(path))
    w = BundleWriter(tmp_path / "nan-bundle", name="nan", version="0.0.1",
                     preprocessing=Preprocessing(input_size=src.preprocessing.input_size))
    w.add_model("onnxruntime", "fp32", {"model": path})
    w.set_threshold(0.5, "fixed for tests")
    return w.write()


def test_a_nan_from_the_model_is_never_a_verdict(make_app, qtbot, nan_bundle, photos):
    """Issue 13: a NaN probability read as "normal" (NaN >= threshold is false); now it is a failure."""
    parts = make_app(nan_bundle)
    type_patient(parts, qtbot, "PT-NAN")
    parts.visits.select_eye(Eye.OD)
    shot = open_photo(parts, qtbot, photos["normal"], until="failed")
    # the self-check runs the model when the bundle loads, so the NaN is found there ("no_model");
    # a model that turns NaN later fails per photo ("model_output"): never a verdict either way
    assert shot.failure.reason in ("no_model", "model_output") and shot.result is None
    headline = {"no_model": "No model loaded: photos cannot be screened",
                "model_output": "The model gave no usable result for this photo"}[shot.failure.reason]
    assert panel(parts, Eye.OD).verdict.headline.text() == headline
    qtbot.wait(200)
    assert parts.history.store.count() == 0 and not parts.window.screen_page.report_button.isEnabled()
