"""Teaching a station: ``teach`` end to end on a tiny real base model (embedding = channel
means), the feature cache, versions, names and bin assignments. The head itself:
``test_teach_head.py``."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from app.core.bin_overrides import BinAssignmentError, assign, parse_assignments
from app.core.bins import BinRules, default_bins_path
from app.core.classifier import Classifier
from app.core.registry import ModelRegistry
from app.core.teach import (
    Example,
    FeatureCache,
    TeachError,
    TeachResult,
    check_name,
    file_digest,
    folder_examples,
    next_version,
    teach,
)
from app.core.teach_graph import BASE_PROBABILITIES
from tests.factories import (
    BLUE,
    GREEN,
    RED,
    TEACH_COLOURS,
    YELLOW,
    make_onnx_model,
    noise_rgb,
    solid_rgb,
    write_examples,
)

BASE_LABELS = ("red", "green", "blue")
TAUGHT = ("blue", "green", "red", "yellow")  # sorted: the order a taught model keeps
PER_CLASS = 6


# --------------------------------------------------------------------------- teach, end to end


@pytest.fixture(scope="module")
def base_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("base")
    return make_onnx_model(
        folder / "colours.onnx", BASE_LABELS, model_id="colours", novelty_threshold=200.0
    )


@pytest.fixture(scope="module")
def examples_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("examples") / "station"
    write_examples(root, TEACH_COLOURS, PER_CLASS, seed=1)
    return root


@pytest.fixture
def base(base_path: Path) -> Classifier:
    return Classifier(base_path)


def _teach(
    tmp_path: Path,
    base: Classifier,
    examples: list[Example],
    name: str = "canteen",
    **kwargs: object,
) -> TeachResult:
    return teach(
        name=name,
        base=base,
        examples=examples,
        models_dir=tmp_path / "models",
        cache_dir=tmp_path / "cache",
        reports_dir=tmp_path / "reports",
        **kwargs,  # type: ignore[arg-type]
    )


def _held_out() -> dict[str, list[np.ndarray]]:
    """Images of each colour none of the examples is: solid, shifted, and noisy."""
    rng = np.random.default_rng(99)
    out: dict[str, list[np.ndarray]] = {}
    for label, colour in TEACH_COLOURS.items():
        images = [solid_rgb(colour, (24, 20))]
        for _ in range(3):
            shifted = np.clip(np.asarray(colour) + rng.integers(-30, 31, 3), 0, 255)
            pixels = shifted + rng.integers(-20, 21, (20, 24, 3))
            images.append(np.clip(pixels, 0, 255).astype(np.uint8))
        out[label] = images
    return out


def test_teach_learns_a_new_class(
    tmp_path: Path, base: Classifier, base_path: Path, examples_root: Path
) -> None:
    gathered = folder_examples([examples_root])
    assert gathered.problems == []
    stages: list[tuple[str, int, int]] = []
    result = _teach(
        tmp_path, base, gathered.examples, progress=lambda s, d, t: stages.append((s, d, t))
    )

    assert result.model_id == "canteen-v1"
    assert result.version == 1
    assert result.path == tmp_path / "models" / "canteen-v1.onnx"
    assert result.classes == TAUGHT
    assert result.new_classes == ("yellow",)
    assert result.examples == dict.fromkeys(TAUGHT, PER_CLASS)
    assert result.accuracy == 1.0
    assert result.per_class == dict.fromkeys(TAUGHT, 1.0)
    assert result.base_id == "colours"
    assert result.base_accuracy == 0.75, "the base knows red, green and blue, never yellow"
    assert result.cached == 0
    assert result.problems == ()
    assert 0.5 <= result.unsure_threshold <= 0.99
    assert ("embedding", 4 * PER_CLASS, 4 * PER_CLASS) in stages
    assert stages[-1] == ("fitting", 1, 1)

    model = Classifier(result.path)
    assert model.labels == TAUGHT
    assert model.info.id == "canteen-v1"
    assert model.output_names() == ["probabilities", "embedding", BASE_PROBABILITIES]
    assert model.info.novelty is None, "the base's novelty detector does not carry over"
    assert model.info.embedding == base.info.embedding
    assert model.info.unsure_threshold == result.unsure_threshold
    taught = model.info.training["taught"]
    assert taught["name"] == "canteen"
    assert taught["version"] == 1
    assert taught["base"]["id"] == "colours"
    assert taught["base"]["sha256"] == hashlib.sha256(base_path.read_bytes()).hexdigest()
    assert taught["examples"] == dict.fromkeys(TAUGHT, PER_CLASS)
    assert taught["new_classes"] == ["yellow"]
    assert model.info.metrics["cross_validation"]["accuracy"] == 1.0

    for label, images in _held_out().items():
        for prediction in model.predict_batch(images):
            assert prediction.label == label, (label, prediction)
    # Soft, but clear: a strong penalty (C <= 0.1) on 3-d features keeps probabilities mild.
    top = model.predict(solid_rgb(YELLOW)).top_k
    assert top[0][0] == "yellow"
    assert top[0][1] - top[1][1] > 0.15
    # The taught file keeps the base's features, so it can be the base of the next teaching.
    image = [solid_rgb((200, 120, 40))]
    ours = model.run_outputs(image, ["embedding", BASE_PROBABILITIES])
    theirs = base.run_outputs(image, ["embedding", "probabilities"])
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6)
    np.testing.assert_allclose(ours[1], theirs[1], atol=1e-6)

    report = json.loads(result.report.read_text(encoding="utf-8"))
    assert report["model"] == "canteen-v1"
    assert report["base_model"] == "colours"
    assert report["new_classes"] == ["yellow"]


def test_teach_again_reuses_the_cache_and_writes_the_next_version(
    tmp_path: Path, base: Classifier, examples_root: Path
) -> None:
    examples = folder_examples([examples_root]).examples
    first = _teach(tmp_path, base, examples)
    assert first.cached == 0

    extra_dir = tmp_path / "extra"
    write_examples(extra_dir, {"yellow": YELLOW}, 2, seed=5)
    extra = folder_examples([extra_dir]).examples
    assert not {ex.key for ex in extra} & {ex.key for ex in examples}
    stages: list[tuple[str, int, int]] = []
    second = _teach(
        tmp_path, base, examples + extra, progress=lambda s, d, t: stages.append((s, d, t))
    )
    assert second.cached == len(examples), "every earlier example came from the cache"
    assert [s for s in stages if s[0] == "embedding"] == [("embedding", 2, 2)], "only the new"
    assert second.examples["yellow"] == PER_CLASS + 2
    assert (second.model_id, second.version) == ("canteen-v2", 2)
    assert second.path == tmp_path / "models" / "canteen-v2.onnx"
    assert first.path.is_file(), "earlier versions are kept"
    assert Classifier(second.path).info.training["taught"]["version"] == 2

    registry = ModelRegistry(tmp_path / "shipped", tmp_path / "models")
    entry = registry.get("canteen")
    assert entry is not None
    assert entry.id == "canteen-v2"
    assert registry.load("canteen").info.version == "2"
    exact = registry.get("canteen-v1")
    assert exact is not None
    assert exact.path == first.path
    assert registry.get("cafeteria") is None


def test_teach_from_a_taught_model_sees_the_same_features(
    tmp_path: Path, base: Classifier, base_path: Path, examples_root: Path
) -> None:
    examples = folder_examples([examples_root]).examples
    first = _teach(tmp_path, base, examples)
    taught = Classifier(first.path)
    again = _teach(tmp_path, taught, examples, name="kitchen")
    assert again.base_id == "canteen-v1"
    assert again.base_accuracy == 1.0, "the taught model knows yellow"
    assert again.accuracy == 1.0
    assert again.cached == 0, "the cache is per base file"
    from_base = FeatureCache(tmp_path / "cache", file_digest(base_path))
    from_taught = FeatureCache(tmp_path / "cache", file_digest(first.path))
    for ex in examples:
        a, b = from_base.get(ex.key), from_taught.get(ex.key)
        assert a is not None
        assert b is not None
        np.testing.assert_allclose(a[0], b[0], atol=1e-5)  # embedding + base log-probabilities
        assert a[1].shape == (3,)  # each model's own probabilities
        assert b[1].shape == (4,)


def test_registry_takes_the_highest_version_not_the_last_name(tmp_path: Path) -> None:
    user = tmp_path / "user"
    for version in (2, 10, 9):
        make_onnx_model(
            user / f"canteen-v{version}.onnx",
            BASE_LABELS,
            model_id=f"canteen-v{version}",
            metadata={"training": {"taught": {"name": "canteen", "version": version}}},
        )
    make_onnx_model(user / "other.onnx", BASE_LABELS, model_id="other")
    registry = ModelRegistry(tmp_path / "none", user)
    entry = registry.get("canteen")
    assert entry is not None
    assert entry.id == "canteen-v10"
    assert registry.get("other") is not None
    assert registry.get("Canteen") is None


def _subset(examples: list[Example], per_class: dict[str, int]) -> list[Example]:
    out, seen = [], dict.fromkeys(per_class, 0)
    for ex in examples:
        if ex.label in per_class and seen[ex.label] < per_class[ex.label]:
            seen[ex.label] += 1
            out.append(ex)
    return out


def test_too_few_examples_of_a_class(tmp_path: Path, base: Classifier, examples_root: Path) -> None:
    examples = _subset(
        folder_examples([examples_root]).examples, {"red": 5, "green": 5, "yellow": 2}
    )
    with pytest.raises(TeachError, match=r"too few examples for yellow: .*at least 3"):
        _teach(tmp_path, base, examples)
    assert not list((tmp_path / "models").glob("*.onnx")), "nothing is written"


def test_one_class_cannot_teach(tmp_path: Path, base: Classifier, examples_root: Path) -> None:
    examples = _subset(folder_examples([examples_root]).examples, {"red": 6})
    with pytest.raises(TeachError, match="at least two classes"):
        _teach(tmp_path, base, examples)


def test_no_examples_cannot_teach(tmp_path: Path, base: Classifier) -> None:
    with pytest.raises(TeachError, match="at least two classes"):
        _teach(tmp_path, base, [])


@pytest.mark.parametrize("name", ["", "my model", "_hidden", "canteen-v2", "a" * 41, "tür", "x/y"])
def test_bad_names_are_refused(
    tmp_path: Path, base: Classifier, examples_root: Path, name: str
) -> None:
    examples = folder_examples([examples_root]).examples
    with pytest.raises(TeachError, match="cannot name a model"):
        _teach(tmp_path, base, examples, name=name)
    assert not (tmp_path / "models").exists()


def test_good_names_pass() -> None:
    for name in ("canteen", "Canteen_2", "7eleven", "a" * 40):
        check_name(name, ["waste", "cifar10"])


def test_shipped_names_are_reserved(tmp_path: Path, base: Classifier, examples_root: Path) -> None:
    examples = folder_examples([examples_root]).examples
    with pytest.raises(TeachError, match="'Waste' is the name of a shipped model"):
        _teach(tmp_path, base, examples, name="Waste", reserved=["waste", "cifar10"])


def test_a_base_without_an_embedding_is_refused(tmp_path: Path, examples_root: Path) -> None:
    plain = Classifier(make_onnx_model(tmp_path / "plain.onnx", BASE_LABELS, model_id="plain"))
    examples = folder_examples([examples_root]).examples
    with pytest.raises(TeachError, match="model 'plain' has no embedding output"):
        _teach(tmp_path, plain, examples)
    assert not (tmp_path / "models").exists()


def test_an_undecodable_example_is_skipped_and_reported(
    tmp_path: Path, base: Classifier, examples_root: Path
) -> None:
    root = tmp_path / "examples"
    write_examples(root, {"red": RED, "green": GREEN, "blue": BLUE}, 3, seed=2)
    (root / "green" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "blue" / "notes.jpg").write_text("Shopping list: milk", encoding="utf-8")
    gathered = folder_examples([root])
    assert len(gathered.examples) == 11
    result = _teach(tmp_path, base, gathered.examples, problems=["earlier: not a folder"])
    assert result.examples == {"blue": 3, "green": 3, "red": 3}
    assert len(result.problems) == 3
    assert result.problems[0] == "earlier: not a folder"
    assert any("broken.png" in p for p in result.problems[1:])
    assert any("notes.jpg" in p for p in result.problems[1:])
    assert result.path.is_file()


# --------------------------------------------------------------------------- examples and cache


def test_folder_examples_reads_one_class_per_subfolder(tmp_path: Path) -> None:
    root = tmp_path / "examples"
    written = write_examples(root, {"red": RED, "paper cup": (250, 250, 250)}, 3, seed=3)
    (root / ".thumbnails").mkdir()
    (root / ".thumbnails" / "x.png").write_bytes(written["red"][0].read_bytes())
    (root / "readme.txt").write_text("not an image", encoding="utf-8")
    lone = tmp_path / "shoes"
    write_examples(tmp_path / "tmp", {"shoes": (90, 60, 30)}, 3, seed=4)
    (tmp_path / "tmp" / "shoes").rename(lone)

    gathered = folder_examples([root, lone, tmp_path / "missing"])
    labels = [ex.label for ex in gathered.examples]
    assert labels == ["paper_cup"] * 3 + ["red"] * 3 + ["shoes"] * 3
    assert gathered.problems == [f"{tmp_path / 'missing'}: not a folder"]
    first = gathered.examples[3]
    assert first.path == written["red"][0]
    assert first.key == hashlib.sha256(written["red"][0].read_bytes()).hexdigest()
    assert first.image().shape == (16, 16, 3)


def test_feature_cache_round_trip(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path, "ab" * 32)
    assert cache.path == tmp_path / f"{'ab' * 16}.npz"
    cache.save()
    assert not cache.path.exists(), "an empty cache is not written"
    cache.put("k1", np.array([1.0, 2.0], np.float32), np.array([0.5, 0.5], np.float32))
    cache.put("k2", np.array([3.0, 4.0], np.float32), np.array([0.1, 0.9], np.float32))
    cache.save()
    again = FeatureCache(tmp_path, "ab" * 32)
    hit = again.get("k2")
    assert hit is not None
    np.testing.assert_array_equal(hit[0], np.array([3.0, 4.0], np.float32))
    np.testing.assert_array_equal(hit[1], np.array([0.1, 0.9], np.float32))
    assert again.get("k3") is None
    assert FeatureCache(tmp_path, "cd" * 32).get("k1") is None, "one cache per base file"


@pytest.mark.parametrize("damage", ["truncated", "garbage", "mismatched", "missing_array"])
def test_a_damaged_cache_reads_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    cache = FeatureCache(tmp_path, "ef" * 32)
    for i in range(3):
        cache.put(f"k{i}", np.full(4, i, np.float32), np.full(2, 0.5, np.float32))
    cache.save()
    good = cache.path.read_bytes()
    if damage == "truncated":  # a half-copied data folder
        cache.path.write_bytes(good[: len(good) // 2])
    elif damage == "garbage":
        cache.path.write_text("not a cache", encoding="utf-8")
    elif damage == "mismatched":  # more keys than rows
        np.savez(
            cache.path,
            keys=np.asarray(["k0", "k1", "k2"]),
            features=np.zeros((1, 4), np.float32),
            probabilities=np.zeros((1, 2), np.float32),
        )
    else:
        np.savez(cache.path, keys=np.asarray(["k0"]), features=np.zeros((1, 4), np.float32))
    with caplog.at_level(logging.WARNING, logger="app.core.teach"):
        damaged = FeatureCache(tmp_path, "ef" * 32)
    assert damaged.get("k0") is None, "no half-read rows"
    assert "unreadable" in caplog.text
    damaged.put("k9", np.zeros(4, np.float32), np.zeros(2, np.float32))
    damaged.save()
    assert FeatureCache(tmp_path, "ef" * 32).get("k9") is not None, "the next save repairs it"


def test_a_damaged_cache_does_not_stop_teaching(
    tmp_path: Path, base: Classifier, base_path: Path, examples_root: Path
) -> None:
    examples = folder_examples([examples_root]).examples
    cache_file = FeatureCache(tmp_path / "cache", file_digest(base_path)).path
    cache_file.parent.mkdir(parents=True)
    cache_file.write_bytes(b"PK\x03\x04\x14\x00")  # the start of a zip, cut off
    result = _teach(tmp_path, base, examples)
    assert result.cached == 0
    assert result.accuracy == 1.0
    assert FeatureCache(tmp_path / "cache", file_digest(base_path)).get(examples[0].key)


def test_next_version(tmp_path: Path) -> None:
    assert next_version(tmp_path / "missing", "canteen") == 1
    for name in (
        "canteen-v1.onnx",
        "Canteen-v7.onnx",
        "canteen-v3.onnx",
        "canteens-v9.onnx",
        "canteen-v2.onnx.tmp",
        "canteen_v8.onnx",
        "other-v5.onnx",
    ):
        (tmp_path / name).write_bytes(b"")
    assert next_version(tmp_path, "canteen") == 8
    assert next_version(tmp_path, "other") == 6
    assert next_version(tmp_path, "new") == 1


# --------------------------------------------------------------------------- bins for new classes


def test_parse_assignments() -> None:
    assert parse_assignments([]) == {}
    assert parse_assignments(["shoes=textile", " tray = general ,cup=packaging"]) == {
        "shoes": "textile",
        "tray": "general",
        "cup": "packaging",
    }
    for bad in ("shoes", "=textile", "shoes=", "a=b,,c=d"):
        with pytest.raises(BinAssignmentError, match="is not CLASS=BIN"):
            parse_assignments([bad])


def test_assign_writes_and_keeps_the_rest(tmp_path: Path) -> None:
    rules = BinRules.load(default_bins_path())
    override = tmp_path / "bins.json"
    override.write_text(
        json.dumps(
            {
                "schema": 2,
                "default_threshold": 0.7,
                "classes": {
                    "cup": {"bin": "general", "threshold": 0.8},
                    "shoes": {"bin": "textile"},
                },
            }
        ),
        encoding="utf-8",
    )
    assign(override, rules, {"yellow": "packaging", "cup": "packaging"})
    data = json.loads(override.read_text(encoding="utf-8"))
    assert data["default_threshold"] == 0.7
    assert data["classes"] == {
        "cup": {"bin": "packaging", "threshold": 0.8},
        "shoes": {"bin": "textile"},
        "yellow": {"bin": "packaging"},
    }
    merged = BinRules.load(default_bins_path(), override)
    assert merged.warning is None
    yellow = merged.bin_for("yellow")
    assert yellow is not None
    assert yellow.id == "packaging"

    fresh = tmp_path / "sub" / "new.json"
    assign(fresh, rules, {"yellow": "paper"})
    assert json.loads(fresh.read_text(encoding="utf-8"))["classes"] == {"yellow": {"bin": "paper"}}


def test_assign_refuses_unknown_bins_and_broken_files(tmp_path: Path) -> None:
    rules = BinRules.load(default_bins_path())
    override = tmp_path / "bins.json"
    with pytest.raises(BinAssignmentError, match=r"'rubbish' \(for yellow\) is not a bin; bins: "):
        assign(override, rules, {"yellow": "rubbish"})
    with pytest.raises(BinAssignmentError, match="is not a bin"):
        assign(override, rules, {"yellow": "unsure"})
    assert not override.exists()
    override.write_text("{broken", encoding="utf-8")
    with pytest.raises(BinAssignmentError, match="cannot be read"):
        assign(override, rules, {"yellow": "paper"})
    assert override.read_text(encoding="utf-8") == "{broken", "a broken file is left for the user"
    override.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(BinAssignmentError, match="is not a JSON object"):
        assign(override, rules, {"yellow": "paper"})


def test_the_base_embedding_is_the_channel_means(base: Classifier) -> None:
    """Sanity of the base the tests teach from: embedding = channel means, 3-d."""
    out = base.run_outputs([solid_rgb(RED), noise_rgb()], ["embedding"])[0]
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out[0], [255.0, 0.0, 0.0], atol=1e-3)
    assert np.all(np.abs(out[1] - 127.5) < 10)
