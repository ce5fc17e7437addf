"""Phase 2 on cached lower-backbone activations, and ensembles of exported models.

A randomly initialised MobileNetV2 at 48 px keeps this fast; what is checked is the mechanics:
the split model computes exactly what the full model computes and trains the full model's own
weights, a killed run resumes, and an ensemble of two exports is the weighted mean of its
members inside one file the app opens.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.training
pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")

import onnx  # noqa: E402

from app.core.classifier import Classifier  # noqa: E402
from app.core.model_info import ModelInfo  # noqa: E402
from tests.training.synthetic import tiny_config  # noqa: E402
from tests.training.test_two_phase import _KillAfter, _Killed  # noqa: E402
from training.__main__ import main  # noqa: E402
from training.config import Config, ConfigError  # noqa: E402
from training.ensemble import EnsembleError, build_ensemble, choose_weights  # noqa: E402
from training.lower_cache import split_model  # noqa: E402
from training.models import build_model  # noqa: E402
from training.run import open_run  # noqa: E402
from training.train import train  # noqa: E402


def _config(name: str = "lower", **phase2: object) -> Config:
    raw = tiny_config(
        name,
        model={"architecture": "backbone", "backbone": "mobilenet_v2", "backbone_weights": None,
               "input_size": [32, 32], "backbone_size": [48, 48], "dropout": 0.1},
        train={"phase1_cached_features": True, "batch_size": 12},
        phase1={"epochs": 2, "learning_rate": 0.01},
        phase2={"epochs": 2, "unfreeze_blocks": 3, "learning_rate": 1e-3, "patience": 5,
                "cached_lower": True, **phase2},
        augment={"flip": True, "cutmix_alpha": 1.0, "mix_probability": 0.5},
    )
    return Config.from_dict(raw)


def test_split_model_is_the_full_model_and_shares_its_weights() -> None:
    config = _config()
    model = build_model(config, 4, pretrained=False)
    lower, top, _ = split_model(model, config)
    images = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    assert lower.output.shape[-1] == 160  # the cut is after block 13 (MobileNetV2's 160s)
    np.testing.assert_allclose(top(lower(images)).numpy(), model(images).numpy(), atol=1e-5)
    dense = model.get_layer("head_dense")
    kernel = dense.get_weights()
    top.get_layer("head_dense").set_weights([kernel[0] * 0, kernel[1]])
    assert not np.any(dense.get_weights()[0])  # one layer, not a copy


def test_cached_lower_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="unfreeze_blocks"):
        _config(unfreeze_blocks=0)
    with pytest.raises(ConfigError, match="unfreeze_blocks"):
        _config(unfreeze_blocks=17)
    raw = _config().to_dict()
    raw["phase1"]["cached_lower"] = True
    with pytest.raises(ConfigError, match="only phase 2"):
        Config.from_dict(raw)


def test_cached_lower_resumes_and_the_full_model_scores_what_training_saw(
        colour_dataset, tmp_path: Path) -> None:
    root, _ = colour_dataset
    run, cache = tmp_path / "run", tmp_path / "cache"
    with pytest.raises(_Killed):
        train(_config(), run, cache_dir=cache, data_path=root, callbacks=[_KillAfter(run, 2, 1)])
    acts = run / "features" / "lower_b14" / "train_flipped.npy"
    assert acts.is_file()
    stamp = acts.stat().st_mtime_ns
    assert main(["train", "--run-dir", str(run), "--resume", "--cache-dir", str(cache)]) == 0
    assert acts.stat().st_mtime_ns == stamp  # the lower blocks ran once
    state = json.loads((run / "state.json").read_text())
    assert (state["phase"], state["epoch"], state["optimizer_step"]) == (2, 2, 2 * (36 // 12))
    history = json.loads((run / "history.json").read_text())
    best = max(history["phase1"] + history["phase2"], key=lambda r: r["val_macro_f1"])
    # The saved full model (pixels in) scores exactly what the cached top scored.
    assert main(["evaluate", "--run-dir", str(run), "--split", "val",
                 "--cache-dir", str(cache)]) == 0
    metrics = json.loads((run / "eval" / "val" / "metrics.json").read_text())
    assert metrics["macro_f1"] == pytest.approx(best["val_macro_f1"], abs=1e-6)


def test_ensemble_of_two_exports(colour_dataset, tmp_path: Path, capsys) -> None:
    root, _ = colour_dataset
    run, cache = tmp_path / "run", tmp_path / "cache"
    train(_config(epochs=1), run, cache_dir=cache, data_path=root)
    a, b, out = tmp_path / "a.onnx", tmp_path / "b.onnx", tmp_path / "ens.onnx"
    for path, extra in ((a, []), (b, ["--tta-flip"])):
        assert main(["export", "--run-dir", str(run), "--out", str(path), "--id", "m",
                     "--version", "1", *extra]) == 0
    assert main(["ensemble", str(a), str(b), "--run-dir", str(run), "--out", str(out),
                 "--id", "both", "--version", "2", "--weights", "3,1"]) == 0
    report = json.loads((run / "ensemble" / "ensemble.json").read_text())
    assert report["weights"] == [0.75, 0.25]
    assert report["parity_max_abs_diff"] <= 1e-5

    clf, ca, cb = Classifier(out), Classifier(a), Classifier(b)
    assert clf.info.id == "both"
    assert clf.info.labels == ca.info.labels
    assert [m["weight"] for m in clf.info.training["ensemble"]] == [0.75, 0.25]
    images = np.random.default_rng(1).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    for image in images:
        mixed = (0.75 * np.array(ca.predict(image).probabilities)
                 + 0.25 * np.array(cb.predict(image).probabilities))
        np.testing.assert_allclose(clf.predict(image).probabilities, mixed, atol=1e-5)

    assert main(["compare", str(run), "--models", str(out), "--repeats", "3",
                 "--split", "val"]) == 0
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.startswith("| ens.onnx (both 2)"))
    assert f"| {report['metrics']['validation']['accuracy']:.4f} |" in row

    # A member trained on another split would have seen the run's test images: refused.
    proto = onnx.load(b)
    props = {p.key: p.value for p in proto.metadata_props}
    info = ModelInfo.from_onnx_metadata(props, b)
    foreign = {**info.training, "manifest_sha256": "0" * 64}
    onnx.helper.set_model_props(proto, replace(info, training=foreign).to_metadata())
    other = tmp_path / "other.onnx"
    onnx.save(proto, other)
    with pytest.raises(EnsembleError, match="another split"):
        build_ensemble(open_run(run), [a, other], tmp_path / "x.onnx", model_id="x",
                       version="1")
    assert not (tmp_path / "x.onnx").exists()


def test_weights_are_chosen_on_validation_with_ties_to_even() -> None:
    labels = np.array([0, 1, 0, 1])
    good = np.array([[0.9, 0.1], [0.1, 0.9], [0.6, 0.4], [0.4, 0.6]])
    bad = np.array([[0.1, 0.9], [0.9, 0.1], [0.1, 0.9], [0.9, 0.1]])
    w = choose_weights([good, bad], labels)
    assert w[0] > w[1]
    assert choose_weights([good, good], labels) == [0.5, 0.5]
