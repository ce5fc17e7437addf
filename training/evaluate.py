"""Evaluate a run on its test (or validation) split.

Writes to ``RUN/eval/<split>/``: ``metrics.json`` (accuracy, per-class precision/recall/F1,
macro/micro/weighted F1, top-k accuracy, confidence coverage, confusion matrix),
``confusion.csv`` and
``confusion.png``, ``mistakes.png`` (the most confident wrong predictions), ``predictions.csv``
and ``report.md``.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import (
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    top_k_accuracy_score,
)

from training.data import DataError
from training.pipeline import predict
from training.run import Run, now_iso, write_json

log = logging.getLogger(__name__)

MISTAKES_SHOWN = 16
# Probability levels reported as coverage/accuracy pairs; 0.6 is the app's default "unsure"
# threshold (resources/bins/default.json), below which the operator is told to check.
CONFIDENCE_LEVELS = (0.5, 0.6, 0.8, 0.9)


def compute_metrics(probs: np.ndarray, labels: np.ndarray,
                    classes: tuple[str, ...]) -> dict[str, Any]:
    """Every number the report shows, from probabilities and true class indices."""
    ids = list(range(len(classes)))
    pred = probs.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, pred, labels=ids, zero_division=0)
    top_k = {f"top_{k}": float(top_k_accuracy_score(labels, probs, k=k, labels=ids))
             for k in (2, 3, 5) if k < len(classes)}
    return {
        "images": len(labels),
        "accuracy": float((pred == labels).mean()) if len(labels) else 0.0,
        "macro_f1": float(f1_score(labels, pred, labels=ids, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(labels, pred, labels=ids, average="micro", zero_division=0)),
        "weighted_f1": float(f1_score(labels, pred, labels=ids, average="weighted",
                                      zero_division=0)),
        "top_k": top_k,
        "per_class": {c: {"precision": float(precision[i]), "recall": float(recall[i]),
                          "f1": float(f1[i]), "support": int(support[i])}
                      for i, c in enumerate(classes)},
        "confidence": confidence_table(probs, labels),
        "confusion": confusion_matrix(labels, pred, labels=ids).tolist(),
    }


def confidence_table(probs: np.ndarray, labels: np.ndarray) -> dict[str, dict[str, float]]:
    """Per probability level: the share of images whose top probability reaches it
    (``coverage``), the accuracy on those, and the share that are confidently wrong."""
    table = {}
    if not len(labels):
        return {f"{lv:.2f}": {"coverage": 0.0, "accuracy": 0.0, "confident_wrong": 0.0}
                for lv in CONFIDENCE_LEVELS}
    top, right = probs.max(axis=1), probs.argmax(axis=1) == labels
    for level in CONFIDENCE_LEVELS:
        sure = top >= level
        table[f"{level:.2f}"] = {
            "coverage": float(sure.mean()),
            "accuracy": float(right[sure].mean()) if sure.any() else 0.0,
            "confident_wrong": float((sure & ~right).mean()),
        }
    return table


@dataclass(frozen=True)
class EvalResult:
    metrics: dict[str, Any]
    out_dir: Path

    @property
    def report_path(self) -> Path:
        return self.out_dir / "report.md"


def evaluate_run(run: Run, split: str = "test", *, cache_dir: Path | None = None,
                 data_path: Path | None = None, onnx: Path | None = None) -> EvalResult:
    """Evaluate the run's Keras model, or with ``onnx`` an exported file of this run (what
    ships: in-graph test-time augmentation and INT8 included), into ``eval/<split>`` (Keras)
    or ``eval/<split>-onnx-<file stem>`` (one folder per scored file)."""
    sess = info = None
    if onnx is not None:
        sess, info = _open_onnx(onnx, run)
    size = None if info is None else (info.input.height, info.input.width)
    data = run.data(cache_dir, data_path, input_size=size)
    images, labels = data.arrays(split)
    if not len(labels):
        raise DataError(f"the {split} split of {run.paths.manifest} is empty")
    if sess is None:
        probs = predict(run.model(), images, run.config.train.eval_batch_size)
    else:
        from training.export import ort_predict

        probs = ort_predict(sess, images, run.config.train.eval_batch_size)
    metrics = compute_metrics(probs, labels, data.classes)
    metrics |= {"split": split, "run": run.config.name, "evaluated": now_iso(),
                "manifest_sha256": run.info["manifest_sha256"],
                "model": "keras" if onnx is None else str(onnx)}
    out = run.paths.eval / (split if onnx is None else f"{split}-onnx-{onnx.stem}")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", metrics)
    _write_confusion_csv(metrics["confusion"], data.classes, out / "confusion.csv")
    _write_predictions(data.splits[split].keys, labels, probs, data.classes,
                       out / "predictions.csv")
    _plot_confusion(np.array(metrics["confusion"]), data.classes, out / "confusion.png")
    _plot_mistakes(images, labels, probs, data.classes, out / "mistakes.png")
    (out / "report.md").write_text(render_report(metrics, data.classes, run), encoding="utf-8")
    log.info("%s %s: accuracy %.4f, macro-F1 %.4f (%d images) -> %s", run.config.name, split,
             metrics["accuracy"], metrics["macro_f1"], len(labels), out)
    return EvalResult(metrics, out)


def _open_onnx(path: Path, run: Run) -> tuple[Any, Any]:
    """An exported model's session and metadata, refused unless it was made from this run's
    split (its input size may differ from the run's: the images are decoded at its size)."""
    from app.core.model_info import ModelError, ModelInfo
    from training.export import session

    try:
        sess = session(path)
        info = ModelInfo.from_onnx_metadata(sess.get_modelmeta().custom_metadata_map, path)
    except ModelError as exc:
        raise DataError(f"{path}: {exc}") from None
    except Exception as exc:  # onnxruntime's own exception types
        raise DataError(f"{path}: not a model ONNX Runtime can open ({exc})") from None
    sha = info.training.get("manifest_sha256")
    if sha != run.info["manifest_sha256"]:
        raise DataError(f"{path} was trained on another split (manifest {str(sha)[:12]}…), "
                        f"not {run.paths.manifest}")
    return sess, info


def load_metrics(run: Run, split: str) -> dict[str, Any] | None:
    path = run.paths.eval / split / "metrics.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _write_confusion_csv(matrix: list[list[int]], classes: tuple[str, ...], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["true \\ predicted", *classes])
        for name, row in zip(classes, matrix, strict=True):
            writer.writerow([name, *row])


def _write_predictions(keys: tuple[str, ...], labels: np.ndarray, probs: np.ndarray,
                       classes: tuple[str, ...], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "true", "predicted", "confidence", "correct"])
        for key, y, p in zip(keys, labels, probs, strict=True):
            k = int(p.argmax())
            writer.writerow([key, classes[y], classes[k], f"{p[k]:.4f}", int(k == y)])


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _plot_confusion(matrix: np.ndarray, classes: tuple[str, ...], path: Path) -> None:
    plt = _pyplot()
    size = max(4.0, 0.6 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    rows = matrix.sum(axis=1, keepdims=True)
    ax.imshow(matrix / np.maximum(rows, 1), cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(matrix):
        share = count / max(rows[i, 0], 1)
        ax.text(j, i, str(count), ha="center", va="center",
                color="white" if share > 0.5 else "black", fontsize=9)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix (colour: share of the true class)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_mistakes(images: np.ndarray, labels: np.ndarray, probs: np.ndarray,
                   classes: tuple[str, ...], path: Path) -> None:
    plt = _pyplot()
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != labels)
    wrong = wrong[np.argsort(-probs[wrong, pred[wrong]])][:MISTAKES_SHOWN]
    cols = 4
    rows = max(1, -(-len(wrong) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    if not len(wrong):
        axes[0, 0].text(0, 0.5, "no mistakes", fontsize=14)
    for ax, i in zip(axes.flat, wrong, strict=False):
        ax.imshow(images[i], interpolation="nearest")
        ax.set_title(f"true {classes[labels[i]]}\npred {classes[pred[i]]} "
                     f"({probs[i, pred[i]]:.2f})", fontsize=9)
    fig.suptitle("most confident mistakes")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def render_report(metrics: dict[str, Any], classes: tuple[str, ...], run: Run) -> str:
    m = metrics
    lines = [
        f"# Evaluation: {run.config.name} on the {m['split']} split", "",
        "Model: " + ("the run's Keras model (final weights)." if m.get("model", "keras") ==
                     "keras" else f"the exported file `{Path(m['model']).name}`."), "",
        f"Dataset `{run.info.get('dataset', '?')}`, manifest sha256 `{m['manifest_sha256']}`, "
        f"{m['images']} images.", "",
        "| metric | value |", "|---|---|",
        f"| accuracy | {m['accuracy']:.4f} |",
        f"| macro-F1 | {m['macro_f1']:.4f} |",
        f"| micro-F1 | {m['micro_f1']:.4f} |",
        f"| weighted-F1 | {m['weighted_f1']:.4f} |",
        *[f"| {k.replace('_', '-')} accuracy | {v:.4f} |" for k, v in m["top_k"].items()],
        "", "## Per class", "",
        "| class | precision | recall | F1 | support |", "|---|---|---|---|---|",
        *[f"| {c} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |"
          for c, v in m["per_class"].items()],
        "", "## Confidence", "",
        "Share of images whose top probability reaches each level, accuracy on those, and "
        "the share that are confidently wrong (the app's default unsure threshold is 0.6).", "",
        "| top probability ≥ | coverage | accuracy | confidently wrong |", "|---|---|---|---|",
        *[f"| {k} | {v['coverage']:.3f} | {v['accuracy']:.4f} | {v['confident_wrong']:.4f} |"
          for k, v in m.get("confidence", {}).items()],
        "", "## Confusion matrix (rows: true, columns: predicted)", "",
        "| | " + " | ".join(classes) + " |", "|---" * (len(classes) + 1) + "|",
        *[f"| **{c}** | " + " | ".join(str(n) for n in row) + " |"
          for c, row in zip(classes, m["confusion"], strict=True)],
        "", "![confusion matrix](confusion.png)", "",
        "![most confident mistakes](mistakes.png)", "",
    ]
    return "\n".join(lines)
