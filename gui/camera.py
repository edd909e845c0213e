"""USB/UVC camera through OpenCV's VideoCapture, as a loop run by a worker (Qt-free).

:func:`camera_loop` reports typed events through ``report``: :class:`CameraOpened` once,
:class:`Frame` for the preview, a :class:`~edge_screen.gui.visit.Capture` when the technician
presses Capture (full resolution, PNG-encoded here, off the GUI thread), and :class:`CameraLost`
when the camera stops answering.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge_screen.errors import ImageError
from edge_screen.gui.jobs import encode_png, shrink
from edge_screen.gui.visit import Capture, SourceKind

if TYPE_CHECKING:
    from edge_screen.gui.workers import CancelToken

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraInfo:
    """What the driver actually gave us (drivers silently clamp requested resolutions)."""

    device: str
    width: int      # pixels of the delivered frames
    height: int
    fps: float      # as reported by the driver (0 when unknown)
    backend: str    # OpenCV capture backend name


@dataclass(frozen=True)
class CameraOpened:
    """The first real frame arrived."""

    info: CameraInfo


@dataclass(frozen=True, eq=False)
class Frame:
    """A preview frame, (h, w, 3) uint8 RGB, already shrunk for display."""

    rgb: np.ndarray


@dataclass(frozen=True)
class CameraLost:
    """The camera stopped sending pictures (unplugged cable, end of a video file)."""

    failures: int


@dataclass
class CameraControl:
    """Shared between the GUI and the camera loop: a capture request flag (set by button / space bar)."""

    capture: threading.Event = field(default_factory=threading.Event)


def list_cameras(max_index: int = 8) -> list[tuple[str, str]]:
    """Cameras as ``(label, device)`` pairs; ``device`` is what :func:`open_camera` takes.

    On Linux the V4L2 nodes are listed without opening them (opening can take seconds); elsewhere
    indices 0..max_index-1 are probed.
    """
    found: list[tuple[str, str]] = []
    if sys.platform.startswith("linux"):
        for node in sorted(Path("/dev").glob("video*"), key=lambda p: (len(p.name), p.name)):
            name_file = Path("/sys/class/video4linux") / node.name / "name"
            label = name_file.read_text().strip() if name_file.is_file() else node.name
            found.append((f"{label} ({node})", str(node)))
        return found
    for i in range(max_index):
        cap = cv2.VideoCapture(i)
        try:
            if cap.isOpened():
                found.append((f"Camera {i}", str(i)))
        finally:
            cap.release()
    return found


def open_camera(device: str, *, width: int | None = 1920, height: int | None = 1080) -> cv2.VideoCapture:
    """Open a camera index ("0"), a device node ("/dev/video0") or a video file, asking for ``width x height``.

    Raises:
        ImageError: the device cannot be opened (reason ``"unreadable"``).
    """
    source: int | str = int(device) if device.isdigit() else device
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        cap.release()
        raise ImageError("the camera could not be opened", reason="unreadable")
    if width and height and not Path(str(device)).is_file():
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
    return cap


def camera_loop(token: CancelToken, report: Callable[[object], None], device: str, control: CameraControl, *,
                width: int | None = 1920, height: int | None = 1080, max_fps: float = 30.0,
                preview_every: int = 1, preview_size: int = 480, max_failures: int = 5) -> str:
    """Read frames until cancelled or the camera stops answering.

    Reports :class:`CameraOpened` once (the size of the first real frame), a :class:`Frame` every
    ``preview_every``-th frame, a :class:`Capture` (full resolution, PNG) when ``control.capture``
    is set, and :class:`CameraLost` after ``max_failures`` failed reads in a row. Never raises for
    a lost camera: the GUI shows it.

    Returns:
        "cancelled" or "lost".
    """
    cap = open_camera(device, width=width, height=height)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        period = 1.0 / min(max_fps, fps) if fps > 0 else 1.0 / max_fps
        failures = n = 0
        opened = False
        while not token.cancelled:
            t0 = time.perf_counter()
            ok, bgr = cap.read()
            if not ok or bgr is None:
                failures += 1
                if failures >= max_failures:
                    log.warning("camera lost after %d failed reads", failures)
                    report(CameraLost(failures))
                    return "lost"
                token.wait(0.05)
                continue
            failures = 0
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            if not opened:
                opened = True
                backend = cap.getBackendName() if hasattr(cap, "getBackendName") else "?"
                info = CameraInfo(device=device, width=rgb.shape[1], height=rgb.shape[0], fps=fps, backend=backend)
                log.info("camera opened: %dx%d @ %.1f fps (%s)", info.width, info.height, fps, backend)
                report(CameraOpened(info))
            if control.capture.is_set():
                control.capture.clear()
                full = rgb.copy()
                report(Capture(data=encode_png(full), ext=".png", source=SourceKind.CAMERA, name="camera", pixels=full))
            if n % preview_every == 0:
                report(Frame(shrink(rgb, preview_size)))
            n += 1
            token.wait(max(0.0, period - (time.perf_counter() - t0)))
        return "cancelled"
    finally:
        cap.release()
