"""One exception hierarchy for edge-screen.

Every message says what was wrong, the offending value, what is valid, and the fix.
User-facing entry points (CLI, app) catch :class:`EdgeScreenError` and show its message without a
traceback.
"""

from __future__ import annotations


class EdgeScreenError(Exception):
    """Base class of every error edge-screen raises on purpose."""


class ImageError(EdgeScreenError):
    """An input image could not be read (missing, empty, corrupt, unsupported, too large)."""


class BundleError(EdgeScreenError):
    """A model bundle is missing, malformed, tampered with, or lacks a requested model file."""


class BackendUnavailable(EdgeScreenError):
    """An inference backend (runtime) is not installed or cannot run here."""


class QualityRejected(EdgeScreenError):
    """An image failed the quality gate and was not graded (carries the quality report)."""

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report


class UsageError(EdgeScreenError):
    """A command or API was called with invalid arguments (CLI exit code 2)."""
