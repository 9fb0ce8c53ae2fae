"""layerwise.estimators: scikit-learn's own estimator checks, the model-selection tools,
and the same training as scikit-learn's MLP to float64 round-off."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.datasets import (
    load_digits,
    make_classification,
    make_multilabel_classification,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import layerwise as lw
from layerwise.estimators import MLPClassifier, MLPRegressor

# -- scikit-learn's estimator checks --------------------------------------------------

# A float32 network computes in float32, where one rounding (1.2e-7 relative) already
# exceeds the checks' rtol=1e-7, and predicts float32 numbers: what dtype="float32" asks
# for. The default (dtype=None, the input's float type) passes every check.
FLOAT32_FAILURES = {
    "check_sample_weight_equivalence_on_dense_data": (
        "float32 arithmetic: weighted and repeated rows round differently by ~1 ulp "
        "(1.2e-7 relative), above the check's rtol=1e-7"
    ),
    "check_methods_sample_order_invariance": (
        "float32 GEMMs may round a row differently by its position (~1 ulp, above "
        "rtol=1e-7), depending on how OpenBLAS splits the product: seen to fail and pass"
    ),
    "check_regressor_multioutput": "dtype='float32' asks for float32 predictions",
}


def _expected_failed_checks(estimator) -> dict[str, str]:
    return FLOAT32_FAILURES if estimator.dtype == "float32" else {}


# Checks that do not apply: they test a method that MLPClassifier (scikit-learn's as well
# as ours) does not have, and would only report a skip.
NOT_APPLICABLE = {
    "check_classifiers_multilabel_output_format_decision_function",
    "check_decision_proba_consistency",
}


def _checks():
    """scikit-learn's checks for our estimators, less the ones that do not apply."""
    estimators = [
        MLPClassifier(max_iter=100),
        MLPRegressor(max_iter=100),
        MLPClassifier(max_iter=100, dtype="float32"),
        MLPRegressor(max_iter=100, dtype="float32"),
    ]
    marks = parametrize_with_checks(estimators, expected_failed_checks=_expected_failed_checks)
    params = marks.mark.args[1]  # (estimator, check) pairs, some as pytest.param(marks=xfail)

    def name(param):
        check = param.values[1] if hasattr(param, "values") else param[1]
        return getattr(check, "func", check).__name__

    return [p for p in params if name(p) not in NOT_APPLICABLE], marks.mark.kwargs["ids"]


_PARAMS, _IDS = _checks()


@pytest.mark.parametrize(("estimator", "check"), _PARAMS, ids=_IDS)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# -- the same training as scikit-learn's ----------------------------------------------


def _data(kind: str, n: int = 100):
    if kind == "multiclass":
        return make_classification(n, 6, n_informative=4, n_classes=3, random_state=0)
    if kind == "binary":
        return make_classification(n, 6, random_state=1)
    if kind == "multilabel":
        return make_multilabel_classification(n, 6, n_classes=3, random_state=0)
    X, y = make_regression(n, 6, n_targets=2, noise=1.0, random_state=0)
    return X, y / 100


def _pair(kind: str, **params):
    """Our estimator (float64) and scikit-learn's, with the same parameters."""
    if kind == "regression":
        return MLPRegressor(dtype="float64", **params), SkMLPRegressor(**params)
    return MLPClassifier(dtype="float64", **params), SkMLPClassifier(**params)


def _fit_both(ours, theirs, X, y, sample_weight=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y, sample_weight=sample_weight)
        theirs.fit(X, y, sample_weight=sample_weight)


def _max_difference(ours, theirs) -> float:
    ours_params = ours.coefs_ + ours.intercepts_
    theirs_params = theirs.coefs_ + theirs.intercepts_
    assert [p.shape for p in ours_params] == [p.shape for p in theirs_params]
    return max(float(np.abs(a - b).max()) for a, b in zip(ours_params, theirs_params))


def _assert_same_training(ours, theirs, atol: float = 1e-10) -> None:
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.t_ == theirs.t_
    assert _max_difference(ours, theirs) < atol
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=0, atol=atol)
    assert ours.loss_ == pytest.approx(theirs.loss_, abs=atol)


