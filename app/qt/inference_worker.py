"""The long-lived inference thread: the newest frame wins, the UI never waits.

Frames arrive (from the camera thread, directly) through :meth:`InferenceWorker.submit`, which
only replaces a one-frame slot; whatever arrives while the model is busy overwrites the frame
waiting there, so nothing queues and results are never stale by more than one inference.
Model listing and loading run on the same thread, between frames, so a slow model load never
freezes the window; a load that fails keeps the previous model.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QObject, QThread, Signal

from app.core.classifier import Prediction
from app.core.model_info import ModelError, ModelInfo
from app.core.registry import ModelEntry

log = logging.getLogger(__name__)

RGBArray = npt.NDArray[np.uint8]

# The same error repeated for every frame would flood the operator; repeat it this rarely.
ERROR_REPEAT_S = 10.0


class Predictor(Protocol):
    """What the worker needs from a model (``app.core.classifier.Classifier`` in the app)."""

    @property
    def info(self) -> ModelInfo: ...

    def predict(self, rgb: RGBArray, top_k: int = 3) -> Prediction: ...


class ModelSource(Protocol):
    """What the worker needs from ``app.core.registry.ModelRegistry``."""

    def entries(self) -> list[ModelEntry]: ...

    def load(self, id_or_path: str | Path) -> Predictor: ...


@dataclass(frozen=True)
class InferenceResult:
    """One prediction with the frame it came from and when that frame was captured."""

    frame: RGBArray
    prediction: Prediction
    captured_at: float  # time.monotonic() when the camera delivered the frame
    finished_at: float  # time.monotonic() when the prediction was ready
    seq: int  # submission number of the frame (increasing)
    source: str

    @property
    def latency_ms(self) -> float:
        """Capture to result, including the time the frame waited in the slot."""
        return (self.finished_at - self.captured_at) * 1000.0


@dataclass
class _Pending:
    frame: RGBArray
    captured_at: float
    seq: int
    source: str


class InferenceWorker(QThread):
    """One thread for all model work: live frames, model listing and loading."""

    result_ready = Signal(object)  # InferenceResult
    error = Signal(str)
    model_loaded = Signal(str, object)  # model id, ModelInfo
    model_failed = Signal(str, str)  # model id, message
    models_listed = Signal(object)  # list[ModelEntry]

    def __init__(
        self,
        registry: ModelSource | None = None,
        *,
        top_k: int = 3,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("InferenceWorker")
        self._registry = registry
        self.top_k = top_k
        self._cond = threading.Condition()
        self._pending: _Pending | None = None
        self._commands: collections.deque[Callable[[], None]] = collections.deque()
        self._busy = False
        self._stop = False
        self._predictor: Predictor | None = None
        self._model_id: str | None = None
        self._seq = 0
        self._last_error = ("", 0.0)
        self.submitted = 0
        self.processed = 0
        self.last_processed_seq = -1

    # -- any thread -----------------------------------------------------------------------

    def submit(self, frame: RGBArray, captured_at: float, source: str = "camera") -> int:
        """Offer a frame; replaces any frame still waiting. Returns its sequence number."""
        with self._cond:
            self._seq += 1
            self.submitted += 1
            self._pending = _Pending(frame, captured_at, self._seq, source)
            self._cond.notify()
            return self._seq

    def clear_pending(self) -> None:
        """Drop the waiting frame (e.g. the operator switched to still images)."""
        with self._cond:
            self._pending = None
            self._cond.notify_all()

    def set_predictor(self, predictor: Predictor | None, model_id: str | None = None) -> None:
        """Use ``predictor`` for the next frames (tests, or a model loaded elsewhere)."""
        with self._cond:
            self._predictor = predictor
            self._model_id = model_id or (predictor.info.id if predictor else None)

    @property
    def predictor(self) -> Predictor | None:
        with self._cond:
            return self._predictor

    @property
    def model_id(self) -> str | None:
        with self._cond:
            return self._model_id

    def is_idle(self) -> bool:
        """No frame waiting, none being classified, no command queued."""
        with self._cond:
            return self._pending is None and not self._busy and not self._commands

    def request_models(self) -> None:
        """List the registry's models on the worker thread; answers with ``models_listed``."""
        self._command(self._list_models)

    def load_model(self, model_id: str) -> None:
        """Open a model on the worker thread; ``model_loaded`` or ``model_failed`` answers."""
        self._command(lambda: self._load(model_id))

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Finish the current inference, drop waiting work and end the thread."""
        with self._cond:
            self._stop = True
            self._pending = None
            self._commands.clear()
            self._cond.notify_all()
        if not self.isRunning():
            return True
        return bool(self.wait(int(timeout_s * 1000)))

    def _command(self, command: Callable[[], None]) -> None:
        with self._cond:
            self._commands.append(command)
            self._cond.notify()

    # -- worker thread --------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # a bug: tell the operator, end the thread cleanly
            log.exception("inference worker crashed")
            self.error.emit(f"Inference stopped: {exc}")

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stop and not self._commands and self._pending is None:
                    self._cond.wait()
                if self._stop:
                    return
                command = self._commands.popleft() if self._commands else None
                job = None
                if command is None:
                    job, self._pending = self._pending, None
                predictor = self._predictor
                self._busy = True
            try:
                if command is not None:
                    command()
                elif job is not None and predictor is not None:
                    self._classify(predictor, job)
            finally:
                with self._cond:
                    self._busy = False

    def _classify(self, predictor: Predictor, job: _Pending) -> None:
        try:
            prediction = predictor.predict(job.frame, top_k=self.top_k)
        except Exception as exc:  # ModelError or anything from onnxruntime
            log.warning("inference failed: %s", exc)
            self._report(f"Classification failed: {exc}")
            return
        self.processed += 1
        self.last_processed_seq = job.seq
        self.result_ready.emit(
            InferenceResult(
                frame=job.frame,
                prediction=prediction,
                captured_at=job.captured_at,
                finished_at=time.monotonic(),
                seq=job.seq,
                source=job.source,
            )
        )

    def _report(self, message: str) -> None:
        last, when = self._last_error
        now = time.monotonic()
        if message != last or now - when > ERROR_REPEAT_S:
            self._last_error = (message, now)
            self.error.emit(message)

    def _list_models(self) -> None:
        if self._registry is None:
            self.models_listed.emit([])
            return
        try:
            entries = self._registry.entries()
        except Exception as exc:
            log.exception("listing models failed")
            self.error.emit(f"Cannot list models: {exc}")
            entries = []
        self.models_listed.emit(entries)

    def _load(self, model_id: str) -> None:
        if self._registry is None:
            self.model_failed.emit(model_id, "no model registry")
            return
        try:
            predictor = self._registry.load(model_id)
        except ModelError as exc:
            self.model_failed.emit(model_id, str(exc))
            return
        except Exception as exc:  # keep the previous model whatever went wrong
            log.exception("loading model %s failed", model_id)
            self.model_failed.emit(model_id, f"{model_id}: {exc}")
            return
        self.set_predictor(predictor, model_id)
        self._last_error = ("", 0.0)
        self.model_loaded.emit(model_id, predictor.info)
