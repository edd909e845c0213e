"""Words a technician understands, for every state, reason code and question (translated with Qt).

Every user-facing sentence of the app that is not a widget label lives here, written with
``QCoreApplication.translate(context, text)`` so that ``pyside6-lupdate`` finds it and a
``QTranslator`` (see :mod:`edge_screen.gui.translations`) swaps it. Codes come from the core
(``ScreenResult.quality.reasons``, ``ImageError.reason``) and from the session model; an unknown
code gets a generic sentence, never the code itself or a Python repr.
"""

from __future__ import annotations

import re
from datetime import datetime

from PySide6.QtCore import QCoreApplication

from edge_screen.gui.session import Choice, Question, QuestionKind
from edge_screen.gui.visit import Eye, Finding, Shot, ShotState, Summary, Visit

def eye_name(eye: Eye) -> str:
    """The eye as the eye buttons say it."""
    if eye is Eye.OD:
        return QCoreApplication.translate("Eye", "Right eye (OD)")
    return QCoreApplication.translate("Eye", "Left eye (OS)")


# -- image quality (ScreenResult.quality.reasons) -------------------------------------------------
def quality_reason(code: str) -> tuple[str, str]:
    """(reason shown after "Retake the photo:", what to do) for a quality code; unknown -> generic."""
    t = QCoreApplication.translate
    table = {
        "fov_not_found": (t("Quality", "no retina found in the photo"),
                          t("Quality", "Centre the eye in the camera and take the photo again.")),
        "fov_too_small": (t("Quality", "the retina is too small in the photo"),
                          t("Quality", "Bring the camera closer so the retina fills the picture.")),
        "not_fundus": (t("Quality", "this is not a photo of the retina"),
                       t("Quality", "Take a photo of the back of the eye with the fundus camera.")),
        "no_colour": (t("Quality", "a colour photo is needed"),
                      t("Quality", "Switch off the red-free or black-and-white mode and take a colour photo.")),
        "too_dark": (t("Quality", "the photo is too dark"),
                     t("Quality", "Dim the room so the pupil opens, or use more flash, then retake.")),
        "too_bright": (t("Quality", "the photo is too bright"),
                       t("Quality", "Use less flash and take the photo again.")),
        "low_contrast": (t("Quality", "the photo is washed out"),
                         t("Quality", "Check the focus and the flash, then take the photo again.")),
        "blurred": (t("Quality", "the photo is blurred"),
                    t("Quality", "Focus on the retina, hold the camera still and take the photo again.")),
        "hazy": (t("Quality", "the photo is hazy"),
                 t("Quality", "Clean the camera lens and take the photo again.")),
        "low_resolution": (t("Quality", "the photo is too small"),
                           t("Quality", "Send the full-size photo from the camera, not a small copy.")),
        "out_of_distribution": (t("Quality", "it does not look like the photos the model knows"),
                                t("Quality", "Take a standard colour photo of the retina with the clinic's camera.")),
        "ungradable": (t("Quality", "the photo cannot be graded"),
                       t("Quality", "Take the photo again.")),
    }
    return table.get(code, table["ungradable"])


def retake_headline(codes: tuple[str, ...] | list[str]) -> str:
    """'Retake the photo: <main reason>' (the first code is the main one)."""
    reason = quality_reason(codes[0] if codes else "ungradable")[0]
    return QCoreApplication.translate("Result", "Retake the photo: {reason}").format(reason=reason)


# -- files and screening problems (ImageError.reason, app codes) ---------------------------------
def failure_text(reason: str | None) -> tuple[str, str]:
    """(headline, what to do) for a file that could not be used."""
    t = QCoreApplication.translate
    table = {
        "damaged_file": (t("Problem", "Damaged file: re-export it"),
                         t("Problem", "The file is incomplete or corrupt. Export it again from the camera, "
                                      "or copy it again.")),
        "unsupported_format": (t("Problem", "Not a photo the app can read"),
                               t("Problem", "Use a JPEG, PNG, TIFF, BMP or DICOM file.")),
        "not_found": (t("Problem", "File not found"),
                      t("Problem", "It was moved or deleted. Choose it again.")),
        "too_small": (t("Problem", "The photo is too small"),
                      t("Problem", "Use the camera's full-size photo, not a thumbnail.")),
        "too_large": (t("Problem", "The file is too large to open safely"),
                      t("Problem", "Export a normal-size photo from the camera.")),
        "unreadable": (t("Problem", "The file cannot be read"),
                       t("Problem", "Check the disk or USB stick and try again.")),
        "no_model": (t("Problem", "No model loaded: photos cannot be screened"),
                     t("Problem", "Choose a screening model in Settings.")),
        "internal": (t("Problem", "Something went wrong while screening"),
                     t("Problem", "Try again. If it happens again, restart the app.")),
    }
    return table.get(reason or "", (t("Problem", "This file could not be used"),
                                    t("Problem", "Try another photo.")))


