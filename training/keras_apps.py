"""``keras.applications`` backbones, for users whose machine can download ImageNet weights.

The shipped models use the backbones ported in :mod:`training.backbones` from
``../shared/pretrained`` (the training machines have no network). Where Keras can reach its
download server, ``model.backbone`` may also name one of these, with ``backbone_weights``
``"default"``/``"imagenet"`` (Keras downloads and caches the weights), a local ``.h5`` /
``.weights.h5`` file of those weights, or null (random init).

Like the ported backbones they take raw 0..255 RGB floats (the input scaling Keras expects is a
layer inside the graph), output 1280 pooled features, and are split into numbered blocks so
phase 2 can unfreeze the top ``N`` of them; BatchNorm layers always stay frozen.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras

from training.config import UserError

FEATURE_DIM = 1280


@dataclass(frozen=True)
class _App:
    constructor: Callable[..., keras.Model]
    blocks: int
    block_of: Callable[[str], int | None]  # layer name -> block index (None: stem or head)
    is_head: Callable[[str], bool]
    needs_scaling: bool  # True: scale 0..255 to [-1, 1] before the network


_MNV2_BLOCK = re.compile(r"^block_(\d+)_")


def _mobilenet_v2_block(layer: str) -> int | None:
    if layer.startswith("expanded_conv"):
        return 0
    m = _MNV2_BLOCK.match(layer)
    return int(m.group(1)) if m else None


# EfficientNetB0 stages and their repeats: block1a, block2a-b, ..., block7a (16 blocks).
_EFFB0_ORDER = [f"{stage}{chr(ord('a') + i)}"
                for stage, repeats in ((1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (6, 4), (7, 1))
                for i in range(repeats)]
_EFFB0_BLOCK = re.compile(r"^block(\d[a-z])_")


def _efficientnet_b0_block(layer: str) -> int | None:
    m = _EFFB0_BLOCK.match(layer)
    return _EFFB0_ORDER.index(m.group(1)) if m else None


APPS: dict[str, _App] = {
    "keras_mobilenet_v2": _App(
        lambda **kw: keras.applications.MobileNetV2(alpha=1.0, **kw), 17,
        _mobilenet_v2_block, lambda n: n in ("Conv_1", "Conv_1_bn", "out_relu"),
        needs_scaling=True),
    # EfficientNetB0 rescales and normalises 0..255 input itself.
    "keras_efficientnet_b0": _App(
        lambda **kw: keras.applications.EfficientNetB0(**kw), 16,
        _efficientnet_b0_block, lambda n: n.startswith("top_"), needs_scaling=False),
}


def build(name: str, input_shape: tuple[int, int, int],
          weights: Path | str | None = "default") -> keras.Model:
    """The ``keras.applications`` backbone ``name`` as a flat model named ``name``."""
    app = APPS[name]
    if isinstance(weights, str) and weights in ("default", "imagenet"):
        source: str | None = "imagenet"
    elif weights is None:
        source = None
    else:
        source = str(weights)
        if not Path(source).is_file():
            raise UserError(f"weights file not found: {source}")
    inputs = keras.Input(shape=input_shape, dtype="float32", name=f"{name}_image")
    x = inputs
    if app.needs_scaling:
        x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name=f"{name}_scale")(x)
    try:
        net = app.constructor(include_top=False, weights=source, input_tensor=x, pooling="avg")
    except Exception as exc:  # a failed download surfaces as several exception types
        if source != "imagenet":
            raise
        raise UserError(
            f"could not get the ImageNet weights of {name} from Keras' download server "
            f"({type(exc).__name__}: {str(exc).strip()[:160]}). Without network access use "
            "the backbones ported from ../shared/pretrained ('mobilenet_v2', "
            "'efficientnet_lite0') or set model.backbone_weights to a downloaded weights file"
        ) from None
    return keras.Model(inputs, net.output, name=name)


def set_trainable_top(backbone: keras.Model, n_blocks: int) -> int:
    """Freeze all, then unfreeze the head and the last ``n_blocks`` blocks (not BatchNorm)."""
    app = APPS[backbone.name]
    if not 0 <= n_blocks <= app.blocks:
        raise ValueError(f"n_blocks must be in 0..{app.blocks}, got {n_blocks}")
    backbone.trainable = True
    for layer in backbone.layers:
        block = app.block_of(layer.name)
        in_top = block is not None and block >= app.blocks - n_blocks
        layer.trainable = (in_top or app.is_head(layer.name)) and not isinstance(
            layer, keras.layers.BatchNormalization)
    return len(backbone.trainable_weights)
