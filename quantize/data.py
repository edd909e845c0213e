"""Fundus training data: label files, public-dataset adapters, splits, augmentation, a cached Dataset.

Training sees the pixels deployment sees: every image goes through ``edge_screen.imageio.load_image``
(with ``target_size``, as the screener decodes) and ``edge_screen.preprocess.crop_image`` /
``normalize`` (the one preprocessing implementation). Augmentation then works on the uint8 crop.

Decoding a 1024 px JPEG costs far more than a training step's data work on 2 cores, so decoded crops
are cached in memory (uint8, per input size; ``precache()`` fills the cache with threads before any
DataLoader worker forks, so workers share it copy-on-write) and optionally on disk (``.npy``).

Labels: 0 = normal, 1 = abnormal, -1 = unlabelled (distillation only).

Reading labels (``labels.csv``, folder trees, the public-dataset formats) and splitting them
(stratified, group-aware, k-fold, saved to CSV) are in the second half of this module.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from edge_screen.errors import UsageError
from edge_screen.imageio import load_image
from edge_screen.preprocess import Preprocessing, crop_image, normalize

log = logging.getLogger(__name__)

LABELS = ("normal", "abnormal")
UNLABELLED = -1


@dataclass(frozen=True)
class Sample:
    """One image: absolute ``path``, ``label`` (0 normal, 1 abnormal, -1 unlabelled), extra CSV columns."""

    path: str
    label: int
    meta: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Augment:
    """Fundus-appropriate augmentation of a uint8 RGB crop (geometry + mild photometry, no hue change).

    Geometry: horizontal flip (left eye <-> right eye), optional vertical flip, rotation about the
    centre (the field of view is a disc), mild zoom and shift. Photometry: brightness gain, gamma and
    contrast about the image mean, one lookup table applied to all channels (so hue is kept).
    """

    hflip: float = 0.5
    vflip: float = 0.0
    rotate_deg: float = 25.0
    scale: tuple[float, float] = (0.95, 1.08)
    translate: float = 0.03
    brightness: float = 0.10
    contrast: float = 0.10
    gamma: float = 0.10

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, tuple[float, float, float]]:
        """Draw ``(theta [2,3] float32, (gain, contrast, gamma))``.

        ``theta`` maps output coordinates to input coordinates in the normalised ``[-1, 1]`` frame of
        ``torch.nn.functional.affine_grid`` (align_corners=False), so one draw applies identically to
        crops of any size and to feature-size CAM maps (see :func:`warp_map`).
        """
        a = math.radians(rng.uniform(-self.rotate_deg, self.rotate_deg))
        s = rng.uniform(*self.scale)
        fx = -1.0 if rng.random() < self.hflip else 1.0
        fy = -1.0 if rng.random() < self.vflip else 1.0
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        lin = rot @ np.diag([fx, fy]) / s
        t = rng.uniform(-self.translate, self.translate, size=2) * 2.0
        theta = np.concatenate([lin, t[:, None]], axis=1).astype(np.float32)
        photo = (1.0 + rng.uniform(-self.brightness, self.brightness),
                 1.0 + rng.uniform(-self.contrast, self.contrast),
                 math.exp(rng.uniform(-self.gamma, self.gamma)))
        return theta, photo


IDENTITY_THETA = np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float32)


def apply_augment(crop: np.ndarray, theta: np.ndarray, photo: tuple[float, float, float]) -> np.ndarray:
    """Warp and re-tone one ``(S, S, 3) uint8`` RGB crop; returns a new uint8 array of the same shape."""
    size = crop.shape[0]
    out = crop
    if not np.array_equal(theta, IDENTITY_THETA):
        # pixel (x) -> normalised (p): p = (2x + 1)/S - 1 ; M = N^-1 . theta . N  (dst pixel -> src pixel)
        n = np.array([[2.0 / size, 0, 1.0 / size - 1], [0, 2.0 / size, 1.0 / size - 1], [0, 0, 1]])
        n_inv = np.linalg.inv(n)
        th = np.vstack([theta.astype(np.float64), [0, 0, 1]])
        m = (n_inv @ th @ n)[:2]
        out = cv2.warpAffine(out, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    gain, contrast, gamma = photo
    if (gain, contrast, gamma) != (1.0, 1.0, 1.0):
        lit = out[out.max(axis=2) > 10]
        mean = float(lit.mean()) / 255.0 if lit.size else 0.5
        v = np.arange(256, dtype=np.float64) / 255.0
        v = gain * v ** gamma
        v = (v - mean) * contrast + mean
        lut = np.clip(np.round(v * 255.0), 0, 255).astype(np.uint8)
        out = cv2.LUT(out, lut)
    return np.ascontiguousarray(out)


def warp_map(maps: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Apply the augmentation geometry ``theta [B,2,3]`` to maps ``[B,h,w]`` (bilinear, zeros outside)."""
    grid = torch.nn.functional.affine_grid(theta.to(maps.dtype), [maps.shape[0], 1, *maps.shape[1:]], align_corners=False)
    return torch.nn.functional.grid_sample(maps[:, None], grid, mode="bilinear", padding_mode="zeros",
                                           align_corners=False)[:, 0]


