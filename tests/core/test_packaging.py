"""Packaging: every sub-package is listed, and no plain top-level gui/quantize lands in site-packages."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FOLDERS = ("edge_screen", "quantize", "gui", "benchmarks")


def _pyproject() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_every_package_folder_is_listed() -> None:
    setup = _pyproject()["tool"]["setuptools"]
    package_dir: dict[str, str] = setup["package-dir"]
    listed = set(setup["packages"])
    folder_to_name = {v.strip("/"): k for k, v in package_dir.items()}
    assert set(folder_to_name) >= set(FOLDERS)
    missing = []
    for top in FOLDERS:
        for init in sorted((REPO / top).rglob("__init__.py")):
            rel = init.parent.relative_to(REPO / top).parts
            if "__pycache__" in rel:
                continue
            name = ".".join((folder_to_name[top], *rel))
            if name not in listed:
                missing.append(f"{init.parent.relative_to(REPO)} -> {name}")
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"
    for name in listed:  # and nothing listed that does not exist
        parts = name.split(".")
        for n in range(len(parts), 0, -1):
            if ".".join(parts[:n]) in package_dir:
                folder = REPO / package_dir[".".join(parts[:n])] / Path(*parts[n:])
                break
        assert (folder / "__init__.py").is_file(), f"{name} is listed but {folder} has no __init__.py"


_SPECS = """
import importlib.util, json
out = {n: importlib.util.find_spec(n) is not None for n in ("quantize", "gui", "benchmarks")}
out["origin"] = importlib.util.find_spec("edge_screen.quantize").origin
print(json.dumps(out))
"""


def test_no_plain_top_level_modules(tmp_path: Path) -> None:
    # a neutral cwd, so the repository folder itself is not on sys.path
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}
    res = subprocess.run([sys.executable, "-c", _SPECS], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["quantize"] is False and out["gui"] is False and out["benchmarks"] is False
    assert Path(out["origin"]).resolve() == (REPO / "quantize" / "__init__.py").resolve()


def test_installed_entry_points_match_pyproject() -> None:
    declared = _pyproject()["project"]["entry-points"]["edge_screen.commands"]
    installed = {ep.name: ep.value for ep in metadata.entry_points(group="edge_screen.commands")}
    assert installed == declared, "re-run `pip install -e .` after changing entry points"
    scripts = {ep.name: ep.value for ep in metadata.entry_points(group="console_scripts") if ep.name.startswith("edge-screen")}
    assert scripts.get("edge-screen") == _pyproject()["project"]["scripts"]["edge-screen"] == "edge_screen.cli:run"
