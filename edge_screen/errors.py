"""One exception hierarchy for edge-screen.

Every message says what was wrong, the offending value, what is valid, and the fix.
User-facing entry points (CLI, app) catch :class:`EdgeScreenError` and show its message without a
traceback.
"""

from __future__ import annotations


class EdgeScreenError(Exception):
    """Base class of every error edge-screen raises on purpose."""


#: Machine-readable causes of an :class:`ImageError`, for user interfaces that must word them for
#: their users (the app shows "Damaged file: re-export it" for ``damaged_file``).
IMAGE_ERROR_REASONS = ("damaged_file", "unsupported_format", "not_found", "too_small", "too_large",
                       "unreadable")


class ImageError(EdgeScreenError):
    """An input image could not be read (missing, empty, corrupt, unsupported, too large).

    ``reason`` is one of :data:`IMAGE_ERROR_REASONS` (``"damaged_file"``: the bytes are corrupt or
    truncated, so the file must be re-exported or re-copied), or None when not classified.
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        if reason is not None and reason not in IMAGE_ERROR_REASONS:
            raise ValueError(f"unknown ImageError reason {reason!r}; valid: {IMAGE_ERROR_REASONS}")
        super().__init__(message)
        self.reason = reason


class BundleError(EdgeScreenError):
    """A model bundle is missing, malformed, tampered with, or lacks a requested model file."""


class BackendUnavailable(EdgeScreenError):
    """An inference backend (runtime) is not installed or cannot run here."""


class InferenceError(EdgeScreenError):
    """A runtime produced unusable output (NaN/inf, wrong shape, probabilities outside 0..1) or
    failed while running: no verdict may be drawn from it."""


class UsageError(EdgeScreenError):
    """A command or API was called with invalid arguments (CLI exit code 2)."""
