"""Per-image inference: the app's pipeline against bare ONNX Runtime, Keras, INT8, the floor.

    python -m bench.inference_bench [--quick] [--json OUT] [--model PATH ...]

* app pipeline = ``decode_image(file)`` -> ``Classifier.predict`` (resize, float32, session
  run, softmax check, top-k) on TrashNet photos (512x384 JPEG); reference = a bare
  ``InferenceSession.run`` (same session options) on an already-prepared tensor. Batch 1 and
  16, cases interleaved round by round.
* camera path = ``Classifier.predict`` on a 640x480 RGB frame already in memory (what the
  live pipeline does per frame) against the same reference.
* Keras (TensorFlow) on the same weights when TensorFlow and a Keras model exist.
* FP32 vs INT8 when a quantised sibling exists.
* Compute floor: multiply-adds from the ONNX graph / sustained numpy float32 GFLOP/s.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    REPO,
    Section,
    Spread,
    Target,
    finish,
    interleaved,
    paired_ratio,
    parser,
    table,
)
from bench.models import BenchModel, count_macs, discover, sustained_gflops

SAMPLES = REPO / "resources" / "samples"
BATCH = 16
TARGET_RATIO = 1.3


def _photos(n: int) -> list[Path]:
    photos = sorted(SAMPLES.glob("*.jpg"))
    if not photos:
        raise SystemExit("resources/samples has no photos")
    return [photos[i % len(photos)] for i in range(n)]


def _bare_session(path: Path, threads: int = 0, *, spinning: bool = False) -> Any:
    """A plain session with the app's options (app/core/classifier.py: ORT_ENABLE_ALL,
    default intra-op threads, intra-op spinning off); ``spinning=True``: ORT's default."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def bench_model(model: BenchModel, *, rounds: int) -> dict[str, Any]:
    from app.core.classifier import Classifier
    from app.core.imaging import decode_image

    clf = Classifier(model.path)
    session = _bare_session(model.path)
    spinning = _bare_session(model.path, spinning=True)
    name = session.get_inputs()[0].name
    photos = _photos(BATCH)
    one = photos[0]
    rgb = decode_image(one)
    frame = np.ascontiguousarray(
        np.resize(rgb, (480, 640, 3)).astype(np.uint8)
    )  # a 640x480 frame's worth of real pixels
    x1 = clf.preprocess(rgb)
    x16 = np.concatenate([clf.preprocess(decode_image(p)) for p in photos], axis=0)

    b1 = interleaved(
        {
            "app": lambda: clf.predict(decode_image(one)),
            "bare": lambda: session.run(None, {name: x1}),
            "bare_spinning": lambda: spinning.run(None, {name: x1}),
            "camera": lambda: clf.predict(frame),
            "decode": lambda: decode_image(one),
            "preprocess": lambda: clf.preprocess(rgb),
            "preprocess_frame": lambda: clf.preprocess(frame),
        },
        rounds=rounds,
        per_round=3,
    )
    b16 = interleaved(
        {
            "app": lambda: clf.predict_batch([decode_image(p) for p in photos]),
            "bare": lambda: session.run(None, {name: x16}),
        },
        rounds=max(5, rounds // 4),
        per_round=1,
    )
    per_image_16 = {k: [s / BATCH for s in v] for k, v in b16.items()}
    return {
        "b1": {k: Spread.of(v) for k, v in b1.items()},
        "b1_ratio": paired_ratio(b1, "app", "bare"),
        "camera_ratio": paired_ratio(b1, "camera", "bare"),
        "spinning_ratio": paired_ratio(b1, "bare_spinning", "bare"),
        "b16": {k: Spread.of(v) for k, v in per_image_16.items()},
        "b16_ratio": paired_ratio(b16, "app", "bare"),
        "input": f"{clf.info.input.height}x{clf.info.input.width}",
        "x1": x1,
        "x16": x16,
        "session": session,
    }


def bench_keras(model: BenchModel, x1: np.ndarray, x16: np.ndarray, session: Any,
                *, rounds: int) -> tuple[dict[str, Any] | None, str]:  # fmt: skip
    """Keras vs ORT on the same weights, or (None, why not)."""
    keras_model, source = None, "bench/standin.py"
    if model.key == "standin":
        try:
            from bench.standin import keras_model as build_keras

            keras_model = build_keras()
        except Exception as exc:
            return None, f"Keras stand-in could not be built ({type(exc).__name__}: {exc})"
    else:
        keras_model, source = _keras_from_runs(model)
        if keras_model is None:
            return None, source
    name = session.get_inputs()[0].name
    keras_model.predict_on_batch(x1)  # trace
    keras_model.predict_on_batch(x16)
    samples = interleaved(
        {
            "keras1": lambda: keras_model.predict_on_batch(x1),
            "ort1": lambda: session.run(None, {name: x1}),
        },
        rounds=rounds,
        per_round=2,
    )
    s16 = interleaved(
        {
            "keras16": lambda: keras_model.predict_on_batch(x16),
            "ort16": lambda: session.run(None, {name: x16}),
        },
        rounds=max(5, rounds // 4),
    )
    p_keras = np.asarray(keras_model.predict_on_batch(x16))
    p_ort = np.asarray(session.run(None, {name: x16})[0])
    return {
        "keras1": Spread.of(samples["keras1"]),
        "ort1": Spread.of(samples["ort1"]),
        "ratio1": paired_ratio(samples, "keras1", "ort1"),
        "keras16": Spread.of([s / BATCH for s in s16["keras16"]]),
        "ort16": Spread.of([s / BATCH for s in s16["ort16"]]),
        "ratio16": paired_ratio(s16, "keras16", "ort16"),
        "max_abs_diff": float(np.max(np.abs(p_keras - p_ort))),
        "top1_agree": float(np.mean(p_keras.argmax(1) == p_ort.argmax(1))),
    }, source


def _model_metadata(path: Path) -> dict[str, Any]:
    """The ``waste_sorter`` metadata block of an ONNX file ({} when unreadable)."""
    import json

    try:
        import onnxruntime as ort

        meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        raw = meta.get_modelmeta().custom_metadata_map.get("waste_sorter", "{}")
        return dict(json.loads(raw))
    except Exception:
        return {}


def _resizes_in_graph(path: Path) -> bool:
    try:
        import onnx

        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception:
        return False
    return any(node.op_type == "Resize" for node in graph.node)


def find_run(model: BenchModel, runs: Path | None = None) -> tuple[Path | None, str]:
    """The training run directory that produced ``model``, and how it was recognised.

    In order of preference: a run whose ``export/export.json`` says it wrote this file; a
    run with the same labels, split-manifest hash and (when the metadata records one) the
    same training config; failing that, the newest run with the same labels and hash.
    Only runs with final weights (``model.weights.h5``) count.
    """
    import json

    runs = runs or REPO / "runs"
    if not runs.is_dir():
        return None, "no training run directory (runs/) to rebuild the Keras model from"
    meta = _model_metadata(model.path)
    labels = list(meta.get("labels") or [])
    training = meta.get("training") or {}
    sha = training.get("manifest_sha256")
    config = training.get("config")
    exported, same_config, same_data = [], [], []
    for info_file in sorted(runs.glob("*/run.json"), key=lambda p: p.stat().st_mtime,
                            reverse=True):  # fmt: skip
        run_dir = info_file.parent
        try:
            info = json.loads(info_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not (run_dir / "model.weights.h5").is_file():
            continue
        export = run_dir / "export" / "export.json"
        try:
            out = (
                json.loads(export.read_text(encoding="utf-8")).get("out")
                if export.is_file()
                else None
            )
        except (OSError, ValueError):
            out = None
        if out and (REPO / out).resolve() == model.path.resolve():
            exported.append(run_dir)
        if labels and info.get("labels") != labels:
            continue
        if sha and info.get("manifest_sha256") != sha:
            continue
        try:
            run_config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            run_config = None
        (same_config if config and run_config == config else same_data).append(run_dir)
    if exported:
        return exported[0], f"runs/{exported[0].name} (its export.json names {model.path.name})"
    if same_config:
        return same_config[0], f"runs/{same_config[0].name} (same labels, split and config)"
    if same_data:
        return same_data[0], f"runs/{same_data[0].name} (newest run with the same labels and split)"
    return None, f"no finished run in runs/ with the labels and split of {model.path.name}"


def _keras_from_runs(model: BenchModel) -> tuple[Any, str]:
    """The Keras model of the training run that produced ``model``, if one is on disk."""
    run_dir, how = find_run(model)
    if run_dir is None:
        return None, how
    training = _model_metadata(model.path).get("training") or {}
    try:
        from training.run import open_run

        keras_model = open_run(run_dir).model()
        if training.get("test_time_augmentation") == "horizontal_flip":
            from training.export import with_flip_tta

            keras_model = with_flip_tta(keras_model)  # what the export put in the graph
            how += ", wrapped in the export's horizontal-flip test-time augmentation"
    except Exception as exc:
        return None, f"{how}: cannot rebuild Keras model ({type(exc).__name__}: {exc})"
    if training.get("quantization", "none") != "none":
        how += (f"; the ONNX file is quantised ({training['quantization']}), so this compares "
                "FP32 Keras with the quantised graph")  # fmt: skip
    return keras_model, how


def bench_int8(model: BenchModel, x1: np.ndarray, session: Any, *, rounds: int) -> dict[str, Any]:
    from app.core.classifier import Classifier
    from app.core.imaging import decode_image

    assert model.int8 is not None
    q = _bare_session(model.int8)
    name = session.get_inputs()[0].name
    samples = interleaved(
        {"int8": lambda: q.run(None, {name: x1}), "fp32": lambda: session.run(None, {name: x1})},
        rounds=rounds,
        per_round=3,
    )
    fp, i8 = Classifier(model.path), Classifier(model.int8)
    photos = sorted(SAMPLES.glob("*.jpg"))
    agree = np.mean([fp.predict(decode_image(p)).label == i8.predict(decode_image(p)).label
                     for p in photos])  # fmt: skip
    return {
        "int8": Spread.of(samples["int8"]),
        "fp32": Spread.of(samples["fp32"]),
        "ratio": paired_ratio(samples, "int8", "fp32"),
        "agree": float(agree),
    }


def _rest_ms(b1: dict[str, Spread]) -> str:
    parts = ("decode", "preprocess", "bare")
    rest = (b1["app"].median - sum(b1[k].median for k in parts)) * 1e3
    return f"{rest:.2f} ms" if rest > 0 else "within the noise (< 0.1 ms)"


def run(models: list[BenchModel], notes: list[str], *, quick: bool) -> Section:
    rounds = 12 if quick else 40
    section = Section("inference", "Per-image inference", notes=list(notes))
    gflops, best = sustained_gflops(seconds=0.8 if quick else 2.0)
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    rows, floor_rows, keras_rows, int8_rows = [], [], [], []
    for model in models:
        began = time.monotonic()
        r = bench_model(model, rounds=rounds)
        b1, b16 = r["b1"], r["b16"]
        if _resizes_in_graph(model.path):
            r["input"] += " in, resized in the graph"
        rows.append([
            f"{model.key} ({r['input']})", "1", b1["app"].ms(), b1["bare"].ms(),
            f"**{r['b1_ratio'].median:.2f}x** ({r['b1_ratio'].p25:.2f}-{r['b1_ratio'].p75:.2f})",
        ])  # fmt: skip
        rows.append([
            f"{model.key}", str(BATCH), b16["app"].ms(), b16["bare"].ms(),
            f"**{r['b16_ratio'].median:.2f}x** ({r['b16_ratio'].p25:.2f}-"
            f"{r['b16_ratio'].p75:.2f})",
        ])  # fmt: skip
        rows.append([
            f"{model.key} camera frame", "1", b1["camera"].ms(), b1["bare"].ms(),
            f"{r['camera_ratio'].median:.2f}x",
        ])  # fmt: skip
        rows.append([
            f"{model.key} bare ORT with intra-op spinning on (ORT default)", "1",
            b1["bare_spinning"].ms(), b1["bare"].ms(), f"{r['spinning_ratio'].median:.2f}x",
        ])  # fmt: skip
        section.results[model.key] = {
            "b1_app_ms": b1["app"].median * 1e3,
            "b1_bare_ms": b1["bare"].median * 1e3,
            "b1_ratio": r["b1_ratio"].median,
            "b16_ratio": r["b16_ratio"].median,
            "camera_ratio": r["camera_ratio"].median,
            "spinning_ms": b1["bare_spinning"].median * 1e3,
            "spinning_ratio": r["spinning_ratio"].median,
            "decode_ms": b1["decode"].median * 1e3,
            "preprocess_ms": b1["preprocess"].median * 1e3,
            "preprocess_frame_ms": b1["preprocess_frame"].median * 1e3,
        }
        section.notes.append(
            f"{model.key}: app batch-1 breakdown: decode {b1['decode'].median * 1e3:.2f} ms, "
            f"preprocess {b1['preprocess'].median * 1e3:.2f} ms (640x480 frame: "
            f"{b1['preprocess_frame'].median * 1e3:.2f} ms), session.run "
            f"{b1['bare'].median * 1e3:.2f} ms; the rest (checks, softmax, top-k) is "
            f"{_rest_ms(b1)}"
        )
        training = _model_metadata(model.path).get("training") or {}
        if training.get("test_time_augmentation", "none") != "none":
            section.notes.append(
                f"{model.key}: the graph applies test-time augmentation "
                f"({training['test_time_augmentation']}: the backbone runs twice per image); "
                "every figure for it, the multiply-adds included, is for the whole graph"
            )
        macs = sum(count_macs(model.path).values())
        floor_ms = 2 * macs / (gflops * 1e9) * 1e3
        floor_rows.append([
            model.key, f"{macs / 1e6:.1f} M", f"{floor_ms:.2f} ms", b1["bare"].ms(),
            f"{floor_ms / (b1['bare'].median * 1e3):.0%}",
            f"{2 * macs / (b16['bare'].median * 1e9):.1f} GFLOP/s",
        ])  # fmt: skip
        section.results[model.key].update(macs=macs, floor_ms=floor_ms)
        keras, why = bench_keras(model, r["x1"], r["x16"], r["session"], rounds=rounds // 2)
        if keras is None:
            section.notes.append(f"{model.key}: Keras comparison skipped: {why}")
        else:
            section.notes.append(f"{model.key}: Keras model rebuilt from {why}")
            keras_rows.append([
                model.key, keras["keras1"].ms(), keras["ort1"].ms(),
                f"{keras['ratio1'].median:.2f}x", keras["keras16"].ms(), keras["ort16"].ms(),
                f"{keras['ratio16'].median:.2f}x", f"{keras['max_abs_diff']:.1e}",
                f"{keras['top1_agree']:.0%}",
            ])  # fmt: skip
            section.results[model.key]["keras_over_ort_b1"] = keras["ratio1"].median
        if model.int8 is not None:
            q = bench_int8(model, r["x1"], r["session"], rounds=rounds)
            int8_rows.append([model.key, q["int8"].ms(), q["fp32"].ms(),
                              f"{q['ratio'].median:.2f}x", f"{q['agree']:.0%}"])  # fmt: skip
        section.results[model.key]["seconds"] = round(time.monotonic() - began, 1)

    md = [
        "App pipeline (`decode_image` + `Classifier.predict`/`predict_batch` on 512x384 "
        "TrashNet JPEGs) against a bare `InferenceSession.run` on a prepared tensor, same "
        "session options as the app (`ORT_ENABLE_ALL`, default intra-op threads, intra-op "
        "spinning off; the 'spinning on' row is ORT's default, for comparison). Cases "
        "alternate round by round; the ratio is the median of per-round ratios (IQR in "
        "brackets). Batch-16 times are per image.\n",
        table(["model", "batch", "app pipeline", "bare ORT (reference)", "app / bare"], rows),
    ]
    md.append(
        f"\n**Compute floor.** numpy float32 2048x2048 matmul sustains **{gflops:.1f} GFLOP/s** "
        f"(best {best:.1f}) on {threads} threads here. Floor = 2 x multiply-adds / that rate.\n"
    )
    md.append(table(["model", "multiply-adds", "floor", "bare ORT batch 1", "floor / ORT",
                     "ORT batch 16 rate"], floor_rows))  # fmt: skip
    if keras_rows:
        md.append("\n**Keras (TensorFlow) vs ONNX Runtime, same weights, same tensors.**\n")
        md.append(table(["model", "Keras b1", "ORT b1", "Keras/ORT", "Keras b16/img",
                         "ORT b16/img", "Keras/ORT", "max prob diff", "top-1 agree"],
                        keras_rows))  # fmt: skip
    if int8_rows:
        md.append("\n**INT8 vs FP32 (bare session, batch 1).**\n")
        md.append(table(["model", "INT8", "FP32", "INT8/FP32", "same top-1 on samples"],
                        int8_rows))  # fmt: skip
    section.markdown = "\n".join(md)
    section.results["gflops"] = gflops
    waste = next((m for m in models if m.key in ("waste", "standin")), None)
    if waste is None:
        section.targets.append(Target(f"app within {TARGET_RATIO}x of bare ORT (waste)", None,
                                      "no waste model or stand-in"))  # fmt: skip
    else:
        r = section.results[waste.key]
        ratio = r["b1_ratio"]
        rest = max(0.0, r["b1_app_ms"] - r["decode_ms"] - r["preprocess_ms"] - r["b1_bare_ms"])
        plan = (
            f"the app does per image what the reference is handed ready: JPEG decode "
            f"{r['decode_ms']:.2f} ms + resize/float32 {r['preprocess_ms']:.2f} ms + checks, "
            f"float64 softmax handling and top-k {rest:.2f} ms, against a {r['b1_bare_ms']:.2f} ms "
            f"session.run; the faster the model, the larger that fixed share (camera path, no "
            f"decode: {r['camera_ratio']:.2f}x). Planned fix (app/core): resize straight into a "
            "preallocated float32 buffer, keep the output float32 and skip the clip/renormalise "
            "for 'probabilities' models; decode stays (it is the file)"
        )
        section.targets.append(Target(
            f"app pipeline within {TARGET_RATIO}x of bare ORT ({waste.key}, batch 1)",
            ratio <= TARGET_RATIO, f"{ratio:.2f}x (camera frame {r['camera_ratio']:.2f}x)",
            "" if ratio <= TARGET_RATIO else plan,
        ))  # fmt: skip
    return section


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, action="append", help="also benchmark this .onnx")
    args = p.parse_args(argv)
    started = time.monotonic()
    models, notes = discover()
    for extra in args.model or []:
        from bench.models import int8_sibling

        models.append(BenchModel(extra.stem, extra, int8_sibling(extra), "given with --model"))
    if not models:
        section = Section("inference", "Per-image inference", notes=notes)
        section.markdown = "No model to measure.\n"
        return finish(section, args, started)
    return finish(run(models, notes, quick=args.quick), args, started)


if __name__ == "__main__":
    raise SystemExit(main())
