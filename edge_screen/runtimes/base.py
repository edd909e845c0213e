"""The runtime interface every backend implements, and the model I/O contract (ARCHITECTURE.md).

Every runtime runs a bundle model that follows the contract: input :data:`INPUT_NAME` float32
``[B, 3, S, S]``; outputs :data:`OUTPUT_NAMES`: ``probabilities`` float32 ``[B, 2]`` (softmax, index
1 = abnormal) and ``heatmap`` float32 ``[B, h, w]`` (0..1), plus the :data:`OPTIONAL_OUTPUTS` a graph
has. :meth:`Runtime.run` checks every batch, so no verdict is drawn from unusable output.

Backends subclass :class:`Runtime` in their own module (``edge_screen/runtimes/<name>.py`` or a
plug-in) and are registered through entry points (:mod:`edge_screen.backends`); this module
imports none of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from edge_screen.errors import BundleError, EdgeScreenError, InferenceError, UsageError
from edge_screen.gate import GATE_OUTPUTS

if TYPE_CHECKING:
    from edge_screen.bundle import Bundle, ModelEntry

INPUT_NAME = "image"
OUTPUT_NAMES = ("probabilities", "heatmap")
#: Outputs a graph may add (the learned gate, :mod:`edge_screen.gate`); fetched when present.
OPTIONAL_OUTPUTS = GATE_OUTPUTS


class Runtime(ABC):
    """One loaded model on one backend. ``run`` is not thread-safe: use one runtime per thread."""

    #: the backend's name; a registered runtime takes name, extra and required_files from its
    #: :class:`~edge_screen.backends.Backend` entry (``name = BACKEND.name`` ...), so they cannot drift
    name: ClassVar[str]
    extra: ClassVar[str] = ""  # pip extra that installs the backend ("" when it is a core dependency)
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
        #: why this model was chosen: an :class:`edge_screen.selfcheck.Selection` set by create_runtime
        #: (None when constructed directly); not imported here, the self-check sits above the runtimes
        self.selection: Any = None

    @property
    def precision(self) -> str:
        return self.entry.precision

    @classmethod
    def is_available(cls) -> bool:
        """True when the backend's library imports (and its device exists)."""
        return cls.unavailable_reason() is None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when this runtime can run here, else why not (the registered backend's check)."""
        from edge_screen.backends import get_backend

        return get_backend(cls.name).unavailable()

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
        """What to install to get this backend (the availability check's reason when it gives one)."""
        try:
            reason = cls.unavailable_reason()
        except UsageError:  # a runtime outside the registry (benchmarks' reference runtimes)
            reason = None
        extra = f"[{cls.extra}]" if cls.extra else ""
        return reason or f"{cls.name} is not installed: pip install 'edge-screen{extra}'"

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
