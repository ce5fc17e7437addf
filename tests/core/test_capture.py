"""AutoCapture: one record per item, from synthetic frames and a fake clock."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.capture import (
    AutoCapture,
    CaptureState,
    analysis_image,
    threshold_for_sensitivity,
)

H, W = 240, 320


def empty_frame(seed: int = 0) -> np.ndarray:
    """A light backdrop with a gradient and some sensor noise."""
    rng = np.random.default_rng(seed)
    base = np.full((H, W, 3), 200, np.float32)
    base += np.linspace(-15, 15, W, dtype=np.float32)[None, :, None]
    base += rng.normal(0, 3.0, base.shape).astype(np.float32)
    return np.clip(base, 0, 255).astype(np.uint8)


def item_frame(seed: int = 0, shade: int = 40) -> np.ndarray:
    """The backdrop with a dark item covering the middle third."""
    frame = empty_frame(seed)
    frame[H // 3 : 2 * H // 3, W // 3 : 2 * W // 3] = shade
    return frame


class Clock:
    def __init__(self, fps: float = 10.0) -> None:
        self.t = 0.0
        self.dt = 1.0 / fps

    def tick(self) -> float:
        self.t += self.dt
        return self.t


def feed(cap: AutoCapture, clock: Clock, frame_fn, label, n: int) -> int:
    """Feed ``n`` frames; return how many times it fired."""
    fired = 0
    for i in range(n):
        label_i = label(i) if callable(label) else label
        fired += cap.update(frame_fn(i), label_i, clock.tick()).fired
    return fired


def test_analysis_image_shape_and_range() -> None:
    small = analysis_image(item_frame())
    assert small.shape == (48, 64)
    assert small.dtype == np.float32
    assert float(small.min()) >= 30
    assert float(small.max()) <= 230


def test_analysis_image_handles_tiny_and_grey_frames() -> None:
    tiny = np.full((10, 12, 3), 100, np.uint8)
    assert analysis_image(tiny).shape == (10, 12)
    grey = np.full((100, 100), 50, np.uint8)
    np.testing.assert_allclose(analysis_image(grey), 50.0, atol=1e-3)
    with pytest.raises(ValueError, match="shape"):
        analysis_image(np.zeros((0, 5, 3), np.uint8))


def test_noise_alone_stays_empty() -> None:
    cap, clock = AutoCapture(hold_s=0.5), Clock()
    assert feed(cap, clock, empty_frame, "paper", 30) == 0
    assert cap.state is CaptureState.EMPTY
    assert cap.score < cap.threshold * 0.5
    assert cap.update(empty_frame(99), "paper", clock.tick()).scene_empty
    assert not cap.update(item_frame(), "paper", clock.tick()).scene_empty


def test_fires_once_per_item_after_hold() -> None:
    cap, clock = AutoCapture(hold_s=1.0, rearm_s=0.3), Clock(fps=10)
    feed(cap, clock, empty_frame, "paper", 5)
    # 0.9 s of a stable item: not yet.
    assert feed(cap, clock, item_frame, "glass", 9) == 0
    assert cap.state is CaptureState.PRESENT
    # Reaching 1 s fires exactly once, however long the item stays.
    assert feed(cap, clock, item_frame, "glass", 40) == 1
    assert cap.state is CaptureState.FIRED


def test_label_must_be_stable_for_hold() -> None:
    cap, clock = AutoCapture(hold_s=0.5), Clock(fps=10)
    feed(cap, clock, empty_frame, "paper", 5)
    flicker = lambda i: "glass" if i % 2 else "metal"  # noqa: E731
    assert feed(cap, clock, item_frame, flicker, 30) == 0
    assert feed(cap, clock, item_frame, "metal", 4) == 0
    assert feed(cap, clock, item_frame, "metal", 2) == 1


def test_rearms_only_after_scene_is_empty_for_rearm_s() -> None:
    cap, clock = AutoCapture(hold_s=0.2, rearm_s=0.5), Clock(fps=10)
    feed(cap, clock, empty_frame, None, 5)
    assert feed(cap, clock, item_frame, "glass", 5) == 1
    # A brief gap (0.2 s) is not enough: the same item reappearing does not fire again.
    feed(cap, clock, empty_frame, None, 2)
    assert feed(cap, clock, item_frame, "glass", 10) == 0
    # A real empty spell re-arms; the next item fires.
    feed(cap, clock, empty_frame, None, 6)
    assert cap.state is CaptureState.EMPTY
    assert feed(cap, clock, lambda i: item_frame(i, shade=90), "metal", 5) == 1


def test_item_leaving_before_hold_does_not_fire() -> None:
    cap, clock = AutoCapture(hold_s=1.0), Clock(fps=10)
    feed(cap, clock, empty_frame, None, 5)
    assert feed(cap, clock, item_frame, "glass", 5) == 0
    assert feed(cap, clock, empty_frame, "glass", 20) == 0
    assert cap.state is CaptureState.EMPTY


def test_none_label_never_fires_and_progress_reports_hold() -> None:
    cap, clock = AutoCapture(hold_s=1.0), Clock(fps=10)
    feed(cap, clock, empty_frame, None, 5)
    assert feed(cap, clock, item_frame, None, 20) == 0
    update = cap.update(item_frame(), "glass", clock.tick())
    assert update.progress == 0.0
    for _ in range(5):
        update = cap.update(item_frame(), "glass", clock.tick())
    assert update.progress == pytest.approx(0.5, abs=0.01)
    assert update.state is CaptureState.PRESENT


def test_mark_recorded_suppresses_auto_fire_for_that_item() -> None:
    cap, clock = AutoCapture(hold_s=0.5), Clock(fps=10)
    feed(cap, clock, empty_frame, None, 5)
    feed(cap, clock, item_frame, "glass", 2)
    cap.mark_recorded()
    assert feed(cap, clock, item_frame, "glass", 20) == 0
    assert cap.state is CaptureState.FIRED


def test_background_adapts_to_slow_lighting_drift_while_empty() -> None:
    cap, clock = AutoCapture(hold_s=0.2, learn_rate=0.2), Clock(fps=10)
    feed(cap, clock, empty_frame, None, 5)

    def drifting(i: int) -> np.ndarray:
        return np.clip(empty_frame(i).astype(np.int16) + i // 2, 0, 255).astype(np.uint8)

    assert feed(cap, clock, drifting, "paper", 60) == 0  # +30 grey levels in total
    assert cap.state is CaptureState.EMPTY


def test_nothing_fires_while_learning_and_resolution_change_relearns() -> None:
    cap, clock = AutoCapture(hold_s=0.0, warmup_frames=3), Clock()
    assert not cap.update(item_frame(), "glass", clock.tick()).fired
    assert cap.state is CaptureState.LEARNING
    feed(cap, clock, item_frame, "glass", 3)
    assert cap.state is CaptureState.EMPTY  # the item became the background
    big = np.zeros((480, 640, 3), np.uint8)
    small = np.zeros((50, 50, 3), np.uint8)  # different analysis shape: relearn
    cap.update(big, "glass", clock.tick())
    cap.update(small, "glass", clock.tick())
    assert cap.state is CaptureState.LEARNING


def test_sensitivity_mapping_is_monotonic_and_clamped() -> None:
    values = [threshold_for_sensitivity(s / 10) for s in range(11)]
    assert values == sorted(values, reverse=True)
    assert values[0] == pytest.approx(40.0)
    assert values[-1] == pytest.approx(4.0)
    assert threshold_for_sensitivity(-1) == values[0]
    assert threshold_for_sensitivity(99) == values[-1]


def test_invalid_parameters_are_rejected() -> None:
    with pytest.raises(ValueError, match="threshold"):
        AutoCapture(threshold=0)
    with pytest.raises(ValueError, match="learn_rate"):
        AutoCapture(learn_rate=0)
    cap = AutoCapture()
    with pytest.raises(ValueError, match="hold_s"):
        cap.configure(hold_s=-1)
    cap.configure(threshold=5.0, hold_s=2.0)
    assert (cap.threshold, cap.hold_s) == (5.0, 2.0)
