"""From predictions to what the operator sees and to history records, one record per item.

:class:`LiveSession` receives camera results and opened-image results, decides the bin,
drives :class:`~app.core.capture.AutoCapture` (record automatically once an item is held
still) and the manual Record command, and hands records to the
:class:`~app.qt.recorder.HistoryWriter`. "Saved #id" is announced only when the writer reports
the record committed; a failure is announced as such and the item is not claimed saved.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal, Slot

from app.core.bins import BinDecision, BinRules
from app.core.capture import AutoCapture, CaptureState
from app.core.classifier import Prediction
from app.core.history import SourceKind
from app.core.paths import display_path
from app.qt.i18n import bin_name, label_text
from app.qt.inference_worker import InferenceResult, RGBArray
from app.qt.recorder import HistoryWriter
from app.qt.sources import ImageResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Shown:
    """The prediction on screen, i.e. what Record would save."""

    key: tuple[str, int]  # (source, seq): identifies one result for de-duplication
    frame: RGBArray
    prediction: Prediction
    decision: BinDecision
    source: str
    source_kind: SourceKind


class LiveSession(QObject):
    """The station's behaviour between the workers and the widgets (no widgets here)."""

    result_shown = Signal(object, object)  # Prediction, BinDecision
    still_shown = Signal(object, str)  # RGB frame of an opened image, caption
    status = Signal(str, str)  # text, kind: "ok" | "error" | "info" | "" (clear)
    capture_progress = Signal(object)  # float 0..1 while an item is held, None otherwise
    record_saved = Signal(int)  # id of a committed record
    throughput = Signal(float, float)  # predictions per second, mean latency in ms
    still_mode_changed = Signal(bool)
    idle = Signal()  # the scene is empty: nothing to classify

    def __init__(
        self,
        rules: BinRules,
        writer: HistoryWriter,
        capture: AutoCapture,
        *,
        auto_capture: bool = True,
        keep_images: str = "thumbnail",
        camera_name: str = "camera",
        clock: Callable[[], float] = time.monotonic,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.rules = rules
        self.capture = capture
        self.auto_capture = auto_capture
        self.keep_images = keep_images  # privacy: "nothing" | "thumbnail" | "crop"
        self.crop_size: tuple[int, int] | None = None  # the model's input (width, height)
        self.camera_name = camera_name
        self._writer = writer
        self._clock = clock
        self._shown: _Shown | None = None
        self._still = False
        self._pending: dict[int, _Shown] = {}  # token -> what is being saved
        self._saved: dict[tuple[str, int], int] = {}  # result key -> record id
        self._recent: deque[tuple[float, float]] = deque(maxlen=120)  # (finished, latency)
        self._last_rate_emit = 0.0
        writer.saved.connect(self._on_saved)
        writer.failed.connect(self._on_failed)

    # -- state ----------------------------------------------------------------------------

    @property
    def still_mode(self) -> bool:
        """True while opened images are shown (camera results are not displayed)."""
        return self._still

    @property
    def current(self) -> tuple[Prediction, BinDecision] | None:
        return None if self._shown is None else (self._shown.prediction, self._shown.decision)

    def saves_pending(self) -> int:
        return len(self._pending)

    def set_rules(self, rules: BinRules) -> None:
        self.rules = rules
        if self._shown is not None:
            shown = self._shown
            decision = rules.decide_prediction(shown.prediction)
            self._shown = _Shown(
                shown.key, shown.frame, shown.prediction, decision, shown.source, shown.source_kind
            )
            self.result_shown.emit(shown.prediction, decision)

    @Slot()
    def resume_live(self) -> None:
        """Back to the camera after looking at opened images."""
        if self._still:
            self._still = False
            self._shown = None
            self.capture.reset()
            self.status.emit("", "")
            self.still_mode_changed.emit(False)

    # -- inputs ---------------------------------------------------------------------------

    @Slot(object)
    def on_live_result(self, result: InferenceResult) -> None:
        self._count(result)
        if self._still:
            return
        prediction = result.prediction
        decision = self.rules.decide_prediction(prediction)
        self._shown = _Shown(
            (result.source, result.seq),
            result.frame,
            prediction,
            decision,
            result.source,
            "camera",
        )
        update = self.capture.update(result.frame, prediction.label, result.captured_at)
        if update.scene_empty and decision.unsure:
            # An empty scene gives a meaningless low-confidence guess; a confident answer is
            # still shown in case the item is too faint for the change detector.
            self.idle.emit()
        else:
            self.result_shown.emit(prediction, decision)
        if not self.auto_capture:
            self.capture_progress.emit(None)
            return
        holding = update.state is CaptureState.PRESENT
        self.capture_progress.emit(update.progress if holding else None)
        if update.fired:
            self._save(self._shown)

    @Slot(object)
    def on_image_result(self, item: ImageResult) -> None:
        """An opened image: show it and record it (once)."""
        if not self._still:
            self._still = True
            self.capture_progress.emit(None)
            self.still_mode_changed.emit(True)
        prediction = item.prediction
        decision = self.rules.decide_prediction(prediction)
        source = display_path(item.path)  # valid text for Qt and the history, whatever the name
        self._shown = _Shown((source, 0), item.frame, prediction, decision, source, "file")
        self.still_shown.emit(item.frame, display_path(item.path.name))
        self.result_shown.emit(prediction, decision)
        self._save(self._shown)

    @Slot()
    def record_current(self) -> None:
        """Manual record (Space): the prediction on screen, once."""
        shown = self._shown
        if shown is None:
            self.status.emit(self.tr("Nothing to record yet"), "info")
            return
        if shown.key in self._saved:
            self.status.emit(self.tr("Already saved #{id}").format(id=self._saved[shown.key]), "ok")
            return
        if any(p.key == shown.key for p in self._pending.values()):
            return  # a second press while the first save is still in flight
        if not self._still:
            self.capture.mark_recorded()  # auto-capture must not record this item again
        self._save(shown)

    # -- saving ---------------------------------------------------------------------------

    def _save(self, shown: _Shown) -> None:
        frame = shown.frame if self.keep_images != "nothing" else None
        crop_size = self.crop_size if self.keep_images == "crop" else None
        token = self._writer.save(
            source=shown.source,
            source_kind=shown.source_kind,
            prediction=shown.prediction,
            decision=shown.decision,
            frame=frame,
            crop_size=crop_size,
        )
        self._pending[token] = shown
        self.status.emit(self.tr("Saving…"), "info")

    @Slot(int, int)
    def _on_saved(self, token: int, record_id: int) -> None:
        self._writer.answered()
        shown = self._pending.pop(token, None)
        if shown is None:
            return
        self._saved[shown.key] = record_id
        if len(self._saved) > 1000:  # only recent results can be re-recorded
            self._saved.pop(next(iter(self._saved)))
        what = label_text(shown.prediction.label)
        where = self.tr("check") if shown.decision.unsure else bin_name(shown.decision)
        self.status.emit(
            self.tr("Saved #{id}: {label} → {bin}").format(id=record_id, label=what, bin=where),
            "ok",
        )
        self.record_saved.emit(record_id)

    @Slot(int, str)
    def _on_failed(self, token: int, message: str) -> None:
        self._writer.answered()
        shown = self._pending.pop(token, None)
        if shown is None:
            return
        self.status.emit(self.tr("NOT saved: {reason}").format(reason=message), "error")

    # -- throughput -----------------------------------------------------------------------

    def _count(self, result: InferenceResult) -> None:
        self._recent.append((result.finished_at, result.latency_ms))
        now = self._clock()
        if now - self._last_rate_emit < 1.0:
            return
        self._last_rate_emit = now
        window = [(t, lat) for t, lat in self._recent if now - t <= 2.0]
        if len(window) >= 2:
            span = max(1e-3, window[-1][0] - window[0][0])
            rate = (len(window) - 1) / span
            latency = sum(lat for _, lat in window) / len(window)
            self.throughput.emit(rate, latency)
