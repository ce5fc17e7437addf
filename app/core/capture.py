"""Decide when a live stream shows a *new* item, so each item is recorded exactly once.

:class:`AutoCapture` is fed ``(frame, top label, timestamp)`` for every prediction. It keeps a
model of the empty scene (a running average of small, blurred grayscale frames taken while the
scene is empty) and scores each frame by its mean absolute difference from that background.

States::

    learning --(enough empty frames)--> empty --(score > threshold)--> present
    present  --(same label for hold_s)--> fired   (update() returns fired=True once)
    present  --(scene empty again)-----> empty   (item left before it was recorded)
    fired    --(scene empty for rearm_s)-> empty (ready for the next item)

Pure numpy and Qt-free: it is unit-tested with synthetic frames.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

# Size of the analysis image (width, height): big enough to see an item, small enough that a
# frame costs well under a millisecond, and blurred so that sensor noise does not count.
ANALYSIS_SIZE = (64, 48)

# Leaving "present" needs the score to drop below threshold * HYSTERESIS, so a score that
# hovers around the threshold does not flicker between states.
HYSTERESIS = 0.7

# Sensitivity 0 (least sensitive) .. 1 (most) maps to a score threshold in grey levels; the
# default setting 0.5 gives about 12.6, which ignores noise and lighting flicker but sees a
# palm-sized item in a 640x480 view.
_THRESHOLD_LEAST = 40.0
_THRESHOLD_MOST = 4.0


class CaptureState(enum.Enum):
    LEARNING = "learning"  # building the background model; nothing fires
    EMPTY = "empty"  # armed: waiting for an item
    PRESENT = "present"  # an item is in view, waiting for a stable label
    FIRED = "fired"  # this item has been recorded; waiting for the scene to empty


@dataclass(frozen=True)
class CaptureUpdate:
    """What one :meth:`AutoCapture.update` call decided."""

    fired: bool
    state: CaptureState
    score: float
    # Fraction 0..1 of ``hold_s`` the current label has been stable while an item is present;
    # lets the UI show a "hold still" progress bar.
    progress: float
    # The frame looks like the learned empty background (False while learning).
    scene_empty: bool = False


def threshold_for_sensitivity(sensitivity: float) -> float:
    """Map the 0..1 sensitivity setting (higher = reacts to smaller changes) to a threshold.

    Geometric interpolation: each step changes the threshold by the same factor, which matches
    how differently sized items change the score.
    """
    t = min(max(float(sensitivity), 0.0), 1.0)
    return float(_THRESHOLD_LEAST * (_THRESHOLD_MOST / _THRESHOLD_LEAST) ** t)


def analysis_image(
    frame: npt.NDArray[np.uint8], size: tuple[int, int] = ANALYSIS_SIZE
) -> FloatArray:
    """Downscale an ``(H, W, 3)`` or ``(H, W)`` uint8 frame to a blurred grayscale ``size``.

    Area averaging with ``np.add.reduceat`` (every source pixel counts once, so no aliasing),
    then a 3x3 box blur.
    """
    if frame.ndim not in (2, 3) or frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"expected an (H, W[, 3]) image, got shape {frame.shape}")
    out_w, out_h = size
    h, w = frame.shape[:2]
    rows = np.linspace(0, h, min(out_h, h) + 1).astype(np.intp)[:-1]
    cols = np.linspace(0, w, min(out_w, w) + 1).astype(np.intp)[:-1]
    summed = np.add.reduceat(frame, rows, axis=0, dtype=np.float32)
    summed = np.add.reduceat(summed, cols, axis=1, dtype=np.float32)
    counts = np.diff(np.append(rows, h))[:, None] * np.diff(np.append(cols, w))[None, :]
    if summed.ndim == 3:
        counts = counts[:, :, None]
    small = summed / counts.astype(np.float32)
    if small.ndim == 3:
        # ITU-R BT.601 luma; RGB or BGR order barely matters for a change score.
        small = small @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return _box_blur3(small.astype(np.float32))


def _box_blur3(img: FloatArray) -> FloatArray:
    padded = np.pad(img, 1, mode="edge")
    h, w = img.shape
    acc = np.zeros_like(img)
    for dy in range(3):
        for dx in range(3):
            acc += padded[dy : dy + h, dx : dx + w]
    return acc / np.float32(9.0)


class AutoCapture:
    """Fires once per item: item present and its top label stable for ``hold_s`` seconds.

    ``threshold`` is the change score (mean absolute grey-level difference from the empty
    background, 0..255) above which an item counts as present. ``rearm_s`` is how long the
    scene must stay empty after a capture before the next item can fire. ``learn_rate`` is the
    weight of each new empty frame in the running-average background. ``warmup_frames`` empty
    frames are averaged before anything can fire (cameras adjust exposure when they start).
    """

    def __init__(
        self,
        *,
        threshold: float = 12.0,
        hold_s: float = 1.0,
        rearm_s: float = 0.5,
        learn_rate: float = 0.1,
        warmup_frames: int = 3,
        size: tuple[int, int] = ANALYSIS_SIZE,
    ) -> None:
        if threshold <= 0:
            raise ValueError("threshold must be positive")
        if hold_s < 0 or rearm_s < 0:
            raise ValueError("hold_s and rearm_s must not be negative")
        if not 0.0 < learn_rate <= 1.0:
            raise ValueError("learn_rate must be in (0, 1]")
        self.threshold = float(threshold)
        self.hold_s = float(hold_s)
        self.rearm_s = float(rearm_s)
        self.learn_rate = float(learn_rate)
        self.warmup_frames = max(1, int(warmup_frames))
        self.size = size
        self.reset()

    def reset(self) -> None:
        """Forget the background and start learning again (camera or resolution changed)."""
        self._background: FloatArray | None = None
        self._learned = 0
        self._state = CaptureState.LEARNING
        self._present_since: float | None = None
        self._label: str | None = None
        self._label_since = 0.0
        self._empty_since: float | None = None
        self._score = 0.0

    @property
    def state(self) -> CaptureState:
        return self._state

    @property
    def score(self) -> float:
        """The change score of the last frame (0 until a background exists)."""
        return self._score

    def configure(self, *, threshold: float | None = None, hold_s: float | None = None) -> None:
        """Change sensitivity or hold time without losing the learned background."""
        if threshold is not None:
            if threshold <= 0:
                raise ValueError("threshold must be positive")
            self.threshold = float(threshold)
        if hold_s is not None:
            if hold_s < 0:
                raise ValueError("hold_s must not be negative")
            self.hold_s = float(hold_s)

    def mark_recorded(self) -> None:
        """The current item was recorded by other means (manual record): do not fire for it."""
        if self._state is CaptureState.PRESENT:
            self._state = CaptureState.FIRED
            self._empty_since = None

    def change_score(self, frame: npt.NDArray[np.uint8]) -> float:
        """Mean absolute difference from the background, or 0 while there is none."""
        if self._background is None:
            return 0.0
        small = analysis_image(frame, self.size)
        if small.shape != self._background.shape:
            return 0.0
        return float(np.mean(np.abs(small - self._background)))

    def update(self, frame: npt.NDArray[np.uint8], label: str | None, now: float) -> CaptureUpdate:
        """Feed one frame with its top label (``None`` = no prediction) at time ``now`` (s)."""
        small = analysis_image(frame, self.size)
        if self._background is None or small.shape != self._background.shape:
            self.reset()
            self._background = small
            self._learned = 1
            return self._result(False, 0.0)

        score = float(np.mean(np.abs(small - self._background)))
        self._score = score
        if label != self._label:
            self._label = label
            self._label_since = now

        if self._state is CaptureState.LEARNING:
            if score > self.threshold:
                # Something moved while learning: start over from this frame.
                self._background = small
                self._learned = 1
            else:
                self._learn(small)
                if self._learned >= self.warmup_frames:
                    self._state = CaptureState.EMPTY
            return self._result(False, 0.0)

        if self._state is CaptureState.EMPTY:
            if score > self.threshold:
                self._state = CaptureState.PRESENT
                self._present_since = now
            else:
                self._learn(small)
                return self._result(False, 0.0)

        if self._state is CaptureState.PRESENT:
            if score < self.threshold * HYSTERESIS:
                self._state = CaptureState.EMPTY
                self._present_since = None
                self._learn(small)
                return self._result(False, 0.0)
            stable_since = max(self._label_since, self._present_since or now)
            held = now - stable_since
            # The epsilon absorbs float rounding in timestamps built by repeated addition.
            if label is not None and held >= self.hold_s - 1e-6:
                self._state = CaptureState.FIRED
                self._empty_since = None
                return self._result(True, 1.0)
            progress = 0.0 if label is None or self.hold_s == 0 else held / self.hold_s
            return self._result(False, min(1.0, max(0.0, progress)))

        # FIRED: wait until the scene has been empty for rearm_s.
        if score < self.threshold * HYSTERESIS:
            if self._empty_since is None:
                self._empty_since = now
            if now - self._empty_since >= self.rearm_s:
                self._state = CaptureState.EMPTY
                self._present_since = None
                self._empty_since = None
                self._learn(small)
        else:
            self._empty_since = None
        return self._result(False, 0.0)

    def _learn(self, small: FloatArray) -> None:
        assert self._background is not None
        rate = max(self.learn_rate, 1.0 / (self._learned + 1))  # plain mean during warm-up
        self._background += np.float32(rate) * (small - self._background)
        self._learned += 1

    def _result(self, fired: bool, progress: float) -> CaptureUpdate:
        empty = (
            self._state is not CaptureState.LEARNING and self._score < self.threshold * HYSTERESIS
        )
        return CaptureUpdate(
            fired=fired, state=self._state, score=self._score, progress=progress, scene_empty=empty
        )
