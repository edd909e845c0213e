"""Image sources (cameras / populations) and the leave-one-source-out folds built on them.

A source is what a model must transfer across: one camera and population. It is read from a CSV
column (default ``source_repo``) and a mapping merges several values into one source (shared
contract 4 of the project): the two ODIR-derived sets of fundus-dev and fundus-extra are one source
"ODIR" (same hospitals and cameras); the others are IDRiD, AIROGS and SRahim. A value the mapping
does not know is its own source, named by the value.

Mapping keys match a column value exactly, or its repository part (``owner/name`` before ``@``).
On the command line: ``--source-map owner/name=NAME,owner2/name2=NAME`` or a JSON file of that dict.

Patients: the same eye photographed twice must not sit on both sides of a within-source split.
:func:`patient_of` derives a patient id from ``source_path`` where the source names one (ODIR
``<id>_left.jpg``, SRahim ``PatientNNN_L.jpg`` with the two id pairs the SOURCES.md says are the
same people merged); elsewhere each image is its own group.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from edge_screen.errors import UsageError

DEFAULT_SOURCE_COL = "source_repo"
DEFAULT_SOURCE_MAP: dict[str, str] = {
    "aliiakbarkhan/eye-disease-detection-DL": "ODIR",
    "MinsuChae/Ocular-Disease-Recognition": "ODIR",
    "chrisvoncsefalvay/codras": "IDRiD",
    "vexeeldev/Glaucoma-Detection": "AIROGS",
    "SRahimDR/DR-image-dataset": "SRahim",
}
# fundus-extra SOURCES.md: "Patient067/237 are the same eyes" (058/155 were dropped, 299/300 deduplicated)
_SRAHIM_SAME = {"237": "067", "300": "299", "155": "058"}


def parse_source_map(text: str | None) -> dict[str, str]:
    """``None`` -> the default mapping; a JSON file path -> its dict; ``a=X,b=Y`` -> that dict."""
    if text is None:
        return dict(DEFAULT_SOURCE_MAP)
    if text.strip() in ("", "none"):
        return {}
    p = Path(text)
    if p.suffix.lower() == ".json" or p.is_file():
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"--source-map {text}: not a readable JSON object ({exc})") from exc
        if not isinstance(d, dict) or not all(isinstance(v, str) for v in d.values()):
            raise UsageError(f"--source-map {text}: expected a JSON object {{column value: source name}}")
        return {str(k): v for k, v in d.items()}
    out = {}
    for part in text.split(","):
        if "=" not in part:
            raise UsageError(f"--source-map entry {part!r} is not VALUE=NAME; e.g. owner/repo=ODIR,owner2/repo=ODIR")
        k, v = part.rsplit("=", 1)
        out[k.strip()] = v.strip()
    return out


def source_of(value: str, mapping: Mapping[str, str]) -> str:
    """The source name of one column value (exact key, else its ``owner/name`` before ``@``, else the value)."""
    value = str(value).strip()
    if value in mapping:
        return mapping[value]
    repo = value.split("@", 1)[0].strip()
    if repo in mapping:
        return mapping[repo]
    return value or "unknown"


def sources_of(samples: Sequence, *, column: str = DEFAULT_SOURCE_COL, mapping: Mapping[str, str] | None = None) -> np.ndarray:
    """``(N,) str`` source name per sample (UsageError naming the columns when ``column`` is missing)."""
    mapping = DEFAULT_SOURCE_MAP if mapping is None else mapping
    missing = [s.path for s in samples if column not in s.meta]
    if missing:
        cols = sorted(samples[0].meta) if samples else []
        raise UsageError(f"source column {column!r} missing for {len(missing)} images (e.g. {missing[0]}); "
                         f"columns: {cols}; pass --source-col")
    return np.array([source_of(s.meta[column], mapping) for s in samples], dtype=object)


def patient_of(sample, source: str) -> str:  # noqa: ANN001 - a data.Sample
    """A patient id for group-aware within-source splits (the image path where none is known)."""
    sp = str(sample.meta.get("source_path", ""))
    m = re.search(r"(\d+)_(left|right)\.", sp)
    if m:
        return f"{source}:{m.group(1)}"
    m = re.search(r"Patient(\d+)_[LR]\.", sp)
    if m:
        pid = m.group(1).zfill(3)
        return f"{source}:P{_SRAHIM_SAME.get(pid, pid)}"
    return sample.path


def read_datasets(data: str | os.PathLike | Sequence[str | os.PathLike], **kw) -> list:
    """:func:`edge_screen.quantize.data.read_samples` over one or several label files (concatenated).

    ``data`` may be a list or a string with several files separated by ``,``.
    """
    from edge_screen.quantize.data import read_samples

    items = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    paths = [p.strip() for item in items for p in str(item).split(",") if p.strip()]
    if not paths:
        raise UsageError("no --data given")
    out = []
    for p in paths:
        out.extend(read_samples(p, **kw))
    seen: dict[str, int] = {}
    for s in out:
        seen[s.path] = seen.get(s.path, 0) + 1
    dup = [p for p, n in seen.items() if n > 1]
    if dup:
        raise UsageError(f"{len(dup)} images are listed more than once across --data (e.g. {dup[0]})")
    return out


def loso_folds(sources: np.ndarray, labels: np.ndarray) -> list[dict]:
    """The leave-one-source-out folds: one per source, sorted by name.

    Returns:
        ``[{"source": name, "test": (n,) bool mask, "train": mask, "one_class": bool}, ...]``. A
        source with one class is held out like the others (trained on in every other fold), but
        its AUC is undefined: reports give its sensitivity (all abnormal) or specificity (all normal).

    Raises:
        UsageError: fewer than two sources, or no source with both classes.
    """
    names = sorted(set(sources.tolist()))
    if len(names) < 2:
        raise UsageError(f"leave-one-source-out needs at least 2 sources, found {names}; check --source-col/--source-map")
    folds = []
    for name in names:
        m = sources == name
        folds.append({"source": name, "test": m, "train": ~m, "one_class": len(set(labels[m].tolist())) < 2})
    if all(f["one_class"] for f in folds):
        raise UsageError(f"no source has both classes ({names}): leave-one-source-out AUC is undefined")
    for f in folds:
        if len(set(labels[f["train"]].tolist())) < 2:
            raise UsageError(f"holding out {f['source']} leaves one class to train on; every fold needs both classes")
    return folds


def one_class_sources(sources: np.ndarray, labels: np.ndarray) -> dict[str, int]:
    """``{source: its only label}`` for sources with a single class."""
    out = {}
    for name in sorted(set(sources.tolist())):
        ys = set(labels[sources == name].tolist())
        if len(ys) == 1:
            out[name] = int(ys.pop())
    return out
