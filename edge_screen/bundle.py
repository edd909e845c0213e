"""Model bundles: a folder (or a ``.zip`` of it) holding the models plus everything needed to use them.

A bundle carries its own metadata in ``manifest.json`` (schema ``edge-screen-bundle/1``): labels,
preprocessing, the operating threshold and how it was chosen, one entry per (backend, precision)
with its files, the SHA-256 and size of every file, provenance and reports. The runtime reads the
preprocessing from here; nobody retypes it (a train/deploy preprocessing mismatch is the most
common failure in this field).

Loading validates everything and raises :class:`~edge_screen.errors.BundleError` naming the bad
file or field. Zip bundles are checked against their manifest and extracted once into a bounded
cache (:mod:`edge_screen.bundle_archive`); a signed manifest (:mod:`edge_screen.signing`) can be
required with ``EDGE_SCREEN_TRUSTED_KEYS``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from edge_screen.backends import backend_names, check_entry, precision_names, precision_rank
from edge_screen.bundle_archive import MANIFEST, MAX_MANIFEST_BYTES, SIGNATURE, extract_zip, parse_manifest_text, sha256_file
from edge_screen.errors import BundleError, UsageError
from edge_screen.preprocess import Preprocessing
from edge_screen.quality import QualityThresholds

log = logging.getLogger(__name__)

SCHEMA = "edge-screen-bundle/1"
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ModelEntry:
    """One model of a bundle: a backend, a precision and its files (role -> path relative to the root).

    ``extra`` keeps any other keys of the manifest entry (e.g. ``note``, ``inference_precision``).
    """

    backend: str
    precision: str
    files: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Manifest form of the entry."""
        return {"backend": self.backend, "precision": self.precision, "files": dict(self.files), **self.extra}


@dataclass(frozen=True)
class Bundle:
    """A validated bundle. Build it with :func:`load_bundle`, not directly."""

    root: Path
    manifest: dict
    name: str
    version: str
    labels: tuple[str, ...]
    preprocessing: Preprocessing
    threshold: float
    models: tuple[ModelEntry, ...]
    source: Path | None = None  # the zip file when the bundle came from one

    @property
    def id(self) -> str:
        """``name@version:<first 12 hex of the SHA-256 of the canonical manifest>``."""
        canon = json.dumps(self.manifest, sort_keys=True, separators=(",", ":")).encode()
        return f"{self.name}@{self.version}:{hashlib.sha256(canon).hexdigest()[:12]}"

    @property
    def quality_overrides(self) -> dict[str, Any]:
        """Quality-gate threshold overrides from the manifest (``{}`` when none)."""
        return dict(self.manifest.get("quality") or {})

    @property
    def threshold_method(self) -> str:
        """How the operating threshold was chosen (free text from the manifest)."""
        return str(self.manifest["threshold"].get("method", ""))

    def model(self, backend: str, precision: str | None = None) -> ModelEntry:
        """The entry for ``backend`` at ``precision`` (``None``: the best of int8 > fp16 > fp32)."""
        entries = [m for m in self.models if m.backend == backend]
        if precision is not None:
            entries = [m for m in entries if m.precision == precision]
        if not entries:
            have = ", ".join(f"{m.backend}/{m.precision}" for m in self.models) or "none"
            want = backend if precision is None else f"{backend}/{precision}"
            raise BundleError(f"bundle {self.name!r} at {self.root} has no {want} model; it has: {have}")
        return min(entries, key=lambda m: precision_rank(m.precision))

    def path(self, relpath: str) -> Path:
        """Absolute path of a file of the bundle, refusing paths that leave the bundle root."""
        _check_relpath(relpath, "file path")
        _inside(self.root, relpath, self.root)
        return self.root / relpath


def _check_relpath(relpath: Any, what: str) -> str:
    if not isinstance(relpath, str) or not relpath:
        raise BundleError(f"{what} must be a non-empty relative path string, got {relpath!r}")
    p = PurePosixPath(relpath)
    if p.is_absolute() or "\\" in relpath or ".." in p.parts or re.match(r"^[A-Za-z]:", relpath):
        raise BundleError(f"{what} {relpath!r} must be a relative POSIX path inside the bundle (no '..', no drive)")
    return relpath


