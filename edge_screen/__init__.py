"""edge-screen: offline fundus screening at the edge (torch-free runtime).

The runtime package never imports torch or PySide6. Training/export lives in
``edge_screen.quantize`` (needs the ``train`` extra), the desktop app in ``edge_screen.gui``
(``gui`` extra), benchmarks in ``edge_screen.benchmarks``.
"""

from __future__ import annotations

__version__ = "0.1.0"

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
