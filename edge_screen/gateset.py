"""The gate's test set, generated (never hand-picked): non-fundus inputs and degraded photos.

Used by the tests, by ``edge-screen train-gate`` (its report) and by the exporter's gate report
(``reports/gate.json`` in a bundle). Everything is drawn from seeds or read from files that ship
inside installed packages, so the same call gives the same cases on every machine:

* **natural photos** shipped with scikit-image (``skimage/data``), matplotlib (``mpl-data/sample_data``)
  and scikit-learn (``datasets/images``), each plain and inside a round black mask;
* **synthetic** faces, documents, and textured orange discs on black (a fundus's colour and shape
  with no retina in it), plain and in a black circle;
* **colourless copies** of real fundus photos (greyscale, red-free);
* **thumbnails** (97 x 64) of real photos;
* **each degradation** of :mod:`edge_screen.degrade` at each of its levels.

Run ``python -m edge_screen.gateset --photos labels.csv --out DIR`` to write the cases as PNGs with
an ``index.csv``, or ``--contact-sheet`` to draw the sheets of ``docs/gate/``.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_screen.degrade import KINDS, degrade, thumbnail
from edge_screen.errors import UsageError
from edge_screen.preprocess import Preprocessing

#: Groups of cases; the gate's targets are stated per group.
GROUPS = ("real", "degraded", "non_fundus", "no_colour", "thumbnail")
#: Reasons that count as right for an input that is not a fundus photograph.
NOT_FUNDUS_REASONS = ("not_fundus", "fov_not_found", "fov_too_small", "out_of_distribution", "no_colour",
                      "ungradable")

# (package, path inside it) of every natural photo used. skimage's retina.jpg and
# microaneurysms.png are fundus images and are deliberately absent.
_PACKAGE_PHOTOS = (
    ("skimage", "data/astronaut.png"), ("skimage", "data/brick.png"), ("skimage", "data/camera.png"),
    ("skimage", "data/cell.png"), ("skimage", "data/chelsea.png"), ("skimage", "data/chessboard_RGB.png"),
    ("skimage", "data/clock_motion.png"), ("skimage", "data/coffee.png"), ("skimage", "data/coins.png"),
    ("skimage", "data/color.png"), ("skimage", "data/grass.png"), ("skimage", "data/gravel.png"),
    ("skimage", "data/horse.png"), ("skimage", "data/hubble_deep_field.jpg"), ("skimage", "data/ihc.png"),
    ("skimage", "data/logo.png"), ("skimage", "data/moon.png"), ("skimage", "data/motorcycle_left.png"),
    ("skimage", "data/page.png"), ("skimage", "data/phantom.png"), ("skimage", "data/rocket.jpg"),
    ("skimage", "data/text.png"),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    ("matplotlib", "mpl-data/sample_data/Minduka_Present_Blue_Pack.png"),
    ("matplotlib", "mpl-data/sample_data/logo2.png"),
    ("sklearn", "datasets/images/china.jpg"), ("sklearn", "datasets/images/flower.jpg"),
)


@dataclass(frozen=True)
class GateCase:
    """One input for the gate.

    Attributes:
        name: unique id, e.g. ``"defocus/0.01/idrid_0001"``.
        group: one of :data:`GROUPS`.
        kind: degradation kind or generator name (``"natural"``, ``"natural_circle"``, ``"face"``, ...).
        strength: the degradation's strength (:data:`edge_screen.degrade.KINDS` units), else None.
        rgb: ``(H, W, 3) uint8`` RGB.
        ungradable: the answer the gate must give.
        reasons: reason codes that count as right when ``ungradable`` (the first is the expected one).
        source: name of the real photo it was made from, if any.
        label: that photo's label (``normal``/``abnormal``) where known.
    """

    name: str
    group: str
    kind: str
    strength: float | None
    rgb: np.ndarray
    ungradable: bool
    reasons: tuple[str, ...] = ()
    source: str | None = None
    label: str | None = None


# ------------------------------------------------------------------------------ natural photos
def package_photos() -> list[tuple[str, np.ndarray]]:
    """``(name, rgb)`` of the sample photos of the installed packages (missing packages are skipped).

    Files are located without importing the packages (scikit-learn takes seconds to import).
    Greyscale and RGBA files become RGB.
    """
    out = []
    for pkg, rel in _PACKAGE_PHOTOS:
        spec = importlib.util.find_spec(pkg)
        if spec is None or spec.origin is None:
            continue
        path = Path(spec.origin).parent / rel
        img = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
        if img is not None:
            out.append((f"{pkg}:{Path(rel).stem}", cv2.cvtColor(img, cv2.COLOR_BGR2RGB)))
    return out


def in_black_circle(rgb: np.ndarray, *, fill: float = 0.92, size: int | None = None) -> np.ndarray:
    """The central square of ``rgb`` inside a round mask on black (how a fundus camera frames)."""
    h, w = rgb.shape[:2]
    side = min(h, w)
    sq = rgb[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
    if size is not None and size != side:
        sq = cv2.resize(sq, (size, size), interpolation=cv2.INTER_AREA if size < side else cv2.INTER_LINEAR)
        side = size
    mask = np.zeros((side, side), np.uint8)
    cv2.circle(mask, (side // 2, side // 2), round(fill * side / 2), 1, -1, cv2.LINE_AA)
    return sq * mask[..., None]


# ------------------------------------------------------------------------------ synthetic inputs
def synthetic_face(seed: int, size: int = 384) -> np.ndarray:
    """A drawn face (skin-toned oval, hair, eyes, brows, nose, mouth) on a plain background."""
    rng = np.random.default_rng([seed, 11])
    img = np.empty((size, size, 3), np.uint8)
    img[:] = rng.integers(40, 220, 3)
    c = size // 2
    skin = np.array([rng.uniform(120, 240), 0, 0])
    skin[1] = skin[0] * rng.uniform(0.65, 0.8)
    skin[2] = skin[0] * rng.uniform(0.5, 0.7)
    hair = tuple(int(v) for v in rng.integers(10, 120, 3))
    ax = (int(size * rng.uniform(0.26, 0.32)), int(size * rng.uniform(0.34, 0.4)))
    cv2.ellipse(img, (c, c - size // 20), (ax[0] + 10, ax[1] + 10), 0, 180, 360, hair, -1)
    cv2.ellipse(img, (c, c), ax, 0, 0, 360, tuple(int(v) for v in skin), -1, cv2.LINE_AA)
    for sx in (-1, 1):
        ex, ey = c + sx * ax[0] // 2, c - ax[1] // 5
        cv2.ellipse(img, (ex, ey), (size // 18, size // 34), 0, 0, 360, (245, 245, 245), -1, cv2.LINE_AA)
        cv2.circle(img, (ex, ey), size // 50, tuple(int(v) for v in rng.integers(20, 110, 3)), -1, cv2.LINE_AA)
        cv2.line(img, (ex - size // 16, ey - size // 18), (ex + size // 16, ey - size // 20), hair, size // 60 + 1)
    cv2.line(img, (c, c - size // 20), (c - size // 40, c + size // 14), tuple(int(v * 0.8) for v in skin), 2)
    cv2.ellipse(img, (c, c + ax[1] // 2), (size // 10, size // 30), 0, 0, 180, (150, 50, 60), size // 70 + 1,
                cv2.LINE_AA)
    shade = np.linspace(0.85, 1.1, size, dtype=np.float32)[None, :, None]
    noise = rng.normal(0, 4, img.shape)
    return np.clip(img * shade + noise, 0, 255).astype(np.uint8)


def synthetic_document(seed: int, size: tuple[int, int] = (500, 700)) -> np.ndarray:
    """A printed page: text lines, a heading, a table rule, on off-white paper."""
    rng = np.random.default_rng([seed, 13])
    w, h = size
    img = np.empty((h, w, 3), np.uint8)
    img[:] = rng.integers(215, 250)
    cv2.putText(img, f"Report {rng.integers(100, 999)}", (30, 60), cv2.FONT_HERSHEY_DUPLEX, 1.3, (20, 20, 60), 2)
    y = 110
    words = ("patient", "clinic", "invoice", "total", "date", "review", "screening", "retina", "camera", "note")
    while y < h - 30:
        line = " ".join(rng.choice(words, rng.integers(3, 7)))
        cv2.putText(img, line, (30, y), cv2.FONT_HERSHEY_SIMPLEX, rng.uniform(0.5, 0.8), (25, 25, 25), 1, cv2.LINE_AA)
        y += int(rng.integers(24, 34))
        if rng.random() < 0.1:
            cv2.line(img, (30, y - 12), (w - 30, y - 12), (90, 90, 90), 1)
    return img


def textured_disc(seed: int, size: int = 512) -> np.ndarray:
    """An orange-red disc with a random texture on black: a fundus's colour, shape and vignetting,
    but no vessels, optic disc or macula. Passes the hand-set checks on purpose."""
    rng = np.random.default_rng([seed, 17])
    img = np.zeros((size, size, 3), np.float32)
    c, r = size / 2, size * rng.uniform(0.42, 0.48)
    yy, xx = np.ogrid[0:size, 0:size]
    rho = np.sqrt((xx - c) ** 2 + (yy - c) ** 2) / r
    base = np.array([rng.uniform(170, 235), rng.uniform(60, 120), rng.uniform(15, 50)], np.float32)
    texture = np.zeros((size, size), np.float32)
    for octave in range(int(rng.integers(2, 5))):
        cells = int(4 * 2 ** octave * rng.uniform(0.7, 1.5))
        g = rng.random((cells, cells)).astype(np.float32)
        texture += cv2.resize(g, (size, size), interpolation=cv2.INTER_CUBIC) / (1.6 ** octave)
    texture = (texture - texture.mean()) / max(float(texture.std()), 1e-6)
    if rng.random() < 0.5:  # or a regular pattern (stripes / spots)
        f = rng.uniform(0.03, 0.12)
        texture = 0.6 * texture + np.sin(xx * f + yy * f * rng.uniform(-1, 1)).astype(np.float32)
    shade = (1 - 0.4 * np.clip(rho, 0, 1) ** 2) * (1 + rng.uniform(0.06, 0.2) * texture)
    img = base[None, None, :] * shade[..., None]
    img *= (rho <= 1.0)[..., None]
    return np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)


def greyscale(rgb: np.ndarray) -> np.ndarray:
    """Luminance copy (as saved by software that drops colour), still 3-channel."""
    g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return np.repeat(g[..., None], 3, axis=2)


def red_free(rgb: np.ndarray, *, tinted: bool = False) -> np.ndarray:
    """A red-free photograph: the green channel, stored grey or (``tinted``) shown in green."""
    g = rgb[..., 1]
    if tinted:
        return np.stack([np.zeros_like(g), g, (g * 0.25).astype(np.uint8)], axis=2)
    return np.repeat(g[..., None], 3, axis=2)


# ------------------------------------------------------------------------------ test set
def non_fundus_cases(*, n_synthetic: int = 12, seed: int = 0) -> list[GateCase]:
    """Every natural photo (plain and in a black circle) and ``n_synthetic`` of each synthetic
    generator (faces and documents plain and in a circle, textured discs)."""
    cases = []
    for name, rgb in package_photos():
        cases.append(GateCase(f"natural/{name}", "non_fundus", "natural", None, rgb, True, NOT_FUNDUS_REASONS))
        cases.append(GateCase(f"natural_circle/{name}", "non_fundus", "natural_circle", None, in_black_circle(rgb),
                              True, NOT_FUNDUS_REASONS))
    for i in range(n_synthetic):
        s = seed * 1000 + i
        face, doc = synthetic_face(s), synthetic_document(s)
        cases += [
            GateCase(f"face/{i}", "non_fundus", "face", None, face, True, NOT_FUNDUS_REASONS),
            GateCase(f"face_circle/{i}", "non_fundus", "face_circle", None, in_black_circle(face), True,
                     NOT_FUNDUS_REASONS),
            GateCase(f"document/{i}", "non_fundus", "document", None, doc, True, NOT_FUNDUS_REASONS),
            GateCase(f"document_circle/{i}", "non_fundus", "document_circle", None, in_black_circle(doc), True,
                     NOT_FUNDUS_REASONS),
            GateCase(f"orange_disc/{i}", "non_fundus", "orange_disc", None, textured_disc(s), True, NOT_FUNDUS_REASONS),
        ]
    return cases


def photo_cases(photos: Iterable[tuple[str, np.ndarray, str | None]], *, kinds: Iterable[str] | None = None,
                levels: dict[str, tuple[float, ...]] | None = None, colourless: bool = True,
                thumbnails: bool = True, seed: int = 0) -> Iterator[GateCase]:
    """Cases made from real photos ``(name, rgb, label)``: the photo itself (gradable), each
    degradation at each level, its greyscale and red-free copies and its 97 x 64 thumbnail.

    ``levels`` overrides the levels of some kinds (default :attr:`Kind.levels`).
    """
    from edge_screen.preprocess import detect_fov

    kinds = list(KINDS) if kinds is None else list(kinds)
    for k in kinds:
        if k not in KINDS:
            raise UsageError(f"unknown degradation {k!r}; valid: {', '.join(KINDS)}")
    for j, (name, rgb, label) in enumerate(photos):
        fov = detect_fov(rgb)
        yield GateCase(f"real/{name}", "real", "real", None, rgb, False, (), name, label)
        for kind in kinds:
            spec = KINDS[kind]
            for level in (levels or {}).get(kind, spec.levels):
                bad = spec.ungradable(level)
                yield GateCase(f"{kind}/{level:g}/{name}", "degraded", kind, float(level),
                               degrade(rgb, kind, level, seed=seed * 7919 + j, fov=fov), bad,
                               (spec.reason,) if bad else (), name, label)
        if colourless:
            for kind, img in (("greyscale", greyscale(rgb)), ("red_free", red_free(rgb)),
                              ("red_free_tinted", red_free(rgb, tinted=True))):
                yield GateCase(f"{kind}/{name}", "no_colour", kind, None, img, True, ("no_colour",), name, label)
        if thumbnails:
            yield GateCase(f"thumbnail/{name}", "thumbnail", "thumbnail", None, thumbnail(rgb, 97, 64), True,
                           ("low_resolution",), name, label)


def read_photos(labels_csv: str | Path, *, limit: int | None = None, seed: int = 0,
                target_size: int | None = 768) -> list[tuple[str, np.ndarray, str | None]]:
    """``(name, rgb, label)`` of (a seeded sample of ``limit``) photos listed in a ``labels.csv``
    (``file`` relative to the CSV, ``label``), decoded as the screener does (reduced for speed)."""
    from edge_screen.imageio import load_image

    labels_csv = Path(labels_csv)
    with open(labels_csv, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if limit is not None and limit < len(rows):
        idx = np.random.default_rng(seed).choice(len(rows), size=limit, replace=False)
        rows = [rows[i] for i in sorted(idx)]
    return [(Path(r["file"]).stem, load_image(labels_csv.parent / r["file"], target_size=target_size).rgb,
             r.get("label")) for r in rows]


# ------------------------------------------------------------------------------ contact sheet
def contact_sheet(rgb: np.ndarray, *, prep: Preprocessing | None = None, tile: int = 176,
                  detail: int = 88) -> np.ndarray:
    """One row per degradation kind, one column per level (first: the photo as it is).

    Each tile shows the whole field (``tile`` px) and, under it, the centre of the model input at
    1:1 pixels (``detail`` x ``tile``), where blur and compression show as the model sees them.
    The level's strength is written on the tile, red from the level that counts as ungradable.
    ``prep``: the model's crop (default: the shipped default bundle's preprocessing).
    Returns ``(H, W, 3) uint8`` RGB.
    """
    from edge_screen.preprocess import crop_image, detect_fov

    if prep is None:  # a bundle carries its preprocessing; nobody retypes it
        from edge_screen.bundle import default_bundle_path, load_bundle

        path = default_bundle_path()
        if path is None:
            raise UsageError("no default bundle is shipped: pass prep=load_bundle(BUNDLE).preprocessing")
        prep = load_bundle(path).preprocessing
    input_size = prep.input_size
    fov = detect_fov(rgb)
    n_cols = 1 + max(len(k.levels) for k in KINDS.values())
    label_h = 22
    rows = []
    for kind, spec in KINDS.items():
        tiles = []
        for j, level in enumerate((None, *spec.levels)):
            img = rgb if level is None else degrade(rgb, kind, level, seed=j, fov=fov)
            crop, _, _ = crop_image(img, prep)
            full = cv2.resize(crop, (tile, tile), interpolation=cv2.INTER_AREA)
            c0 = (input_size - tile) // 2
            zoom = crop[input_size // 2 - detail // 2:input_size // 2 + detail - detail // 2, c0:c0 + tile]
            t = np.concatenate([np.zeros((label_h, tile, 3), np.uint8), full, zoom], axis=0)
            text = "original" if level is None else f"{level:g}"
            bad = level is not None and spec.ungradable(level)
            cv2.putText(t, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 80, 80) if bad else (230, 230, 230), 1,
                        cv2.LINE_AA)
            tiles.append(t)
        while len(tiles) < n_cols:
            tiles.append(np.zeros_like(tiles[0]))
        head = np.zeros((tiles[0].shape[0], 150, 3), np.uint8)
        for i, line in enumerate((kind, f"-> {spec.reason}", f"from {spec.ungradable_from:g}")):
            cv2.putText(head, line, (6, 40 + 20 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.48, (230, 230, 230), 1, cv2.LINE_AA)
        rows.append(np.concatenate([head, *tiles], axis=1))
        rows.append(np.full((3, rows[-1].shape[1], 3), 60, np.uint8))
    return np.concatenate(rows[:-1], axis=0)


def preview_sheet(rgb: np.ndarray, *, tile: int = 120) -> np.ndarray:
    """Two of each generated non-fundus kind, then the greyscale, red-free (grey and tinted) copies and
    the 97 x 64 thumbnail of ``rgb``; ``tile`` px each, 8 per row. ``(H, W, 3) uint8`` RGB."""
    cases = non_fundus_cases(n_synthetic=2)
    pick = [c.rgb for k in ("natural", "natural_circle", "face", "face_circle", "document_circle", "orange_disc")
            for c in [c for c in cases if c.kind == k][:2]]
    pick += [greyscale(rgb), red_free(rgb), red_free(rgb, tinted=True), thumbnail(rgb, 97, 64)]
    tiles = []
    for t in pick:
        h, w = t.shape[:2]
        f = tile / max(h, w)
        t = cv2.resize(t, (max(1, round(w * f)), max(1, round(h * f))),
                       interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_NEAREST)
        c = np.zeros((tile, tile, 3), np.uint8)
        c[:t.shape[0], :t.shape[1]] = t
        tiles.append(c)
    while len(tiles) % 8:
        tiles.append(np.zeros_like(tiles[0]))
    return np.concatenate([np.concatenate(tiles[i:i + 8], 1) for i in range(0, len(tiles), 8)], 0)


# ------------------------------------------------------------------------------ CLI
def write_cases(cases: Iterable[GateCase], out: str | Path) -> Path:
    """Write each case as ``out/<name with / -> __>.png`` plus ``out/index.csv``; returns the index."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    index = out / "index.csv"
    with open(index, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "group", "kind", "strength", "ungradable", "reasons", "source", "label"])
        for c in cases:
            fname = c.name.replace("/", "__").replace(":", "_") + ".png"
            cv2.imwrite(str(out / fname), cv2.cvtColor(c.rgb, cv2.COLOR_RGB2BGR))
            w.writerow([fname, c.group, c.kind, "" if c.strength is None else c.strength, int(c.ungradable),
                        " ".join(c.reasons), c.source or "", c.label or ""])
    return index