SOLVERS = {
    "sgd": dict(solver="sgd", momentum=0.0, learning_rate_init=0.1),
    "adam": dict(solver="adam", learning_rate_init=0.01),
}
# 20 epochs in order (shuffle=False), every epoch run (tol=0), 4 batches of 25.
EPOCHS = dict(max_iter=20, shuffle=False, tol=0.0, n_iter_no_change=1000, batch_size=25)


@pytest.mark.parametrize("alpha", [0.0, 0.1])
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel", "regression"])
def test_same_training_as_sklearn(kind, solver, alpha):
    X, y = _data(kind)
    params = dict(hidden_layer_sizes=(7, 5), random_state=0, alpha=alpha, **SOLVERS[solver])
    ours, theirs = _pair(kind, **params, **EPOCHS)
    # The initial weights are scikit-learn's, drawn from the same random_state.
    before = _pair(kind, **dict(params, max_iter=1, learning_rate_init=1e-300))
    _fit_both(*before, X, y)
    assert _max_difference(*before) < 1e-15
    _fit_both(ours, theirs, X, y)
    _assert_same_training(ours, theirs)
    if kind == "regression":
        np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=0, atol=1e-12)
    else:
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-12)
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


@pytest.mark.parametrize(
    "kind, params",
    [
        # the last of 4 batches has 10 rows: the L2 term is divided by 10 there
        ("multiclass", dict(solver="sgd", momentum=0.9, nesterovs_momentum=True)),
        ("regression", dict(solver="adam", learning_rate_init=0.01)),
        # the rate changes every epoch: the momentum keeps scikit-learn's velocity
        ("multiclass", dict(solver="sgd", momentum=0.9, learning_rate="invscaling")),
        ("binary", dict(solver="sgd", momentum=0.5, nesterovs_momentum=False)),
    ],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_same_training_with_uneven_batches_and_weights(kind, params, weighted):
    X, y = _data(kind)
    w = np.random.default_rng(0).integers(0, 4, len(X)).astype(float) if weighted else None
    settings = dict(EPOCHS, batch_size=30, hidden_layer_sizes=(7,), random_state=0, alpha=0.05)
    ours, theirs = _pair(kind, **settings, **{"learning_rate_init": 0.05, **params})
    _fit_both(ours, theirs, X, y, sample_weight=w)
    _assert_same_training(ours, theirs)


@pytest.mark.parametrize("activation", ["logistic", "tanh", "identity"])
def test_same_training_for_every_activation(activation):
    X, y = _data("multiclass")
    ours, theirs = _pair(
        "multiclass", activation=activation, hidden_layer_sizes=(6, 4), random_state=2,
        alpha=0.01, learning_rate_init=0.01, **EPOCHS,
    )  # fmt: skip
    _fit_both(ours, theirs, X, y)
    _assert_same_training(ours, theirs)


@pytest.mark.parametrize(
    "solver, learning_rate", [("adam", "constant"), ("sgd", "adaptive"), ("sgd", "constant")]
)
def test_same_convergence_as_sklearn(solver, learning_rate):
    """Stopping on the training loss, and "adaptive" dividing the rate by 5 instead of
    stopping until it is at most 1e-6: the same epochs and the same final rate."""
    X, y = _data("multiclass")
    ours, theirs = _pair(
        "multiclass", solver=solver, learning_rate=learning_rate, learning_rate_init=0.3
        if solver == "sgd" else 0.01, momentum=0.5, hidden_layer_sizes=(7,), max_iter=400,
        shuffle=False, random_state=0, batch_size=30, tol=1e-3, n_iter_no_change=3,
    )  # fmt: skip
    _fit_both(ours, theirs, X, y)
    assert 5 < theirs.n_iter_ < 400
    _assert_same_training(ours, theirs)
    assert ours.best_loss_ == pytest.approx(theirs.best_loss_, abs=1e-10)
    if solver == "sgd":  # (Adam's learning_rate is scikit-learn's bias-corrected step)
        assert ours._optimizer.lr == pytest.approx(theirs._optimizer.learning_rate, rel=1e-12)
    if learning_rate == "adaptive":
        assert ours._optimizer.lr < 0.3 / 5


@pytest.mark.parametrize("kind", ["multiclass", "binary", "regression"])
def test_same_early_stopping_as_sklearn(kind):
    """The same validation rows, scores, stop, and the best epoch's weights restored."""
    X, y = _data(kind, n=150)
    ours, theirs = _pair(
        kind, hidden_layer_sizes=(7,), max_iter=300, shuffle=False, random_state=3,
        batch_size=16, early_stopping=True, n_iter_no_change=4, learning_rate_init=0.1,
    )  # fmt: skip
    _fit_both(ours, theirs, X, y)
    assert theirs.n_iter_ < 300
    _assert_same_training(ours, theirs)
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_, atol=1e-12)
    assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_)
    assert ours.best_loss_ is None
    # The best epoch (the last that beat every earlier one) is not the last epoch, so the
    # weights equal scikit-learn's only because both restored the best epoch's.
    scores = ours.validation_scores_
    best = max(i for i, s in enumerate(scores) if s > max(scores[:i], default=-np.inf))
    assert best < ours.n_iter_ - 1