# --------------------------------------------------------------------------------------- loading
def load_bundle(path: str | os.PathLike, *, verify: bool = True, trusted_keys: list | None = None) -> Bundle:
    """Load and validate a bundle folder or ``.zip``.

    ``verify=True`` checks the SHA-256 of every file; sizes and presence are always checked, and no
    file may lead outside the bundle through a symlink. ``trusted_keys``: minisign public keys
    (:class:`edge_screen.signing.PublicKey`); when given, or when ``EDGE_SCREEN_TRUSTED_KEYS`` is
    set, the manifest must carry a valid signature by one of them (``manifest.json.minisig``);
    ``[]`` skips that check.
    Raises :class:`BundleError` naming the bad file or field, what was found and what was expected.
    """
    src = Path(path).expanduser()
    if not src.exists():
        raise BundleError(f"bundle not found: {src} (pass a bundle folder or .zip with {MANIFEST})")
    zip_source: Path | None = None
    if src.is_file():
        if not zipfile.is_zipfile(src):
            raise BundleError(f"bundle {src} is a file but not a zip archive; pass a bundle folder or its .zip")
        zip_source = src.resolve()
        root = extract_zip(zip_source)
    else:
        root = src.resolve()
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"bundle {src} has no {MANIFEST} (expected at {manifest_path})")
    _inside(root, MANIFEST, src)
    if trusted_keys is None:
        from edge_screen.signing import trusted_keys_from_env

        trusted_keys = trusted_keys_from_env()
    if trusted_keys:  # [] switches the check off (signing a bundle in the first place)
        from edge_screen.signing import verify_file

        verify_file(manifest_path, trusted_keys)
    with open(manifest_path, "rb") as fh:
        manifest = parse_manifest_text(fh.read(MAX_MANIFEST_BYTES + 1), str(manifest_path))
    bundle = _parse_manifest(root, manifest, zip_source)
    _check_files(bundle, verify=verify)
    log.debug("loaded bundle %s from %s", bundle.id, root)
    return bundle


def _inside(root: Path, rel: str, src: Path | str) -> Path:
    """``root / rel`` resolved, refusing a path that a symlink leads outside the bundle."""
    real = (root / rel).resolve()
    if not real.is_relative_to(root):
        raise BundleError(f"bundle {src}: {rel!r} is a symlink that leads outside the bundle (to {real}); "
                          "bundles may hold plain files only")
    return real


def _field(manifest: Mapping, key: str, typ: type | tuple[type, ...], what: str) -> Any:
    if key not in manifest:
        raise BundleError(f"{MANIFEST}: missing field {key!r} ({what})")
    value = manifest[key]
    if not isinstance(value, typ) or isinstance(value, bool) and typ is not bool:
        raise BundleError(f"{MANIFEST}: field {key!r} must be {what}, got {value!r}")
    return value


