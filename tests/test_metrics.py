"""Metrics against scikit-learn's, on random data, with and without sample weights."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

import layerwise as lw
from layerwise import metrics

SEEDS = [0, 1, 2]


def weights_or_none(rng, n, weighted):
    return rng.uniform(0.0, 3.0, n) if weighted else None


def quiet(function, *args, **kwargs):
    """scikit-learn's value, without its warnings (e.g. for a class it never sees)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


# -- classification ---------------------------------------------------------------------


def test_accuracy_from_labels_scores_and_probabilities():
    y = np.array([0, 2, 1, 2])
    scores = np.eye(3)[[0, 2, 2, 2]]
    assert metrics.accuracy(y, scores) == 0.75
    assert metrics.accuracy(np.eye(3)[y], scores) == 0.75
    assert metrics.accuracy(np.array([1, 0, 1]), np.array([[0.9], [0.2], [0.4]])) == pytest.approx(
        2 / 3
    )
    # Logits in one column are compared to 0; float labels are labels, not probabilities.
    assert metrics.accuracy([1, 0, 1], [[2.5], [-0.1], [-3.2]], threshold=0.0) == pytest.approx(
        2 / 3
    )
    assert metrics.accuracy(np.array([0.0, 2.0, 1.0]), np.array([0, 2, 2])) == pytest.approx(2 / 3)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("classes", [2, 3, 7])
@pytest.mark.parametrize("weighted", [False, True])
def test_accuracy_matches_scikit_learn(seed, classes, weighted):
    rng = np.random.default_rng(seed)
    n = 60
    t = rng.integers(0, classes, n)
    scores = rng.normal(size=(n, classes))
    w = weights_or_none(rng, n, weighted)
    expected = skm.accuracy_score(t, scores.argmax(axis=1), sample_weight=w)
    assert metrics.accuracy(t, scores, sample_weight=w) == pytest.approx(expected)
    assert metrics.accuracy(np.eye(classes)[t], scores, sample_weight=w) == pytest.approx(expected)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_accuracy_of_one_probability_column_matches_scikit_learn(seed, weighted):
    rng = np.random.default_rng(seed)
    t, prob = rng.integers(0, 2, 50), rng.uniform(size=(50, 1))
    w = weights_or_none(rng, 50, weighted)
    expected = skm.accuracy_score(t, (prob[:, 0] > 0.5).astype(int), sample_weight=w)
    assert metrics.accuracy(t, prob, sample_weight=w) == pytest.approx(expected)
    assert metrics.accuracy(t.astype(np.float32), prob[:, 0], sample_weight=w) == pytest.approx(
        expected
    )


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("classes", [2, 4])
@pytest.mark.parametrize("weighted", [False, True])
def test_balanced_accuracy_matches_scikit_learn(seed, classes, weighted):
    rng = np.random.default_rng(seed)
    n = 80
    t = rng.choice(classes, n, p=np.arange(1, classes + 1) / np.arange(1, classes + 1).sum())
    scores = rng.normal(size=(n, classes))
    w = weights_or_none(rng, n, weighted)
    expected = skm.balanced_accuracy_score(t, scores.argmax(axis=1), sample_weight=w)
    assert metrics.balanced_accuracy(t, scores, sample_weight=w) == pytest.approx(expected)


def test_balanced_accuracy_skips_classes_absent_from_the_targets():
    t, p = np.array([0, 0, 1, 1, 1]), np.array([0, 2, 1, 1, 0])  # class 2 is only predicted
    expected = quiet(skm.balanced_accuracy_score, t, p)
    assert metrics.balanced_accuracy(t, p) == pytest.approx(expected) == pytest.approx(7 / 12)
    assert metrics.balanced_accuracy([0, 0, 0, 1], [0, 0, 0, 0]) == 0.5
    # A class whose samples all weigh 0 is absent too.
    w = np.array([1.0, 1.0, 0.0, 0.0, 0.0])
    expected = quiet(skm.balanced_accuracy_score, t, p, sample_weight=w)
    assert metrics.balanced_accuracy(t, p, sample_weight=w) == pytest.approx(expected)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("classes", [3, 5, 10])
