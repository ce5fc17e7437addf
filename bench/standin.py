"""A stand-in for the shipped waste model while ``models/waste.onnx`` does not exist yet.

Same architecture the trainer uses (``training.backbones`` MobileNetV2 with the ImageNet
weights from ``../shared/pretrained``, 224x224 raw RGB in, a 6-way softmax head), exported
with tf2onnx and the app's metadata, so inference timings match the real model's to within
the head (a 1280x6 Dense layer: 0.002 % of the multiply-adds). The head's weights are random
(seeded): the stand-in is for timing, never for accuracy. Built once, cached under
``~/.cache/waste-sorter/bench/`` with its Keras weights beside it (for the Keras comparison).

    python -m bench.standin            # build (or reuse) and print the path
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

LABELS = ("cardboard", "glass", "metal", "paper", "plastic", "trash")
NAME = "standin-mobilenet_v2"


def cache_dir() -> Path:
    env = os.environ.get("WASTE_SORTER_CACHE")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "waste-sorter"
    return root / "bench"


def paths() -> tuple[Path, Path]:
    folder = cache_dir()
    return folder / f"{NAME}.onnx", folder / f"{NAME}.weights.h5"


def keras_model() -> Any:
    """The Keras model the stand-in ONNX was exported from (same weights)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from training.backbones import build_backbone

    inputs = keras.Input((224, 224, 3), dtype="float32", name="image")
    backbone = build_backbone("mobilenet_v2", input_shape=(224, 224, 3), weights="default")
    x = backbone(inputs, training=False)
    outputs = keras.layers.Dense(len(LABELS), activation="softmax", name="head_dense")(x)
    model = keras.Model(inputs, outputs, name=NAME)
    _, weights = paths()
    if weights.is_file():
        model.load_weights(weights)
    return model


def build(force: bool = False) -> Path:
    """Build the stand-in ONNX (needs TensorFlow, tf2onnx, onnx and the pretrained weights)."""
    onnx_path, weights = paths()
    if onnx_path.is_file() and weights.is_file() and not force:
        return onnx_path
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import onnx
    import tensorflow as tf
    import tf2onnx

    from app.core.model_info import InputSpec, ModelInfo

    keras.utils.set_random_seed(7)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    weights.unlink(missing_ok=True)
    model = keras_model()
    model.save_weights(weights)

    spec = [tf.TensorSpec((None, 224, 224, 3), tf.float32, name="image")]

    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=17)
    info = ModelInfo(
        id="standin",
        name="Stand-in: MobileNetV2 224 + random 6-way head (timing only)",
        version="0.0.0",
        labels=LABELS,
        input=InputSpec(height=224, width=224),
        training={"backbone": "mobilenet_v2", "dataset": "none (random head)"},
    )
    for key, value in info.to_metadata().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    tmp = onnx_path.with_suffix(".tmp")
    onnx.save(proto, str(tmp))
    tmp.replace(onnx_path)
    return onnx_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    args = parser.parse_args(argv)
    print(build(force=args.force))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
