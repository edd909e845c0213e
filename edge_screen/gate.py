"""The learned gate: gradability and out-of-distribution decisions from the model's extra outputs.

A bundle exported with a gate (``edge-screen train-gate`` then ``edge-screen export --gate``) has two
more outputs in every graph, computed from the same pooled backbone features as the classifier (so
ONNX Runtime, OpenVINO and TensorRT all run it, and it costs two small matrix products):

* ``gate_probabilities`` ``[B, K]`` float32 softmax over the gate's classes; class 0 is
  ``gradable``, the others name a cause (``blurred``, ``too_dark``, ...).
* ``ood_distance`` ``[B]`` float32: a Mahalanobis distance of the pooled features to the training
  photos (shrinkage covariance), divided by the feature count, so about 1 on training photos.

The manifest's ``gate`` block holds the classes, their reason codes and messages, and the two
limits, chosen by ``train-gate``: ``max_ungradable`` on ``1 - p(gradable)`` (from out-of-fold scores
of real photos) and ``max_ood`` (so that at most 2 % of photos from a source held out of the fit are
rejected). :meth:`LearnedGate.assess` turns one image's outputs into a :class:`GateDecision`.

Bundles without the block (older ones) have no learned gate: only the hand-set checks of
:mod:`edge_screen.quality` run. An image the learned gate rejects is ``ungradable`` and its
``probability`` is None, like any other ungradable image (the model's P(abnormal) stays in
``quality.metrics["model_probability"]`` for audit; it is not a verdict).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_screen.errors import BundleError

#: Optional graph outputs of the gate (model I/O contract, ARCHITECTURE.md).
GATE_OUTPUTS = ("gate_probabilities", "ood_distance")
GATE_SCHEMA = "edge-screen-gate/1"
#: Reason codes a gate class may carry (shared contract 2).
LEARNED_REASONS = ("blurred", "too_dark", "too_bright", "hazy", "low_resolution", "not_fundus", "ungradable")


@dataclass(frozen=True)
class GateClass:
    """One output of the gradability head: its name, reason code and what to tell the technician."""

    name: str
    reason: str
    message: str


@dataclass(frozen=True)
class GateDecision:
    """The learned gate's answer for one image.

    Attributes:
        ok: True when neither the gradability nor the distribution check fails.
        reasons / messages: codes and sentences (with the measured value and the limit), main first.
        metrics: ``p_ungradable``, ``p_<class>`` per class, ``ood_distance``.
    """

    ok: bool
    reasons: tuple[str, ...]
    messages: tuple[str, ...]
    metrics: dict[str, float]


@dataclass(frozen=True)
class LearnedGate:
    """Limits and classes of a bundle's learned gate (the manifest's ``gate`` block).

    Attributes:
        classes: the gradability head's classes; ``classes[0]`` is ``gradable``.
        max_ungradable: ungradable when ``1 - p(gradable)`` is at least this.
        max_ood: out of distribution when ``ood_distance`` is at least this.
        far_ood: from this distance on, the distribution check is the main reason even when the
            gradability head also fires (a cat in a black circle is "not a fundus photograph", not
            "blurred").
        report: bundle path of the gate report, if any.
    """

    classes: tuple[GateClass, ...]
    max_ungradable: float
    max_ood: float
    far_ood: float
    report: str | None = None

    @classmethod
    def from_manifest(cls, block: Any, *, bundle: str = "?") -> LearnedGate:
        """Validate the manifest block; BundleError names the bad field."""
        where = f"bundle {bundle!r}: manifest field 'gate'"
        if not isinstance(block, dict) or block.get("schema") != GATE_SCHEMA:
            raise BundleError(f"{where} must be an object with schema {GATE_SCHEMA!r}, got {str(block)[:120]}")
        raw = block.get("classes")
        if not isinstance(raw, list) or len(raw) < 2:
            raise BundleError(f"{where}.classes must list at least 2 classes, got {raw!r}")
        classes = []
        for i, c in enumerate(raw):
            if not (isinstance(c, dict) and all(isinstance(c.get(k), str) for k in ("name", "reason", "message"))):
                raise BundleError(f"{where}.classes[{i}] needs string name, reason and message, got {c!r}")
            if i == 0 and c["name"] != "gradable":
                raise BundleError(f"{where}.classes[0] must be 'gradable', got {c['name']!r}")
            if i > 0 and c["reason"] not in LEARNED_REASONS:
                raise BundleError(f"{where}.classes[{i}].reason {c['reason']!r} is not one of {list(LEARNED_REASONS)}")
            classes.append(GateClass(c["name"], c["reason"], c["message"]))
        limits = {}
        for key, lo, hi in (("max_ungradable", 0.0, 1.0), ("max_ood", 0.0, math.inf), ("far_ood", 0.0, math.inf)):
            v = block.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo < v <= hi:
                raise BundleError(f"{where}.{key} must be a number in ({lo:g}, {hi:g}], got {v!r}")
            limits[key] = float(v)
        if limits["far_ood"] < limits["max_ood"]:
            raise BundleError(f"{where}: far_ood {limits['far_ood']} is below max_ood {limits['max_ood']}")
        return cls(tuple(classes), report=block.get("report"), **limits)

    @classmethod
    def of_bundle(cls, bundle: Any) -> LearnedGate | None:
        """The bundle's learned gate, or None for a bundle without one (hand-set gate only)."""
        block = bundle.manifest.get("gate")
        return None if block is None else cls.from_manifest(block, bundle=bundle.name)

    def assess(self, probabilities: np.ndarray, ood: float) -> GateDecision:
        """Decide for one image from its ``gate_probabilities`` row ``(K,)`` and ``ood_distance``."""
        p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
        if p.shape[0] != len(self.classes):
            raise BundleError(f"the gate output has {p.shape[0]} classes, the manifest lists {len(self.classes)}: "
                              "re-export the bundle")
        ood = float(ood)
        p_bad = float(1.0 - p[0])
        metrics = {"p_ungradable": p_bad, "ood_distance": ood,
                   **{f"p_{c.name}": float(v) for c, v in zip(self.classes, p)}}
        found: list[tuple[str, str]] = []
        if p_bad >= self.max_ungradable:
            k = 1 + int(np.argmax(p[1:]))
            c = self.classes[k]
            found.append((c.reason, f"{c.message} (learned quality check: {p_bad:.0%} likely ungradable, "
                                    f"mostly {c.name.replace('_', ' ')}; limit {self.max_ungradable:.0%})"))
        if ood >= self.max_ood:
            msg = (f"not like the fundus photographs the model was trained on (distance {ood:.2f}, limit "
                   f"{self.max_ood:.2f}): check that this is a colour fundus photograph of a retina; if it is, "
                   "this camera or eye is outside what the model knows - retake, or refer")
            entry = ("out_of_distribution", msg)
            found.insert(0 if ood >= self.far_ood else len(found), entry)
        return GateDecision(not found, tuple(r for r, _ in found), tuple(m for _, m in found), metrics)

    def to_manifest(self) -> dict[str, Any]:
        """The manifest block (inverse of :meth:`from_manifest`)."""
        d: dict[str, Any] = {"schema": GATE_SCHEMA, "outputs": list(GATE_OUTPUTS),
                             "classes": [{"name": c.name, "reason": c.reason, "message": c.message}
                                         for c in self.classes],
                             "max_ungradable": self.max_ungradable, "max_ood": self.max_ood, "far_ood": self.far_ood}
        if self.report:
            d["report"] = self.report
        return d


#: The classes ``train-gate`` fits (class 0 = gradable) and what each tells the technician.
DEFAULT_CLASSES = (
    GateClass("gradable", "ok", "gradable"),
    GateClass("blurred", "blurred", "blurred: refocus and retake"),
    GateClass("too_dark", "too_dark", "too dark: more light (flash, pupil), then retake"),
    GateClass("too_bright", "too_bright", "too bright / overexposed: less light, then retake"),
    GateClass("hazy", "hazy", "hazy: clean the camera lens, then retake"),
    GateClass("low_resolution", "low_resolution",
              "heavy compression (blocky): use the camera's original photo, not a compressed copy"),
    GateClass("artefacts", "ungradable",
              "ungradable: reflections or eyelashes cover the retina; realign, ask the patient to open wide, "
              "and retake"),
    GateClass("field", "ungradable",
              "ungradable: part of the field is dark (small pupil or camera off-centre); centre the camera on "
              "the pupil and retake"),
    GateClass("not_fundus", "not_fundus", "not a fundus photograph: photograph the retina with the fundus camera"),
)
