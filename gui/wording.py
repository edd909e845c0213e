"""Words a technician understands, for every state, reason code and question (translated with Qt).

Every user-facing sentence of the app that is not a widget label lives here, written with
``translate(context, text)`` so that ``pyside6-lupdate`` finds it and a
``QTranslator`` (see :mod:`edge_screen.gui.translations`) swaps it. Codes come from the core
(``ScreenResult.quality.reasons``, ``ImageError.reason``) and from the session model; an unknown
code gets a generic sentence, never the code itself or a Python repr.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QCoreApplication

from edge_screen.gui.session import Choice, Question, QuestionKind
from edge_screen.gui.visit import Eye, Finding, Shot, ShotState, Summary, Visit

translate = QCoreApplication.translate   # lupdate finds calls named translate(...)


def eye_name(eye: Eye) -> str:
    """The eye as the eye buttons say it."""
    if eye is Eye.OD:
        return translate("Eye", "Right eye (OD)")
    return translate("Eye", "Left eye (OS)")


# -- image quality (ScreenResult.quality.reasons) -------------------------------------------------
def quality_reason(code: str) -> tuple[str, str]:
    """(reason shown after "Retake the photo:", what to do) for a quality code; unknown -> generic."""
    table = {
        "fov_not_found": (translate("Quality", "no retina found"),
                          translate("Quality", "Centre the eye in the camera and take the photo again.")),
        "fov_too_small": (translate("Quality", "the retina is too small"),
                          translate("Quality", "Bring the camera closer so the retina fills the picture.")),
        "not_fundus": (translate("Quality", "not a photo of the retina"),
                       translate("Quality", "Take a photo of the back of the eye with the fundus camera.")),
        "no_colour": (translate("Quality", "a colour photo is needed"),
                      translate("Quality", "Switch off the red-free or black-and-white mode and take a colour photo.")),
        "too_dark": (translate("Quality", "too dark"),
                     translate("Quality", "Dim the room so the pupil opens, or use more flash, then retake.")),
        "too_bright": (translate("Quality", "too bright"),
                       translate("Quality", "Use less flash and take the photo again.")),
        "low_contrast": (translate("Quality", "washed out"),
                         translate("Quality", "Check the focus and the flash, then take the photo again.")),
        "blurred": (translate("Quality", "blurred"),
                    translate("Quality", "Focus on the retina, hold the camera still and take the photo again.")),
        "hazy": (translate("Quality", "hazy"),
                 translate("Quality", "Clean the camera lens and take the photo again.")),
        "low_resolution": (translate("Quality", "too few pixels"),
                           translate("Quality", "Send the full-size photo from the camera, not a small copy.")),
        "out_of_distribution": (translate("Quality", "unlike the photos the model knows"),
                                translate("Quality", "Take a standard colour photo of the retina with the clinic's camera.")),
        "ungradable": (translate("Quality", "it cannot be graded"),
                       translate("Quality", "Take the photo again.")),
    }
    return table.get(code, table["ungradable"])


def retake_headline(codes: tuple[str, ...] | list[str]) -> str:
    """'Retake the photo: <main reason>' (the first code is the main one)."""
    reason = quality_reason(codes[0] if codes else "ungradable")[0]
    return translate("Result", "Retake the photo: {reason}").format(reason=reason)


# -- files and screening problems (ImageError.reason, app codes) ---------------------------------
def failure_text(reason: str | None) -> tuple[str, str]:
    """(headline, what to do) for a file that could not be used."""
    table = {
        "damaged_file": (translate("Problem", "Damaged file: re-export it"),
                         translate("Problem", "The file is incomplete or corrupt. Export it again from the camera, "
                                      "or copy it again.")),
        "unsupported_format": (translate("Problem", "Not a photo the app can read"),
                               translate("Problem", "Use a JPEG, PNG, TIFF, BMP or DICOM file.")),
        "not_found": (translate("Problem", "File not found"),
                      translate("Problem", "It was moved or deleted. Choose it again.")),
        "too_small": (translate("Problem", "The photo is too small"),
                      translate("Problem", "Use the camera's full-size photo, not a thumbnail.")),
        "too_large": (translate("Problem", "The file is too large to open safely"),
                      translate("Problem", "Export a normal-size photo from the camera.")),
        "unreadable": (translate("Problem", "The file cannot be read"),
                       translate("Problem", "Check the disk or USB stick and try again.")),
        "no_model": (translate("Problem", "No model loaded: photos cannot be screened"),
                     translate("Problem", "Choose a screening model in Settings.")),
        "model_output": (translate("Problem", "The model gave no usable result for this photo"),
                         translate("Problem", "Take the photo again. If every photo does this, ask for the model to be "
                                              "checked (Settings).")),
        "internal": (translate("Problem", "Something went wrong while screening"),
                     translate("Problem", "Try again. If it happens again, restart the app.")),
    }
    return table.get(reason or "", (translate("Problem", "This file could not be used"),
                                    translate("Problem", "Try another photo.")))


def store_problem(reason: str | None) -> str:
    """Why a record could not be saved (StoreError.reason), and the fix."""
    table = {
        "disk_full": translate("Store", "Not saved: the disk is full. Free some space, then press Retry save."),
        "read_only": translate("Store", "Not saved: the records folder cannot be written. Choose another records folder "
                                "in Settings, then press Retry save."),
        "damaged": translate("Store", "Not saved: the records database is damaged. Choose another records folder in "
                              "Settings."),
        "newer_version": translate("Store", "Not saved: these records were made by a newer version of edge-screen. "
                                    "Update edge-screen."),
    }
    return table.get(reason or "", translate("Store", "Not saved: the records folder has a problem. Check it in Settings, "
                                              "then press Retry save."))


# -- results ------------------------------------------------------------------------------------
def verdict_word(verdict: str) -> str:
    """A record's verdict in a table cell."""
    return {"abnormal": translate("Result", "Refer to an eye specialist"),
            "normal": translate("Result", "No referable sign found"),
            "ungradable": translate("Result", "Ungradable: retake")}.get(verdict, translate("Result", "Unknown"))


