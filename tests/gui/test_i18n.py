"""Every language: the catalogues are complete and compiled, and every screen renders with no text
cut off, no English left in, and no missing glyph (tofu) - Hindi needs a Devanagari font."""

from __future__ import annotations

import re
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from edge_screen.gui import translations  # noqa: E402

pytestmark = pytest.mark.gui
PLACEHOLDER = re.compile(r"\{[a-z_]+(?::[^}]*)?\}|%n")


def _messages(ts: Path) -> dict[tuple[str, str], ET.Element]:
    root = ET.parse(ts).getroot()
    return {(ctx.find("name").text, m.find("source").text): m for ctx in root for m in ctx.findall("message")}


def _texts(m: ET.Element) -> list[str]:
    tr = m.find("translation")
    forms = tr.findall("numerusform")
    return [f.text or "" for f in forms] if forms else [tr.text or ""]


@pytest.fixture(scope="module")
def fresh_catalogues() -> Path:
    """lupdate run on today's sources (into a temporary folder, keeping the committed translations)."""
    out = Path(tempfile.mkdtemp())
    translations.update(out)
    return out


@pytest.mark.parametrize("lang", list(translations.LANGUAGES))
def test_catalogue_complete_and_compiled(lang: str, fresh_catalogues: Path, tmp_path: Path) -> None:
    committed = _messages(translations.ts_path(lang))
    fresh = _messages(fresh_catalogues / translations.ts_path(lang).name)
    assert set(fresh) == set(committed), ("the .ts is out of date: run python -m edge_screen.gui.translations update",
                                          sorted(set(fresh) ^ set(committed))[:5])
    for (ctx, src), m in committed.items():
        tr = m.find("translation")
        assert tr.get("type") is None, f"{lang}: unfinished {ctx}/{src!r}"
        for text in _texts(m):
            assert text.strip(), f"{lang}: empty translation of {ctx}/{src!r}"
            assert sorted(PLACEHOLDER.findall(text)) == sorted(set(PLACEHOLDER.findall(src))) or (
                "%n" in src and sorted(PLACEHOLDER.findall(text.replace("%n", ""))) ==
                sorted(set(PLACEHOLDER.findall(src.replace("%n", ""))))), f"{lang}: placeholders differ in {src!r}"
    if lang == "en":
        assert all(m.get("numerus") == "yes" for m in committed.values())   # English is the source language
    else:
        n_sources = len(_messages(fresh_catalogues / translations.ts_path("es").name))
        assert len(committed) == n_sources
    # the shipped .qm is what lrelease makes of the .ts today
    translations.compile_catalogues(tmp_path)
    assert (tmp_path / translations.qm_path(lang).name).read_bytes() == translations.qm_path(lang).read_bytes(), (
        "the .qm is out of date: run python -m edge_screen.gui.translations compile")


