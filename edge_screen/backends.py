"""The backend registry: one :class:`Backend` entry per inference backend, read from entry points.

A backend is registered by one line in its distribution's ``pyproject.toml``::

    [project.entry-points."edge_screen.backends"]
    onnxruntime = "edge_screen.runtimes.onnxruntime:BACKEND"

and everything that names backends or precisions is derived from this table: the runtime lookup
and automatic order (:mod:`edge_screen.runtime`), ``edge-screen screen --backend/--precision``,
``edge-screen info``, the app's settings list, bundle writing (:class:`~edge_screen.bundle.BundleWriter`
refuses entries no registered backend declares), the self-check, the benchmarks and the contract
tests. Reading the table imports the modules the entry points name (which must import their
inference library lazily), never onnxruntime, OpenVINO or TensorRT themselves.
"""

from __future__ import annotations

import importlib
import re
import time
from dataclasses import dataclass
from typing import Callable

from edge_screen import registry
from edge_screen.errors import BackendUnavailable, UsageError

GROUP = "edge_screen.backends"
_FIRST_CHECK_MS: dict[str, float] = {}
_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
_PRECISION_RE = re.compile(r"^[a-z]+(\d+)$")


@dataclass(frozen=True)
class Backend:
    """One inference backend.

    Attributes:
        name: the name bundles, the CLI and the app use (``"openvino"``); lowercase.
        precisions: model precisions its entries may have (``("fp32", "fp16", "int8")``).
        file_roles: the manifest ``files`` keys an entry needs to run on it (``("model",)``,
            ``("engine",)``); an entry without them is skipped, with the reason.
        extra: the pip extra that installs it (``""``: a core dependency).
        runtime: ``"module:Class"`` of its :class:`~edge_screen.runtimes.base.Runtime`, imported on first use.
        check: ``() -> None`` when it can run here, else the reason and the fix (one line). It may
            import the inference library; it is called only when availability is asked for.
        priority: static automatic order, higher first (the measured choice,
            :mod:`edge_screen.selfcheck`, only uses it to order its candidates).
        distributions: pip distributions whose versions ``edge-screen info`` and the benchmarks record.
        devices: what ``--device`` accepts, for help texts (``"CPU|GPU|NPU|AUTO"``).
    """

    name: str
    precisions: tuple[str, ...]
    file_roles: tuple[str, ...]
    extra: str
    runtime: str
    check: Callable[[], str | None]
    priority: int = 0
    distributions: tuple[str, ...] = ()
    devices: str = ""

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"backend name must be lowercase letters, digits, '-' or '_', got {self.name!r}")
        if not self.precisions or any(not _PRECISION_RE.match(p) for p in self.precisions):
            raise ValueError(f"backend {self.name!r}: precisions must be names like 'fp32', got {self.precisions!r}")
        if not self.file_roles:
            raise ValueError(f"backend {self.name!r}: file_roles must name at least one manifest file role")
        if ":" not in self.runtime:
            raise ValueError(f"backend {self.name!r}: runtime must be 'module:Class', got {self.runtime!r}")

    def unavailable(self) -> str | None:
        """None when this backend can run here, else why not and what to install (one line).

        The first call in a process is timed (:func:`first_check_ms`): it imports the library, which
        is what a fresh process pays to start this backend."""
        t = time.perf_counter()
        try:
            return self.check()
        except Exception as exc:  # a broken optional install is "unavailable", not a crash  # noqa: BLE001
            return f"{self.name} is not usable here: its availability check failed ({type(exc).__name__}: {exc})"
        finally:
            _FIRST_CHECK_MS.setdefault(self.name, (time.perf_counter() - t) * 1000.0)

    def installed(self) -> str | None:
        """Which version is installed (``"openvino 2026.4.1"``), from pip's metadata without importing
        the library; None when it is not installed.

        When none of its ``distributions`` has metadata (a plug-in that declares none; TensorRT from
        JetPack's apt packages) the runtime's ``library_version()`` answers, which imports the
        library (a missing one fails fast). The self-check's cache key and the app's Settings use
        this, so neither imports every backend.
        """
        from importlib import metadata

        found = []
        for dist in self.distributions:
            try:
                found.append(f"{dist} {metadata.version(dist)}")
            except metadata.PackageNotFoundError:
                continue
        if found:
            return ", ".join(found)
        try:
            return self.runtime_class().library_version() if self.unavailable() is None else None
        except Exception as exc:  # a broken optional install  # noqa: BLE001
            return f"error: {type(exc).__name__}"

    def runtime_class(self) -> type:
        """Import and return the runtime class, a :class:`~edge_screen.runtimes.base.Runtime` subclass
        (BackendUnavailable when its module does not import)."""
        module, _, attr = self.runtime.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            fix = f"pip install 'edge-screen[{self.extra}]'" if self.extra else "reinstall the package that provides it"
            raise BackendUnavailable(
                f"backend {self.name!r}: its runtime {self.runtime!r} cannot be imported ({exc}); {fix}") from exc
        # the registry sits below the runtimes (bundles use it): duck-typed, no import of the base class
        if not isinstance(cls, type) or getattr(cls, "name", None) != self.name or not callable(getattr(cls, "run", None)):
            raise BackendUnavailable(f"backend {self.name!r}: {self.runtime!r} is not a Runtime named {self.name!r}")
        return cls


def first_check_ms(name: str) -> float | None:
    """How long this process's first availability check of backend ``name`` took (ms): its library's
    import when nothing had imported it before; None when it has not been checked in this process."""
    return _FIRST_CHECK_MS.get(name)


def is_precision_name(precision: str) -> bool:
    """True for names of the form letters + bits (``fp32``, ``int8``, ``bf16``), registered or not."""
    return bool(_PRECISION_RE.match(precision))


def precision_rank(precision: str) -> tuple[int, str]:
    """Sort key of the automatic precision order: fewer bits first (int8 > fp16 > fp32)."""
    m = _PRECISION_RE.match(precision)
    return (int(m.group(1)) if m else 10**6, precision)


def backends() -> dict[str, Backend]:
    """Every registered backend (installed or not), in the static automatic order (priority, then name)."""
    table = registry.load_group(GROUP, Backend)
    return {b.name: b for b in sorted(table.values(), key=lambda b: (-b.priority, b.name))}


def backend_names() -> list[str]:
    """Registered backend names, automatic order first to last."""
    return list(backends())


def get_backend(name: str) -> Backend:
    """The entry for ``name``; an unknown name is a UsageError listing the valid ones and the closest."""
    table = backends()
    if name not in table:
        raise registry.unknown_name("backend", name, table)
    return table[name]


def precision_names() -> tuple[str, ...]:
    """Every precision some registered backend declares, automatic order (int8 > fp16 > fp32)."""
    return tuple(sorted({p for b in backends().values() for p in b.precisions}, key=precision_rank))


def check_precision(precision: str) -> str:
    """``precision`` when some backend declares it, else a UsageError naming the valid ones."""
    valid = precision_names()
    if precision not in valid:
        raise registry.unknown_name("precision", precision, valid)
    return precision


def check_entry(backend: str, precision: str) -> Backend:
    """The backend of a (backend, precision) model entry; UsageError when it is not registered or
    does not declare that precision (a bundle must not carry what no runtime can run)."""
    b = get_backend(backend)
    if precision not in b.precisions:
        raise UsageError(f"backend {backend!r} has no {precision!r} models; its precisions: {', '.join(b.precisions)}")
    return b


def clear_cache() -> None:
    """Read the entry points again on next use (after installing a plug-in; tests)."""
    registry.clear_caches()