# -- going on: partial_fit, warm_start, pickling ---------------------------------------


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_partial_fit_epoch_by_epoch_equals_fit(kind):
    """Bit for bit, with shuffled batches: the same optimizer and batch-order generator."""
    X, y = _data(kind)
    cls = MLPRegressor if kind == "regression" else MLPClassifier
    settings = dict(hidden_layer_sizes=(8,), random_state=0, batch_size=16, tol=0.0, max_iter=6)
    with pytest.warns(ConvergenceWarning):
        fitted = cls(**settings).fit(X, y)
    stepped = cls(**settings)
    for _ in range(6):
        if kind == "regression":
            stepped.partial_fit(X, y)
        else:
            stepped.partial_fit(X, y, classes=np.unique(y))
    for a, b in zip(fitted.coefs_ + fitted.intercepts_, stepped.coefs_ + stepped.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert fitted.loss_curve_ == stepped.loss_curve_
    assert (fitted.t_, fitted.n_iter_, stepped.n_iter_) == (6 * len(X), 6, 1)  # sklearn's n_iter_
    assert stepped.t_ == fitted.t_


def test_warm_start_goes_on_with_the_same_optimizer():
    X, y = _data("multiclass")
    settings = dict(hidden_layer_sizes=(8,), random_state=0, batch_size=16, tol=0.0)
    with pytest.warns(ConvergenceWarning):
        once = MLPClassifier(max_iter=7, **settings).fit(X, y)
    twice = MLPClassifier(max_iter=3, warm_start=True, **settings)
    with pytest.warns(ConvergenceWarning):
        twice.fit(X, y)
        twice.set_params(max_iter=4).fit(X, y)
    for a, b in zip(once.coefs_, twice.coefs_):
        np.testing.assert_array_equal(a, b)
    assert once.loss_curve_ == twice.loss_curve_
    # A changed setting of the optimizer starts a new one, as scikit-learn does.
    optimizer = twice._optimizer
    with pytest.warns(ConvergenceWarning):
        twice.set_params(max_iter=1).fit(X, y)
    assert twice._optimizer is optimizer
    with pytest.warns(ConvergenceWarning):
        twice.set_params(learning_rate_init=1e-4).fit(X, y)
    assert twice._optimizer is not optimizer and twice._optimizer.lr == 1e-4
    # Without warm_start, fit starts again from scikit-learn's initial weights.
    with pytest.warns(ConvergenceWarning):
        again = twice.set_params(warm_start=False, max_iter=7, learning_rate_init=1e-3).fit(X, y)
    np.testing.assert_array_equal(again.coefs_[0], once.coefs_[0])


def test_warm_start_refuses_another_network():
    X, y = _data("multiclass")
    est = MLPClassifier((8,), max_iter=2, warm_start=True, random_state=0)
    with pytest.warns(ConvergenceWarning):
        est.fit(X, y)
    with pytest.raises(ValueError, match="layer sizes changed"):
        est.set_params(hidden_layer_sizes=(9,)).fit(X, y)
    with pytest.raises(ValueError, match="dtype changed"):
        est.set_params(hidden_layer_sizes=(8,), dtype="float32").fit(X, y)
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same"):
        est.set_params(dtype=None).fit(X, y % 2)


def test_pickle_then_go_on_equals_going_on():
    X, y = _data("multiclass")
    est = MLPClassifier((8,), random_state=0, batch_size=16)
    est.partial_fit(X, y, classes=[0, 1, 2])
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(copy.predict_proba(X), est.predict_proba(X))
    # One flat parameter buffer again, with the optimizer's state carried over.
    assert lw.optim.flat_base([p for p, _ in copy.model_.parameters().values()]) is not None
    est.partial_fit(X, y)
    copy.partial_fit(X, y)
    for a, b in zip(est.coefs_ + est.intercepts_, copy.coefs_ + copy.intercepts_):
        np.testing.assert_array_equal(a, b)


def test_clone_is_unfitted_and_equal_in_parameters():
    est = MLPRegressor((5, 3), alpha=0.1, optimizer=lw.SGD(lr=0.01), dtype="float32")
    twin = clone(est)
    assert twin.get_params()["hidden_layer_sizes"] == (5, 3)
    assert twin.get_params()["optimizer"] is not est.optimizer  # deep-copied by clone
    with pytest.raises(NotFittedError):
        twin.predict(np.zeros((2, 4)))


# -- scikit-learn's model selection --------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600], y[:600]


def test_pipeline_grid_search_and_cross_validation(digits):
    X, y = digits
    clf = MLPClassifier(max_iter=20, learning_rate_init=0.01, random_state=0)
    pipe = make_pipeline(StandardScaler(), clf)
    grid = {"mlpclassifier__alpha": [1e-4, 3.0], "mlpclassifier__hidden_layer_sizes": [(8,), (32,)]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(pipe, grid, cv=3).fit(X, y)
        # Every candidate's scores are those of a clone set to its parameters: the
        # parameters reach the network, and the same random_state repeats a fit.
        for i, params in enumerate(search.cv_results_["params"]):
            scores = cross_val_score(clone(pipe).set_params(**params), X, y, cv=3)
            splits = [search.cv_results_[f"split{k}_test_score"][i] for k in range(3)]
            np.testing.assert_array_equal(scores, splits)
    assert len(set(search.cv_results_["mean_test_score"])) == 4  # alpha matters too
    best = search.best_estimator_[-1]
    width = search.best_params_["mlpclassifier__hidden_layer_sizes"][0]
    assert best.coefs_[0].shape == (64, width)
    assert search.score(X, y) > 0.9


def test_save_the_network_as_safetensors(digits, tmp_path):
    X, y = digits
    with pytest.warns(ConvergenceWarning):
        clf = MLPClassifier((16,), max_iter=5, random_state=0).fit(X / 16, y)
    lw.save(clf.model_, tmp_path / "digits.safetensors")
    model = lw.load(tmp_path / "digits.safetensors")
    logits = model.predict(X / 16)
    np.testing.assert_allclose(lw.activations.softmax(logits), clf.predict_proba(X / 16))


# -- targets, weights, outputs -------------------------------------------------------


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_string_labels_and_binary_probabilities():
    X, y = _data("binary")
    labels = np.array(["no", "yes"])[y]
    clf = MLPClassifier((6,), max_iter=300, random_state=0).fit(X, labels)
    assert list(clf.classes_) == ["no", "yes"]
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 1
    assert set(clf.predict(X)) <= {"no", "yes"} and clf.score(X, labels) > 0.85
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_multilabel_and_multioutput_shapes():
    X, Y = _data("multilabel")
    clf = MLPClassifier((8,), max_iter=300, random_state=0).fit(X, Y)
    assert clf.predict(X).shape == Y.shape and clf.predict_proba(X).shape == Y.shape
    assert clf.out_activation_ == "logistic" and clf.n_layers_ == 3
    X, Y = _data("regression")
    reg = MLPRegressor((8, 8), max_iter=300, random_state=0).fit(X, Y)
    assert reg.predict(X).shape == Y.shape and reg.score(X, Y) > 0.9
    assert reg.out_activation_ == "identity" and reg.n_layers_ == 4 and reg.n_outputs_ == 2


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_a_weight_of_two_is_the_row_twice(cls):
    """Full batch (batch_size="auto" covers 40 rows), SGD, alpha > 0: weight 2 equals the
    row repeated and weight 0 the row removed, to round-off."""
    X, y = _data("multiclass" if cls is MLPClassifier else "regression", n=40)
    w = np.ones(len(X))
    w[:5], w[5:8] = 2.0, 0.0
    keep = np.repeat(np.arange(len(X)), w.astype(int))
    settings = dict(hidden_layer_sizes=(6,), solver="sgd", learning_rate_init=0.1, alpha=1e-2)
    settings.update(max_iter=30, tol=0.0, random_state=0)
    with pytest.warns(ConvergenceWarning):
        weighted = cls(**settings).fit(X, y, sample_weight=w)
        repeated = cls(**settings).fit(X[keep], y[keep])
        unweighted = cls(**settings).fit(X, y)
    for a, b in zip(weighted.coefs_, repeated.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-10)
    assert _max_difference(weighted, unweighted) > 1e-3


def test_no_hidden_layer():
    X, y = _data("multiclass")
    ours, theirs = _pair("multiclass", hidden_layer_sizes=(), random_state=0, **EPOCHS)
    _fit_both(ours, theirs, X, y)
    assert ours.n_layers_ == 2 and len(ours.coefs_) == 1
    _assert_same_training(ours, theirs)


@pytest.mark.parametrize("given", ["float32", np.float32, None])
def test_float_types(given):
    X, y = _data("multiclass")
    X32 = X.astype(np.float32)
    with pytest.warns(ConvergenceWarning):
        from64 = MLPClassifier((4,), max_iter=2, dtype=given).fit(X, y)
        from32 = MLPClassifier((4,), max_iter=2, dtype=given).fit(X32, y)
    expected = np.float64 if given is None else np.float32  # None: as scikit-learn
    assert from64.model_.dtype == expected and from64.coefs_[0].dtype == expected
    assert from64.predict_proba(X).dtype == expected
    assert from32.model_.dtype == np.float32 and from32.predict_proba(X).dtype == np.float32


def test_coefs_are_views_of_the_network():
    X, y = _data("regression")
    with pytest.warns(ConvergenceWarning):
        reg = MLPRegressor((4,), max_iter=2, random_state=0).fit(X, y)
    reg.coefs_[-1][...] = 0
    reg.intercepts_[-1][...] = 1.5
    np.testing.assert_array_equal(reg.predict(X), 1.5)


# -- layerwise's own parameters -------------------------------------------------------


def test_an_optimizer_object_is_used_and_left_alone():
    X, y = _data("multiclass")
    rmsprop = lw.RMSProp(lr=0.01)
    clf = MLPClassifier((8,), optimizer=rmsprop, max_iter=300, random_state=0).fit(X, y)
    assert isinstance(clf._optimizer, lw.RMSProp) and clf._optimizer is not rmsprop
    assert rmsprop.step_count == 0 and clf._optimizer.step_count > 0
    assert clf.score(X, y) > 0.8
    with pytest.raises(ValueError, match="both regularize the weights: set alpha=0"):
        MLPClassifier(optimizer=lw.AdamW(), max_iter=1).fit(X, y)
    with pytest.warns(ConvergenceWarning):
        MLPClassifier(optimizer=lw.AdamW(), alpha=0.0, max_iter=1).fit(X, y)


def test_dropout_is_seeded_and_off_at_prediction():
    X, y = _data("multiclass")
    settings = dict(hidden_layer_sizes=(16,), dropout=0.3, random_state=0, max_iter=5)
    with pytest.warns(ConvergenceWarning):
        a = MLPClassifier(**settings).fit(X, y)
        b = MLPClassifier(**settings).fit(X, y)
        c = MLPClassifier(**dict(settings, dropout=0.0)).fit(X, y)
    assert any(isinstance(layer, lw.Dropout) for layer in a.model_.layers)
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
    assert _max_difference(a, c) > 1e-6
    np.testing.assert_array_equal(a.predict_proba(X), a.predict_proba(X))


# -- messages -----------------------------------------------------------------------


def test_not_fitted():
    clf = MLPClassifier()
    with pytest.raises(NotFittedError, match="is not fitted yet"):
        clf.predict(np.zeros((2, 3)))
    with pytest.raises(AttributeError):
        clf.coefs_  # noqa: B018


def test_convergence_warning_only_when_max_iter_is_reached():
    X, y = _data("multiclass")
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\) reached"):
        MLPClassifier((8,), max_iter=3, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = MLPClassifier((8,), max_iter=500, tol=0.05, n_iter_no_change=2, random_state=0)
        clf.fit(X, y)
    assert clf.n_iter_ < 500


def test_lbfgs_and_poisson_are_refused_with_advice():
    X, y = _data("multiclass")
    clf = MLPClassifier(solver="lbfgs")
    with pytest.raises(ValueError, match="no solver='lbfgs'.*Use solver='adam'"):
        clf.fit(X, y)
    assert not hasattr(clf, "partial_fit")  # as scikit-learn: only stochastic solvers
    with pytest.raises(ValueError, match="no loss='poisson'"):
        MLPRegressor(loss="poisson").fit(X, y.astype(float))


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(alpha=-1.0), r"The 'alpha' parameter of MLPClassifier must be a float in the "
         r"range \[0.0, inf\)\. Got -1.0 instead"),
        (dict(solver="newton"), r"The 'solver' parameter of MLPClassifier must be a str among"),
        (dict(dtype="float16"), r"The 'dtype' parameter of MLPClassifier must be None"),
        (dict(dropout=1.0), r"The 'dropout' parameter of MLPClassifier must be a float in"),
        (dict(optimizer="adam"), r"The 'optimizer' parameter of MLPClassifier must be None or "
         r"an instance of 'layerwise.optim.Optimizer'"),
        (dict(hidden_layer_sizes=(10, 0)), r"hidden_layer_sizes must be > 0, got \[10, 0\]"),
        (dict(hidden_layer_sizes=(10, 2.5)), r"hidden_layer_sizes must hold integers"),
    ],
)  # fmt: skip
def test_bad_parameters(params, message):
    X, y = _data("multiclass")
    with pytest.raises(ValueError, match=message):
        MLPClassifier(**params).fit(X, y)


