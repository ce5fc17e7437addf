"""Keras models: a classifier head on a pretrained backbone, and two from-scratch baselines.

Every model takes raw RGB pixels (float32 0..255, NHWC) at the config's input size and ends in
a softmax, so the exported ONNX needs no preprocessing outside the graph. The head layers are
always named ``head_dropout`` / ``head_dense``: the cached-feature phase trains a stand-alone
head with the same names and copies its weights into the full model.
"""

from __future__ import annotations

import keras

from training.backbones import build_backbone, feature_dim
from training.config import Config

HEAD_DROPOUT = "head_dropout"
HEAD_DENSE = "head_dense"
INPUT_NAME = "image"
RESIZE_LAYER = "resize_to_backbone"


def build_model(config: Config, num_classes: int, *, pretrained: bool = True) -> keras.Model:
    """The model ``config`` describes; ``pretrained=False`` skips loading backbone weights
    (evaluation and export load the trained weights right after)."""
    height, width = config.model.input_size
    inputs = keras.Input((height, width, 3), dtype="float32", name=INPUT_NAME)
    arch = config.model.architecture
    if arch == "backbone":
        return _backbone_classifier(config, inputs, num_classes, pretrained)
    if arch == "plain_cnn":
        outputs = _plain_cnn(config, inputs, num_classes)
    elif arch == "small_resnet":
        outputs = _small_resnet(config, inputs, num_classes)
    else:  # Config.validate() already refused it
        raise ValueError(f"unknown architecture {arch!r}")
    return keras.Model(inputs, outputs, name=f"{config.name}_{arch}")


def _head(x: keras.KerasTensor, num_classes: int, dropout: float) -> keras.KerasTensor:
    x = keras.layers.Dropout(dropout, name=HEAD_DROPOUT)(x)
    # float32 softmax whatever the compute dtype, so probabilities are exact enough to compare.
    return keras.layers.Dense(num_classes, activation="softmax", dtype="float32",
                              name=HEAD_DENSE)(x)


def _backbone_classifier(config: Config, inputs: keras.KerasTensor, num_classes: int,
                         pretrained: bool) -> keras.Model:
    m = config.model
    size = tuple(m.backbone_size or m.input_size)
    x = inputs
    if size != tuple(m.input_size):
        # e.g. CIFAR: 32x32 pixels in, upsampled in the graph to a size the backbone suits.
        x = keras.layers.Resizing(size[0], size[1], interpolation="bilinear",
                                  name=RESIZE_LAYER)(x)
    weights = m.backbone_weights if pretrained else None
    backbone = build_backbone(m.backbone, input_shape=(size[0], size[1], 3), weights=weights)
    backbone.trainable = False
    # training=False keeps BatchNorm in inference mode even while the top blocks fine-tune:
    # its statistics were learnt on ImageNet and small batches would only spoil them.
    x = backbone(x, training=False)
    return keras.Model(inputs, _head(x, num_classes, m.dropout), name=f"{config.name}_classifier")


def backbone_layer(model: keras.Model, config: Config) -> keras.Model:
    """The nested backbone model inside a model from :func:`build_model`."""
    return model.get_layer(config.model.backbone)


def feature_extractor(model: keras.Model) -> keras.Model:
    """Raw pixels -> pooled backbone features (the input of the head's dropout)."""
    return keras.Model(model.inputs, model.get_layer(HEAD_DROPOUT).input, name="features")


def build_head(config: Config, num_classes: int) -> keras.Model:
    """The stand-alone head trained on cached features (same layer names as in the model)."""
    inputs = keras.Input((feature_dim(config.model.backbone),), name="features")
    return keras.Model(inputs, _head(inputs, num_classes, config.model.dropout), name="head")


def copy_head(head: keras.Model, model: keras.Model) -> None:
    """Put the cached-feature head's trained weights into the full model."""
    model.get_layer(HEAD_DENSE).set_weights(head.get_layer(HEAD_DENSE).get_weights())


def _plain_cnn(config: Config, inputs: keras.KerasTensor, num_classes: int) -> keras.KerasTensor:
    """The seeds' baseline: (conv -> BN -> ReLU -> max-pool) x 3, dense 128, dropout."""
    m = config.model
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    for i, filters in enumerate(m.cnn_filters):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False,
                                name=f"stage{i}_conv")(x)
        x = keras.layers.BatchNormalization(name=f"stage{i}_bn")(x)
        x = keras.layers.ReLU(name=f"stage{i}_relu")(x)
        x = keras.layers.MaxPooling2D(2, name=f"stage{i}_pool")(x)
    if m.cnn_pooling == "flatten":
        x = keras.layers.Flatten(name="flatten")(x)
    else:
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(m.cnn_dense, activation="relu", name="fc")(x)
    return _head(x, num_classes, m.dropout)


def _conv_bn(x: keras.KerasTensor, filters: int, kernel: int, stride: int, name: str,
             *, relu: bool = True) -> keras.KerasTensor:
    x = keras.layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False,
                            kernel_initializer="he_normal", name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _small_resnet(config: Config, inputs: keras.KerasTensor,
                  num_classes: int) -> keras.KerasTensor:
    """CIFAR-style ResNet (He et al. 2016): three stages of basic blocks, widths w, 2w, 4w;
    ``resnet_blocks_per_stage`` = 3 gives ResNet-20."""
    m = config.model
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    x = _conv_bn(x, m.resnet_width, 3, 1, "stem")
    for stage in range(3):
        filters = m.resnet_width * 2**stage
        for block in range(m.resnet_blocks_per_stage):
            name = f"stage{stage}_block{block}"
            stride = 2 if stage > 0 and block == 0 else 1
            shortcut = x
            y = _conv_bn(x, filters, 3, stride, f"{name}_a")
            y = _conv_bn(y, filters, 3, 1, f"{name}_b", relu=False)
            if stride != 1 or int(x.shape[-1]) != filters:
                shortcut = _conv_bn(x, filters, 1, stride, f"{name}_proj", relu=False)
            x = keras.layers.Add(name=f"{name}_add")([shortcut, y])
            x = keras.layers.ReLU(name=f"{name}_out")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return _head(x, num_classes, m.dropout)