def shot_headline(shot: Shot | None) -> tuple[str, str]:
    """(kind for the colour and icon, headline) of one eye's panel."""
    if shot is None:
        return "none", translate("Result", "No photo yet")
    if shot.state is ShotState.SCREENING:
        return "none", translate("Result", "Screening...")
    if shot.state is ShotState.FAILED:
        return "error", failure_text(shot.failure.reason if shot.failure else None)[0]
    if shot.state is ShotState.UNGRADABLE:
        return "ungradable", retake_headline(shot.result.quality.reasons)
    return shot.result.verdict, verdict_word(shot.result.verdict)


def shot_advice(shot: Shot | None) -> str:
    """The line under the headline: what to do next."""
    if shot is None:
        return translate("Result", "Choose the eye, then open, capture or drop a photo.")
    if shot.state is ShotState.FAILED:
        return failure_text(shot.failure.reason if shot.failure else None)[1]
    if shot.state is ShotState.UNGRADABLE:
        codes = shot.result.quality.reasons
        return quality_reason(codes[0] if codes else "ungradable")[1]
    if shot.state is ShotState.GRADED and shot.result.verdict == "abnormal":
        return translate("Result", "Signs that need an eye specialist were found in this photo.")
    if shot.state is ShotState.GRADED:
        return translate("Result", "A normal result does not rule out eye disease.")
    return ""


def save_state(shot: Shot | None, visit: Visit) -> str:
    """Whether one eye's photo is saved, and if not, why."""
    if shot is None or shot.state in (ShotState.SCREENING, ShotState.FAILED):
        return ""
    if shot.saved:
        if shot.state is ShotState.UNGRADABLE:
            return translate("Save", "Saved as an ungradable attempt.")
        return translate("Save", "Saved.")
    if shot.state is ShotState.UNGRADABLE and not shot.keep_ungradable:
        return translate("Save", "Not saved: no result for this photo.")
    if shot.save_error is not None:
        return store_problem(getattr(shot.save_error, "reason", None))
    if shot.saving:
        return translate("Save", "Saving...")
    if not visit.identified:
        return translate("Save", "Not saved yet: enter the patient ID and press Enter.")
    return translate("Save", "Saving...")


def summary_text(summary: Summary) -> tuple[str, str, str]:
    """(kind, headline, detail) of the visit banner: the worse of the two eyes."""
    f, eyes = summary.finding, summary.worst_eyes
    both = len(eyes) == 2
    if f is Finding.REFER:
        kind, head = "abnormal", translate("Summary", "Refer to an eye specialist")
        detail = (translate("Summary", "Signs were found in both eyes.") if both else
                  translate("Summary", "Signs were found in the right eye.") if eyes == (Eye.OD,) else
                  translate("Summary", "Signs were found in the left eye."))
    elif f is Finding.RETAKE:
        kind = "ungradable"
        head = (translate("Summary", "Retake the photos of both eyes") if both else
                translate("Summary", "Retake the photo of the right eye") if eyes == (Eye.OD,) else
                translate("Summary", "Retake the photo of the left eye"))
        detail = translate("Summary", "A photo that cannot be graded gets no result.")
    elif f is Finding.FAILED:
        kind, head = "error", translate("Summary", "A file could not be used")
        detail = translate("Summary", "See the message below the eye, then open the photo again.")
    elif f is Finding.SCREENING:
        kind, head, detail = "none", translate("Summary", "Screening..."), ""
    elif f is Finding.NO_SIGN:
        kind, head = "normal", translate("Summary", "No referable sign found")
        detail = (translate("Summary", "The left eye has no photo yet.") if summary.missing == (Eye.OS,) else
                  translate("Summary", "The right eye has no photo yet.") if summary.missing == (Eye.OD,) else
                  translate("Summary", "Both eyes were screened."))
    else:
        kind, head = "none", translate("Summary", "Ready for the next patient")
        detail = translate("Summary", "Enter the patient ID, choose the eye, then open, capture or drop a photo.")
    return kind, head, detail


