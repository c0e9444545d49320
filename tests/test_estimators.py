"""SparseMLPRegressor / SparseMLPClassifier: behaviour and clear errors on bad input."""

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

import sparsitylab as sl

FAST = dict(hidden_layer_sizes=(8,), max_epochs=50, learning_rate=1e-2, random_state=0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    return X, X[:, 0] - X[:, 1] + 0.1 * rng.normal(size=60)


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(alpha=-1.0), "alpha"),
        (dict(dropout=1.0), "dropout"),
        (dict(dropout=-0.1), "dropout"),
        (dict(activation="swish"), "activation.*relu"),
        (dict(penalty="l3"), "penalty.*l1"),
        (dict(optimizer="adamax"), "optimizer.*adam"),
        (dict(hidden_layer_sizes=(0,)), "hidden_layer_sizes"),
        (dict(hidden_layer_sizes=(8.7,)), "hidden_layer_sizes"),
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(record=("nope",)), "record.*grad_norm"),
    ],
)
def test_bad_parameters_raise_value_errors_listing_options(data, bad, match):
    with pytest.raises(ValueError, match=match):
        sl.SparseMLPRegressor(**{**FAST, **bad}).fit(*data)


def test_bad_data_raises_value_errors(data):
    X, y = data
    model = sl.SparseMLPRegressor(**FAST)
    for Xb, yb, match in [
        (np.where(np.eye(60, 4) == 1, np.nan, X), y, "NaN"),
        (np.where(np.eye(60, 4) == 1, np.inf, X), y, "infinity"),
        (X, np.r_[np.nan, y[1:]], "NaN"),
        (X[:0], y[:0], "0 sample"),
        (X[:1], y[:1], "1 sample"),
    ]:
        with pytest.raises(ValueError, match=match):
            model.fit(Xb, yb)
    frame = pd.DataFrame(X, columns=list("abcd")).assign(d=["x"] * 60)
    with pytest.raises(ValueError, match="'d' of X are not numeric"):
        model.fit(frame, y)
    with pytest.raises(ValueError, match="X has no columns"):
        model.fit(pd.DataFrame(index=range(60)), y)
    model.fit(X, y)
    with pytest.raises(ValueError, match="4 features"):
        model.predict(X[:, :3])


def test_pandas_names_and_fitted_attributes(data):
    X, y = data
    frame = pd.DataFrame(X, columns=["rooms", "tax", "age", "crime"])
    model = sl.SparseMLPRegressor(penalty="l1", alpha=0.05, **{**FAST, "max_epochs": 300}).fit(
        frame, y
    )
    assert list(model.feature_names_in_) == ["rooms", "tax", "age", "crime"]
    assert [w.shape for w in model.coefs_] == [(4, 8), (8, 1)]
    assert model.sparsity_.shape == (2,) and model.sparsity_[0] > 0  # proximal L1 zeroes weights
    np.testing.assert_allclose(model.sparsity_[0], np.mean(model.coefs_[0] == 0))
    np.testing.assert_allclose(model.feature_importances_, np.abs(model.coefs_[0]).mean(axis=1))
    assert model.history_["loss"].shape == (300,)
    assert model.score(frame, y) > 0.9


def test_ensembles_average_their_members(data):
    X, y = data
    ens = sl.SparseMLPRegressor(n_estimators=3, bootstrap=True, **FAST).fit(X, y)
    assert ens.coefs_[0].shape == (3, 4, 8)
    members = ens._forward(X)[:, :, 0]
    assert not np.allclose(members[0], members[1])  # different initial weights and samples
    np.testing.assert_allclose(ens.predict(X), members.astype(np.float64).mean(axis=0), rtol=1e-6)


def test_classifier_probabilities_and_labels():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 3))
    labels = np.array(["low", "mid", "high"])[np.digitize(X[:, 0], [-0.5, 0.5])]
    clf = sl.SparseMLPClassifier(
        hidden_layer_sizes=(16,), max_epochs=300, learning_rate=1e-2, random_state=0
    )
    clf.fit(X, labels)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(clf.classes_) == {"low", "mid", "high"} and clf.score(X, labels) > 0.9
    binary = clf.set_params(early_stopping=True).fit(X, X[:, 1] > 0)
    assert binary.predict_proba(X).shape == (90, 2) and binary.history_["val_loss"].size > 0


def test_sweep_matches_individual_fits(data):
    X, y = data
    grid = {"alpha": [1e-3, 1e-1], "learning_rate": [1e-2, 3e-2], "random_state": [0, 1]}
    base = sl.SparseMLPRegressor(hidden_layer_sizes=(8,), penalty="l2", max_epochs=40)
    frame = sl.sweep(base, X, y, grid, validation_data=(X[:20], y[:20]))
    assert len(frame) == 8 and not frame["diverged"].any()
    for params, est in zip(
        frame[list(grid)].to_dict("records"), frame.attrs["estimators"], strict=True
    ):
        alone = sl.SparseMLPRegressor(
            hidden_layer_sizes=(8,), penalty="l2", max_epochs=40, **params
        )
        alone.fit(X, y, validation_data=(X[:20], y[:20]))
        np.testing.assert_allclose(est.predict(X), alone.predict(X), rtol=2e-5, atol=2e-5)
    # two architectures: two compiled groups; rows keep ParameterGrid order
    mixed = sl.sweep(base, X, y, {"hidden_layer_sizes": [(4,), (8,)], "alpha": [1e-3, 1e-2]}, cv=3)
    assert [e[0].coefs_[0].shape[1] for e in mixed.attrs["estimators"]] == [4, 8, 4, 8]
    assert {"val_score", "std_val_score", "n_epochs"} <= set(mixed.columns)


def test_an_integer_hidden_layer_size_means_one_layer_and_unfitted_names_raise(data):
    one = sl.SparseMLPRegressor(**{**FAST, "hidden_layer_sizes": 8}).fit(*data)
    same = sl.SparseMLPRegressor(**{**FAST, "hidden_layer_sizes": (8,)}).fit(*data)
    assert [c.shape for c in one.coefs_] == [(4, 8), (8, 1)]
    np.testing.assert_array_equal(one.predict(data[0]), same.predict(data[0]))
    with pytest.raises(NotFittedError):
        _ = sl.SparseMLPRegressor().selected_feature_names_


def test_sweep_refuses_estimators_it_cannot_batch(data):
    with pytest.raises(TypeError, match="GridSearchCV"):
        sl.sweep(sl.HadamardLasso(), *data, {"alpha": [0.1]})
    with pytest.raises(TypeError, match="SparseMLPRegressorCV"):
        sl.sweep(sl.SparseMLPRegressorCV(max_epochs=5), *data, {"alpha": [0.1]})
