"""Combine exported models of one split into a single ``.onnx`` that averages them.

``python -m training ensemble A.onnx B.onnx --run-dir RUN --out models/x.onnx ...`` builds one
graph with the shared input ``image``: every member's nodes (prefixed ``m0_``, ``m1_``, ...)
read it, and the output is the weighted mean of their probabilities, so the app loads the
ensemble like any other model. The members must be Waste Sorter models with the same labels
and input, exported from runs on the split of ``RUN`` (the manifest hash in their metadata must
be the run's), so that validation and test images are unseen by every member.

The weights are chosen on the validation split only (``--weights val``: a grid in steps of
0.05, ties to the most even weights) or given; the test split is scored once, for the report.
Before anything is written, the combined graph must reproduce the weighted mean of the members
run separately (every validation image, 1e-5), and the file must open in the app's
:class:`~app.core.classifier.Classifier`.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from app.core.model_info import ModelInfo
from training.config import UserError
from training.export import check_loads, ort_latency_ms, ort_predict, session, short_metrics
from training.run import Run, now_iso, write_json

log = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-5
GRID_STEP = 0.05
INPUT = "image"
OUTPUT = "probabilities"


class EnsembleError(UserError):
    """Members that cannot be combined, or a combined graph that fails its check."""


def read_info(path: Path) -> ModelInfo:
    sess = session(path)
    return ModelInfo.from_onnx_metadata(sess.get_modelmeta().custom_metadata_map, path)


def check_members(infos: list[ModelInfo], paths: list[Path], run: Run) -> None:
    """Same labels and input everywhere, and every member trained on the run's split."""
    if len(infos) < 2:
        raise EnsembleError("an ensemble needs at least two member models")
    first = infos[0]
    for path, info in zip(paths, infos, strict=True):
        if info.labels != run.labels:
            raise EnsembleError(f"{path}: labels {info.labels} differ from the run's {run.labels}")
        if (info.input.height, info.input.width) != (first.input.height, first.input.width):
            raise EnsembleError(f"{path}: input {info.input.height}x{info.input.width} differs "
                                f"from {first.input.height}x{first.input.width}")
        if info.output != "probabilities":
            raise EnsembleError(f"{path}: output is {info.output!r}, not probabilities")
        sha = (info.training or {}).get("manifest_sha256")
        if sha != run.info["manifest_sha256"]:
            raise EnsembleError(f"{path} was trained on another split (manifest {sha}); its "
                                "validation and test scores would not be honest here")


def merge(paths: list[Path], weights: list[float]) -> Any:
    """One ModelProto: each member's graph on the shared input, weighted sum of outputs."""
    import onnx
    from onnx import helper

    nodes, inits, value_info, functions = [], [], [], []
    opsets: dict[str, int] = {}
    outputs = []
    for i, path in enumerate(paths):
        member = onnx.load(str(path))
        prefix = f"m{i}_"
        member = onnx.compose.add_prefix(member, prefix)
        g = member.graph
        if len(g.input) != 1 or len(g.output) != 1:
            raise EnsembleError(f"{path}: expected one input and one output")
        old_in = g.input[0].name
        for node in g.node:
            node.input[:] = [INPUT if name == old_in else name for name in node.input]
        nodes += list(g.node)
        inits += list(g.initializer)
        value_info += list(g.value_info)
        functions += list(member.functions)
        for op in member.opset_import:
            opsets[op.domain] = max(opsets.get(op.domain, 0), op.version)
        scaled = f"{prefix}weighted"
        inits.append(helper.make_tensor(f"{prefix}weight", onnx.TensorProto.FLOAT, [],
                                        [float(weights[i])]))
        nodes.append(helper.make_node("Mul", [g.output[0].name, f"{prefix}weight"], [scaled],
                                      name=f"{prefix}weight_mul"))
        outputs.append(scaled)
        if i == 0:
            graph_input = onnx.ValueInfoProto()
            graph_input.CopyFrom(g.input[0])
            graph_input.name = INPUT
            out_type = g.output[0].type
    nodes.append(helper.make_node("Sum", outputs, [OUTPUT], name="ensemble_sum"))
    graph_output = helper.make_value_info(OUTPUT, out_type)
    graph = helper.make_graph(nodes, "ensemble", [graph_input], [graph_output],
                              initializer=inits, value_info=value_info)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v)
                                                    for d, v in sorted(opsets.items())],
                              functions=functions)
    model.ir_version = max(onnx.load(str(p), load_external_data=False).ir_version for p in paths)
    onnx.checker.check_model(model)
    return model


def choose_weights(val_probs: list[np.ndarray], labels: np.ndarray) -> list[float]:
    """The grid point (steps of GRID_STEP, summing to 1) with the best validation accuracy;
    among equals, the most even weights."""
    k = len(val_probs)
    steps = round(1 / GRID_STEP)
    best: tuple[float, float, tuple[float, ...]] | None = None
    for combo in itertools.product(range(1, steps), repeat=k - 1):
        last = steps - sum(combo)
        if last < 1:
            continue
        w = tuple(c / steps for c in (*combo, last))
        acc = float((sum(wi * p for wi, p in zip(w, val_probs, strict=True)).argmax(1)
                     == labels).mean())
        evenness = -float(np.std(w))
        if best is None or (acc, evenness) > (best[0], best[1]):
            best = (acc, evenness, w)
    assert best is not None
    return list(best[2])


