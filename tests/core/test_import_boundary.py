"""The core package never imports torch or PySide6 (a clinic PC or a Jetson runs it without them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import edge_screen

FORBIDDEN = ("torch", "torchvision", "timm", "PySide6", "nncf")
# Folders mapped into the edge_screen namespace from elsewhere; they are allowed to need torch / Qt.
MAPPED = {"quantize", "gui", "benchmarks"}

_IMPORT_ALL = """
import importlib, json, pkgutil, sys
import edge_screen
core = edge_screen.__path__[0]
names = []
for info in pkgutil.walk_packages([core], prefix="edge_screen."):
    if info.name.split(".")[1] in {mapped}:
        continue
    importlib.import_module(info.name)
    names.append(info.name)
print(json.dumps({{"modules": names, "loaded": sorted(m for m in sys.modules if m.split(".")[0] in {forbidden})}}))
"""

_HELP = """
import json, sys
from edge_screen.cli import main
try:
    main(["--help"])
except SystemExit as exc:
    assert exc.code == 0, exc.code
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {forbidden})))
"""


def _run(code: str) -> str:
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip().splitlines()[-1]


def test_every_core_module_imports_without_torch_or_qt() -> None:
    out = json.loads(_run(_IMPORT_ALL.format(mapped=sorted(MAPPED), forbidden=FORBIDDEN)))
    core = Path(edge_screen.__path__[0])
    expected = {f"edge_screen.{p.stem}" for p in core.glob("*.py") if p.stem != "__init__"}
    assert expected <= set(out["modules"]), expected - set(out["modules"])
    assert {"edge_screen.screener", "edge_screen.runtime", "edge_screen.cli"} <= set(out["modules"])
    assert out["loaded"] == []


def test_cli_help_does_not_import_torch_or_qt() -> None:
    # plug-in commands (train, export, app, ...) must import torch / PySide6 only inside func
    assert json.loads(_run(_HELP.format(forbidden=FORBIDDEN))) == []


def _imported_modules(folder: Path) -> dict[str, set[str]]:
    """{file: every module named by an import statement in it} for the .py files under ``folder``."""
    import ast

    out: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        out[str(path.relative_to(folder.parent))] = names
    return out


def test_gui_and_quantize_do_not_import_each_other() -> None:
    """Imports point one way: gui -> edge_screen <- quantize (benchmarks may sit on top of all)."""
    repo = Path(__file__).resolve().parents[2]
    pairs = [("gui", ("edge_screen.quantize", "quantize")), ("quantize", ("edge_screen.gui", "gui")),
             ("edge_screen", ("edge_screen.quantize", "edge_screen.gui", "edge_screen.benchmarks", "quantize", "gui",
                              "benchmarks"))]
    bad = []
    for folder, forbidden in pairs:
        for file, names in _imported_modules(repo / folder).items():
            bad += [f"{file} imports {n}" for n in names if any(n == f or n.startswith(f + ".") for f in forbidden)]
    assert bad == []
