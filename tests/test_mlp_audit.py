"""Audit of the MLP estimators and sweep: validation data checked against the training data (in
fit and up front in sweep), values beyond float32's range refused, the Hamming record without
hidden layers refused, a failed refit leaves no mixed state, per-estimator divergence advice."""

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

import sparsitylab as sl
import sparsitylab.estimators.sweep as sweep_module
from sparsitylab._errors import DivergenceError

FAST = dict(hidden_layer_sizes=(4,), max_epochs=10, learning_rate=1e-2, random_state=0)


@pytest.fixture(scope="module")
def reg():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    Y = np.c_[X[:, 0] - X[:, 1], X[:, 2]] + 0.1 * rng.normal(size=(40, 2))
    return X, Y


@pytest.fixture(scope="module")
def clf():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 4))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


def no_training(*args, **kwargs):
    raise AssertionError("sweep trained before validating its validation data")


def test_sweep_classifier_with_validation_data_equals_fit(clf):
    X, y = clf
    est = sl.SparseMLPClassifier(**FAST)
    frame = sl.sweep(est, X[10:], y[10:], {"alpha": [1e-3]}, validation_data=(X[:10], y[:10]))
    ref = sl.SparseMLPClassifier(**FAST).fit(X[10:], y[10:], validation_data=(X[:10], y[:10]))
    got = frame.attrs["estimators"][0]
    np.testing.assert_array_equal(got.classes_, ref.classes_)
    np.testing.assert_allclose(got.history_["val_loss"], ref.history_["val_loss"], rtol=1e-5)
    assert frame["val_score"][0] == ref.score(X[:10], y[:10])
    assert frame["train_score"][0] == ref.score(X[10:], y[10:])


def test_sweep_checks_validation_columns_before_training(reg, monkeypatch):
    X, Y = reg
    monkeypatch.setattr(sweep_module, "train", no_training)
    est = sl.SparseMLPRegressor(**FAST)
    with pytest.raises(ValueError, match="X has 3 features, but SparseMLPRegressor is expecting 4"):
        sl.sweep(est, X, Y[:, 0], {"alpha": [1e-3]}, validation_data=(X[:10, :3], Y[:10, 0]))
    Xd = pd.DataFrame(X, columns=list("abcd"))
    Xv = pd.DataFrame(X[:10], columns=list("wxyz"))
    with pytest.raises(ValueError, match="feature names should match"):
        sl.sweep(est, Xd, Y[:, 0], {"alpha": [1e-3]}, validation_data=(Xv, Y[:10, 0]))
    with pytest.raises(ValueError, match="y_val has 1 output"):
        sl.sweep(est, X, Y, {"alpha": [1e-3]}, validation_data=(X[:10], Y[:10, 0]))


def test_sweep_accepts_one_validation_row_as_fit_does(reg):
    X, Y = reg
    est = sl.SparseMLPRegressor(**FAST)
    with pytest.warns(Warning, match="less than two samples"):  # R^2 of one row
        frame = sl.sweep(est, X, Y[:, 0], {"alpha": [1e-3]}, validation_data=(X[:1], Y[:1, 0]))
    ref = sl.SparseMLPRegressor(**FAST).fit(X, Y[:, 0], validation_data=(X[:1], Y[:1, 0]))
    got = frame.attrs["estimators"][0].history_["val_loss"]
    assert got.shape == (10,)
    np.testing.assert_allclose(got, ref.history_["val_loss"], rtol=1e-5)


@pytest.mark.parametrize(
    "y_cols, yv_cols, match",
    [
        (slice(None), 0, "y_val has 1 output\\(s\\) but the training y has 2"),
        (0, slice(None), "y_val has 2 output\\(s\\) but the training y has 1"),
    ],
)
def test_fit_refuses_y_val_with_other_outputs(reg, y_cols, yv_cols, match):
    X, Y = reg
    with pytest.raises(ValueError, match=match):
        sl.SparseMLPRegressor(**FAST).fit(X, Y[:, y_cols], validation_data=(X[:5], Y[:5, yv_cols]))


def test_fit_accepts_a_one_column_y_val_for_one_output(reg):
    X, Y = reg
    a = sl.SparseMLPRegressor(**FAST).fit(X, Y[:, 0], validation_data=(X[:5], Y[:5, :1]))
    b = sl.SparseMLPRegressor(**FAST).fit(X, Y[:, 0], validation_data=(X[:5], Y[:5, 0]))
    np.testing.assert_array_equal(a.history_["val_loss"], b.history_["val_loss"])


def test_fit_refuses_validation_lengths_that_differ(reg, clf):
    X, Y = reg
    with pytest.raises(ValueError, match="inconsistent numbers of samples: \\[5, 4\\]"):
        sl.SparseMLPRegressor(**FAST).fit(X, Y[:, 0], validation_data=(X[:5], Y[:4, 0]))
    Xc, yc = clf
    with pytest.raises(ValueError, match="inconsistent numbers of samples: \\[5, 4\\]"):
        sl.SparseMLPClassifier(**FAST).fit(Xc, yc, validation_data=(Xc[:5], yc[:4]))


def test_fit_refuses_nan_in_y_val(reg):
    X, Y = reg
    yv = Y[:5, 0].copy()
    yv[0] = np.nan
    est = sl.SparseMLPRegressor(**{**FAST, "early_stopping": True})
    with pytest.raises(ValueError, match="Input y contains NaN"):
        est.fit(X, Y[:, 0], validation_data=(X[:5], yv))