def build_ensemble(run: Run, members: list[Path], out: Path, *, model_id: str, version: str,
                   name: str | None = None, weights: list[float] | None = None,
                   cache_dir: Path | None = None, data_path: Path | None = None) -> Path:
    """Check, weigh (on validation), merge, verify and write ``out``; returns the report."""
    import onnx

    infos = [read_info(p) for p in members]
    check_members(infos, members, run)
    if weights is not None and (len(weights) != len(members) or min(weights) <= 0):
        raise EnsembleError(f"--weights needs {len(members)} positive numbers")
    data = run.data(cache_dir, data_path)
    val_x, val_y = data.arrays("val")
    test_x, test_y = data.arrays("test")
    val_p = [ort_predict(session(p), val_x) for p in members]
    test_p = [ort_predict(session(p), test_x) for p in members]
    chosen = choose_weights(val_p, val_y) if weights is None else [
        w / sum(weights) for w in weights]
    log.info("weights %s (%s)", chosen, "validation grid" if weights is None else "given")

    folder = run.paths.root / "ensemble"
    folder.mkdir(parents=True, exist_ok=True)
    merged_path = folder / "ensemble.onnx"
    merged = merge(members, chosen)
    onnx.save(merged, merged_path)
    merged_val = ort_predict(session(merged_path), val_x)
    expected = sum(w * p for w, p in zip(chosen, val_p, strict=True))
    diff = float(np.abs(merged_val - expected).max())
    if diff > PARITY_TOLERANCE:
        raise EnsembleError(f"the combined graph differs from its members by {diff:.2e}")
    merged_test = ort_predict(session(merged_path), test_x)
    classes = run.labels

    def short(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        return short_metrics(probs, labels, classes)

    rows = []
    for path, info, w, vp, tp in zip(members, infos, chosen, val_p, test_p, strict=True):
        rows.append({"path": str(path), "id": info.id, "version": info.version,
                     "backbone": (info.training or {}).get("backbone", "?"), "weight": w,
                     "size_bytes": path.stat().st_size,
                     "latency": ort_latency_ms(path, (info.input.height, info.input.width)),
                     "validation": short(vp, val_y), "test": short(tp, test_y)})
    metrics = {"validation": short(merged_val, val_y), "test": short(merged_test, test_y)}
    first = infos[0]
    training = dict(first.training or {})
    training.update({
        "backbone": " + ".join(r["backbone"] for r in rows),
        "ensemble": [{k: r[k] for k in ("id", "version", "backbone", "weight", "validation",
                                        "test")} for r in rows],
        "created": now_iso()})
    training.pop("config", None)  # each member's config lives in its own model card
    info = replace(first, id=model_id, version=version, name=name or first.name,
                   training=training, metrics=metrics)
    onnx.helper.set_model_props(merged, info.to_metadata())
    merged.doc_string = f"{info.name} {version} (Waste Sorter ensemble of {len(members)})"
    tmp = out.with_name(out.name + ".tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(merged, tmp)
    check_loads(tmp, classes)
    tmp.replace(out)
    report = {"out": str(out), "id": model_id, "version": version, "weights": chosen,
              "weights_from": "validation grid" if weights is None else "given",
              "members": rows, "metrics": metrics, "parity_max_abs_diff": diff,
              "size_bytes": out.stat().st_size,
              "latency": ort_latency_ms(out, (first.input.height, first.input.width)),
              "manifest_sha256": run.info["manifest_sha256"], "created": now_iso()}
    write_json(folder / "ensemble.json", report)
    md = folder / "ensemble.md"
    md.write_text(_render(report), encoding="utf-8")
    log.info("wrote %s (%.2f MB): val accuracy %.4f", out, report["size_bytes"] / 1e6,
             metrics["validation"]["accuracy"])
    return md


def _render(r: dict[str, Any]) -> str:
    lines = [f"# Ensemble: {r['id']} {r['version']}", "",
             f"`{r['out']}`: weighted mean of {len(r['members'])} members, weights "
             f"{', '.join(f'{w:.2f}' for w in r['weights'])} ({r['weights_from']}). The combined "
             f"graph matches the members run separately within {r['parity_max_abs_diff']:.1e} "
             "on every validation image.", "",
             "| model | weight | size (MB) | latency median / p90 (ms, batch 1) | val accuracy "
             "| val macro-F1 | test accuracy | test macro-F1 |",
             "|---|---|---|---|---|---|---|---|"]
    for m in r["members"]:
        lines.append(_row(f"`{m['path']}` ({m['backbone']})", f"{m['weight']:.2f}", m))
    lines.append(_row("**ensemble**", "", {**r, **r["metrics"]}))
    return "\n".join(lines) + "\n"


def _row(label: str, weight: str, m: dict[str, Any]) -> str:
    v, t, lat = m["validation"], m["test"], m["latency"]
    return (f"| {label} | {weight} | {m['size_bytes'] / 1e6:.2f} | {lat['median_ms']:.2f} / "
            f"{lat['p90_ms']:.2f} | {v['accuracy']:.4f} | {v['macro_f1']:.4f} | "
            f"{t['accuracy']:.4f} | {t['macro_f1']:.4f} |")