def _save_small_png(rgb: np.ndarray, dst: Path) -> None:
    """PNG with a 256-colour palette when Pillow is there (a third of the size; sheets live in git)."""
    try:
        from PIL import Image
    except ImportError:
        cv2.imwrite(str(dst), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
        return
    Image.fromarray(rgb).quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(dst, optimize=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge_screen.gateset", description=__doc__.split("\n\n")[0])
    p.add_argument("--photos", help="labels.csv of real fundus photos to degrade")
    p.add_argument("--limit", type=int, default=20, help="real photos drawn from --photos (default 20)")
    p.add_argument("--out", help="folder for the PNGs and index.csv")
    p.add_argument("--contact-sheet", nargs="+", metavar="PHOTO",
                   help="draw a contact sheet for each photo (and a preview of the other cases from the first)")
    p.add_argument("--sheet-dir", default="docs/gate", help="where the contact sheets go (default docs/gate)")
    args = p.parse_args(argv)
    if args.contact_sheet:
        from edge_screen.imageio import load_image

        for photo in args.contact_sheet:
            sheet = contact_sheet(load_image(photo, target_size=768).rgb, tile=128, detail=64)
            dst = Path(args.sheet_dir) / f"contact_{Path(photo).stem}.png"
            dst.parent.mkdir(parents=True, exist_ok=True)
            _save_small_png(sheet, dst)
            print(dst)
        preview = Path(args.sheet_dir) / "non_fundus_preview.png"
        _save_small_png(preview_sheet(load_image(args.contact_sheet[0], target_size=384).rgb), preview)
        print(preview)
    if args.out:
        cases: list[GateCase] = non_fundus_cases()
        photos = read_photos(args.photos, limit=args.limit) if args.photos else []
        print(write_cases([*cases, *photo_cases(photos)], args.out))
    if not (args.out or args.contact_sheet):
        p.error("nothing to do: give --out and/or --contact-sheet")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
