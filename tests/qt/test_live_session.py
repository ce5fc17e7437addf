"""LiveSession's bin decisions use the whole prediction: novelty and the model's threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pytestqt.qtbot import QtBot

from app.core.bins import BinRules, default_bins_path
from app.core.capture import AutoCapture
from app.core.classifier import Prediction
from app.qt.inference_worker import InferenceResult
from app.qt.live_session import LiveSession
from app.qt.recorder import HistoryWriter
from app.qt.sources import ImageResult

FRAME = np.zeros((24, 32, 3), np.uint8)


class NoStore:
    def add(self, rec: object) -> int:
        raise AssertionError("the writer thread is never started here")

    def purge_older_than(self, days: int) -> int:
        return 0


def guess(confidence: float, *, model_threshold: float | None, novel: bool = False) -> Prediction:
    top = (("glass", confidence), ("paper", 1.0 - confidence))
    return Prediction(
        "glass", confidence, top, (confidence, 1.0 - confidence), "m", "1", 1.0,
        novelty=5.0 if novel else 0.5, novel=novel, model_threshold=model_threshold,
    )  # fmt: skip


def test_decisions_follow_the_models_threshold_until_the_user_sets_one(qtbot: QtBot) -> None:
    rules = BinRules.load(default_bins_path())  # default_threshold 0.6
    session = LiveSession(rules, HistoryWriter(NoStore()), AutoCapture(), auto_capture=False)
    shown: list[object] = []
    session.result_shown.connect(lambda _p, decision: shown.append(decision))

    # An opened image: 0.75 passes the rules' 0.6 but not the model's 0.8.
    session.on_image_result(ImageResult(Path("a.png"), FRAME, guess(0.75, model_threshold=0.8)))
    assert session.current is not None
    decision = session.current[1]
    assert (decision.unsure, decision.threshold, decision.suggested_bin_id) == (True, 0.8, "glass")
    assert shown == [decision]

    # The user's overall threshold wins: set_rules decides the shown item again.
    session.set_rules(rules.with_thresholds(0.7))
    decision = session.current[1]
    assert (decision.unsure, decision.threshold, decision.bin_id) == (False, 0.7, "glass")

    # A camera result the model flags as unfamiliar is unsure however confident.
    session.resume_live()
    session.on_live_result(
        InferenceResult(FRAME, guess(0.99, model_threshold=0.8, novel=True), 0.0, 0.0, 1, "cam")
    )
    assert session.current is not None
    assert session.current[1].unsure
    session.on_live_result(
        InferenceResult(FRAME, guess(0.99, model_threshold=0.8), 0.1, 0.1, 2, "cam")
    )
    assert not session.current[1].unsure
