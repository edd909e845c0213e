"""Screen fundus photos: decode -> field of view -> quality gate -> preprocess -> model -> verdict + heatmap.

Images that fail the quality gate come back ``ungradable`` with the measured reasons and are never
sent to the model: a verdict on a photo the model cannot read is worse than none.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import cv2
import numpy as np

from edge_screen.bundle import Bundle, default_bundle_path, load_bundle
from edge_screen.errors import BundleError, EdgeScreenError, UsageError
from edge_screen.imageio import LoadedImage, load_image
from edge_screen.preprocess import Preprocessed, Transform, detect_fov, preprocess
from edge_screen.quality import QualityReport, QualityThresholds, assess_quality
from edge_screen.runtime import Runtime, create_runtime
from edge_screen.selfcheck import Selection

log = logging.getLogger(__name__)

STAGES = ("decode", "preprocess", "quality", "inference", "heatmap", "total")


@dataclass(frozen=True)
class ScreenResult:
    """The outcome for one image.

    ``image``: the decoded (H', W', 3) uint8 RGB, possibly reduced from the stored image
    (see ``scale``). ``image_heatmap``: (H', W') float32 0..1 aligned with ``image`` (what an
    overlay wants), or None (ungradable, or heatmap=False). ``heatmap``: the same map over the
    ORIGINAL image (``original_size``), computed on first access: for a 12 MP photo that is a
    49 MB array, so display code should use ``image_heatmap`` or :meth:`heatmap_for`.
    ``cam``: the model's own (h, w) map over the model input; ``transform`` maps it back.
    """

    verdict: str
    probability: float | None
    threshold: float
    image_heatmap: np.ndarray | None
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
            "original_size": list(self.original_size) if self.original_size else None,
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
    loaded: LoadedImage
    quality: QualityReport
    pre: Preprocessed
    timings: dict[str, float]
    prep_ms: float  # wall time of decode + FOV + quality + preprocess for this image


def _ms(t: float) -> float:
    return (time.perf_counter() - t) * 1000.0


def _source_name(image: Any) -> str | None:
    if isinstance(image, (str, os.PathLike)):
        return os.fspath(image)
    if isinstance(image, LoadedImage):
        return image.source
    return None


class Screener:
    """Screens images with one bundle on one runtime (not thread-safe; use one per thread).

    ``bundle``: a loaded :class:`Bundle`, a bundle path, or None for the bundle shipped with the
    package (BundleError when there is none). ``backend``/``precision``: None chooses
    automatically (see :func:`edge_screen.runtime.create_runtime`). ``quality``: gate thresholds;
    None loads the defaults with the bundle's overrides.
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
        self.runtime: Runtime = create_runtime(
            self.bundle, backend=backend, precision=precision, threads=threads, device=device
        )
        if quality is None:
            quality = QualityThresholds.load()
            overrides = self.bundle.quality_overrides
            if overrides:
                try:
                    quality = dataclasses.replace(quality, **overrides)
                except TypeError as exc:
                    valid = [f.name for f in dataclasses.fields(quality)]
                    raise BundleError(
                        f"bundle {self.bundle.name!r}: manifest 'quality' has unknown keys {sorted(overrides)}; valid: {valid}"
                    ) from exc
        self.quality = quality
        self.threshold = self.bundle.threshold

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

    # ---------------------------------------------------------------------------------- stages
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

    def _prepare(self, image: Any) -> _Pending | ScreenResult:
        t0 = time.perf_counter()
        timings = dict.fromkeys(STAGES, 0.0)
        t = time.perf_counter()
        loaded = self._decode(image)
        timings["decode"] = _ms(t)
        t = time.perf_counter()
        fov = detect_fov(loaded.rgb)
        timings["preprocess"] = _ms(t)
        t = time.perf_counter()
        report = assess_quality(loaded.rgb, fov=fov, thresholds=self.quality)
        timings["quality"] = _ms(t)
        if not report.ok:
            timings["total"] = _ms(t0)
            return self._result(loaded, report, "ungradable", None, None, timings)
        t = time.perf_counter()
        pre = preprocess(loaded.rgb, self.bundle.preprocessing, fov=fov)
        timings["preprocess"] += _ms(t)
        return _Pending(loaded, report, pre, timings, _ms(t0))

    def _finish(self, p: _Pending, prob: float, heat: np.ndarray | None, inference_ms: float) -> ScreenResult:
        t_finish = time.perf_counter()
        p.timings["inference"] = inference_ms
        mapped = None
        if heat is not None:
            t = time.perf_counter()
            # aligned with the decoded image; the original-size map is computed only on request
            mapped = p.pre.transform.map_to_image(heat).astype(np.float32, copy=False)
            p.timings["heatmap"] = _ms(t)
        verdict = "abnormal" if prob >= self.threshold else "normal"
        # own stages only: in a batch, other images' decoding does not count against this one
        p.timings["total"] = p.prep_ms + inference_ms + _ms(t_finish)
        return self._result(p.loaded, p.quality, verdict, prob, mapped, p.timings,
                            cam=heat, transform=p.pre.transform if heat is not None else None)

    def _result(self, loaded, report, verdict, prob, heat, timings, *, cam=None, transform=None) -> ScreenResult:  # noqa: ANN001
        return ScreenResult(
            verdict=verdict,
            probability=prob,
            threshold=self.threshold,
            image_heatmap=heat,
            cam=None if cam is None else np.asarray(cam, dtype=np.float32),
            transform=transform,
            quality=report,
            backend=self.runtime.name,
            precision=self.runtime.precision,
            bundle=self.bundle.id,
            timings_ms=timings,
            source=loaded.source,
            image=loaded.rgb,
            original_size=tuple(loaded.original_size),
            scale=float(loaded.scale),
        )

    def _infer(self, pending: list[_Pending], heatmap: bool) -> list[ScreenResult]:
        t = time.perf_counter()
        probs, heats = self.runtime.run(np.stack([p.pre.tensor for p in pending]))
        per_image = _ms(t) / len(pending)  # batched: each image gets its share
        return [
            self._finish(p, float(probs[i, 1]), heats[i] if heatmap else None, per_image) for i, p in enumerate(pending)
        ]

    # ----------------------------------------------------------------------------------- public
    def screen(self, image: Any, *, heatmap: bool = True) -> ScreenResult:
        """Screen one image: a path, encoded bytes, an (H, W, 3) uint8 RGB array, or a LoadedImage.

        Raises :class:`~edge_screen.errors.ImageError` for unreadable input; a photo that fails
        the quality gate is not an error: it returns ``verdict="ungradable"``.
        """
        prepared = self._prepare(image)
        if isinstance(prepared, ScreenResult):
            return prepared
        return self._infer([prepared], heatmap)[0]

    def screen_many(
        self, sources: Iterable[Any], *, batch_size: int = 8, heatmap: bool = True
    ) -> Iterator[ScreenResult | ScreenFailure]:
        """Screen a stream of images in input order, ``batch_size`` at a time.

        A generator: at most ``batch_size`` decoded images are held at once, so thousands of files
        stream in bounded memory. Unreadable inputs yield :class:`ScreenFailure` and the stream
        goes on.
        """
        if not isinstance(batch_size, int) or batch_size < 1:
            raise UsageError(f"batch_size must be a positive integer, got {batch_size!r}")
        slots: list[_Pending | ScreenResult | ScreenFailure] = []
        for src in sources:
            try:
                slots.append(self._prepare(src))
            except (EdgeScreenError, OSError, cv2.error) as exc:  # one bad file must not stop the stream
                msg = " ".join(str(exc).split()) or type(exc).__name__
                log.debug("screening %s failed: %s", _source_name(src), msg)
                slots.append(ScreenFailure(_source_name(src), msg, type(exc).__name__))
            if len(slots) >= batch_size:
                yield from self._flush(slots, heatmap)
                slots = []
        if slots:
            yield from self._flush(slots, heatmap)

    def _flush(self, slots: list, heatmap: bool) -> Iterator[ScreenResult | ScreenFailure]:
        pending = [s for s in slots if isinstance(s, _Pending)]
        done = iter(self._infer(pending, heatmap)) if pending else iter(())
        for s in slots:
            yield next(done) if isinstance(s, _Pending) else s

