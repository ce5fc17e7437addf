"""tf.data input pipelines over the cached images, with per-config augmentation.

Batches are gathered from the ``uint8`` memmap written by :mod:`training.data` (no decoding
per epoch), cast to float 0..255 (what the model takes), augmented with Keras preprocessing
layers inside tf.data (so augmentation never ends up in the exported graph), optionally mixed
(MixUp / CutMix), and labelled one-hot (label smoothing and mixing need soft targets).

The shuffle order of epoch ``e`` depends only on ``(seed, e)``, so a resumed run sees the same
order of images it would have seen without the interruption.
"""

from __future__ import annotations

from collections.abc import Iterator

import keras
import numpy as np
import tensorflow as tf
from sklearn.utils.class_weight import compute_class_weight
from tqdm import tqdm

from training.config import AugmentConfig
from training.manifest import SplitData


def balanced_class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """sklearn's "balanced" weights, n / (k * count); a class absent from train gets 1."""
    present = np.unique(labels)
    weights = np.ones(num_classes, dtype=np.float32)
    weights[present] = compute_class_weight("balanced", classes=present, y=labels)
    return weights


def build_augmenter(cfg: AugmentConfig, seed: int) -> keras.Sequential | None:
    """Keras preprocessing layers for the enabled augmentations (None when none are)."""
    layers: list[keras.layers.Layer] = []
    if cfg.flip:
        mode = "horizontal" if cfg.flip is True else str(cfg.flip)
        if mode not in ("horizontal", "vertical", "horizontal_and_vertical"):
            raise ValueError(f"augment.flip must be true, false or a RandomFlip mode, not {mode!r}")
        layers.append(keras.layers.RandomFlip(mode, seed=seed))
    if cfg.rotation:
        layers.append(keras.layers.RandomRotation(cfg.rotation, fill_mode="reflect", seed=seed + 1))
    if cfg.zoom:
        # Negative factors zoom in: a random crop (independent height/width, so the aspect
        # ratio varies too) resized back to the input size, i.e. a random resized crop.
        layers.append(keras.layers.RandomZoom((-cfg.zoom, 0.0), (-cfg.zoom, 0.0),
                                              fill_mode="reflect", seed=seed + 2))
    if cfg.translation:
        layers.append(keras.layers.RandomTranslation(cfg.translation, cfg.translation,
                                                     fill_mode="reflect", seed=seed + 3))
    if cfg.brightness:
        layers.append(keras.layers.RandomBrightness(cfg.brightness, (0, 255), seed=seed + 4))
    if cfg.contrast:
        layers.append(keras.layers.RandomContrast(cfg.contrast, (0, 255), seed=seed + 5))
    if cfg.blur_sigma:
        layers.append(keras.layers.RandomGaussianBlur(factor=0.5, kernel_size=3,
                                                      sigma=(0.1, cfg.blur_sigma),
                                                      value_range=(0, 255), seed=seed + 6))
    return keras.Sequential(layers, name="augment") if layers else None


def _beta(alpha: float, shape: tf.TensorShape | list[int] | tf.Tensor) -> tf.Tensor:
    """Beta(alpha, alpha) from two Gamma draws (tf.random has no Beta sampler)."""
    a = tf.random.gamma(shape, alpha)
    b = tf.random.gamma(shape, alpha)
    return a / (a + b)


