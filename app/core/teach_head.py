"""The head a station teaches: softmax regression on a base model's features, in NumPy.

The features of one image are the base model's pooled ``embedding`` followed by the logarithm
of its class probabilities (clipped at :data:`LOG_FLOOR`): the embedding carries what the
image looks like, the base probabilities what the base model learnt from thousands of photos
about the classes it knows. In a one-off comparison on the training module's cached float
features (20 garbage12 photos per class of eight classes, tested on the other sources), the
embedding alone gave 78 % and with the base probabilities 92-94 %; ``bench/teach_bench.py``
measures the shipped path end to end.

Both blocks are standardised with the examples' mean and spread; the base block is then
multiplied by ``base_weight``. The fit is multinomial logistic regression with an L2 penalty,
the objective ``mean(cross-entropy) + |W|^2 / (2 * c * n)`` that scikit-learn's
``LogisticRegression(C=c)`` minimises, solved with Nesterov's accelerated gradient (the
problem is smooth and strongly convex, so a fixed step of ``1 / L`` converges).
:func:`select` picks ``base_weight`` and ``c`` by stratified cross-validation on the examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

LOG_FLOOR = float(np.log(1e-4))
BASE_WEIGHTS = (0.0, 3.0, 10.0, 30.0)
STRENGTHS = (0.03, 0.1)
MIN_SPREAD = 1e-3


@dataclass(frozen=True)
class Head:
    """``probabilities = softmax(((x - mean) * inv_scale) @ weight + bias)``."""

    mean: FloatArray  # (D,)
    inv_scale: FloatArray  # (D,), the base block already multiplied by its weight
    weight: FloatArray  # (D, C)
    bias: FloatArray  # (C,)

    def logits(self, features: FloatArray) -> FloatArray:
        z = (np.asarray(features, np.float32) - self.mean) * self.inv_scale
        return np.asarray(z @ self.weight + self.bias, np.float32)

    def probabilities(self, features: FloatArray) -> FloatArray:
        return softmax(self.logits(features))

    def folded(self) -> tuple[FloatArray, FloatArray]:
        """``(W', b')`` with ``features @ W' + b' == logits`` (one MatMul and one Add)."""
        w = self.weight * self.inv_scale[:, None]
        b = self.bias - (self.mean * self.inv_scale) @ self.weight
        return w.astype(np.float32), b.astype(np.float32)


def softmax(logits: npt.NDArray[np.floating]) -> FloatArray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True), np.float32)


def teaching_features(embedding: FloatArray, base_probabilities: FloatArray) -> FloatArray:
    """One row per image: the embedding, then ``log(max(p, 1e-4))`` of the base classes."""
    logp = np.log(np.clip(np.asarray(base_probabilities, np.float64), np.exp(LOG_FLOOR), 1.0))
    return np.hstack([np.asarray(embedding, np.float32), logp.astype(np.float32)])


def fit(
    features: FloatArray,
    labels: IntArray,
    n_classes: int,
    *,
    base_dims: int,
    base_weight: float = 3.0,
    c: float = 0.1,
    max_iter: int = 800,
    tol: float = 1e-5,
) -> Head:
    """Fit the head; the last ``base_dims`` columns of ``features`` are the base block."""
    x = np.asarray(features, np.float64)
    y = np.asarray(labels, np.int64)
    if x.ndim != 2 or len(x) != len(y) or len(y) == 0:
        raise ValueError("features must be (n, d) with one label per row")
    mean = x.mean(axis=0)
    inv = 1.0 / (x.std(axis=0) + MIN_SPREAD)
    if base_dims:
        inv[-base_dims:] *= base_weight
    z = (x - mean) * inv
    keep = inv > 0
    zk = z[:, keep]
    # The penalised optimum's W lies in the span of the examples (its gradient is z.T @ g +
    # lam * W), so with fewer examples than features solve in that span: (n, n) not (n, d).
    basis = None
    if len(zk) < zk.shape[1]:
        _, s, vt = np.linalg.svd(zk, full_matrices=False)
        rank = s > s[0] * 1e-7 if len(s) and s[0] > 0 else np.zeros(len(s), bool)
        basis = vt[rank]
        zk = zk @ basis.T
    w, b = _solve(zk, y, n_classes, 1.0 / (c * len(y)), max_iter, tol)
    if basis is not None:
        w = basis.T @ w
    weight = np.zeros((x.shape[1], n_classes))
    weight[keep] = w
    return Head(mean.astype(np.float32), inv.astype(np.float32), weight.astype(np.float32),
                b.astype(np.float32))


def _solve(z: npt.NDArray[np.float64], y: IntArray, n_classes: int, lam: float,
           max_iter: int, tol: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Minimise ``mean CE(softmax(z W + b), y) + lam/2 |W|^2`` (b unpenalised)."""
    n, d = z.shape
    onehot = np.zeros((n, n_classes))
    onehot[np.arange(n), y] = 1.0
    # Lipschitz constant of the gradient: the softmax Hessian is at most 1/2 * I per row.
    sigma = _top_singular_value(np.hstack([z, np.ones((n, 1))]))
    step = 1.0 / (0.5 * sigma * sigma / n + lam)
    mu = lam  # strong convexity in W
    momentum = (1.0 - np.sqrt(mu * step)) / (1.0 + np.sqrt(mu * step))
    w = np.zeros((d, n_classes))
    b = np.zeros(n_classes)
    w_prev, b_prev = w, b
    for _ in range(max_iter):
        vw = w + momentum * (w - w_prev)
        vb = b + momentum * (b - b_prev)
        p = softmax(z @ vw + vb).astype(np.float64)
        g = (p - onehot) / n
        gw = z.T @ g + lam * vw
        gb = g.sum(axis=0)
        w_prev, b_prev = w, b
        w = vw - step * gw
        b = vb - step * gb
        if np.sqrt((gw * gw).sum() + (gb * gb).sum()) < tol:
            break
    return w, b


