"""Camera worker (real video file, unplug and recovery) and the newest-frame-wins inference."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from pytestqt.qtbot import QtBot

from app.core.classifier import Classifier, Prediction
from app.core.model_info import ModelInfo
from app.qt.camera_worker import (
    CameraError,
    CameraState,
    CameraWorker,
    EndOfStream,
    OpenCvSource,
    parse_camera_spec,
)
from app.qt.frame_view import LatestValueRelay
from app.qt.inference_worker import InferenceResult, InferenceWorker
from tests.factories import make_onnx_model


def write_video(path: Path, frames: int, fps: float, size: tuple[int, int] = (160, 120)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        frame = np.full((size[1], size[0], 3), (i * 10) % 256, np.uint8)
        cv2.putText(frame, str(i), (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (0, 0, 255), 3)
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture
def workers() -> Iterator[list[CameraWorker | InferenceWorker]]:
    """Workers a test starts; all are stopped (and must stop) at the end."""
    started: list[CameraWorker | InferenceWorker] = []
    yield started
    for worker in started:
        assert worker.stop()
        assert not worker.isRunning()


def test_parse_camera_spec() -> None:
    assert parse_camera_spec("0") == 0
    assert parse_camera_spec(" 2 ") == 2
    assert parse_camera_spec("/tmp/belt.avi") == "/tmp/belt.avi"


def test_video_file_plays_at_its_frame_rate_then_ends(
    qtbot: QtBot, tmp_path: Path, workers: list[CameraWorker | InferenceWorker]
) -> None:
    video = write_video(tmp_path / "belt.avi", frames=20, fps=20.0)
    camera = CameraWorker(lambda: OpenCvSource(str(video)))
    workers.append(camera)
    stamps: list[float] = []
    shapes: set[tuple[int, ...]] = set()

    def on_frame(frame: np.ndarray, captured_at: float) -> None:
        stamps.append(captured_at)
        shapes.add(frame.shape)

    camera.frame_ready.connect(on_frame)
    with qtbot.waitSignal(
        camera.state_changed,
        timeout=4000,
        check_params_cb=lambda state, _msg: state == CameraState.ENDED.value,
    ) as ended:
        camera.start()
    qtbot.waitUntil(lambda: len(stamps) == 20, timeout=1000)
    assert "Video ended" in ended.args[1]
    assert shapes == {(120, 160, 3)}
    duration = stamps[-1] - stamps[0]
    # 19 intervals of 50 ms: paced like a live feed, not decoded as fast as possible.
    assert 0.7 <= duration <= 1.6, duration
    assert camera.state is CameraState.ENDED


def test_missing_video_file_reports_and_retries(
    qtbot: QtBot, tmp_path: Path, workers: list[CameraWorker | InferenceWorker]
) -> None:
    camera = CameraWorker(lambda: OpenCvSource(str(tmp_path / "nope.avi")), retry_s=0.1)
    workers.append(camera)
    messages: list[str] = []
    camera.state_changed.connect(lambda state, msg: messages.append(f"{state}:{msg}"))
    camera.start()
    qtbot.waitUntil(lambda: sum(m.startswith("retrying") for m in messages) >= 2, timeout=3000)
    assert "not found" in next(m for m in messages if m.startswith("retrying"))


class Plug:
    """Shared switch: is the fake camera plugged in?"""

    def __init__(self) -> None:
        self.plugged = True
        self.opens = 0


class FakeCamera:
    """A camera that fails reads while unplugged and cannot be opened until plugged back."""

    is_file = False
    fps = None
    resolution = (64, 48)

    def __init__(self, plug: Plug) -> None:
        self.plug = plug
        self.description = "Fake camera"

    def open(self) -> None:
        if not self.plug.plugged:
            raise CameraError("Cannot open camera Fake camera")
        self.plug.opens += 1

    def read(self) -> np.ndarray | None:
        time.sleep(0.01)
        if not self.plug.plugged:
            return None
        return np.full((48, 64, 3), 128, np.uint8)

    def close(self) -> None:
        pass


def test_unplugged_camera_reports_error_then_recovers(
    qtbot: QtBot, workers: list[CameraWorker | InferenceWorker]
) -> None:
    plug = Plug()
    camera = CameraWorker(lambda: FakeCamera(plug), fail_after_s=0.2, retry_s=0.1)
    workers.append(camera)
    frames: list[float] = []
    camera.frame_ready.connect(lambda _f, t: frames.append(t))
    camera.start()
    qtbot.waitUntil(lambda: len(frames) >= 3, timeout=2000)

    with qtbot.waitSignal(
        camera.state_changed,
        timeout=2000,
        check_params_cb=lambda state, _m: state == CameraState.RETRYING.value,
    ) as lost:
        plug.plugged = False
    assert "stopped delivering frames" in lost.args[1]
    assert "retrying" in lost.args[1]
    qtbot.wait(300)  # several failed re-opens while unplugged
    before = len(frames)

    with qtbot.waitSignal(
        camera.state_changed,
        timeout=2000,
        check_params_cb=lambda state, _m: state == CameraState.LIVE.value,
    ):
        plug.plugged = True
    qtbot.waitUntil(lambda: len(frames) >= before + 3, timeout=2000)
    assert plug.opens == 2


def test_read_error_on_a_file_source_means_end() -> None:
    source = OpenCvSource("/definitely/not/here.avi")
    with pytest.raises(CameraError, match="not found"):
        source.open()
    with pytest.raises(CameraError):
        source.read()
    assert issubclass(EndOfStream, Exception)


class SlowPredictor:
    """A real tiny ONNX classifier that takes 40 ms per frame and remembers what it saw."""

    def __init__(self, classifier: Classifier) -> None:
        self._classifier = classifier
        self.seen: list[int] = []
        self.threads: set[str] = set()

    @property
    def info(self) -> ModelInfo:
        return self._classifier.info

    def predict(self, rgb: np.ndarray, top_k: int = 3) -> Prediction:
        self.threads.add(threading.current_thread().name)
        self.seen.append(int(rgb[0, 0, 0]))
        time.sleep(0.04)
        return self._classifier.predict(rgb, top_k=top_k)


def test_inference_worker_newest_frame_wins(
    qtbot: QtBot, tmp_path: Path, workers: list[CameraWorker | InferenceWorker]
) -> None:
    predictor = SlowPredictor(Classifier(make_onnx_model(tmp_path / "tiny.onnx")))
    worker = InferenceWorker()
    workers.append(worker)
    worker.set_predictor(predictor)
    results: list[InferenceResult] = []
    worker.result_ready.connect(results.append)
    worker.start()

    started = time.monotonic()
    for i in range(50):
        frame = np.zeros((16, 16, 3), np.uint8)
        frame[..., 0] = i  # the frame number, read back by the predictor
        worker.submit(frame, time.monotonic())
        time.sleep(0.002)
    submit_s = time.monotonic() - started
    assert submit_s < 1.0  # submit never waits for the model

    qtbot.waitUntil(lambda: worker.is_idle() and bool(results), timeout=3000)
    qtbot.wait(50)  # let the last queued result_ready arrive
    assert worker.submitted == 50
    assert worker.processed == len(predictor.seen)
    assert worker.processed < 15, worker.processed  # far fewer than 50: stale frames dropped
    assert predictor.seen[-1] == 49  # the newest frame was processed last
    assert predictor.seen == sorted(predictor.seen)
    assert results[-1].seq == 50
    assert int(results[-1].frame[0, 0, 0]) == 49
    assert results[-1].latency_ms >= 40.0
    assert threading.current_thread().name not in predictor.threads


def test_inference_worker_reports_failures_and_keeps_previous_model(
    qtbot: QtBot, tmp_path: Path, workers: list[CameraWorker | InferenceWorker]
) -> None:
    from app.core.registry import ModelRegistry

    models = tmp_path / "models"
    make_onnx_model(models / "good.onnx", model_id="good")
    (models / "broken.onnx").write_bytes(b"not a model")
    worker = InferenceWorker(ModelRegistry(models))
    workers.append(worker)
    worker.start()
    with qtbot.waitSignal(worker.models_listed, timeout=3000) as listed:
        worker.request_models()
    entries = listed.args[0]
    assert {e.id: e.ok for e in entries} == {"broken": False, "good": True}
    with qtbot.waitSignal(worker.model_loaded, timeout=3000):
        worker.load_model("good")
    with qtbot.waitSignal(worker.model_failed, timeout=3000) as failed:
        worker.load_model("broken")
    assert "broken.onnx" in failed.args[1]
    assert worker.model_id == "good"
    with qtbot.waitSignal(worker.result_ready, timeout=3000):
        worker.submit(np.zeros((8, 8, 3), np.uint8), time.monotonic())


def test_latest_value_relay_coalesces(qtbot: QtBot) -> None:
    relay = LatestValueRelay()
    got: list[int] = []
    relay.delivered.connect(got.append)
    for i in range(100):
        relay.push(i)
    qtbot.waitUntil(lambda: bool(got), timeout=1000)
    qtbot.wait(20)
    assert got == [99]
