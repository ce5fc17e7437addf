"""Fit and judge heads on the cached features: the recipe, the shipped fit, and the field runs.

A :class:`Recipe` is every choice (features, regularisation, views, source balancing,
novelty detector, risk target); :func:`fit` applies it to a set of training images and
calibrates on a set of validation images. The same function makes the shipped head and every
leave-one-source-out (LOSO) and leave-one-class-out (LOCO) model, so the field numbers
measure exactly what ships:

* **LOSO**: train without one ``group`` (source), test on that group's images of the classes
  that other sources still teach.
* **LOCO**: train without one class; its images should come out "Not sure". Thresholds come
  from the known classes' validation images only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from training import field_metrics as fm
from training.heads import (
    LinearHead,
    Novelty,
    fit_linear,
    fit_novelty,
    fit_temperature,
    with_threshold,
)
from training.multisource import balance_weights

NOVELTY_KEEPS = (0.8, 0.9, 0.95, 0.99, 1.0)  # 1.0: no detector, the confidence alone


@dataclass(frozen=True)
class Recipe:
    backbones: tuple[str, ...] = ("efficientnet_lite0",)
    # aliases among ``backbones`` that are exported models (training.onnx_member): path, sha256
    members: tuple[tuple[str, str, str], ...] = ()
    # groups whose training images a member was trained on: leave-one-source-out tests only
    # their test-split images, which no part of the model has seen
    member_groups: tuple[str, ...] = ()
    c: float = 0.3
    views: tuple[int, ...] = (0, 1)
    source_power: float = 0.5
    novelty_k: int = 128
    novelty_keep: float = 0.95  # share of known validation items the detector lets through
    max_risk: float = 0.02  # confidently wrong share allowed on validation


@dataclass
class Bank:
    """Labels, groups, splits and the feature files of a run."""

    keys: tuple[str, ...]
    classes: tuple[str, ...]
    labels: np.ndarray
    groups: np.ndarray
    splits: np.ndarray
    features: Any  # ViewCache
    _loaded: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)

    @classmethod
    def open(cls, run_dir: Path) -> Bank:
        from training.feature_views import ViewCache

        data = json.loads((run_dir / "data.json").read_text(encoding="utf-8"))
        keys_file = json.loads((run_dir / "features" / "keys.json").read_text(encoding="utf-8"))
        keys = tuple(keys_file["keys"])
        classes = tuple(data["classes"])
        items = data["items"]
        index = {c: i for i, c in enumerate(classes)}
        return cls(keys, classes,
                   np.array([index[items[k]["label"]] for k in keys]),
                   np.array([items[k]["group"] for k in keys]),
                   np.array([items[k]["split"] for k in keys]),
                   ViewCache(run_dir / "features", keys))

    def view(self, backbone: str, view: int) -> np.ndarray:
        if (backbone, view) not in self._loaded:
            self._loaded[(backbone, view)] = np.asarray(self.features.load(backbone, view),
                                                        dtype=np.float32)
        return self._loaded[(backbone, view)]

    def x(self, backbones: tuple[str, ...], rows: np.ndarray, view: int = 0) -> np.ndarray:
        return np.concatenate([self.view(b, view)[rows] for b in backbones], axis=1)

    def rows(self, split: str | None = None, *, exclude_group: str | None = None,
             exclude_class: int | None = None) -> np.ndarray:
        keep = np.ones(len(self.keys), dtype=bool)
        if split is not None:
            keep &= self.splits == split
        if exclude_group is not None:
            keep &= self.groups != exclude_group
        if exclude_class is not None:
            keep &= self.labels != exclude_class
        return np.flatnonzero(keep)


@dataclass(frozen=True)
class Fitted:
    recipe: Recipe
    head: LinearHead
    novelty: Novelty
    threshold: float
    curve: list[dict[str, float]]

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        probs = self.head.probabilities(x)
        scores = self.novelty.score(x)
        unsure = fm.unsure_mask(probs, self.threshold, scores, self.novelty.threshold)
        return probs, scores, unsure


def fit(bank: Bank, recipe: Recipe, train: np.ndarray, val: np.ndarray) -> Fitted:
    """Head on every view of ``train``, temperature and both thresholds on ``val`` (view 0)."""
    n_classes = len(bank.classes)
    views = [v for v in recipe.views if bank.features.has(recipe.backbones[0], v)]
    x = np.concatenate([bank.x(recipe.backbones, train, v) for v in views])
    y = np.tile(bank.labels[train], len(views))
    w = np.tile(balance_weights(bank.labels[train].astype(str), bank.groups[train],
                                recipe.source_power), len(views))
    head = fit_linear(x, y, n_classes, w, c=recipe.c)
    x_val, y_val = bank.x(recipe.backbones, val), bank.labels[val]
    head = replace(head, temperature=fit_temperature(head.logits(x_val), y_val))
    novelty = fit_novelty(x[: len(train) * min(2, len(views))],
                          y[: len(train) * min(2, len(views))], n_classes, recipe.novelty_k)
    novelty = with_threshold(novelty, novelty.score(x_val), recipe.novelty_keep)
    probs = head.probabilities(x_val)
    novel = novelty.score(x_val) > novelty.threshold
    curve = []
    for row in fm.risk_coverage(probs, y_val):
        o = fm.outcome(probs, y_val, (probs.max(axis=1) < row["threshold"]) | novel)
        curve.append({**row, "coverage": 1 - o["unsure_rate"],
                      "confidently_wrong": o["confidently_wrong"],
                      "accuracy_when_sure": o["accuracy_when_sure"]})
    threshold = fm.pick_threshold(curve, recipe.max_risk)
    return Fitted(recipe, head, novelty, threshold, curve)


def judge(bank: Bank, model: Fitted, rows: np.ndarray, *, full: bool = False) -> dict[str, Any]:
    probs, _, unsure = model.predict(bank.x(model.recipe.backbones, rows))
    labels = bank.labels[rows]
    if full:
        return fm.full_report(probs, labels, unsure, bank.classes)
    return {**fm.outcome(probs, labels, unsure), "ece": fm.expected_calibration_error(probs,
                                                                                      labels)}


def loso(bank: Bank, recipe: Recipe) -> dict[str, Any]:
    """Leave one source out, for every group that shares a class with another group.

    The held-out group is left out of the head, the temperature and the detector. A member
    extractor trained on that group (``recipe.member_groups``) still carries what it learnt
    from its training images, so such a group is tested on its test split only.
    """
    results: dict[str, Any] = {}
    pooled_probs, pooled_labels, pooled_unsure = [], [], []
    for group in sorted(set(bank.groups)):
        others = bank.groups != group
        taught = {int(c) for c in np.unique(bank.labels[others])}
        held = np.flatnonzero((bank.groups == group)
                              & np.isin(bank.labels, sorted(taught)))
        # classes of this group that another source also has
        shared = {int(c) for c in np.unique(bank.labels[held])
                  if np.any(others & (bank.labels == c))}
        held = held[np.isin(bank.labels[held], sorted(shared))]
        if group in recipe.member_groups:
            held = held[bank.splits[held] == "test"]
        if len(held) == 0:
            continue
        model = fit(bank, recipe, bank.rows("train", exclude_group=group),
                    bank.rows("val", exclude_group=group))
        probs, _, unsure = model.predict(bank.x(recipe.backbones, held))
        labels = bank.labels[held]
        results[group] = {**fm.outcome(probs, labels, unsure),
                          "classes": [bank.classes[c] for c in sorted(shared)]}
        pooled_probs.append(probs)
        pooled_labels.append(labels)
        pooled_unsure.append(unsure)
    probs, labels = np.concatenate(pooled_probs), np.concatenate(pooled_labels)
    unsure = np.concatenate(pooled_unsure)
    results["overall"] = fm.full_report(probs, labels, unsure, bank.classes)
    return results


def loco(bank: Bank, recipe: Recipe) -> dict[str, Any]:
    """Leave one class out: how often its (val + test) images come out "Not sure", and what
    the model does on the known classes' test images meanwhile."""
    results: dict[str, Any] = {}
    for c, name in enumerate(bank.classes):
        model = fit(bank, recipe, bank.rows("train", exclude_class=c),
                    bank.rows("val", exclude_class=c))
        unknown = np.flatnonzero((bank.labels == c) & (bank.splits != "train"))
        probs, scores, unsure = model.predict(bank.x(recipe.backbones, unknown))
        by_prob = probs.max(axis=1) < model.threshold
        known_rows = bank.rows("test", exclude_class=c)
        known = judge(bank, model, known_rows)
        # the same fold with other detector thresholds (quantiles of known validation scores)
        val_scores = model.novelty.score(bank.x(recipe.backbones, bank.rows(
            "val", exclude_class=c)))
        k_probs, k_scores, _ = model.predict(bank.x(recipe.backbones, known_rows))
        by_keep = {}
        for keep in NOVELTY_KEEPS:
            t = float(np.quantile(val_scores, keep)) if keep < 1 else float("inf")
            by_keep[str(keep)] = {
                "unknown_unsure": float(((probs.max(1) < model.threshold) | (scores > t)).mean()),
                "known_unsure": float(((k_probs.max(1) < model.threshold)
                                       | (k_scores > t)).mean())}
        guessed = np.bincount(probs.argmax(axis=1), minlength=len(bank.classes))
        results[name] = {
            "n": len(unknown),
            "unsure_rate": float(unsure.mean()),
            "unsure_by_probability": float(by_prob.mean()),
            "unsure_by_novelty": float((scores > model.novelty.threshold).mean()),
            "confident_wrong_bin_share": float((~unsure).mean()),
            "top_guess": bank.classes[int(guessed.argmax())],
            "known_test": known,
            "by_novelty_keep": by_keep,
        }
    rates = [r["unsure_rate"] for r in results.values()]
    summary = {keep: {k: float(np.mean([r["by_novelty_keep"][keep][k] for r in results.values()]))
                      for k in ("unknown_unsure", "known_unsure")}
               for keep in map(str, NOVELTY_KEEPS)}
    results["mean_unsure_rate"] = float(np.mean(rates))
    results["mean_by_novelty_keep"] = summary
    return results


def recipe_dict(recipe: Recipe) -> dict[str, Any]:
    return asdict(recipe)