@pytest.mark.parametrize("weighted", [False, True])
def test_top_k_accuracy_matches_scikit_learn(seed, classes, weighted):
    rng = np.random.default_rng(seed)
    n = 70
    t = rng.integers(0, classes, n)
    w = weights_or_none(rng, n, weighted)
    # Scores from a few values, so that many ties must be broken as scikit-learn does.
    for scores in (rng.normal(size=(n, classes)), rng.integers(0, 3, (n, classes)) / 2):
        for k in range(1, classes + 1):
            expected = quiet(
                skm.top_k_accuracy_score, t, scores, k=k, labels=range(classes), sample_weight=w
            )
            assert metrics.top_k_accuracy(t, scores, k=k, sample_weight=w) == pytest.approx(
                expected
            ), k
            one_hot = np.eye(classes)[t]
            assert metrics.top_k_accuracy(one_hot, scores, k=k, sample_weight=w) == pytest.approx(
                expected
            )


def test_top_k_accuracy_breaks_ties_towards_the_higher_class():
    tied = np.zeros((2, 3))
    assert metrics.top_k_accuracy([2, 0], tied, k=1) == 0.5  # class 2 ranks first
    assert metrics.top_k_accuracy([1, 0], tied, k=2) == 0.5  # classes 2, 1
    assert metrics.top_k_accuracy([1, 0], tied, k=3) == 1.0
    # With two classes and k=1 it is the accuracy of the argmax.
    rng = np.random.default_rng(0)
    t, scores = rng.integers(0, 2, 40), rng.normal(size=(40, 2))
    assert metrics.top_k_accuracy(t, scores, k=1) == metrics.accuracy(t, scores)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_confusion_matrix_matches_scikit_learn(seed, weighted):
    rng = np.random.default_rng(seed)
    t, p = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    w = weights_or_none(rng, 50, weighted)
    mine = metrics.confusion_matrix(t, p, num_classes=6, sample_weight=w)
    expected = skm.confusion_matrix(t, p, labels=range(6), sample_weight=w)
    np.testing.assert_allclose(mine, expected)
    assert mine.dtype == (np.float64 if weighted else np.int64)
    np.testing.assert_array_equal(metrics.confusion_matrix(t, p), skm.confusion_matrix(t, p))


# -- regression -------------------------------------------------------------------------

REGRESSION = [
    (metrics.mse, skm.mean_squared_error),
    (metrics.rmse, skm.root_mean_squared_error),
    (metrics.mae, skm.mean_absolute_error),
    (metrics.r2, skm.r2_score),
]


@pytest.mark.parametrize(("mine", "theirs"), REGRESSION, ids=lambda f: f.__name__)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(40,), (40, 1), (40, 3), (2,)])
@pytest.mark.parametrize("weighted", [False, True])
def test_regression_metrics_match_scikit_learn(mine, theirs, seed, shape, weighted):
    rng = np.random.default_rng(seed)
    t = rng.normal(size=shape) * rng.uniform(0.5, 5.0)
    p = t + rng.normal(size=shape) * rng.uniform(0.1, 2.0)
    w = weights_or_none(rng, shape[0], weighted)
    assert mine(t, p, sample_weight=w) == pytest.approx(theirs(t, p, sample_weight=w))
    assert mine(t.astype(np.float32), p.astype(np.float32)) == pytest.approx(theirs(t, p), rel=1e-5)


@pytest.mark.parametrize(("mine", "theirs"), REGRESSION, ids=lambda f: f.__name__)
def test_regression_metrics_take_one_column_as_a_vector(mine, theirs):
    rng = np.random.default_rng(0)
    t, p = rng.normal(size=30), rng.normal(size=30)
    assert mine(t, p[:, None]) == mine(t[:, None], p) == pytest.approx(theirs(t, p))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(
    ("t", "p"),
    [
        ([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]),  # layerwise 0.4 gave -4.0 here
        ([3.0, 3.0, 3.0, 3.0], [3.0, 3.0, 3.0, 3.0]),  # a perfect prediction
        ([[2.0, 0.0], [2.0, 1.0], [2.0, 2.0]], [[2.0, 0.5], [2.5, 1.0], [2.0, 1.5]]),
        ([[2.0, 0.0], [2.0, 1.0], [2.0, 2.0]], [[2.0, 0.5], [2.0, 1.0], [2.0, 1.5]]),
        ([[-4.0, 7.0], [-4.0, 7.0]], [[-4.0, 6.0], [-4.0, 7.0]]),
    ],
)
def test_r2_of_constant_targets_matches_scikit_learn(t, p, weighted):
    t, p = np.array(t), np.array(p)
    w = np.linspace(0.5, 2.0, len(t)) if weighted else None
    assert metrics.r2(t, p, sample_weight=w) == pytest.approx(skm.r2_score(t, p, sample_weight=w))


