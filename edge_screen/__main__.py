"""``python -m edge_screen``: the same as the ``edge-screen`` command."""

from __future__ import annotations

import sys

from edge_screen.cli import main

if __name__ == "__main__":
    sys.exit(main())
