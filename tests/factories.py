"""Reusable builders for tests: tiny real ONNX models and image files of every kind.

``make_onnx_model`` writes a genuine ONNX graph whose answer depends on the input in a known
way: it averages each colour channel over the image and feeds the three means through a
MatMul, so (in RGB terms, whatever the model's colour order) a red image predicts class 0,
green class 1 and blue class 2. Needs the ``onnx`` package (a dev dependency only).
"""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)

OPSET = 17
IR_VERSION = 8  # old enough for any onnxruntime the app supports

VALID_KINDS = (
    "jpeg",
    "png",
    "bmp",
    "webp",
    "tiff",
    "gif",
    "gray",
    "la",
    "rgba",
    "palette",
    "png16",
    "cmyk",
    "exif_rotated",
)
MALFORMED_KINDS = (
    "empty",
    "truncated_jpeg",
    "truncated_png",
    "text_as_jpg",
    "huge_png",
    "random",
    "html",
)
KIND_SUFFIX = {
    "jpeg": ".jpg",
    "png": ".png",
    "bmp": ".bmp",
    "webp": ".webp",
    "tiff": ".tiff",
    "gif": ".gif",
    "gray": ".png",
    "la": ".png",
    "rgba": ".png",
    "palette": ".png",
    "png16": ".png",
    "cmyk": ".jpg",
    "exif_rotated": ".jpg",
    "empty": ".jpg",
    "truncated_jpeg": ".jpg",
    "truncated_png": ".png",
    "text_as_jpg": ".jpg",
    "huge_png": ".png",
    "random": ".png",
    "html": ".png",
}
GRAY_LEVEL = 200
EXIF_ORIENTATION = 0x0112


def solid_rgb(color: Sequence[int], size: tuple[int, int] = (40, 30)) -> np.ndarray:
    """An ``(H, W, 3) uint8`` array of one colour; ``size`` is (width, height)."""
    width, height = size
    return np.tile(np.asarray(color, dtype=np.uint8), (height, width, 1))


def noise_rgb(size: tuple[int, int] = (64, 48), seed: int = 0) -> np.ndarray:
    width, height = size
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


# --------------------------------------------------------------------------- ONNX models


def model_metadata(
    labels: Sequence[str],
    *,
    size: tuple[int, int] = (32, 32),
    layout: str = "NHWC",
    color: str = "RGB",
    preprocessing: str = "in_graph",
    output: str = "probabilities",
    scale: float = 1.0,
    mean: Sequence[float] = (0.0, 0.0, 0.0),
    std: Sequence[float] = (1.0, 1.0, 1.0),
    model_id: str = "test",
    version: str = "1.0.0",
) -> dict[str, Any]:
    """The ``waste_sorter`` metadata object (schema 1) as a dict; ``size`` is (height, width)."""
    height, width = size
    return {
        "schema": 1,
        "id": model_id,
        "name": f"Test model {model_id}",
        "version": version,
        "labels": list(labels),
        "input": {
            "height": height,
            "width": width,
            "layout": layout,
            "color": color,
            "dtype": "float32",
            "preprocessing": preprocessing,
            "scale": scale,
            "mean": list(mean),
            "std": list(std),
            "resize": "stretch",
        },
        "output": output,
        "training": {"dataset": "synthetic"},
        "metrics": {},
    }


