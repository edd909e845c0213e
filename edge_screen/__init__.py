"""edge-screen: offline fundus screening at the edge (torch-free runtime).

The runtime package never imports torch or PySide6. Training/export lives in
``edge_screen.quantize`` (needs the ``train`` extra), the desktop app in ``edge_screen.gui``
(``gui`` extra), benchmarks in ``edge_screen.benchmarks``.
"""

from __future__ import annotations

__version__ = "0.1.0"
#: Logger for messages to the person waiting (the command line prints them without -v).
NOTICE_LOGGER = "edge_screen.notice"

from edge_screen.errors import (  # noqa: E402
    BackendUnavailable,
    BundleError,
    EdgeScreenError,
    ImageError,
    InferenceError,
    UsageError,
)

__all__ = [
    "__version__",
    "EdgeScreenError",
    "ImageError",
    "InferenceError",
    "BundleError",
    "BackendUnavailable",
    "UsageError",
]
