"""``keras.applications`` backbones: selectable where Keras can download ImageNet weights.

No test downloads anything (CI has no route to Keras' server): the networks are built with
random weights, and a failed download is simulated to check the message a user gets.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

pytestmark = pytest.mark.training
pytest.importorskip("tensorflow")

from app.core.classifier import Classifier  # noqa: E402
from tests.training.synthetic import COLOURS, tiny_config  # noqa: E402
from training import backbones as bb  # noqa: E402
from training.__main__ import main  # noqa: E402
from training.config import Config, UserError  # noqa: E402
from training.train import train  # noqa: E402


@pytest.mark.parametrize(("name", "blocks"),
                         [("keras_mobilenet_v2", 17), ("keras_efficientnet_b0", 16)])
def test_blocks_unfreeze_from_the_top_without_batchnorm(name: str, blocks: int) -> None:
    backbone = bb.build_backbone(name, input_shape=(64, 64, 3), weights=None)
    assert backbone.name == name
    assert backbone.output.shape[-1] == bb.feature_dim(name) == 1280
    assert bb.block_count(name) == blocks
    out = backbone(np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32"))
    assert out.shape == (2, 1280)

    head_only = bb.set_trainable_top(backbone, 0)
    one = bb.set_trainable_top(backbone, 1)
    every = bb.set_trainable_top(backbone, blocks)
    assert 0 < head_only < one < every
    trainable = [layer for layer in backbone.layers if layer.trainable and layer.weights]
    assert trainable
    assert not [layer for layer in trainable
                if isinstance(layer, keras.layers.BatchNormalization)]
    with pytest.raises(ValueError, match="n_blocks"):
        bb.set_trainable_top(backbone, blocks + 1)


def test_a_failed_download_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    from keras.src.utils import file_utils

    def offline(*args: object, **kwargs: object) -> str:
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(file_utils, "get_file", offline)
    with pytest.raises(UserError, match=r"mobilenet_v2.*efficientnet_lite0"):
        bb.build_backbone("keras_mobilenet_v2", input_shape=(64, 64, 3), weights="default")
    with pytest.raises(UserError, match="not found"):
        bb.build_backbone("keras_mobilenet_v2", input_shape=(64, 64, 3),
                          weights="/nonexistent/weights.h5")


def test_trains_both_phases_and_exports(colour_dataset, tmp_path: Path) -> None:
    root, _ = colour_dataset
    raw = tiny_config(
        "kbb",
        model={"architecture": "backbone", "backbone": "keras_mobilenet_v2",
               "backbone_weights": None, "input_size": [32, 32], "backbone_size": [48, 48],
               "dropout": 0.1},
        train={"phase1_cached_features": True, "batch_size": 12},
        phase1={"epochs": 1, "learning_rate": 0.01},
        phase2={"epochs": 1, "unfreeze_blocks": 2, "learning_rate": 1e-4, "patience": 5},
    )
    run = tmp_path / "run"
    train(Config.from_dict(raw), run, cache_dir=tmp_path / "cache", data_path=root)
    history = json.loads((run / "history.json").read_text())
    assert len(history["phase2"]) == 1
    out = tmp_path / "kbb.onnx"
    assert main(["export", "--run-dir", str(run), "--out", str(out), "--id", "kbb",
                 "--version", "0.1.0"]) == 0
    report = json.loads((run / "export" / "export.json").read_text())
    assert report["parity"]["passed"]
    classifier = Classifier(out)
    assert classifier.info.training["backbone"] == "keras_mobilenet_v2"
    assert set(classifier.labels) == set(COLOURS)
