"""Screen fundus photos: one image from decode to verdict, in the order it happens.

``Screener._prepare`` and ``Screener._finish`` are the whole trip of one photo:

1. ``decode``: :func:`~edge_screen.imageio.load_image` with the bundle's input size, so a large JPEG
   is decoded by libjpeg-turbo at the reduced DCT scale that size allows (strict mode: a damaged
   file is an error, never a verdict).
2. ``fov``: ONE small analysis copy (:func:`~edge_screen.fundus.analysis_copy`) and the fundus disc
   found on it (:func:`~edge_screen.fundus.detect_fov`).
3. ``quality``: the gate (:func:`~edge_screen.quality.assess_quality`) on the same copy. A photo that
   fails it comes back ``ungradable`` with the measured reasons and is never sent to the model: a
   verdict on a photo the model cannot read is worse than none.
4. ``preprocess``: one crop + resize from the decoded image (:func:`~edge_screen.preprocess.crop_image`)
   and :func:`~edge_screen.preprocess.normalize`.
5. inference, per batch (:meth:`Screener._run_batch`; a broken batch fails its images, not the stream).
5b. the borderline re-check (:mod:`edge_screen.recheck`), when the measured choice runs a reduced-
   precision model that declares one: the photos of the batch whose P(abnormal) lies within the
   margin of the threshold run again through the FP32 model, whose outputs then stand for them
   (``ScreenResult.backend/precision`` name the model that decided; ``recheck`` says what the first gave).
6. the learned gate, when the bundle has one (:mod:`edge_screen.gate`): read from the model's extra
   outputs of the same inference; a photo it rejects is ``ungradable`` too, with ``probability``
   None (the model's P(abnormal) is kept only in ``quality.metrics["model_probability"]``, for audit:
   it is not a verdict). Then the verdict, ``P(abnormal) >= threshold`` (:meth:`Screener._finish`).
7. the heatmap, only when asked for: the model's CAM is kept, and mapped onto the decoded image
   (:attr:`ScreenResult.image_heatmap`) or a display copy (:meth:`ScreenResult.display`) on first use.

:meth:`Screener.screen_many` runs steps 1-4 of the next images in a small thread pool while the model
runs the current batch (libjpeg-turbo, OpenCV and the runtimes release the GIL), holding at most two
batches of prepared images, and yields results in input order.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import cv2
import numpy as np

from edge_screen.bundle import Bundle, default_bundle_path, load_bundle
from edge_screen.errors import BundleError, EdgeScreenError, InferenceError, UsageError
from edge_screen.fundus import FieldOfView, analysis_copy, detect_fov
from edge_screen.gate import GATE_OUTPUTS, LearnedGate
from edge_screen.imageio import LoadedImage, load_image
from edge_screen.preprocess import Transform, crop_image, normalize
from edge_screen.quality import QualityReport, QualityThresholds, assess_quality
from edge_screen.recheck import borderline, gate_borderline
from edge_screen.runtime import Runtime, create_runtime
from edge_screen.selfcheck import Selection

log = logging.getLogger(__name__)

#: Per-image stages in ``ScreenResult.timings_ms`` (ms, measured on that image). The model runs per
#: batch: its time is ``ScreenResult.batch.inference_ms``, for the whole batch.
STAGES = ("decode", "fov", "quality", "preprocess", "total")
#: Longest side of :meth:`ScreenResult.display` by default (what an app's image pane shows).
DISPLAY_MAX_SIDE = 1000


@dataclass(frozen=True)
class BatchInfo:
    """The inference batch an image was screened in: ``size`` images, this one at ``index``;
    ``inference_ms`` is the wall time of the model on the WHOLE batch (not a per-image figure)."""

    size: int
    index: int
    inference_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "index": self.index, "inference_ms": round(float(self.inference_ms), 3)}


@dataclass(frozen=True)
class DisplayCopy:
    """A screened photo at display size (see :meth:`ScreenResult.display`).

    ``rgb``: (h, w, 3) uint8 RGB; ``heatmap``: (h, w) float32 0..1 or None; ``fov``: the disc in
    ``rgb``'s coordinates (for masking the heatmap); ``scale``: ``rgb`` width / decoded width.
    """

    rgb: np.ndarray
    heatmap: np.ndarray | None
    fov: FieldOfView | None
    scale: float


@dataclass(frozen=True)
class ScreenResult:
    """The outcome for one image.

    ``image``: the decoded (H', W', 3) uint8 RGB, possibly reduced from the stored image (see
    ``scale``): use it for display instead of decoding the file again. ``fov``: the fundus disc in
    ``image``'s coordinates (None when the gate stopped before it was found). ``cam``: the model's
    own (h, w) map over the model input, and ``transform`` its way back onto the image; the mapped
    maps are computed on first access only: ``image_heatmap`` over ``image``, :meth:`display` at
    display size, :meth:`heatmap_for` at any size, ``heatmap`` over the ORIGINAL image (for a 12 MP
    photo a 49 MB array; display code should not use it). ``timings_ms``: this image's own stages
    (:data:`STAGES`); ``total`` is its latency, from the start of its decoding to its verdict (in a
    pipelined batch this includes waiting for the batch). ``batch``: the inference batch, or None
    when the image never reached the model. ``recheck``: set when the photo was borderline for a
    reduced-precision model and FP32 decided it (``backend``/``precision`` then name the FP32 model):
    ``{"first": "openvino/int8", "first_probability": p, "margin": m, "why": "near the threshold"}``
    (``why``: or ``"learned quality gate"``: its decision was a rejection or close to its limits).
    """

    verdict: str
    probability: float | None
    threshold: float
    quality: QualityReport
    backend: str
    precision: str
    bundle: str
    timings_ms: dict[str, float]
    source: str | None
    image: np.ndarray
    original_size: tuple[int, int] | None = None  # (width, height) of the stored image
    scale: float = 1.0  # image width / original width
    cam: np.ndarray | None = None
    transform: Transform | None = None
    fov: FieldOfView | None = None
    batch: BatchInfo | None = None
    recheck: dict[str, Any] | None = None

    @functools.cached_property
    def image_heatmap(self) -> np.ndarray | None:
        """(H', W') float32 0..1 aligned with ``image`` (what an overlay of ``image`` wants), or None."""
        return self.heatmap_for(self.image.shape[1::-1])

    @functools.cached_property
    def heatmap(self) -> np.ndarray | None:
        """(H, W) float32 0..1 over the original image, or None."""
        if self.cam is None or self.transform is None:
            return None
        if self.original_size is None or tuple(self.original_size) == self.image.shape[1::-1]:
            return self.image_heatmap
        return self.heatmap_for(self.original_size)

    def heatmap_for(self, size: tuple[int, int]) -> np.ndarray | None:
        """The heatmap over the same photo at another (width, height), e.g. a display size."""
        if self.cam is None or self.transform is None:
            return None
        return self.transform.map_to_image(self.cam, size=tuple(size)).astype(np.float32, copy=False)

    def display(self, max_side: int = DISPLAY_MAX_SIDE) -> DisplayCopy:
        """The decoded image shrunk (INTER_AREA) so its longer side is at most ``max_side``, with the
        heatmap at that size (the map over ``image``, resized; no original-size map is made) and the FOV."""
        h, w = self.image.shape[:2]
        s = min(1.0, max_side / max(h, w))
        size = (max(1, round(w * s)), max(1, round(h * s)))
        rgb = self.image if s == 1.0 else cv2.resize(self.image, size, interpolation=cv2.INTER_AREA)
        sx, sy = size[0] / w, size[1] / h
        fov = None if self.fov is None else self.fov.scaled(sx, sy)
        heat = self.image_heatmap
        if heat is not None and s != 1.0:
            heat = cv2.resize(heat, size, interpolation=cv2.INTER_LINEAR)
        return DisplayCopy(rgb=rgb, heatmap=heat, fov=fov, scale=sx)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (no arrays)."""
        return {
            "file": self.source,
            "verdict": self.verdict,
            "probability": self.probability,
            "threshold": self.threshold,
            "quality": self.quality.to_dict(),
            "backend": self.backend,
            "precision": self.precision,
            "bundle": self.bundle,
            "timings_ms": {k: round(float(v), 3) for k, v in self.timings_ms.items()},
            "batch": None if self.batch is None else self.batch.to_dict(),
            "recheck": self.recheck,
            "original_size": list(self.original_size) if self.original_size else None,
            "decoded_size": [int(self.image.shape[1]), int(self.image.shape[0])],
        }


