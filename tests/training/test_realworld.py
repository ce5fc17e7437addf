"""The real-world waste pipeline: sources and groups, balancing, heads, field metrics, and a
tiny end-to-end run (features -> fit with LOSO/LOCO -> export with three outputs -> the app)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("sklearn")

from tests.training.synthetic import COLOURS, colour_image
from training import field_metrics as fm
from training import heads
from training.multisource import (
    MultiSource,
    balance_weights,
    split_by_class_and_group,
)


def _write_sets(root: Path, per_cell: int = 10) -> tuple[Path, Path]:
    """``studio/<colour>/`` (no manifest: one group) and ``wild/<colour>/`` whose manifest
    splits it into groups ``w1`` and ``w2`` (``w2`` has no blue)."""
    studio, wild = root / "studio", root / "wild"
    seed = 100
    rows = []
    for name, rgb in COLOURS.items():
        for folder in (studio, wild):
            (folder / name).mkdir(parents=True)
        for i in range(per_cell):
            seed += 1
            Image.fromarray(colour_image(rgb, seed)).save(studio / name / f"s{i}.png")
            for group in ("w1", "w2"):
                if group == "w2" and name == "blue":
                    continue
                seed += 1
                file = f"{name}/{group}_{i}.png"
                Image.fromarray(colour_image(rgb, seed)).save(wild / file)
                rows.append({"file": file, "class": name, "group": group})
    with (wild / "manifest.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["file", "class", "group"])
        writer.writeheader()
        writer.writerows(rows)
    return studio, wild


def test_sources_are_keyed_and_grouped(tmp_path: Path) -> None:
    studio, wild = _write_sets(tmp_path, per_cell=3)
    source = MultiSource([("studio", studio), ("wild", wild)])
    samples = source.samples()
    assert len(samples) == 9 + 15
    assert source.groups["studio/red/s0.png"] == "studio"
    assert source.groups["wild/red/w2_1.png"] == "w2"
    assert source.decode(samples[0]).shape[2] == 3
    assert source.content(samples[0]) == (tmp_path / samples[0].key).read_bytes()


def test_split_is_stratified_per_class_and_group_and_repeatable() -> None:
    keys = [f"k{i}" for i in range(60)]
    labels = ["a" if i % 2 else "b" for i in range(60)]
    groups = ["g1" if i < 40 else "g2" for i in range(60)]
    split = split_by_class_and_group(keys, labels, groups, 0.2, 0.2, seed=1)
    assert split == split_by_class_and_group(keys, labels, groups, 0.2, 0.2, seed=1)
    for cell in {(y, g) for y, g in zip(labels, groups, strict=True)}:
        members = [split[k] for k, y, g in zip(keys, labels, groups, strict=True)
                   if (y, g) == cell]
        assert {"train", "val", "test"} <= set(members)
    assert split != split_by_class_and_group(keys, labels, groups, 0.2, 0.2, seed=2)


def test_balance_weights_equal_classes_and_damped_sources() -> None:
    labels = ["a"] * 110 + ["b"] * 10
    groups = ["big"] * 100 + ["small"] * 10 + ["big"] * 10
    w = balance_weights(labels, groups)
    assert w.mean() == pytest.approx(1.0)
    a, b = w[:110].sum(), w[110:].sum()
    assert a == pytest.approx(b)
    big, small = w[:100].sum(), w[100:110].sum()
    assert big / small == pytest.approx(np.sqrt(10))  # count ** 0.5
    equal = balance_weights(labels, groups, source_power=0.0)
    assert equal[:100].sum() == pytest.approx(equal[100:110].sum())


def _blobs(n: int = 60, d: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.eye(3, d) * 6
    y = np.repeat(np.arange(3), n)
    return (centres[y] + rng.normal(0, 1, (len(y), d))).astype(np.float32), y


def test_linear_head_temperature_and_folding() -> None:
    x, y = _blobs()
    head = heads.fit_linear(x, y, 3, c=10.0)
    assert (head.probabilities(x).argmax(1) == y).mean() > 0.95
    # a label-noisy validation set: the fitted temperature softens the probabilities
    rng = np.random.default_rng(1)
    noisy = np.where(rng.random(len(y)) < 0.2, rng.integers(0, 3, len(y)), y)
    t = heads.fit_temperature(head.logits(x), noisy)
    assert t > 1.0
    calibrated = heads.LinearHead(head.mean, head.scale, head.weight, head.bias, t)
    w, b = calibrated.folded()
    assert np.allclose(heads.softmax(x @ w + b), calibrated.probabilities(x), atol=1e-5)


def test_head_without_a_class_keeps_the_label_order() -> None:
    x, y = _blobs()
    keep = y != 1
    head = heads.fit_linear(x[keep], y[keep], 3)
    probs = head.probabilities(x)
    assert probs.shape == (len(x), 3)
    assert probs[:, 1].max() < 1e-6
    assert (probs[keep].argmax(1) == y[keep]).mean() > 0.95


def test_novelty_scores_far_items_higher_and_round_trips(tmp_path: Path) -> None:
    x, y = _blobs(d=8)
    novelty = heads.fit_novelty(x, y, 3, k=4)
    near = novelty.score(x)
    far = novelty.score(np.full((5, 8), 20.0, dtype=np.float32))
    assert far.min() > np.quantile(near, 0.99)
    novelty = heads.with_threshold(novelty, near, 0.9)
    assert (near <= novelty.threshold).mean() == pytest.approx(0.9, abs=0.01)
    head = heads.fit_linear(x, y, 3)
    heads.save(tmp_path / "h.npz", head=head, novelty=novelty)
    again = heads.load(tmp_path / "h.npz", "novelty", heads.Novelty)
    assert isinstance(again, heads.Novelty)
    assert again.threshold == novelty.threshold
    assert np.array_equal(again.score(x), novelty.score(x))


def test_field_metrics_count_confidently_wrong_and_calibration() -> None:
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.55, 0.45], [0.3, 0.7]])
    labels = np.array([0, 1, 1, 1])
    unsure = fm.unsure_mask(probs, 0.6)
    assert unsure.tolist() == [False, False, True, False]
    o = fm.outcome(probs, labels, unsure)
    assert o["accuracy"] == 0.5
    assert o["confidently_wrong"] == 0.25  # the 0.8 answer; the 0.55 one said "Not sure"
    assert o["accuracy_when_sure"] == pytest.approx(2 / 3)
    perfect = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert fm.expected_calibration_error(perfect, np.array([0, 1])) == 0.0
    curve = fm.risk_coverage(probs, labels, np.array([0.5, 0.85]))
    assert fm.pick_threshold(curve, 0.0) == 0.85
    with_novelty = fm.unsure_mask(probs, 0.6, np.array([0, 5, 0, 0]), 1.0)
    assert with_novelty.tolist() == [False, True, True, False]


def test_end_to_end_features_fit_export_classify(tmp_path: Path, cache_dir: Path) -> None:
    """Untrained backbone at 32 px on colour images: the plumbing, not the accuracy."""
    from app.core.classifier import Classifier
    from training.realworld import main

    studio, wild = _write_sets(tmp_path / "data")
    run = tmp_path / "run"
    common = ["--run-dir", str(run)]
    assert main(["features", *common, "--data", str(studio), str(wild), "--backbones",
                 "mobilenet_v2", "--views", "3", "--input-size", "32",
                 "--batch-size", "16", "--random-weights"]) == 0
    data = json.loads((run / "data.json").read_text())
    assert {v["group"] for v in data["items"].values()} == {"studio", "w1", "w2"}
    assert sorted(p.name for p in (run / "features").glob("*.npy")) == [
        f"mobilenet_v2_v{i}.npy" for i in range(3)]
    # a second call finds every view and computes nothing
    assert main(["features", *common, "--data", str(studio), str(wild), "--backbones",
                 "mobilenet_v2", "--views", "3", "--random-weights"]) == 0
    assert main(["fit", *common, "--backbones", "mobilenet_v2", "--views", "3",
                 "--c", "1.0", "--novelty-k", "8"]) == 0
    metrics = json.loads((run / "fit" / "metrics.json").read_text())
    assert set(metrics["loso"]) == {"studio", "w1", "w2", "overall"}
    assert set(metrics["loco"]) == {"red", "green", "blue", "mean_unsure_rate",
                                    "mean_by_novelty_keep"}
    assert "Leave one source out" in (run / "fit" / "report.md").read_text()
    out = tmp_path / "colours.onnx"
    assert main(["export", *common, "--out", str(out), "--version", "0.0.1", "--id",
                 "colours", "--random-weights", "--quantize"]) == 0
    clf = Classifier(out)
    assert clf.labels == ("blue", "green", "red")
    assert clf.info.embedding is not None
    assert clf.info.embedding["dim"] == 1280
    assert clf.info.novelty is not None
    assert clf.info.unsure_threshold == metrics["threshold"]
    prediction = clf.predict(colour_image(COLOURS["red"], 7))
    assert prediction.novelty is not None
    report = json.loads((run / "export" / "export.json").read_text())
    assert report["parity"]["top1_vs_cache"] == 0
    assert report["parity"]["embedding_vs_cache"] < 5e-3
    assert report["parity"]["probabilities_vs_head"] < 1e-4
    assert report["variants"]["fp32"]["test"]["n"] > 0
    assert report["shipped"] == "int8"
    assert clf.info.training["quantization"] == "static_int8_extractors"
    assert clf.info.metrics["test"]["images"] == report["variants"]["int8"]["test"]["n"]
    assert (run / "export" / "mistakes.png").is_file()
    # head and detector stayed in float: no quantised node among them
    import onnx

    graph = onnx.load(str(out)).graph
    head_ops = {n.op_type for n in graph.node if n.name.startswith("head/")}
    assert "Softmax" in head_ops
    assert not head_ops & {"QuantizeLinear", "DequantizeLinear"}


def test_member_model_features_and_graph_without_tensorflow(tmp_path: Path) -> None:
    """An exported model as a feature member: its pooled tensor (here the tiny factory
    model's channel means, the input of its MatMul) feeds a head assembled in ONNX."""
    import onnx

    from tests.factories import make_onnx_model
    from training.export import session
    from training.onnx_member import MemberFeatures
    from training.realworld_export import build_graph, run_all

    member = make_onnx_model(tmp_path / "member.onnx", ("a", "b", "c"))
    images = np.stack([colour_image(rgb, 10 * i + j) for i, rgb in enumerate(COLOURS.values())
                       for j in range(8)]).astype(np.float32)
    features = MemberFeatures(member)(images)
    assert np.allclose(features, images.mean(axis=(1, 2)), atol=1e-3)
    labels = np.repeat(np.arange(3), 8)
    head = heads.fit_linear(features, labels, 3, c=10.0)
    novelty = heads.with_threshold(heads.fit_novelty(features, labels, 3, k=3),
                                   np.zeros(1), 1.0)
    graph = build_graph(("tiny",), {"tiny": member}, head, novelty, (32, 32))
    path = tmp_path / "composed.onnx"
    onnx.save(graph, path)
    probs, embedding, score = run_all(session(path), images)
    assert np.allclose(embedding, features, atol=1e-4)
    assert np.allclose(probs, head.probabilities(features), atol=1e-5)
    assert np.allclose(score[:, 0], novelty.score(features), rtol=1e-4, atol=1e-4)
    assert (probs.argmax(1) == labels).all()