def store_problem(reason: str | None) -> str:
    """Why a record could not be saved (StoreError.reason), and the fix."""
    t = QCoreApplication.translate
    table = {
        "disk_full": t("Store", "Not saved: the disk is full. Free some space, then press Retry save."),
        "read_only": t("Store", "Not saved: the records folder cannot be written. Choose another records folder "
                                "in Settings, then press Retry save."),
        "damaged": t("Store", "Not saved: the records database is damaged. Choose another records folder in "
                              "Settings."),
        "newer_version": t("Store", "Not saved: these records were made by a newer version of edge-screen. "
                                    "Update edge-screen."),
    }
    return table.get(reason or "", t("Store", "Not saved: the records folder has a problem. Check it in Settings, "
                                              "then press Retry save."))


# -- results ------------------------------------------------------------------------------------
def verdict_word(verdict: str) -> str:
    """A record's verdict in a table cell."""
    t = QCoreApplication.translate
    return {"abnormal": t("Result", "Refer to an eye specialist"),
            "normal": t("Result", "No referable sign found"),
            "ungradable": t("Result", "Ungradable: retake")}.get(verdict, t("Result", "Unknown"))


def shot_headline(shot: Shot | None) -> tuple[str, str]:
    """(kind for the colour and icon, headline) of one eye's panel."""
    t = QCoreApplication.translate
    if shot is None:
        return "none", t("Result", "No photo yet")
    if shot.state is ShotState.SCREENING:
        return "none", t("Result", "Screening...")
    if shot.state is ShotState.FAILED:
        return "error", failure_text(shot.failure.reason if shot.failure else None)[0]
    if shot.state is ShotState.UNGRADABLE:
        return "ungradable", retake_headline(shot.result.quality.reasons)
    return shot.result.verdict, verdict_word(shot.result.verdict)


def shot_advice(shot: Shot | None) -> str:
    """The line under the headline: what to do next."""
    t = QCoreApplication.translate
    if shot is None:
        return t("Result", "Choose the eye, then open, capture or drop a photo.")
    if shot.state is ShotState.FAILED:
        return failure_text(shot.failure.reason if shot.failure else None)[1]
    if shot.state is ShotState.UNGRADABLE:
        codes = shot.result.quality.reasons
        return quality_reason(codes[0] if codes else "ungradable")[1]
    if shot.state is ShotState.GRADED and shot.result.verdict == "abnormal":
        return t("Result", "Signs that need an eye specialist were found in this photo.")
    if shot.state is ShotState.GRADED:
        return t("Result", "A normal result does not rule out eye disease.")
    return ""


def save_state(shot: Shot | None, visit: Visit) -> str:
    """Whether one eye's photo is saved, and if not, why."""
    t = QCoreApplication.translate
    if shot is None or shot.state in (ShotState.SCREENING, ShotState.FAILED):
        return ""
    if shot.saved:
        if shot.state is ShotState.UNGRADABLE:
            return t("Save", "Saved as an ungradable attempt.")
        return t("Save", "Saved.")
    if shot.state is ShotState.UNGRADABLE and not shot.keep_ungradable:
        return t("Save", "Not saved: no result for this photo.")
    if shot.save_error is not None:
        return store_problem(getattr(shot.save_error, "reason", None))
    if shot.saving:
        return t("Save", "Saving...")
    if not visit.identified:
        return t("Save", "Not saved yet: enter the patient ID and press Enter.")
    return t("Save", "Saving...")


def summary_text(summary: Summary) -> tuple[str, str, str]:
    """(kind, headline, detail) of the visit banner: the worse of the two eyes."""
    t = QCoreApplication.translate
    f, eyes = summary.finding, summary.worst_eyes
    both = len(eyes) == 2
    if f is Finding.REFER:
        kind, head = "abnormal", t("Summary", "Refer to an eye specialist")
        detail = (t("Summary", "Signs were found in both eyes.") if both else
                  t("Summary", "Signs were found in the right eye.") if eyes == (Eye.OD,) else
                  t("Summary", "Signs were found in the left eye."))
    elif f is Finding.RETAKE:
        kind = "ungradable"
        head = (t("Summary", "Retake the photos of both eyes") if both else
                t("Summary", "Retake the photo of the right eye") if eyes == (Eye.OD,) else
                t("Summary", "Retake the photo of the left eye"))
        detail = t("Summary", "A photo that cannot be graded gets no result.")
    elif f is Finding.FAILED:
        kind, head = "error", t("Summary", "A file could not be used")
        detail = t("Summary", "See the message below the eye, then open the photo again.")
    elif f is Finding.SCREENING:
        kind, head, detail = "none", t("Summary", "Screening..."), ""
    elif f is Finding.NO_SIGN:
        kind, head = "normal", t("Summary", "No referable sign found")
        detail = (t("Summary", "The left eye has no photo yet.") if summary.missing == (Eye.OS,) else
                  t("Summary", "The right eye has no photo yet.") if summary.missing == (Eye.OD,) else
                  t("Summary", "Both eyes were screened."))
    else:
        kind, head = "none", t("Summary", "Ready for the next patient")
        detail = t("Summary", "Enter the patient ID, choose the eye, then open, capture or drop a photo.")
    return kind, head, detail


