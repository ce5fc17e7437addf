"""Export a trained run to the single ``.onnx`` file the app loads.

tf2onnx converts the Keras model with an explicit input signature (input ``image``, float32
``(batch, H, W, 3)`` raw 0..255 RGB, dynamic batch, opset 17). The Waste Sorter metadata is
written with :class:`app.core.model_info.ModelInfo` -- the same code the app reads it with.
Parity is mandatory: Keras and ONNX Runtime must pick the same class for every validation
image with probabilities within 1e-4, or nothing is written. Optional INT8 quantisation
(ONNX Runtime, static QDQ or dynamic) is shipped only when it loses less than 0.5 points of
validation accuracy; sizes and latencies of both files are reported.
"""

from __future__ import annotations

import logging
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from app.core.model_info import InputSpec, ModelInfo
from training.config import UserError
from training.evaluate import compute_metrics
from training.pipeline import predict
from training.run import Run, now_iso, write_json

log = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-4
MAX_ACCURACY_LOSS = 0.005  # INT8 is shipped only if validation accuracy drops less than this
CALIBRATION_IMAGES = 256


class ExportError(UserError):
    """The export was refused (parity failure, bad arguments); nothing was shipped."""


def convert(model: Any, input_size: tuple[int, int], opset: int) -> Any:
    """Keras -> ONNX ModelProto with input ``image`` of shape (batch, H, W, 3)."""
    import tensorflow as tf
    import tf2onnx

    height, width = input_size
    spec = (tf.TensorSpec((None, height, width, 3), tf.float32, name="image"),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset)
    return proto


def session(path: Path, threads: int = 0) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def ort_predict(sess: Any, images: np.ndarray, batch: int = 32) -> np.ndarray:
    name = sess.get_inputs()[0].name
    out = [sess.run(None, {name: np.asarray(images[i:i + batch], np.float32)})[0]
           for i in range(0, len(images), batch)]
    return np.concatenate(out).astype(np.float32)


def ort_latency_ms(path: Path, input_size: tuple[int, int], repeats: int = 50) -> dict[str, float]:
    """Single-image latency on this machine (median and 90th percentile, after warm-up)."""
    sess = session(path)
    name = sess.get_inputs()[0].name
    x = np.random.default_rng(0).uniform(0, 255, (1, *input_size, 3)).astype(np.float32)
    for _ in range(5):
        sess.run(None, {name: x})
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        sess.run(None, {name: x})
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"median_ms": round(statistics.median(times), 3),
            "p90_ms": round(times[int(0.9 * (len(times) - 1))], 3)}


def parity(keras_probs: np.ndarray, onnx_probs: np.ndarray) -> dict[str, Any]:
    diff = float(np.abs(keras_probs - onnx_probs).max()) if len(keras_probs) else 0.0
    disagree = int((keras_probs.argmax(1) != onnx_probs.argmax(1)).sum())
    return {"images": len(keras_probs), "max_abs_diff": diff, "top1_disagreements": disagree,
            "passed": disagree == 0 and diff <= PARITY_TOLERANCE}


def short_metrics(probs: np.ndarray, labels: np.ndarray,
                   classes: tuple[str, ...]) -> dict[str, float]:
    m = compute_metrics(probs, labels, classes)
    return {"accuracy": round(m["accuracy"], 6), "macro_f1": round(m["macro_f1"], 6),
            "images": m["images"]}


