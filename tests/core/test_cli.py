"""The ``edge-screen`` command: screen, info, exit codes, plug-in discovery."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import cv2
import pytest

from edge_screen import cli
from edge_screen.synthetic import synthetic_fundus

TIMING_KEYS = {"decode", "fov", "quality", "preprocess", "total"}
JSON_KEYS = {"file", "verdict", "probability", "threshold", "quality", "heatmap", "backend", "bundle", "timings_ms",
             "batch", "decoded_size"}


def _write_rgb(path: Path, rgb) -> Path:  # noqa: ANN001
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="module")
def image_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """folder/ a.png, sub/b.jpg, sub/deeper/c.png (+ notes.txt that is not an image)."""
    root = tmp_path_factory.mktemp("images")
    _write_rgb(root / "a.png", synthetic_fundus(256, seed=1))
    _write_rgb(root / "sub" / "b.jpg", synthetic_fundus(256, seed=2, lesions=("exudates",)))
    _write_rgb(root / "sub" / "deeper" / "c.png", synthetic_fundus(256, seed=3, lesions=("haemorrhages",)))
    (root / "sub" / "notes.txt").write_text("not an image")
    return root


def _run_main(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse usage errors and --help
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_json_fields_and_directory_recursion(tiny_bundle: Path, image_tree: Path, tmp_path: Path, capsys) -> None:
    heat_dir = tmp_path / "heat"
    code, out, err = _run_main(
        ["screen", str(image_tree), "--bundle", str(tiny_bundle), "--json", "--heatmap-dir", str(heat_dir), "--threads", "1"],
        capsys,
    )
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [Path(r["file"]).relative_to(image_tree).as_posix() for r in rows] == ["a.png", "sub/b.jpg", "sub/deeper/c.png"]
    for r in rows:
        assert set(r) >= JSON_KEYS
        assert set(r["timings_ms"]) >= TIMING_KEYS
        assert r["bundle"].startswith("tiny@0.0.1:")
        assert r["threshold"] == 0.5 and r["verdict"] in {"normal", "abnormal", "ungradable"}
        assert isinstance(r["quality"]["ok"], bool)
        if r["verdict"] == "ungradable":
            assert r["probability"] is None and r["heatmap"] is None and r["batch"] is None
        else:
            # the model runs per batch: its time is the batch's, labelled as such, not a per-image figure
            assert r["batch"]["size"] >= 1 and 0 <= r["batch"]["index"] < r["batch"]["size"]
            assert r["batch"]["inference_ms"] > 0 and "inference" not in r["timings_ms"]
            assert r["timings_ms"]["overlay"] > 0
            assert 0.0 <= r["probability"] <= 1.0
            assert (r["verdict"] == "abnormal") == (r["probability"] >= r["threshold"])
            written = cv2.imread(r["heatmap"])
            # drawn over the decoded image: same aspect as the 256x256 original, possibly reduced,
            # with the colour legend strip below it (edge_screen.heatmap.with_legend)
            from edge_screen.heatmap import legend_height

            assert written is not None and written.shape[0] - legend_height(written.shape[1]) == written.shape[1] <= 256
    assert any(r["verdict"] != "ungradable" for r in rows)


def test_overlay_at_decoded_size_unless_full_size(tiny_bundle: Path, tmp_path: Path, capsys) -> None:
    """A large JPEG is decoded reduced; its overlay has the decoded size, or the stored one with --full-size."""
    big = _write_rgb(tmp_path / "in" / "big.jpg", synthetic_fundus(1200, seed=4, width=1600, height=1200))
    sizes = {}
    for flag in ([], ["--full-size"]):
        out_dir = tmp_path / ("full" if flag else "decoded")
        code, out, err = _run_main(["screen", str(big), "--bundle", str(tiny_bundle), "--json", "--threads", "1",
                                    "--heatmap-dir", str(out_dir), *flag], capsys)
        assert code == 0, err
        row = json.loads(out)
        assert row["verdict"] != "ungradable", row["quality"]
        sizes[bool(flag)] = cv2.imread(row["heatmap"]).shape[1::-1]
        assert row["original_size"] == [1600, 1200]
    from edge_screen.heatmap import legend_height  # the PNG carries a legend strip under the photo

    dw, dh = row["decoded_size"]
    assert sizes[False] == (dw, dh + legend_height(dw)) and dw < 1600  # reduced decode (64 px model)
    assert sizes[True] == (1600, 1200 + legend_height(1600))


def test_workers_do_not_change_results(tiny_bundle: Path, image_tree: Path, capsys) -> None:
    rows = {}
    for workers in ("0", "2"):
        code, out, err = _run_main(["screen", str(image_tree), "--bundle", str(tiny_bundle), "--json",
                                    "--batch-size", "2", "--workers", workers], capsys)
        assert code == 0, err
        rows[workers] = [(r["file"], r["verdict"], r["probability"]) for r in map(json.loads, out.splitlines())]
    assert rows["0"] == rows["2"] and len(rows["0"]) == 3


def test_text_output_and_backend_choice(tiny_bundle: Path, image_tree: Path, capsys) -> None:
    code, out, err = _run_main(["screen", str(image_tree / "a.png"), "--bundle", str(tiny_bundle), "--backend", "onnxruntime"], capsys)
    assert code == 0, err
    assert out.startswith(str(image_tree / "a.png")) and len(out.splitlines()) == 1
    assert "p=" in out or "ungradable" in out


def test_corrupt_file_exit_3_one_line_no_traceback(tiny_bundle: Path, image_tree: Path, tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    missing = tmp_path / "missing.png"
    res = subprocess.run(
        [sys.executable, "-m", "edge_screen", "screen", str(bad), str(image_tree / "a.png"), str(missing),
         "--bundle", str(tiny_bundle), "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert res.returncode == 3, res.stderr
    assert "Traceback" not in res.stderr
    err_lines = res.stderr.strip().splitlines()
    assert len(err_lines) == 2
    assert str(bad) in err_lines[0] and str(missing) in err_lines[1]
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["file"] for r in rows] == [str(image_tree / "a.png")]  # the good file was still screened


@pytest.mark.parametrize(
    "argv",
    [
        ["screen"],  # no paths
        ["screen", "x.png", "--threads", "0"],
        ["screen", "x.png", "--workers", "-1"],
        ["screen", "x.png", "--backend", "pytorch"],
        ["screen", "x.png", "--precision", "int4"],
        ["no-such-command"],
        [],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys) -> None:
    code, _, err = _run_main(argv, capsys)
    assert code == 2
    assert "Traceback" not in err


def test_bad_bundle_and_no_images_exit_2(tmp_path: Path, tiny_bundle: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = _run_main(["screen", str(tmp_path / "empty"), "--bundle", str(tiny_bundle)], capsys)
    assert code == 2 and "no images found" in err
    code, _, err = _run_main(["screen", str(tmp_path), "--bundle", str(tmp_path / "nope")], capsys)
    assert code == 2 and "bundle not found" in err and len(err.strip().splitlines()) == 1


def test_missing_bundle_tells_to_pass_bundle(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr("edge_screen.bundle.default_bundle_path", lambda: None)
    monkeypatch.setattr("edge_screen.screener.default_bundle_path", lambda: None)
    code, _, err = _run_main(["screen", str(tmp_path)], capsys)
    assert code == 2 and "--bundle" in err


def test_info_json(tiny_bundle: Path, capsys) -> None:
    code, out, _ = _run_main(["info", "--bundle", str(tiny_bundle), "--json"], capsys)
    assert code == 0
    info = json.loads(out)
    assert info["backends"]["onnxruntime"] is True
    assert info["bundle"]["id"].startswith("tiny@") and "onnxruntime/fp32" in info["bundle"]["models"]
    assert info["versions"]["onnxruntime"] == metadata.version("onnxruntime")
    assert {"screen", "info"} <= set(info["commands"])
    sel = info["selection"]  # the self-check of this machine and the model it chooses
    assert sel["backend"] in info["backends"] and sel["reason"] and {c["status"] for c in sel["checks"]} == {"reference"}
    assert set(sel["machine"]["isa"]) >= {"avx2", "avx512_vnni", "avx_vnni", "amx_int8"}
    code, out, _ = _run_main(["info", "--bundle", str(tiny_bundle)], capsys)
    assert code == 0 and "backends:" in out and "tiny@0.0.1" in out
    assert f"using {sel['backend']}/{sel['precision']}" in out and "self-check onnxruntime/fp32: reference" in out


def test_broken_plugin_does_not_break_help(monkeypatch, capsys) -> None:
    def fake_entry_points(group: str):  # noqa: ANN202
        assert group == cli.ENTRY_POINT_GROUP
        return [
            metadata.EntryPoint("needs-extra", "edge_screen_no_such_module.cli:register", group),
            metadata.EntryPoint("hello", "tests_hello_plugin:register", group),
        ]

    def register(sub) -> None:  # noqa: ANN001
        p = sub.add_parser("hello", help="say hello")
        p.set_defaults(func=lambda args: 0)

    import types

    monkeypatch.setitem(sys.modules, "tests_hello_plugin", types.SimpleNamespace(register=register))
    monkeypatch.setattr(metadata, "entry_points", fake_entry_points)
    code, out, err = _run_main(["--help"], capsys)
    assert code == 0
    assert "hello" in out and "needs-extra" not in out and "Traceback" not in err
    code, _, _ = _run_main(["hello"], capsys)
    assert code == 0


def test_screen_does_not_load_plugins(monkeypatch, tiny_bundle: Path, image_tree: Path, capsys) -> None:
    """`screen` needs no plug-in: their discovery and imports stay out of its start-up; --help lists them."""
    seen = []

    def fake_entry_points(group: str):  # noqa: ANN202
        seen.append(group)
        return []

    monkeypatch.setattr(metadata, "entry_points", fake_entry_points)
    code, _, err = _run_main(["screen", str(image_tree / "a.png"), "--bundle", str(tiny_bundle)], capsys)
    assert code == 0, err
    assert seen == []
    _run_main(["-v", "--help"], capsys)
    assert seen == [cli.ENTRY_POINT_GROUP]


def test_console_script_help() -> None:
    exe = Path(sys.executable).parent / "edge-screen"
    if not exe.exists():
        pytest.skip(f"console script not installed next to {sys.executable} (pip install -e .)")
    res = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "screen" in res.stdout and "info" in res.stdout


def test_console_script_after_screen_flushes_everything_runs_atexit_and_keeps_the_exit_code(
        tiny_bundle: Path, image_tree: Path, tmp_path: Path) -> None:  # fmt: skip
    """``run()`` skips Python's teardown after ``screen`` (os._exit): nothing written may be lost,
    the atexit handlers still run, and the exit code is the command's."""
    script = ("import atexit, sys\n"
              "atexit.register(lambda: print('atexit ran', file=sys.stderr))\n"
              "from edge_screen.cli import run\n"
              "sys.argv = ['edge-screen', *sys.argv[1:]]\n"
              "run()\n")  # fmt: skip
    out_file = tmp_path / "out.jsonl"
    args = [sys.executable, "-c", script, "screen", str(image_tree), "--bundle", str(tiny_bundle), "--json",
            "--threads", "1"]  # fmt: skip
    with out_file.open("w") as f:  # a file, not a pipe: fully buffered, so an unflushed buffer would be lost
        res = subprocess.run(args, stdout=f, stderr=subprocess.PIPE, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert len(rows) == 3 and all(r["verdict"] for r in rows)
    assert res.stderr.strip().splitlines()[-1] == "atexit ran"
    missing = subprocess.run([*args[:4], str(tmp_path / "nope.jpg"), *args[5:]], capture_output=True, text=True,
                             timeout=300)  # fmt: skip
    assert missing.returncode == cli.EXIT_FAILED and "atexit ran" in missing.stderr


def test_verbose_flag_is_accepted_after_the_command(tiny_bundle: Path, image_tree: Path, capsys) -> None:
    """Technicians type the flag at the end ("edge-screen screen photo.jpg -v"): no usage error."""
    img = str(image_tree / "a.png")
    for flags in (["-v"], ["-vv"], ["--verbose"]):
        code, out, err = _run_main(["screen", img, "--bundle", str(tiny_bundle), "--threads", "1", *flags], capsys)
        assert code == 0 and "unrecognized arguments" not in err and "a.png" in out
    code, out, err = _run_main(["screen", "--bundle", str(tiny_bundle), "--", "-v"], capsys)  # after --: a path
    assert code != 0 and "-v" in err


def test_first_start_on_a_machine_says_why_it_takes_longer(tiny_bundle: Path, image_tree: Path, tmp_path: Path) -> None:
    """The self-check runs once per machine and bundle; the person waiting is told, once, without -v."""
    import os

    env = {**os.environ, "EDGE_SCREEN_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "edge_screen", "screen", str(image_tree / "a.png"), "--bundle", str(tiny_bundle),
           "--threads", "1"]  # fmt: skip
    first, second = (subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300) for _ in range(2))
    assert first.returncode == second.returncode == 0, first.stderr
    assert "edge-screen: first use of bundle tiny@" in first.stderr and "once" in first.stderr
    assert "first use" not in second.stderr and "a.png" in second.stdout
