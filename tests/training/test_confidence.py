"""Confidence coverage in the evaluation metrics (training/evaluate.py)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.training
pytest.importorskip("tensorflow")  # training.evaluate imports the tf.data pipeline
pytest.importorskip("sklearn")

from training.evaluate import compute_metrics, confidence_table  # noqa: E402


def test_coverage_accuracy_and_confident_mistakes_per_level() -> None:
    probs = np.array([
        [0.95, 0.05],  # right, very sure
        [0.70, 0.30],  # right, sure at 0.6 only
        [0.55, 0.45],  # wrong (true 1), unsure at 0.6
        [0.10, 0.90],  # wrong (true 0), very sure
    ])
    labels = np.array([0, 0, 1, 0])
    table = confidence_table(probs, labels)
    assert table["0.50"] == {"coverage": 1.0, "accuracy": 0.5, "confident_wrong": 0.5}
    assert table["0.60"] == pytest.approx({"coverage": 0.75, "accuracy": 2 / 3,
                                           "confident_wrong": 0.25})
    assert table["0.90"] == {"coverage": 0.5, "accuracy": 0.5, "confident_wrong": 0.25}


def test_no_image_reaches_a_level() -> None:
    probs = np.full((3, 4), 0.25)
    table = compute_metrics(probs, np.array([0, 1, 2]), ("a", "b", "c", "d"))["confidence"]
    assert table["0.80"] == {"coverage": 0.0, "accuracy": 0.0, "confident_wrong": 0.0}
