"""Export the real-world waste model: frozen backbone(s) + fitted head as one ONNX graph.

The graph takes raw 0..255 RGB ``image`` ``(batch, 224, 224, 3)`` and has three outputs, in
this order (the app reads the first as the class probabilities):

* ``probabilities`` -- softmax of the head's logits divided by the fitted temperature;
* ``embedding`` -- the pooled backbone features the head reads (what station teaching fits
  new heads on);
* ``novelty`` -- the squared Mahalanobis distance to the nearest class mean per dimension
  (:class:`training.heads.Novelty`); above ``novelty.threshold`` in the metadata the item is
  unlike every class and the app says "Not sure".

Parity is checked as in :mod:`training.export` on all three outputs (Keras vs ONNX Runtime).
INT8 (static QDQ, per channel) quantises the backbones only; head and detector stay float.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from app.core.model_info import InputSpec, ModelInfo
from training.export import (
    CALIBRATION_IMAGES,
    ExportError,
    check_loads,
    convert,
    ort_latency_ms,
    session,
)
from training.heads import LinearHead, Novelty

log = logging.getLogger(__name__)

OUTPUTS = ("probabilities", "embedding", "novelty")
PARITY_TOLERANCE = 1e-4
FEATURE_TOLERANCE = 5e-3  # the cache is float16


def build_keras(backbones: tuple[str, ...], head: LinearHead, novelty: Novelty,
                input_size: tuple[int, int], weights: str | None = "default") -> Any:
    import keras

    from training.backbones import build_backbone

    height, width = input_size
    if weights is None:  # untrained (tests): the same numbers as training.feature_views
        keras.utils.set_random_seed(0)
    image = keras.Input((height, width, 3), name="image")
    pooled = [build_backbone(b, input_shape=(height, width, 3), name_prefix=f"{b}_",
                             weights=weights)(image) for b in backbones]
    features = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(
        name="embedding")(pooled)
    w, b = head.folded()
    dense = keras.layers.Dense(w.shape[1], name="head_logits")
    logits = dense(features)
    dense.set_weights([w, b])
    probs = keras.layers.Softmax(name="probabilities")(logits)
    emb = keras.layers.Identity(name="embedding_out")(features)
    score = _novelty_layer(novelty)(features)
    return keras.Model(image, [probs, emb, score], name="waste_realworld")


def _novelty_layer(novelty: Novelty) -> Any:
    import keras

    class NoveltyScore(keras.layers.Layer):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(name="novelty", **kwargs)
            self.mean = keras.ops.convert_to_tensor(novelty.mean[None, :])
            self.projection = keras.ops.convert_to_tensor(novelty.projection)
            self.centroids = keras.ops.convert_to_tensor(novelty.centroids)
            self.c2 = keras.ops.convert_to_tensor((novelty.centroids ** 2).sum(axis=1)[None, :])
            self.k = float(novelty.projection.shape[1])

        def call(self, x: Any) -> Any:
            ops = keras.ops
            u = ops.matmul(x - self.mean, self.projection)
            # ||u - c||^2 = |u|^2 - 2 u.c + |c|^2, one matmul instead of a (N, C, k) tensor
            d = (ops.sum(u * u, axis=1, keepdims=True) - 2.0 * ops.matmul(
                u, ops.transpose(self.centroids)) + self.c2)
            return ops.min(d, axis=1, keepdims=True) / self.k

    return NoveltyScore()


def _rename_outputs(proto: Any) -> None:
    outputs = proto.graph.output
    if len(outputs) != len(OUTPUTS):
        raise ExportError(f"converted graph has {len(outputs)} outputs, expected 3")
    for out, name in zip(outputs, OUTPUTS, strict=True):
        old = out.name
        if old == name:
            continue
        for node in proto.graph.node:
            node.output[:] = [name if o == old else o for o in node.output]
            node.input[:] = [name if i == old else i for i in node.input]
        out.name = name


def run_all(sess: Any, images: np.ndarray, batch: int = 32) -> list[np.ndarray]:
    name = sess.get_inputs()[0].name
    parts = [sess.run(list(OUTPUTS), {name: np.asarray(images[i:i + batch], np.float32)})
             for i in range(0, len(images), batch)]
    return [np.concatenate([p[j] for p in parts]).astype(np.float32) for j in range(3)]


def head_nodes(path: Path) -> list[str]:
    """Every node downstream of the backbones' pooled output: kept in float when quantising
    (8-bit probabilities come in 1/256 steps; the detector's distances need the range)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    producers = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    start = producers["embedding"]
    todo = [start]
    tail: dict[str, None] = {}
    while todo:
        node = todo.pop()
        if node.name in tail:
            continue
        tail[node.name] = None
        todo += [c for out in node.output for c in consumers.get(out, [])]
    return list(tail)


def quantize(fp32: Path, out: Path, calibration: np.ndarray) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepped = out.with_name(out.stem + ".pre.onnx")
    quant_pre_process(str(fp32), str(prepped), skip_symbolic_shape=True)
    name = session(fp32).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter([{name: calibration[i:i + 8].astype(np.float32)}
                                  for i in range(0, len(calibration), 8)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._batches, None)

    quantize_static(prepped, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    nodes_to_exclude=head_nodes(prepped))
    prepped.unlink(missing_ok=True)


def export(*, backbones: tuple[str, ...], head: LinearHead, novelty: Novelty,
           threshold: float, classes: tuple[str, ...], input_size: tuple[int, int],
           val_images: np.ndarray, calibration: np.ndarray | None, folder: Path,
           info_fields: dict[str, Any], weights: str | None = "default",
           val_features: np.ndarray | None = None) -> dict[str, Any]:
    """Write ``folder/model_fp32.onnx`` (and ``model_int8.onnx`` when ``calibration`` is
    given) with metadata; returns parity, sizes and latencies of each variant."""
    import onnx

    model = build_keras(backbones, head, novelty, input_size, weights)
    keras_out = [np.concatenate(p) for p in zip(*[
        [np.asarray(t) for t in model.predict_on_batch(val_images[i:i + 32].astype(np.float32))]
        for i in range(0, len(val_images), 32)], strict=True)]
    folder.mkdir(parents=True, exist_ok=True)
    fp32 = folder / "model_fp32.onnx"
    proto = convert(model, input_size, 17)
    _rename_outputs(proto)
    onnx.save(proto, fp32)
    onnx_out = run_all(session(fp32), val_images)
    diffs = {n: float(np.abs(a - b).max() / max(1.0, float(np.abs(a).max())))
             for n, a, b in zip(OUTPUTS, keras_out, onnx_out, strict=True)}
    disagree = int((keras_out[0].argmax(1) != onnx_out[0].argmax(1)).sum())
    parity = {"images": len(val_images), "max_rel_diff": diffs, "top1_disagreements": disagree}
    if disagree or max(diffs.values()) > PARITY_TOLERANCE:
        raise ExportError(f"Keras and ONNX Runtime disagree: {parity}; nothing exported")
    if val_features is not None:
        # The head was fitted on cached features: the graph must compute the same ones.
        drift = float(np.abs(onnx_out[1] - val_features).max()
                      / max(1.0, float(np.abs(val_features).max())))
        parity["embedding_vs_cache_rel_diff"] = drift
        if drift > FEATURE_TOLERANCE:
            raise ExportError(f"the exported graph's features differ from the cached ones the "
                              f"head was fitted on (relative {drift:.2e}); nothing exported")
    variants = {"fp32": fp32}
    if calibration is not None:
        int8 = folder / "model_int8.onnx"
        quantize(fp32, int8, calibration[:CALIBRATION_IMAGES])
        variants["int8"] = int8
    report: dict[str, Any] = {"parity": parity, "variants": {}}
    for key, path in variants.items():
        info = ModelInfo(
            labels=classes, input=InputSpec(height=input_size[0], width=input_size[1]),
            output="probabilities",
            embedding={"output": "embedding", "dim": int(keras_out[1].shape[1]),
                       "backbones": list(backbones)},
            novelty={"output": "novelty", "threshold": float(novelty.threshold),
                     "method": "mahalanobis_nearest_class",
                     "dims": int(novelty.projection.shape[1])},
            unsure_threshold=float(threshold),
            **{**info_fields, "training": {**info_fields.get("training", {}),
                                           "quantization": "static_int8_backbones"
                                           if key == "int8" else "none"}})
        proto = onnx.load(str(path))
        onnx.helper.set_model_props(proto, info.to_metadata())
        proto.doc_string = f"{info.name} {info.version} (Waste Sorter)"
        onnx.save(proto, path)
        check_loads(path, classes)
        report["variants"][key] = {"path": str(path), "size_bytes": path.stat().st_size,
                                   "latency": ort_latency_ms(path, input_size)}
    return report