def quantize(fp32: Path, out: Path, mode: str, calibration: np.ndarray,
             keep_float: Callable[[Path], list[str]] | None = None) -> None:
    """INT8 ``out`` from ``fp32``: ``dynamic``, or static QDQ per channel calibrated on
    ``calibration``; ``keep_float(prepared_path)`` names the nodes left in float (default:
    the softmax and everything after it, :func:`output_tail`)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepped = out.with_name(out.stem + ".pre.onnx")
    quant_pre_process(str(fp32), str(prepped), skip_symbolic_shape=True)
    if mode == "dynamic":
        quantize_dynamic(prepped, out, weight_type=QuantType.QInt8)
    else:
        name = session(fp32).get_inputs()[0].name

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self._batches = iter([{name: calibration[i:i + 8].astype(np.float32)}
                                      for i in range(0, len(calibration), 8)])

            def get_next(self) -> dict[str, np.ndarray] | None:
                return next(self._batches, None)

        quantize_static(prepped, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=(keep_float or output_tail)(prepped))
    prepped.unlink(missing_ok=True)


def output_tail(path: Path) -> list[str]:
    """Names of the Softmax nodes and every node after them (e.g. the mirror averaging).

    They stay in float: 8-bit probabilities come in steps of 1/256, so the runner-up classes
    tie at the bottom step and the confidence shown to the operator is coarse.
    """
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    tail: dict[str, None] = {}
    todo = [node for node in graph.node if node.op_type == "Softmax"]
    while todo:
        node = todo.pop()
        if node.name in tail:
            continue
        tail[node.name] = None
        todo += [c for out in node.output for c in consumers.get(out, [])]
    return list(tail)


def _variant(path: Path, evaluation: dict[str, tuple[np.ndarray, np.ndarray]],
             classes: tuple[str, ...], input_size: tuple[int, int]) -> dict[str, Any]:
    """Accuracy and macro-F1 (ONNX Runtime) on val and test, file size, latency."""
    sess = session(path)
    out: dict[str, Any] = {"path": path, "size_bytes": path.stat().st_size}
    for split, key in (("val", "validation"), ("test", "test")):
        images, labels = evaluation[split]
        out[key] = short_metrics(ort_predict(sess, images), labels, classes)
    out["latency"] = ort_latency_ms(path, input_size)
    return out


def _int8_variant(fp32: Path, mode: str, calibration: np.ndarray, reference: dict[str, Any],
                  evaluation: dict[str, tuple[np.ndarray, np.ndarray]],
                  classes: tuple[str, ...], input_size: tuple[int, int]) -> dict[str, Any]:
    """Quantise and decide: shipped only if it loses < 0.5 validation accuracy points and is
    smaller and not slower (dynamic ConvInteger kernels can be many times slower on CPU)."""
    int8 = fp32.with_name("model_int8.onnx")
    quantize(fp32, int8, mode, calibration)
    v = _variant(int8, evaluation, classes, input_size) | {"mode": mode}
    loss = reference["validation"]["accuracy"] - v["validation"]["accuracy"]
    v["accuracy_loss_points"] = round(100 * loss, 3)
    slower = v["latency"]["median_ms"] > 1.2 * reference["latency"]["median_ms"]
    if loss >= MAX_ACCURACY_LOSS:
        v["decision"] = f"rejected: loses {100 * loss:.2f} validation accuracy points"
    elif v["size_bytes"] >= reference["size_bytes"]:
        v["decision"] = "rejected: not smaller than FP32"
    elif slower:
        v["decision"] = "rejected: slower than FP32 on this machine"
    else:
        v["decision"] = "shipped"
    v["accepted"] = v["decision"] == "shipped"
    log.info("INT8 (%s): %s", mode, v["decision"])
    return v


def export_run(run: Run, out: Path, *, model_id: str, version: str, name: str | None = None,
               quantize: str | None = None, opset: int = 17, cache_dir: Path | None = None,
               data_path: Path | None = None, tta_flip: bool = False) -> Path:
    """Convert, check, optionally quantise, write ``out``; returns the Markdown report path."""
    import onnx

    if not model_id.strip() or not version.strip():
        raise ExportError("--id and --version must not be empty")
    config, classes = run.config, run.labels
    data = run.data(cache_dir, data_path)
    val_x, val_y = data.arrays("val")
    test_x, test_y = data.arrays("test")
    model = run.model()
    if tta_flip:
        model = with_flip_tta(model)
    keras_val = predict(model, val_x, config.train.eval_batch_size)
    folder = run.paths.export
    folder.mkdir(parents=True, exist_ok=True)
    fp32 = folder / "model_fp32.onnx"
    proto = convert(model, config.input_size, opset)
    onnx.save(proto, fp32)
    sess = session(fp32)
    onnx_val = ort_predict(sess, val_x)
    check = parity(keras_val, onnx_val)
    log.info("parity on %d validation images: max |diff| %.2e, %d top-1 disagreements",
             check["images"], check["max_abs_diff"], check["top1_disagreements"])
    if not check["passed"]:
        raise ExportError(
            f"Keras and ONNX Runtime disagree (max |prob diff| {check['max_abs_diff']:.2e} > "
            f"{PARITY_TOLERANCE:g} or {check['top1_disagreements']} top-1 differences); "
            f"nothing exported (the converted file is {fp32})")
    evaluation = {"val": (val_x, val_y), "test": (test_x, test_y)}
    variants = {"fp32": _variant(fp32, evaluation, classes, config.input_size)}
    if quantize:
        train_x, _ = data.arrays("train")
        pick = np.sort(np.random.default_rng(0).permutation(len(train_x))[:CALIBRATION_IMAGES])
        variants["int8"] = _int8_variant(fp32, quantize, train_x[pick], variants["fp32"],
                                         evaluation, classes, config.input_size)
    chosen = "int8" if variants.get("int8", {}).get("accepted") else "fp32"
    chosen_v = variants[chosen]
    info = ModelInfo(
        id=model_id, name=name or config.display_name, version=version, labels=classes,
        input=InputSpec(height=config.input_size[0], width=config.input_size[1],
                        preprocessing="in_graph"),
        output="probabilities",
        training={
            "dataset": run.info["dataset"], "manifest_sha256": run.info["manifest_sha256"],
            "backbone": config.model.backbone if config.uses_backbone
            else config.model.architecture,
            "config": _public_config(config.to_dict()), "created": now_iso(),
            "quantization": chosen_v.get("mode", "none") if chosen == "int8" else "none",
            "test_time_augmentation": "horizontal_flip" if tta_flip else "none"},
        metrics={"validation": chosen_v["validation"], "test": chosen_v["test"]})
    shipped = onnx.load(chosen_v["path"])
    onnx.helper.set_model_props(shipped, info.to_metadata())
    shipped.doc_string = f"{info.name} {version} (Waste Sorter)"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    onnx.save(shipped, tmp)
    check_loads(tmp, classes)
    tmp.replace(out)
    report = {"out": str(out), "shipped": chosen, "id": model_id, "version": version,
              "parity": check, "variants": {k: {**v, "path": str(v["path"])}
                                            for k, v in variants.items()},
              "manifest_sha256": run.info["manifest_sha256"], "exported": now_iso()}
    write_json(folder / "export.json", report)
    md = folder / "export.md"
    md.write_text(_render(report), encoding="utf-8")
    shutil.copyfile(out, folder / "shipped.onnx")  # what compare measures, whatever --out was
    log.info("exported %s (%s, %.2f MB)", out, chosen, out.stat().st_size / 1e6)
    return md


def with_flip_tta(model: Any) -> Any:
    """The same classifier averaging its output on the image and on its mirror image."""
    import keras

    @keras.saving.register_keras_serializable(package="waste_sorter")
    class MirrorImage(keras.layers.Layer):  # a plain layer, not a Lambda, so it serialises
        def call(self, x: Any) -> Any:
            return keras.ops.flip(x, axis=2)  # NHWC: axis 2 is the width

    inputs = keras.Input(shape=model.input_shape[1:], name="image")
    both = keras.layers.Average(name="tta_mean")([model(inputs), model(MirrorImage()(inputs))])
    return keras.Model(inputs, both, name=f"{model.name}_tta_flip")


def _public_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config as shipped inside the model: without the local dataset path."""
    data = {k: v for k, v in config["data"].items() if k != "path"}
    return {**config, "data": data}


