"""Visit records: a local SQLite database (WAL) plus a content-addressed image store.

No Qt here, so the data model is tested headless. Layout of a store folder::

    <root>/records.sqlite3            the database (journal_mode=WAL, synchronous=FULL)
    <root>/images/ab/<sha256>.<ext>   the screened image, bytes exactly as received
    <root>/images/cd/<sha256>.png     the heatmap (uint8 PNG, 0..255 = 0..1) when there is one

Why this order survives a power cut: the image files are written first (temp file, fsync, atomic
rename) and the database row is inserted afterwards in one transaction. A crash before the commit
leaves at most an orphan image file (harmless: it is content-addressed and re-used) or a ``.tmp-``
file (removed at the next start); a crash after it leaves a complete record. Rows are never
deleted; a correction (eye, operator) updates the row and appends to ``corrections`` in one
transaction, so the trail shows what changed, when and by whom.

A store that cannot be written (read-only folder or medium, full disk at start, database made by
a newer version) opens read-only: the history stays readable and saving says why it cannot.

Patient identifiers are data, never log text: log lines name the record id only.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from edge_screen.errors import EdgeScreenError, UsageError
from edge_screen.gui.blobs import blob_path, put_blob, remove_orphan_temp_files
from edge_screen.gui.csv_export import write_csv

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
EYES = ("OD", "OS")
VERDICTS = ("abnormal", "normal", "ungradable")
CORRECTABLE = ("eye", "operator")

_SCHEMA_V1 = """
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
# v2: the patient visit an image belongs to, "no ID" confirmed by the technician, the correction trail
_MIGRATE_V2 = """
ALTER TABLE visits ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
ALTER TABLE visits ADD COLUMN no_id INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS visits_session ON visits (session_id);
CREATE TABLE IF NOT EXISTS corrections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    visit_id TEXT NOT NULL REFERENCES visits (visit_id),
    time_utc TEXT NOT NULL,
    field TEXT NOT NULL CHECK (field IN ('eye', 'operator')),
    old TEXT NOT NULL,
    new TEXT NOT NULL,
    by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS corrections_visit ON corrections (visit_id);
"""


class StoreError(EdgeScreenError):
    """The record store cannot be opened or written.

    ``reason``: ``"disk_full"``, ``"read_only"``, ``"damaged"`` (unreadable database or stored
    file), ``"newer_version"`` or ``"other"``, so the app can word it for a technician.
    """

    def __init__(self, message: str, *, reason: str = "other") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class VisitRecord:
    """One screened image of one eye (a row of ``visits``); ``session_id`` groups a patient visit."""

    visit_id: str
    patient_id: str             # "" only when no_id (the technician confirmed there was none)
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
    session_id: str = ""        # the patient visit (gui.visit.Visit.id); "" for records before schema 2
    no_id: bool = False


@dataclass(frozen=True)
class CorrectionRecord:
    """One entry of the correction trail."""

    visit_id: str
    time_utc: str
    field: str
    old: str
    new: str
    by: str


CSV_COLUMNS = tuple(f.name for f in fields(VisitRecord))
_COLS = ", ".join(CSV_COLUMNS)


