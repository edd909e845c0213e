"""Which registered runtime can run which bundle entry here, in the static automatic order.

The order comes from the backend registry (:mod:`edge_screen.backends`): backends by ``priority``
(tensorrt > openvino > onnxruntime for the built-in ones), precisions by bits (int8 > fp16 > fp32).
The measured choice (:mod:`edge_screen.selfcheck`) only uses it to order its candidates. Every
entry left out is reported with its reason; none is skipped silently.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from edge_screen.backends import backend_names, backends, check_precision, get_backend, precision_rank
from edge_screen.errors import BackendUnavailable

if TYPE_CHECKING:
    from edge_screen.bundle import Bundle, ModelEntry
    from edge_screen.runtimes.base import Runtime

log = logging.getLogger(__name__)


def runtime_names() -> list[str]:
    """Every registered backend, installed or not, in preference order."""
    return backend_names()


def get_runtime_class(name: str) -> type[Runtime]:
    """The runtime class of backend ``name``; unknown names list the valid ones and the closest."""
    return get_backend(name).runtime_class()


def available_backends() -> list[str]:
    """Registered backends whose library is installed (and device present), in preference order."""
    return [n for n, b in backends().items() if b.unavailable() is None]


def candidates(
    bundle: Bundle, *, backend: str | None = None, precision: str | None = None, probe: bool = True
) -> tuple[list[tuple[type[Runtime], ModelEntry]], list[str]]:
    """Entries of ``bundle`` this machine can run (installed backend, needed files), best-preferred first.

    Returns ``(candidates, skipped)``: ``[(runtime class, entry)]`` in preference order (backend,
    then precision) and one line per entry left out, with the reason. An explicit ``backend`` that
    is not installed raises :class:`BackendUnavailable` naming the pip extra; one the bundle lacks,
    BundleError; an unknown backend or precision name, UsageError with the closest valid one.
    ``probe=False`` skips the backends' availability checks (which import their libraries): the
    self-check uses it when its per-machine cache already knows what runs here (an explicit
    ``backend`` is still checked: it is the one that will be loaded).
    """
    if precision is not None:
        check_precision(precision)
    table = backends()
    if backend is not None:
        reason = get_backend(backend).unavailable()  # the one asked for is loaded anyway
        if reason is not None:
            raise BackendUnavailable(reason)
        bundle.model(backend, precision)  # BundleError naming what the bundle has
    order = {n: i for i, n in enumerate(table)}
    found = []
    skipped = []
    for entry in bundle.models:
        if precision is not None and entry.precision != precision:
            continue
        if backend is not None and entry.backend != backend:
            continue
        what = f"{entry.backend}/{entry.precision}"
        spec = table.get(entry.backend)
        if spec is None:
            skipped.append(f"{what} (no backend {entry.backend!r} is registered here; registered: {', '.join(table)})")
            continue
        if entry.precision not in spec.precisions:
            skipped.append(f"{what} ({entry.backend} declares no {entry.precision} models: {', '.join(spec.precisions)})")
            continue
        missing = [r for r in spec.file_roles if r not in entry.files]
        if missing:
            note = entry.extra.get("note")
            skipped.append(f"{what} (lacks {', '.join(missing)}" + (f"; {note})" if note else ")"))
            continue
        reason = spec.unavailable() if probe else None
        if reason is not None:
            skipped.append(f"{what} ({reason})")
            continue
        missing_isa = isa_mismatch(entry)
        if missing_isa:
            skipped.append(f"{what} ({missing_isa})")
            continue
        try:
            cls = spec.runtime_class()
        except BackendUnavailable as exc:
            skipped.append(f"{what} ({exc})")
            continue
        found.append(((order[entry.backend], precision_rank(entry.precision)), cls, entry))
    found.sort(key=lambda c: c[0])
    return [(cls, entry) for _, cls, entry in found], skipped


def isa_mismatch(entry: ModelEntry) -> str | None:
    """Why this CPU cannot run ``entry`` faithfully (its manifest ``requires_isa``: any one of these
    CPU flags), or None. E.g. INT8 models with 8-bit weights need int32 INT8 dot products (VNNI, AMX)."""
    need = entry.extra.get("requires_isa")
    if not need:
        return None
    from edge_screen.cpuinfo import cpu_flags, int8_dot_product

    if any(flag in cpu_flags() for flag in need):
        return None
    return f"needs a CPU with one of {', '.join(need)}; this one has INT8 kind {int8_dot_product()!r}"


def select_model(
    bundle: Bundle, *, backend: str | None = None, precision: str | None = None
) -> tuple[type[Runtime], ModelEntry]:
    """The preferred (runtime class, entry) by the static order, without loading or measuring
    anything. :func:`edge_screen.runtime.create_runtime` measures instead (:mod:`edge_screen.selfcheck`)."""
    if backend is not None:
        if precision is not None:
            check_precision(precision)
        spec = get_backend(backend)
        reason = spec.unavailable()
        if reason is not None:
            raise BackendUnavailable(reason)
        return spec.runtime_class(), bundle.model(backend, precision)
    found, skipped = candidates(bundle, precision=precision)
    if not found:
        raise BackendUnavailable(no_model_message(bundle, precision, skipped))
    for s in skipped:
        log.info("automatic choice skipped %s", s)
    return found[0]


def no_model_message(bundle: Bundle, precision: str | None, skipped: list[str]) -> str:
    """The error text when no entry of the bundle can run here."""
    want = f" at precision {precision}" if precision else ""
    return (
        f"no usable model{want} in bundle {bundle.name!r}: "
        + ("; ".join(skipped) if skipped else "the bundle lists no such model")
        + f". Installed backends: {', '.join(available_backends()) or 'none'}"
    )
