"""Inference runtimes: the interface, the registry lookup and the automatic choice, in one import.

Every runtime runs a bundle model that follows the model I/O contract (ARCHITECTURE.md):
input ``image`` float32 ``[B, 3, S, S]``; outputs ``probabilities`` float32 ``[B, 2]`` and
``heatmap`` float32 ``[B, h, w]`` (0..1). The interface is :mod:`edge_screen.runtimes.base`; the
backends (``edge_screen/runtimes/<name>.py`` and plug-ins) are registered through the entry-point
group ``edge_screen.backends`` (:mod:`edge_screen.backends`) and import their library lazily, so a
missing optional backend costs nothing until it is asked for. No backend module is imported here.

Automatic choice (:func:`create_runtime`): the fastest model that passes the bundle's golden-set
self-check on this machine (:mod:`edge_screen.selfcheck`), measured once per machine and cached.
The static order (:func:`select_model`; backends by registry priority, tensorrt > openvino >
onnxruntime, precisions int8 > fp16 > fp32) only orders the candidates. An explicit choice wins; an
explicit backend that is not installed raises :class:`BackendUnavailable` naming the pip extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_screen.backends import backend_names, precision_names
from edge_screen.runtimes.base import INPUT_NAME, OPTIONAL_OUTPUTS, OUTPUT_NAMES, Runtime
from edge_screen.runtimes.selection import (
    available_backends,
    candidates,
    get_runtime_class,
    isa_mismatch,
    no_model_message,
    runtime_names,
    select_model,
)

if TYPE_CHECKING:
    from edge_screen.bundle import Bundle

__all__ = [
    "BACKEND_PREFERENCE", "INPUT_NAME", "OPTIONAL_OUTPUTS", "OUTPUT_NAMES", "PRECISION_PREFERENCE", "Runtime",
    "available_backends", "candidates", "create_runtime", "get_runtime_class", "isa_mismatch", "no_model_message",
    "runtime_names", "select_model",
]  # fmt: skip


def __getattr__(name: str) -> tuple[str, ...]:
    # Derived from the registry on each access (a plug-in installed later shows up): never retyped.
    if name == "BACKEND_PREFERENCE":  # automatic backend preference, best first
        return tuple(backend_names())
    if name == "PRECISION_PREFERENCE":  # automatic precision preference, best first
        return precision_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def create_runtime(
    bundle: Bundle,
    *,
    backend: str | None = None,
    precision: str | None = None,
    threads: int | None = None,
    device: str | None = None,
    images: int | None = None,
) -> Runtime:
    """Load the fastest model of the bundle that is faithful to FP32 on this machine.

    The first use on a machine self-checks and times every candidate (a few seconds; cached per
    machine, see :mod:`edge_screen.selfcheck`). ``backend`` and/or ``precision`` narrow the choice;
    both together force it. ``images``: how many photos this process will screen, when known (the
    choice then counts each model's start-up). The returned runtime's ``selection`` says what was
    chosen and why.
    """
    from edge_screen.selfcheck import select_runtime

    return select_runtime(bundle, backend=backend, precision=precision, threads=threads, device=device, images=images)
