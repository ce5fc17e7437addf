"""The teaching head (app.core.teach_head): the NumPy fit against scikit-learn,
cross-validation folds, the choice of settings and the unsure threshold."""

from __future__ import annotations

import numpy as np
import pytest

from app.core import teach_head

# --------------------------------------------------------------------------- the head


def _problem(n: int, d: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A small random problem a linear model can mostly (not perfectly) separate."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % k).astype(np.int64)
    x = rng.normal(size=(n, d))
    x[np.arange(n), y % d] += 1.5
    return x.astype(np.float32), y


def _standardised(x: np.ndarray, base_dims: int = 0, base_weight: float = 1.0) -> np.ndarray:
    """What ``fit`` standardises its features to (the space the weights live in)."""
    x64 = np.asarray(x, np.float64)
    z = (x64 - x64.mean(axis=0)) / (x64.std(axis=0) + teach_head.MIN_SPREAD)
    if base_dims:
        z[:, -base_dims:] *= base_weight
    return z


def _sklearn(z: np.ndarray, y: np.ndarray, c: float):  # type: ignore[no-untyped-def]
    linear_model = pytest.importorskip("sklearn.linear_model")
    return linear_model.LogisticRegression(C=c, max_iter=10_000, tol=1e-10).fit(z, y)


@pytest.mark.parametrize(
    ("n", "d", "k", "c"),
    [(60, 5, 3, 0.1), (60, 5, 3, 1.0), (80, 6, 4, 0.3)],
)
def test_fit_matches_sklearn_logistic_regression(n: int, d: int, k: int, c: float) -> None:
    x, y = _problem(n, d, k)
    head = teach_head.fit(x, y, k, base_dims=0, c=c)
    z = _standardised(x)
    sk = _sklearn(z, y, c)
    ours = head.probabilities(x)
    theirs = sk.predict_proba(z)
    assert ours.shape == (n, k)
    np.testing.assert_array_equal(ours.argmax(axis=1), sk.predict(z))
    np.testing.assert_allclose(ours, theirs, atol=1e-3)
    np.testing.assert_allclose(head.weight, sk.coef_.T, atol=1e-3)
    # Not a trivially easy problem: the penalty matters, so a wrong objective would show.
    assert 0.5 < float((ours.argmax(axis=1) == y).mean()) < 1.0


@pytest.mark.parametrize(("n", "k", "c"), [(12, 3, 0.1), (12, 4, 1.0), (9, 3, 0.03)])
def test_fewer_examples_than_features_matches_sklearn(n: int, k: int, c: float) -> None:
    """n < d: the fit is solved in the span of the examples (an SVD), same optimum."""
    d = 40
    x, y = _problem(n, d, k, seed=3)
    head = teach_head.fit(x, y, k, base_dims=0, c=c)
    z = _standardised(x)
    sk = _sklearn(z, y, c)
    np.testing.assert_array_equal(head.probabilities(x).argmax(axis=1), sk.predict(z))
    np.testing.assert_allclose(head.probabilities(x), sk.predict_proba(z), atol=1e-3)
    np.testing.assert_allclose(head.weight, sk.coef_.T, atol=1e-3)
    # ... and it generalises like sklearn's on points it never saw.
    fresh, _ = _problem(30, d, k, seed=4)
    z_fresh = (fresh - x.mean(axis=0)) / (x.std(axis=0) + teach_head.MIN_SPREAD)
    np.testing.assert_allclose(head.probabilities(fresh), sk.predict_proba(z_fresh), atol=1e-3)


def test_two_classes_match_binary_sklearn_with_twice_c() -> None:
    """sklearn fits two classes with one weight vector: the same model as the head's
    symmetric two-vector softmax at twice the C (the penalty counts both halves)."""
    x, y = _problem(30, 8, 2, seed=5)
    c = 0.1
    head = teach_head.fit(x, y, 2, base_dims=0, c=c)
    z = _standardised(x)
    sk = _sklearn(z, y, 2 * c)
    np.testing.assert_allclose(head.probabilities(x), sk.predict_proba(z), atol=1e-3)
    np.testing.assert_allclose(head.weight[:, 1] - head.weight[:, 0], sk.coef_[0], atol=1e-3)


def test_base_block_is_weighted() -> None:
    x, y = _problem(40, 6, 3, seed=6)
    head = teach_head.fit(x, y, 3, base_dims=2, base_weight=3.0, c=0.3)
    z = _standardised(x, base_dims=2, base_weight=3.0)
    sk = _sklearn(z, y, 0.3)
    np.testing.assert_allclose(head.probabilities(x), sk.predict_proba(z), atol=1e-3)
    spread = 1.0 / (x.std(axis=0) + teach_head.MIN_SPREAD)
    np.testing.assert_allclose(head.inv_scale[-2:], 3.0 * spread[-2:], rtol=1e-5)
    np.testing.assert_allclose(head.inv_scale[:-2], spread[:-2], rtol=1e-5)


def test_base_weight_zero_ignores_the_base_block() -> None:
    x, y = _problem(40, 6, 3, seed=7)
    head = teach_head.fit(x, y, 3, base_dims=2, base_weight=0.0, c=0.1)
    alone = teach_head.fit(x[:, :-2], y, 3, base_dims=0, c=0.1)
    assert np.all(head.weight[-2:] == 0.0)
    assert np.all(head.inv_scale[-2:] == 0.0)
    np.testing.assert_allclose(head.probabilities(x), alone.probabilities(x[:, :-2]), atol=1e-5)
    changed = x.copy()
    changed[:, -2:] = np.random.default_rng(8).normal(size=(40, 2)) * 100
    np.testing.assert_array_equal(head.probabilities(changed), head.probabilities(x))


def test_folded_head_is_one_matmul_and_add() -> None:
    x, y = _problem(30, 5, 3, seed=9)
    head = teach_head.fit(x, y, 3, base_dims=2, base_weight=10.0, c=0.1)
    w, b = head.folded()
    assert w.dtype == np.float32
    assert b.dtype == np.float32
    np.testing.assert_allclose(x @ w + b, head.logits(x), atol=1e-4)
    np.testing.assert_allclose(head.probabilities(x).sum(axis=1), 1.0, atol=1e-6)


def test_fit_rejects_mismatched_rows() -> None:
    x, y = _problem(10, 3, 2)
    with pytest.raises(ValueError, match="one label per row"):
        teach_head.fit(x, y[:-1], 2, base_dims=0)
    with pytest.raises(ValueError, match="one label per row"):
        teach_head.fit(x[:0], y[:0], 2, base_dims=0)


def test_teaching_features_are_embedding_then_floored_log_probabilities() -> None:
    embedding = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    probs = np.array([[0.5, 0.5, 0.0], [1.0, 1e-6, 0.25]], np.float32)
    feats = teach_head.teaching_features(embedding, probs)
    assert feats.shape == (2, 5)
    assert feats.dtype == np.float32
    np.testing.assert_array_equal(feats[:, :2], embedding)
    floor = np.log(1e-4)
    np.testing.assert_allclose(
        feats[:, 2:], [[np.log(0.5), np.log(0.5), floor], [0.0, floor, np.log(0.25)]], rtol=1e-6
    )


@pytest.mark.parametrize("k", [2, 3, 5])
def test_folds_are_stratified_and_cover_every_index_once(k: int) -> None:
    labels = np.array([0] * 11 + [1] * 7 + [2] * 3 + [3] * 1, np.int64)
    labels = np.random.default_rng(0).permutation(labels)
    folds = teach_head.folds(labels, k)
    assert len(folds) == k
    joined = np.concatenate(folds)
    np.testing.assert_array_equal(np.sort(joined), np.arange(len(labels)))  # each exactly once
    for cls in range(4):
        n = int((labels == cls).sum())
        per_fold = [int((labels[f] == cls).sum()) for f in folds]
        assert sum(per_fold) == n
        assert max(per_fold) - min(per_fold) <= 1, (cls, per_fold)
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 1, sizes
    assert [f.tolist() for f in teach_head.folds(labels, k)] == [f.tolist() for f in folds]
    assert [f.tolist() for f in teach_head.folds(labels, k, seed=1)] != [
        f.tolist() for f in folds
    ], "the seed shuffles"


def test_folds_never_empty() -> None:
    labels = np.array([0, 0, 1], np.int64)
    folds = teach_head.folds(labels, 5)
    assert len(folds) == 3
    assert all(len(f) == 1 for f in folds)


def test_cross_val_probabilities_are_out_of_fold() -> None:
    x, y = _problem(30, 4, 3, seed=10)
    probs = teach_head.cross_val_probabilities(x, y, 3, base_dims=0, base_weight=0.0, c=0.1, k=3)
    for fold in teach_head.folds(y, 3):
        train = np.setdiff1d(np.arange(30), fold)
        head = teach_head.fit(x[train], y[train], 3, base_dims=0, c=0.1)
        np.testing.assert_allclose(probs[fold], head.probabilities(x[fold]), atol=1e-6)
    full = teach_head.fit(x, y, 3, base_dims=0, c=0.1).probabilities(x)
    assert float(np.abs(full - probs).max()) > 1e-3, "in-sample probabilities would be leaked"


def test_select_uses_the_base_block_when_it_helps() -> None:
    rng = np.random.default_rng(11)
    y = rng.permutation(np.arange(30) % 3).astype(np.int64)
    embedding = rng.normal(size=(30, 3)).astype(np.float32)  # says nothing
    base = np.full((30, 3), 0.05, np.float32)
    base[np.arange(30), y] = 0.9  # the base model knows these classes
    feats = teach_head.teaching_features(embedding, base)
    chosen = teach_head.select(feats, y, 3, base_dims=3, k=3)
    assert chosen.base_weight > 0
    assert chosen.accuracy == 1.0
    assert chosen.probabilities.shape == (30, 3)
    only_embedding = teach_head.select(embedding, y, 3, base_dims=0, k=3)
    assert only_embedding.base_weight == 0.0
    assert only_embedding.accuracy < 0.8


def test_select_ties_go_to_the_first_setting() -> None:
    y = np.repeat(np.arange(3), 6).astype(np.int64)
    embedding = np.eye(3, dtype=np.float32)[y] * 10  # perfectly separable by the embedding
    base = np.full((18, 3), 1 / 3, np.float32)
    chosen = teach_head.select(teach_head.teaching_features(embedding, base), y, 3, base_dims=3)
    assert chosen.accuracy == 1.0
    assert (chosen.base_weight, chosen.c) == (teach_head.BASE_WEIGHTS[0], teach_head.STRENGTHS[0])


def _two_class(confidences: list[float], correct: list[bool]) -> tuple[np.ndarray, np.ndarray]:
    probs = np.array([[c, 1 - c] for c in confidences], np.float32)
    labels = np.array([0 if ok else 1 for ok in correct], np.int64)
    return probs, labels


def test_unsure_threshold_is_half_when_nothing_confident_is_wrong() -> None:
    probs, labels = _two_class([0.9] * 10 + [0.6] * 10, [True] * 20)
    assert teach_head.unsure_threshold(probs, labels) == 0.5


def test_unsure_threshold_rises_above_confident_mistakes() -> None:
    probs, labels = _two_class([0.9] * 18 + [0.7, 0.8], [True] * 18 + [False, False])
    # two wrong of 20 = 10 % at 0.5 and 0.7; at 0.8 one (5 %) is allowed
    assert teach_head.unsure_threshold(probs, labels) == 0.8
    assert teach_head.unsure_threshold(probs, labels, max_confident_wrong=0.0) == 0.9
    assert teach_head.unsure_threshold(probs, labels, max_confident_wrong=0.1) == 0.5


def test_unsure_threshold_when_every_confident_answer_is_wrong() -> None:
    probs, labels = _two_class([0.95] * 10, [False] * 10)
    assert teach_head.unsure_threshold(probs, labels) == 0.99


