"""What a station webcam does to a photo, as augmentation for cached feature views.

A station sees an item held up or set down in front of whatever is there: a cluttered or
coloured table, a wall, another bin; under warm or cold light, over- or under-exposed,
slightly blurred, noisy, JPEG-compressed by the camera, off centre and tilted. Studio and web
photos show few of those, so each cached view of a training image gets a random draw of them:

* **background** (numpy, there is no library layer for it): the photo shrunk to 55-90 % and
  placed at a random position on a random background (a flat colour with noise, a gradient,
  or a blurred, enlarged crop of another training photo: clutter without a second sharp item);
* **geometry and colour** with Keras preprocessing layers: flip, rotation, zoom, translation,
  brightness, contrast, saturation, hue, Gaussian blur;
* **white balance** (per-channel gain), **sensor noise** and **JPEG** re-encoding at quality
  35-90 (OpenCV's encoder, as a webcam driver would).

Hands are not simulated (no segmentation masks to cut a hand from); the measured effect is
in the model card. Everything is seeded per (image, view) so a view can be recomputed.
"""

from __future__ import annotations

from typing import Any

import cv2
import keras
import numpy as np

BACKGROUND_P = 0.5
JPEG_P = 0.6
WHITE_BALANCE = 0.15  # channel gains in [1 - x, 1 + x]
NOISE_MAX_SIGMA = 8.0  # on the 0..255 scale


def keras_layers(seed: int) -> keras.Sequential:
    """The library part: geometry and colour jitter on 0..255 float images."""
    vr = (0.0, 255.0)
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomRotation(0.08, fill_mode="reflect", seed=seed + 1),
        keras.layers.RandomZoom((-0.25, 0.15), fill_mode="reflect", seed=seed + 2),
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=seed + 3),
        keras.layers.RandomBrightness(0.25, value_range=vr, seed=seed + 4),
        keras.layers.RandomContrast(0.3, value_range=vr, seed=seed + 5),
        keras.layers.RandomSaturation((0.3, 0.7), value_range=vr, seed=seed + 6),
        keras.layers.RandomHue(0.04, value_range=vr, seed=seed + 7),
        keras.layers.RandomGaussianBlur(factor=(0.0, 0.6), kernel_size=5, sigma=1.0,
                                        value_range=vr, seed=seed + 8),
    ], name="station_augment")


def _background(rng: np.random.Generator, size: tuple[int, int],
                pool: np.ndarray) -> np.ndarray:
    h, w = size
    kind = rng.integers(3)
    if kind == 0:  # a flat surface
        colour = rng.uniform(0, 255, 3)
        bg = np.broadcast_to(colour, (h, w, 3)).astype(np.float32)
        return bg + rng.normal(0, rng.uniform(2, 15), (h, w, 3)).astype(np.float32)
    if kind == 1:  # lit unevenly
        a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        t = np.linspace(0, 1, w if rng.random() < 0.5 else h, dtype=np.float32)
        ramp = (a[None, :] * (1 - t[:, None]) + b[None, :] * t[:, None]).astype(np.float32)
        bg = ramp[None, :, :] if len(t) == w else ramp[:, None, :]
        return np.broadcast_to(bg, (h, w, 3)).astype(np.float32)
    # clutter: a quarter of another photo, enlarged and blurred
    other = pool[rng.integers(len(pool))]
    y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
    crop = np.ascontiguousarray(other[y: y + h // 2, x: x + w // 2])
    big = cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.GaussianBlur(big, (0, 0), rng.uniform(3, 8)).astype(np.float32)


def paste_on_background(img: np.ndarray, rng: np.random.Generator,
                        pool: np.ndarray) -> np.ndarray:
    """``img`` (H, W, 3) shrunk and placed on a random background of the same size."""
    h, w = img.shape[:2]
    scale = rng.uniform(0.55, 0.9)
    sh, sw = max(8, int(h * scale)), max(8, int(w * scale))
    small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
    out = _background(rng, (h, w), pool)
    y, x = rng.integers(0, h - sh + 1), rng.integers(0, w - sw + 1)
    out[y: y + sh, x: x + sw] = small
    return out


def _camera(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    gains = rng.uniform(1 - WHITE_BALANCE, 1 + WHITE_BALANCE, 3).astype(np.float32)
    out = img * gains + rng.normal(0, rng.uniform(0, NOISE_MAX_SIGMA), img.shape)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < JPEG_P:
        quality = int(rng.integers(35, 91))
        ok, buf = cv2.imencode(".jpg", out[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]
    return out.astype(np.float32)


class StationAugment:
    """``augment(batch, seeds)`` -> float32 batch; ``pool`` supplies clutter backgrounds."""

    def __init__(self, pool: np.ndarray, seed: int = 0) -> None:
        self.pool = pool
        self.layers = keras_layers(seed)

    def __call__(self, batch: np.ndarray, seeds: Any) -> np.ndarray:
        rngs = [np.random.default_rng(int(s)) for s in seeds]
        staged = np.stack([
            paste_on_background(img, rng, self.pool) if rng.random() < BACKGROUND_P
            else img.astype(np.float32)
            for img, rng in zip(batch, rngs, strict=True)
        ])
        jittered = keras.ops.convert_to_numpy(self.layers(staged, training=True))
        return np.stack([_camera(np.clip(img, 0, 255), rng)
                         for img, rng in zip(jittered, rngs, strict=True)])
