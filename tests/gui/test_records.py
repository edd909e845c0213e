"""Records: SQLite WAL + content-addressed image store (headless, no Qt)."""

from __future__ import annotations

import csv
import errno
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edge_screen.errors import UsageError
from edge_screen.gui.records import CSV_COLUMNS, RecordStore, StoreError

pytestmark = pytest.mark.gui


def _add(store: RecordStore, i: int, **kw):
    args = dict(patient_id=f"P{i:04d}", eye="OD" if i % 2 else "OS", image=f"image-{i}".encode() * 100,
                image_ext=".jpg", verdict=("abnormal", "normal", "ungradable")[i % 3],
                probability=None if i % 3 == 2 else i / 100, threshold=0.31, bundle_id="tiny@1.0.0:abc",
                bundle_version="1.0.0", backend="onnxruntime", operator="tech1", source="file",
                heatmap_png=b"\x89PNG-heat" + bytes([i]))
    args.update(kw)
    return store.add_visit(**args)


def test_add_get_search_and_image_store(tmp_path: Path) -> None:
    store = RecordStore(tmp_path / "rec")
    recs = [_add(store, i) for i in range(6)]
    assert store.count() == 6
    got = store.get(recs[1].visit_id)
    assert got == recs[1]
    # content-addressed: the file name is the SHA-256 of the bytes, and the bytes are unchanged
    data = store.image_path(got).read_bytes()
    assert hashlib.sha256(data).hexdigest() == got.image_sha256 == store.image_path(got).stem
    assert data == b"image-1" * 100
    assert store.heatmap_path(got).read_bytes() == b"\x89PNG-heat\x01"
    # search by patient id, verdict and eye
    assert [r.patient_id for r in store.search("P0003")] == ["P0003"]
    assert {r.verdict for r in store.search("abnormal")} == {"abnormal"}
    assert len(store.search("")) == 6
    assert store.search("nobody") == []
    # WAL is on
    assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
    # reopening keeps everything
    again = RecordStore(tmp_path / "rec")
    assert again.get(recs[4].visit_id) == recs[4]
    assert again.integrity_ok()


def test_same_image_twice_stored_once(tmp_path: Path) -> None:
    store = RecordStore(tmp_path)
    a = _add(store, 1)
    b = _add(store, 1, eye="OS")
    assert a.image_sha256 == b.image_sha256 and a.visit_id != b.visit_id
    assert len(list((tmp_path / "images").rglob("*.jpg"))) == 1


@pytest.mark.parametrize("bad", [dict(patient_id="  "), dict(eye="left"), dict(verdict="maybe")])
def test_invalid_visit_rejected(tmp_path: Path, bad: dict) -> None:
    store = RecordStore(tmp_path)
    with pytest.raises(UsageError):
        _add(store, 1, **bad)
    assert store.count() == 0


def test_csv_export(tmp_path: Path) -> None:
    store = RecordStore(tmp_path / "rec")
    recs = [_add(store, i) for i in range(3)]
    out = store.export_csv(tmp_path / "visits.csv")
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert {r["visit_id"] for r in rows} == {r.visit_id for r in recs}
    ungradable = next(r for r in rows if r["verdict"] == "ungradable")
    assert ungradable["probability"] == ""


def test_disk_full_at_write_is_clear_and_loses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = RecordStore(tmp_path / "rec")
    first = _add(store, 1)
    real_fdopen = os.fdopen

    class _FullFile:
        def __init__(self, fh):
            self._fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._fh.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: _FullFile(real_fdopen(fd, *a, **k)))
    with pytest.raises(StoreError, match="disk is full") as info:
        _add(store, 2)
    assert "Retry save" in str(info.value)
    monkeypatch.undo()
    # nothing half-written: no temp files, no row, earlier record intact
    assert not list((tmp_path / "rec" / "images").rglob(".tmp-*"))
    assert store.count() == 1 and store.get(first.visit_id) == first
    # once space is back the same visit saves
    second = _add(store, 2)
    assert store.count() == 2 and store.image_path(second).read_bytes() == b"image-2" * 100


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_store_is_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    store = RecordStore(root)
    first = _add(store, 1)
    store.close()
    os.chmod(root / "images", 0o555)
    for sub in (root / "images").iterdir():
        os.chmod(sub, 0o555)
    try:
        store = RecordStore(root)
        with pytest.raises(StoreError, match="read-only"):
            _add(store, 2)
        assert store.get(first.visit_id) == first and store.count() == 1
    finally:
        for sub in (root / "images").iterdir():
            os.chmod(sub, 0o755)
        os.chmod(root / "images", 0o755)


def test_read_only_store_via_eacces_injection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same as above but works as root too: the OS refuses the temp file with EROFS."""
    import tempfile

    store = RecordStore(tmp_path / "rec")
    first = _add(store, 1)

    def refuse(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(StoreError, match="read-only"):
        _add(store, 2)
    monkeypatch.undo()
    assert store.count() == 1 and store.get(first.visit_id) == first


_CHILD = textwrap.dedent("""
    import sys, time
    from edge_screen.gui.records import RecordStore
    store = RecordStore(sys.argv[1])
    for i in range(5):
        store.add_visit(patient_id=f"P{i}", eye="OD", image=f"img{i}".encode(), image_ext=".jpg",
                        verdict="normal", probability=0.1, threshold=0.3, bundle_id="b", bundle_version="1",
                        backend="onnxruntime")
    def pause():
        print("IN-TRANSACTION", flush=True)
        time.sleep(60)
    store._before_commit = pause
    store.add_visit(patient_id="P-killed", eye="OS", image=b"killed", image_ext=".jpg", verdict="abnormal",
                    probability=0.9, threshold=0.3, bundle_id="b", bundle_version="1", backend="onnxruntime")
""")


def test_sigkill_mid_transaction_keeps_db_consistent(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(root)], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "IN-TRANSACTION"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    store = RecordStore(root)
    assert store.integrity_ok()
    recs = store.search()
    assert sorted(r.patient_id for r in recs) == [f"P{i}" for i in range(5)]
    for r in recs:
        assert hashlib.sha256(store.image_path(r).read_bytes()).hexdigest() == r.image_sha256
    # the store still takes new visits after the crash
    _add(store, 9)
    assert store.count() == 6
