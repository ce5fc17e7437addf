"""Heads on frozen features: softmax regression, temperature, and a novelty detector.

Everything here is NumPy (plus scikit-learn's ``LogisticRegression`` and SciPy's scalar
minimiser for fitting) and small enough to put into the exported ONNX graph as constants:

* :class:`LinearHead` -- standardise the features, then ``logits = z @ W + b``; the
  temperature ``T`` (fitted on validation, :func:`fit_temperature`) divides the logits
  before the softmax, so the shipped probabilities are calibrated.
* :class:`Novelty` -- squared Mahalanobis distance to the nearest class mean with one shared
  covariance, in a whitened PCA space of ``k`` dimensions (the classic detector for frozen
  features; ``k`` keeps the matrix small). An item unlike every class is far from all means;
  the threshold is a quantile of the distances of known validation items.

Arrays are saved with :func:`save` / :func:`load` as ``.npz`` without pickle.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class LinearHead:
    mean: np.ndarray  # (D,)
    scale: np.ndarray  # (D,)
    weight: np.ndarray  # (D, C)
    bias: np.ndarray  # (C,)
    temperature: float = 1.0

    def logits(self, features: np.ndarray) -> np.ndarray:
        z = (np.asarray(features, dtype=np.float32) - self.mean) / self.scale
        return z @ self.weight + self.bias

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        return softmax(self.logits(features) / self.temperature)

    def folded(self) -> tuple[np.ndarray, np.ndarray]:
        """``(W', b')`` with ``features @ W' + b' == logits / T`` (one Dense layer)."""
        w = self.weight / self.scale[:, None]
        b = self.bias - (self.mean / self.scale) @ self.weight
        return (w / self.temperature).astype(np.float32), (b / self.temperature).astype(np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_linear(features: np.ndarray, labels: np.ndarray, n_classes: int,
               sample_weight: np.ndarray | None = None, c: float = 1.0,
               max_iter: int = 300) -> LinearHead:
    """Multinomial logistic regression (L2, strength ``1/c``) on standardised features.

    Every class index in ``range(n_classes)`` gets a row, even one absent from ``labels``
    (its logit is then a large negative constant), so heads of leave-one-class-out runs keep
    the label order of the full model.
    """
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(features, dtype=np.float32)
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-3
    z = (x - mean) / scale
    model = LogisticRegression(C=c, max_iter=max_iter, tol=1e-4)
    model.fit(z, labels, sample_weight=sample_weight)
    weight = np.zeros((x.shape[1], n_classes), dtype=np.float32)
    bias = np.full(n_classes, -30.0, dtype=np.float32)
    present = model.classes_.astype(int)
    coef = model.coef_ if len(present) > 2 else np.vstack([-model.coef_, model.coef_]) / 2
    intercept = (model.intercept_ if len(present) > 2
                 else np.array([-model.intercept_[0], model.intercept_[0]]) / 2)
    weight[:, present] = coef.T
    bias[present] = intercept
    return LinearHead(mean, scale, weight, bias)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising validation negative log-likelihood (Guo et al., 2017)."""
    from scipy.optimize import minimize_scalar

    labels = np.asarray(labels)

    def nll(log_t: float) -> float:
        p = softmax(logits / np.exp(log_t))
        return float(-np.mean(np.log(p[np.arange(len(labels)), labels] + 1e-12)))

    result = minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded")
    return float(np.exp(result.x))


@dataclass(frozen=True)
class Novelty:
    mean: np.ndarray  # (D,)
    projection: np.ndarray  # (D, k): PCA directions divided by sqrt(shared variance)
    centroids: np.ndarray  # (C, k) class means in the whitened space
    threshold: float = float("inf")

    def distances(self, features: np.ndarray) -> np.ndarray:
        """``(N, C)`` squared distances to every class mean."""
        u = (np.asarray(features, dtype=np.float32) - self.mean) @ self.projection
        return ((u[:, None, :] - self.centroids[None, :, :]) ** 2).sum(axis=2)

    def score(self, features: np.ndarray) -> np.ndarray:
        """Distance to the nearest class, divided by the dimension (about 1 for typical
        members of a class)."""
        return self.distances(features).min(axis=1) / self.projection.shape[1]


def fit_novelty(features: np.ndarray, labels: np.ndarray, n_classes: int,
                k: int = 128) -> Novelty:
    """Class means and one shared covariance of the within-class residuals, whitened in
    its top ``k`` principal directions. Absent classes get a centroid at infinity."""
    x = np.asarray(features, dtype=np.float64)
    mean = x.mean(axis=0)
    centred = x - mean
    present = np.unique(labels)
    means = {int(c): centred[labels == c].mean(axis=0) for c in present}
    resid = centred - np.stack([means[int(c)] for c in labels])
    cov = resid.T @ resid / max(1, len(x) - len(present))
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1][:k]
    projection = vectors[:, order] / np.sqrt(values[order] + 1e-6)
    centroids = np.full((n_classes, projection.shape[1]), 1e6)
    for c, m in means.items():
        centroids[c] = m @ projection
    return Novelty(mean.astype(np.float32), projection.astype(np.float32),
                   centroids.astype(np.float32))


def with_threshold(novelty: Novelty, known_scores: np.ndarray, keep: float) -> Novelty:
    """Threshold so that a share ``keep`` of known items' scores is at or below it."""
    return Novelty(novelty.mean, novelty.projection, novelty.centroids,
                   float(np.quantile(known_scores, keep)))


def save(path: Path, **objects: LinearHead | Novelty) -> None:
    arrays: dict[str, np.ndarray] = {}
    for name, obj in objects.items():
        for key, value in asdict(obj).items():
            arrays[f"{name}.{key}"] = np.asarray(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def load(path: Path, name: str, kind: type[LinearHead] | type[Novelty]) -> LinearHead | Novelty:
    with np.load(path, allow_pickle=False) as data:
        values = {}
        for f in fields(kind):
            arr = data[f"{name}.{f.name}"]
            values[f.name] = float(arr) if arr.ndim == 0 else arr
    return kind(**values)
