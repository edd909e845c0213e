"""Visit records: a local SQLite database (WAL) plus a content-addressed image store.

No Qt here, so the data model is tested headless. Layout of a store folder::

    <root>/records.sqlite3            the database (journal_mode=WAL, synchronous=FULL)
    <root>/images/ab/<sha256>.<ext>   the screened image, bytes exactly as received
    <root>/images/cd/<sha256>.png     the heatmap (uint8 PNG, 0..255 = 0..1) when there is one

Why this order survives a power cut: the image files are written first (temp file, fsync, atomic
rename) and the database row is inserted afterwards in one transaction. A crash before the commit
leaves at most an orphan image file (harmless: it is content-addressed and re-used); a crash after it
leaves a complete record. Earlier rows are never rewritten.

Patient identifiers are data, never log text: log lines name the visit id only.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import logging
import os
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from edge_screen.errors import EdgeScreenError, UsageError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
EYES = ("OD", "OS")
VERDICTS = ("abnormal", "normal", "ungradable")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS visits (
    visit_id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL,
    eye TEXT NOT NULL CHECK (eye IN ('OD', 'OS')),
    time_utc TEXT NOT NULL,
    image_sha256 TEXT NOT NULL,
    image_ext TEXT NOT NULL,
    heatmap_sha256 TEXT,
    verdict TEXT NOT NULL CHECK (verdict IN ('abnormal', 'normal', 'ungradable')),
    probability REAL,
    threshold REAL,
    quality_reasons TEXT NOT NULL DEFAULT '',
    bundle_id TEXT NOT NULL,
    bundle_version TEXT NOT NULL,
    backend TEXT NOT NULL,
    operator TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS visits_patient ON visits (patient_id);
CREATE INDEX IF NOT EXISTS visits_time ON visits (time_utc);
"""


class StoreError(EdgeScreenError):
    """The record store cannot be opened or written (read-only folder, disk full, corrupt database)."""


@dataclass(frozen=True)
class VisitRecord:
    """One screened image of one eye at one visit (a row of ``visits``)."""

    visit_id: str
    patient_id: str
    eye: str                    # "OD" (right) | "OS" (left)
    time_utc: str               # ISO 8601, UTC, seconds
    image_sha256: str
    image_ext: str              # ".jpg", ".png", ...
    heatmap_sha256: str | None
    verdict: str                # "abnormal" | "normal" | "ungradable"
    probability: float | None   # P(abnormal), 0..1; None when not graded
    threshold: float | None
    quality_reasons: str        # comma-separated quality reason codes
    bundle_id: str
    bundle_version: str
    backend: str
    operator: str
    source: str                 # "file", "camera", "watch", "dicom", "dicom-scp"


CSV_COLUMNS = tuple(f.name for f in fields(VisitRecord))


def _explain_os_error(exc: OSError, what: str, path: Path) -> StoreError:
    """Turn an OSError into a StoreError whose message says what happened and the fix."""
    if exc.errno == errno.ENOSPC:
        hint = "the disk is full: free some space (or choose another records folder in Settings), then press Retry save"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = "the folder is read-only: choose a writable records folder in Settings, then press Retry save"
    else:
        hint = "check the records folder in Settings, then press Retry save"
    return StoreError(f"Could not {what} at {path}: {exc.strerror or exc} (errno {exc.errno}); {hint}. "
                      "The result is kept in the app until it is saved.")


