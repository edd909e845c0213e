"""Tables filled through entry points, and the one "did you mean" lookup of unknown names.

edge-screen's registries (backends, export formats, CLI sub-commands) are entry-point groups
(``[project.entry-points."edge_screen.<group>"]`` in a distribution's metadata), read with
:func:`importlib.metadata.entry_points` on first use and cached. Nothing is registered by importing
a module: a new backend or export format is one module plus one line in its ``pyproject.toml``.

A plug-in that cannot be loaded (an import error, a wrong object, a duplicate name) is skipped with
one WARNING line naming the entry point, the distribution and the error; it never takes the
registry, the CLI or the app down with a traceback.
"""

from __future__ import annotations

import difflib
import logging
import re
from importlib import metadata
from typing import Callable, Iterable, TypeVar

from edge_screen.errors import UsageError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: (group, loaded entries by name) read so far; :func:`clear_caches` empties it
_CACHE: dict[str, dict] = {}
_OWN = "edge-screen"  # this distribution's name: its entries win over a plug-in's of the same name


def closest(name: object, valid: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The valid name closest to ``name`` (difflib ratio >= ``cutoff``), or None."""
    match = difflib.get_close_matches(str(name), list(valid), n=1, cutoff=cutoff)
    return match[0] if match else None


def unknown_name(kind: str, name: object, valid: Iterable[str], *, cutoff: float = 0.6) -> UsageError:
    """The error for an unknown ``kind`` name: lists the valid ones and suggests the closest.

    ``unknown_name("backend", "openvno", ["openvino", "onnxruntime"])`` ->
    ``UsageError("unknown backend 'openvno'; valid: openvino, onnxruntime. Did you mean 'openvino'?")``.
    """
    valid = list(valid)
    close = closest(name, valid, cutoff=cutoff)
    hint = f" Did you mean {close!r}?" if close else ""
    return UsageError(f"unknown {kind} {name!r}; valid: {', '.join(valid) or 'none'}.{hint}")


def load_group(group: str, kind: type[T], *, name_of: Callable[[T], str] = lambda e: e.name) -> dict[str, T]:
    """Every entry point of ``group`` loaded, by name, cached until :func:`clear_caches`.

    Each entry point must load to an instance of ``kind`` whose name (``name_of``) equals the entry
    point's name. Broken entries are skipped with one warning. Of two entries with one name, the
    one edge-screen itself ships wins (a plug-in cannot replace a built-in backend unnoticed), else
    the first on ``sys.path``; the other is skipped with a warning.
    """
    if group in _CACHE:
        return _CACHE[group]
    found: dict[str, T] = {}
    def dist_of(ep: metadata.EntryPoint) -> str:
        name = getattr(getattr(ep, "dist", None), "name", None) or "unknown distribution"
        return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503 normalised

    # stable sort: path order is kept among equal names, after edge-screen's own entries
    for ep in sorted(metadata.entry_points(group=group), key=lambda e: (e.name, dist_of(e) != _OWN)):
        dist = dist_of(ep)
        where = f"entry point {ep.name!r} = {ep.value!r} of {dist} (group {group})"
        if ep.name in found:
            log.warning("skipping %s: the name is already registered by another plug-in", where)
            continue
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plug-in must not take the registry down  # noqa: BLE001
            log.warning("skipping %s: it cannot be loaded (%s: %s)", where, type(exc).__name__, exc)
            continue
        if not isinstance(obj, kind):
            log.warning("skipping %s: it is a %s, not a %s", where, type(obj).__name__, kind.__name__)
            continue
        if name_of(obj) != ep.name:
            log.warning("skipping %s: it declares the name %r", where, name_of(obj))
            continue
        found[ep.name] = obj
    _CACHE[group] = found
    return found


def clear_caches() -> None:
    """Forget every group read so far (after installing a plug-in in a running process; tests)."""
    _CACHE.clear()