def patient_line(visit: Visit) -> str:
    """Whose visit the screen shows, for the banner."""
    t = QCoreApplication.translate
    if visit.no_id:
        return t("Summary", "Patient: no ID (confirmed)")
    if visit.patient_id:
        return t("Summary", "Patient: {patient}").format(patient=visit.patient_id)
    return t("Summary", "Patient: not entered yet")


# -- questions ---------------------------------------------------------------------------------
def question_text(q: Question) -> str:
    """The question, in full."""
    t = QCoreApplication.translate
    if q.kind is QuestionKind.PATIENT_CONFLICT:
        if not q.visit_patient:
            return t("Question", "This file belongs to patient {file}, but this visit is saved without a patient "
                                 "ID.").format(file=q.file_patient)
        return t("Question", "This file belongs to patient {file}, but the patient ID field says "
                             "{typed}.").format(file=q.file_patient, typed=q.visit_patient)
    if q.kind is QuestionKind.EARLIER_PHOTOS:
        return t("Question", "This file belongs to patient {file}. The photos taken before it have no patient ID. "
                             "Are they the same patient?").format(file=q.file_patient)
    if q.kind is QuestionKind.SAME_PATIENT:
        return t("Question", "This photo has no patient ID. Is it patient {patient}?").format(patient=q.visit_patient)
    if q.kind is QuestionKind.WHICH_EYE:
        return t("Question", "Which eye is this photo?")
    return t("Question", "%n photo(s) of this patient are not saved because there is no patient ID. Enter the ID, "
                         "or choose Save without ID, to keep them.", "", q.unsaved)


def choice_label(q: Question, choice: Choice) -> str:
    """The button text of one answer."""
    t = QCoreApplication.translate
    if choice is Choice.USE_FILE_PATIENT:
        return t("Question", "New patient: {patient}").format(patient=q.file_patient)
    if choice is Choice.SAME_PATIENT:
        return t("Question", "Yes, the same patient")
    if choice is Choice.NEW_PATIENT:
        if q.kind is QuestionKind.EARLIER_PHOTOS:
            return t("Question", "No: discard them")
        return t("Question", "No, a new patient")
    if choice is Choice.EYE_OD:
        return eye_name(Eye.OD)
    if choice is Choice.EYE_OS:
        return eye_name(Eye.OS)
    if choice is Choice.SKIP_PHOTO:
        return t("Question", "Do not use this photo")
    if choice is Choice.DISCARD_AND_NEW:
        return t("Question", "Discard them and start a new patient")
    return t("Question", "Cancel")


# -- details and time ---------------------------------------------------------------------------
_REPR = re.compile(r"""\bb(['"]).*?(?<!\\)\1|\\x[0-9a-fA-F]{2}""")


def plain(text: str) -> str:
    """Technical text without Python byte reprs or escapes (for the Details view and the log)."""
    return " ".join(_REPR.sub("...", str(text)).split())


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
    t = QCoreApplication.translate
    if shot is None or shot.result is None:
        return ""
    r = shot.result
    name = r.bundle.split(":")[0].replace("@", " ")
    lines = [t("Details", "Model: {model}").format(model=name),
             t("Details", "Runtime: {backend} ({precision})").format(backend=r.backend, precision=r.precision)]
    if r.probability is not None:
        lines.append(t("Details", "Score: {score:.3f} (refer at {threshold:.3f} or more)").format(
            score=r.probability, threshold=r.threshold))
    if r.quality.reasons:
        lines.append(t("Details", "Quality codes: {codes}").format(codes=", ".join(r.quality.reasons)))
    total = r.timings_ms.get("total")
    if total is not None:
        lines.append(t("Details", "Time: {ms:.0f} ms").format(ms=total))
    return "\n".join(lines)
