"""User-facing strings, keyed, so the app can be translated without touching the views.

Add a language by adding a dict with the same keys to :data:`CATALOGS`. A key missing in a
translation shows the English text (logged once at WARNING so translators see the gap).
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

EN: dict[str, str] = {
    "app.title": "edge-screen: fundus screening",
    "verdict.abnormal": "Abnormal: refer to an eye specialist",
    "verdict.normal": "No abnormality detected",
    "verdict.ungradable": "Image not gradable: retake",
    "verdict.none": "No result yet",
    "verdict.none.hint": "Open, capture or drop a fundus photo to screen it.",
    "verdict.error": "Could not screen this image",
    "verdict.prob": "Probability of abnormality: {prob:.0%}  (referral threshold {thr:.0%})",
    "verdict.prob.none": "Not graded (referral threshold {thr:.0%})",
    "verdict.model": "Model {bundle} on {backend} ({precision})",
    "model.none": ("No model loaded. Choose a model bundle in Settings > Model bundle, or install the default "
                   "model (edge_screen/models/default). Images can be viewed but not screened."),
    "model.loading": "Loading the model...",
    "model.ready": "Model: {bundle} ({backend})",
    "patient.label": "Patient ID",
    "patient.placeholder": "Type or scan ID",
    "eye.label": "Eye",
    "eye.OD": "Right eye (OD)",
    "eye.OS": "Left eye (OS)",
    "operator.label": "Operator",
    "tab.screen": "Screen",
    "tab.history": "History",
    "tab.settings": "Settings",
    "source.file": "File",
    "source.camera": "Camera",
    "source.watch": "Watch folder",
    "source.dicom": "DICOM",
    "file.open": "Open image...",
    "file.drop": "or drag and drop a photo anywhere on this window",
    "camera.device": "Camera",
    "camera.refresh": "Find cameras",
    "camera.start": "Start preview",
    "camera.stop": "Stop preview",
    "camera.capture": "Capture  (Space)",
    "camera.resolution": "Resolution: {w} x {h} at {fps:.0f} fps",
    "camera.none": "No camera found. Plug in the camera and press Find cameras.",
    "camera.lost": "The camera stopped sending pictures (unplugged?). Check the cable and press Start preview.",
    "watch.folder": "Folder the camera exports to",
    "watch.choose": "Choose folder...",
    "watch.start": "Start watching",
    "watch.stop": "Stop watching",
    "watch.taken": "taken",
    "watch.rejected": "rejected: {reason}",
    "watch.status": "Watching {folder}",
    "dicom.import": "Import DICOM file...",
    "dicom.receiver": "Receive from camera (DICOM C-STORE)",
    "dicom.port": "Port",
    "dicom.listening": "Listening on {host}:{port} (AE title {ae})",
    "dicom.stopped": "Receiver off",
    "dicom.received": "Received an image from {peer}",
    "heatmap.show": "Show heatmap",
    "heatmap.opacity": "Heatmap opacity",
    "image.original": "Original",
    "image.heatmap": "Heatmap (where the model looked)",
    "busy.screening": "Screening...",
    "save.saved": "Saved visit {visit}",
    "save.need_patient": "Enter the patient ID, then press Save visit.",
    "save.button": "Save visit",
    "save.retry": "Retry save",
    "report.button": "PDF report",
    "report.title": "Fundus screening report",
    "report.disclaimer": ("Screening support, not a diagnosis. An eye specialist must confirm any finding. "
                          "A normal result does not rule out eye disease."),
    "history.search": "Search patient ID, date, verdict...",
    "history.export": "Export CSV...",
    "history.report": "PDF report of selected visit...",
    "history.cols": "Time (UTC)|Patient|Eye|Verdict|Probability|Model|Operator",
    "settings.bundle": "Model bundle",
    "settings.backend": "Backend",
    "settings.threads": "Threads",
    "settings.data_dir": "Records folder",
    "settings.apply": "Apply settings",
    "settings.applied": "Settings saved.",
    "error.title": "Problem",
}

CATALOGS: dict[str, dict[str, str]] = {"en": EN}


class Strings:
    """Look up user-facing text by key in one language.

    Args:
        language: a key of :data:`CATALOGS` (e.g. "en"). Unknown languages raise ``UsageError``.
    """

    def __init__(self, language: str = "en") -> None:
        from edge_screen.errors import UsageError

        if language not in CATALOGS:
            raise UsageError(f"Language {language!r} is not available: use one of {', '.join(sorted(CATALOGS))}.")
        self.language = language
        self._catalog = CATALOGS[language]
        self._warned: set[str] = set()

    def __call__(self, key: str, **fmt: object) -> str:
        """The text for ``key``, formatted with ``fmt``. Unknown keys raise KeyError (a programming error)."""
        text = self._catalog.get(key)
        if text is None:
            text = EN[key]
            if key not in self._warned:
                self._warned.add(key)
                log.warning("string %r missing in language %r; showing English", key, self.language)
        return text.format(**fmt) if fmt else text
