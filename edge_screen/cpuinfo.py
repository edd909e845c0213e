"""The CPU's instruction-set flags that decide which INT8 kernels ONNX Runtime and OpenVINO run.

Why it matters (issue 12, measured): without VNNI, x86 INT8 kernels multiply u8 activations by s8
weights with ``vpmaddubsw``, which adds pairs of products into a *saturating* int16. With full
8-bit weights a pair can reach 2 x 255 x 127 = 64,770 > 32,767, so the same INT8 model gives
different numbers on an AVX2-only CPU than on a CPU with AVX-512 VNNI / AVX-VNNI / AMX
(``vpdpbusd`` and AMX accumulate in int32). A quantization report, a self-check result or a
benchmark therefore says nothing without the flags it was measured with.

Linux reads ``/proc/cpuinfo``; macOS ``sysctl``; elsewhere (Windows) NumPy's own CPU dispatch
table is used, which names the same features in upper case (``AVX512_VNNI`` is folded into
NumPy's ``AVX512_CLX`` group, so it is reported from that).
"""

from __future__ import annotations

import functools
import logging
import platform
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

#: Flags recorded everywhere (quantization report, self-check cache key, benchmark machine record).
ISA_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16",
    "amx_tile", "amx_int8", "amx_bf16", "asimd", "asimddp", "i8mm",
)  # fmt: skip

# NumPy's __cpu_features__ names -> /proc/cpuinfo names (NumPy groups VNNI into AVX512_CLX).
_NUMPY_NAMES = {
    "SSE42": "sse4_2", "AVX": "avx", "AVX2": "avx2", "FMA3": "fma", "AVX512F": "avx512f",
    "AVX512_SKX": "avx512bw", "AVX512_CLX": "avx512_vnni", "AVX512_CNL": "avx512_vnni",
    "AVXVNNI": "avx_vnni", "AVX512_SPR": "avx512_bf16", "ASIMD": "asimd", "ASIMDDP": "asimddp",
    "NEON": "asimd", "AVX512VNNI": "avx512_vnni", "AVX512BF16": "avx512_bf16", "AVX512BW": "avx512bw",
}  # fmt: skip


def _linux_flags(path: Path = Path("/proc/cpuinfo")) -> tuple[str, frozenset[str]] | None:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    model, flags = "", ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Hardware", "Processor") and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = value
        if not line.strip() and flags:
            break  # first processor block is enough
    if not flags:
        return None
    return model, frozenset(flags.split())


def _macos_flags() -> tuple[str, frozenset[str]] | None:
    try:
        out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string", "machdep.cpu.features",
                              "machdep.cpu.leaf7_features"], capture_output=True, text=True, timeout=5, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.splitlines()
    if out.returncode != 0 or not lines:
        return None
    names = {w.lower().replace(".", "_") for line in lines[1:] for w in line.split()}
    aliases = {"avx512vnni": "avx512_vnni", "avxvnni": "avx_vnni", "avx512bf16": "avx512_bf16"}
    return lines[0].strip(), frozenset(aliases.get(n, n) for n in names)


def _numpy_flags() -> frozenset[str]:
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as feats  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core._multiarray_umath import __cpu_features__ as feats
    return frozenset(_NUMPY_NAMES.get(k, k.lower()) for k, on in feats.items() if on)


@functools.lru_cache(maxsize=1)
def cpu_info() -> tuple[str, frozenset[str]]:
    """``(model name, every CPU flag)`` of this machine (lower case, /proc/cpuinfo spelling)."""
    found = _linux_flags() if platform.system() == "Linux" else _macos_flags() if platform.system() == "Darwin" else None
    if found is None:
        return platform.processor() or platform.machine() or "unknown", _numpy_flags()
    return found


def cpu_flags() -> frozenset[str]:
    """Every flag of this CPU."""
    return cpu_info()[1]


def int8_dot_product(flags: frozenset[str] | None = None) -> str:
    """How this CPU multiplies INT8: ``"amx"``, ``"vnni"`` (int32 accumulation, no saturation),
    ``"avx2"`` / ``"avx512"`` (``vpmaddubsw``: int16 pair sums that saturate with 8-bit weights),
    ``"arm-dotprod"`` (ARM SDOT/UDOT), or ``"other"``."""
    f = cpu_flags() if flags is None else flags
    if "amx_int8" in f:
        return "amx"
    if "avx512_vnni" in f or "avx_vnni" in f:
        return "vnni"
    if "avx512bw" in f:
        return "avx512"
    if "avx2" in f:
        return "avx2"
    if "asimddp" in f:
        return "arm-dotprod"
    return "other"


def isa_record() -> dict:
    """JSON-safe record: CPU model, the :data:`ISA_FLAGS` (present or not) and the INT8 kind."""
    model, flags = cpu_info()
    return {
        "cpu": model,
        "architecture": platform.machine(),
        "isa": {f: (f in flags) for f in ISA_FLAGS},
        "amx": sorted(f for f in flags if f.startswith("amx")),
        "int8_dot_product": int8_dot_product(flags),
    }
