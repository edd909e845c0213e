"""The machine record stored with every benchmark result.

A latency means nothing without the CPU, the thread budget and the library versions it was
measured with (STYLE.md: "record the machine with the result"). Everything here is read from the
running system; nothing is guessed. Importing a library only to read its version would load torch
(seconds, hundreds of MB) into the parent process, so versions come from the installed package
metadata (``importlib.metadata``) and modules are never imported.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

#: (label, distribution names to try in order). The first installed distribution wins. Every
#: registered backend (edge_screen.backends) is added after these, with its own distributions.
LIBRARIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("numpy", ("numpy",)),
    ("opencv", ("opencv-python-headless", "opencv-python", "opencv-contrib-python")),
    ("torch", ("torch",)),
    ("torchvision", ("torchvision",)),
    ("timm", ("timm",)),
    ("nncf", ("nncf",)),
    ("edge-screen", ("edge-screen",)),
    ("matplotlib", ("matplotlib",)),
    ("psutil", ("psutil",)),
)


def libraries() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """:data:`LIBRARIES` plus each registered backend's distributions (label: the backend's name)."""
    from edge_screen.backends import backends

    return LIBRARIES + tuple((b.name, b.distributions or (b.name,)) for b in backends().values())


#: CPU flags worth a column of their own: they decide which INT8/BF16 kernels run.
KEY_CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8",
                 "amx_bf16", "asimd", "asimddp", "i8mm")


def _read_cpuinfo(path: Path = Path("/proc/cpuinfo")) -> dict[str, str]:
    """Return the first processor block of ``/proc/cpuinfo`` as ``{key: value}`` (empty if absent)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return {}
    info: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if info:
                break
            continue
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    return info


def cpu_record() -> dict:
    """CPU model, flags (all, plus the key INT8/BF16 ones), logical cores and the usable affinity set.

    ARM boards (Jetson) have no ``model name`` line; ``Hardware`` / ``/proc/device-tree/model``
    are used there.
    """
    info = _read_cpuinfo()
    model = info.get("model name") or info.get("Hardware") or info.get("Processor") or platform.processor()
    dt_model = Path("/proc/device-tree/model")
    board = None
    if dt_model.is_file():
        board = dt_model.read_bytes().rstrip(b"\x00").decode(errors="replace")
    flags = sorted(set((info.get("flags") or info.get("Features") or "").split()))
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        affinity = list(range(os.cpu_count() or 1))
    from edge_screen.cpuinfo import isa_record

    isa = isa_record()
    return {
        "model": model or "unknown",
        "board": board,
        "architecture": platform.machine(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(affinity),
        "key_flags": {f: (f in flags) for f in KEY_CPU_FLAGS},
        # the flags that decide which INT8 kernels run (avx2, avx512_vnni, avx_vnni, amx_*) and the
        # resulting kind: without VNNI/AMX, u8 x s8 pair sums saturate at int16 (issue 12)
        "isa": isa["isa"],
        "amx": isa["amx"],
        "int8_dot_product": isa["int8_dot_product"],
        "flags": flags,
    }


def memory_record() -> dict:
    """Total and available memory in MiB from ``/proc/meminfo`` (``None`` where unreadable)."""
    out: dict[str, float | None] = {"total_mib": None, "available_mib": None}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key == "MemTotal":
                out["total_mib"] = round(int(rest.split()[0]) / 1024, 1)
            elif key == "MemAvailable":
                out["available_mib"] = round(int(rest.split()[0]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        logger.debug("could not read /proc/meminfo")
    return out


def library_versions() -> dict[str, str | None]:
    """Installed version of each library in :func:`libraries` (``None`` = not installed)."""
    versions: dict[str, str | None] = {}
    for label, dists in libraries():
        versions[label] = None
        for dist in dists:
            try:
                versions[label] = importlib.metadata.version(dist)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    return versions


def gpu_record() -> list[dict]:
    """GPUs reported by ``nvidia-smi`` (name, driver, memory); empty where there is none.

    Jetson boards have no ``nvidia-smi`` that lists the iGPU; their ``board`` in
    :func:`cpu_record` and the TensorRT version identify them.
    """
    try:
        proc = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if proc.returncode != 0:
        return []
    gpus = []
    for line in proc.stdout.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3:
            gpus.append({"name": parts[0], "driver": parts[1], "memory": parts[2]})
    return gpus


def machine_record() -> dict:
    """Everything about this machine that a reader needs to compare two benchmark runs.

    Returns:
        JSON-safe dict: ``hostname``, ``os``, ``python``, ``cpu`` (:func:`cpu_record`), ``memory``,
        ``gpus``, ``libraries`` (:func:`library_versions`) and thread-related environment
        variables (``OMP_NUM_THREADS`` ...).
    """
    return {
        "hostname": socket.gethostname(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "cpu": cpu_record(),
        "memory": memory_record(),
        "gpus": gpu_record(),
        "libraries": library_versions(),
        "loadavg": [round(v, 2) for v in os.getloadavg()],
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                           "CUDA_VISIBLE_DEVICES") if k in os.environ},
    }