def _parse_manifest(root: Path, m: dict, zip_source: Path | None) -> Bundle:
    schema = m.get("schema")
    if schema != SCHEMA:
        raise BundleError(
            f"{MANIFEST}: unknown bundle schema {schema!r}; this edge-screen reads {SCHEMA!r} "
            "(upgrade edge-screen, or re-export the bundle)"
        )
    name = _field(m, "name", str, "a non-empty string")
    version = _field(m, "version", str, "a version string like '1.0.0'")
    labels = _field(m, "labels", list, "a list of class names, e.g. ['normal', 'abnormal']")
    if len(labels) != 2 or not all(isinstance(x, str) and x for x in labels):
        raise BundleError(f"{MANIFEST}: field 'labels' must be two class names [normal, abnormal], got {labels!r}")
    prep_d = _field(m, "preprocessing", dict, "an object with input_size, mean, std, color_order, crop")
    try:
        prep = Preprocessing.from_dict(prep_d)
    except (TypeError, ValueError, KeyError, UsageError) as exc:
        raise BundleError(f"{MANIFEST}: field 'preprocessing' is invalid ({exc}); got {prep_d!r}") from exc
    thr = _field(m, "threshold", dict, "an object {'value': float in 0..1, 'method': str}")
    value = thr.get("value")
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 < float(value) < 1.0:
        # 0 or 1 would call every photo abnormal (or none); NaN would call every photo normal
        raise BundleError(f"{MANIFEST}: field 'threshold.value' must be a number strictly between 0 and 1, got {value!r}")
    if not isinstance(thr.get("method"), str):
        raise BundleError(f"{MANIFEST}: field 'threshold.method' must say how the threshold was chosen, got {thr.get('method')!r}")
    files = _field(m, "files", dict, "an object {relpath: {'sha256': hex, 'size': int}}")
    for rel, info in files.items():
        _check_relpath(rel, f"{MANIFEST}: files key")
        if not isinstance(info, dict) or not _SHA256_RE.match(str(info.get("sha256", ""))):
            raise BundleError(f"{MANIFEST}: files[{rel!r}].sha256 must be 64 lowercase hex digits, got {info!r}")
        size = info.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise BundleError(f"{MANIFEST}: files[{rel!r}].size must be a non-negative integer, got {size!r}")
    models_raw = _field(m, "models", list, "a list of model entries")
    models = []
    for i, e in enumerate(models_raw):
        where = f"{MANIFEST}: models[{i}]"
        if not isinstance(e, dict):
            raise BundleError(f"{where} must be an object, got {e!r}")
        backend, precision, mfiles = e.get("backend"), e.get("precision"), e.get("files")
        # Entries of backends not registered here (a plug-in another machine has) are kept: the
        # runtime selection leaves them out and says why. BundleWriter refuses to write them.
        if not isinstance(backend, str) or not backend:
            raise BundleError(f"{where}.backend must be a backend name ({', '.join(backend_names())}), got {backend!r}")
        if precision not in precision_names():
            raise BundleError(f"{where}.precision must be one of {list(precision_names())}, got {precision!r}")
        if not isinstance(mfiles, dict) or not mfiles:
            raise BundleError(f"{where}.files must be a non-empty object {{role: relpath}}, got {mfiles!r}")
        for role, rel in mfiles.items():
            _check_relpath(rel, f"{where}.files[{role!r}]")
            if rel not in files:
                raise BundleError(f"{where}.files[{role!r}] = {rel!r} is not listed in 'files' (no hash recorded)")
        extra = {k: v for k, v in e.items() if k not in ("backend", "precision", "files")}
        models.append(ModelEntry(backend, precision, dict(mfiles), extra))
    for key in ("quality", "provenance", "reports"):
        if key in m and not isinstance(m[key], dict):
            raise BundleError(f"{MANIFEST}: field {key!r} must be an object, got {m[key]!r}")
    if m.get("quality"):
        try:
            QualityThresholds().with_overrides(m["quality"])
        except UsageError as exc:
            raise BundleError(f"{MANIFEST}: field 'quality' is invalid: {exc}") from exc
    for rname, rel in (m.get("reports") or {}).items():
        _check_relpath(rel, f"{MANIFEST}: reports[{rname!r}]")
    return Bundle(root, m, name, version, tuple(labels), prep, float(value), tuple(models), zip_source)


def _check_files(bundle: Bundle, *, verify: bool) -> None:
    for rel, info in bundle.manifest["files"].items():
        p = bundle.root / rel
        _inside(bundle.root, rel, bundle.root)
        if not p.is_file():
            raise BundleError(f"bundle {bundle.name!r}: file {rel!r} listed in {MANIFEST} is missing (expected at {p})")
        size = p.stat().st_size
        if size != info["size"]:
            raise BundleError(
                f"bundle {bundle.name!r}: file {rel!r} has {size} bytes, manifest says {info['size']} "
                "(file modified or truncated; re-export or re-download the bundle)"
            )
        if verify:
            digest = sha256_file(p)
            if digest != info["sha256"]:
                raise BundleError(
                    f"bundle {bundle.name!r}: file {rel!r} fails its SHA-256 check: got {digest[:16]}..., "
                    f"manifest says {info['sha256'][:16]}... (file modified or corrupt; re-export the bundle)"
                )


