"""Inference runtimes behind one interface, looked up by name in a registry.

Every runtime runs a bundle model that follows the model I/O contract (ARCHITECTURE.md):
input ``image`` float32 ``[B, 3, S, S]``; outputs ``probabilities`` float32 ``[B, 2]`` and
``heatmap`` float32 ``[B, h, w]`` (0..1). Backends live in ``runtimes_*`` modules and import their
library lazily, so a missing optional backend costs nothing until it is asked for.

Automatic choice (:func:`create_runtime`): the fastest model that passes the bundle's golden-set
self-check on this machine (:mod:`edge_screen.selfcheck`), measured once per machine and cached.
The static order tensorrt > openvino > onnxruntime, int8 > fp16 > fp32 (:func:`select_model`) only
orders the candidates. An explicit choice wins; an explicit backend that is not installed raises
:class:`BackendUnavailable` naming the pip extra.
"""

from __future__ import annotations

import difflib
import logging
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from edge_screen.errors import BackendUnavailable, BundleError, EdgeScreenError, InferenceError, UsageError

if TYPE_CHECKING:
    from edge_screen.bundle import Bundle, ModelEntry
    from edge_screen.selfcheck import Selection

log = logging.getLogger(__name__)

#: Automatic backend preference, best first.
BACKEND_PREFERENCE = ("tensorrt", "openvino", "onnxruntime")
#: Automatic precision preference, best first.
PRECISION_PREFERENCE = ("int8", "fp16", "fp32")
INPUT_NAME = "image"
OUTPUT_NAMES = ("probabilities", "heatmap")
#: Outputs a graph may add (the learned gate, :mod:`edge_screen.gate`); fetched when present.
OPTIONAL_OUTPUTS = ("gate_probabilities", "ood_distance")

_REGISTRY: dict[str, type[Runtime]] = {}