@dataclass(frozen=True)
class ScreenFailure:
    """An input that could not be screened (unreadable file, ...). ``error`` is one line for people."""

    source: str | None
    error: str
    kind: str = "EdgeScreenError"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.source, "error": self.error, "kind": self.kind}


@dataclass
class _Pending:
    """A photo that passed the gate and waits for the model."""

    loaded: LoadedImage
    quality: QualityReport
    fov: FieldOfView
    tensor: np.ndarray  # (3, S, S) float32
    transform: Transform
    timings: dict[str, float]
    t_start: float  # perf_counter when its decoding started


_END = object()


def _ms(t: float) -> float:
    return (time.perf_counter() - t) * 1000.0


def _source_name(image: Any) -> str | None:
    if isinstance(image, (str, os.PathLike)):
        return os.fspath(image)
    if isinstance(image, LoadedImage):
        return image.source
    return None


def _failure(src: Any, exc: BaseException) -> ScreenFailure:
    msg = " ".join(str(exc).split()) or type(exc).__name__
    log.debug("screening %s failed: %s", _source_name(src), msg)
    return ScreenFailure(_source_name(src), msg, type(exc).__name__)


def default_workers() -> int:
    """Threads that prepare images while the model runs: one per usable core (1..4).

    Not cores - 1: the model runs in bursts (a batch of 8 in ~60 ms), and between them a core left
    for it idles while the decode (which releases the GIL) waits. Measured on a quiet 2-core EPYC,
    ORT INT8, 20 camera JPEGs (12 MP), batch 8: 42.5 images/s with 1 worker, 54-60 with 2, 55-57
    with 3, 36 with none (benchmarks/results/cpu-epyc-zen5-2c/NOTES.md).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 2
    return max(1, min(4, cores))


class Screener:
    """Screens images with one bundle on one runtime (not thread-safe; use one per thread).

    ``bundle``: a loaded :class:`Bundle`, a bundle path, or None for the bundle shipped with the
    package (BundleError when there is none). ``backend``/``precision``: None chooses
    automatically (see :func:`edge_screen.runtime.create_runtime`). ``runtime``: an already loaded
    :class:`~edge_screen.runtime.Runtime` for this bundle's preprocessing, used instead of creating
    one (benchmarks, a shared session, a model outside the registry); ``backend``, ``precision``,
    ``threads`` and ``device`` must then be None. ``quality``: gate thresholds; None loads the
    defaults with the bundle's overrides. ``recheck``: decide borderline photos of a reduced-precision
    model by FP32 when its bundle entry declares a re-check (:mod:`edge_screen.recheck`); False runs
    the model as it is (benchmarks of the raw INT8 model). ``images``: how many photos will be
    screened, when known (a command line): the automatic choice then counts each model's start-up.
    """

    def __init__(
        self,
        bundle: Bundle | str | os.PathLike | None = None,
        *,
        backend: str | None = None,
        precision: str | None = None,
        threads: int | None = None,
        device: str | None = None,
        quality: QualityThresholds | None = None,
        runtime: Runtime | None = None,
        gate: LearnedGate | bool | None = None,
        recheck: bool = True,
        images: int | None = None,
    ) -> None:
        if bundle is None:
            path = default_bundle_path()
            if path is None:
                raise BundleError(
                    "no model bundle given and no default model is installed; pass one: "
                    "edge-screen screen --bundle PATH ... (Python: Screener('path/to/bundle'))"
                )
            bundle = path
        self.bundle: Bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        if runtime is None:
            runtime = create_runtime(self.bundle, backend=backend, precision=precision, threads=threads, device=device,
                                     images=images)  # fmt: skip
        else:
            given = {k: v for k, v in (("backend", backend), ("precision", precision), ("threads", threads),
                                       ("device", device), ("images", images)) if v is not None}
            if given:
                raise UsageError(f"Screener(runtime=...) takes the runtime as it is; do not also pass {sorted(given)}")
            theirs = getattr(getattr(runtime, "bundle", None), "preprocessing", None)
            if theirs is not None and theirs != self.bundle.preprocessing:
                raise UsageError(f"the runtime was made for preprocessing {theirs.to_dict()}, the bundle has "
                                 f"{self.bundle.preprocessing.to_dict()}; give both the same")
        self.runtime: Runtime = runtime
        self._threads, self._device = threads, device
        self._recheck_on = bool(recheck)
        self._recheck_runtime: Runtime | None = None  # the FP32 model of the borderline re-check, loaded on first use
        if quality is None:
            quality = QualityThresholds.load()
            overrides = self.bundle.quality_overrides
            if overrides:
                try:
                    quality = quality.with_overrides(overrides)
                except UsageError as exc:
                    raise BundleError(f"bundle {self.bundle.name!r}: manifest field 'quality' is invalid: {exc}") from exc
        self.quality = quality
        self.threshold = self.bundle.threshold
        # gate: None = the learned gate the bundle declares (the app and the CLI always screen with it),
        # a LearnedGate = that one (its limits, e.g. a site's), False = the hand-set checks only (benchmarks
        # of models that lack the gate's outputs)
        if gate is None or gate is True:
            gate = LearnedGate.of_bundle(self.bundle)
        elif gate is False:
            gate = None
        elif not isinstance(gate, LearnedGate):
            raise UsageError(f"gate must be a LearnedGate, None (the bundle's) or False (none), got {type(gate).__name__}")
        self.gate: LearnedGate | None = gate
        if self.gate is not None and not set(GATE_OUTPUTS) <= set(getattr(self.runtime, "optional_outputs", ())):
            # never screen without the gate the bundle promises
            raise BundleError(
                f"bundle {self.bundle.name!r} declares a learned gate, but its {self.runtime.name}/"
                f"{self.runtime.precision} model lacks the outputs {list(GATE_OUTPUTS)} "
                f"(has {list(getattr(self.runtime, 'optional_outputs', ()))}): re-export the bundle with --gate")

    @property
    def backend(self) -> str:
        return self.runtime.name

    @property
    def selection(self) -> Selection | None:
        """Which model runs and why (self-check result, measured speeds): ``selection.summary()``
        is a sentence for people, ``selection.to_dict()`` the JSON. None for a hand-made runtime."""
        return getattr(self.runtime, "selection", None)

    @property
    def precision(self) -> str:
        return self.runtime.precision

    @property
    def recheck(self) -> dict[str, Any] | None:
        """The borderline re-check in force (``selection.recheck``: margin, ``with``, ...), or None."""
        sel = self.selection
        return None if sel is None or not self._recheck_on else sel.recheck

    def _fp32_runtime(self, name: str) -> Runtime:
        if self._recheck_runtime is None:
            backend, _, precision = name.partition("/")
            rt = create_runtime(self.bundle, backend=backend, precision=precision, threads=self._threads,
                                device=self._device)  # fmt: skip
            if self.gate is not None and not set(GATE_OUTPUTS) <= set(getattr(rt, "optional_outputs", ())):
                raise BundleError(f"bundle {self.bundle.name!r}: the re-check model {name} lacks the learned gate's "
                                  f"outputs {list(GATE_OUTPUTS)}; re-export the bundle with --gate")  # fmt: skip
            self._recheck_runtime = rt
        return self._recheck_runtime

    # --------------------------------------------------------------------- one image, in order
    def _prepare(self, image: Any) -> _Pending | ScreenResult:
        """Steps 1-4 for one image: a photo ready for the model, or an ``ungradable`` result."""
        t_start = time.perf_counter()
        timings = dict.fromkeys(STAGES, 0.0)
        prep = self.bundle.preprocessing

        loaded = self._decode(image)  # 1. decode, reduced where the input size allows
        timings["decode"] = _ms(t_start)

        t = time.perf_counter()
        view = analysis_copy(loaded.rgb)  # 2. the one small copy, and the disc on it
        fov = detect_fov(view)
        timings["fov"] = _ms(t)

        t = time.perf_counter()
        report = assess_quality(view, fov=fov, thresholds=self.quality, scale=loaded.scale)  # 3. the gate, same copy
        timings["quality"] = _ms(t)
        if not report.ok:
            timings["total"] = _ms(t_start)
            return self._result(loaded, report, "ungradable", None, timings, fov=fov if fov.found else None)

        t = time.perf_counter()
        crop, transform, _ = crop_image(loaded.rgb, prep, fov=fov)  # 4. one crop + resize
        tensor = normalize(crop, prep)
        timings["preprocess"] = _ms(t)
        return _Pending(loaded, report, fov, tensor, transform, timings, t_start)

    def _decode(self, image: Any) -> LoadedImage:
        if isinstance(image, LoadedImage):
            return image
        if isinstance(image, np.ndarray):
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise UsageError(
                    f"an array image must be (H, W, 3) uint8 RGB, got shape {image.shape} dtype {image.dtype}; "
                    "use edge_screen.imageio.load_image for other inputs"
                )
            h, w = image.shape[:2]
            return LoadedImage(rgb=image, original_size=(w, h), scale=1.0, source=None, bit_depth=8, metadata={})
        if isinstance(image, (str, os.PathLike, bytes, bytearray, memoryview)):
            data = bytes(image) if isinstance(image, (bytearray, memoryview)) else image
            return load_image(data, target_size=self.bundle.preprocessing.input_size)
        raise UsageError(f"cannot screen a {type(image).__name__}; pass a path, bytes, an RGB array or a LoadedImage")

    def _infer_on(self, runtime: Runtime, batch: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, float] | None]]:  # fmt: skip
        if self.gate is None:
            probs, cams = runtime.run(batch)
            return probs, cams, [None] * len(batch)
        outs = runtime.run_outputs(batch)
        gates = [(outs["gate_probabilities"][i], float(outs["ood_distance"][i])) for i in range(len(batch))]
        return outs["probabilities"], outs["heatmap"], gates

    def _infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, float] | None],
                                                 list[dict[str, Any] | None]]:  # fmt: skip
        """5. The model on one batch: probabilities, CAMs, the learned gate's outputs per photo and, 5b.,
        per photo the re-check note (None: the first model decided)."""
        probs, cams, gates = self._infer_on(self.runtime, batch)
        notes: list[dict[str, Any] | None] = [None] * len(batch)
        policy = self.recheck
        if policy is None:
            return probs, cams, gates, notes
        near = borderline(probs[:, 1], self.threshold, policy["margin"])
        gate_near = np.zeros_like(near)
        if self.gate is not None:
            gate_near = gate_borderline(np.stack([g[0] for g in gates]), np.array([g[1] for g in gates]),  # type: ignore[index]
                                        self.gate, policy["margin"])  # fmt: skip
        idx = np.flatnonzero(near | gate_near)
        if idx.size == 0:
            return probs, cams, gates, notes
        p2, c2, g2 = self._infer_on(self._fp32_runtime(policy["with"]), batch[idx])
        probs, cams = np.array(probs, copy=True), np.array(cams, copy=True)
        first = f"{self.runtime.name}/{self.runtime.precision}"
        for j, i in enumerate(idx):
            why = "near the threshold" if near[i] else "learned quality gate"
            notes[i] = {"first": first, "first_probability": float(probs[i, 1]), "margin": float(policy["margin"]),
                        "why": why}  # fmt: skip
            probs[i], cams[i], gates[i] = p2[j], c2[j], g2[j]
        log.debug("re-checked %d of %d photos with %s (within %.3f of the threshold)", idx.size, len(batch),
                  policy["with"], policy["margin"])  # fmt: skip
        return probs, cams, gates, notes

    def _finish(self, p: _Pending, prob: float, cam: np.ndarray | None, batch: BatchInfo,
                gate: tuple[np.ndarray, float] | None = None, recheck: dict[str, Any] | None = None) -> ScreenResult:
        """6. The learned gate and the verdict for one photo the model has seen (``recheck``: FP32 decided it)."""
        if not math.isfinite(prob) or not 0.0 <= prob <= 1.0:  # the runtime checks this too; never a verdict from it
            raise InferenceError(f"the model gave P(abnormal) = {prob!r} for {p.loaded.source or 'an image'}; "
                                 "no verdict can be given")
        if gate is not None:
            decision = self.gate.assess(*gate)  # type: ignore[union-attr]
            metrics = {**p.quality.metrics, **decision.metrics, "model_probability": float(prob)}
            if not decision.ok:
                p.timings["total"] = _ms(p.t_start)
                report = QualityReport(False, decision.reasons, decision.messages, metrics)
                return self._result(p.loaded, report, "ungradable", None, p.timings, fov=p.fov, batch=batch,
                                    recheck=recheck)
            p.quality = QualityReport(True, (), (), metrics)
        verdict = "abnormal" if prob >= self.threshold else "normal"
        p.timings["total"] = _ms(p.t_start)
        return self._result(p.loaded, p.quality, verdict, prob, p.timings, fov=p.fov, batch=batch,
                            cam=cam, transform=p.transform if cam is not None else None, recheck=recheck)

    def _result(self, loaded, report, verdict, prob, timings, *, fov=None, batch=None, cam=None,  # noqa: ANN001
                transform=None, recheck=None) -> ScreenResult:
        backend, precision = self.runtime.name, self.runtime.precision
        if recheck is not None:  # the model that decided
            backend, _, precision = self.recheck["with"].partition("/")  # type: ignore[index]
        return ScreenResult(
            verdict=verdict,
            probability=prob,
            threshold=self.threshold,
            cam=None if cam is None else np.array(cam, dtype=np.float32),  # a copy: not a view of the batch
            transform=transform,
            quality=report,
            backend=backend,
            precision=precision,
            bundle=self.bundle.id,
            timings_ms=timings,
            source=loaded.source,
            image=loaded.rgb,
            original_size=tuple(loaded.original_size),
            scale=float(loaded.scale),
            fov=fov,
            batch=batch,
            recheck=recheck,
        )

    # ------------------------------------------------------------------------------ batches
    def _run_batch(self, slots: list[_Pending | ScreenResult | ScreenFailure],
                   heatmap: bool) -> list[ScreenResult | ScreenFailure]:
        """5. The model on the photos of one batch that passed the gate; the others pass through.

        A batch whose inference fails (a broken model output) becomes one :class:`ScreenFailure` per
        photo in it: the stream goes on.
        """
        pending = [s for s in slots if isinstance(s, _Pending)]
        if not pending:
            return list(slots)
        try:
            t = time.perf_counter()
            probs, cams, gates, notes = self._infer(np.stack([p.tensor for p in pending]))
            elapsed = _ms(t)
            done = iter([self._finish(p, float(probs[i, 1]), cams[i] if heatmap else None,
                                      BatchInfo(len(pending), i, elapsed), gates[i], notes[i])
                         for i, p in enumerate(pending)])
        except Exception as exc:  # noqa: BLE001 - runtimes raise InferenceError; anything else fails the batch too
            msg = " ".join(str(exc).split()) or type(exc).__name__
            log.debug("inference failed for a batch of %d: %s", len(pending), msg, exc_info=not isinstance(exc, EdgeScreenError))
            done = iter([ScreenFailure(p.loaded.source, msg, type(exc).__name__) for p in pending])
        return [next(done) if isinstance(s, _Pending) else s for s in slots]

    def _prepare_safe(self, src: Any) -> _Pending | ScreenResult | ScreenFailure:
        try:
            return self._prepare(src)
        except Exception as exc:  # noqa: BLE001 - one bad file, whatever broke on it, must not stop the stream
            if not isinstance(exc, (EdgeScreenError, OSError, cv2.error)):
                log.debug("unexpected error preparing %s", _source_name(src), exc_info=True)
            return _failure(src, exc)

    # ----------------------------------------------------------------------------------- public
    def screen(self, image: Any, *, heatmap: bool = True) -> ScreenResult:
        """Screen one image: a path, encoded bytes, an (H, W, 3) uint8 RGB array, or a LoadedImage.

        Raises :class:`~edge_screen.errors.ImageError` for unreadable input; a photo that fails
        the quality gate is not an error: it returns ``verdict="ungradable"``. ``heatmap=False``
        keeps no CAM (``image_heatmap`` is None).
        """
        prepared = self._prepare(image)
        if isinstance(prepared, ScreenResult):
            return prepared
        t = time.perf_counter()
        probs, cams, gates, notes = self._infer(prepared.tensor[None])
        return self._finish(prepared, float(probs[0, 1]), cams[0] if heatmap else None, BatchInfo(1, 0, _ms(t)),
                            gates[0], notes[0])

    def screen_many(
        self, sources: Iterable[Any], *, batch_size: int = 8, heatmap: bool = True, workers: int | None = None
    ) -> Iterator[ScreenResult | ScreenFailure]:
        """Screen a stream of images in input order, ``batch_size`` at a time.

        A generator. ``workers`` threads (default :func:`default_workers`; 0 = prepare in the
        calling thread, no overlap) decode and prepare the next images while the model runs the
        current batch. At most two batches of prepared images are held, and ``sources`` is read at
        most two batches ahead, so thousands of files stream in bounded memory. Unreadable inputs
        yield :class:`ScreenFailure` and the stream goes on.
        """
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise UsageError(f"batch_size must be a positive integer, got {batch_size!r}")
        if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 0):
            raise UsageError(f"workers must be an integer >= 0 (0 = no worker threads), got {workers!r}")
        n_workers = default_workers() if workers is None else workers
        it = iter(sources)
        if n_workers == 0:
            while True:
                slots = [self._prepare_safe(src) for _, src in zip(range(batch_size), it)]
                if not slots:
                    return
                yield from self._run_batch(slots, heatmap)
        pool = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="edge-screen-prepare")
        ahead: deque = deque()

        def read_ahead(limit: int) -> None:
            while len(ahead) < limit:
                src = next(it, _END)
                if src is _END:
                    return
                ahead.append(pool.submit(self._prepare_safe, src))

        try:
            read_ahead(2 * batch_size)
            while ahead:
                slots = [ahead.popleft().result() for _ in range(min(batch_size, len(ahead)))]
                # the next batch is being prepared while this one runs on the model (and is yielded)
                read_ahead(batch_size)
                yield from self._run_batch(slots, heatmap)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
