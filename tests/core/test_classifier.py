"""Classifier: declared preprocessing, predictions, batching, threads and broken model files."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from app.core.classifier import MAX_BATCH, Classifier, Prediction
from app.core.model_info import ModelError
from tests.factories import (
    BLUE,
    GREEN,
    RED,
    make_batch1_model,
    make_onnx_model,
    make_partial_nan_model,
    make_rank_model,
    noise_rgb,
    solid_rgb,
)

LABELS = ("red", "green", "blue")

EXTERNAL: dict[str, Any] = {
    "layout": "NCHW",
    "color": "BGR",
    "preprocessing": "external",
    "scale": 1 / 255,
    "mean": (0.40, 0.45, 0.50),
    "std": (0.20, 0.25, 0.30),
}

VARIANTS: dict[str, dict[str, Any]] = {
    "nhwc_in_graph": {},
    "nchw_in_graph": {"layout": "NCHW"},
    "bgr_in_graph": {"color": "BGR"},
    "external_nchw_bgr": EXTERNAL,
    "logits": {"output": "logits"},
    "static_batch": {"static_batch": True},
    "dynamic_size": {"dynamic_size": True},
}


@pytest.fixture
def model(tmp_path: Path) -> Classifier:
    return Classifier(make_onnx_model(tmp_path / "rgb.onnx", LABELS, size=(24, 32)))


def test_preprocess_matches_declared_external_nchw_bgr(tmp_path: Path) -> None:
    path = make_onnx_model(tmp_path / "ext.onnx", LABELS, size=(24, 32), **EXTERNAL)
    clf = Classifier(path)
    img = noise_rgb((80, 60), seed=11)  # 80 wide, 60 high: shrinks to 32 x 24

    # By hand: area-resize to W x H, RGB -> BGR, (x * scale - mean) / std in the model's
    # channel order, HWC -> CHW, add batch.
    resized = cv2.resize(img, (32, 24), interpolation=cv2.INTER_AREA).astype(np.float64)
    bgr = resized[:, :, ::-1]
    mean = np.array(EXTERNAL["mean"])
    std = np.array(EXTERNAL["std"])
    expected = ((bgr * (1 / 255) - mean) / std).transpose(2, 0, 1)[None]

    got = clf.preprocess(img)
    assert got.dtype == np.float32
    assert got.shape == (1, 3, 24, 32)
    assert got.flags.c_contiguous
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_preprocess_matches_declared_in_graph_nhwc(tmp_path: Path) -> None:
    clf = Classifier(make_onnx_model(tmp_path / "raw.onnx", LABELS, size=(40, 50)))
    img = noise_rgb((25, 20), seed=12)  # enlarging: bilinear
    expected = cv2.resize(img, (50, 40), interpolation=cv2.INTER_LINEAR).astype(np.float32)[None]
    got = clf.preprocess(img)
    assert got.shape == (1, 40, 50, 3)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    assert got.max() > 200, "in-graph models get raw 0-255 values, not 0-1"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_solid_colours_predict_their_class(tmp_path: Path, variant: str) -> None:
    clf = Classifier(make_onnx_model(tmp_path / f"{variant}.onnx", LABELS, **VARIANTS[variant]))
    for colour, label in ((RED, "red"), (GREEN, "green"), (BLUE, "blue")):
        pred = clf.predict(solid_rgb(colour, (45, 37)))
        assert pred.label == label
        assert pred.confidence > 0.9
        assert sum(pred.probabilities) == pytest.approx(1.0, abs=1e-9)


def test_prediction_fields(tmp_path: Path) -> None:
    path = make_onnx_model(tmp_path / "m.onnx", LABELS, model_id="colours", version="2.1.0")
    pred = Classifier(path).predict(solid_rgb((200, 120, 40)), top_k=2)
    assert isinstance(pred, Prediction)
    assert pred.model_id == "colours"
    assert pred.model_version == "2.1.0"
    assert len(pred.probabilities) == 3
    assert len(pred.top_k) == 2
    assert pred.top_k[0] == (pred.label, pred.confidence)
    assert pred.confidence == max(pred.probabilities)
    assert [label for label, _ in pred.top_k] == ["red", "green"]
    assert pred.top_k[0][1] >= pred.top_k[1][1]
    assert pred.elapsed_ms >= 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        pred.label = "x"  # type: ignore[misc]


def test_probabilities_follow_the_graph_exactly(tmp_path: Path) -> None:
    # Channel means (200, 120, 40) through the factory's weights (0.05 * identity), softmaxed.
    clf = Classifier(make_onnx_model(tmp_path / "m.onnx", LABELS, output="logits"))
    pred = clf.predict(solid_rgb((200, 120, 40)))
    scores = np.array([200, 120, 40]) * 0.05
    expected = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
    np.testing.assert_allclose(pred.probabilities, expected, rtol=1e-5)


def test_top_k_is_clamped(model: Classifier) -> None:
    assert len(model.predict(solid_rgb(RED), top_k=10).top_k) == 3
    assert len(model.predict(solid_rgb(RED), top_k=0).top_k) == 1


def test_more_labels_than_colours(tmp_path: Path) -> None:
    labels = ("red", "green", "blue", "other", "more")
    clf = Classifier(make_onnx_model(tmp_path / "m.onnx", labels))
    pred = clf.predict(solid_rgb(BLUE), top_k=5)
    assert pred.label == "blue"
    assert len(pred.probabilities) == 5
    assert sum(pred.probabilities) == pytest.approx(1.0)


class _CountingSession:
    """Wraps an InferenceSession and counts run() calls."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.batches: list[int] = []

    def run(self, outputs: Any, feeds: dict[str, np.ndarray], *options: Any) -> Any:
        self.batches.append(next(iter(feeds.values())).shape[0])
        return self.inner.run(outputs, feeds, *options)


