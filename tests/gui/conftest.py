"""GUI test fixtures. Qt runs offscreen: the platform is set here, before anything imports Qt."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture()
def screen_bundle(tiny_bundle: Path) -> Path:
    """A real small model bundle (the core's ``tiny_bundle`` fixture)."""
    return Path(tiny_bundle)


@pytest.fixture()
def idrid_image(fundus_dev: Path) -> Path:
    """One real 1024x680 fundus photo (IDRiD)."""
    paths = sorted((fundus_dev / "images").glob("idrid_*.jpg"))
    if not paths:
        pytest.skip("no idrid_*.jpg in the dev set")
    return paths[0]


@pytest.fixture()
def photos(fundus_dev: Path, tmp_path: Path) -> dict[str, Path]:
    """Real photos for the workflow tests, as files a technician would open.

    ``normal``/``normal2``: IDRiD photos (the tiny model grades them normal); ``abnormal``: an IDRiD
    photo with a large bright patch, which the tiny model's bright-pixel channel refers; ``house``:
    a non-fundus picture; ``dark``: an IDRiD photo at 12 % exposure; ``damaged``: an IDRiD JPEG cut
    in half (no end marker).
    """
    src = sorted((fundus_dev / "images").glob("idrid_*.jpg"))[:3]
    if len(src) < 3:
        pytest.skip("not enough idrid_*.jpg in the dev set")
    bgr = cv2.imread(str(src[0]))
    lesion = bgr.copy()
    cv2.circle(lesion, (600, 300), 130, (240, 250, 255), -1)
    house = np.full((480, 640, 3), 200, np.uint8)
    cv2.rectangle(house, (200, 180), (440, 420), (40, 60, 120), -1)
    cv2.fillPoly(house, [np.array([[180, 180], [320, 60], [460, 180]])], (30, 30, 90))
    out = {"normal": src[1], "normal2": src[2]}
    for name, img in (("abnormal", lesion), ("house", house), ("dark", (bgr * 0.12).astype(np.uint8))):
        path = tmp_path / f"{name}.jpg"
        cv2.imwrite(str(path), img)
        out[name] = path
    data = src[0].read_bytes()
    (tmp_path / "damaged.jpg").write_bytes(data[: len(data) // 2])
    out["damaged"] = tmp_path / "damaged.jpg"
    return out


def dicom_dataset(image_path: Path, patient: str, side: str | None, *,
                  sop: str = "1.2.840.10008.5.1.4.1.1.77.1.5.1"):
    """A real DICOM dataset (pydicom) holding a photo: Ophthalmic Photography 8 Bit by default."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    rgb = cv2.cvtColor(cv2.imread(str(image_path)), cv2.COLOR_BGR2RGB)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop, meta.MediaStorageSOPInstanceUID
    ds.PatientID, ds.PatientName, ds.Modality = patient, "Test^Patient", "OP"
    if side:
        ds.ImageLaterality = side
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Rows, ds.Columns = rgb.shape[:2]
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    ds.PixelData = rgb.tobytes()
    return ds


@pytest.fixture()
def dicom_ds():
    """The :func:`dicom_dataset` factory, for tests that send datasets over the network."""
    return dicom_dataset


@pytest.fixture()
def make_dicom(tmp_path: Path):
    """``(image, patient, side, name) -> Path`` of a DICOM file written with pydicom."""
    def make(image: Path, patient: str, side: str | None, name: str | None = None) -> Path:
        path = tmp_path / (name or f"{patient}-{side}.dcm")
        dicom_dataset(image, patient, side).save_as(path, enforce_file_format=True)
        return path

    return make


@pytest.fixture()
def app_settings(tmp_path: Path):
    """AppSettings in a temporary INI file, with the records folder under tmp_path."""
    pytest.importorskip("PySide6")
    from edge_screen.gui.settings import AppSettings

    s = AppSettings(tmp_path / "settings.ini")
    s.data_dir = str(tmp_path / "data")
    return s


@pytest.fixture()
def make_app(qtbot, app_settings):
    """``(bundle, *, wait_model=True, language="en") -> App`` built like the real app, model on ONNX Runtime."""
    from edge_screen.gui.app import build

    made = []

    def make(bundle, *, wait_model: bool = True, language: str = "en", size=(1280, 720)):  # noqa: ANN001
        parts = build(app_settings, bundle="" if bundle is None else str(bundle), backend="onnxruntime",
                      language=language)
        made.append(parts)
        qtbot.addWidget(parts.window)
        parts.window.resize(*size)
        parts.window.show()
        if wait_model:
            with qtbot.waitSignal(parts.models.model_changed, timeout=30000):
                parts.models.load()
        return parts

    yield make
    for parts in made:
        parts.shutdown()


def _disc_image(h: int = 480, w: int = 640, seed: int = 0) -> np.ndarray:
    """(h, w, 3) uint8 RGB: an orange disc on black, enough to exercise image paths (not a screening input)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    disc = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (0.45 * h) ** 2
    img = np.zeros((h, w, 3), np.uint8)
    img[disc] = (200, 90, 40)
    img = np.clip(img.astype(np.int16) + rng.integers(-10, 10, img.shape), 0, 255).astype(np.uint8)
    img[~disc] = 0
    return img


@pytest.fixture()
def disc_image():
    """Factory ``(h=480, w=640, seed=0) -> (h, w, 3) uint8 RGB`` orange disc on black."""
    return _disc_image
