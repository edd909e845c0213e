"""Content-addressed files: ``<root>/<first 2 hex>/<sha256><ext>``, written so a crash leaves no partial file.

Each file is written to a ``.tmp-`` file in the same folder, flushed and fsynced, then renamed over
its final name (atomic on POSIX and NTFS). A crash between the two leaves the ``.tmp-`` file, which
:func:`remove_orphan_temp_files` deletes at the next start.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

TEMP_PREFIX = ".tmp-"
#: A temporary file older than this is an orphan of a crash, not a write in progress.
ORPHAN_AGE_S = 60.0


def blob_path(root: Path, sha256: str, ext: str) -> Path:
    """Where the blob with this digest and extension lives."""
    return root / sha256[:2] / f"{sha256}{ext}"


def put_blob(root: Path, data: bytes, ext: str) -> str:
    """Store ``data`` under its SHA-256 (temp file + fsync + rename); returns the hex digest.

    Raises:
        OSError: disk full, read-only folder, ...; no partial or temporary file is left behind.
    """
    digest = hashlib.sha256(data).hexdigest()
    path = blob_path(root, digest, ext)
    if path.is_file() and path.stat().st_size == len(data):
        return digest
    tmp_name: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=ext, dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
        tmp_name = None
    finally:
        if tmp_name is not None:
            Path(tmp_name).unlink(missing_ok=True)
    return digest


def remove_orphan_temp_files(root: Path, *, older_than_s: float = ORPHAN_AGE_S) -> int:
    """Delete ``.tmp-`` files left by a crash (older than ``older_than_s``); returns how many."""
    if not root.is_dir():
        return 0
    now = time.time()
    removed = 0
    for tmp in root.glob(f"*/{TEMP_PREFIX}*"):
        try:
            if now - tmp.stat().st_mtime >= older_than_s:
                tmp.unlink()
                removed += 1
        except OSError as exc:   # read-only, or gone meanwhile: leave it, the store still works
            log.debug("could not remove a temporary file: %s", exc.strerror or exc)
    if removed:
        log.info("removed %d temporary file(s) left by an earlier crash", removed)
    return removed