@pytest.mark.parametrize("static_batch", [False, True])
def test_batch_equals_single_predictions(tmp_path: Path, static_batch: bool) -> None:
    clf = Classifier(make_onnx_model(tmp_path / "m.onnx", LABELS, static_batch=static_batch))
    images = [noise_rgb((30 + i, 20 + 2 * i), seed=i) for i in range(5)] + [solid_rgb(GREEN)]
    singles = [clf.predict(img) for img in images]
    counter = _CountingSession(clf._session)
    clf._session = counter
    batch = clf.predict_batch(images)
    assert counter.batches == ([1] * 6 if static_batch else [6])
    assert [p.label for p in batch] == [p.label for p in singles]
    for b, s in zip(batch, singles, strict=True):
        np.testing.assert_allclose(b.probabilities, s.probabilities, rtol=1e-5, atol=1e-7)


def test_long_lists_are_chunked(model: Classifier) -> None:
    counter = _CountingSession(model._session)
    model._session = counter
    preds = model.predict_batch([solid_rgb(RED)] * (MAX_BATCH + 5))
    assert counter.batches == [MAX_BATCH, 5]
    assert all(p.label == "red" for p in preds)
    assert model.predict_batch([]) == []


def test_concurrent_predictions_are_consistent(model: Classifier) -> None:
    images = [noise_rgb((40, 30), seed=i) for i in range(24)]
    expected = [model.predict(img).probabilities for img in images]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda img: model.predict(img).probabilities, images))
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-6)


