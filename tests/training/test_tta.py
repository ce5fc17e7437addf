"""In-graph flip test-time augmentation: what Keras computes is what ONNX Runtime computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.training
tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
pytest.importorskip("tf2onnx")


def test_flip_tta_averages_image_and_mirror_and_converts(tmp_path: Path) -> None:
    from training.export import convert, ort_predict, session, with_flip_tta

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Flatten()(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(x)  # position-sensitive on purpose
    model = keras.Model(inputs, outputs)
    images = np.random.default_rng(0).uniform(0, 1, (4, 8, 8, 3)).astype("float32")

    tta = with_flip_tta(model)
    expected = (model(images).numpy() + model(images[:, :, ::-1].copy()).numpy()) / 2
    np.testing.assert_allclose(tta(images).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(model(images).numpy(), expected)  # the mirror really mattered

    proto = convert(tta, (8, 8), 17)
    import onnx

    path = tmp_path / "tta.onnx"
    onnx.save(proto, path)
    np.testing.assert_allclose(ort_predict(session(path), images), expected, atol=1e-5)