def test_hamming_record_needs_a_hidden_layer(reg, monkeypatch):
    X, Y = reg
    est = sl.SparseMLPRegressor(**{**FAST, "hidden_layer_sizes": (), "record": ("hamming",)})
    with pytest.raises(ValueError, match="'hamming'.*needs at least one hidden layer"):
        est.fit(X, Y[:, 0])
    monkeypatch.setattr(sweep_module, "train", no_training)
    grid = {"hidden_layer_sizes": [(4,), ()], "record": [("hamming",)]}
    with pytest.raises(ValueError, match="'hamming'.*needs at least one hidden layer"):
        sl.sweep(sl.SparseMLPRegressor(**FAST), X, Y[:, 0], grid)
    monkeypatch.undo()
    linear = sl.SparseMLPRegressor(**{**FAST, "hidden_layer_sizes": (), "record": ("sparsity",)})
    assert linear.fit(X, Y[:, 0]).history_["sparsity"].shape == (10, 1)


def test_values_beyond_float32_are_refused(reg, clf):
    X, Y = reg
    big = "X has values beyond float32's range .*rescale or standardize X"
    with pytest.raises(ValueError, match=big):
        sl.SparseMLPRegressor(**FAST).fit(X * 1e39, Y[:, 0])
    with pytest.raises(ValueError, match="y has values beyond float32's range"):
        sl.SparseMLPRegressor(**FAST).fit(X, Y[:, 0] * 1e39)
    with pytest.raises(ValueError, match="X_val has values beyond float32's range"):
        sl.SparseMLPRegressor(**FAST).fit(X, Y[:, 0], validation_data=(X[:5] * 1e39, Y[:5, 0]))
    Xc, yc = clf
    model = sl.SparseMLPClassifier(**FAST).fit(Xc, yc)
    with pytest.raises(ValueError, match=big):
        model.predict_proba(Xc[:3] * 1e39)
    # the largest float32 still passes
    proba = model.predict_proba(np.full((1, 4), np.finfo(np.float32).max, np.float64))
    assert proba.shape == (1, 2)


def test_failed_refit_leaves_the_estimator_unfitted(clf):
    X, y = clf
    model = sl.SparseMLPClassifier(**FAST).fit(X, y)
    model.set_params(learning_rate=1e9, optimizer="sgd", max_epochs=30)
    with pytest.raises(DivergenceError):
        model.fit(X * 1e3, np.array(["cat", "dog"])[y])
    assert not hasattr(model, "classes_") and not hasattr(model, "n_features_in_")
    with pytest.raises(NotFittedError):
        model.predict(X[:4])
    # a refit failing on its validation data, too
    model = sl.SparseMLPClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features"):
        model.fit(X, y + 10, validation_data=(X[:5, :3], y[:5] + 10))
    with pytest.raises(NotFittedError):
        model.predict(X[:4])
    assert model.fit(X, y).predict(X[:4]).shape == (4,)


def test_divergence_advice_is_per_estimator(clf):
    X, y = clf
    bad = dict(learning_rate=1e9, optimizer="sgd", max_epochs=30)
    with pytest.raises(DivergenceError, match="standardized inputs, or") as err:
        sl.SparseMLPClassifier(**{**FAST, **bad}).fit(X * 1e3, y)
    assert "targets" not in str(err.value)
    with pytest.raises(DivergenceError, match="standardized inputs and targets"):
        sl.SparseMLPRegressor(**{**FAST, **bad}).fit(X * 1e3, y * 1e3)


def test_docstrings_list_the_valid_penalties_and_records():
    assert '"hadamard_input"' in sl.SparseMLPRegressor.__doc__
    assert '"error_rate"' in sl.SparseMLPClassifier.__doc__


def test_path_checks_validation_data_as_fit_does():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = np.c_[X[:, 0], X[:, 1]]
    est = sl.SparseMLPRegressor((4,), penalty="group_input", max_epochs=5, random_state=0)
    with pytest.raises(ValueError, match="y_val has 1 output"):
        est.path(X, y, n_alphas=2, validation_data=(X[:5], y[:5, 0]))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        est.path(X, y, n_alphas=2, validation_data=(X[:5], y[:4]))
    path = est.path(X, y, n_alphas=2, validation_data=(X[:5], y[:5]))
    assert np.all(np.isfinite(path.val_loss))


def test_a_failed_path_leaves_the_estimator_unfitted():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 4))
    y = X[:, 0] - X[:, 1]
    est = sl.SparseMLPRegressor((4,), penalty="group_input", max_epochs=5, random_state=0)
    est.fit(X, y)
    with pytest.raises(ValueError, match="y_val has 2 output"):
        est.path(X[:, :3], y, n_alphas=2, validation_data=(X[:5, :3], np.c_[y[:5], y[:5]]))
    with pytest.raises(NotFittedError):
        est.predict(X[:, :3])
    # a refused argument changes nothing: the earlier fit stays
    est.fit(X, y)
    with pytest.raises(ValueError, match="relax_epochs"):
        est.path(X, y, relax_epochs=-1)
    assert est.predict(X).shape == (40,)


def test_retrain_refuses_targets_with_other_outputs_and_values_beyond_float32():
    from sparsitylab.sparse import prune, retrain

    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 4))
    y = X[:, 0] - X[:, 1]
    model = prune(sl.SparseMLPRegressor((6,), max_epochs=5, random_state=0).fit(X, y), 0.5)
    with pytest.raises(ValueError, match="y has 2 output"):
        retrain(model, X, np.c_[y, -y], epochs=2)
    with pytest.raises(ValueError, match="beyond float32's range"):
        retrain(model, X * 1e39, y, epochs=2)