def test_rejects_non_rgb_input(model: Classifier) -> None:
    with pytest.raises(ValueError, match="uint8"):
        model.predict(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        model.predict(np.zeros((8, 8), np.uint8))


def test_nan_output_is_a_clear_error(tmp_path: Path) -> None:
    weights = np.full((3, 3), np.nan, np.float32)
    clf = Classifier(make_onnx_model(tmp_path / "nan.onnx", LABELS, weights=weights))
    with pytest.raises(ModelError, match=r"nan\.onnx: .*NaN"):
        clf.predict(solid_rgb(RED))


def test_nan_for_some_images_fails_only_those(tmp_path: Path) -> None:
    clf = Classifier(make_partial_nan_model(tmp_path / "partnan.onnx", LABELS))
    images = [solid_rgb(RED), solid_rgb(GREEN), solid_rgb(RED), solid_rgb(BLUE)]
    results = clf.predict_each(images)
    assert [r.label for r in results if isinstance(r, Prediction)] == ["red", "red"]
    assert [type(r) for r in results] == [Prediction, ModelError, Prediction, ModelError]
    assert "partnan.onnx: model produced NaN or infinite scores" in str(results[1])
    assert all(np.isfinite(r.probabilities).all() for r in results if isinstance(r, Prediction))
    with pytest.raises(ModelError, match="NaN"):
        clf.predict_batch(images)  # the all-or-nothing API still raises
    assert clf.predict(solid_rgb(RED)).label == "red"


def test_batch1_only_graph_falls_back_to_single_images(tmp_path: Path) -> None:
    clf = Classifier(make_batch1_model(tmp_path / "b1.onnx", LABELS))
    counter = _CountingSession(clf._session)
    clf._session = counter
    images = [solid_rgb(RED), solid_rgb(GREEN), solid_rgb(BLUE)]
    assert [p.label for p in clf.predict_batch(images)] == ["red", "green", "blue"]
    assert counter.batches == [3, 1, 1, 1]
    counter.batches.clear()  # remembered: later batches go one by one at once
    assert [p.label for p in clf.predict_batch(images[::-1])] == ["blue", "green", "red"]
    assert counter.batches == [1, 1, 1]


def test_batch1_fallback_is_thread_safe(tmp_path: Path) -> None:
    clf = Classifier(make_batch1_model(tmp_path / "b1.onnx", LABELS))
    colours = [RED, GREEN, BLUE] * 4
    expected = [LABELS[i % 3] for i in range(len(colours))]
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda _: clf.predict_each([solid_rgb(c) for c in colours]), range(8)))
    for results in runs:
        assert [getattr(r, "label", r) for r in results] == expected


def test_model_failing_every_run_gives_one_error_per_image(tmp_path: Path) -> None:
    weights = np.full((3, 3), np.nan, np.float32)
    clf = Classifier(make_onnx_model(tmp_path / "nan.onnx", LABELS, weights=weights))
    results = clf.predict_each([solid_rgb(RED)] * 3)
    assert len(results) == 3
    assert all(isinstance(r, ModelError) for r in results)


def test_info_and_repr(model: Classifier) -> None:
    assert model.labels == LABELS
    assert model.info.input.height == 24
    assert model.info.input.width == 32
    assert "rgb.onnx" in repr(model)


# --------------------------------------------------------------------------- broken files


