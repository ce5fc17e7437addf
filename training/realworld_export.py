"""Export the real-world waste model: frozen feature extractors + fitted head, one ONNX graph.

The graph takes raw 0..255 RGB ``image`` ``(batch, H, W, 3)`` and has three outputs, in this
order (the app reads the first as the class probabilities):

* ``probabilities`` -- softmax of the head's logits divided by the fitted temperature;
* ``embedding`` -- the concatenated pooled features the head reads (what station teaching
  fits new heads on);
* ``novelty`` -- squared Mahalanobis distance to the nearest class mean per dimension
  (:class:`training.heads.Novelty`); above ``novelty.threshold`` in the metadata the item is
  unlike every class and the app says "Not sure".

How it is assembled: the Keras-ported ImageNet backbones are converted with tf2onnx (as in
:mod:`training.export`); an exported-model member (:mod:`training.onnx_member`) is merged in
as its own sub-graph reading the same input; the head and the detector are a handful of ONNX
operators with the fitted arrays as constants. Checks before anything is written: the graph's
``embedding`` must equal the cached features the head was fitted on (float16 cache,
relative 5e-3), and its probabilities and novelty must equal the NumPy head's on that
embedding (1e-4). INT8 (static QDQ, per channel) quantises the extractors only.
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
    ort_latency_ms,
    quantize,
    session,
)
from training.field_metrics import full_report
from training.heads import LinearHead, Novelty

log = logging.getLogger(__name__)

OUTPUTS = ("probabilities", "embedding", "novelty")
HEAD_PREFIX = "head/"
PARITY_TOLERANCE = 1e-4
FEATURE_TOLERANCE = 5e-3  # the cache is float16
OPSET = 17
SHORT_METRICS = ("accuracy", "macro_f1", "confidently_wrong", "unsure_rate", "ece")


def _keras_part(names: list[str], input_size: tuple[int, int], weights: str | None) -> Any:
    """tf2onnx graph ``image`` -> one pooled output per Keras backbone, named ``feat/<name>``."""
    import keras
    import tensorflow as tf
    import tf2onnx

    from training.backbones import build_backbone

    height, width = input_size
    if weights is None:  # untrained (tests): the same numbers as training.feature_views
        keras.utils.set_random_seed(0)
    image = keras.Input((height, width, 3), name="image")
    pooled = [build_backbone(b, input_shape=(height, width, 3), name_prefix=f"{b}_",
                             weights=weights)(image) for b in names]
    model = keras.Model(image, pooled if len(pooled) > 1 else pooled[0])
    spec = (tf.TensorSpec((None, height, width, 3), tf.float32, name="image"),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=OPSET)
    for out, name in zip(proto.graph.output, names, strict=True):
        _rename_tensor(proto.graph, out.name, f"feat/{name}")
    return proto


def _rename_tensor(graph: Any, old: str, new: str) -> None:
    for node in graph.node:
        node.output[:] = [new if o == old else o for o in node.output]
        node.input[:] = [new if i == old else i for i in node.input]
    for out in graph.output:
        if out.name == old:
            out.name = new


def _head_nodes(feature_names: list[str], head: LinearHead,
                novelty: Novelty) -> tuple[list[Any], list[Any]]:
    from onnx import helper, numpy_helper

    w, b = head.folded()
    consts = {
        "w": w, "b": b, "nov_mean": novelty.mean[None, :].astype(np.float32),
        "nov_proj": novelty.projection.astype(np.float32),
        "nov_ct": novelty.centroids.T.astype(np.float32),
        "nov_c2": (novelty.centroids.astype(np.float64) ** 2).sum(axis=1)[None, :]
        .astype(np.float32),
        "minus_two": np.array(-2.0, dtype=np.float32),
        "k": np.array(float(novelty.projection.shape[1]), dtype=np.float32),
    }
    inits = [numpy_helper.from_array(v, HEAD_PREFIX + k) for k, v in consts.items()]

    def n(op: str, inputs: list[str], output: str, **attrs: Any) -> Any:
        name = HEAD_PREFIX + output.removeprefix(HEAD_PREFIX)
        return helper.make_node(op, inputs, [output], name=name, **attrs)

    p = HEAD_PREFIX
    nodes = [
        n("Concat", feature_names, "embedding", axis=1) if len(feature_names) > 1
        else n("Identity", feature_names, "embedding"),
        n("MatMul", ["embedding", p + "w"], p + "scores"),
        n("Add", [p + "scores", p + "b"], p + "logits"),
        n("Softmax", [p + "logits"], "probabilities", axis=1),
        n("Sub", ["embedding", p + "nov_mean"], p + "centred"),
        n("MatMul", [p + "centred", p + "nov_proj"], p + "u"),
        n("ReduceSumSquare", [p + "u"], p + "u2", axes=[1], keepdims=1),
        n("MatMul", [p + "u", p + "nov_ct"], p + "uc"),
        n("Mul", [p + "uc", p + "minus_two"], p + "cross"),
        n("Add", [p + "u2", p + "cross"], p + "partial"),
        n("Add", [p + "partial", p + "nov_c2"], p + "distances"),
        n("ReduceMin", [p + "distances"], p + "nearest", axes=[1], keepdims=1),
        n("Div", [p + "nearest", p + "k"], "novelty"),
    ]
    return nodes, inits


def build_graph(backbones: tuple[str, ...], members: dict[str, Path], head: LinearHead,
                novelty: Novelty, input_size: tuple[int, int],
                weights: str | None = "default") -> Any:
    import onnx
    from onnx import TensorProto, helper

    from training.onnx_member import truncated

    keras_names = [b for b in backbones if b not in members]
    nodes: list[Any] = []
    inits: list[Any] = []
    if keras_names:
        part = _keras_part(keras_names, input_size, weights)
        nodes += list(part.graph.node)
        inits += list(part.graph.initializer)
    feature_names = []
    for b in backbones:
        if b in members:
            sub, tensor = truncated(members[b], b)
            nodes += list(sub.node)
            inits += list(sub.initializer)
            feature_names.append(tensor)
        else:
            feature_names.append(f"feat/{b}")
    head_nodes, head_inits = _head_nodes(feature_names, head, novelty)
    height, width = input_size
    graph = helper.make_graph(
        nodes + head_nodes, "waste_realworld",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", height, width, 3])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT,
                                       ["batch", head.weight.shape[1]]),
         helper.make_tensor_value_info("embedding", TensorProto.FLOAT,
                                       ["batch", head.weight.shape[0]]),
         helper.make_tensor_value_info("novelty", TensorProto.FLOAT, ["batch", 1])],
        initializer=inits + head_inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def run_all(sess: Any, images: np.ndarray, batch: int = 32) -> list[np.ndarray]:
    name = sess.get_inputs()[0].name
    parts = [sess.run(list(OUTPUTS), {name: np.asarray(images[i:i + batch], np.float32)})
             for i in range(0, len(images), batch)]
    return [np.concatenate([p[j] for p in parts]).astype(np.float32) for j in range(3)]


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(1.0, float(np.abs(b).max())))


def check(path: Path, head: LinearHead, novelty: Novelty, val_images: np.ndarray,
          val_features: np.ndarray | None) -> dict[str, Any]:
    probs, emb, score = run_all(session(path), val_images)
    out = {"images": len(val_images),
           "probabilities_vs_head": _rel(probs, head.probabilities(emb)),
           "novelty_vs_detector": _rel(score[:, 0], novelty.score(emb))}
    if val_features is not None:
        out["embedding_vs_cache"] = _rel(emb, val_features)
        out["top1_vs_cache"] = int((probs.argmax(1)
                                    != head.probabilities(val_features).argmax(1)).sum())
    return out


def head_nodes(path: Path) -> list[str]:
    """The head's and the detector's nodes: kept in float when quantising (8-bit
    probabilities come in 1/256 steps; the detector's distances need the range)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return [n.name for n in graph.node if n.name.startswith(HEAD_PREFIX)]


def export(*, backbones: tuple[str, ...], members: dict[str, Path], head: LinearHead,
           novelty: Novelty, threshold: float, classes: tuple[str, ...],
           input_size: tuple[int, int], val_images: np.ndarray, val_labels: np.ndarray,
           test_images: np.ndarray, test_labels: np.ndarray, test_groups: np.ndarray,
           calibration: np.ndarray | None, folder: Path, info_fields: dict[str, Any],
           weights: str | None = "default", novelty_keep: float = 0.95,
           val_features: np.ndarray | None = None) -> dict[str, Any]:
    """Write ``folder/model_fp32.onnx`` (and ``model_int8.onnx`` when ``calibration`` is
    given) with metadata; returns the checks, sizes, latencies and validation accuracy."""
    import onnx

    folder.mkdir(parents=True, exist_ok=True)
    fp32 = folder / "model_fp32.onnx"
    onnx.save(build_graph(backbones, members, head, novelty, input_size, weights), fp32)
    parity = check(fp32, head, novelty, val_images, val_features)
    if (parity["probabilities_vs_head"] > PARITY_TOLERANCE
            or parity["novelty_vs_detector"] > PARITY_TOLERANCE
            or parity.get("embedding_vs_cache", 0.0) > FEATURE_TOLERANCE):
        raise ExportError(f"the exported graph does not compute the fitted model: {parity}")
    variants = {"fp32": fp32}
    if calibration is not None:
        int8 = folder / "model_int8.onnx"
        quantize(fp32, int8, "static", calibration[:CALIBRATION_IMAGES], head_nodes)
        variants["int8"] = int8
    report: dict[str, Any] = {"parity": parity, "variants": {}}
    for key, path in variants.items():
        sess = session(path)
        novelty_threshold = float(novelty.threshold)
        if key == "int8":
            # 8-bit extractors shift the features a little: the detector's threshold is set
            # again on this file's own validation scores, keeping the same share of known items.
            _, _, int8_scores = run_all(sess, val_images)
            novelty_threshold = float(np.quantile(int8_scores[:, 0], novelty_keep))
        entry: dict[str, Any] = {"path": str(path), "novelty_threshold": novelty_threshold}
        for split, images, labels in (("val", val_images, val_labels),
                                      ("test", test_images, test_labels)):
            probs, _, score = run_all(sess, images)
            unsure = (probs.max(1) < threshold) | (score[:, 0] > novelty_threshold)
            entry[split] = full_report(probs, labels, unsure, classes)
            if split == "test":
                entry["test_by_group"] = {
                    g: full_report(probs[test_groups == g], labels[test_groups == g],
                                   unsure[test_groups == g], classes)
                    for g in sorted(set(test_groups))}
        own = {name: {m: round(entry[split][m], 4) for m in SHORT_METRICS} | {
            "images": entry[split]["n"]} for name, split in (("validation", "val"),
                                                             ("test", "test"))}
        if "trashnet" in entry["test_by_group"]:
            t = entry["test_by_group"]["trashnet"]
            own["test_trashnet"] = {m: round(t[m], 4) for m in SHORT_METRICS} | {
                "images": t["n"]}
        info = ModelInfo(
            labels=classes, input=InputSpec(height=input_size[0], width=input_size[1]),
            output="probabilities",
            embedding={"output": "embedding", "dim": int(head.weight.shape[0]),
                       "extractors": list(backbones)},
            novelty={"output": "novelty", "threshold": novelty_threshold,
                     "method": "mahalanobis_nearest_class",
                     "dims": int(novelty.projection.shape[1])},
            unsure_threshold=float(threshold),
            **{**info_fields,
               "metrics": {**own, **info_fields.get("metrics", {})},
               "training": {**info_fields.get("training", {}),
                            "quantization": "static_int8_extractors" if key == "int8"
                            else "none"}})
        proto = onnx.load(str(path))
        onnx.helper.set_model_props(proto, info.to_metadata())
        proto.doc_string = f"{info.name} {info.version} (Waste Sorter)"
        onnx.save(proto, path)
        check_loads(path, classes)
        entry["size_bytes"] = path.stat().st_size
        entry["latency"] = ort_latency_ms(path, input_size)
        report["variants"][key] = entry
        log.info("%s: %.2f MB, %.1f ms, val accuracy %.4f", key, entry["size_bytes"] / 1e6,
                 entry["latency"]["median_ms"], entry["val"]["accuracy"])
    return report
