"""Zip bundles: checked before anything is extracted, extracted once into a bounded cache.

A zip bundle is extracted into ``<cache>/bundles/<sha256[:16]>`` (cache: ``EDGE_SCREEN_CACHE``, else
``$XDG_CACHE_HOME/edge-screen``, else ``~/.cache/edge-screen``). Before one byte is written:

* the manifest member is found, size-limited (:data:`MAX_MANIFEST_BYTES`) and parsed;
* only the manifest, its signature and the files the manifest lists are extracted: each must be a
  plain member (no symlink, no path leaving the folder) whose size in the zip directory equals
  the size the manifest records; anything else in the zip (padding, stray files) is left unread;
* their total must fit :data:`MAX_ZIP_BYTES` and the free disk space.

While copying, no member may yield more bytes than declared. The cache keeps the most recently used
extractions within :data:`MAX_CACHE_BYTES` (``EDGE_SCREEN_CACHE_MAX_MB``) and drops the rest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import time
import zipfile
from pathlib import Path, PurePosixPath

from edge_screen.errors import BundleError

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
SIGNATURE = MANIFEST + ".minisig"
#: Refuse zip bundles whose listed files add up to more than this.
MAX_ZIP_BYTES = 2 << 30
#: A manifest is a few kB; refuse anything larger than this before parsing it.
MAX_MANIFEST_BYTES = 4 << 20
#: Default bound of the extraction cache (most recently used bundles are kept).
MAX_CACHE_BYTES = 2 << 30
_CHUNK = 1 << 20
_STALE_TMP_S = 3600.0


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (bounded memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def parse_manifest_text(text: str | bytes, where: str) -> dict:
    """JSON object from manifest text; BundleError (never RecursionError/ValueError) otherwise."""
    if len(text) > MAX_MANIFEST_BYTES:
        raise BundleError(f"{where} is {len(text):,} bytes, more than the {MAX_MANIFEST_BYTES:,} a manifest may have")
    try:
        doc = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{where} is not valid JSON: {exc}") from exc
    except RecursionError:
        raise BundleError(f"{where} is nested too deeply to be a bundle manifest; re-export the bundle") from None
    if not isinstance(doc, dict):
        raise BundleError(f"{where}: expected a JSON object, got {type(doc).__name__}")
    return doc


def cache_root() -> Path:
    """Where zip bundles are extracted (and other per-machine caches live)."""
    env = os.environ.get("EDGE_SCREEN_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edge-screen"


def _max_cache_bytes() -> int:
    env = os.environ.get("EDGE_SCREEN_CACHE_MAX_MB", "").strip()
    if env:
        try:
            return max(0, int(float(env) * (1 << 20)))
        except ValueError:
            log.warning("EDGE_SCREEN_CACHE_MAX_MB=%r is not a number; using %d MB", env, MAX_CACHE_BYTES >> 20)
    return MAX_CACHE_BYTES


def _member_path(name: str, zpath: Path) -> PurePosixPath:
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or "\\" in name or re.match(r"^[A-Za-z]:", name):
        raise BundleError(f"zip bundle {zpath}: member {name!r} would extract outside the bundle; refusing it")
    return pure


def _plan(zf: zipfile.ZipFile, zpath: Path) -> tuple[str, list[tuple[zipfile.ZipInfo, PurePosixPath]]]:
    """``(prefix, [(member, relative path)])``: what to extract, checked against the manifest."""
    infos = {i.filename: i for i in zf.infolist() if not i.is_dir()}
    candidates = [n for n in infos if PurePosixPath(n).name == MANIFEST and len(PurePosixPath(n).parts) <= 2]
    top = [n for n in candidates if n == MANIFEST]
    if not candidates:
        raise BundleError(f"zip bundle {zpath} holds no {MANIFEST} (at the top or in one folder)")
    if not top and len(candidates) > 1:
        raise BundleError(f"zip bundle {zpath} holds several folders with a {MANIFEST}: {sorted(candidates)}")
    mname = top[0] if top else candidates[0]
    prefix = mname[: -len(MANIFEST)]
    minfo = infos[mname]
    if minfo.file_size > MAX_MANIFEST_BYTES:
        raise BundleError(f"zip bundle {zpath}: {MANIFEST} declares {minfo.file_size:,} bytes, more than "
                          f"{MAX_MANIFEST_BYTES:,}; refusing it")
    with zf.open(minfo) as fh:
        manifest = parse_manifest_text(fh.read(MAX_MANIFEST_BYTES + 1), f"{zpath}:{mname}")
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise BundleError(f"zip bundle {zpath}: {MANIFEST} has no 'files' object")
    wanted: list[tuple[zipfile.ZipInfo, PurePosixPath]] = [(minfo, PurePosixPath(MANIFEST))]
    if prefix + SIGNATURE in infos and infos[prefix + SIGNATURE].file_size <= 4096:
        wanted.append((infos[prefix + SIGNATURE], PurePosixPath(SIGNATURE)))
    for rel, meta in files.items():
        rel_path = _member_path(str(rel), zpath)
        info = infos.get(prefix + str(rel))
        if info is None:
            raise BundleError(f"zip bundle {zpath}: file {rel!r} listed in {MANIFEST} is not in the zip")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise BundleError(f"zip bundle {zpath}: member {info.filename!r} is a symlink; bundles may hold plain files only")
        declared = meta.get("size") if isinstance(meta, dict) else None
        if info.file_size != declared:
            raise BundleError(f"zip bundle {zpath}: member {info.filename!r} is {info.file_size:,} bytes in the zip "
                              f"but {declared!r} in {MANIFEST}; the archive was altered")
        wanted.append((info, rel_path))
    total = sum(i.file_size for i, _ in wanted)
    if total > MAX_ZIP_BYTES:
        raise BundleError(f"zip bundle {zpath} would expand to {total:,} bytes, more than {MAX_ZIP_BYTES:,}; refusing it")
    skipped = len(infos) - len(wanted)
    if skipped:
        log.info("zip bundle %s: %d member(s) not listed in the manifest were not extracted", zpath, skipped)
    return prefix, wanted


def _copy_bounded(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, zpath: Path) -> None:
    left = info.file_size
    with zf.open(info) as src, open(target, "wb") as dst:
        while chunk := src.read(min(_CHUNK, left + 1)):
            left -= len(chunk)
            if left < 0:
                raise BundleError(f"zip bundle {zpath}: member {info.filename!r} holds more data than it declares; refusing it")
            dst.write(chunk)
    if left:
        raise BundleError(f"zip bundle {zpath}: member {info.filename!r} is shorter than it declares")


def extract_zip(zpath: Path) -> Path:
    """Extract a zip bundle once into the cache (see module docs) and return the folder holding its manifest."""
    digest = sha256_file(zpath)
    bundles = cache_root() / "bundles"
    dest = bundles / digest[:16]
    if (dest / ".complete").is_file():
        os.utime(dest / ".complete")  # most recently used
        return dest
    try:
        zf = zipfile.ZipFile(zpath)
    except zipfile.BadZipFile as exc:
        raise BundleError(f"zip bundle {zpath} is corrupt: {exc}") from exc
    with zf:
        _, wanted = _plan(zf, zpath)
        need = sum(i.file_size for i, _ in wanted)
        bundles.mkdir(parents=True, exist_ok=True)
        _prune(bundles, keep=dest, incoming=need)
        free = shutil.disk_usage(bundles).free
        if need + (64 << 20) > free:
            raise BundleError(f"not enough disk space to extract zip bundle {zpath}: it needs {need >> 20} MB, "
                              f"{free >> 20} MB are free in {bundles}")
        tmp = Path(tempfile.mkdtemp(prefix=f".{digest[:16]}-", dir=bundles))
        try:
            for info, rel in wanted:
                target = tmp.joinpath(*rel.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                _copy_bounded(zf, info, target, zpath)
            (tmp / ".complete").write_text(digest)
            if dest.exists() and not (dest / ".complete").is_file():
                shutil.rmtree(dest)  # left over from an interrupted extraction
            try:
                os.replace(tmp, dest)
            except OSError:
                if not (dest / ".complete").is_file():  # another process extracted the same zip concurrently
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
        except zipfile.BadZipFile as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise BundleError(f"zip bundle {zpath} is corrupt: {exc}") from exc
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    log.info("extracted zip bundle %s to %s", zpath, dest)
    return dest


def _folder_bytes(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file() and not f.is_symlink())


def _prune(bundles: Path, *, keep: Path, incoming: int = 0) -> None:
    """Drop the least recently used extractions until the cache (plus ``incoming``) fits its bound;
    remove temporary folders of extractions that died more than an hour ago."""
    now = time.time()
    entries = []
    for p in bundles.iterdir():
        if not p.is_dir() or p == keep:
            continue
        if p.name.startswith("."):
            if now - p.stat().st_mtime > _STALE_TMP_S:
                shutil.rmtree(p, ignore_errors=True)
            continue
        done = p / ".complete"
        used = done.stat().st_mtime if done.is_file() else 0.0
        entries.append((used, p, _folder_bytes(p)))
    budget = _max_cache_bytes() - incoming
    total = sum(size for _, _, size in entries)
    for _, p, size in sorted(entries, key=lambda e: e[0]):
        if total <= budget:
            break
        shutil.rmtree(p, ignore_errors=True)
        total -= size
        log.info("bundle cache: removed %s (%d MB, least recently used)", p, size >> 20)
