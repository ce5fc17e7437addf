"""The Keras ports of MobileNetV2 and EfficientNet-Lite0 (training/backbones.py).

Random-weight tests pin the structure (shapes, layer names, padding convention, freezing);
the shared-data tests prove the ported ImageNet weights mean what they meant in PyTorch by
classifying real TrashNet photos, and check that tf2onnx reproduces the Keras graph.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

try:
    import keras
    import tensorflow as tf
except ImportError:  # the app-only install has no TensorFlow
    pytest.skip(
        "TensorFlow/Keras not installed (pip install -e '.[training]')", allow_module_level=True
    )

from training import backbones as bb
from training.imagenet_ids import BOTTLES, CARDBOARD, label

pytestmark = pytest.mark.training

REPO = Path(__file__).resolve().parents[2]


def _shared_pretrained() -> Path | None:
    env = os.environ.get("WASTE_SORTER_SHARED")
    shared = Path(env) if env else REPO.parent / "shared"
    folder = shared / "pretrained"
    return folder if all((folder / f"{n}_imagenet.npz").is_file() for n in bb.PORTED) else None


def _trashnet() -> Path | None:
    env = os.environ.get("WASTE_SORTER_SHARED")
    folder = (Path(env) if env else REPO.parent / "shared") / "data" / "trashnet"
    return folder if folder.is_dir() else None


PRETRAINED = _shared_pretrained()
TRASHNET = _trashnet()
needs_weights = pytest.mark.skipif(
    PRETRAINED is None, reason="no ../shared/pretrained/*.npz (set WASTE_SORTER_SHARED)"
)
needs_photos = pytest.mark.skipif(
    PRETRAINED is None or TRASHNET is None,
    reason="no ../shared pretrained weights or data/trashnet (set WASTE_SORTER_SHARED)",
)


def _weights(name: str) -> Path:
    assert PRETRAINED is not None
    return PRETRAINED / f"{name}_imagenet.npz"


def test_catalogue() -> None:
    assert bb.PORTED == ("mobilenet_v2", "efficientnet_lite0")
    assert set(bb.BACKBONES) == set(bb.PORTED) | {"keras_mobilenet_v2", "keras_efficientnet_b0"}
    assert [bb.feature_dim(n) for n in bb.BACKBONES] == [1280] * 4
    assert [bb.block_count(n) for n in bb.BACKBONES] == [17, 16, 17, 16]
    with pytest.raises(ValueError, match="unknown backbone"):
        bb.build_backbone("resnet50", weights=None)
    with pytest.raises(ValueError, match="input_shape"):
        bb.build_backbone("mobilenet_v2", input_shape=(16, 16, 3), weights=None)


@pytest.mark.parametrize("name", bb.PORTED)
def test_shapes_and_layer_names(name: str) -> None:
    features = bb.build_backbone(name, input_shape=(96, 128, 3), weights=None, name_prefix="bb_")
    top = bb.build_backbone(name, input_shape=(160, 160, 3), weights=None, include_top=True)
    x = np.random.default_rng(0).uniform(0, 255, (2, 96, 128, 3)).astype(np.float32)
    assert features(x, training=False).shape == (2, bb.feature_dim(name))
    probs = np.asarray(top(np.zeros((1, 160, 160, 3), np.float32), training=False))
    assert probs.shape == (1, 1000)
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-5)

    scheme = re.compile(r"^bb_(stem_|head_|block(\d+)_)")
    names = [layer.name for layer in features.layers[1:]]  # [0] is the Input
    assert features.layers[0].name == "bb_image"
    assert [n for n in names if not scheme.match(n)] == []
    blocks = {int(m.group(2)) for n in names if (m := scheme.match(n)) and m.group(2)}
    assert blocks == set(range(bb.block_count(name)))
    # No Lambda layers: tf2onnx must see plain ops, and the model must reload without code.
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in features.layers)


@pytest.mark.parametrize(
    ("name", "pads"), [("mobilenet_v2", [[1, 1], [1, 1]]), ("efficientnet_lite0", [[0, 1], [0, 1]])]
)
def test_stride2_padding_convention(name: str, pads: list[list[int]]) -> None:
    """torchvision pads stride-2 convs symmetrically; the TF-born Lite0 pads only after."""
    model = bb.build_backbone(name, input_shape=(64, 64, 3), weights=None)
    stem = keras.Model(model.input, model.get_layer("stem_conv").output)
    norm = keras.Model(model.input, model.get_layer("stem_normalize").output)
    x = np.random.default_rng(1).uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    kernel = model.get_layer("stem_conv").get_weights()[0]
    got = np.asarray(stem(x))

    def conv(p: list[list[int]]) -> np.ndarray:
        return tf.nn.conv2d(norm(x), kernel, 2, [[0, 0], *p, [0, 0]]).numpy()

    np.testing.assert_allclose(got, conv(pads), atol=1e-4)
    other = [[0, 1], [0, 1]] if pads[0] == [1, 1] else [[1, 1], [1, 1]]
    assert np.abs(got - conv(other)).max() > 1e-2
    n_pads = sum(isinstance(layer, keras.layers.ZeroPadding2D) for layer in model.layers)
    assert n_pads == (5 if name == "mobilenet_v2" else 0)  # stem + four stride-2 depthwise


@pytest.mark.parametrize(
    ("name", "mean", "std"),
    [
        ("mobilenet_v2", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),  # on x / 255
        ("efficientnet_lite0", (127 / 255,) * 3, (128 / 255,) * 3),  # (x - 127) / 128
    ],
)
def test_input_normalisation(name: str, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
    """The model takes 0..255 RGB and normalises the way its weights were trained."""
    model = bb.build_backbone(name, input_shape=(32, 32, 3), weights=None)
    norm = keras.Model(model.input, model.get_layer("stem_normalize").output)
    pixels = np.array([0.0, 64.0, 255.0], np.float32)
    x = np.broadcast_to(pixels[:, None, None, None], (3, 32, 32, 3))
    want = (pixels[:, None] / 255.0 - np.array(mean)) / np.array(std)
    np.testing.assert_allclose(np.asarray(norm(x))[:, 0, 0, :], want, atol=1e-5)


@pytest.mark.parametrize("name", bb.PORTED)
def test_set_trainable_top(name: str) -> None:
    model = bb.build_backbone(name, input_shape=(64, 64, 3), weights=None, name_prefix="x_")
    n = bb.block_count(name)
    count = bb.set_trainable_top(model, 2)
    trainable = {layer.name for layer in model.layers if layer.trainable and layer.weights}
    expected = {
        layer.name
        for layer in model.layers
        if layer.weights
        and not isinstance(layer, keras.layers.BatchNormalization)
        and (
            layer.name == "x_head_conv"
            or layer.name.startswith((f"x_block{n - 2}_", f"x_block{n - 1}_"))
        )
    }
    assert trainable == expected
    assert (
        count
        == len(model.trainable_weights)
        == sum(len(model.get_layer(t).weights) for t in expected)
    )
    assert bb.set_trainable_top(model, 0) == 1  # just the head conv kernel
    assert bb.set_trainable_top(model, n) > count
    assert not any(
        layer.trainable
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    with pytest.raises(ValueError, match="n_blocks"):
        bb.set_trainable_top(model, n + 1)


def test_missing_weights_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.npz"):
        bb.build_backbone("mobilenet_v2", weights=tmp_path / "nope.npz")


@needs_weights
def test_weights_location_and_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mobilenet_v2_imagenet.npz").symlink_to(_weights("mobilenet_v2"))
    monkeypatch.setenv("WASTE_SORTER_PRETRAINED", str(tmp_path))
    assert bb.default_weights_path("mobilenet_v2") == tmp_path / "mobilenet_v2_imagenet.npz"
    # The other network's file must be refused, not half-loaded.
    with pytest.raises(ValueError, match="efficientnet_lite0"):
        bb.build_backbone(
            "efficientnet_lite0", input_shape=(64, 64, 3), weights=_weights("mobilenet_v2")
        )


def _sample(cls: str, n: int = 12) -> list[Path]:
    """``n`` photos spread evenly over the class (fixed, so results are reproducible)."""
    assert TRASHNET is not None
    files = sorted((TRASHNET / cls).glob("*.jpg"), key=lambda p: int(re.sub(r"\D", "", p.stem)))
    step = len(files) // n
    return files[step // 2 :: step][:n]


@needs_photos
@pytest.mark.shared_data
@pytest.mark.parametrize("name", bb.PORTED)
def test_imagenet_predictions_on_trashnet(name: str) -> None:
    """Bottles land in ImageNet's bottle classes, cardboard in carton/envelope/packet/crate.

    A wrong kernel transpose or BatchNorm setting drops these rates to 0.1-0.4 (random
    labels would hit a 7-class set in the top 5 about 3.5 % of the time). Padding and input
    normalisation shift them less on 12 photos, so their own tests pin them.
    """
    model = bb.build_backbone(name, include_top=True, weights=_weights(name))
    rates, report = {}, []
    for cls, wanted in [("glass", BOTTLES), ("plastic", BOTTLES), ("cardboard", CARDBOARD)]:
        images = np.stack([bb.load_rgb(p, (224, 224)) for p in _sample(cls)])
        top5 = np.argsort(np.asarray(model(images, training=False)), axis=1)[:, ::-1][:, :5]
        rates[cls] = np.mean([bool(wanted & set(row.tolist())) for row in top5])
        report.append(f"{cls}: " + ", ".join(label(int(row[0])) for row in top5))
    detail = f"{name} top-5 hit rates {rates}; top-1 labels:\n" + "\n".join(report)
    assert (rates["glass"] + rates["plastic"]) / 2 >= 0.6, detail
    assert rates["cardboard"] >= 0.75, detail


@needs_weights
@pytest.mark.shared_data
@pytest.mark.parametrize("name", bb.PORTED)
def test_onnx_matches_keras(name: str) -> None:
    tf2onnx = pytest.importorskip("tf2onnx")
    ort = pytest.importorskip("onnxruntime")
    size = 96  # a CIFAR-style input size; also keeps conversion quick
    model = bb.build_backbone(name, input_shape=(size, size, 3), weights=_weights(name))
    spec = (tf.TensorSpec((None, size, size, 3), tf.float32, name="image"),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=17)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(2).uniform(0, 255, (3, size, size, 3)).astype(np.float32)
    onnx_out = session.run(None, {"image": x})[0]
    keras_out = np.asarray(model(x, training=False))
    assert onnx_out.shape == (3, 1280)
    np.testing.assert_allclose(onnx_out, keras_out, atol=1e-4, rtol=0)