class Runtime(ABC):
    """One loaded model on one backend. ``run`` is not thread-safe: use one runtime per thread."""

    name: ClassVar[str]
    extra: ClassVar[str]  # pip extra that installs the backend ("" when it is a core dependency)
    #: file roles an entry must have for this runtime (e.g. ("model",) or ("engine",))
    required_files: ClassVar[tuple[str, ...]] = ("model",)

    def __init__(
        self,
        bundle: Bundle,
        entry: ModelEntry,
        *,
        threads: int | None = None,
        device: str | None = None,
    ) -> None:
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise UsageError(f"threads must be a positive integer or None (library default), got {threads!r}")
        missing = [r for r in self.required_files if r not in entry.files]
        if missing:
            note = entry.extra.get("note")
            raise BundleError(
                f"bundle {bundle.name!r}: {entry.backend}/{entry.precision} entry lacks file role(s) {missing} "
                f"needed by the {self.name} runtime (has {sorted(entry.files)})" + (f"; {note}" if note else "")
            )
        self.bundle = bundle
        self.entry = entry
        self.threads = threads
        self.device = device
        #: why this model was chosen (set by create_runtime; None when constructed directly)
        self.selection: Selection | None = None

    @property
    def precision(self) -> str:
        return self.entry.precision

    @classmethod
    @abstractmethod
    def is_available(cls) -> bool:
        """True when the backend's library imports (and its device exists)."""

    @classmethod
    def library_version(cls) -> str | None:
        """Version of the backend library, or None when not installed."""
        return None

    @classmethod
    def accepts(cls, entry: ModelEntry) -> bool:
        """True when the entry has the files this runtime needs."""
        return all(r in entry.files for r in cls.required_files)

    @classmethod
    def unavailable_message(cls) -> str:
        """What to install to get this backend."""
        return f"{cls.name} is not installed: pip install 'edge-screen[{cls.extra}]'"

    @abstractmethod
    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Backend-specific inference on a validated contiguous float32 batch."""

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run a batch.

        ``batch``: ``(B, 3, S, S)`` float32, preprocessed as the bundle says (S = input size).
        Returns ``(probs, heatmap)``: ``(B, 2)`` float32 softmax (index 1 = abnormal) and
        ``(B, h, w)`` float32 in 0..1 at feature-map resolution.
        """
        size = self.bundle.preprocessing.input_size
        if not isinstance(batch, np.ndarray) or batch.ndim != 4 or batch.shape[1:] != (3, size, size):
            got = getattr(batch, "shape", type(batch).__name__)
            raise UsageError(f"runtime input must be an array of shape (B, 3, {size}, {size}), got {got}")
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        probs, heat = self._guarded(self._run, batch)
        return self._checked(batch.shape[0], probs, heat)

    def _guarded(self, fn: Any, batch: np.ndarray) -> Any:
        """``fn(batch)`` with any library error (an ORT/OpenVINO shape error, a CUDA error) turned into
        one :class:`InferenceError` line, so a batch fails and the stream goes on."""
        try:
            return fn(batch)
        except EdgeScreenError:
            raise
        except Exception as exc:  # noqa: BLE001 - libraries raise anything (RuntimeError, pybind errors)
            detail = " ".join(str(exc).split())[:300] or type(exc).__name__
            raise InferenceError(
                f"the {self.name}/{self.precision} model of bundle {self.bundle.name!r} failed on a batch of "
                f"{batch.shape[0]} ({type(exc).__name__}: {detail}); check that the bundle's input size "
                f"{self.bundle.preprocessing.input_size} matches its model, or re-export it") from exc

    #: the optional outputs this model has (set by the backend when it loads the model)
    optional_outputs: tuple[str, ...] = ()

    def _run_outputs(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Backend hook: every output by name. Backends that fetch :data:`OPTIONAL_OUTPUTS` override it."""
        probs, heat = self._run(batch)
        return {"probabilities": probs, "heatmap": heat}

    def run_outputs(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Like :meth:`run`, returning every output by name: ``probabilities``, ``heatmap`` and the
        optional ones the model has (``gate_probabilities`` ``(B, K)``, ``ood_distance`` ``(B,)``),
        each checked like the probabilities (finite, right batch size)."""
        size = self.bundle.preprocessing.input_size
        if not isinstance(batch, np.ndarray) or batch.ndim != 4 or batch.shape[1:] != (3, size, size):
            got = getattr(batch, "shape", type(batch).__name__)
            raise UsageError(f"runtime input must be an array of shape (B, 3, {size}, {size}), got {got}")
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        outs = self._guarded(self._run_outputs, batch)
        n = batch.shape[0]
        probs, heat = self._checked(n, outs.pop("probabilities"), outs.pop("heatmap"))
        result = {"probabilities": probs, "heatmap": heat}
        for name, value in outs.items():
            arr = np.asarray(value, dtype=np.float32)
            if arr.ndim == 0 or arr.shape[0] != n or not np.isfinite(arr).all():
                raise InferenceError(
                    f"the {self.name}/{self.precision} model of bundle {self.bundle.name!r} returned an unusable "
                    f"{name!r} (shape {arr.shape}, finite: {bool(np.isfinite(arr).all())}) for {n} image(s); "
                    "no verdict can be given: re-export the bundle")
            result[name] = arr
        return result

    def _checked(self, n: int, probs: object, heat: object) -> tuple[np.ndarray, np.ndarray]:
        """Refuse output no verdict may be drawn from: NaN or inf (``p >= threshold`` is False for
        NaN, which would read as "normal"), the wrong shape, or probabilities outside 0..1."""
        what = f"{self.name}/{self.precision} model of bundle {self.bundle.name!r}"
        probs = np.asarray(probs, dtype=np.float32)
        heat = np.asarray(heat, dtype=np.float32)
        if heat.ndim == 4 and heat.shape[1] == 1:
            heat = heat[:, 0]
        if probs.shape != (n, 2) or heat.ndim != 3 or heat.shape[0] != n:
            raise InferenceError(
                f"the {what} returned probabilities of shape {probs.shape} and a heatmap of shape "
                f"{heat.shape} for {n} image(s); expected ({n}, 2) and ({n}, h, w). The model does not "
                "follow the I/O contract: re-export the bundle")
        bad = ~(np.isfinite(probs).all(axis=1) & np.isfinite(heat).reshape(n, -1).all(axis=1))
        if bad.any():
            raise InferenceError(
                f"the {what} returned NaN or infinite values for {int(bad.sum())} of {n} image(s); no "
                "verdict can be given. The model file or the runtime is broken: run `edge-screen info`, "
                "or choose another --backend/--precision")
        if (probs < -1e-4).any() or (probs > 1.0 + 1e-4).any():
            raise InferenceError(
                f"the {what} returned probabilities outside 0..1 (min {float(probs.min()):.3g}, max "
                f"{float(probs.max()):.3g}); the model's output is not a softmax: re-export the bundle")
        return probs, heat

    def describe(self) -> dict:
        """JSON-safe description (backend, precision, device, threads, library version)."""
        return {
            "backend": self.name,
            "precision": self.precision,
            "device": self.device,
            "threads": self.threads,
            "library_version": self.library_version(),
        }


def register_runtime(cls: type[Runtime]) -> type[Runtime]:
    """Class decorator adding a runtime to the registry under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def runtime_names() -> list[str]:
    """Every registered runtime, installed or not, in preference order."""
    order = {n: i for i, n in enumerate(BACKEND_PREFERENCE)}
    return sorted(_REGISTRY, key=lambda n: order.get(n, len(order)))


def get_runtime_class(name: str) -> type[Runtime]:
    """The registered class for ``name``; unknown names list the valid ones and the closest."""
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"unknown backend {name!r}; valid: {', '.join(runtime_names())}.{hint}") from None


def available_backends() -> list[str]:
    """Registered backends whose library is installed (and device present), in preference order."""
    return [n for n in runtime_names() if _REGISTRY[n].is_available()]


def candidates(
    bundle: Bundle, *, backend: str | None = None, precision: str | None = None
) -> tuple[list[tuple[type[Runtime], ModelEntry]], list[str]]:
    """Entries of ``bundle`` this machine can run (installed backend, needed files), best-preferred first.

    Returns ``(candidates, skipped)``: ``[(runtime class, entry)]`` in preference order (backend,
    then precision) and one line per entry left out. An explicit ``backend`` that is not installed
    raises :class:`BackendUnavailable` naming the pip extra; one the bundle lacks, BundleError.
    """
    if precision is not None and precision not in PRECISION_PREFERENCE:
        raise UsageError(f"unknown precision {precision!r}; valid: {', '.join(PRECISION_PREFERENCE)}")
    if backend is not None:
        cls = get_runtime_class(backend)
        if not cls.is_available():
            raise BackendUnavailable(cls.unavailable_message())
        bundle.model(backend, precision)  # BundleError naming what the bundle has
    found = []
    skipped = []
    for entry in bundle.models:
        if precision is not None and entry.precision != precision:
            continue
        if backend is not None and entry.backend != backend:
            continue
        cls = _REGISTRY.get(entry.backend)
        if cls is None:
            skipped.append(f"{entry.backend}/{entry.precision} (unknown backend)")
            continue
        if not cls.accepts(entry):
            skipped.append(f"{entry.backend}/{entry.precision} (lacks {', '.join(cls.required_files)})")
            continue
        if not cls.is_available():
            skipped.append(f"{entry.backend}/{entry.precision} ({cls.unavailable_message()})")
            continue
        missing_isa = isa_mismatch(entry)
        if missing_isa:
            skipped.append(f"{entry.backend}/{entry.precision} ({missing_isa})")
            continue
        rank = (
            BACKEND_PREFERENCE.index(entry.backend) if entry.backend in BACKEND_PREFERENCE else len(BACKEND_PREFERENCE),
            PRECISION_PREFERENCE.index(entry.precision),
        )
        found.append((rank, cls, entry))
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
    """The preferred (runtime class, entry) by the static order above, without loading or measuring
    anything. :func:`create_runtime` measures instead (:mod:`edge_screen.selfcheck`)."""
    if backend is not None:
        if precision is not None and precision not in PRECISION_PREFERENCE:
            raise UsageError(f"unknown precision {precision!r}; valid: {', '.join(PRECISION_PREFERENCE)}")
        cls = get_runtime_class(backend)
        if not cls.is_available():
            raise BackendUnavailable(cls.unavailable_message())
        return cls, bundle.model(backend, precision)
    found, skipped = candidates(bundle, precision=precision)
    if not found:
        raise BackendUnavailable(no_model_message(bundle, precision, skipped))
    for s in skipped:
        log.debug("auto-select skipped %s", s)
    return found[0]


def no_model_message(bundle: Bundle, precision: str | None, skipped: list[str]) -> str:
    """The error text when no entry of the bundle can run here."""
    want = f" at precision {precision}" if precision else ""
    return (
        f"no usable model{want} in bundle {bundle.name!r}: "
        + ("; ".join(skipped) if skipped else "the bundle lists no such model")
        + f". Installed backends: {', '.join(available_backends()) or 'none'}"
    )


def create_runtime(
    bundle: Bundle,
    *,
    backend: str | None = None,
    precision: str | None = None,
    threads: int | None = None,
    device: str | None = None,
) -> Runtime:
    """Load the fastest model of the bundle that is faithful to FP32 on this machine.

    The first use on a machine self-checks and times every candidate (a few seconds; cached per
    machine, see :mod:`edge_screen.selfcheck`). ``backend`` and/or ``precision`` narrow the choice;
    both together force it. The returned runtime's ``selection`` says what was chosen and why.
    """
    from edge_screen.selfcheck import select_runtime

    return select_runtime(bundle, backend=backend, precision=precision, threads=threads, device=device)


# Backends register themselves on import; they import their libraries lazily.
from edge_screen import runtimes_onnx as _onnx  # noqa: E402,F401
from edge_screen import runtimes_openvino as _openvino  # noqa: E402,F401
from edge_screen import runtimes_tensorrt as _tensorrt  # noqa: E402,F401
