"""Backbone models: cached-feature phase 1, fine-tuning phase 2, resume after a kill, export.

A randomly initialised backbone needs no shared data but learns nothing (its features are
near-constant), so the mechanics are tested with it; the ImageNet weights, when this machine
has them, check that the head learns and that the exported graph (in-graph resize included)
matches Keras.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import pytest

pytestmark = pytest.mark.training
pytest.importorskip("tensorflow")

from app.core.classifier import Classifier  # noqa: E402
from tests.training.synthetic import COLOURS, colour_image, tiny_config  # noqa: E402
from training.__main__ import main  # noqa: E402
from training.backbones import default_weights_path  # noqa: E402
from training.config import Config, UserError  # noqa: E402
from training.train import train  # noqa: E402


class _Killed(Exception):
    pass


class _KillAfter(keras.callbacks.Callback):
    """Stands in for a killed process: dies after a given epoch of phase 2 was checkpointed."""

    def __init__(self, run: Path, phase: int, epoch: int) -> None:
        super().__init__()
        self.run, self.phase, self.epoch = run, phase, epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        state = json.loads((self.run / "state.json").read_text())
        if state["phase"] == self.phase and epoch + 1 == self.epoch:
            raise _Killed


def _backbone_config(name: str, weights: str | None, **overrides: dict) -> Config:
    raw = tiny_config(
        name,
        model={"architecture": "backbone", "backbone": "mobilenet_v2",
               "backbone_weights": weights, "input_size": [32, 32], "backbone_size": [48, 48],
               "dropout": 0.1},
        train={"phase1_cached_features": True, "batch_size": 12},
        phase1={"epochs": 2, "learning_rate": 0.01},
        phase2={"epochs": 2, "unfreeze_blocks": 1, "learning_rate": 1e-4, "patience": 5},
        augment={"flip": True, "zoom": 0.1, "mixup_alpha": 0.2, "mix_probability": 0.5},
    )
    for section, values in overrides.items():
        raw[section].update(values)
    return Config.from_dict(raw)


def test_two_phases_resume_after_a_kill(colour_dataset, tmp_path: Path) -> None:
    root, _ = colour_dataset
    run, cache = tmp_path / "run", tmp_path / "cache"
    config = _backbone_config("bb", None)
    with pytest.raises(_Killed):
        train(config, run, cache_dir=cache, data_path=root, callbacks=[_KillAfter(run, 2, 1)])
    state = json.loads((run / "state.json").read_text())
    assert (state["phase"], state["epoch"]) == (2, 1)
    assert not (run / "model.weights.h5").exists()
    before = json.loads((run / "history.json").read_text())
    features = run / "features" / "train.npy"
    assert features.is_file()
    stamp = features.stat().st_mtime_ns

    rc = main(["train", "--run-dir", str(run), "--resume", "--cache-dir", str(cache)])
    assert rc == 0
    after = json.loads((run / "history.json").read_text())
    assert after["phase1"] == before["phase1"]  # phase 1 not re-run
    assert [r["epoch"] for r in after["phase2"]] == [1, 2]
    assert after["phase2"][0] == before["phase2"][0]
    assert features.stat().st_mtime_ns == stamp  # cached features re-used
    state = json.loads((run / "state.json").read_text())
    assert (state["phase"], state["epoch"]) == (2, 2)
    steps_per_epoch = 36 // 12
    assert state["optimizer_step"] == 2 * steps_per_epoch
    assert (run / "model.weights.h5").is_file()
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "best.weights.h5", "phase2_epoch002.weights.h5"]


@pytest.mark.shared_data
def test_pretrained_backbone_learns_and_exports_with_parity(colour_dataset,
                                                            tmp_path: Path) -> None:
    if default_weights_path("mobilenet_v2") is None:
        pytest.skip("no ImageNet weights (../shared/pretrained/mobilenet_v2_imagenet.npz)")
    root, _ = colour_dataset
    run, cache = tmp_path / "run", tmp_path / "cache"
    config = _backbone_config("bb_pretrained", "default", phase1={"epochs": 15},
                              phase2={"epochs": 0})
    train(config, run, cache_dir=cache, data_path=root)
    out = tmp_path / "bb.onnx"
    assert main(["export", "--run-dir", str(run), "--out", str(out), "--id", "bb",
                 "--version", "1.0.0"]) == 0
    report = json.loads((run / "export" / "export.json").read_text())
    assert report["parity"]["passed"]
    assert report["variants"]["fp32"]["validation"]["accuracy"] >= 0.9
    classifier = Classifier(out)
    assert classifier.info.training["backbone"] == "mobilenet_v2"
    for label, rgb in COLOURS.items():  # in-distribution images: 36 training images only
        for seed in (77, 78, 79):
            assert classifier.predict(colour_image(rgb, seed=seed)).label == label


def test_continuing_a_finished_run_keeps_its_split(colour_dataset, tmp_path: Path) -> None:
    root, _ = colour_dataset
    first, cache = tmp_path / "first", tmp_path / "cache"
    train(_backbone_config("bb", None, phase2={"epochs": 0}), first, cache_dir=cache,
          data_path=root)
    best_before = json.loads((first / "run.json").read_text())["best"]["val_macro_f1"]

    more = tmp_path / "more"
    config = _backbone_config("bb_more", None, train={"init_from": str(first)},
                              phase1={"epochs": 0}, phase2={"epochs": 1, "unfreeze_blocks": 2})
    train(config, more, cache_dir=cache, data_path=root)
    info = json.loads((more / "run.json").read_text())
    assert info["manifest_sha256"] == json.loads((first / "run.json").read_text())[
        "manifest_sha256"]
    assert (more / "manifest.json").read_bytes() == (first / "manifest.json").read_bytes()
    assert info["init_from"] == {"run": str(first), "val_macro_f1": best_before}
    history = json.loads((more / "history.json").read_text())
    assert history["phase1"] == []
    assert len(history["phase2"]) == 1
    # The first run's score is the one to beat: an epoch that does not beat it is not kept.
    assert info["best"]["val_macro_f1"] >= best_before
    assert (more / "model.weights.h5").is_file()


def test_continuing_refuses_another_split(colour_dataset, tmp_path: Path) -> None:
    root, _ = colour_dataset
    first, other, cache = tmp_path / "first", tmp_path / "other", tmp_path / "cache"
    train(_backbone_config("bb", None, phase2={"epochs": 0}), first, cache_dir=cache,
          data_path=root)
    other_split = _backbone_config("bb", None, phase1={"epochs": 1}, phase2={"epochs": 0})
    raw = other_split.to_dict()
    raw["data"]["seed"] = 7
    train(Config.from_dict(raw), other, cache_dir=cache, data_path=root)
    config = _backbone_config("bb_more", None, train={"init_from": str(first)},
                              phase1={"epochs": 0}, phase2={"epochs": 1})
    with pytest.raises(UserError, match="another split"):
        train(config, tmp_path / "more", cache_dir=cache, data_path=root,
              manifest_path=other / "manifest.json")
    with pytest.raises(UserError, match="init_from"):
        train(_backbone_config("x", None, train={"init_from": str(tmp_path / "nope")},
                               phase1={"epochs": 0}), tmp_path / "x", cache_dir=cache,
              data_path=root)