def test_r2_tests_constant_targets_exactly():
    # The mean of seven 0.1 is not 0.1 in floating point: scikit-learn divides by a sum of
    # squares of 1e-33 and scores -5e27; the targets are constant, so layerwise says 0.0.
    t = np.full(7, 0.1)
    assert skm.r2_score(t, t + 1e-3) < -1e20
    assert metrics.r2(t, t + 1e-3) == 0.0
    assert metrics.r2(t, t) == 1.0
    # Constant among the samples that count: zero weights leave the others.
    t, p = np.array([1.0, 5.0, 5.0, 5.0]), np.array([9.0, 5.0, 4.0, 6.0])
    w = np.array([0.0, 1.0, 1.0, 2.0])
    assert metrics.r2(t, p, sample_weight=w) == skm.r2_score(t, p, sample_weight=w) == 0.0


def test_r2_of_one_sample_is_undefined_as_in_scikit_learn():
    assert np.isnan(metrics.r2([1.0], [2.0]))
    assert np.isnan(quiet(skm.r2_score, [1.0], [2.0]))


# -- names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "recorded", "function"),
    [
        ("accuracy", "accuracy", metrics.accuracy),
        ("acc", "accuracy", metrics.accuracy),
        ("balanced_accuracy", "balanced_accuracy", metrics.balanced_accuracy),
        ("top_k_accuracy", "top_k_accuracy", metrics.top_k_accuracy),
        ("top_k_categorical_accuracy", "top_k_accuracy", metrics.top_k_accuracy),
        ("mse", "mse", metrics.mse),
        ("mean_squared_error", "mse", metrics.mse),
        ("rmse", "rmse", metrics.rmse),
        ("root_mean_squared_error", "rmse", metrics.rmse),
        ("mae", "mae", metrics.mae),
        ("mean_absolute_error", "mae", metrics.mae),
        ("r2", "r2", metrics.r2),
        ("r2_score", "r2", metrics.r2),
    ],
)
def test_metric_names_resolve_to_the_functions(name, recorded, function):
    assert metrics.get(name) == (recorded, function)


def test_every_registered_metric_takes_sample_weight():
    rng = np.random.default_rng(0)
    t, scores = rng.integers(0, 6, 20), rng.normal(size=(20, 6))
    for name, function in metrics.METRICS.items():
        value = function(t, scores if "acc" in name else scores[:, 0], sample_weight=np.ones(20))
        assert isinstance(value, float), name


def test_functions_are_recorded_under_their_names():
    def top3(y_true, y_pred, *, sample_weight=None):
        return metrics.top_k_accuracy(y_true, y_pred, k=3, sample_weight=sample_weight)

    assert metrics.get(top3) == ("top3", top3)
    assert metrics.get(np.median) == ("median", np.median)
    partial = functools.partial(metrics.top_k_accuracy, k=3)
    assert metrics.get(("top3", partial)) == ("top3", partial)


@pytest.mark.parametrize(
    ("metric", "match"),
    [
        ("f1", r"Unknown metric 'f1'; known: accuracy, acc, balanced_accuracy, .*, r2_score\."),
        ("MSE", "Unknown metric 'MSE'"),
        (lambda t, p: 0.0, "has no name to record it under; define it with def"),
        (functools.partial(metrics.top_k_accuracy, k=3), "has no name to record it under"),
        (("", metrics.mse), r"must be \(name, function\)"),
        (("name", 3), r"must be \(name, function\)"),
        (3, "must be a name .* a function or a"),
    ],
)
def test_unknown_metrics_are_refused(metric, match):
    with pytest.raises(lw.LayerwiseError, match=match):
        metrics.get(metric)


# -- refusals ---------------------------------------------------------------------------

CLASSIFICATION = [
    metrics.accuracy,
    metrics.balanced_accuracy,
    metrics.top_k_accuracy,
    metrics.confusion_matrix,
]
ALL = CLASSIFICATION + [metrics.mse, metrics.rmse, metrics.mae, metrics.r2]


def good_input(function):
    """Three targets and predictions that ``function`` accepts."""
    if function in CLASSIFICATION:
        return np.array([0, 1, 2]), np.eye(6)[[0, 1, 1]]  # top_k_accuracy's k=5 needs 5
    return np.array([0.0, 1.0, 2.0]), np.array([[0.5, 2.0, 1.0]]).T