def test_bad_calls():
    X, y = _data("multiclass")
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        MLPClassifier().partial_fit(X, y)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(TypeError, match="dense data is required"):
        MLPClassifier().fit(sparse.csr_matrix(X), y)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        MLPClassifier().fit(np.where(X > 2, np.nan, X), y)
    with pytest.raises(ValueError, match="The validation set is too small"):
        MLPClassifier(early_stopping=True, validation_fraction=0.01).fit(X, y)
    with pytest.warns(UserWarning, match="It is going to be clipped"):
        with pytest.warns(ConvergenceWarning):
            MLPClassifier(batch_size=500, max_iter=1).fit(X, y)


def test_divergence_is_a_clear_value_error():
    X, y = _data("regression")
    reg = MLPRegressor((8,), solver="sgd", momentum=0.0, learning_rate_init=1e12, random_state=0)
    with pytest.raises(lw.DivergenceError, match="Training diverged.*lower learning rate"):
        reg.fit(X * 1e3, y * 1e3)


def test_verbose_prints_as_sklearn(capsys):
    X, y = _data("multiclass")
    with pytest.warns(ConvergenceWarning):
        MLPClassifier((4,), max_iter=2, verbose=True, random_state=0).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == ["Iteration 1", "Iteration 2"]
    assert lines[0].startswith("Iteration 1, loss = ") and len(lines[0].split("= ")[1]) == 10


def test_feature_names_in():
    pd = pytest.importorskip("pandas")
    X, y = _data("multiclass")
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    with pytest.warns(ConvergenceWarning):
        clf = MLPClassifier((4,), max_iter=2).fit(frame, y)
    assert list(clf.feature_names_in_) == list(frame.columns)