def _reason_of(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        if exc.errno == errno.ENOSPC:
            return "disk_full"
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return "read_only"
        return "other"
    text = str(exc).lower()
    if "full" in text:
        return "disk_full"
    if "readonly" in text or "read-only" in text or "read only" in text or "unable to open" in text:
        return "read_only"
    if "malformed" in text or "not a database" in text:
        return "damaged"
    return "other"


_HINTS = {
    "disk_full": "the disk is full: free some space (or choose another records folder in Settings), then press Retry save",
    "read_only": "the folder is read-only: choose a writable records folder in Settings, then press Retry save",
    "damaged": "the records database is damaged: choose another records folder in Settings and ask for the "
               "damaged one to be checked",
}


def explain(exc: BaseException, what: str, path: Path) -> StoreError:
    """Turn an OSError / sqlite3.Error into a StoreError whose message says what happened and the fix."""
    reason = _reason_of(exc)
    if reason == "other":   # SQLite reports a full disk while opening as a plain "disk I/O error"
        try:
            if shutil.disk_usage(path if path.is_dir() else path.parent).free < 1 << 20:
                reason = "disk_full"
        except OSError:
            pass
    hint = _HINTS.get(reason, "check the records folder in Settings, then press Retry save")
    detail = (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)
    code = f" (errno {exc.errno})" if isinstance(exc, OSError) and exc.errno else ""
    return StoreError(f"Could not {what} at {path}: {detail}{code}; {hint}. "
                      "The result is kept in the app until it is saved.", reason=reason)


class RecordStore:
    """The visit database and image store under one folder.

    Args:
        root: folder for ``records.sqlite3`` and ``images/``; created when missing.
        read_only: open without writing anything (also chosen automatically when writing fails
            and a database is there to read); see :attr:`read_only_reason`.

    Raises:
        StoreError: there is no readable database and none can be created.
    """

    def __init__(self, root: str | os.PathLike, *, read_only: bool = False) -> None:
        self.root = Path(root)
        self.images = self.root / "images"
        self.db_path = self.root / "records.sqlite3"
        self.read_only = False
        self.read_only_reason: StoreError | None = None
        self.removed_temp_files = 0
        # Test hook: called inside the insert transaction, before COMMIT (crash tests pause here).
        self._before_commit: Callable[[], None] | None = None
        self._lock = threading.RLock()   # one connection shared by the GUI thread and save workers
        if read_only:
            self._open_read_only(StoreError("opened read-only on request", reason="read_only"))
            return
        try:
            self._open_writable()
        except (OSError, sqlite3.Error, StoreError) as exc:
            err = exc if isinstance(exc, StoreError) else explain(exc, "open the records folder", self.root)
            if not self.db_path.is_file():
                raise err from exc
            log.warning("records folder opened read-only: %s", err.reason)
            self._open_read_only(err)

    # -- opening -----------------------------------------------------------------------------
    def _open_writable(self) -> None:
        self.images.mkdir(parents=True, exist_ok=True)
        for path in (self.root, self.images, self.db_path):
            # SQLite silently opens a file it cannot write read-only; access() also sees a read-only mount
            if path.exists() and not os.access(path, os.W_OK):
                raise OSError(errno.EACCES, "no write permission (or a read-only medium)", str(path))
        conn = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise StoreError(f"The records database {self.db_path} was made by a newer version of edge-screen "
                                 f"(schema {version}, this one knows {SCHEMA_VERSION}): update edge-screen.",
                                 reason="newer_version")
            # write only what is missing, so that an up-to-date store opens without writing
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            if version < SCHEMA_VERSION:
                conn.execute("BEGIN IMMEDIATE")   # (executescript would commit on its own)
                try:
                    for stmt in filter(str.strip, ((_SCHEMA_V1 if version < 1 else "") + _MIGRATE_V2).split(";")):
                        conn.execute(stmt)
                    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                if version:
                    log.info("records database migrated from schema %d to %d", version, SCHEMA_VERSION)
            # probe: a full disk or read-only medium must show now, not at the first save
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self.removed_temp_files = remove_orphan_temp_files(self.images)

    def _open_read_only(self, why: StoreError) -> None:
        if not self.db_path.is_file():
            raise why
        uri = self.db_path.resolve().as_uri()
        last: sqlite3.Error | None = None
        # mode=ro needs the WAL index (-shm) to be creatable; immutable=1 reads a frozen medium
        for query in ("?mode=ro", "?mode=ro&immutable=1"):
            conn = None
            try:
                conn = sqlite3.connect(uri + query, uri=True, isolation_level=None, check_same_thread=False)
                version = int(conn.execute("PRAGMA user_version").fetchone()[0])
                conn.execute("SELECT COUNT(*) FROM visits").fetchone()
            except sqlite3.Error as exc:
                last = exc
                if conn is not None:
                    conn.close()
                continue
            self._conn, self._version = conn, version
            self.read_only, self.read_only_reason = True, why
            return
        raise explain(last or sqlite3.Error("unknown"), "read the records database", self.db_path)

    @property
    def _columns(self) -> str:
        # a read-only store of schema 1 lacks the v2 columns: read them as their defaults
        if getattr(self, "_version", SCHEMA_VERSION) >= 2:
            return _COLS
        return _COLS.replace("session_id", "'' AS session_id").replace("no_id", "0 AS no_id")

    def _check_writable(self) -> None:
        if self.read_only:
            why = self.read_only_reason
            raise StoreError(f"The records folder {self.root} is open read-only ({why}); nothing can be saved "
                             "until a writable records folder is chosen in Settings.",
                             reason=why.reason if why is not None else "read_only")

    # -- images ------------------------------------------------------------------------------
    def blob_path(self, sha256: str, ext: str) -> Path:
        """Path of a stored blob: ``images/<first 2 hex>/<sha256><ext>``."""
        return blob_path(self.images, sha256, ext)

    def put_blob(self, data: bytes, ext: str) -> str:
        """Store bytes content-addressed (temp file + fsync + rename); returns the SHA-256 hex.

        Raises:
            StoreError: disk full, read-only folder or another OS error; no partial file is left.
        """
        self._check_writable()
        try:
            return put_blob(self.images, data, ext)
        except OSError as exc:
            raise explain(exc, "write the image", self.images) from exc

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
                  heatmap_png: bytes | None = None, time_utc: str | None = None, session_id: str = "",
                  no_id: bool = False) -> VisitRecord:
        """Store the image (and heatmap), then insert the record row in one transaction.

        Args:
            patient_id: the clinic's patient identifier (never logged); may be empty only with ``no_id``.
            eye: "OD" or "OS".
            image: the image file bytes exactly as screened (JPEG/PNG/...).
            image_ext: file extension with the dot, e.g. ".jpg".
            heatmap_png: the heatmap as a PNG (uint8 grey), or None.
            session_id: the patient visit the image belongs to (both eyes share it).
            no_id: the technician confirmed the patient has no ID.

        Raises:
            UsageError: empty patient id without ``no_id``, unknown eye or verdict.
            StoreError: the write failed (disk full, read-only); earlier records are untouched.
        """
        if not patient_id.strip() and not no_id:
            raise UsageError("Patient ID is empty: enter the patient ID before saving the visit.")
        if eye not in EYES:
            raise UsageError(f"Eye {eye!r} is not valid: use one of {', '.join(EYES)}.")
        if verdict not in VERDICTS:
            raise UsageError(f"Verdict {verdict!r} is not valid: use one of {', '.join(VERDICTS)}.")
        self._check_writable()
        ext = (image_ext if image_ext.startswith(".") else f".{image_ext}").lower()
        image_sha = self.put_blob(image, ext)
        heat_sha = None if heatmap_png is None else self.put_blob(heatmap_png, ".png")
        record = VisitRecord(
            visit_id=uuid.uuid4().hex, patient_id=patient_id.strip(), eye=eye,
            time_utc=time_utc or datetime.now(timezone.utc).isoformat(timespec="seconds"),
            image_sha256=image_sha, image_ext=ext, heatmap_sha256=heat_sha, verdict=verdict,
            probability=None if probability is None else float(probability),
            threshold=None if threshold is None else float(threshold),
            quality_reasons=",".join(quality_reasons), bundle_id=bundle_id, bundle_version=bundle_version,
            backend=backend, operator=operator, source=source, session_id=session_id, no_id=bool(no_id))
        row = asdict(record)
        row["no_id"] = int(row["no_id"])
        marks = ", ".join("?" for _ in row)
        self._write(f"INSERT INTO visits ({', '.join(row)}) VALUES ({marks})", tuple(row.values()))
        log.info("saved record %s (verdict %s)", record.visit_id, record.verdict)
        return record

    def _write(self, sql: str, args: tuple, *more: tuple[str, tuple]) -> None:
        try:
            with self._lock:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.execute(sql, args)
                    for s, a in more:
                        self._conn.execute(s, a)
                    if self._before_commit is not None:
                        self._before_commit()
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise explain(exc, "save the record", self.db_path) from exc

    def correct(self, visit_id: str, field: str, new: str, *, by: str = "", time_utc: str | None = None) -> VisitRecord:
        """Change a record's ``eye`` or ``operator`` and append the change to the correction trail.

        Raises:
            UsageError: unknown field, invalid eye, or no such record.
            StoreError: the write failed; the record and its trail are unchanged.
        """
        if field not in CORRECTABLE:
            raise UsageError(f"Field {field!r} cannot be corrected: use one of {', '.join(CORRECTABLE)}.")
        if field == "eye" and new not in EYES:
            raise UsageError(f"Eye {new!r} is not valid: use one of {', '.join(EYES)}.")
        self._check_writable()
        old = getattr(self.get(visit_id), field)
        if old == new:
            return self.get(visit_id)
        when = time_utc or datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._write(f"UPDATE visits SET {field} = ? WHERE visit_id = ?", (new, visit_id),
                    ("INSERT INTO corrections (visit_id, time_utc, field, old, new, by) VALUES (?, ?, ?, ?, ?, ?)",
                     (visit_id, when, field, old, new, by)))
        log.info("corrected %s of record %s", field, visit_id)
        return self.get(visit_id)

    def corrections(self, visit_id: str) -> list[CorrectionRecord]:
        """The correction trail of one record, oldest first."""
        if getattr(self, "_version", SCHEMA_VERSION) < 2:
            return []
        with self._lock:
            rows = self._conn.execute("SELECT visit_id, time_utc, field, old, new, by FROM corrections "
                                      "WHERE visit_id = ? ORDER BY id", (visit_id,)).fetchall()
        return [CorrectionRecord(*r) for r in rows]

    @staticmethod
    def _record(row: tuple) -> VisitRecord:
        values = list(row)
        values[-1] = bool(values[-1])
        return VisitRecord(*values)

    def get(self, visit_id: str) -> VisitRecord:
        """One record by id. Raises UsageError when there is none."""
        with self._lock:
            row = self._conn.execute(f"SELECT {self._columns} FROM visits WHERE visit_id = ?", (visit_id,)).fetchone()
        if row is None:
            raise UsageError(f"No visit with id {visit_id!r} in {self.db_path}.")
        return self._record(row)

    def session(self, record: VisitRecord) -> list[VisitRecord]:
        """The records of the patient visit ``record`` belongs to (itself alone for old records), oldest first."""
        if not record.session_id:
            return [record]
        with self._lock:
            rows = self._conn.execute(f"SELECT {self._columns} FROM visits WHERE session_id = ? "
                                      "ORDER BY time_utc, rowid", (record.session_id,)).fetchall()
        return [self._record(r) for r in rows]

    def search(self, text: str = "", *, limit: int = 1000) -> list[VisitRecord]:
        """Records whose patient id, verdict, eye, operator or date contains ``text``; newest first."""
        sql = f"SELECT {self._columns} FROM visits"
        args: tuple = ()
        if text.strip():
            like = f"%{text.strip()}%"
            sql += (" WHERE patient_id LIKE ? OR verdict LIKE ? OR eye LIKE ? OR operator LIKE ?"
                    " OR time_utc LIKE ? OR visit_id LIKE ?")
            args = (like,) * 6
        sql += " ORDER BY time_utc DESC, rowid DESC LIMIT ?"
        with self._lock:
            return [self._record(r) for r in self._conn.execute(sql, args + (int(limit),))]

    def count(self) -> int:
        """Number of records."""
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM visits").fetchone()[0])

    def integrity_ok(self) -> bool:
        """True when SQLite's integrity check passes."""
        with self._lock:
            return self._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    def export_csv(self, path: str | os.PathLike, records: Iterable[VisitRecord] | None = None) -> Path:
        """Write records (default: all) as UTF-8 CSV with a header row of :data:`CSV_COLUMNS`.

        Text cells that a spreadsheet would run as a formula are neutralised (see :mod:`csv_export`).
        """
        out = Path(path)
        rows = self.search(limit=10**9) if records is None else list(records)
        try:
            write_csv(out, CSV_COLUMNS, ([getattr(r, c) for c in CSV_COLUMNS] for r in rows))
        except OSError as exc:
            raise explain(exc, "write the CSV file", out) from exc
        log.info("exported %d records to CSV", len(rows))
        return out

    def close(self) -> None:
        """Close the database (checkpoints the WAL)."""
        with self._lock:
            self._conn.close()

