"""Dataset validation, the decoded-image cache, the split manifest and the tf.data pipeline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.training
pytest.importorskip("tensorflow")

from app.core.imaging import decode_image, resize_rgb  # noqa: E402
from training import data as data_mod  # noqa: E402
from training.config import AugmentConfig  # noqa: E402
from training.data import DataError, FolderSource, open_source, prepare, write_report  # noqa: E402
from training.manifest import (  # noqa: E402
    apply_manifest,
    make_manifest,
    read_manifest,
    write_manifest,
)
from training.pipeline import balanced_class_weights, mix_batch, train_dataset  # noqa: E402


def test_validation_reports_and_skips_bad_files(colour_dataset, tmp_path: Path) -> None:
    root, bad = colour_dataset
    source = open_source(root, tmp_path / "cache", "colours")
    assert isinstance(source, FolderSource)
    prep = prepare(source, (24, 24), tmp_path / "cache")
    reasons = {p.path: p.reason for p in prep.problems}
    for reason, paths in bad.items():
        for path in paths:
            assert reasons[path] == reason
    assert len(prep.samples) == 60
    assert prep.classes == ("blue", "green", "red")
    assert not {p for paths in bad.values() for p in paths} & {s.key for s in prep.samples}
    assert prep.images.shape[1:] == (24, 24, 3)
    assert len(prep.rows) == 60
    json_path, md_path = write_report(prep, tmp_path / "report")
    report = json.loads(json_path.read_text())
    assert report["usable"] == 60
    assert report["per_class"] == {"blue": 20, "green": 20, "red": 20}
    assert {s["path"] for s in report["skipped"]} == {p for v in bad.values() for p in v}
    markdown = md_path.read_text()
    assert "| `blue/copy.png` | blue | duplicate |" in markdown


def test_cached_pixels_are_the_apps_pixels_and_are_not_decoded_twice(
        colour_dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, _ = colour_dataset
    cache = tmp_path / "cache"
    prep = prepare(open_source(root, cache), (20, 28), cache)
    key = "green/005.png"
    expected = resize_rgb(decode_image(root / key), 28, 20)
    np.testing.assert_array_equal(prep.images[prep.rows[key]], expected)

    def fail(*_args: object) -> None:
        raise AssertionError("decoded again despite a valid cache")

    monkeypatch.setattr(data_mod, "decode_image", fail)
    again = prepare(open_source(root, cache), (20, 28), cache, only={key, "red/001.png"})
    np.testing.assert_array_equal(again.images[again.rows[key]], expected)
    assert {p.reason for p in again.problems} <= {"ignored"}


def test_limit_per_class_is_seeded(colour_dataset, tmp_path: Path) -> None:
    root, _ = colour_dataset
    a = prepare(open_source(root, tmp_path), (16, 16), tmp_path, limit_per_class=5, seed=1)
    b = prepare(open_source(root, tmp_path), (16, 16), tmp_path, limit_per_class=5, seed=1)
    assert [s.key for s in a.samples] == [s.key for s in b.samples]
    assert len(a.samples) <= 15
    assert {s.label for s in a.samples} == set(a.classes)


def test_manifest_is_stratified_reproducible_and_checked(colour_dataset, tmp_path: Path) -> None:
    root, _ = colour_dataset
    prep = prepare(open_source(root, tmp_path / "cache"), (16, 16), tmp_path / "cache")
    manifest = make_manifest(prep, val_fraction=0.2, test_fraction=0.2, seed=5)
    for split in ("train", "val", "test"):
        counts = manifest["counts"][split]
        assert set(counts) == {"blue", "green", "red"}
        assert max(counts.values()) - min(counts.values()) <= 1  # stratified
    sha = write_manifest(manifest, tmp_path / "m1.json")
    assert write_manifest(make_manifest(prep, val_fraction=0.2, test_fraction=0.2, seed=5),
                          tmp_path / "m2.json") == sha
    other = make_manifest(prep, val_fraction=0.2, test_fraction=0.2, seed=6)
    assert write_manifest(other, tmp_path / "m3.json") != sha
    loaded, loaded_sha = read_manifest(tmp_path / "m1.json")
    assert loaded_sha == sha
    split = apply_manifest(prep, loaded)
    assert sum(len(s) for s in split.splits.values()) == 60
    item = next(i for i in loaded["items"] if i["split"] == "val")
    images, labels = split.arrays("val")
    index = split.splits["val"].keys.index(item["path"])
    assert split.classes[labels[index]] == item["label"]
    np.testing.assert_array_equal(images[index], prep.images[prep.rows[item["path"]]])

    # The same file with different bytes no longer matches the manifest.
    copy = tmp_path / "changed"
    shutil.copytree(root, copy)
    (copy / item["path"]).write_bytes((copy / "red" / "000.png").read_bytes())
    changed = prepare(open_source(copy, tmp_path / "cache"), (16, 16), tmp_path / "cache")
    with pytest.raises(DataError, match="does not match the manifest"):
        apply_manifest(changed, loaded)


def test_too_few_images_per_class_is_a_clear_error(tmp_path: Path) -> None:
    from tests.training.synthetic import make_colour_dataset

    root = tmp_path / "few"
    make_colour_dataset(root, per_class=2)
    prep = prepare(open_source(root, tmp_path / "cache"), (16, 16), tmp_path / "cache")
    with pytest.raises(DataError, match="fewer than 3 usable images"):
        make_manifest(prep, val_fraction=0.2, test_fraction=0.2, seed=1)


def test_train_dataset_batches_augments_and_is_seeded(colour_dataset, tmp_path: Path) -> None:
    root, _ = colour_dataset
    prep = prepare(open_source(root, tmp_path / "cache"), (32, 32), tmp_path / "cache")
    split = apply_manifest(prep, make_manifest(prep, val_fraction=0.2, test_fraction=0.2, seed=5))
    weights = balanced_class_weights(split.splits["train"].labels, 3)
    aug = AugmentConfig(flip=True, rotation=0.1, zoom=0.2, translation=0.1, brightness=0.2,
                        contrast=0.2, blur_sigma=1.0, mixup_alpha=0.4, cutmix_alpha=1.0,
                        mix_probability=1.0)
    ds, steps = train_dataset(split, batch_size=8, seed=3, start_epoch=0, augment=aug,
                              class_weights=weights)
    assert steps == len(split.splits["train"]) // 8
    for x, y, w in ds.take(steps + 1):  # crosses into the second epoch
        assert x.shape == (8, 32, 32, 3)
        assert x.dtype.name == "float32"
        assert float(x.numpy().min()) >= 0.0
        assert float(x.numpy().max()) <= 255.0
        np.testing.assert_allclose(y.numpy().sum(axis=1), 1.0, rtol=1e-5)
        assert w.shape == (8,)
    plain = AugmentConfig(flip=False)
    first = [b[1].numpy() for b in train_dataset(split, batch_size=8, seed=3, start_epoch=1,
                                                  augment=plain, class_weights=None)[0].take(2)]
    again = [b[1].numpy() for b in train_dataset(split, batch_size=8, seed=3, start_epoch=1,
                                                  augment=plain, class_weights=None)[0].take(2)]
    np.testing.assert_array_equal(np.stack(first), np.stack(again))  # resume sees same order


def test_mixup_mixes_labels_and_weights_consistently() -> None:
    import tensorflow as tf

    x = tf.concat([tf.zeros((4, 8, 8, 3)), tf.fill((4, 8, 8, 3), 255.0)], axis=0)
    y = tf.one_hot([0] * 4 + [1] * 4, 2)
    w = tf.constant([1.0] * 4 + [3.0] * 4)
    tf.random.set_seed(0)
    mx, my, mw = mix_batch(x, y, w, AugmentConfig(mixup_alpha=1.0, mix_probability=1.0))
    share_of_white = mx.numpy().mean(axis=(1, 2, 3)) / 255.0
    np.testing.assert_allclose(my.numpy()[:, 1], share_of_white, atol=1e-5)
    np.testing.assert_allclose(mw.numpy(), 1.0 + 2.0 * share_of_white, atol=1e-4)


def test_balanced_class_weights_favour_the_small_class() -> None:
    weights = balanced_class_weights(np.array([0] * 30 + [1] * 10 + [2] * 20), 4)
    assert weights[1] > weights[2] > weights[0]
    assert weights[3] == 1.0  # absent from train: neutral