class RecordStore:
    """The visit database and image store under one folder.

    Args:
        root: folder for ``records.sqlite3`` and ``images/``; created when missing.

    Raises:
        StoreError: the folder cannot be created or the database cannot be opened.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.images = self.root / "images"
        self.db_path = self.root / "records.sqlite3"
        # Test hook: called inside the insert transaction, before COMMIT (crash tests pause here).
        self._before_commit: Callable[[], None] | None = None
        self._lock = threading.RLock()   # one connection shared by the GUI thread and save workers
        try:
            self.images.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.executescript(_SCHEMA)
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except OSError as exc:
            raise _explain_os_error(exc, "open the records folder", self.root) from exc
        except sqlite3.Error as exc:
            raise StoreError(f"Could not open the records database {self.db_path}: {exc}; "
                             "choose a writable records folder in Settings.") from exc

    # -- images ------------------------------------------------------------------------------
    def blob_path(self, sha256: str, ext: str) -> Path:
        """Path of a stored blob: ``images/<first 2 hex>/<sha256><ext>``."""
        return self.images / sha256[:2] / f"{sha256}{ext}"

    def put_blob(self, data: bytes, ext: str) -> str:
        """Store bytes content-addressed (temp file + fsync + rename); returns the SHA-256 hex.

        Raises:
            StoreError: disk full, read-only folder or another OS error; no partial file is left.
        """
        digest = hashlib.sha256(data).hexdigest()
        path = self.blob_path(digest, ext)
        if path.is_file() and path.stat().st_size == len(data):
            return digest
        tmp_name: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=ext, dir=path.parent)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp_name, path)
            tmp_name = None
        except OSError as exc:
            raise _explain_os_error(exc, "write the image", path.parent) from exc
        finally:
            if tmp_name is not None:
                Path(tmp_name).unlink(missing_ok=True)
        return digest

    def image_path(self, record: VisitRecord) -> Path:
        """The stored image of a visit."""
        return self.blob_path(record.image_sha256, record.image_ext)

    def heatmap_path(self, record: VisitRecord) -> Path | None:
        """The stored heatmap PNG of a visit, or None when it has none."""
        return None if record.heatmap_sha256 is None else self.blob_path(record.heatmap_sha256, ".png")

    # -- visits ------------------------------------------------------------------------------
    def add_visit(self, *, patient_id: str, eye: str, image: bytes, image_ext: str, verdict: str,
                  probability: float | None, threshold: float | None, bundle_id: str, bundle_version: str,
                  backend: str, operator: str = "", source: str = "", quality_reasons: Iterable[str] = (),
                  heatmap_png: bytes | None = None, time_utc: str | None = None) -> VisitRecord:
        """Store the image (and heatmap), then insert the visit row in one transaction.

        Args:
            patient_id: the clinic's patient identifier (non-empty; never logged).
            eye: "OD" or "OS".
            image: the image file bytes exactly as screened (JPEG/PNG/...).
            image_ext: file extension with the dot, e.g. ".jpg".
            heatmap_png: the heatmap as a PNG (uint8 grey), or None.

        Raises:
            UsageError: empty patient id, unknown eye or verdict.
            StoreError: the write failed (disk full, read-only); earlier records are untouched.
        """
        if not patient_id.strip():
            raise UsageError("Patient ID is empty: enter the patient ID before saving the visit.")
        if eye not in EYES:
            raise UsageError(f"Eye {eye!r} is not valid: use one of {', '.join(EYES)}.")
        if verdict not in VERDICTS:
            raise UsageError(f"Verdict {verdict!r} is not valid: use one of {', '.join(VERDICTS)}.")
        ext = image_ext if image_ext.startswith(".") else f".{image_ext}"
        image_sha = self.put_blob(image, ext.lower())
        heat_sha = None if heatmap_png is None else self.put_blob(heatmap_png, ".png")
        record = VisitRecord(
            visit_id=uuid.uuid4().hex, patient_id=patient_id.strip(), eye=eye,
            time_utc=time_utc or datetime.now(timezone.utc).isoformat(timespec="seconds"),
            image_sha256=image_sha, image_ext=ext.lower(), heatmap_sha256=heat_sha, verdict=verdict,
            probability=None if probability is None else float(probability),
            threshold=None if threshold is None else float(threshold),
            quality_reasons=",".join(quality_reasons), bundle_id=bundle_id, bundle_version=bundle_version,
            backend=backend, operator=operator, source=source)
        row = asdict(record)
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        try:
            with self._lock:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.execute(f"INSERT INTO visits ({cols}) VALUES ({marks})", tuple(row.values()))
                    if self._before_commit is not None:
                        self._before_commit()
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
        except sqlite3.OperationalError as exc:
            raise StoreError(f"Could not save the visit in {self.db_path}: {exc}; free disk space or choose a "
                             "writable records folder in Settings, then press Retry save. "
                             "The result is kept in the app until it is saved.") from exc
        log.info("saved visit %s (verdict %s)", record.visit_id, record.verdict)
        return record

    def get(self, visit_id: str) -> VisitRecord:
        """One visit by id. Raises UsageError when there is none."""
        with self._lock:
            cur = self._conn.execute(f"SELECT {', '.join(CSV_COLUMNS)} FROM visits WHERE visit_id = ?", (visit_id,))
            row = cur.fetchone()
        if row is None:
            raise UsageError(f"No visit with id {visit_id!r} in {self.db_path}.")
        return VisitRecord(*row)

    def search(self, text: str = "", *, limit: int = 1000) -> list[VisitRecord]:
        """Visits whose patient id, verdict, eye, operator or date contains ``text``; newest first."""
        sql = f"SELECT {', '.join(CSV_COLUMNS)} FROM visits"
        args: tuple = ()
        if text.strip():
            like = f"%{text.strip()}%"
            sql += (" WHERE patient_id LIKE ? OR verdict LIKE ? OR eye LIKE ? OR operator LIKE ?"
                    " OR time_utc LIKE ? OR visit_id LIKE ?")
            args = (like,) * 6
        sql += " ORDER BY time_utc DESC, rowid DESC LIMIT ?"
        with self._lock:
            return [VisitRecord(*r) for r in self._conn.execute(sql, args + (int(limit),))]

    def count(self) -> int:
        """Number of visits."""
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM visits").fetchone()[0])

    def integrity_ok(self) -> bool:
        """True when SQLite's integrity check passes."""
        return self._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    def export_csv(self, path: str | os.PathLike, records: Iterable[VisitRecord] | None = None) -> Path:
        """Write visits (default: all) as UTF-8 CSV with a header row of :data:`CSV_COLUMNS`."""
        out = Path(path)
        rows = self.search(limit=10**9) if records is None else list(records)
        try:
            with out.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(CSV_COLUMNS)
                for rec in rows:
                    writer.writerow(["" if v is None else v for v in asdict(rec).values()])
        except OSError as exc:
            raise _explain_os_error(exc, "write the CSV file", out) from exc
        log.info("exported %d visits to CSV", len(rows))
        return out

    def close(self) -> None:
        """Close the database (checkpoints the WAL)."""
        with self._lock:
            self._conn.close()