def make_onnx_model(
    path: str | Path,
    labels: Sequence[str] = ("red", "green", "blue"),
    *,
    size: tuple[int, int] = (32, 32),
    layout: str = "NHWC",
    color: str = "RGB",
    preprocessing: str = "in_graph",
    output: str = "probabilities",
    scale: float = 1.0,
    mean: Sequence[float] = (0.0, 0.0, 0.0),
    std: Sequence[float] = (1.0, 1.0, 1.0),
    model_id: str = "test",
    version: str = "1.0.0",
    metadata: Mapping[str, Any] | None = None,
    raw_metadata: Mapping[str, str] | None = None,
    static_batch: bool = False,
    dynamic_size: bool = False,
    graph_size: tuple[int, int] | None = None,
    output_classes: int | None = None,
    gain: float | None = None,
    weights: np.ndarray | None = None,
    novelty_threshold: float | None = None,
) -> Path:
    """Write a tiny real ONNX classifier and return its path.

    ``size`` is (height, width) in both graph and metadata; ``graph_size`` makes the graph's
    static size differ from the metadata; ``dynamic_size`` leaves H and W symbolic.
    ``metadata`` keys update the generated metadata (``input`` is merged key by key);
    ``raw_metadata`` replaces the metadata properties entirely (e.g. ``{}`` for none).
    ``output_classes`` makes the graph emit a different class count than ``labels``.
    ``weights`` (3 x classes, in the model's channel order) replaces the default MatMul.
    ``novelty_threshold`` adds the schema-2 outputs ``embedding`` (the channel means) and
    ``novelty`` (their mean over channels, 0..255: a bright image is "novel") with metadata.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    path = Path(path)
    classes = output_classes if output_classes is not None else len(labels)
    height, width = graph_size or size
    h_dim: int | str = "height" if dynamic_size else height
    w_dim: int | str = "width" if dynamic_size else width
    batch: int | str = 1 if static_batch else "batch"
    in_shape = [batch, h_dim, w_dim, 3] if layout == "NHWC" else [batch, 3, h_dim, w_dim]
    axes = [1, 2] if layout == "NHWC" else [2, 3]
    if weights is None:
        if gain is None:
            gain = 0.05 if preprocessing == "in_graph" else 3.0
        weights = np.zeros((3, classes), dtype=np.float32)
        for cls in range(min(3, classes)):
            channel = cls if color == "RGB" else 2 - cls  # model channel holding RGB channel cls
            weights[channel, cls] = gain
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["channel_means"], axes=axes, keepdims=0),
        helper.make_node("MatMul", ["channel_means", "weights"], ["scores"]),
    ]
    out_name = "scores"
    if output == "probabilities":
        nodes.append(helper.make_node("Softmax", ["scores"], ["probabilities"], axis=1))
        out_name = "probabilities"
    outputs = [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, [batch, classes])]
    if novelty_threshold is not None:
        nodes += [
            helper.make_node("Identity", ["channel_means"], ["embedding"]),
            helper.make_node("ReduceMean", ["channel_means"], ["novelty"], axes=[1]),
        ]
        outputs += [
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [batch, 3]),
            helper.make_tensor_value_info("novelty", TensorProto.FLOAT, [batch, 1]),
        ]
    graph = helper.make_graph(
        nodes,
        "waste_sorter_test",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, in_shape)],
        outputs,
        initializer=[numpy_helper.from_array(np.asarray(weights, np.float32), "weights")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    if raw_metadata is None:
        meta = model_metadata(
            labels,
            size=size,
            layout=layout,
            color=color,
            preprocessing=preprocessing,
            output=output,
            scale=scale,
            mean=mean,
            std=std,
            model_id=model_id,
            version=version,
        )
        if novelty_threshold is not None:
            meta["schema"] = 2
            meta["embedding"] = {"output": "embedding", "dim": 3}
            meta["novelty"] = {"output": "novelty", "threshold": novelty_threshold}
        for key, value in (metadata or {}).items():
            if key == "input" and isinstance(value, Mapping):
                meta["input"].update(value)
            else:
                meta[key] = value
        props: Mapping[str, str] = {"waste_sorter": json.dumps(meta)}
    else:
        props = raw_metadata
    helper.set_model_props(model, dict(props))
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def make_rank_model(
    path: str | Path, input_shape: Sequence[int | str], labels: Sequence[str], **meta: Any
) -> Path:
    """A valid ONNX model with an arbitrary input shape (to test rank/shape validation).

    It averages over every non-batch axis and maps that one number to the classes.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    path = Path(path)
    rank = len(input_shape)
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["m"], axes=list(range(1, rank)), keepdims=0),
        helper.make_node("Unsqueeze", ["m", "one"], ["m2"]),
        helper.make_node("MatMul", ["m2", "weights"], ["probabilities"]),
    ]
    graph = helper.make_graph(
        nodes,
        "rank_test",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(labels)])],
        initializer=[
            numpy_helper.from_array(np.ones((1, len(labels)), np.float32), "weights"),
            numpy_helper.from_array(np.array([1], np.int64), "one"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    helper.set_model_props(model, {"waste_sorter": json.dumps(model_metadata(labels, **meta))})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


# --------------------------------------------------------------------------- image files


def write_image(
    path: str | Path,
    kind: str,
    *,
    size: tuple[int, int] | None = None,
    color: Sequence[int] = RED,
) -> Path:
    """Write one test image of ``kind`` (see ``VALID_KINDS`` / ``MALFORMED_KINDS``).

    ``size`` is (width, height). Valid kinds are a solid ``color`` unless noted:
    ``gif`` has a second frame in blue; ``gray`` is level ``GRAY_LEVEL``; ``la``/``rgba``/
    ``palette`` are transparent on their right half (so white after decoding); ``png16`` is a
    horizontal 16-bit ramp 0..65535; ``exif_rotated`` stores a landscape image, left half
    ``color`` and right half blue, with EXIF orientation 6 (shown rotated 90 degrees
    clockwise: portrait, ``color`` on top). ``huge_png`` is a valid PNG header that claims
    ``size`` (default 100000 x 100000) pixels.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind in MALFORMED_KINDS:  # before any pixels are allocated: huge_png claims 10^10
        path.write_bytes(malformed_bytes(kind, size or (100_000, 100_000)))
        return path
    if kind not in VALID_KINDS:
        raise ValueError(f"unknown image kind {kind!r}")
    w, h = size or (64, 48)
    rgb = tuple(int(c) for c in color)
    solid = Image.new("RGB", (w, h), rgb)
    half = w // 2
    if kind in ("jpeg", "png", "bmp", "tiff"):
        fmt = {"jpeg": "JPEG", "png": "PNG", "bmp": "BMP", "tiff": "TIFF"}[kind]
        solid.save(path, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    elif kind == "webp":
        solid.save(path, "WEBP", lossless=True)
    elif kind == "gif":
        frames = [solid.convert("P"), Image.new("RGB", (w, h), BLUE).convert("P")]
        frames[0].save(path, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    elif kind == "gray":
        Image.new("L", (w, h), GRAY_LEVEL).save(path, "PNG")
    elif kind == "la":
        img = Image.new("LA", (w, h), (0, 255))
        img.paste((0, 0), (half, 0, w, h))
        img.save(path, "PNG")
    elif kind == "rgba":
        img = Image.new("RGBA", (w, h), (*rgb, 255))
        img.paste((0, 0, 0, 0), (half, 0, w, h))
        img.save(path, "PNG")
    elif kind == "palette":
        img = Image.new("P", (w, h), 0)
        img.putpalette([*rgb, 0, 0, 0] + [0, 0, 0] * 254)
        img.paste(1, (half, 0, w, h))
        img.save(path, "PNG", transparency=1)
    elif kind == "png16":
        ramp = np.linspace(0, 65535, w).round().astype(np.uint16)
        Image.fromarray(np.tile(ramp, (h, 1))).save(path, "PNG")
    elif kind == "cmyk":
        solid.convert("CMYK").save(path, "JPEG", quality=95)
    else:  # exif_rotated
        img = solid.copy()
        img.paste(BLUE, (half, 0, w, h))
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = 6
        img.save(path, "JPEG", quality=95, exif=exif.tobytes())
    return path


def malformed_bytes(kind: str, size: tuple[int, int] = (100_000, 100_000)) -> bytes:
    """The bytes of a broken "image" of ``kind`` (one of ``MALFORMED_KINDS``)."""
    if kind == "empty":
        return b""
    if kind in ("truncated_jpeg", "truncated_png"):
        fmt = "JPEG" if kind == "truncated_jpeg" else "PNG"
        buffer = io.BytesIO()
        Image.fromarray(noise_rgb((128, 96))).save(buffer, fmt)
        data = buffer.getvalue()
        return data[: len(data) // 2]
    if kind == "text_as_jpg":
        return b"Shopping list:\n- milk\n- eggs\n"
    if kind == "huge_png":
        return huge_png_bytes(*size)
    if kind == "random":
        return np.random.default_rng(1).bytes(4096)
    if kind == "html":
        return b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>\n"
    raise ValueError(f"unknown image kind {kind!r}")


def huge_png_bytes(width: int, height: int) -> bytes:
    """A PNG whose IHDR (with a correct CRC) claims ``width`` x ``height`` RGB pixels."""

    def chunk(tag: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(tag + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def make_partial_nan_model(
    path: str | Path, labels: Sequence[str] = ("red", "green", "blue"), **meta: Any
) -> Path:
    """A real model whose scores are NaN/infinite for images with no red in them.

    Like :func:`make_onnx_model` (NHWC, 3 classes, in-graph preprocessing) but the scores are
    divided by the red channel mean: a red image predicts "red", a green or blue one gives
    ``x / 0`` (NaN and inf).
    """
    from onnx import TensorProto, helper, numpy_helper

    path = Path(path)
    weights = np.eye(3, len(labels), dtype=np.float32)
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["m"], axes=[1, 2], keepdims=0),
        helper.make_node("MatMul", ["m", "weights"], ["scores"]),
        helper.make_node("Slice", ["m", "zero", "one", "one"], ["red"]),
        helper.make_node("Div", ["scores", "red"], ["probabilities"]),
    ]
    graph = helper.make_graph(
        nodes,
        "partial_nan_test",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 32, 32, 3])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(labels)])],
        initializer=[
            numpy_helper.from_array(weights, "weights"),
            numpy_helper.from_array(np.array([0], np.int64), "zero"),
            numpy_helper.from_array(np.array([1], np.int64), "one"),
        ],
    )
    return _save_model(graph, path, labels, meta)


def make_batch1_model(
    path: str | Path, labels: Sequence[str] = ("red", "green", "blue"), **meta: Any
) -> Path:
    """A real model that declares a dynamic batch but fails at run time for batch > 1.

    It reshapes the channel means to a fixed ``[1, 3]`` (as some exporters do), then maps
    them like :func:`make_onnx_model`: red, green, blue images predict classes 0, 1, 2.
    """
    from onnx import TensorProto, helper, numpy_helper

    path = Path(path)
    weights = np.eye(3, len(labels), dtype=np.float32) * 0.05
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["m"], axes=[1, 2], keepdims=0),
        helper.make_node("Reshape", ["m", "shape"], ["m1"]),
        helper.make_node("MatMul", ["m1", "weights"], ["scores"]),
        helper.make_node("Softmax", ["scores"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "batch1_test",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 32, 32, 3])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(labels)])],
        initializer=[
            numpy_helper.from_array(weights, "weights"),
            numpy_helper.from_array(np.array([1, 3], np.int64), "shape"),
        ],
    )
    return _save_model(graph, path, labels, meta)


def _save_model(graph: Any, path: Path, labels: Sequence[str], meta: Mapping[str, Any]) -> Path:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    props = {"waste_sorter": json.dumps(model_metadata(labels, **meta))}
    helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


# --------------------------------------------------------------------------- folders


def make_too_deep_folder(parent: str | Path, name: str = "deep", limit: int = 4200) -> Path:
    """A real chain of folders under ``parent/name`` whose full path grows past ``limit``
    bytes (more than Linux's PATH_MAX), with a PNG at the bottom.

    Built through directory file descriptors, so it exists; listing the deepest folders by
    path fails with ENAMETOOLONG -- an unreadable subfolder even for root.
    """
    top = Path(parent) / name
    top.mkdir(parents=True)
    component = "d" * 200
    png = io.BytesIO()
    Image.new("RGB", (8, 8), RED).save(png, "PNG")
    fd = os.open(top, os.O_RDONLY)
    try:
        length = len(os.fsencode(top))
        while length <= limit:
            os.mkdir(component, dir_fd=fd)
            deeper = os.open(component, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd, length = deeper, length + len(component) + 1
        out = os.open("bottom.png", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        try:
            os.write(out, png.getvalue())
        finally:
            os.close(out)
    finally:
        os.close(fd)
    return top


# --------------------------------------------------------------------------- teaching examples

YELLOW = (255, 255, 0)
TEACH_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": RED,
    "green": GREEN,
    "blue": BLUE,
    "yellow": YELLOW,
}


def write_examples(
    root: str | Path,
    classes: Mapping[str, Sequence[int]] = TEACH_COLOURS,
    per_class: int = 6,
    *,
    seed: int = 0,
    size: tuple[int, int] = (16, 16),
    jitter: int = 40,
    noise: int = 30,
) -> dict[str, list[Path]]:
    """A class-per-folder example tree ``root/<class>/<class>_<i>.png`` (lossless PNG).

    Each image is its class colour moved by up to ``jitter`` per channel (reflected back into
    0..255, so no two are alike by clipping); even-numbered ones
    are solid (written with :func:`write_image`), odd-numbered ones add per-pixel noise of up
    to ``noise``. Returns the paths per class. ``size`` is (width, height).
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    width, height = size
    out: dict[str, list[Path]] = {}
    for label, colour in classes.items():
        paths = out.setdefault(label, [])
        for i in range(per_class):
            base = _reflect(np.asarray(colour, np.int64) + rng.integers(-jitter, jitter + 1, 3))
            path = root / label / f"{label}_{i}.png"
            if i % 2 == 0:
                rgb = tuple(int(c) for c in base)
                paths.append(write_image(path, "png", size=size, color=rgb))
                continue
            pixels = base + rng.integers(-noise, noise + 1, (height, width, 3))
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB").save(path, "PNG")
            paths.append(path)
    return out


def _reflect(values: np.ndarray) -> np.ndarray:
    """Values pushed past 0 or 255 come back in by as much (-7 -> 7, 260 -> 250)."""
    values = np.where(values < 0, -values, values)
    return np.where(values > 255, 510 - values, values)
