"""Compare runs side by side: accuracy, macro-F1, ONNX size and latency measured here.

Metrics come from each run's evaluation (``eval/<split>/metrics.json``; evaluated now if
missing). Latency is measured on this machine for every run's exported model in the same
process, one after another, so the numbers are comparable with each other (not with numbers
taken elsewhere).
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from training.config import UserError
from training.evaluate import evaluate_run, load_metrics
from training.export import ort_latency_ms
from training.run import Run, now_iso, open_run


def _row(run: Run, split: str, repeats: int) -> dict[str, Any]:
    metrics = load_metrics(run, split) or evaluate_run(run, split).metrics
    config = run.config
    history = run.paths.history
    seconds = 0.0
    if history.is_file():
        phases = json.loads(history.read_text(encoding="utf-8"))
        seconds = sum(r.get("seconds", 0.0) for records in phases.values() for r in records)
    row: dict[str, Any] = {
        "run": config.name,
        "model": config.model.backbone if config.uses_backbone else config.model.architecture,
        "input": "x".join(str(s) for s in config.input_size),
        "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
        "images": metrics["images"], "train_minutes": seconds / 60,
        "onnx": None, "scored": "Keras",
    }
    shipped = run.paths.export / "shipped.onnx"
    if shipped.is_file():
        export = json.loads((run.paths.export / "export.json").read_text(encoding="utf-8"))
        variant = export["shipped"]
        row["onnx"] = {"size_mb": shipped.stat().st_size / 1e6, "variant": variant,
                       **ort_latency_ms(shipped, config.input_size, repeats)}
        # What ships is the exported file (INT8 and in-graph test-time augmentation included):
        # its metrics, measured by the export on the same split, replace the Keras model's.
        measured = export["variants"][variant].get("test" if split == "test" else "validation")
        if measured:
            row["accuracy"], row["macro_f1"] = measured["accuracy"], measured["macro_f1"]
            row["images"] = measured.get("images", row["images"])
            row["scored"] = "ONNX"
    return row


def _model_row(path: Path, runs: list[Run], split: str, repeats: int) -> dict[str, Any]:
    """A shipped or exported file (an ensemble, say), scored on the split of a listed run
    with the same manifest."""
    from training.ensemble import read_info

    info = read_info(path)
    sha = (info.training or {}).get("manifest_sha256")
    run = next((r for r in runs if r.info["manifest_sha256"] == sha), None)
    if run is None:
        raise UserError(f"{path}: none of the listed runs has its split (manifest {sha}); "
                        "list a run made on that split")
    metrics = evaluate_run(run, split, onnx=path).metrics
    size = (info.input.height, info.input.width)
    return {"run": f"{path.name} ({info.id} {info.version})",
            "model": (info.training or {}).get("backbone", "?"),
            "input": "x".join(str(s) for s in size),
            "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
            "images": metrics["images"], "train_minutes": None, "scored": "ONNX",
            "onnx": {"size_mb": path.stat().st_size / 1e6,
                     "variant": (info.training or {}).get("quantization", "?"),
                     **ort_latency_ms(path, size, repeats)}}


def compare_runs(run_dirs: list[Path], *, split: str = "test", repeats: int = 50,
                 models: list[Path] | None = None) -> str:
    """A Markdown table comparing the runs and model files (and where latency was measured)."""
    runs = [open_run(d) for d in run_dirs]
    rows = [_row(run, split, repeats) for run in runs]
    rows += [_model_row(path, runs, split, repeats) for path in models or []]
    manifests = {run.info["manifest_sha256"] for run in runs}
    lines = [
        f"# Model comparison ({split} split)", "",
        "| run | model | input | accuracy | macro-F1 | images | scored | ONNX (MB) | variant "
        "| latency median / p90 (ms) | training (min) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        o = r["onnx"]
        onnx_cells = (f"{o['size_mb']:.2f} | {o['variant']} | {o['median_ms']:.2f} / "
                      f"{o['p90_ms']:.2f}") if o else "not exported | - | -"
        minutes = "-" if r["train_minutes"] is None else f"{r['train_minutes']:.1f}"
        lines.append(f"| {r['run']} | {r['model']} | {r['input']} | {r['accuracy']:.4f} | "
                     f"{r['macro_f1']:.4f} | {r['images']} | {r['scored']} | {onnx_cells} | "
                     f"{minutes} |")
    import onnxruntime

    lines += [
        "",
        f"Latency: ONNX Runtime {onnxruntime.__version__}, CPU provider, batch 1, {repeats} "
        f"runs after warm-up, on {platform.machine()} with {os.cpu_count()} logical CPUs "
        f"({now_iso()}).",
        "Scored: ONNX = the exported file as shipped (test-time augmentation and INT8 "
        "included, measured by `training export`); Keras = the run's Keras model "
        "(`training evaluate`).",
    ]
    if len(manifests) > 1:
        lines.append("Note: the runs use different split manifests, so their test sets differ.")
    return "\n".join(lines) + "\n"