def mix_batch(images: tf.Tensor, labels: tf.Tensor, weights: tf.Tensor,
              cfg: AugmentConfig) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """With probability ``mix_probability`` apply MixUp or CutMix (whichever are enabled)."""
    batch = tf.shape(images)[0]
    partner = tf.random.shuffle(tf.range(batch))
    other_x, other_y, other_w = (tf.gather(t, partner) for t in (images, labels, weights))

    def mixup() -> tuple[tf.Tensor, tf.Tensor]:
        lam = _beta(cfg.mixup_alpha, [batch])
        return lam, images * lam[:, None, None, None] + other_x * (1.0 - lam[:, None, None, None])

    def cutmix() -> tuple[tf.Tensor, tf.Tensor]:
        height, width = tf.shape(images)[1], tf.shape(images)[2]
        ratio = tf.sqrt(1.0 - _beta(cfg.cutmix_alpha, []))
        cut_h = tf.cast(tf.cast(height, tf.float32) * ratio, tf.int32)
        cut_w = tf.cast(tf.cast(width, tf.float32) * ratio, tf.int32)
        cy = tf.random.uniform([], 0, height, dtype=tf.int32)
        cx = tf.random.uniform([], 0, width, dtype=tf.int32)
        y0, y1 = tf.maximum(cy - cut_h // 2, 0), tf.minimum(cy + cut_h // 2, height)
        x0, x1 = tf.maximum(cx - cut_w // 2, 0), tf.minimum(cx + cut_w // 2, width)
        rows = tf.logical_and(tf.range(height) >= y0, tf.range(height) < y1)
        cols = tf.logical_and(tf.range(width) >= x0, tf.range(width) < x1)
        box = tf.cast(tf.logical_and(rows[:, None], cols[None, :]), tf.float32)[None, :, :, None]
        area = tf.cast((y1 - y0) * (x1 - x0), tf.float32) / tf.cast(height * width, tf.float32)
        lam = tf.fill([batch], 1.0 - area)  # the share of the label that is still the original
        return lam, images * (1.0 - box) + other_x * box

    if cfg.mixup_alpha > 0 and cfg.cutmix_alpha > 0:
        lam, mixed = tf.cond(tf.random.uniform([]) < 0.5, cutmix, mixup)
    elif cfg.cutmix_alpha > 0:
        lam, mixed = cutmix()
    else:
        lam, mixed = mixup()
    apply = tf.random.uniform([]) < cfg.mix_probability
    lam = tf.where(apply, lam, tf.ones_like(lam))
    images = tf.where(apply, mixed, images)
    labels = labels * lam[:, None] + other_y * (1.0 - lam[:, None])
    weights = weights * lam + other_w * (1.0 - lam)
    return images, labels, weights


def train_dataset(
    data: SplitData,
    *,
    batch_size: int,
    seed: int,
    start_epoch: int,
    augment: AugmentConfig,
    class_weights: np.ndarray | None,
) -> tuple[tf.data.Dataset, int]:
    """Endless (images float32, one-hot labels, sample weights) batches; and steps per epoch."""
    split = data.splits["train"]
    n, num_classes = len(split), len(data.classes)
    steps = max(1, n // batch_size)  # full batches only (BatchNorm in the baselines)
    weights = class_weights if class_weights is not None else np.ones(num_classes, np.float32)

    def index_batches() -> Iterator[np.ndarray]:
        epoch = start_epoch
        while True:
            order = np.random.default_rng([seed, epoch]).permutation(n)
            for step in range(steps):
                yield order[step * batch_size:(step + 1) * batch_size]
            epoch += 1

    def gather(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(data.images[split.rows[idx]]), split.labels[idx]

    height, width = data.images.shape[1:3]
    augmenter = build_augmenter(augment, seed)
    mixing = augment.mixup_alpha > 0 or augment.cutmix_alpha > 0
    class_w = tf.constant(weights, tf.float32)

    def load(idx: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        x, y = tf.numpy_function(gather, [idx], [tf.uint8, tf.int64], stateful=False)
        x = tf.ensure_shape(tf.cast(x, tf.float32), [None, height, width, 3])
        y = tf.ensure_shape(y, [None])
        return x, tf.one_hot(y, num_classes), tf.gather(class_w, y)

    def transform(x: tf.Tensor, y: tf.Tensor,
                  w: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        if augmenter is not None:
            x = tf.clip_by_value(augmenter(x, training=True), 0.0, 255.0)
        if mixing:
            x, y, w = mix_batch(x, y, w, augment)
        return x, y, w

    ds = tf.data.Dataset.from_generator(
        index_batches, output_signature=tf.TensorSpec([None], tf.int64))
    ds = ds.map(load).map(transform, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(2), steps


def predict(model: keras.Model, images: np.ndarray, batch_size: int,
            desc: str | None = None) -> np.ndarray:
    """Model outputs for ``images`` (uint8 NHWC, a memmap is fine), batch by batch.

    The last batch is padded to full size so the predict function is traced once.
    """
    outputs = []
    starts = range(0, len(images), batch_size)
    for i in tqdm(starts, desc=desc, unit="batch", mininterval=2.0, disable=desc is None):
        chunk = np.asarray(images[i:i + batch_size], np.float32)
        n = len(chunk)
        if n < batch_size and len(images) > batch_size:
            chunk = np.concatenate([chunk, np.zeros((batch_size - n, *chunk.shape[1:]),
                                                    np.float32)])
        outputs.append(np.asarray(model.predict_on_batch(chunk), np.float32)[:n])
    return np.concatenate(outputs) if outputs else np.zeros((0, 0), np.float32)
