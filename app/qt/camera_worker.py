"""Live frames from a camera or a video file, read on a long-lived worker thread.

:class:`CameraWorker` owns one :class:`FrameSource` at a time. It emits RGB frames with their
capture timestamp (``time.monotonic()``), reports its state (opening, live, retrying, ended)
with a message for the operator, and re-opens a camera that failed or was unplugged every few
seconds until it comes back. A video file plays at its own frame rate, like a live feed, and
ends the source when it runs out (no looping).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QObject, QThread, Signal

log = logging.getLogger(__name__)

RGBArray = npt.NDArray[np.uint8]

# Resolutions offered for cameras; the driver may pick the nearest it supports.
STANDARD_RESOLUTIONS: tuple[tuple[int, int], ...] = (
    (640, 480),
    (800, 600),
    (1280, 720),
    (1920, 1080),
)
MAX_PROBE_INDEX = 5
DEFAULT_FILE_FPS = 25.0


class CameraError(Exception):
    """A source that cannot be opened; the message is shown to the operator."""


class EndOfStream(Exception):
    """A finite source (video file) has no more frames."""


class CameraState(enum.Enum):
    OPENING = "opening"
    LIVE = "live"
    RETRYING = "retrying"  # open failed or frames stopped; trying again in the background
    ENDED = "ended"  # a video file ran out
    STOPPED = "stopped"


class FrameSource(Protocol):
    """What the worker reads frames from (OpenCV in the app, fakes in tests)."""

    description: str
    is_file: bool

    def open(self) -> None:
        """Open the device or file; raise :class:`CameraError` with a readable message."""

    def read(self) -> RGBArray | None:
        """The next RGB frame; ``None`` for a failed read; :class:`EndOfStream` at the end."""

    def close(self) -> None: ...

    @property
    def fps(self) -> float | None:
        """Nominal frames per second when known (files are paced at this rate)."""

    @property
    def resolution(self) -> tuple[int, int] | None: ...


def parse_camera_spec(spec: str | int) -> int | str:
    """``"0"`` or ``0`` is a device index; anything else is a file path or stream URL."""
    if isinstance(spec, int):
        return spec
    text = spec.strip()
    return int(text) if text.isdigit() else text


def _quiet_opencv() -> None:
    """OpenCV logs a warning for every missing camera index; we report those ourselves."""
    import cv2

    with contextlib.suppress(AttributeError):  # very old builds lack cv2.utils.logging
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def _device_backend() -> int:
    """The capture API for device indices: the native one avoids slow backend probing."""
    import cv2

    if sys.platform.startswith("linux"):
        return int(cv2.CAP_V4L2)
    if sys.platform == "win32":
        return int(cv2.CAP_DSHOW)
    return int(cv2.CAP_ANY)


class OpenCvSource:
    """A camera index, a video file or a stream URL read with ``cv2.VideoCapture``."""

    def __init__(self, spec: str | int, resolution: tuple[int, int] | None = None) -> None:
        self.spec = parse_camera_spec(spec)
        self.requested_resolution = resolution
        self.is_file = isinstance(self.spec, str) and Path(self.spec).is_file()
        if isinstance(self.spec, int):
            self.description = f"Camera {self.spec}"
        elif self.is_file:
            self.description = Path(self.spec).name
        else:
            self.description = str(self.spec)
        self._cap: Any = None
        self._fps: float | None = None
        self._resolution: tuple[int, int] | None = None

    @property
    def fps(self) -> float | None:
        return self._fps

    @property
    def resolution(self) -> tuple[int, int] | None:
        return self._resolution

    def open(self) -> None:
        import cv2

        _quiet_opencv()
        self.close()
        if isinstance(self.spec, int):
            cap = cv2.VideoCapture(self.spec, _device_backend())
        else:
            if not self.is_file and "://" not in self.spec:
                raise CameraError(f"Video file not found: {self.spec}")
            cap = cv2.VideoCapture(self.spec)
        if not cap.isOpened():
            cap.release()
            what = "video file" if self.is_file else "camera"
            raise CameraError(f"Cannot open {what} {self.description}")
        if self.requested_resolution and not self.is_file:
            width, height = self.requested_resolution
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self._fps = fps if 0.5 <= fps <= 240 else (DEFAULT_FILE_FPS if self.is_file else None)
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        self._resolution = (width, height) if width > 0 and height > 0 else None
        self._cap = cap

    def read(self) -> RGBArray | None:
        import cv2

        if self._cap is None:
            raise CameraError("source is not open")
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            if self.is_file:
                raise EndOfStream
            return None
        if bgr.ndim == 2:
            return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB), dtype=np.uint8)
        return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


SourceFactory = Callable[[], FrameSource]


class CameraWorker(QThread):
    """Reads frames on its own thread; never blocks the UI.

    ``frame_ready(frame, captured_at)`` is emitted from the worker thread for every frame:
    connect cheap thread-safe receivers directly (the inference worker's ``submit``) and route
    display through :class:`~app.qt.frame_view.LatestValueRelay` so slow painting never
    queues frames.
    """

    frame_ready = Signal(object, float)
    state_changed = Signal(str, str)  # CameraState value, message for the operator
    fps_changed = Signal(float)

    def __init__(
        self,
        source_factory: SourceFactory | None = None,
        *,
        fail_after_s: float = 2.0,
        retry_s: float = 3.0,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("CameraWorker")
        self.fail_after_s = fail_after_s
        self.retry_s = retry_s
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._factory: SourceFactory | None = source_factory
        self._switch = False
        self._state = CameraState.STOPPED
        self._description = ""
        self._resolution: tuple[int, int] | None = None
        self.frames_emitted = 0

    # -- control, from any thread -------------------------------------------------------

    def set_source(self, factory: SourceFactory | None) -> None:
        """Switch to another source (``None``: no camera); takes effect at the next frame."""
        with self._lock:
            self._factory = factory
            self._switch = True
        self._wake.set()

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Ask the thread to finish and wait for it; ``True`` when it has stopped."""
        with self._lock:
            self._stop = True
        self._wake.set()
        if not self.isRunning():
            return True
        stopped = bool(self.wait(int(timeout_s * 1000)))
        if not stopped:
            log.error(
                "camera thread did not stop within %.1f s (driver blocked in read)", timeout_s
            )
        return stopped

    @property
    def state(self) -> CameraState:
        return self._state

    @property
    def description(self) -> str:
        return self._description

    @property
    def resolution(self) -> tuple[int, int] | None:
        return self._resolution

    # -- worker thread ------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # a bug must reach the operator, and the thread must end
            log.exception("camera worker crashed")
            self._set_state(CameraState.STOPPED, f"Camera error: {exc}")
            return
        self._set_state(CameraState.STOPPED, "Camera stopped")

    def _stopping(self) -> bool:
        with self._lock:
            return self._stop

    def _take_factory(self) -> SourceFactory | None:
        with self._lock:
            self._switch = False
            self._wake.clear()
            return self._factory

    def _switch_requested(self) -> bool:
        with self._lock:
            return self._switch or self._stop

    def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once for stop() or set_source()."""
        self._wake.wait(seconds)

    def _set_state(self, state: CameraState, message: str) -> None:
        self._state = state
        self.state_changed.emit(state.value, message)

    def _loop(self) -> None:
        while not self._stopping():
            factory = self._take_factory()
            if factory is None:
                self._set_state(CameraState.RETRYING, "No camera selected")
                while not self._switch_requested():
                    self._pause(1.0)
                continue
            source = factory()
            self._description = source.description
            self._set_state(CameraState.OPENING, f"Opening {source.description}…")
            try:
                source.open()
            except CameraError as exc:
                self._retry_later(f"{exc}")
                continue
            except Exception as exc:
                log.exception("unexpected error opening %s", source.description)
                self._retry_later(f"Cannot open {source.description}: {exc}")
                continue
            try:
                outcome = self._stream(source)
            finally:
                source.close()
            if outcome == "ended":
                self._set_state(CameraState.ENDED, f"Video ended: {source.description}")
                while not self._switch_requested():
                    self._pause(1.0)
            elif outcome == "lost":
                self._retry_later(f"{source.description} stopped delivering frames (unplugged?)")

    def _retry_later(self, reason: str) -> None:
        self._set_state(CameraState.RETRYING, f"{reason} — retrying every {self.retry_s:g} s")
        deadline = time.monotonic() + self.retry_s
        while not self._switch_requested():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._pause(left)

    def _stream(self, source: FrameSource) -> str:
        """Emit frames until stop/switch ("switch"), end of file ("ended") or loss ("lost")."""
        self._resolution = source.resolution
        size = f" {source.resolution[0]}x{source.resolution[1]}" if source.resolution else ""
        self._set_state(CameraState.LIVE, f"{source.description}{size}")
        period = 1.0 / source.fps if source.is_file and source.fps else 0.0
        started = time.monotonic()
        due = started
        last_frame = started
        fps_window_start, fps_count = started, 0
        while not self._switch_requested():
            if period:
                # Pace files at their own rate; after a stall, resume without a burst.
                now = time.monotonic()
                if due > now:
                    self._pause(due - now)
                    if self._switch_requested():
                        break
                elif now - due > 0.5:
                    due = now
                due += period
            try:
                frame = source.read()
            except EndOfStream:
                return "ended"
            now = time.monotonic()
            if frame is None:
                if now - last_frame >= self.fail_after_s:
                    return "lost"
                self._pause(0.02)  # a failed read can return at once; do not spin
                continue
            last_frame = now
            self.frames_emitted += 1
            self.frame_ready.emit(frame, now)
            fps_count += 1
            if now - fps_window_start >= 1.0:
                self.fps_changed.emit(fps_count / (now - fps_window_start))
                fps_window_start, fps_count = now, 0
        return "switch"


@dataclass(frozen=True)
class CameraInfo:
    """A camera found by :func:`probe_cameras`."""

    index: int
    resolutions: tuple[tuple[int, int], ...] = field(default=STANDARD_RESOLUTIONS)

    @property
    def name(self) -> str:
        return f"Camera {self.index}"


def probe_cameras(
    max_index: int = MAX_PROBE_INDEX,
    *,
    in_use: int | None = None,
    test_resolutions: bool = True,
) -> list[CameraInfo]:
    """Try device indices ``0..max_index``; list those that open, with what sizes they accept.

    ``in_use`` is the index the camera worker has open (opening it twice fails on some
    drivers), listed with the standard resolutions. Slow (up to a second per camera): call it
    from a worker thread.
    """
    import cv2

    _quiet_opencv()
    found: list[CameraInfo] = []
    for index in range(max_index + 1):
        if index == in_use:
            found.append(CameraInfo(index))
            continue
        cap = cv2.VideoCapture(index, _device_backend())
        try:
            if not cap.isOpened():
                continue
            sizes: set[tuple[int, int]] = set()
            native = _frame_size(cap)
            if native[0] > 0 and native[1] > 0:
                sizes.add(native)
            for width, height in STANDARD_RESOLUTIONS if test_resolutions else ():
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
                got = _frame_size(cap)
                if got[0] > 0 and got[1] > 0:
                    sizes.add(got)
            found.append(CameraInfo(index, tuple(sorted(sizes)) or STANDARD_RESOLUTIONS))
        finally:
            cap.release()
    return found


def _frame_size(cap: Any) -> tuple[int, int]:
    import cv2

    return int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))


class CameraProbe(QThread):
    """Runs :func:`probe_cameras` off the UI thread; emits ``found(list[CameraInfo])``."""

    found = Signal(object)

    def __init__(
        self,
        *,
        in_use: int | None = None,
        probe: Callable[..., list[CameraInfo]] = probe_cameras,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("CameraProbe")
        self._in_use = in_use
        self._probe = probe

    def run(self) -> None:
        try:
            cameras = self._probe(in_use=self._in_use)
        except Exception:  # probing is a convenience; never take the app down for it
            log.exception("camera probe failed")
            cameras = []
        self.found.emit(cameras)