def _top_singular_value(a: npt.NDArray[np.float64], iterations: int = 30) -> float:
    rng = np.random.default_rng(0)
    v = np.asarray(rng.standard_normal(a.shape[1]), np.float64)
    for _ in range(iterations):
        v = a.T @ (a @ v)
        v = v / max(float(np.linalg.norm(v)), 1e-30)
    return float(np.linalg.norm(a @ v)) * 1.01


def folds(labels: IntArray, k: int, seed: int = 0) -> list[IntArray]:
    """Stratified folds: each class's examples dealt round-robin (shuffled) into ``k`` folds."""
    rng = np.random.default_rng(seed)
    out: list[list[int]] = [[] for _ in range(k)]
    offset = 0
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        for j, i in enumerate(idx):
            out[(offset + j) % k].append(int(i))
        offset += len(idx)
    return [np.asarray(sorted(f), np.int64) for f in out if f]


def cross_val_probabilities(
    features: FloatArray, labels: IntArray, n_classes: int, *, base_dims: int,
    base_weight: float, c: float, k: int = 5,
) -> FloatArray:
    """Out-of-fold probabilities: each example scored by a head fitted without its fold."""
    probs = np.zeros((len(labels), n_classes), np.float32)
    for fold in folds(labels, k):
        train = np.setdiff1d(np.arange(len(labels)), fold)
        head = fit(features[train], labels[train], n_classes, base_dims=base_dims,
                   base_weight=base_weight, c=c)
        probs[fold] = head.probabilities(features[fold])
    return probs


@dataclass(frozen=True)
class Selection:
    base_weight: float
    c: float
    accuracy: float  # cross-validated, of the chosen setting
    probabilities: FloatArray  # its out-of-fold probabilities


def select(
    features: FloatArray, labels: IntArray, n_classes: int, *, base_dims: int,
    base_weights: Sequence[float] = BASE_WEIGHTS, strengths: Sequence[float] = STRENGTHS,
    k: int = 5,
) -> Selection:
    """The setting with the best cross-validated accuracy (ties: the first, i.e. simpler)."""
    best: Selection | None = None
    weights = base_weights if base_dims else (0.0,)
    for base_weight in weights:
        for c in strengths:
            probs = cross_val_probabilities(features, labels, n_classes, base_dims=base_dims,
                                            base_weight=base_weight, c=c, k=k)
            acc = float((probs.argmax(axis=1) == labels).mean())
            if best is None or acc > best.accuracy + 1e-9:
                best = Selection(base_weight, c, acc, probs)
    assert best is not None
    return best


def unsure_threshold(probabilities: FloatArray, labels: IntArray,
                     max_confident_wrong: float = 0.05) -> float:
    """The lowest confidence at which, out of fold, at most ``max_confident_wrong`` of all
    examples would be answered wrongly; never below 0.5."""
    conf = probabilities.max(axis=1)
    wrong = probabilities.argmax(axis=1) != labels
    for t in np.unique(np.concatenate([[0.5], conf[conf >= 0.5]])):
        if (wrong & (conf >= t)).mean() <= max_confident_wrong:
            return float(round(t, 3))
    return 0.99
