"""``edge-screen app``: the CLI plug-in that starts the desktop app.

Imports neither PySide6 nor the app at module import time, so ``edge-screen --help`` stays fast
and works without the ``gui`` extra.
"""

from __future__ import annotations

import argparse


def _run_app(args: argparse.Namespace) -> int:
    try:
        import PySide6  # noqa: F401
    except ImportError:
        from edge_screen.errors import BackendUnavailable

        raise BackendUnavailable("The desktop app needs PySide6, which is not installed: "
                                 "pip install 'edge-screen[gui]'") from None
    from edge_screen.gui.app import run

    return run(args)


def register_app(subparsers) -> None:  # noqa: ANN001 - argparse's private subparsers type
    """Add the ``app`` sub-command (entry point ``edge_screen.commands: app``)."""
    from edge_screen.gui.app import build_parser

    parser = subparsers.add_parser("app", help="start the desktop app for technicians (PySide6)",
                                   description="Fundus screening desktop app (offline).")
    build_parser(parser)
    parser.set_defaults(func=_run_app)
