"""Phase 2 on cached activations of the frozen lower backbone (``phase2.cached_lower``).

Fine-tuning the top ``phase2.unfreeze_blocks`` blocks still runs the frozen lower blocks
forward on every step, and on a CPU those early, high-resolution layers cost most of the time
(EfficientNet-Lite0 at 160 px on 2 CPU cores: the stem and the first six blocks take about
half the time of a forward pass, 170 against 160 images/s for the rest, while holding a third
of the multiply-adds). Their output does not change while they are frozen, so it is computed
once per image -- for the training images, their mirror images and the validation images --
and kept as float16 ``.npy`` in ``RUN/features/lower_b<K>/``. Phase 1's pooled features come
from the same cache (the frozen top run over it), so the lower blocks run exactly once per
image in the whole run.

The trainable model reuses the full model's own layer objects (the top of the backbone from
the cut onwards, then the head), so every update lands in the full model and the usual best
weights, checkpoints, evaluation and export work unchanged.

The price is augmentation: pixel-level transforms cannot be applied to cached activations.
Each step takes either the image's or its mirror image's activations at random, and CutMix or
MixUp (``augment.cutmix_alpha``/``mixup_alpha``) mixes activation maps, which the later blocks
see much as they would see mixed images (the maps keep their spatial layout).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from training.config import Config
from training.manifest import SplitData
from training.models import HEAD_DENSE, HEAD_DROPOUT, RESIZE_LAYER, backbone_layer
from training.pipeline import mix_batch, predict
from training.run import RunPaths, read_json, write_json

log = logging.getLogger(__name__)

SPLITS = ("train", "train_flipped", "val")


def cut_layer_name(backbone: keras.Model, first_trainable: int) -> str:
    """Name of the layer whose output feeds block ``first_trainable`` (the cut)."""
    names = {layer.name for layer in backbone.layers}
    i = first_trainable - 1
    for name in (f"block{i}_add", f"block{i}_project_bn"):
        if name in names:
            return name
    raise ValueError(f"{backbone.name}: no output layer for block {i}")


def first_trainable_block(config: Config) -> int:
    from training.backbones import block_count

    return block_count(config.model.backbone) - config.phase2.unfreeze_blocks


def split_model(model: keras.Model, config: Config) -> tuple[keras.Model, keras.Model, keras.Model]:
    """(lower, top, pooled): pixels -> cut activations; activations -> probabilities;
    activations -> pooled backbone features. All share the full model's layers."""
    backbone = backbone_layer(model, config)
    cut = backbone.get_layer(cut_layer_name(backbone, first_trainable_block(config))).output
    lower_bb = keras.Model(backbone.input, cut, name="lower_backbone")
    top_bb = keras.Model(cut, backbone.output, name="top_backbone")

    pixels = keras.Input(model.input.shape[1:], dtype="float32", name="image")
    x = pixels
    if any(layer.name == RESIZE_LAYER for layer in model.layers):
        x = model.get_layer(RESIZE_LAYER)(x)
    lower = keras.Model(pixels, lower_bb(x, training=False), name="lower")

    acts = keras.Input(cut.shape[1:], dtype="float32", name="activations")
    pooled = top_bb(acts, training=False)  # BatchNorm in inference mode, as in the full model
    probs = model.get_layer(HEAD_DENSE)(model.get_layer(HEAD_DROPOUT)(pooled))
    top = keras.Model(acts, probs, name="top")
    return lower, top, keras.Model(acts, pooled, name="pooled")


def lower_activations(model: keras.Model, config: Config, data: SplitData, paths: RunPaths,
                      manifest_sha: str) -> dict[str, np.ndarray]:
    """Cut activations (float16, memory-mapped) of train, mirrored train and val."""
    m = config.model
    first = first_trainable_block(config)
    key = {"manifest_sha256": manifest_sha, "backbone": m.backbone,
           "weights": m.backbone_weights, "input_size": list(m.input_size),
           "backbone_size": list(m.backbone_size or m.input_size), "first_trainable": first}
    folder = paths.features / f"lower_b{first}"
    meta = folder / "activations.json"
    if not (meta.is_file() and read_json(meta) == key
            and all((folder / f"{n}.npy").is_file() for n in SPLITS)):
        folder.mkdir(parents=True, exist_ok=True)
        lower = split_model(model, config)[0]
        train_x, _ = data.arrays("train")
        val_x, _ = data.arrays("val")
        for name, images in (("train", train_x), ("train_flipped", train_x[:, :, ::-1]),
                             ("val", val_x)):
            _predict_to_npy(lower, images, config.train.eval_batch_size, folder / f"{name}.npy",
                            desc=f"lower activations {name}")
        write_json(meta, key)  # written last: marks the set complete
    else:
        log.info("using cached lower-backbone activations in %s", folder)
    return {n: np.load(folder / f"{n}.npy", mmap_mode="r") for n in SPLITS}


def _predict_to_npy(model: keras.Model, images: np.ndarray, batch: int, out: Path,
                    desc: str) -> None:
    """Predict in chunks straight into a float16 .npy (the whole set never sits in float32)."""
    shape = (len(images), *model.output.shape[1:])
    target = np.lib.format.open_memmap(out, mode="w+", dtype=np.float16, shape=shape)
    chunk = batch * 16
    parts = math.ceil(len(images) / chunk)
    for part, i in enumerate(range(0, len(images), chunk), start=1):
        target[i:i + chunk] = predict(model, images[i:i + chunk], batch,
                                      desc=f"{desc} ({part}/{parts})")
    target.flush()
    del target


def pooled_features(model: keras.Model, config: Config, data: SplitData, paths: RunPaths,
                    manifest_sha: str) -> dict[str, np.ndarray]:
    """Phase 1's pooled features, from the cached activations through the frozen top."""
    acts = lower_activations(model, config, data, paths, manifest_sha)
    pooled = split_model(model, config)[2]
    batch = config.train.eval_batch_size
    return {n: predict(pooled, acts[n], batch, desc=f"pooled {n}") for n in SPLITS}


def activation_batches(acts: dict[str, np.ndarray], labels: np.ndarray, num_classes: int, *,
                       batch_size: int, seed: int, start_epoch: int, config: Config,
                       class_weights: np.ndarray | None) -> tuple[tf.data.Dataset, int]:
    """Endless (activations, one-hot, weight) batches: image or mirror image at random."""
    n = len(labels)
    steps = max(1, n // batch_size)
    weights = class_weights if class_weights is not None else np.ones(num_classes, np.float32)
    plain, mirrored = acts["train"], acts["train_flipped"]

    def batches() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        epoch = start_epoch
        while True:
            rng = np.random.default_rng([seed, epoch])
            order, flip = rng.permutation(n), rng.random(n) < 0.5
            for step in range(steps):
                idx = np.sort(order[step * batch_size:(step + 1) * batch_size])  # mmap-friendly
                x = np.where(flip[idx, None, None, None], mirrored[idx], plain[idx])
                y = labels[idx]
                yield (x.astype(np.float32), np.eye(num_classes, dtype=np.float32)[y],
                       weights[y].astype(np.float32))
            epoch += 1

    shape = plain.shape[1:]
    ds = tf.data.Dataset.from_generator(batches, output_signature=(
        tf.TensorSpec((None, *shape), tf.float32), tf.TensorSpec((None, num_classes), tf.float32),
        tf.TensorSpec((None,), tf.float32)))
    a = config.augment
    if a.mixup_alpha > 0 or a.cutmix_alpha > 0:
        ds = ds.map(lambda x, y, w: mix_batch(x, y, w, a))
    return ds.prefetch(2), steps