def check_loads(path: Path, classes: tuple[str, ...]) -> None:
    """The file must open exactly as the app opens it."""
    from app.core.classifier import Classifier

    clf = Classifier(path)
    if clf.labels != classes:
        raise ExportError(f"exported labels {clf.labels} differ from {classes}")


def _render(report: dict[str, Any]) -> str:
    p = report["parity"]
    lines = [f"# Export: {report['id']} {report['version']}", "",
             f"Shipped `{report['out']}` ({report['shipped']}).", "",
             f"Parity (Keras vs ONNX Runtime, {p['images']} validation images): max |prob diff| "
             f"{p['max_abs_diff']:.2e}, top-1 disagreements {p['top1_disagreements']}.", "",
             "| variant | size (MB) | latency median / p90 (ms, batch 1) | val accuracy "
             "| val macro-F1 | test accuracy | test macro-F1 |", "|---|---|---|---|---|---|---|"]
    for key, v in report["variants"].items():
        label = key if key == "fp32" else (
            f"{key} ({v['mode']}, val accuracy {0.0 - v['accuracy_loss_points']:+.2f} pts: "
            f"{v['decision']})")
        lines.append(f"| {label} | {v['size_bytes'] / 1e6:.2f} | {v['latency']['median_ms']:.2f}"
                     f" / {v['latency']['p90_ms']:.2f} | {v['validation']['accuracy']:.4f} | "
                     f"{v['validation']['macro_f1']:.4f} | {v['test']['accuracy']:.4f} | "
                     f"{v['test']['macro_f1']:.4f} |")
    return "\n".join(lines) + "\n"