def parse_label(value: object) -> int:
    """``normal``/``0`` -> 0, ``abnormal``/``1`` -> 1, empty -> -1 (unlabelled); else UsageError."""
    text = str(value).strip().lower()
    if text in ("normal", "0"):
        return 0
    if text in ("abnormal", "1"):
        return 1
    if text in ("", "-1", "none", "unlabelled", "unlabeled"):
        return UNLABELLED
    raise UsageError(f"label {value!r} is not valid; use 'normal' or 'abnormal' (or 0/1)")


class FundusDataset(Dataset):
    """Images -> normalised tensors at one or more input sizes (teacher and student see the same crop).

    Args:
        samples: the images (:class:`Sample`).
        preps: one :class:`~edge_screen.preprocess.Preprocessing` per model input (size, mean, std,
            colour order, crop). Each size is decoded and cropped exactly as deployment does.
        augment: :class:`Augment` or ``None`` (evaluation). One random draw per item is applied to
            every size.
        cache: keep decoded uint8 crops in memory.
        cache_dir: also store them as ``.npy`` files here (survives restarts; keyed by path, file
            size, mtime and the crop settings).
        seed: augmentation seed; the draw for item ``i`` in epoch ``e`` depends only on
            ``(seed, e, i)``, so runs are reproducible whatever the worker count.

    ``dataset[i]`` -> ``{"inputs": [float32 (3,S_k,S_k) per prep], "label": int64 (), "index": int64 (),
    "theta": float32 (2,3) (the geometry applied; identity without augmentation)}``.
    """

    def __init__(self, samples: Sequence[Sample], preps: Preprocessing | Sequence[Preprocessing], *,
                 augment: Augment | None = None, cache: bool = True, cache_dir: str | os.PathLike | None = None,
                 seed: int = 0) -> None:
        self.samples = list(samples)
        self.preps = [preps] if isinstance(preps, Preprocessing) else list(preps)
        if not self.preps:
            raise UsageError("FundusDataset needs at least one Preprocessing")
        self.augment = augment
        self.cache = cache
        self.cache_dir = Path(cache_dir) if cache_dir else None
        if self.cache_dir:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.seed = int(seed)
        self.epoch = 0
        self._mem: dict[tuple[int, int], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> np.ndarray:
        """``(N,) int64`` labels (-1 unlabelled)."""
        return np.array([s.label for s in self.samples], dtype=np.int64)

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of ``epoch`` (call before each epoch)."""
        self.epoch = int(epoch)

    def _disk_key(self, path: str, prep: Preprocessing) -> Path:
        st = os.stat(path)
        raw = f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}|{prep.input_size}|{prep.crop}|{prep.fov_margin}"
        return self.cache_dir / (hashlib.sha1(raw.encode()).hexdigest()[:24] + ".npy")  # type: ignore[operator]

    def crop(self, index: int, k: int = 0) -> np.ndarray:
        """Un-augmented ``(S_k, S_k, 3) uint8`` RGB crop of item ``index`` for prep ``k`` (cached)."""
        key = (index, k)
        hit = self._mem.get(key)
        if hit is not None:
            return hit
        prep = self.preps[k]
        path = self.samples[index].path
        disk = self._disk_key(path, prep) if self.cache_dir else None
        if disk is not None and disk.is_file():
            arr = np.load(disk)
        else:
            loaded = load_image(path, target_size=prep.input_size)
            arr, _, _ = crop_image(loaded.rgb, prep)
            arr = np.ascontiguousarray(arr, dtype=np.uint8)
            if disk is not None:
                tmp = disk.with_suffix(f".{os.getpid()}.tmp.npy")
                np.save(tmp, arr)
                os.replace(tmp, disk)
        if self.cache:
            self._mem[key] = arr
        return arr

    def precache(self, *, threads: int = 2, progress: bool = False) -> None:
        """Decode and crop every item at every size now (OpenCV releases the GIL, so threads help)."""
        jobs = [(i, k) for i in range(len(self)) for k in range(len(self.preps)) if (i, k) not in self._mem]
        if not jobs:
            return
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(jobs), desc="decode+crop", unit="img", mininterval=2.0)
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            for _ in pool.map(lambda job: self.crop(*job), jobs):
                if bar is not None:
                    bar.update(1)
        if bar is not None:
            bar.close()

    def draw(self, index: int) -> tuple[np.ndarray, tuple[float, float, float]]:
        """The augmentation ``(theta, photo)`` of item ``index`` in the current epoch."""
        if self.augment is None:
            return IDENTITY_THETA, (1.0, 1.0, 1.0)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return self.augment.sample(rng)

    def __getitem__(self, index: int) -> dict:
        theta, photo = self.draw(index)
        inputs = []
        for k, prep in enumerate(self.preps):
            crop = self.crop(index, k)
            if self.augment is not None:
                crop = apply_augment(crop, theta, photo)
            inputs.append(torch.from_numpy(np.ascontiguousarray(normalize(crop, prep), dtype=np.float32)))
        return {"inputs": inputs, "label": torch.tensor(self.samples[index].label, dtype=torch.int64),
                "index": torch.tensor(index, dtype=torch.int64), "theta": torch.from_numpy(theta.copy())}


# ================================================================================ label files and adapters
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".dcm")
FORMATS = ("auto", "labels", "aptos", "eyepacs", "rfmid", "odir", "idrid")
# ODIR keywords that say nothing about disease: an eye with only these plus "normal fundus" is normal.
_ODIR_BENIGN = {"lens dust", "image offset", "low image quality"}
_ODIR_NOT_FUNDUS = {"no fundus image", "anterior segment image", "optic disk photographically invisible"}


def _read_csv(path: Path) -> list[dict[str, str]]:
    import csv

    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items() if k and k.strip()} for row in csv.DictReader(f)]
    if not rows:
        raise UsageError(f"label file {path} has no rows")
    return rows


def _find_image(image_dir: Path, name: str) -> str:
    direct = image_dir / name
    if direct.suffix.lower() in IMAGE_EXTS and direct.is_file():
        return str(direct)
    for ext in IMAGE_EXTS + tuple(e.upper() for e in IMAGE_EXTS):
        cand = image_dir / f"{name}{ext}"
        if cand.is_file():
            return str(cand)
    raise UsageError(f"image {name!r} not found in {image_dir} (tried extensions {', '.join(IMAGE_EXTS)}); pass --images DIR")


def detect_format(columns: Sequence[str]) -> str:
    """Guess the label-file format from its header (see :data:`FORMATS`)."""
    cols = set(columns)
    if {"file", "label"} <= cols or "file" in cols:
        return "labels"
    if {"id_code", "diagnosis"} <= cols:
        return "aptos"
    if {"image", "level"} <= cols:
        return "eyepacs"
    if {"ID", "Disease_Risk"} <= cols:
        return "rfmid"
    if "Left-Diagnostic Keywords" in cols and "Right-Diagnostic Keywords" in cols:
        return "odir"
    if {"Image name", "Retinopathy grade"} <= cols:
        return "idrid"
    raise UsageError(f"cannot tell the label-file format from its columns {sorted(cols)[:12]}; "
                     f"pass --format one of {', '.join(FORMATS[1:])}")


def _grade(value: str, referable: bool, where: str) -> int:
    try:
        g = int(float(value))
    except ValueError as exc:
        raise UsageError(f"grade {value!r} in {where} is not a number (expected 0-4)") from exc
    return int(g >= (2 if referable else 1))


def _odir_eye(keywords: str) -> int | None:
    words = {w.strip().lower() for w in keywords.replace("\uff0c", ",").split(",") if w.strip()}
    if not words or words & _ODIR_NOT_FUNDUS:
        return None
    return 0 if words - _ODIR_BENIGN == {"normal fundus"} else 1


def read_samples(source: str | os.PathLike, *, format: str = "auto", images: str | os.PathLike | None = None,
                 referable: bool = False) -> list[Sample]:
    """Read labelled (or unlabelled) images from a label file or a folder.

    Args:
        source: ``labels.csv`` (``file,label[,extra...]``; ``file`` relative to the CSV's folder),
            a public-dataset CSV, or a folder: ``normal/`` + ``abnormal/`` sub-folders, or else every
            image under it as unlabelled.
        format: ``auto`` (from the header) or one of ``labels, aptos, eyepacs, rfmid, odir, idrid``.
            APTOS (``id_code,diagnosis``) / EyePACS (``image,level``) / IDRiD (``Image name,
            Retinopathy grade``): grade >= 1 is abnormal, >= 2 with ``referable``. RFMiD:
            ``Disease_Risk``. ODIR ``full_df.csv``: each eye is labelled from its own diagnostic
            keywords (the N..O columns are per patient, so a normal eye of a diseased patient would
            be mislabelled); eyes whose keywords say the photo is not a fundus are skipped; the
            patient ``ID`` goes into ``meta["patient"]`` for group-aware splits.
        images: folder of the images (default: the CSV's folder, or its ``images``/``train_images``).
        referable: grade cut at >= 2 (referable DR) instead of >= 1.
    """
    src = Path(source)
    if src.is_dir():
        return _read_folder(src)
    if not src.is_file():
        raise UsageError(f"data {str(src)!r} is neither a label CSV nor a folder")
    rows = _read_csv(src)
    fmt = detect_format(list(rows[0])) if format == "auto" else format
    if fmt not in FORMATS:
        raise UsageError(f"format {format!r} is not valid; use one of {', '.join(FORMATS)}")
    base = Path(images) if images else src.parent
    if images is None and fmt != "labels":
        for sub in ("images", "train_images", "Images"):
            if (src.parent / sub).is_dir():
                base = src.parent / sub
                break
    out: list[Sample] = []
    for n, row in enumerate(rows, start=2):
        where = f"{src}:{n}"
        if fmt == "labels":
            if not row.get("file"):
                raise UsageError(f"{where}: empty 'file'")
            meta = {k: v for k, v in row.items() if k not in ("file", "label")}
            out.append(Sample(str((base / row["file"]).resolve()), parse_label(row.get("label", "")), meta))
        elif fmt in ("aptos", "eyepacs", "idrid"):
            key, col = {"aptos": ("id_code", "diagnosis"), "eyepacs": ("image", "level"),
                        "idrid": ("Image name", "Retinopathy grade")}[fmt]
            meta = {"grade": row[col], "source_format": fmt}
            if fmt == "eyepacs":
                meta["patient"] = row[key].split("_")[0]
            out.append(Sample(_find_image(base, row[key]), _grade(row[col], referable, where), meta))
        elif fmt == "rfmid":
            out.append(Sample(_find_image(base, row["ID"]), parse_label(row["Disease_Risk"]), {"source_format": fmt}))
        else:
            out.extend(_odir_row(row, base))
    log.info("read %d samples from %s (format %s)", len(out), src, fmt)
    return out


def _odir_row(row: dict[str, str], base: Path) -> list[Sample]:
    eyes = []
    fname = row.get("filename", "")
    if fname:  # full_df.csv: one row per eye, filename like "0_right.jpg"
        side = "Left" if "left" in fname.lower() else "Right"
        eyes.append((fname, side))
    else:  # per-patient sheet: both eyes in one row
        eyes += [(row[f"{s}-Fundus"], s) for s in ("Left", "Right") if row.get(f"{s}-Fundus")]
    out = []
    for name, side in eyes:
        label = _odir_eye(row.get(f"{side}-Diagnostic Keywords", ""))
        if label is None:
            continue
        out.append(Sample(_find_image(base, name), label, {"patient": row.get("ID", ""), "eye": side.lower(),
                                                           "source_format": "odir"}))
    return out


def _read_folder(root: Path) -> list[Sample]:
    def images(d: Path) -> list[Path]:
        return sorted(p for p in d.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file())

    if (root / "normal").is_dir() or (root / "abnormal").is_dir():
        out = [Sample(str(p.resolve()), lab, {}) for lab, name in enumerate(LABELS) if (root / name).is_dir()
               for p in images(root / name)]
    else:
        out = [Sample(str(p.resolve()), UNLABELLED, {}) for p in images(root)]
    if not out:
        raise UsageError(f"no images ({', '.join(IMAGE_EXTS)}) found under {root}")
    return out


# ================================================================================ splits
def stratified_group_folds(labels: Sequence[int], groups: Sequence[str], k: int, *, seed: int = 0) -> np.ndarray:
    """Assign each sample to one of ``k`` folds: groups never straddle folds, class balance kept.

    Each group's stratum is its highest label. Within a stratum, groups are shuffled (``seed``), then
    placed largest first into the fold holding the fewest images of that stratum.

    Returns:
        ``(N,) int64`` fold index in ``0..k-1``.
    """
    if k < 2:
        raise UsageError(f"need at least 2 folds, got {k}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(str(g), []).append(i)
    names = sorted(members)
    rng.shuffle(names)
    fold = np.zeros(len(labels), dtype=np.int64)
    strata: dict[int, list[str]] = {}
    for g in names:
        strata.setdefault(int(labels[members[g]].max()), []).append(g)
    total = np.zeros(k)
    for _, gs in sorted(strata.items()):
        counts = np.zeros(k)
        for g in sorted(gs, key=lambda g: -len(members[g])):  # stable: shuffled order breaks ties
            f = int(np.lexsort((np.arange(k), total, counts))[0])
            fold[members[g]] = f
            counts[f] += len(members[g])
            total[f] += len(members[g])
    return fold


def split_samples(samples: Sequence[Sample], *, val_fraction: float = 0.2, test_fraction: float = 0.0,
                  folds: int | None = None, fold: int = 0, group_col: str | None = None,
                  stratify_col: str | None = None, seed: int = 0) -> list[str]:
    """Name each sample's split: ``"train"``, ``"val"`` or ``"test"``.

    ``test_fraction`` > 0 first holds out ``~1/round(1/test_fraction)`` of the groups as a fixed test
    set (depends only on ``seed``, not on the fold). The rest is split into ``folds`` folds with fold
    ``fold`` as validation, or, without ``folds``, ``~val_fraction`` as validation.
    ``group_col`` (a CSV column, e.g. ``source_repo`` or ``patient``) keeps groups together.
    ``stratify_col`` balances the folds by label *and* that column (e.g. the image source), so every
    fold sees each source in the same proportions.
    """
    if group_col:
        missing = [s.path for s in samples if group_col not in s.meta]
        if missing:
            raise UsageError(f"group column {group_col!r} missing for {len(missing)} samples (e.g. {missing[0]}); "
                             f"available columns: {sorted(samples[0].meta)}")
        groups = [str(s.meta[group_col]) for s in samples]
    else:
        groups = [s.path for s in samples]
    labels = np.array([max(s.label, 0) for s in samples])
    if stratify_col:
        if any(stratify_col not in s.meta for s in samples):
            raise UsageError(f"stratify column {stratify_col!r} is missing; available columns: {sorted(samples[0].meta)}")
        values = sorted({str(s.meta[stratify_col]) for s in samples})
        code = {v: i for i, v in enumerate(values)}
        labels = labels + 2 * np.array([code[str(s.meta[stratify_col])] for s in samples])  # stratum = (value, label)
    split = np.array(["train"] * len(samples), dtype=object)
    rest = np.arange(len(samples))
    if test_fraction > 0:
        k = max(2, round(1 / test_fraction))
        split[stratified_group_folds(labels, groups, k, seed=seed) == 0] = "test"
        rest = np.flatnonzero(split == "train")
    k = folds or max(2, round(1 / val_fraction))
    if not 0 <= fold < k:
        raise UsageError(f"fold {fold} is not valid with {k} folds; use 0..{k - 1}")
    f = stratified_group_folds(labels[rest], [groups[i] for i in rest], k, seed=seed + 1)
    split[rest[f == fold]] = "val"
    return [str(s) for s in split]


def save_split_csv(samples: Sequence[Sample], splits: Sequence[str], path: str | os.PathLike) -> Path:
    """Write ``file,label,split[,extra...]`` (absolute paths) so evaluation can reuse the split."""
    import csv

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = sorted({k for s in samples for k in s.meta} - {"split"})
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["file", "label", "split", *extra])
        for s, sp in zip(samples, splits):
            w.writerow([s.path, LABELS[s.label] if s.label >= 0 else "", sp, *(s.meta.get(k, "") for k in extra)])
    return path


def select_split(samples: Sequence[Sample], split: str | None) -> list[Sample]:
    """Samples whose ``split`` column equals ``split`` (all when ``None``)."""
    if split is None:
        return list(samples)
    if not samples or "split" not in samples[0].meta:
        raise UsageError(f"--split {split!r} needs a CSV with a 'split' column (e.g. the split.csv a training run writes)")
    out = [s for s in samples if s.meta.get("split") == split]
    if not out:
        raise UsageError(f"no samples with split {split!r}; splits present: {sorted({s.meta.get('split') for s in samples})}")
    return out
