"""On-device self-check of every model of a bundle, and the measured choice of (backend, precision).

Why: an INT8 model that gives the FP32 verdict on the exporter's CPU may not on another (issue 12:
on x86 CPUs without VNNI the u8 x s8 multiply-add saturates; the shipped 1.1.0 bundle agreed with
FP32 on 99.2% of photos on a VNNI CPU and on 88.9-95% on an AVX2 one). So the first time a bundle is
used on a machine, each of its models that can run here:

1. runs the bundle's golden set (:mod:`edge_screen.golden`) and is judged against the FP32
   reference (:func:`edge_screen.fidelity.judge`): unfaithful if any verdict flips, the mean
   |dp| exceeds 0.02 or the heatmap correlation falls below 0.9 (the bundle may set other limits);
2. is timed for about a second (batch 1, median).

The fastest faithful model is chosen; a reduced-precision model only when it is at least
:data:`MIN_SPEEDUP` faster than the fastest FP32 one (a tie goes to the reference precision). A
bundle without a golden set cannot verify INT8/FP16 here: only its FP32 models are candidates.
``backend``/``precision`` still force a choice (a forced unfaithful model is used, with a warning).

The per-model results are cached per machine in ``<cache>/selfcheck/<key>.json``; the key covers
the CPU model and flags, the library versions, the bundle id (which hashes the manifest and so every
file hash) and the thread/device settings. ``<cache>`` honours ``EDGE_SCREEN_CACHE`` (as zip bundles do).

Public API: :func:`select_runtime` (what :func:`edge_screen.runtime.create_runtime` calls),
:class:`Selection` (``runtime.selection`` / ``Screener.selection``: ``summary()`` for people,
``to_dict()`` for JSON), :class:`ModelCheck`, :func:`cache_key`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_screen import NOTICE_LOGGER
from edge_screen.errors import BackendUnavailable, EdgeScreenError, UsageError
from edge_screen.fidelity import Fidelity, judge
from edge_screen.golden import GoldenSet, load_golden
from edge_screen.recheck import RecheckPolicy, entry_policy

if TYPE_CHECKING:
    from edge_screen.bundle import Bundle, ModelEntry
    from edge_screen.runtimes.base import Runtime

log = logging.getLogger(__name__)

CACHE_FORMAT = 2  # 2: start-up costs (import_ms, load_ms, first_ms) in every check
#: A reduced-precision model must beat the fastest FP32 model by this factor to be chosen.
MIN_SPEEDUP = 1.05
TIMING_S = 1.0  # measure each candidate for about this long
MIN_RUNS, MAX_RUNS, WARMUP = 3, 200, 2
REFERENCE_PRECISION = "fp32"
#: ModelCheck.status values; the first two may be chosen automatically.
STATUSES = ("faithful", "reference", "unfaithful", "unverified", "failed")
_MEMO: dict[str, dict[str, Any]] = {}


@dataclass(frozen=True)
class ModelCheck:
    """What the self-check found for one (backend, precision) of the bundle on this machine.

    ``status``: ``faithful`` (passed the golden set), ``reference`` (FP32 in a bundle without a
    golden set: the reference precision itself), ``unfaithful`` (see ``reason``), ``unverified``
    (INT8/FP16 but the bundle has no golden set) or ``failed`` (could not load or run here).
    ``latency_ms``: median batch-1 latency measured here (None when not timed). What a fresh process
    pays before its first result, measured here too: ``import_ms`` (this process's first import of
    the backend's library), ``load_ms`` (loading the model again, with the model caches warm) and
    ``first_ms`` (that copy's first batch-1 run). None when not measured (older caches).
    """

    backend: str
    precision: str
    status: str
    reason: str
    fidelity: Fidelity | None = None
    latency_ms: float | None = None
    runs: int = 0
    import_ms: float | None = None
    load_ms: float | None = None
    first_ms: float | None = None

    @property
    def name(self) -> str:
        return f"{self.backend}/{self.precision}"

    @property
    def usable(self) -> bool:
        """May be chosen automatically."""
        return self.status in ("faithful", "reference")

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "precision": self.precision, "status": self.status, "reason": self.reason,
                "fidelity": None if self.fidelity is None else self.fidelity.to_dict(),
                "latency_ms": self.latency_ms, "runs": self.runs, "import_ms": self.import_ms,
                "load_ms": self.load_ms, "first_ms": self.first_ms}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelCheck:
        fid = d.get("fidelity")
        return cls(str(d["backend"]), str(d["precision"]), str(d["status"]), str(d["reason"]),
                   None if fid is None else Fidelity.from_dict(fid),
                   _ms_or_none(d.get("latency_ms")), int(d.get("runs", 0)), _ms_or_none(d.get("import_ms")),
                   _ms_or_none(d.get("load_ms")), _ms_or_none(d.get("first_ms")))  # fmt: skip

    @property
    def startup_ms(self) -> float | None:
        """What a fresh process pays for this model beyond its per-photo latency: library import, model
        load and the first run's excess over the median; None when not measured."""
        if self.load_ms is None or self.latency_ms is None:
            return None
        first = self.latency_ms if self.first_ms is None else self.first_ms
        return (self.import_ms or 0.0) + self.load_ms + max(0.0, first - self.latency_ms)


def _ms_or_none(v: Any) -> float | None:
    return None if v is None else float(v)


@dataclass(frozen=True)
class Selection:
    """Which model the runtime uses and why (what ``edge-screen info``, the JSON output and the app show).

    ``checks``: every model of the bundle considered on this machine; ``forced``: the caller named
    both backend and precision; ``cached``: the checks came from this machine's cache.
    """

    backend: str
    precision: str
    reason: str
    forced: bool
    checks: tuple[ModelCheck, ...]
    machine: dict[str, Any]
    key: str
    cached: bool
    created: str
    warnings: tuple[str, ...] = field(default_factory=tuple)
    #: the borderline re-check in force (:mod:`edge_screen.recheck`): ``{"margin", "fraction", "images",
    #: "basis", "with"}`` (``with``: the FP32 model that decides photos inside the band), or None
    recheck: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return f"{self.backend}/{self.precision}"

    @property
    def skipped(self) -> dict[str, str]:
        """``{"backend/precision": reason}`` of the models that could not be chosen."""
        return {c.name: c.reason for c in self.checks if not c.usable}

    def summary(self) -> str:
        """One or two sentences for people (app Settings, ``edge-screen info``)."""
        text = f"Using {self.name}: {self.reason}."
        if self.recheck:
            text += (f" Photos within {self.recheck['margin']:.3f} of the threshold are decided by "
                     f"{self.recheck['with']}.")
        if self.skipped:
            text += " Not used: " + "; ".join(f"{k} ({v})" for k, v in self.skipped.items()) + "."
        return text

    def brief(self) -> dict[str, Any]:
        """Compact JSON form for per-image output lines."""
        return {"backend": self.backend, "precision": self.precision, "reason": self.reason,
                "forced": self.forced, "skipped": self.skipped, "recheck": self.recheck}  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {**self.brief(), "checks": [c.to_dict() for c in self.checks], "machine": self.machine,
                "key": self.key, "cached": self.cached, "created": self.created, "warnings": list(self.warnings)}  # fmt: skip


# ------------------------------------------------------------------------------------- the key
def machine_fingerprint() -> dict[str, Any]:
    """CPU model and flags, OS/architecture and the installed versions of every registered runtime library
    (from pip's metadata: computing the key imports none of them)."""
    from edge_screen import __version__
    from edge_screen.cpuinfo import cpu_info, isa_record
    from edge_screen.backends import backends

    model, flags = cpu_info()
    isa = isa_record()
    libs = {name: b.installed() for name, b in backends().items()}  # pip metadata: no library import
    return {"cpu": model, "flags_sha256": hashlib.sha256(" ".join(sorted(flags)).encode()).hexdigest(),
            "isa": isa["isa"], "int8_dot_product": isa["int8_dot_product"],
            "machine": platform.machine(), "system": platform.system(), "python": platform.python_version(),
            "numpy": np.__version__, "libraries": libs, "edge_screen": __version__}  # fmt: skip


def cache_key(bundle: Bundle, *, threads: int | None, device: str | None, machine: dict[str, Any] | None = None) -> str:
    """Hex key of the self-check cache: machine fingerprint + bundle id + thread/device settings."""
    m = machine_fingerprint() if machine is None else machine
    canon = json.dumps({"format": CACHE_FORMAT, "machine": m, "bundle": bundle.id, "threads": threads, "device": device},
                       sort_keys=True, separators=(",", ":"))  # fmt: skip
    return hashlib.sha256(canon.encode()).hexdigest()


def _cache_path(key: str) -> Path:
    from edge_screen.bundle_archive import cache_root

    return cache_root() / "selfcheck" / f"{key[:32]}.json"


def _read_cache(key: str) -> dict[str, Any] | None:
    if key in _MEMO:
        return _MEMO[key]
    path = _cache_path(key)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("ignoring unreadable self-check cache %s (%s)", path, exc)
        return None
    if data.get("format") != CACHE_FORMAT or data.get("key") != key:
        return None
    _MEMO[key] = data
    return data


def _write_cache(key: str, data: dict[str, Any]) -> None:
    _MEMO[key] = data
    path = _cache_path(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".selfcheck-", suffix=".json", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)
    except OSError as exc:  # read-only cache: the check simply runs again next time
        log.warning("could not write the self-check cache %s (%s); it will run again next start", path, exc)


def _forget(key: str) -> None:
    _MEMO.pop(key, None)
    try:
        _cache_path(key).unlink()
    except OSError:
        pass


def _selects(name: str, backend: str | None, precision: str | None) -> bool:
    b, _, p = name.partition("/")
    return (backend is None or b == backend) and (precision is None or p == precision)


def _unavailable_entries(bundle: Bundle, found: list[tuple[type[Runtime], ModelEntry]]) -> dict[str, str]:
    """``{"backend/precision": reason}`` of the entries that a full probe left out of ``found``
    because their backend cannot run here (already imported by that probe, so this is cheap)."""
    from edge_screen.backends import get_backend
    from edge_screen.runtimes.selection import candidates

    ok = {f"{e.backend}/{e.precision}" for _, e in found}
    cheap, _ = candidates(bundle, probe=False)
    return {f"{e.backend}/{e.precision}": get_backend(e.backend).unavailable() or "not usable here"
            for _, e in cheap if f"{e.backend}/{e.precision}" not in ok}


# ---------------------------------------------------------------------------------- the checks
def _reference_outputs(golden: GoldenSet, bundle: Bundle, runtimes: dict[str, Runtime], threads: int | None
                       ) -> tuple[np.ndarray, np.ndarray, str]:  # fmt: skip
    """The outputs the candidates are judged against, and a note on where they came from."""
    if golden.exact:
        return golden.probabilities, golden.heatmaps, f"stored {golden.reference} reference"
    backend, precision = golden.reference.split("/")
    rt = runtimes.get(golden.reference) or _load(bundle, bundle.model(backend, precision), threads, None)
    probs, heat = _run_all(rt, golden.inputs)
    return probs, heat, f"{golden.reference} on this machine (the JPEG decoder here gives other golden pixels)"


def _load(bundle: Bundle, entry: ModelEntry, threads: int | None, device: str | None) -> Runtime:
    from edge_screen.runtimes.selection import get_runtime_class

    return get_runtime_class(entry.backend)(bundle, entry, threads=threads, device=device)


def _run_all(rt: Runtime, inputs: np.ndarray, batch: int = 4) -> tuple[np.ndarray, np.ndarray]:
    outs = [rt.run(inputs[i : i + batch]) for i in range(0, len(inputs), batch)]
    return np.concatenate([o[0] for o in outs]), np.concatenate([o[1] for o in outs])


def _time(rt: Runtime, x: np.ndarray, budget_s: float) -> tuple[float, int]:
    """Median batch-1 latency (ms) over about ``budget_s`` seconds, and the number of timed runs."""
    for _ in range(WARMUP):
        rt.run(x)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < MAX_RUNS and (len(times) < MIN_RUNS or time.perf_counter() - start < budget_s):
        t = time.perf_counter()
        rt.run(x)
        times.append((time.perf_counter() - t) * 1000.0)
    return statistics.median(times), len(times)


def check_model(
    bundle: Bundle,
    entry: ModelEntry,
    golden: GoldenSet | None,
    *,
    threads: int | None = None,
    device: str | None = None,
    timing_s: float = TIMING_S,
    reference: tuple[np.ndarray, np.ndarray] | None = None,
    runtime: Runtime | None = None,
    strict: bool = False,
) -> tuple[ModelCheck, Runtime | None]:
    """Load ``entry``, run the golden set, judge it and time it. Returns the check and the loaded runtime.

    ``reference``: outputs to judge against (default: the golden set's stored FP32 reference).
    A model that cannot be loaded or run comes back ``failed`` (and no runtime); with ``strict``
    (the caller named the backend) the load error (bad ``device``, broken file, ...) is raised instead.
    """
    name = f"{entry.backend}/{entry.precision}"
    if golden is None and entry.precision != REFERENCE_PRECISION:
        return ModelCheck(entry.backend, entry.precision, "unverified",
                          "the bundle has no golden set to check it with (add one: edge-screen golden)"), None  # fmt: skip
    try:
        rt = runtime or _load(bundle, entry, threads, device)
    except EdgeScreenError as exc:
        if strict:  # the caller named this backend: say why it cannot load (bad device, broken file, ...)
            raise
        return ModelCheck(entry.backend, entry.precision, "failed", f"cannot load here: {_one_line(exc)}"), None
    x = golden.inputs[:1] if golden is not None else np.zeros((1, 3, *(bundle.preprocessing.input_size,) * 2), np.float32)
    fid = None
    try:
        if golden is None:
            status, reason = "reference", "FP32, the reference precision (the bundle has no golden set)"
        else:
            ref = reference if reference is not None else (golden.probabilities, golden.heatmaps)
            fid = judge(ref, _run_all(rt, golden.inputs), threshold=bundle.threshold, limits=golden.limits,
                        names=golden.names)  # fmt: skip
            status = "faithful" if fid.faithful else "unfaithful"
            reason = (f"matches FP32 on {fid.images} golden images (mean |dp| {fid.mean_abs_dp:.4f}, "
                      f"heatmap r {fid.heatmap_r_mean:.3f})") if fid.faithful else "; ".join(fid.reasons)  # fmt: skip
        latency, runs = _time(rt, x, timing_s) if status in ("faithful", "reference") else (None, 0)
        load_ms = first_ms = None
        if latency is not None:  # what a later process pays to start it: load again (caches warm), run once
            t = time.perf_counter()
            again = _load(bundle, entry, threads, device)
            load_ms = (time.perf_counter() - t) * 1000.0
            t = time.perf_counter()
            again.run(x)
            first_ms = (time.perf_counter() - t) * 1000.0
            del again
    except (EdgeScreenError, RuntimeError, ValueError, MemoryError) as exc:
        return ModelCheck(entry.backend, entry.precision, "failed", f"cannot run here: {_one_line(exc)}"), None
    from edge_screen.backends import first_check_ms

    log.info("self-check %s: %s (%s)%s", name, status, reason, f", {latency:.2f} ms" if latency else "")
    return ModelCheck(entry.backend, entry.precision, status, reason, fid, latency, runs,
                      first_check_ms(entry.backend), load_ms, first_ms), rt  # fmt: skip


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


# --------------------------------------------------------------------------------- the choice
def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _policy_here(bundle: Bundle, check: ModelCheck) -> RecheckPolicy | None:
    """The manifest's re-check policy of ``check``'s model, its margin widened to the largest |dp| its
    golden set gave on this machine; None for FP32, for models without one, or when no band covers it."""
    if check.precision == REFERENCE_PRECISION:
        return None
    policy = entry_policy(bundle.model(check.backend, check.precision), bundle.name)
    if policy is None or check.fidelity is None:
        return policy
    try:
        return policy.widened(check.fidelity.max_abs_dp, f"max |dp| {check.fidelity.max_abs_dp:.4f} on the golden "
                              "set on this machine")  # fmt: skip
    except UsageError as exc:
        log.warning("%s: no borderline re-check: %s", check.name, exc)
        return None


def recheck_policies(bundle: Bundle, checks: list[ModelCheck]) -> dict[str, RecheckPolicy]:
    """The borderline re-check (:mod:`edge_screen.recheck`) of each usable reduced-precision model that
    declares one (:func:`_policy_here`)."""
    found = {c.name: _policy_here(bundle, c) for c in checks if c.usable}
    return {name: p for name, p in found.items() if p is not None}


def _recheck_for(bundle: Bundle, chosen: ModelCheck, checks: dict[str, ModelCheck]) -> dict[str, Any] | None:
    """The borderline re-check of the chosen model (forced or not): :func:`_policy_here`, and the FP32
    model that decides (the fastest faithful one measured here, else the bundle's onnxruntime/fp32).
    None for FP32 and for models that declare no re-check."""
    policy = _policy_here(bundle, chosen)
    if policy is None:
        return None
    fp32 = [c for c in checks.values() if c.precision == REFERENCE_PRECISION and c.usable and c.latency_ms]
    if fp32:
        with_ = min(fp32, key=lambda c: c.latency_ms or 0.0).name
    elif any((e.backend, e.precision) == ("onnxruntime", REFERENCE_PRECISION) for e in bundle.models):
        with_ = f"onnxruntime/{REFERENCE_PRECISION}"
    else:
        log.warning("%s: no FP32 model to re-check borderline photos with; its verdicts are used as they are",
                    chosen.name)  # fmt: skip
        return None
    return {**policy.to_dict(), "with": with_}


def _pick(checks: list[ModelCheck], policies: dict[str, RecheckPolicy] | None = None, images: int | None = None
          ) -> tuple[ModelCheck, str, RecheckPolicy | None]:  # fmt: skip
    """The usable check with the lowest cost per photo, preferring FP32 unless reduced precision is
    measurably faster. Returns (check, why, its re-check or None).

    A model with a borderline re-check costs its own latency plus the share of photos it re-checks
    times the fastest FP32 model's latency. ``images``: how many photos this process will screen
    (None: a long-running app or a stream); when given, each model's start-up in a fresh process
    (:attr:`ModelCheck.startup_ms`) is spread over them, so one photo on the command line goes to
    the model that gives its verdict soonest, not the one that is fastest after a long warm-up.
    """
    policies = policies or {}
    usable = [c for c in checks if c.usable]
    fp32 = sorted((c for c in usable if c.precision == REFERENCE_PRECISION and c.latency_ms is not None),
                  key=lambda c: c.latency_ms or 0.0)  # fmt: skip
    ref = fp32[0] if fp32 else None

    def cost(c: ModelCheck) -> float | None:
        if c.latency_ms is None:
            return None
        policy = policies.get(c.name) if ref is not None else None
        share = 0.0 if policy is None else (1.0 if policy.fraction is None else policy.fraction)
        per = c.latency_ms + (share * (ref.latency_ms or 0.0) if ref is not None else 0.0)
        if images is None or c.startup_ms is None:
            return per
        total = c.startup_ms + images * per
        if share and ref is not None and ref.startup_ms is not None:  # the FP32 model starts when first needed
            extra = ref.startup_ms - ((ref.import_ms or 0.0) if ref.backend == c.backend else 0.0)
            total += (1.0 - (1.0 - share) ** images) * extra
        return total / images

    def label(c: ModelCheck) -> str:
        ms = cost(c)
        if ms is None:
            return c.name
        extra = ""
        if ms != c.latency_ms:
            extra = (f", {ms:.1f} ms per photo for {images} with its start-up" if images is not None and c.startup_ms
                     is not None else f", {ms:.1f} ms with its re-checks")  # fmt: skip
        return f"{c.name} {c.latency_ms:.1f} ms{extra}"

    timed = sorted(usable, key=lambda c: (cost(c) is None, cost(c) or 0.0))
    best = timed[0]
    fp32_best = min((c for c in timed if c.precision == REFERENCE_PRECISION and cost(c) is not None),
                    key=lambda c: cost(c) or 0.0, default=None)  # fmt: skip
    others = ", ".join(label(c) for c in timed[1:] if c.latency_ms is not None)
    best_ms = cost(best)
    if best.precision != REFERENCE_PRECISION and fp32_best is not None and best_ms is not None \
            and best_ms * MIN_SPEEDUP > (cost(fp32_best) or 0.0):  # fmt: skip
        return fp32_best, (f"{label(best)} is not measurably faster than {label(fp32_best)} on this machine, so "
                           "the reference precision is used"), None  # fmt: skip
    if best.latency_ms is None:
        return best, "the only model that runs here", None
    policy = policies.get(best.name) if ref is not None else None
    why = "faithful to FP32 on the golden set" if best.status == "faithful" else "the reference precision"
    if policy is not None:
        why += f", borderline photos re-checked by {ref.name}"  # type: ignore[union-attr]
    return best, f"fastest model on this machine, {why} ({label(best)}" + (f"; {others}" if others else "") + ")", policy


def select_runtime(
    bundle: Bundle,
    *,
    backend: str | None = None,
    precision: str | None = None,
    threads: int | None = None,
    device: str | None = None,
    use_cache: bool = True,
    timing_s: float = TIMING_S,
    images: int | None = None,
) -> Runtime:
    """Self-check (cached) the candidate models and load the chosen one; ``runtime.selection`` says why.

    ``images``: how many photos this process will screen, when known (the command line); the choice
    then counts each model's start-up (see :func:`_pick`). None: per-photo speed only (the app).

    Raises :class:`BackendUnavailable` when no model of the bundle can run here, or when none is
    faithful to FP32 on this machine (and none was forced).
    """
    from edge_screen.runtimes.selection import candidates, no_model_message

    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        raise UsageError(f"threads must be a positive integer or None (library default), got {threads!r}")
    if images is not None and (not isinstance(images, int) or isinstance(images, bool) or images < 1):
        raise UsageError(f"images must be a positive integer or None (unknown), got {images!r}")
    forced = backend is not None and precision is not None
    machine = machine_fingerprint()
    key = cache_key(bundle, threads=threads, device=device, machine=machine)
    cached = (_read_cache(key) if use_cache else None) or {}
    checks = {n: ModelCheck.from_dict(d) for n, d in (cached.get("checks") or {}).items()}
    # With the machine's cache, what runs here is known: no backend library is imported just to
    # ask (OpenVINO's import alone is ~0.1-0.25 s); only the chosen one is loaded.
    known = cached.get("unavailable") if isinstance(cached.get("unavailable"), dict) else None
    found, skipped, fast = [], [], False
    if known is not None:
        found, skipped = candidates(bundle, backend=backend, precision=precision, probe=False)
        skipped += [f"{n} ({why})" for n, why in known.items() if _selects(n, backend, precision)]
        found = [(c, e) for c, e in found if f"{e.backend}/{e.precision}" not in known]
        fast = bool(found) and all(f"{e.backend}/{e.precision}" in checks for _, e in found)
    if not fast:
        found, skipped = candidates(bundle, backend=backend, precision=precision)
    if not found:
        raise BackendUnavailable(no_model_message(bundle, precision, skipped))
    for line in skipped:  # entries this machine cannot run at all: never left out silently
        log.info("bundle %s: not a candidate here: %s", bundle.name, line)
    if forced:
        found = [(c, e) for c, e in found if e is bundle.model(backend, precision)] or found[:1]
    names = [f"{e.backend}/{e.precision}" for _, e in found]
    todo = [e for (_, e), n in zip(found, names) if n not in checks]
    runtimes: dict[str, Runtime] = {}
    warnings: list[str] = []
    if todo:
        golden = load_golden(bundle)
        # shown by the CLI even without -v (a first start takes seconds longer; say why, once)
        logging.getLogger(NOTICE_LOGGER).info(
            "first use of bundle %s on this machine: checking %s against the golden set (a few seconds, once)",
            bundle.id, ", ".join(f"{e.backend}/{e.precision}" for e in todo))  # fmt: skip
        reference = None
        if golden is not None and not golden.exact:
            try:
                reference = _reference_outputs(golden, bundle, runtimes, threads)[:2]
            except EdgeScreenError as exc:
                raise BackendUnavailable(f"cannot compute the golden reference here: {_one_line(exc)}") from exc
        for entry in todo:
            check, rt = check_model(bundle, entry, golden, threads=threads, device=device, timing_s=timing_s,
                                    reference=reference, strict=backend is not None)  # fmt: skip
            checks[check.name] = check
            if rt is not None:
                runtimes[check.name] = rt
            if not check.usable:
                warnings.append(f"{check.name} skipped: {check.reason}")
    full_probe = not fast and backend is None and precision is None
    if todo or full_probe:
        # after a full probe, every entry this machine cannot run, so the next start needs no probe
        unavailable = _unavailable_entries(bundle, found) if full_probe else dict(known or {})
        _write_cache(key, {"format": CACHE_FORMAT, "key": key, "bundle": bundle.id, "machine": machine,
                           "threads": threads, "device": device, "created": _now(),
                           "checks": {n: c.to_dict() for n, c in checks.items()},
                           "unavailable": unavailable})  # fmt: skip
    considered = [checks[n] for n in names]
    if forced:
        chosen = considered[0]
        reason = "forced by --backend/--precision"
        if not chosen.usable:
            warnings = [f"{chosen.name} was asked for but is not faithful to FP32 on this machine: {chosen.reason}"]
            reason += f" (self-check: {chosen.status}: {chosen.reason})"
    else:
        if not any(c.usable for c in considered):
            raise BackendUnavailable(
                f"no model of bundle {bundle.name!r} is faithful to FP32 on this machine: "
                + "; ".join(f"{c.name}: {c.reason}" for c in considered)
                + ". Force one with --backend and --precision only if you accept that"
            )
        chosen, reason, _ = _pick(considered, recheck_policies(bundle, considered), images)
    recheck = _recheck_for(bundle, chosen, checks)
    for w in warnings:
        log.warning("%s", w)
    runtime = runtimes.pop(chosen.name, None)
    runtimes.clear()  # release the models that were only measured
    if runtime is None:
        try:
            runtime = _load(bundle, bundle.model(chosen.backend, chosen.precision), threads, device)
        except BackendUnavailable as exc:
            if not fast:
                raise
            # the cache said it runs here, the library says no (a broken or half-removed install)
            log.warning("%s no longer loads here (%s); checking this machine again", chosen.name, _one_line(exc))
            _forget(key)
            return select_runtime(bundle, backend=backend, precision=precision, threads=threads, device=device,
                                  use_cache=False, timing_s=timing_s, images=images)  # fmt: skip
    runtime.selection = Selection(
        backend=chosen.backend, precision=chosen.precision, reason=reason, forced=forced,
        checks=tuple(considered), machine=machine, key=key, cached=not todo,
        created=str(cached.get("created") or _now()), warnings=tuple(warnings), recheck=recheck,
    )  # fmt: skip
    log.info("using %s from bundle %s: %s", chosen.name, bundle.id, reason)
    return runtime