@pytest.mark.parametrize("function", ALL, ids=lambda f: f.__name__)
def test_every_metric_refuses_mismatched_empty_and_non_finite_input(function):
    name = function.__name__
    good_true, good_pred = good_input(function)
    with pytest.raises(lw.LayerwiseError, match=rf"{name} needs equally many .* got 3 and 2"):
        function(good_true, good_pred[:2])
    with pytest.raises(lw.LayerwiseError, match=rf"{name} needs equally many .* got 0 and 0"):
        function(np.zeros(0), np.zeros((0, good_pred.shape[1])))
    bad = good_pred.copy()
    bad[1, -1] = np.nan
    where = rf"{name}: y_(pred|score) contains nan at index \(1, {bad.shape[1] - 1}\)"
    with pytest.raises(lw.LayerwiseError, match=where):
        function(good_true, bad)
    with pytest.raises(lw.LayerwiseError, match=rf"{name}: y_true must hold numbers"):
        function(np.array(["a", "b", "c"]), good_pred)


@pytest.mark.parametrize("function", ALL, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    ("weights", "match"),
    [
        ([1.0, -1.0, 1.0], r"sample_weight holds a negative weight \(-1.0\)"),
        ([1.0, 1.0], r"sample_weight has shape \(2,\); expected \(3,\)"),
        ([[1.0, 1.0, 1.0]], r"sample_weight has shape \(1, 3\); expected \(3,\)"),
        ([1.0, np.inf, 1.0], "sample_weight contains inf at index"),
        ([1.0, np.nan, 1.0], "sample_weight contains nan at index"),
        ([0.0, 0.0, 0.0], "the sample weights sum to zero"),
    ],
)
def test_every_metric_refuses_bad_weights(function, weights, match):
    with pytest.raises(lw.LayerwiseError, match=rf"{function.__name__}: {match}"):
        function(*good_input(function), sample_weight=weights)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 0}, "k must be a positive integer; got 0"),
        ({"k": 2.0}, "k must be a positive integer; got 2.0"),
        ({"k": 4}, r"k=4 but y_score ranks only 3 classes; pass k from 1 to 3"),
        ({"y_score": np.ones((2, 1))}, r"y_score of shape \(n, classes\) .* got shape \(2, 1\)"),
        ({"y_score": np.ones(2)}, r"got shape \(2,\)"),
        ({"y_true": [0, 3]}, "labels from 0 to 3, but y_score has 3 classes"),
        ({"y_true": [-1, 0]}, "labels from -1 to 0"),
        ({"y_true": [0.5, 1.0]}, "must hold class labels"),
        ({"y_true": [[1, 1, 0], [0, 0, 1]]}, "row 0 sums to 2. Multi-label targets"),
    ],
)
def test_top_k_accuracy_refuses_bad_input(kwargs, match):
    args = {"y_true": [0, 2], "y_score": np.ones((2, 3)), "k": 2} | kwargs
    with pytest.raises(lw.LayerwiseError, match=f"^top_k_accuracy.*{match}"):
        metrics.top_k_accuracy(**args)


def test_other_bad_input_is_refused():
    with pytest.raises(lw.LayerwiseError, match="non-negative integer class labels"):
        metrics.confusion_matrix([0, -1], [0, 1])
    with pytest.raises(lw.LayerwiseError, match="num_classes=2, but the labels go up to 3"):
        metrics.confusion_matrix([0, 3], [0, 1], num_classes=2)
    with pytest.raises(lw.LayerwiseError, match="num_classes must be a positive integer"):
        metrics.confusion_matrix([0, 1], [0, 1], num_classes=0)
    with pytest.raises(lw.LayerwiseError, match=r"y_true of shape \(3, 1\) and y_pred .* \(3, 2\)"):
        metrics.r2(np.zeros(3), np.zeros((3, 2)))
    with pytest.raises(lw.LayerwiseError, match=r"mse: y_pred must be \(n,\) or \(n, columns\)"):
        metrics.mse(np.zeros(2), np.zeros((2, 1, 1)))
    with pytest.raises(lw.LayerwiseError, match="accuracy: y_true rows must be one-hot"):
        metrics.accuracy([[1, 0, 1], [0, 1, 0]], [[0.2, 0.3, 0.5]] * 2)
