"""A tour of every screen of the app, driven through the real controllers with real photos.

Used by the documentation screenshots (``python -m edge_screen.gui.tour OUT_DIR``), by the test that
renders every screen in every language, and by the real-window test under Xvfb. Each step puts the
app in one state a technician meets and waits until screening and saving have settled.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SCREENS = ("start", "results", "details", "retake", "history", "settings")


@dataclass(frozen=True)
class TourPhotos:
    """The photos the tour opens (files a technician would have)."""

    normal: Path
    abnormal: Path
    dark: Path
    damaged: Path
    dicom_other: Path       # a DICOM file of another patient (left eye)


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Process Qt events until ``predicate()`` or ``timeout`` seconds."""
    from PySide6.QtCore import QCoreApplication, QEventLoop

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.005)
    return predicate()


def settle(parts, timeout: float = 30.0) -> None:  # noqa: ANN001
    """Wait for workers (screening, saving, reports) and let layouts update."""
    if not wait_until(lambda: not parts.pool.busy and not parts.visits.busy and not parts.visits.queue, timeout):
        raise TimeoutError("the app did not settle")
    wait_until(lambda: False, 0.15)


def _open(parts, path: Path) -> None:  # noqa: ANN001
    parts.files.open_paths([str(path)])
    wait_until(lambda: parts.pool.busy, 2.0)
    settle(parts)


def run_tour(parts, photos: TourPhotos, visit: Callable[[str], None]) -> None:  # noqa: ANN001
    """Walk every screen, calling ``visit(name)`` in each (e.g. to grab a screenshot or check texts)."""
    from edge_screen.gui.visit import Eye

    w, p = parts.window, parts.window.screen_page
    w.tabs.setCurrentWidget(p)
    settle(parts)
    visit("start")
    w.operator.setText("Asha")
    parts.visits.set_operator("Asha")
    w.patient_id.setText("PT-0043")
    parts.visits.commit_patient()
    parts.visits.select_eye(Eye.OD)
    _open(parts, photos.normal)
    parts.visits.select_eye(Eye.OS)
    _open(parts, photos.abnormal)
    visit("results")
    p.details_toggle.setChecked(True)
    settle(parts)
    visit("details")
    p.details_toggle.setChecked(False)
    parts.visits.new_patient()
    w.patient_id.setText("PT-0044")
    parts.visits.commit_patient()
    parts.visits.select_eye(Eye.OD)
    _open(parts, photos.dark)
    parts.visits.select_eye(Eye.OS)
    _open(parts, photos.damaged)
    parts.files.open_paths([str(photos.dicom_other)])
    wait_until(lambda: parts.visits.question is not None, 30.0)
    settle(parts)
    visit("retake")
    w.tabs.setCurrentWidget(w.history)
    parts.history.refresh()
    if w.history.table.rowCount():
        w.history.table.selectRow(0)
    settle(parts)
    visit("history")
    w.tabs.setCurrentWidget(w.settings)
    settle(parts)
    visit("settings")
    w.tabs.setCurrentWidget(p)


