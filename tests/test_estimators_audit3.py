"""Regressions from the third audit of the estimators: divergence under the adaptive rules (the
training objective's test), hyperparameters beyond float32, the early-stopping split of a small
classification problem, ``predict_proba`` on confident logits, and ``ConvergenceWarning``."""

import warnings

import jax
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sparsitylab import DivergenceError, SparseMLPClassifier, SparseMLPRegressor, sweep
from sparsitylab.engine.networks import MLP
from sparsitylab.engine.optimizers import Optimizer
from sparsitylab.engine.penalties import L1, Sum
from sparsitylab.engine.trainer import (
    DIVERGENCE_FACTOR,
    Data,
    Member,
    TrainConfig,
    _objective_rose,
    divergence_report,
    stack_members,
    train,
)
from sparsitylab.sparse._train import train_from


@pytest.fixture(scope="module")
def reg():
    rng = np.random.RandomState(0)
    X = rng.randn(40, 3)
    return X, X[:, 0] + 0.1 * rng.randn(40)


@pytest.fixture(scope="module")
def clf():
    rng = np.random.RandomState(1)
    X = rng.randn(60, 3)
    return X, (X[:, 0] > 0).astype(int), np.digitize(X[:, 1], [-0.4, 0.4])


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kwargs)


# --- finding 4: divergence under the adaptive rules -------------------------------------------
@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "adagrad"])
@pytest.mark.parametrize("learning_rate", [1e3, 10.0])
def test_an_adaptive_rule_that_runs_away_raises_divergence_error(reg, optimizer, learning_rate):
    """Normalized steps keep the weights finite while the loss explodes: the fit used to return
    with R^2 of -1e9 and no word."""
    X, y = reg
    model = SparseMLPRegressor(hidden_layer_sizes=(32,), optimizer=optimizer, max_epochs=30,
                               learning_rate=learning_rate, random_state=0)  # fmt: skip
    with pytest.raises(DivergenceError, match=r"training objective ended .*x above its starting"):
        model.fit(X, y)
    with pytest.raises(DivergenceError) as err:
        model.fit(X, y)
    message = str(err.value)
    assert f"smaller learning_rate (now {learning_rate})" in message
    assert "stronger penalty" not in message  # the weights are finite: the steps were too large
    assert not hasattr(model, "params_")  # a failed fit leaves the estimator unfitted


def test_a_runaway_classifier_and_early_stopping_with_restored_weights_diverge(clf):
    X, yb, y3 = clf
    for y in (yb, y3):  # the logistic and the softmax loss
        with pytest.raises(DivergenceError, match="training objective"):
            SparseMLPClassifier(hidden_layer_sizes=(8,), learning_rate=1e3, max_epochs=20,
                                random_state=0).fit(X, y)  # fmt: skip
    # restore_best_weights returns the best epoch's weights: after one step of 1e3 already wrecked
    model = SparseMLPRegressor(hidden_layer_sizes=(8,), learning_rate=1e3, max_epochs=50,
                               early_stopping=True, patience=3, random_state=0)  # fmt: skip
    with pytest.raises(DivergenceError, match="training objective"):
        model.fit(*_regression(60))


def _regression(n, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 3)
    return X, X[:, 0] - 0.5 * X[:, 2] + 0.1 * rng.randn(n)


def test_the_engine_flags_each_member_and_reports_the_values():
    """Per member under ``vmap``: the runaway member gets ``diverged_epoch`` = its last epoch and
    ``objective_diverged``; the healthy one neither, and its objective fell."""
    X, y = _regression(40)
    X, y = X.astype(np.float32), y[:, None].astype(np.float32)
    w = np.ones(40, np.float32)
    members = stack_members([
        Member(jax.random.PRNGKey(0), Sum(()), Optimizer("adam", lr), 0.0, w)
        for lr in (1e3, 1e-2)
    ])  # fmt: skip
    res = train(MLP(3, (8,), 1), TrainConfig(max_epochs=25), Data(X, y), members)
    np.testing.assert_array_equal(res.diverged_epoch, [24, -1])
    np.testing.assert_array_equal(res.objective_diverged, [True, False])
    np.testing.assert_array_equal(res.n_epochs, [25, 25])
    start, end = res.start_objective, res.end_objective
    assert end[0] > DIVERGENCE_FACTOR * start[0] and end[1] < start[1]
    assert np.all(np.isfinite(res.params[0]["w"]))  # the weights stayed finite
    report = divergence_report(res)
    assert report.startswith("training diverged after 25 epochs: the training objective ended")
    assert divergence_report(res, [1]) is None
    assert "NaN/inf" in divergence_report(
        type(res)(**{**vars(res), "objective_diverged": np.array([False, False])})
    )