def patient_line(visit: Visit) -> str:
    """Whose visit the screen shows, for the banner."""
    if visit.no_id:
        return translate("Summary", "Patient: no ID (confirmed)")
    if visit.patient_id:
        return translate("Summary", "Patient: {patient}").format(patient=visit.patient_id)
    return translate("Summary", "Patient: not entered yet")


# -- questions ---------------------------------------------------------------------------------
def question_text(q: Question) -> str:
    """The question, in full."""
    if q.kind is QuestionKind.PATIENT_CONFLICT:
        if not q.visit_patient:
            return translate("Question", "This file belongs to patient {file}, but this visit is saved without a patient "
                                 "ID.").format(file=q.file_patient)
        return translate("Question", "This file belongs to patient {file}, but the patient ID field says "
                             "{typed}.").format(file=q.file_patient, typed=q.visit_patient)
    if q.kind is QuestionKind.EARLIER_PHOTOS:
        return translate("Question", "This file belongs to patient {file}. The photos taken before it have no patient ID. "
                             "Are they the same patient?").format(file=q.file_patient)
    if q.kind is QuestionKind.SAME_PATIENT:
        return translate("Question", "This photo has no patient ID. Is it patient {patient}?").format(patient=q.visit_patient)
    if q.kind is QuestionKind.WHICH_EYE:
        return translate("Question", "Which eye is this photo?")
    return translate("Question", "%n photo(s) of this patient are not saved because there is no patient ID. Enter the ID, "
                         "or choose Save without ID, to keep them.", "", q.unsaved)


def choice_label(q: Question, choice: Choice) -> str:
    """The button text of one answer."""
    if choice is Choice.USE_FILE_PATIENT:
        return translate("Question", "New patient: {patient}").format(patient=q.file_patient)
    if choice is Choice.SAME_PATIENT:
        return translate("Question", "Yes, the same patient")
    if choice is Choice.NEW_PATIENT:
        if q.kind is QuestionKind.EARLIER_PHOTOS:
            return translate("Question", "No: discard them")
        return translate("Question", "No, a new patient")
    if choice is Choice.EYE_OD:
        return eye_name(Eye.OD)
    if choice is Choice.EYE_OS:
        return eye_name(Eye.OS)
    if choice is Choice.SKIP_PHOTO:
        return translate("Question", "Do not use this photo")
    if choice is Choice.DISCARD_AND_NEW:
        return translate("Question", "Discard them and start a new patient")
    return translate("Question", "Cancel")


# -- details and time ---------------------------------------------------------------------------
def local_time(iso_utc: str) -> str:
    """An ISO-8601 UTC time as local time with its zone, e.g. '2026-12-01 14:32 (UTC+05:30)'."""
    try:
        when = datetime.fromisoformat(iso_utc).astimezone()
    except ValueError:
        return iso_utc
    offset = when.strftime("%z")
    zone = f"UTC{offset[:3]}:{offset[3:]}" if offset not in ("", "+0000") else "UTC"
    name = when.tzname() or ""
    label = zone if not name or name == "UTC" or name.startswith(("+", "-")) else f"{name}, {zone}"
    return f"{when:%Y-%m-%d %H:%M} ({label})"


def details_text(shot: Shot | None) -> str:
    """Model, runtime, precision, score and threshold of one photo (the Details toggle)."""
    if shot is None or shot.result is None:
        return ""
    r = shot.result
    name = r.bundle.split(":")[0].replace("@", " ")
    lines = [translate("Details", "Model: {model}").format(model=name),
             translate("Details", "Runtime: {backend} ({precision})").format(backend=r.backend, precision=r.precision)]
    if r.probability is not None:
        lines.append(translate("Details", "Score: {score:.3f} (refer at {threshold:.3f} or more)").format(
            score=r.probability, threshold=r.threshold))
    if r.quality.reasons:
        lines.append(translate("Details", "Quality codes: {codes}").format(codes=", ".join(r.quality.reasons)))
    total = r.timings_ms.get("total")
    if total is not None:
        lines.append(translate("Details", "Time: {ms:.0f} ms").format(ms=total))
    return "\n".join(lines)
