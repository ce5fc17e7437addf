"""Models declaring huge inputs are refused when opened; large inputs run in small batches.

A user model declaring a 4096 x 4096 input took 6.4 GB: 32 images of 192 MB of float32 in
one ``session.run``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.core.classifier import MAX_BATCH, MAX_BATCH_BYTES, Classifier
from app.core.model_info import MAX_INPUT_PIXELS, ModelError, ModelInfo
from tests.factories import RED, make_onnx_model, model_metadata, solid_rgb

LABELS = ("red", "green", "blue")


class _CountingSession:
    """Wraps an InferenceSession and records the batch size of every run."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.batches: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def run(self, outputs: Any, feeds: dict[str, np.ndarray], *options: Any) -> Any:
        self.batches.append(len(next(iter(feeds.values()))))
        return self.inner.run(outputs, feeds, *options)


@pytest.mark.parametrize("size", [(4096, 4096), (4096, 1025), (2049, 2048)])
def test_model_declaring_a_huge_input_is_refused_when_opened(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    path = make_onnx_model(tmp_path / "huge.onnx", LABELS, size=size)
    height, width = size
    with pytest.raises(ModelError) as info:
        Classifier(path)
    assert str(info.value) == (
        f"huge.onnx: input size {height}x{width} is too large (at most 4,194,304 pixels, "
        "such as 2048x2048)"
    )
    with pytest.raises(ModelError, match="is too large"):  # the metadata alone says so
        ModelInfo.from_dict(model_metadata(LABELS, size=size), path)


def test_the_largest_allowed_input_runs_one_image_per_call(tmp_path: Path) -> None:
    assert MAX_INPUT_PIXELS == 2048 * 2048
    clf = Classifier(make_onnx_model(tmp_path / "big.onnx", LABELS, size=(2048, 2048)))
    counter = _CountingSession(clf._session)
    clf._session = counter
    preds = clf.predict_batch([solid_rgb(RED)] * 3)
    assert counter.batches == [1, 1, 1]
    assert [p.label for p in preds] == ["red"] * 3


@pytest.mark.parametrize(("side", "batch"), [(224, MAX_BATCH), (512, 21), (1024, 5)])
def test_batch_size_keeps_the_input_tensor_under_its_budget(
    tmp_path: Path, side: int, batch: int
) -> None:
    clf = Classifier(make_onnx_model(tmp_path / "m.onnx", LABELS, size=(side, side)))
    counter = _CountingSession(clf._session)
    clf._session = counter
    clf.predict_batch([solid_rgb(RED, (8, 8))] * (batch + 1))
    assert counter.batches == [batch, 1]
    assert batch * side * side * 3 * 4 <= MAX_BATCH_BYTES