def test_the_margin_spares_a_warm_start_that_rises_from_near_zero():
    """A warm start at a good fit (objective 1e-3) that rises 10x stays far below the data-fit of
    a constant prediction: not diverged; one that ends worse than that is."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    y = (2 * X[:, :1] + 0.05 * rng.normal(size=(60, 1))).astype(np.float32)
    net, w = MLP(3, (), 1), np.ones(60, np.float32)

    def members(lr):
        return stack_members([Member(jax.random.PRNGKey(0), Sum(()), Optimizer("adam", lr), 0.0,
                                     w)])  # fmt: skip

    good = train(net, TrainConfig(max_epochs=2000), Data(X, y), members(0.05))
    assert good.end_objective[0] < 2e-3
    config = TrainConfig(max_epochs=3)
    mild = train_from(net, config, Data(X, y), members(0.2), good.params, good.state)
    np.testing.assert_allclose(mild.start_objective, good.end_objective, rtol=1e-6)
    assert mild.end_objective[0] > DIVERGENCE_FACTOR * mild.start_objective[0]  # 10x worse ...
    assert mild.diverged_epoch[0] == -1 and not mild.objective_diverged[0]  # ... but small
    wild = train_from(net, config, Data(X, y), members(3.0), good.params, good.state)
    assert wild.diverged_epoch[0] == 2 and wild.objective_diverged[0]


def test_the_objective_rule_itself():
    rose = lambda start, end, margin=0.5: bool(_objective_rose(start, end, margin))  # noqa: E731
    assert rose(1.0, 10.6) and not rose(1.0, 9.9)  # the factor
    assert not rose(1e-3, 0.4) and rose(1e-3, 0.6)  # the margin
    assert not rose(0.0, 0.4) and rose(0.0, 0.6)  # a start of 0
    assert rose(1.0, np.inf) and rose(1.0, np.nan)  # a non-finite end always
    assert not rose(np.inf, 1e30)  # nothing to compare with
    assert rose(-1.0, 9.0, 0.1) and not rose(-1.0, 7.0, 0.1)  # a negative start (Poisson)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(optimizer="adam", learning_rate=1e-2, penalty="l1", alpha=1e-2),
        dict(optimizer="sgd", learning_rate=0.05, penalty="l2", alpha=0.1),
        dict(optimizer="rmsprop", learning_rate=1e-2, dropout=0.3),
        dict(optimizer="adagrad", learning_rate=0.1, batch_norm=True),
        dict(optimizer="momentum", learning_rate=1e-2, batch_norm=True, dropout=0.2),
        dict(optimizer="adam", learning_rate=1e-2, batch_size=16, penalty="group_input"),
        dict(optimizer="adam", learning_rate=1e-2, early_stopping=True, weight_decay=1e-2),
        dict(optimizer="lbfgs", learning_rate=1.0, penalty="l2", alpha=1e-3),
    ],
    ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()),
)
def test_healthy_fits_are_not_called_diverged(kwargs):
    """Regression and both classification losses at ordinary learning rates: the objective at
    the returned weights is below its start, and the estimators fit."""
    X, y = _regression(80, seed=3)
    targets = {
        "squared_error": (y[:, None], None),
        "logistic": ((y > 0).astype(np.float32)[:, None], SparseMLPClassifier),
        "softmax": (np.digitize(y, [-0.5, 0.5]).astype(np.int32), SparseMLPClassifier),
    }
    est_kw = dict(hidden_layer_sizes=(16, 8), max_epochs=60, random_state=0, **kwargs)
    for loss, (Y, cls) in targets.items():
        est = (cls or SparseMLPRegressor)(**est_kw)
        est._check_params()
        if cls is not None:
            est.classes_ = np.unique(Y)
        n_out = 3 if loss == "softmax" else 1
        penalty, opt, rate = est._hyper()
        config = TrainConfig(loss=loss, max_epochs=60, batch_size=kwargs.get("batch_size"))
        member = Member(jax.random.PRNGKey(0), penalty, opt, rate, np.ones(80, np.float32))
        res = train(est._network(3, n_out), config, Data(X.astype(np.float32), Y),
                    stack_members([member]))  # fmt: skip
        assert res.diverged_epoch[0] == -1 and not res.objective_diverged[0], loss
        assert res.end_objective[0] < res.start_objective[0], loss
        labels = {"squared_error": y, "logistic": y > 0, "softmax": np.digitize(y, [-0.5, 0.5])}
        _quiet(est.fit, X, labels[loss])  # no DivergenceError


def test_a_sweep_gives_nan_to_the_row_whose_adaptive_fit_ran_away(reg):
    X, y = reg
    base = SparseMLPRegressor(hidden_layer_sizes=(8,), max_epochs=30, random_state=0)
    with pytest.warns(UserWarning, match="diverged.*training objective"):
        frame = _quiet(sweep, base, X, y, {"learning_rate": [1e-2, 1e3]}, cv=2)
    assert list(frame["diverged"]) == [False, True]
    assert np.isfinite(frame["val_score"][0]) and np.isnan(frame["val_score"][1])
    assert frame.attrs["estimators"][1] == [None, None]


def test_a_path_whose_adaptive_fits_run_away_is_refused(reg):
    X, y = reg
    model = SparseMLPRegressor(hidden_layer_sizes=(8,), penalty="group_input", max_epochs=20,
                               learning_rate=1e3, random_state=0)  # fmt: skip
    with pytest.raises(DivergenceError, match="every alpha"):
        _quiet(model.path, X, y, alphas=[1e-3, 1e-2])


# --- finding 5: float32 range, conditional advice ---------------------------------------------
@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("alpha", 1e40, "alpha=1e\\+40 overflows to inf in float32"),
        ("alpha", 1e-40, "alpha=1e-40 underflows to 0 in float32"),
        ("weight_decay", 1e300, "weight_decay=1e\\+300 overflows"),
        ("learning_rate", 1e-300, "learning_rate=1e-300 underflows"),
        ("learning_rate", 1e39, "learning_rate=1e\\+39 overflows"),
        ("max_norm", 1e39, "max_norm=1e\\+39 overflows"),
        ("min_delta", 1e39, "min_delta=1e\\+39 overflows"),
        ("dropout", 1 - 1e-9, "dropout=.* rounds to 1 in float32"),
    ],
)
def test_hyperparameters_beyond_float32_are_refused(reg, name, value, match):
    X, y = reg
    params = {"penalty": "l2"} if name == "alpha" else {}
    model = SparseMLPRegressor(hidden_layer_sizes=(4,), max_epochs=2, **params, **{name: value})
    with pytest.raises(ValueError, match=match):
        model.fit(X, y)


def test_zero_is_exact_in_float32_but_a_subnormal_is_not(reg):
    X, y = reg
    with pytest.raises(ValueError, match="alpha=1e-39 underflows to 0"):
        SparseMLPRegressor(penalty="l1", alpha=1e-39, max_epochs=2).fit(X, y)
    model = SparseMLPRegressor(hidden_layer_sizes=(4,), max_epochs=2, penalty="l1", alpha=0.0,
                               weight_decay=0.0, min_delta=0.0, max_norm=3.0,
                               learning_rate=1e-30)  # fmt: skip
    _quiet(model.fit, X, y)
    assert np.isfinite(model.predict(X)).all()


def test_divergence_advice_follows_the_penalty(reg):
    X, y = reg
    X = X * 30  # plain SGD overflows on these inputs
    small = SparseMLPRegressor(hidden_layer_sizes=(4,), optimizer="sgd", learning_rate=1.0,
                               max_epochs=20, penalty="l2", alpha=1e-3)  # fmt: skip
    with pytest.raises(DivergenceError, match="or a stronger penalty"):
        small.fit(X, y)
    huge = SparseMLPRegressor(hidden_layer_sizes=(4,), optimizer="sgd", learning_rate=0.1,
                              max_epochs=20, penalty="l2", alpha=1e30)  # fmt: skip
    with pytest.raises(DivergenceError) as err:
        huge.fit(X, y)
    assert "a smaller alpha (now 1e+30)" in str(err.value)
    assert "stronger penalty" not in str(err.value)
    decay = SparseMLPRegressor(hidden_layer_sizes=(4,), optimizer="sgd", learning_rate=0.1,
                               max_epochs=20, weight_decay=1e30)  # fmt: skip
    with pytest.raises(DivergenceError, match=r"a smaller weight_decay \(now 1e\+30\)"):
        decay.fit(X, y)


# --- finding 7: early stopping on too little data ---------------------------------------------
def test_a_small_classifier_with_early_stopping_gets_the_librarys_message(clf):
    X, _, _ = clf
    model = SparseMLPClassifier(hidden_layer_sizes=(4,), early_stopping=True, max_epochs=5)
    with pytest.raises(ValueError) as err:
        model.fit(X[:4], ["a", "b", "a", "b"])
    message = str(err.value)
    assert "validation_fraction=0.2 of 4 rows in 2 classes ('a': 2, 'b': 2)" in message
    for advice in ("validation_data=(X_val, y_val)", "larger validation_fraction",
                   "early_stopping=False"):  # fmt: skip
        assert advice in message
    with pytest.raises(ValueError, match=r"\(0: 9, 1: 1\).*a class with one row cannot be split"):
        model.fit(X[:10], [0] * 9 + [1])
    # the advice works: explicit validation rows, or a larger held-out fraction
    _quiet(model.fit, X[:4], [0, 1, 0, 1], validation_data=(X[4:8], [0, 1, 0, 1]))
    _quiet(model.set_params(validation_fraction=0.5).fit, X[:4], [0, 1, 0, 1])


def test_a_regressor_whose_split_leaves_no_training_row_gets_the_same_message(reg):
    X, y = reg
    model = SparseMLPRegressor(early_stopping=True, validation_fraction=0.9, max_epochs=5)
    with pytest.raises(ValueError, match="cannot hold out validation_fraction=0.9 of 2 rows"):
        model.fit(X[:2], y[:2])


# --- finding 8: predict_proba on confident logits ---------------------------------------------
def test_predict_proba_of_confident_logits_emits_no_overflow_warning(clf):
    X, yb, _ = clf
    model = SparseMLPClassifier(hidden_layer_sizes=(8,), max_epochs=100, learning_rate=0.1,
                                random_state=0)  # fmt: skip
    _quiet(model.fit, X * 1000, yb)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proba = model.predict_proba(-X * 1000)
    assert np.all(np.isfinite(proba)) and np.any(proba == 0.0)  # saturated, not overflowed
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


# --- finding 11: ConvergenceWarning -----------------------------------------------------------
def test_early_stopping_that_never_stops_warns(reg):
    X, y = reg
    model = SparseMLPRegressor(hidden_layer_sizes=(8,), early_stopping=True, max_epochs=40,
                               learning_rate=1e-3, random_state=0)  # fmt: skip
    with pytest.warns(ConvergenceWarning, match=r"max_epochs=40 .*learning_rate \(now 0.001\)"):
        model.fit(X, y)
    assert model.n_iter_ == 40 and model.best_epoch_ >= 40 - model.patience
    # the same data with a learning rate that converges: early stopping fires, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.set_params(learning_rate=0.1, max_epochs=1000).fit(X, y)
    assert model.n_iter_ < 1000


def test_a_fit_still_falling_at_max_epochs_warns_and_a_flat_one_does_not(reg):
    X, y = reg
    model = SparseMLPRegressor(hidden_layer_sizes=(8,), max_epochs=50, learning_rate=1e-3,
                               random_state=0)  # fmt: skip
    with pytest.warns(ConvergenceWarning, match="training loss was still falling"):
        model.fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.set_params(optimizer="lbfgs", learning_rate=1.0, max_epochs=300).fit(X, y)
    assert model.score(X, y) > 0.9


def test_ensembles_name_the_unconverged_members(reg):
    X, y = reg
    model = SparseMLPRegressor(hidden_layer_sizes=(8,), max_epochs=30, n_estimators=3,
                               random_state=0)  # fmt: skip
    with pytest.warns(ConvergenceWarning, match=r"\(3 of 3 members\)"):
        model.fit(X, y)


def test_internal_capped_fits_do_not_warn(reg):
    """Sweeps, paths and CV estimators cap epochs on purpose: no ConvergenceWarning from them."""
    from sparsitylab import SparseMLPRegressorCV

    X, y = reg
    base = SparseMLPRegressor(hidden_layer_sizes=(8,), max_epochs=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        sweep(base, X, y, {"alpha": [1e-3, 1e-2]}, cv=2)
        base.set_params(penalty="group_input").path(X, y, alphas=[1e-3, 1e-2])
        SparseMLPRegressorCV(hidden_layer_sizes=(8,), max_epochs=20, cv=2, n_alphas=2,
                             refit_dense=False, random_state=0).fit(X, y)  # fmt: skip
    with pytest.warns(ConvergenceWarning):  # the same settings in a plain fit do warn
        base.fit(X, y)


def test_the_l1_prox_keeps_its_penalty_in_the_objective():
    """The objective compared is data-fit plus the penalty's *value* (the L1 term that the prox
    handles is not in the smooth part): a strong L1 fit that zeroes the weights lowers it."""
    X, y = _regression(40)
    X, y = X.astype(np.float32), y[:, None].astype(np.float32)
    member = Member(jax.random.PRNGKey(0), Sum((L1(1.0),)), Optimizer("adam", 1e-2), 0.0,
                    np.ones(40, np.float32))  # fmt: skip
    res = train(MLP(3, (8,), 1), TrainConfig(max_epochs=300), Data(X, y), stack_members([member]))
    init = MLP(3, (8,), 1).init(jax.random.fold_in(jax.random.PRNGKey(0), 0))[0]
    l1 = sum(float(np.abs(layer["w"]).sum()) for layer in init)
    assert res.start_objective[0] > l1  # the penalty's value is part of the start
    assert res.end_objective[0] < res.start_objective[0] and res.diverged_epoch[0] == -1
