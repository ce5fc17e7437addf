"""Metrics that predict how a station behaves, not only how often top-1 is right.

A station answers with a bin or with "Not sure". What matters to an operator: how often the
answer is right, how often it is *confidently wrong* (wrong and not "Not sure": the item goes
into the wrong bin), how often it hesitates, and whether "95 % sure" means 95 %. Here
"unsure" is ``top probability < threshold`` or, with a novelty detector, ``score >
novelty_threshold``. Precision/recall/F1 and the confusion matrix come from scikit-learn.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np

ECE_BINS = 15


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray,
                               bins: int = ECE_BINS) -> float:
    """Top-label ECE with equal-width confidence bins (Guo et al., 2017)."""
    conf = probs.max(axis=1)
    right = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for lo, hi in pairwise(edges):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            total += inside.mean() * abs(right[inside].mean() - conf[inside].mean())
    return float(total)


def unsure_mask(probs: np.ndarray, threshold: float, novelty: np.ndarray | None = None,
                novelty_threshold: float | None = None) -> np.ndarray:
    unsure = probs.max(axis=1) < threshold
    if novelty is not None and novelty_threshold is not None:
        unsure |= novelty > novelty_threshold
    return unsure


def outcome(probs: np.ndarray, labels: np.ndarray, unsure: np.ndarray) -> dict[str, float]:
    """Accuracy (top-1, whatever the confidence), unsure rate, confidently wrong, and the
    accuracy of the answers given with confidence."""
    right = probs.argmax(axis=1) == labels
    sure = ~unsure
    n = max(1, len(labels))
    return {
        "n": len(labels),
        "accuracy": float(right.mean()) if len(labels) else float("nan"),
        "unsure_rate": float(unsure.sum() / n),
        "confidently_wrong": float((~right & sure).sum() / n),
        "accuracy_when_sure": float(right[sure].mean()) if sure.any() else float("nan"),
    }


def full_report(probs: np.ndarray, labels: np.ndarray, unsure: np.ndarray,
                classes: tuple[str, ...]) -> dict[str, Any]:
    """:func:`outcome` plus ECE, macro-F1, per-class P/R/F1 and the confusion matrix."""
    from sklearn.metrics import classification_report, confusion_matrix

    pred = probs.argmax(axis=1)
    index = list(range(len(classes)))
    report = classification_report(labels, pred, labels=index, target_names=list(classes),
                                   output_dict=True, zero_division=0)
    per_class = {c: {k: float(report[c][k]) for k in ("precision", "recall", "f1-score",
                                                      "support")} for c in classes}
    # macro over the classes present: a subset (one source's images) has no items of some
    # classes, and their zero F1 would say nothing about the model
    present = [m["f1-score"] for m in per_class.values() if m["support"] > 0]
    return {
        **outcome(probs, labels, unsure),
        "ece": expected_calibration_error(probs, labels),
        "macro_f1": float(np.mean(present)) if present else float("nan"),
        "per_class": per_class,
        "confusion": confusion_matrix(labels, pred, labels=index).tolist(),
    }


def risk_coverage(probs: np.ndarray, labels: np.ndarray,
                  thresholds: np.ndarray | None = None) -> list[dict[str, float]]:
    """Coverage (share answered) and risk (share confidently wrong) per threshold."""
    if thresholds is None:
        thresholds = np.round(np.arange(0.30, 0.96, 0.05), 2)
    rows = []
    for t in thresholds:
        o = outcome(probs, labels, probs.max(axis=1) < t)
        rows.append({"threshold": float(t), "coverage": 1.0 - o["unsure_rate"],
                     "confidently_wrong": o["confidently_wrong"],
                     "accuracy_when_sure": o["accuracy_when_sure"]})
    return rows


def pick_threshold(curve: list[dict[str, float]], max_risk: float) -> float:
    """The lowest threshold whose confidently-wrong share is at most ``max_risk`` (the most
    answers for that risk); the highest threshold if none reaches it."""
    for row in curve:
        if row["confidently_wrong"] <= max_risk:
            return row["threshold"]
    return curve[-1]["threshold"]
