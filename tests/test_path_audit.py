"""Regressions of the feature-selection path, the CV estimators and sweep from an audit: failed
CV fits leave nothing behind, path() replaces a CV fit, diverged points select what the path kept,
the fold losses are named for what they hold, the arguments are checked alike in path() and the
CV estimators, and sweep scores a configuration that diverged on a fold as NaN."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.feature_selection import SelectFromModel
from sklearn.metrics import log_loss, mean_squared_error
from sklearn.model_selection import KFold

import sparsitylab.estimators.mlp_cv as mlp_cv
from sparsitylab import (
    SparseMLPClassifierCV,
    SparseMLPRegressor,
    SparseMLPRegressorCV,
    sweep,
)
from sparsitylab.estimators.path import leave_alphas

SMALL = dict(hidden_layer_sizes=(4,), max_epochs=40, random_state=0)


@pytest.fixture(scope="module")
def reg():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 5))
    y = 1.5 * X[:, 0] - X[:, 1] + 0.3 * rng.standard_normal(60)
    return X, (y - y.mean()) / y.std()


@pytest.fixture(scope="module")
def clf():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 4))
    return X, np.where(X[:, 0] > 0.5, "a", np.where(X[:, 1] > 0, "b", "c"))


def _path_estimator(**kw):
    kw = {"penalty": "group_input", "optimizer": "sgd", "learning_rate": 0.1, **SMALL, **kw}
    return SparseMLPRegressor(**kw)


def _spy_run_path(monkeypatch):
    """Capture what the CV fit's path returns and the folds' validation weights."""
    seen = {}
    run_path = mlp_cv.run_path

    def spy(est, network, config, data, keys, train_w, val_w, *args, **kw):
        seen["run"] = run_path(est, network, config, data, keys, train_w, val_w, *args, **kw)
        seen["val_w"] = val_w
        return seen["run"]

    monkeypatch.setattr(mlp_cv, "run_path", spy)
    return seen


def _fold_outputs(network, result, fold, X):
    take = lambda tree: jax.tree.map(lambda v: v[fold], tree)  # noqa: E731
    return np.asarray(network.apply(take(result.params), take(result.state), X)[0], np.float64)


# --- a failed CV fit ------------------------------------------------------------------------------
def test_a_cv_fit_that_fails_once_started_leaves_the_estimator_unfitted(reg):
    X, y = reg
    model = SparseMLPRegressorCV(cv=3, n_alphas=2, **SMALL).fit(X, y)
    with pytest.raises(ValueError, match="cv=3 folds need at least 3 samples"):
        model.fit(X[:2, :3], y[:2])
    assert not hasattr(model, "n_features_in_") and not hasattr(model, "alphas_")
    with pytest.raises(NotFittedError):
        model.predict(X[:, :3])


def test_a_refused_cv_argument_leaves_an_earlier_fit_as_it_was(clf):
    X, y = clf
    model = SparseMLPClassifierCV(cv=2, n_alphas=2, **SMALL).fit(X, y == "a")
    before = model.predict_proba(X)
    model.set_params(alphas=[-1.0, 0.1])
    with pytest.raises(ValueError, match="every alpha must be a finite real number >= 0"):
        model.fit(X, y)  # three new classes: validated only once the arguments are
    np.testing.assert_array_equal(model.classes_, [False, True])
    np.testing.assert_array_equal(model.predict_proba(X), before)


def test_refit_dense_with_nothing_selected_raises_and_leaves_the_estimator_unfitted(reg):
    X, y = reg
    model = SparseMLPRegressorCV(cv=2, n_alphas=2, **SMALL).fit(X, y)
    model.set_params(alphas=[100.0], refit_dense=True)  # every input row is zeroed at once
    with pytest.raises(ValueError, match="no feature was selected.*refit_dense=False"):
        model.fit(X, y)
    for name in ("params_", "alpha_", "path_", "mse_path_"):
        assert not hasattr(model, name)
    with pytest.raises(NotFittedError):
        model.predict(X)


# --- path() on a CV estimator ---------------------------------------------------------------------
def test_path_on_a_cv_estimator_replaces_its_cv_fit(reg):
    X, y = reg
    model = SparseMLPRegressorCV(cv=2, n_alphas=3, refit_dense=True, **SMALL).fit(X, y)
    assert hasattr(model, "dense_estimator_")
    alphas = [0.001, 0.01]
    path = model.path(X, y, alphas=alphas)
    for name in ("dense_estimator_", "alphas_", "mse_path_"):
        assert not hasattr(model, name)
    assert model.path_ is path and model.alpha_ == path.best_alpha
    # it predicts with the path's network, as a plain estimator with its parameters would
    plain = SparseMLPRegressor(**{
        k: v for k, v in model.get_params().items() if k in SparseMLPRegressor().get_params()
    })  # fmt: skip
    plain.path(X, y, alphas=alphas)
    np.testing.assert_array_equal(model.predict(X), plain.predict(X))


# --- diverged points ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def unscaled(reg):
    X, y = reg
    return X * 10, y  # the default proximal SGD step overflows at small alphas


ALPHAS = [1e-3, 1e-2, 1e6]  # the first two diverge, the last zeroes every input row at once


def test_a_diverged_path_point_keeps_the_parameters_it_started_from(unscaled):
    X, y = unscaled
    model = _path_estimator(max_epochs=50)
    with pytest.warns(RuntimeWarning, match="diverged at 2 of 3 alphas"):
        path = model.path(X, y, alphas=ALPHAS, return_params=True)
    np.testing.assert_array_equal(path.diverged, [True, True, False])
    assert path.best_index == 2
    for i, (params, _) in enumerate(path.params):
        w = np.asarray(params[0]["w"])[0]
        assert np.all(np.isfinite(w))
        np.testing.assert_array_equal(path.selected[i], np.any(w != 0, axis=1))
    # the second point started from what the first kept (the initial weights) and kept them too
    np.testing.assert_array_equal(path.params[0][0][0]["w"], path.params[1][0][0]["w"])
    assert list(path.to_frame()["diverged"]) == [True, True, False]


def test_a_diverged_cv_point_counts_no_nan_row_as_selected(unscaled):
    X, y = unscaled
    model = SparseMLPRegressorCV(alphas=ALPHAS, cv=2, max_epochs=50, hidden_layer_sizes=(4,),
                                 random_state=0)  # fmt: skip
    with pytest.warns(RuntimeWarning, match="diverged at 2 of 3 alphas"):
        model.fit(X, y)
    path = model.path_
    np.testing.assert_array_equal(path.diverged, [True, True, False])
    # the refit on every row keeps its initial (dense) weights where it diverged: every input is
    # in, and every one leaves at 1e6
    np.testing.assert_array_equal(path.n_selected, [5, 5, 0])
    np.testing.assert_array_equal(model.feature_importances_, leave_alphas(ALPHAS, path.selected))
    np.testing.assert_array_equal(model.feature_importances_, np.full(5, 1e6))


# --- what the fold losses hold --------------------------------------------------------------------
def test_regressor_mse_path_is_the_mean_squared_error_on_each_held_out_fold(reg, monkeypatch):
    X, y = reg
    Y = np.c_[y, np.tanh(X[:, 2]), X[:, 3]]  # three outputs: the MSE averages over them too
    seen = _spy_run_path(monkeypatch)
    model = SparseMLPRegressorCV(cv=3, n_alphas=3, relax_epochs=5, **SMALL).fit(X, Y)
    X32 = X.astype(np.float32)
    for i, result in enumerate(seen["run"].results):
        for f, weights in enumerate(seen["val_w"]):
            rows = weights > 0
            out = _fold_outputs(model.network_, result, f, X32)[rows]
            mse = mean_squared_error(Y[rows], out)
            np.testing.assert_allclose(model.mse_path_[i, f], mse, rtol=1e-5)
            # path_.val_loss is the data-fit: half the squared error summed over the outputs
            half = 0.5 * np.mean(np.sum((Y[rows] - out) ** 2, axis=1))
            np.testing.assert_allclose(model.path_.val_loss_folds[i, f], half, rtol=1e-5)


def test_classifier_log_loss_path_is_the_log_loss_on_each_held_out_fold(clf, monkeypatch):
    X, y = clf
    seen = _spy_run_path(monkeypatch)
    model = SparseMLPClassifierCV(cv=2, n_alphas=2, relax_epochs=5, **SMALL).fit(X, y)
    assert not hasattr(model, "mse_path_")
    X32 = X.astype(np.float32)
    for i, result in enumerate(seen["run"].results):
        for f, weights in enumerate(seen["val_w"]):
            rows = weights > 0
            z = _fold_outputs(model.network_, result, f, X32)[rows]
            proba = np.exp(z - z.max(axis=1, keepdims=True))
            proba /= proba.sum(axis=1, keepdims=True)
            expected = log_loss(y[rows], proba, labels=model.classes_)
            np.testing.assert_allclose(model.log_loss_path_[i, f], expected, rtol=1e-5)
    np.testing.assert_array_equal(model.log_loss_path_, model.path_.val_loss_folds)


# --- the arguments --------------------------------------------------------------------------------
@pytest.mark.parametrize("penalty", ["l1", "l2", "elasticnet", "group_neurons"])
def test_penalties_that_cannot_select_features_are_refused(reg, penalty):
    X, y = reg
    message = f"one of 'group_input', 'hadamard_input'; got penalty='{penalty}'"
    with pytest.raises(ValueError, match=message):
        SparseMLPRegressorCV(penalty=penalty, **SMALL).fit(X, y)
    with pytest.raises(ValueError, match=message):
        _path_estimator(penalty=penalty).path(X, y)


def test_one_alpha_is_accepted_alike_by_the_cv_and_the_path(reg):
    X, y = reg
    for kw in (dict(n_alphas=1), dict(alphas=[0.01])):
        model = SparseMLPRegressorCV(cv=2, max_epochs=10, hidden_layer_sizes=(4,), **kw)
        assert model.fit(X, y).alphas_.shape == (1,) and model.mse_path_.shape == (1, 2)
        assert len(_path_estimator(max_epochs=10).path(X, y, **kw).alphas) == 1


@pytest.mark.parametrize(
    "name, value, low",
    [("warm_epochs", True, 1), ("relax_epochs", True, 0), ("n_alphas", True, 1)],
)
def test_booleans_are_refused_as_counts_by_the_cv_as_by_the_path(reg, name, value, low):
    X, y = reg
    message = f"{name} must be an integer >= {low}, got True"
    with pytest.raises(ValueError, match=message):
        SparseMLPRegressorCV(**{name: value}, **SMALL).fit(X, y)
    with pytest.raises(ValueError, match=message):
        _path_estimator().path(X, y, **{name: value})


@pytest.mark.parametrize("alphas, repeated", [([0.1, 0.1], r"\[0.1\]"), ([0, 0.2, 0], r"\[0.0\]")])
def test_repeated_alphas_are_refused(reg, alphas, repeated):
    X, y = reg
    message = f"alphas must be distinct.*got {repeated} more than once"
    with pytest.raises(ValueError, match=message):
        SparseMLPRegressorCV(alphas=alphas, **SMALL).fit(X, y)
    with pytest.raises(ValueError, match=message):
        _path_estimator().path(X, y, alphas=alphas)


def test_verbose_prints_one_line_on_the_cv_path_and_on_a_path(reg, capsys):
    X, y = reg
    model = SparseMLPRegressorCV(cv=2, n_alphas=2, verbose=1, **SMALL).fit(X, y)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("SparseMLPRegressorCV (2 folds): 2 alphas")
    assert f"alpha_={model.alpha_:.4g}" in out[0]
    assert f"{len(model.selected_features_)} of 5 features selected" in out[0]
    path = _path_estimator(verbose=1).path(X, y, n_alphas=3)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("SparseMLPRegressor.path: 3 alphas (warm)")
    assert f"alpha_={path.best_alpha:.4g}" in out[0]


def test_n_iter_and_history_describe_the_chosen_models_last_stretch_of_training(reg):
    X, y = reg
    model = SparseMLPRegressorCV(cv=2, n_alphas=2, relax_epochs=7, **SMALL).fit(X, y)
    assert model.n_iter_ == 7 and len(model.history_["loss"]) == 7
    est = _path_estimator()
    est.path(X, y, alphas=[0.001, 0.01], relax_epochs=5)
    assert est.n_iter_ == 5 and len(est.history_["loss"]) == 5
    for doc in (SparseMLPRegressorCV.__doc__, SparseMLPRegressor.path.__doc__):
        assert "last stretch of training" in " ".join(doc.split())


# --- 1se, free paths and the inf importances ------------------------------------------------------
def test_docs_say_what_1se_and_monotone_do_and_how_to_use_the_importances(reg):
    module = " ".join(mlp_cv.__doc__.split())
    assert "or the sparsest one within" not in module
    assert "largest alpha whose mean is within one standard error" in module
    doc = " ".join(SparseMLPRegressorCV.__doc__.split())
    assert "``monotone`` (warm paths only" in doc and "a batched path is free" in doc
    assert "SelectFromModel" in doc and "finite threshold" in doc
    # what the doc says: on a nested path threshold=t keeps the features selected at every grid
    # alpha below t, so the next grid alpha after alpha_ gives the chosen model's set
    X, y = reg
    model = SparseMLPRegressorCV(cv=2, alphas=[0.003, 0.3, 1.0, 3.0], **SMALL).fit(X, y)
    best = model.path_.best_index
    assert best < 3
    t = model.alphas_[best + 1]
    support = SelectFromModel(model, threshold=t, prefit=True).get_support(indices=True)
    np.testing.assert_array_equal(support, model.selected_features_)


# --- sweep ----------------------------------------------------------------------------------------
def test_sweep_gives_nan_scores_to_a_configuration_that_diverged_on_some_fold():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = X[:, 0] + 0.1 * rng.standard_normal(60)
    X[0] *= 8  # one large row: the folds that train on it need a smaller step
    base = SparseMLPRegressor(hidden_layer_sizes=(), optimizer="sgd", max_epochs=100,
                              random_state=0)  # fmt: skip
    with pytest.warns(UserWarning, match="diverged"):
        frame = sweep(base, X, y, {"learning_rate": [0.2, 1.439371346002304]}, cv=3)
    ok, partial = frame.attrs["estimators"]
    assert all(e is not None for e in ok) and None in partial and any(partial)
    assert list(frame["diverged"]) == [False, True]
    for column in ("train_score", "val_score", "std_val_score", "n_epochs"):
        assert np.isnan(frame[column][1])
    folds = list(KFold(3).split(X))
    val = [e.score(X[va], y[va]) for e, (_, va) in zip(ok, folds, strict=True)]
    np.testing.assert_allclose(frame["val_score"][0], np.mean(val))
    np.testing.assert_allclose(frame["std_val_score"][0], np.std(val))


def test_path_on_a_classifier_cv_drops_its_log_loss_path(clf):
    X, y = clf
    model = SparseMLPClassifierCV(cv=2, n_alphas=2, **SMALL).fit(X, y)
    assert model.log_loss_path_.shape == (2, 2)
    model.path(X, y, alphas=[0.001, 0.01])
    assert not hasattr(model, "log_loss_path_") and not hasattr(model, "alphas_")
