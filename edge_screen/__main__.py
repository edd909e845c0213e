"""``python -m edge_screen``: the same as the ``edge-screen`` command."""

from __future__ import annotations

from edge_screen.cli import run

if __name__ == "__main__":
    run()