def test_compiled_catalogues_ship_as_package_data() -> None:
    """pyproject's package-data globs take every .qm (no build step at install) and .ts."""
    import glob

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    root = Path(translations.__file__).parent
    pyproject = tomllib.loads((root.parent / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["edge_screen.gui"]
    shipped = {Path(f).resolve() for pat in patterns for f in glob.glob(str(root / pat))}
    for lang in translations.LANGUAGES:
        assert translations.qm_path(lang).resolve() in shipped, lang
        assert translations.ts_path(lang).resolve() in shipped, lang


def test_plurals_and_translator_at_runtime(qapp) -> None:
    from PySide6.QtCore import QCoreApplication

    from edge_screen.gui.model_controller import calibration_text

    cal = {"calibration": {"n_images": 1}}
    try:
        assert translations.install("en")
        assert calibration_text(cal) == "Calibrated on 1 photo from this clinic"
        assert calibration_text({"calibration": {"n_images": 212}}) == "Calibrated on 212 photos from this clinic"
        assert translations.install("fr")
        assert QCoreApplication.translate("Result", "Refer to an eye specialist") == "Adresser à un ophtalmologiste"
        assert calibration_text({"calibration": {"n_images": 212}}) == "Calibré sur 212 photos de ce centre"
        assert translations.install("sw")
        assert calibration_text(cal) == "Imesawazishwa kwa picha 1 ya kliniki hii"
    finally:
        translations.install("en")
    with pytest.raises(Exception, match="not available"):
        translations.install("xx")


# ------------------------------------------------------------------------------ rendering
def devanagari_font() -> str | None:
    """A font family that has Devanagari, or None."""
    from PySide6.QtGui import QFontDatabase

    families = QFontDatabase.families(QFontDatabase.WritingSystem.Devanagari)
    return families[0] if families else None


def missing_glyphs(text: str, font) -> list[str]:  # noqa: ANN001
    """Characters of ``text`` that Qt would draw as tofu (glyph 0) with ``font`` and its fallbacks."""
    from PySide6.QtGui import QTextLayout

    layout = QTextLayout(text, font)
    layout.beginLayout()
    while layout.createLine().isValid():
        pass
    layout.endLayout()
    # tofu: glyph 0 (.notdef) of a real font, or Qt's box engine (a raw font without a family)
    if any(0 in run.glyphIndexes() or not run.rawFont().isValid() or not run.rawFont().familyName()
           for run in layout.glyphRuns()):
        return sorted({ch for ch in text if not ch.isspace() and ord(ch) > 0x7F}) or ["?"]
    return []


def overflows(widget) -> str | None:  # noqa: ANN001
    """Why a widget's text does not fit (None when it does)."""
    from PySide6.QtWidgets import QAbstractButton, QComboBox, QGroupBox, QLabel, QLineEdit, QTabBar

    fm = widget.fontMetrics()
    if isinstance(widget, QLabel) and widget.text() and widget.pixmap().isNull():
        text = widget.text()
        if widget.wordWrap():
            need = widget.heightForWidth(widget.width())
            if need > widget.height() + 2:
                return f"label needs {need} px height, has {widget.height()}: {text!r}"
        else:
            rect = widget.contentsRect()
            need = max(fm.horizontalAdvance(line) for line in text.split("\n"))
            if need > rect.width() + 1:
                return f"label needs {need} px, has {rect.width()}: {text!r}"
    elif isinstance(widget, QAbstractButton) and widget.text():
        if widget.sizeHint().width() > widget.width() + 1:
            return f"button needs {widget.sizeHint().width()} px, has {widget.width()}: {widget.text()!r}"
    elif isinstance(widget, QLineEdit) and not widget.text() and widget.placeholderText():
        room = widget.width() - 12
        if fm.horizontalAdvance(widget.placeholderText()) > room:
            return f"placeholder needs {fm.horizontalAdvance(widget.placeholderText())} px, has {room}"
    elif isinstance(widget, QGroupBox) and widget.title():
        if fm.horizontalAdvance(widget.title()) > widget.width() - 10:
            return f"group title does not fit: {widget.title()!r}"
    elif isinstance(widget, QComboBox) and widget.currentText():
        if widget.sizeHint().width() > widget.width() + 1 and widget.minimumContentsLength() == 0:
            return f"combo box needs {widget.sizeHint().width()} px, has {widget.width()}: {widget.currentText()!r}"
    elif isinstance(widget, QTabBar):
        for i in range(widget.count()):
            if widget.tabRect(i).width() < widget.tabSizeHint(i).width():
                return f"tab {widget.tabText(i)!r} is cut"
    return None


def check_screen(window, lang: str, english: set[str], translated: set[str], font_ok: bool) -> list[str]:  # noqa: ANN001
    """Every problem on the visible screen."""
    from PySide6.QtWidgets import QAbstractButton, QGroupBox, QLabel, QLineEdit, QTableWidget, QWidget

    problems = []
    for w in window.findChildren(QWidget):
        if not w.isVisible():
            continue
        why = overflows(w)
        if why:
            problems.append(f"{type(w).__name__} {w.objectName()}: {why}")
        texts = []
        if isinstance(w, (QLabel, QAbstractButton)):
            texts = [w.text()]
        elif isinstance(w, QLineEdit):
            texts = [w.placeholderText()]
        elif isinstance(w, QGroupBox):
            texts = [w.title()]
        elif isinstance(w, QTableWidget):
            header = [w.horizontalHeaderItem(j).text() for j in range(w.columnCount())]
            texts = header + [w.item(i, j).text() for i in range(w.rowCount()) for j in range(w.columnCount())]
            for j in range(w.columnCount()):
                need = max([w.fontMetrics().horizontalAdvance(w.item(i, j).text()) for i in range(w.rowCount())],
                           default=0)
                if need > w.columnWidth(j):
                    problems.append(f"table column {header[j]!r} cuts its text ({need} > {w.columnWidth(j)} px)")
        for t in texts:
            if lang != "en" and t in english and t not in translated:
                problems.append(f"English text left in {type(w).__name__}: {t!r}")
            if font_ok and t:
                lost = missing_glyphs(t, w.font())
                if lost:
                    problems.append(f"no glyph for {''.join(lost)!r} in {t!r}")
    return problems


@pytest.fixture(scope="module")
def catalogue_texts() -> tuple[set[str], dict[str, set[str]]]:
    english, by_lang = set(), {}
    for lang in translations.LANGUAGES:
        msgs = _messages(translations.ts_path(lang))
        by_lang[lang] = {t for m in msgs.values() for t in _texts(m)}
        if lang == "es":
            english = {src for (_ctx, src) in msgs}
    return english, by_lang


@pytest.mark.parametrize("lang", list(translations.LANGUAGES))
def test_every_screen_in_every_language_fits_1280x720(lang, make_app, qtbot, screen_bundle, photos, make_dicom,
                                                      catalogue_texts, tmp_path):
    from edge_screen.gui.tour import TourPhotos, calibrated_copy, run_tour

    font_ok = True
    if lang == "hi" and devanagari_font() is None:
        pytest.skip("no font with Devanagari on this system (Qt would draw tofu boxes): install one, e.g. "
                    "apt-get install fonts-lohit-deva (or fonts-noto-core)")
    english, by_lang = catalogue_texts
    parts = make_app(calibrated_copy(screen_bundle, tmp_path / "calibrated"), language=lang)
    assert parts.window.size().width() == 1280 and parts.window.size().height() == 720
    tour = TourPhotos(normal=photos["normal"], abnormal=photos["abnormal"], dark=photos["dark"],
                      damaged=photos["damaged"], dicom_other=make_dicom(photos["normal2"], "PT-0051", "L"))
    seen, problems = [], []

    def visit(name: str) -> None:
        seen.append(name)
        hint = parts.window.minimumSizeHint()
        if hint.width() > 1280 or hint.height() > 720:
            problems.append(f"{name}: the window needs at least {hint.width()}x{hint.height()}")
        problems.extend(f"{name}: {p}" for p in check_screen(parts.window, lang, english, by_lang[lang], font_ok))

    run_tour(parts, tour, visit)
    assert seen == ["start", "results", "details", "retake", "history", "settings"]
    assert not problems, "\n".join(problems)
