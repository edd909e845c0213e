"""Shared fixtures. Tests are offline and CPU-only; real images come from ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEV_DATA = Path(os.environ.get("EDGE_SCREEN_DEV_DATA", REPO.parent / "shared" / "data" / "fundus-dev"))


@pytest.fixture(scope="session")
def fundus_dev() -> Path:
    """The real dev set (``labels.csv`` + ``images/``); skipped where ../shared is absent."""
    if not (DEV_DATA / "labels.csv").is_file():
        pytest.skip(f"real fundus dev set not found at {DEV_DATA} (set EDGE_SCREEN_DEV_DATA)")
    return DEV_DATA
