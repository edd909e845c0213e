"""Words for technicians: every contract code has its own sentence, unknown codes a generic one,
times are local with their zone, and the app's entry module imports nothing heavy."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("PySide6")

pytestmark = pytest.mark.gui

# shared contract 2 (quality reasons, including codes the gate will add) and contract 1 (ImageError reasons)
QUALITY_CODES = ("fov_not_found", "fov_too_small", "not_fundus", "no_colour", "too_dark", "too_bright",
                 "low_contrast", "blurred", "hazy", "low_resolution", "out_of_distribution", "ungradable")


def test_every_quality_code_has_its_own_words_and_unknown_codes_a_generic_retake(qapp) -> None:
    from edge_screen.gui.wording import quality_reason, retake_headline

    generic = quality_reason("ungradable")
    seen = set()
    for code in QUALITY_CODES:
        reason, tip = quality_reason(code)
        assert reason and tip and "_" not in reason and "_" not in tip     # words, never the code itself
        if code != "ungradable":
            assert (reason, tip) != generic, code
        seen.add(reason)
    assert len(seen) == len(QUALITY_CODES)                       # no two codes share words
    assert quality_reason("a_code_from_the_future") == generic
    assert retake_headline(["blurred", "too_dark"]) == "Retake the photo: blurred"   # the first code is the main one
    assert retake_headline(["a_code_from_the_future"]) == "Retake the photo: it cannot be graded"
    assert retake_headline([]) == "Retake the photo: it cannot be graded"


def test_every_image_error_reason_has_words(qapp) -> None:
    from edge_screen.errors import IMAGE_ERROR_REASONS
    from edge_screen.gui.wording import failure_text, store_problem

    generic = failure_text(None)
    for reason in (*IMAGE_ERROR_REASONS, "no_model", "model_output", "internal"):
        head, tip = failure_text(reason)
        assert (head, tip) != generic and head and tip, reason
    assert failure_text("damaged_file")[0] == "Damaged file: re-export it"
    assert failure_text("something_new") == generic
    for reason in ("disk_full", "read_only", "damaged", "newer_version", None, "other"):
        assert store_problem(reason).startswith("Not saved:")


def test_local_time_shows_the_zone() -> None:
    code = ("from edge_screen.gui.wording import local_time\n"
            "print(local_time('2026-12-01T09:30:00+00:00'))\n"
            "print(local_time('not a time'))\n")
    for tz, expected in (("Asia/Kolkata", "2026-12-01 15:00 (IST, UTC+05:30)"), ("UTC", "2026-12-01 09:30 (UTC)"),
                         ("Africa/Nairobi", "2026-12-01 12:30 (EAT, UTC+03:00)")):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                             env={"TZ": tz, "PATH": "/usr/bin:/bin"})
        assert out.returncode == 0, out.stderr
        first, second = out.stdout.splitlines()
        assert first == expected, (tz, first)
        assert second == "not a time"


def test_app_module_imports_nothing_heavy() -> None:
    """`import edge_screen.gui.app` (the entry point) loads no Qt, numpy, OpenCV or runtime until it runs."""
    code = ("import sys\n"
            "import edge_screen.gui.app, edge_screen.gui.cli\n"
            "heavy = ('PySide6', 'numpy', 'cv2', 'onnxruntime', 'openvino', 'torch', 'pydicom')\n"
            "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in heavy}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