# ------------------------------------------------------------------------------------------- zip
def zip_bundle(folder: str | os.PathLike, out_zip: str | os.PathLike) -> Path:
    """Validate the bundle ``folder`` and write it as a zip (members at the top level), atomically."""
    bundle = load_bundle(folder)
    out = Path(out_zip)
    out.parent.mkdir(parents=True, exist_ok=True)
    members = [MANIFEST, *sorted(bundle.manifest["files"])]
    if (bundle.root / SIGNATURE).is_file():
        members.insert(1, SIGNATURE)
    fd, tmp_name = tempfile.mkstemp(prefix=".zip-", dir=out.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp_name, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for rel in members:
                zf.write(bundle.root / rel, rel)
        os.replace(tmp_name, out)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return out


def default_bundle_path() -> Path | None:
    """The bundle shipped inside the package (``edge_screen/models/default``), or ``None``."""
    base = Path(__file__).resolve().parent / "models"
    for cand in (base / "default", base / "default.zip"):
        if (cand / MANIFEST).is_file() or (cand.suffix == ".zip" and cand.is_file()):
            return cand
    return None


# --------------------------------------------------------------------------------------- writing
class BundleWriter:
    """Create or extend a bundle folder; :meth:`write` records hashes and writes the manifest atomically.

    Exporters call ``add_model`` per artifact; files outside ``root`` are copied to
    ``<backend>/<precision>/<filename>`` inside it. Extending an existing bundle with a different
    preprocessing is refused (models of one bundle share one preprocessing).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        name: str | None = None,
        version: str | None = None,
        preprocessing: Preprocessing | None = None,
        labels: tuple[str, ...] | list[str] = ("normal", "abnormal"),
    ) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        existing: dict = {}
        mpath = self.root / MANIFEST
        if mpath.is_file():
            try:
                existing = json.loads(mpath.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise BundleError(f"cannot extend {mpath}: not valid JSON ({exc})") from exc
            if existing.get("schema") != SCHEMA:
                raise BundleError(f"cannot extend {mpath}: unknown schema {existing.get('schema')!r}, expected {SCHEMA!r}")
        self._m: dict[str, Any] = existing
        self._m["schema"] = SCHEMA
        if name is not None or "name" not in self._m:
            self._m["name"] = name or self.root.name
        if version is not None or "version" not in self._m:
            self._m["version"] = version or "0.1.0"
        self._m["labels"] = list(self._m.get("labels") or labels)
        if preprocessing is not None:
            new = preprocessing.to_dict()
            old = self._m.get("preprocessing")
            if old is not None and Preprocessing.from_dict(old) != preprocessing:
                raise BundleError(
                    f"cannot extend {self.root}: its preprocessing {old} differs from the new model's {new}; "
                    "write the new model into a separate bundle"
                )
            self._m["preprocessing"] = new
        self._m.setdefault("models", [])
        self._m.setdefault("files", {})
        self._m.setdefault("quality", {})
        self._m.setdefault("provenance", {})
        self._m.setdefault("reports", {})
        self._extra_files: set[str] = set(self._m["files"])

    @property
    def manifest(self) -> dict:
        """The manifest being built (a live dict; prefer the setter methods)."""
        return self._m

    def add_file(self, path: str | os.PathLike, relpath: str | None = None) -> str:
        """Put a file into the bundle (copy when outside root) and return its relative path."""
        src = Path(path)
        if not src.is_absolute():
            src = self.root / src
        src = src.resolve()
        if not src.is_file():
            raise BundleError(f"cannot add {path!s} to bundle {self.root}: file not found")
        try:
            inside = src.relative_to(self.root).as_posix()
        except ValueError:
            inside = None
        if relpath is None:
            relpath = inside if inside is not None else src.name
        _check_relpath(relpath, "bundle file path")
        dst = self.root / relpath
        if inside != relpath:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        self._extra_files.add(relpath)
        return relpath

    def remove_file(self, relpath: str, *, delete: bool = True) -> None:
        """Stop listing ``relpath`` (and delete it unless ``delete=False``); models that use it must go first."""
        _check_relpath(relpath, "bundle file path")
        users = [f"{e['backend']}/{e['precision']}" for e in self._m["models"] if relpath in e["files"].values()]
        if users:
            raise BundleError(f"cannot remove {relpath!r} from bundle {self.root}: model(s) {users} use it")
        self._extra_files.discard(relpath)
        self._m["files"].pop(relpath, None)
        if delete:
            (self.root / relpath).unlink(missing_ok=True)

    def add_model(
        self, backend: str, precision: str, files: Mapping[str, str | os.PathLike], **extra: Any
    ) -> None:
        """Record a model (replacing one with the same backend and precision).

        ``files`` maps roles (``model``, ``weights``, ``engine``, ``onnx``) to paths; paths outside
        the root are copied to ``<backend>/<precision>/<filename>``.
        """
        try:  # no bundle may carry a model no registered backend can run
            check_entry(backend, precision)
        except UsageError as exc:
            raise BundleError(f"cannot add a {backend}/{precision} model to bundle {self.root}: {exc}") from None
        if not files:
            raise BundleError(f"add_model({backend!r}, {precision!r}): files must not be empty")
        rels: dict[str, str] = {}
        for role, p in files.items():
            src = Path(p) if Path(p).is_absolute() else self.root / p
            try:
                rel = src.resolve().relative_to(self.root).as_posix()
            except ValueError:
                rel = f"{backend}/{precision}/{src.name}"
            rels[role] = self.add_file(src, rel)
        self._m["models"] = [
            e for e in self._m["models"] if not (e.get("backend") == backend and e.get("precision") == precision)
        ]
        self._m["models"].append({"backend": backend, "precision": precision, "files": rels, **extra})

    def set_model_fields(self, backend: str, precision: str, **fields: Any) -> None:
        """Add or replace fields of the recorded (backend, precision) model entry (not its files)."""
        entry = next((e for e in self._m["models"] if (e.get("backend"), e.get("precision")) == (backend, precision)),
                     None)  # fmt: skip
        if entry is None:
            raise BundleError(f"bundle {self.root}: no {backend}/{precision} model to set {sorted(fields)} on")
        reserved = {"backend", "precision", "files"} & set(fields)
        if reserved:
            raise BundleError(f"set_model_fields cannot change {sorted(reserved)}; use add_model")
        entry.update(fields)

    def set_threshold(self, value: float, method: str, details: dict | None = None) -> None:
        """Set the operating threshold on P(abnormal) and say how it was chosen."""
        if not 0.0 <= float(value) <= 1.0:
            raise BundleError(f"threshold must be in 0..1, got {value!r}")
        self._m["threshold"] = {"value": float(value), "method": str(method), "details": dict(details or {})}

    def set_provenance(self, **kw: Any) -> None:
        """Merge provenance fields (teacher, student, data, metrics, ...)."""
        self._m["provenance"].update(kw)

    def set_quality(self, **overrides: Any) -> None:
        """Quality-gate threshold overrides (field names of ``QualityThresholds``)."""
        self._m["quality"].update(overrides)

    def add_report(self, name: str, data: dict) -> None:
        """Write ``reports/<name>.json`` and list it under ``reports``."""
        rel = f"reports/{name}.json"
        _check_relpath(rel, "report name")
        dst = self.root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(json.dumps(data, indent=2, sort_keys=True, default=str), encoding="utf-8")
        self._extra_files.add(rel)
        self._m["reports"][name] = rel

    def write(self) -> Path:
        """Hash every file, write ``manifest.json`` atomically (temp + rename) and return the root."""
        if "preprocessing" not in self._m:
            raise BundleError(f"bundle {self.root}: preprocessing is required (BundleWriter(..., preprocessing=...))")
        if "threshold" not in self._m:
            raise BundleError(f"bundle {self.root}: no operating threshold set (set_threshold); a bundle never ships "
                              f"an uncalibrated default")
        prov = self._m["provenance"]
        prov.setdefault("created", _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        from edge_screen import __version__

        prov.setdefault("tool", f"edge-screen {__version__}")
        referenced = set(self._extra_files)
        for e in self._m["models"]:
            referenced.update(e["files"].values())
        files = {}
        for rel in sorted(referenced):
            p = self.root / rel
            if not p.is_file():
                raise BundleError(f"bundle {self.root}: file {rel!r} was recorded but is missing")
            files[rel] = {"sha256": sha256_file(p), "size": p.stat().st_size}
        self._m["files"] = files
        fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".json", dir=self.root)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self._m, f, indent=2)
                f.write("\n")
            os.replace(tmp, self.root / MANIFEST)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        stale = self.root / SIGNATURE
        if stale.is_file():  # it signed the manifest that was just replaced
            stale.unlink()
            log.warning("bundle %s changed: its signature was removed; sign it again (edge-screen bundle sign)", self.root)
        return self.root
