"""Writing history records off the UI thread.

``HistoryStore.add`` commits durably before it returns, which can take a while on a slow disk
or when another program holds the database lock; the UI must not wait for it. The writer
thread encodes the thumbnail, calls ``add`` and reports ``saved(token, id)`` only once the
record is on disk, or ``failed(token, message)`` so nothing is claimed saved that is not.
"""

from __future__ import annotations

import functools
import logging
import queue
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QObject, QThread, Signal

from app.core.bins import BinDecision
from app.core.classifier import Prediction
from app.core.history import HistoryError, NewRecord, SourceKind
from app.core.imaging import encode_crop, encode_jpeg

log = logging.getLogger(__name__)

RGBArray = npt.NDArray[np.uint8]


class RecordSink(Protocol):
    """The part of ``HistoryStore`` the writer uses."""

    def add(self, rec: NewRecord) -> int: ...

    def purge_older_than(self, days: int) -> int: ...


@dataclass(frozen=True)
class RecordRequest:
    """One item to save; ``frame`` is thumbnailed unless it is ``None`` (privacy setting), and
    also kept as a training crop of ``crop_size`` (width, height) when that is given."""

    token: int
    source: str
    source_kind: SourceKind
    prediction: Prediction
    decision: BinDecision
    frame: RGBArray | None
    crop_size: tuple[int, int] | None = None


def new_record(
    request: RecordRequest, thumbnail: bytes | None, crop: bytes | None = None
) -> NewRecord:
    """The history row for a request (unsure items are stored in the unsure bin)."""
    return NewRecord.from_prediction(
        request.prediction,
        request.decision,
        source=request.source,
        source_kind=request.source_kind,
        thumbnail=thumbnail,
        crop=crop,
    )


_STOP = object()


class HistoryWriter(QThread):
    """A queue of history writes served by one thread, in order."""

    saved = Signal(int, int)  # token, record id
    failed = Signal(int, str)  # token, message for the operator
    purged = Signal(int)  # number of records removed by retention
    purge_failed = Signal(str)

    def __init__(self, store: RecordSink, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("HistoryWriter")
        self._store = store
        self._queue: queue.Queue[object] = queue.Queue()
        self._next_token = 0
        self._outstanding = 0

    def save(
        self,
        *,
        source: str,
        source_kind: SourceKind,
        prediction: Prediction,
        decision: BinDecision,
        frame: RGBArray | None,
        crop_size: tuple[int, int] | None = None,
    ) -> int:
        """Queue a record; returns the token that ``saved``/``failed`` will carry."""
        self._next_token += 1
        self._outstanding += 1
        self._queue.put(
            RecordRequest(
                self._next_token, source, source_kind, prediction, decision, frame, crop_size
            )
        )
        return self._next_token

    def purge_older_than(self, days: int) -> None:
        """Retention: delete old records on the writer thread; answers with ``purged``."""
        self._queue.put(days)

    def pending(self) -> int:
        """Saves queued or in progress (UI thread view; decremented when answered)."""
        return self._outstanding

    def answered(self) -> None:
        """The UI thread calls this on every saved/failed signal it handles."""
        self._outstanding = max(0, self._outstanding - 1)

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Finish every queued write (they are the operator's records), then end."""
        self._queue.put(_STOP)
        if not self.isRunning():
            return True
        return bool(self.wait(int(timeout_s * 1000)))

    def run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, int):
                self._guard(functools.partial(self._purge, item), self.purge_failed.emit)
            elif isinstance(item, RecordRequest):
                self._guard(
                    functools.partial(self._save, item),
                    functools.partial(self._emit_failed, item.token),
                )

    def _emit_failed(self, token: int, message: str) -> None:
        self.failed.emit(token, message)

    @staticmethod
    def _guard(action: Callable[[], None], on_error: Callable[[str], None]) -> None:
        try:
            action()
        except HistoryError as exc:
            log.warning("history write failed: %s", exc)
            on_error(str(exc))
        except Exception as exc:  # never let one bad record end the writer
            log.exception("history write failed")
            on_error(f"{type(exc).__name__}: {exc}")

    def _save(self, request: RecordRequest) -> None:
        thumbnail = crop = None
        if request.frame is not None:
            try:
                thumbnail = encode_jpeg(request.frame)
                if request.crop_size is not None:
                    crop = encode_crop(request.frame, *request.crop_size)
            except (ValueError, OSError) as exc:  # a record without picture beats no record
                log.warning("thumbnail failed: %s", exc)
        record_id = self._store.add(new_record(request, thumbnail, crop))
        self.saved.emit(request.token, record_id)

    def _purge(self, days: int) -> None:
        removed = self._store.purge_older_than(days)
        if removed:
            log.info("retention: removed %d records older than %d days", removed, days)
        self.purged.emit(removed)