def _broken(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"broken_{kind}.onnx"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(2048))
    elif kind == "text":
        path.write_text("this is not a model\n")
    elif kind == "truncated":
        good = make_onnx_model(tmp_path / "good_src.onnx", LABELS).read_bytes()
        path.write_bytes(good[: len(good) // 2])
    elif kind == "no_metadata":
        make_onnx_model(path, LABELS, raw_metadata={})
    elif kind == "bad_json":
        make_onnx_model(path, LABELS, raw_metadata={"waste_sorter": "{not json"})
    elif kind == "label_mismatch":
        make_onnx_model(path, LABELS, output_classes=4)
    elif kind == "size_mismatch":
        make_onnx_model(path, LABELS, size=(32, 32), graph_size=(64, 64))
    elif kind == "layout_mismatch":
        make_onnx_model(path, LABELS, metadata={"input": {"layout": "NCHW"}})
    elif kind == "rank3":
        make_rank_model(path, ["batch", 32, 32], LABELS)
    elif kind == "one_label":
        make_onnx_model(path, LABELS, metadata={"labels": ["only"]})
    else:
        raise AssertionError(kind)
    return path


BROKEN = {
    "empty": "empty file",
    "garbage": "not a valid ONNX model",
    "text": "not a valid ONNX model",
    "truncated": "not a valid ONNX model",
    "no_metadata": "no 'waste_sorter' metadata",
    "bad_json": "not valid JSON",
    "label_mismatch": "outputs 4 classes but metadata lists 3 labels",
    "size_mismatch": "height is 64, expected 32",
    "layout_mismatch": "does not match metadata (NCHW",
    "rank3": "input rank is 3",
    "one_label": "at least two",
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_model_files_raise_model_error_naming_the_file(tmp_path: Path, kind: str) -> None:
    path = _broken(tmp_path, kind)
    with pytest.raises(ModelError) as info:
        Classifier(path)
    message = str(info.value)
    assert message.startswith(f"{path.name}: ")
    assert BROKEN[kind] in message
    assert "\n" not in message
    # a good model next to it is unaffected
    assert Classifier(make_onnx_model(tmp_path / "ok.onnx", LABELS)).predict(solid_rgb(RED))


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"^nope\.onnx: file not found"):
        Classifier(tmp_path / "nope.onnx")
    folder = tmp_path / "dir.onnx"
    folder.mkdir()
    with pytest.raises(ModelError, match="folder"):
        Classifier(folder)


# ------------------------------------------------------------------ schema 2: novelty output


def test_novelty_output_flags_items_unlike_every_class(tmp_path: Path) -> None:
    """A schema-2 model's novelty score travels with the prediction; above the model's
    threshold the item is ``novel`` and the bin decision says "Not sure" whatever the
    confidence."""
    from app.core.bins import BinRules, default_bins_path

    # novelty = mean pixel value: dark red (mean 40) is familiar, white (255) is novel
    waste = ("cardboard", "glass", "metal")  # labels the shipped bin rules know
    clf = Classifier(make_onnx_model(tmp_path / "m.onnx", waste, novelty_threshold=100.0))
    assert clf.info.novelty is not None
    assert clf.info.embedding is not None
    familiar, strange = clf.predict_batch([solid_rgb((120, 0, 0)), solid_rgb((255, 255, 255))])
    assert familiar.novelty == pytest.approx(40.0, abs=0.5)
    assert not familiar.novel
    assert strange.novelty == pytest.approx(255.0, abs=0.5)
    assert strange.novel
    rules = BinRules.load(default_bins_path()).with_thresholds(0.0)
    assert not rules.decide_prediction(familiar).unsure
    assert rules.decide(strange.label, 0.99, novel=strange.novel).unsure
    assert rules.decide_prediction(strange).unsure


def test_schema1_model_has_no_novelty(tmp_path: Path) -> None:
    model = make_onnx_model(tmp_path / "m.onnx", LABELS)
    prediction = Classifier(model).predict(solid_rgb(RED))
    assert prediction.novelty is None
    assert not prediction.novel
    assert prediction.model_threshold is None


def test_prediction_carries_the_models_recommended_threshold(tmp_path: Path) -> None:
    model = make_onnx_model(
        tmp_path / "m.onnx", LABELS, metadata={"schema": 2, "unsure_threshold": 0.8}
    )
    clf = Classifier(model)
    assert clf.info.unsure_threshold == 0.8
    assert [p.model_threshold for p in clf.predict_batch([solid_rgb(RED)] * 2)] == [0.8, 0.8]


def test_novelty_metadata_naming_a_missing_output_is_refused(tmp_path: Path) -> None:
    path = make_onnx_model(
        tmp_path / "m.onnx",
        LABELS,
        metadata={"schema": 2, "novelty": {"output": "nope", "threshold": 1.0}},
    )
    with pytest.raises(ModelError, match="novelty output 'nope'"):
        Classifier(path)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"novelty": {"output": "novelty", "threshold": "high"}}, "novelty.threshold"),
        ({"novelty": ["novelty"]}, "'novelty' must be an object"),
        ({"unsure_threshold": 1.5}, "unsure_threshold"),
        ({"schema": 3}, "schema 3 is not supported"),
    ],
)
def test_malformed_schema2_metadata_is_refused(
    tmp_path: Path, entry: dict[str, Any], message: str
) -> None:
    path = make_onnx_model(tmp_path / "m.onnx", LABELS, metadata={"schema": 2, **entry})
    with pytest.raises(ModelError, match=message):
        Classifier(path)