def make_photos(fundus_dev: Path, out: Path) -> TourPhotos:
    """The tour's photos from the dev set (IDRiD), written under ``out``."""
    import cv2
    import numpy as np
    import pydicom  # noqa: F401 - the DICOM file needs the dicom extra
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    out.mkdir(parents=True, exist_ok=True)
    src = sorted((fundus_dev / "images").glob("idrid_*.jpg"))
    normal, abnormal = src[6], src[3]            # graded normal / refer by the default model
    bgr = cv2.imread(str(src[0]))
    dark = out / "dark.jpg"
    cv2.imwrite(str(dark), (bgr * 0.12).astype(np.uint8))
    data = src[0].read_bytes()
    damaged = out / "damaged.jpg"
    damaged.write_bytes(data[: len(data) // 2])
    rgb = cv2.cvtColor(cv2.imread(str(src[1])), cv2.COLOR_BGR2RGB)
    sop = "1.2.840.10008.5.1.4.1.1.77.1.5.1"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.PatientID, ds.Modality, ds.ImageLaterality = (
        sop, meta.MediaStorageSOPInstanceUID, "PT-0051", "OP", "L")
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Rows, ds.Columns = rgb.shape[:2]
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.PixelData = rgb.tobytes()
    dicom = out / "PT-0051.dcm"
    ds.save_as(dicom, enforce_file_format=True)
    return TourPhotos(normal=normal, abnormal=abnormal, dark=dark, damaged=damaged, dicom_other=dicom)


def calibrated_copy(bundle: Path, out: Path) -> Path:
    """A copy of ``bundle`` with a per-clinic calibration block (shared contract 3), for the Settings screen."""
    root = Path(shutil.copytree(bundle, out))
    mpath = root / "manifest.json"
    manifest = json.loads(mpath.read_text())
    manifest["threshold"] = {**manifest["threshold"], "history": [{**manifest["threshold"],
                                                                   "replaced": "2026-11-30T09:00:00Z"}]}
    manifest["calibration"] = {"site": "Kisumu clinic 3", "n_images": 212, "n_normal": 160, "n_abnormal": 52,
                               "created": "2026-11-30T09:00:00Z", "sensitivity": 0.923, "specificity": 0.81,
                               "target_sensitivity": 0.9}
    mpath.write_text(json.dumps(manifest, indent=2))
    return root


def main(argv: list[str] | None = None) -> int:
    """``python -m edge_screen.gui.tour OUT_DIR``: screenshots of every screen (PNG, 256 colours)."""
    import os

    ap = argparse.ArgumentParser(prog="python -m edge_screen.gui.tour", description=main.__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "fundus-dev")
    ap.add_argument("--sizes", default="1280x720,1920x1080")
    ap.add_argument("--languages", default="en")
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from edge_screen.bundle import default_bundle_path
    from edge_screen.gui.app import build
    from edge_screen.gui.settings import AppSettings

    app = QApplication.instance() or QApplication([])
    work = Path(tempfile.mkdtemp(prefix="edge-screen-tour-"))
    photos = make_photos(args.data, work / "photos")
    bundle = calibrated_copy(default_bundle_path(), work / "bundle")
    args.out.mkdir(parents=True, exist_ok=True)
    for lang in args.languages.split(","):
        for size in args.sizes.split(","):
            width, height = (int(v) for v in size.split("x"))
            settings = AppSettings(work / f"s-{lang}-{size}.ini")
            settings.data_dir = str(work / f"data-{lang}-{size}")
            parts = build(settings, bundle=str(bundle), backend="onnxruntime", language=lang)
            parts.window.resize(width, height)
            parts.window.show()
            parts.models.load()
            wait_until(lambda: parts.models.screener is not None or parts.models.error is not None, 60)
            suffix = "" if lang == "en" else f"-{lang}"

            def shot(name: str, parts=parts, size=size, suffix=suffix) -> None:  # noqa: ANN001
                path = args.out / f"{name}-{size}{suffix}.png"
                _save_png(parts.window.grab().toImage(), path)
                print(path)

            run_tour(parts, photos, shot)
            parts.shutdown()
            parts.window.close()
    del app
    return 0


def _save_png(image, path: Path, colours: int = 128) -> None:  # noqa: ANN001 - a QImage
    """Save as a palette PNG: a k-means palette of the screenshot, Floyd-Steinberg dithered by Qt.

    Screenshots in the repository stay small (tens of KB) while photos keep their look.
    """
    import cv2
    import numpy as np
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage

    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w = rgb.height(), rgb.width()
    arr = np.frombuffer(rgb.constBits(), np.uint8).reshape(h, rgb.bytesPerLine())[:, : 3 * w].reshape(h, w, 3)
    sample = arr.reshape(-1, 3)[:: max(1, (h * w) // 40000)].astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    cv2.setRNGSeed(0)
    _, _, centres = cv2.kmeans(sample, colours, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    table = [0xFF000000 | (int(r) << 16) | (int(g) << 8) | int(b) for r, g, b in np.clip(centres, 0, 255)]
    small = rgb.convertToFormat(QImage.Format.Format_Indexed8, table, Qt.ImageConversionFlag.DiffuseDither)
    if not small.save(str(path), "PNG", 9):
        raise OSError(f"could not write {path}")


if __name__ == "__main__":
    sys.exit(main())
