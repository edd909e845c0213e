"""Languages of the app with Qt's own machinery: ``tr()`` / ``QCoreApplication.translate`` in the code,
``.ts`` catalogues (Qt Linguist's XML) in ``resources/i18n``, compiled ``.qm`` files shipped as
package data, and a ``QTranslator`` installed at start-up or when the language changes.

Maintainers refresh the catalogues after changing user-facing text, then translate the new
entries (Qt Linguist, or by editing the ``.ts``) and compile::

    python -m edge_screen.gui.translations update    # pyside6-lupdate: new/changed texts -> .ts
    python -m edge_screen.gui.translations compile   # pyside6-lrelease: .ts -> .qm (shipped)

English is the source language; its catalogue only holds plural forms (``%n``).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

#: Language code -> its name in that language (as the language menu shows it).
LANGUAGES: dict[str, str] = {
    "en": "English",
    "es": "Español",
    "fr": "Français",
    "hi": "हिन्दी",
    "sw": "Kiswahili",
}
I18N_DIR = Path(__file__).with_name("resources") / "i18n"
GUI_DIR = Path(__file__).parent
CATALOGUE = "edge_screen_{lang}"


def ts_path(lang: str) -> Path:
    """The editable catalogue of a language."""
    return I18N_DIR / f"{CATALOGUE.format(lang=lang)}.ts"


def qm_path(lang: str) -> Path:
    """The compiled catalogue of a language (shipped with the package)."""
    return I18N_DIR / f"{CATALOGUE.format(lang=lang)}.qm"


_installed: list = []


def install(lang: str, app=None) -> bool:  # noqa: ANN001 - a QCoreApplication
    """Make ``lang`` the app's language (removes the previous translator). True when a catalogue was loaded.

    Raises:
        UsageError: an unknown language code.
    """
    from PySide6.QtCore import QCoreApplication, QLocale, QTranslator

    from edge_screen.errors import UsageError

    if lang not in LANGUAGES:
        raise UsageError(f"Language {lang!r} is not available: use one of {', '.join(LANGUAGES)}.")
    app = app or QCoreApplication.instance()
    for old in _installed:
        app.removeTranslator(old)
    _installed.clear()
    QLocale.setDefault(QLocale(lang))
    translator = QTranslator(app)
    if not translator.load(str(qm_path(lang))):
        log.warning("no compiled catalogue for language %r at %s; showing English", lang, qm_path(lang))
        return False
    app.installTranslator(translator)
    _installed.append(translator)
    return True


def _tool(name: str) -> list[str]:
    """The command of a PySide6 tool (pyside6-lupdate / pyside6-lrelease ship with PySide6-Essentials)."""
    import PySide6

    exe = Path(PySide6.__file__).parent / name
    if exe.is_file():
        return [str(exe)]
    return [sys.executable, "-c", f"from PySide6.scripts.pyside_tool import {name}; {name}()"]


def sources() -> list[Path]:
    """The gui modules that hold user-facing text."""
    return sorted(p for p in GUI_DIR.glob("*.py") if p.name not in ("__init__.py",))


def update(out_dir: Path | None = None) -> list[Path]:
    """Run pyside6-lupdate over the gui's sources into each language's .ts (kept translations stay)."""
    written = []
    for lang in LANGUAGES:
        ts = (out_dir / ts_path(lang).name) if out_dir else ts_path(lang)
        ts.parent.mkdir(parents=True, exist_ok=True)
        if out_dir and ts_path(lang).is_file():
            ts.write_bytes(ts_path(lang).read_bytes())
        cmd = [*_tool("lupdate"), *map(str, sources()), "-ts", str(ts), "-target-language", lang, "-no-obsolete",
               "-locations", "none"] + (["-pluralonly"] if lang == "en" else [])
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        written.append(ts)
    return written


def compile_catalogues(out_dir: Path | None = None) -> list[Path]:
    """Run pyside6-lrelease: each .ts -> .qm."""
    written = []
    for lang in LANGUAGES:
        qm = (out_dir / qm_path(lang).name) if out_dir else qm_path(lang)
        subprocess.run([*_tool("lrelease"), str(ts_path(lang)), "-qm", str(qm)], check=True, capture_output=True,
                       text=True)
        written.append(qm)
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m edge_screen.gui.translations update|compile``."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["update"]:
        for p in update():
            print(p)
        return 0
    if args[:1] == ["compile"]:
        for p in compile_catalogues():
            print(p)
        return 0
    print("usage: python -m edge_screen.gui.translations update|compile", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
