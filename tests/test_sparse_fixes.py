"""Regressions of sparsitylab.sparse: pickling, compaction's feature attributes and minimality,
models it must refuse."""

from __future__ import annotations

import io
import pickle

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_diabetes

import sparsitylab as sl
from sparsitylab import HadamardLasso, SparseMLPRegressor, SparseMLPRegressorCV
from sparsitylab.datasets import make_sparse_regression
from sparsitylab.sparse import compact, prune, prune_schedule, quantize
from sparsitylab.sparse.inference import _ACT


@pytest.fixture(scope="module")
def data():
    X, y, _ = make_sparse_regression(120, 6, 2, noise=0.1, random_state=0)
    return X.astype(np.float32), (y - y.mean()) / y.std()


@pytest.fixture(scope="module")
def diabetes():
    d = load_diabetes(as_frame=True)
    X = (d.data - d.data.mean()) / d.data.std()
    return X, (d.target - d.target.mean()) / d.target.std()


def test_activations_of_the_sparse_path_pickle():
    for name, fn in _ACT.items():
        assert pickle.loads(pickle.dumps(fn)) is fn, name


def test_pruned_and_quantized_models_round_trip_through_pickle(data):
    X, y = data
    model = SparseMLPRegressor((16,), max_epochs=20, random_state=0).fit(X, y)
    pruned, quantized = prune(model, 0.6), quantize(model, 8)
    assert pruned.sparse_inference_ is not None  # the ReLU of the CSR path is pickled too
    for m in (pruned, quantized):
        again = pickle.loads(pickle.dumps(m))
        buf = io.BytesIO()
        joblib.dump(m, buf)
        buf.seek(0)
        for copy in (again, joblib.load(buf)):
            for rows in (X[:5], X):  # the CSR path (few rows) and the dense one
                np.testing.assert_array_equal(copy.predict(rows), m.predict(rows))


def test_compacted_model_names_the_features_of_the_original(diabetes):
    X, y = diabetes
    model = SparseMLPRegressor(
        (16,), penalty="group_input", alpha=0.15, optimizer="sgd", learning_rate=0.1,
        max_epochs=300, random_state=0,
    ).fit(X, y)  # fmt: skip
    names = list(model.selected_feature_names_)
    assert 0 < len(names) < X.shape[1]
    small = compact(model, X)
    assert small.compaction_["inputs_after"] == len(names)  # it reads only the selected columns
    np.testing.assert_array_equal(small.selected_features_, model.selected_features_)
    assert list(small.selected_feature_names_) == names
    imp = small.feature_importances_  # per column of X, zero for the columns it does not read
    assert imp.shape == (small.n_features_in_,) == (X.shape[1],)
    np.testing.assert_array_equal(np.flatnonzero(imp), model.selected_features_)
    np.testing.assert_allclose(small.predict(X), model.predict(X), atol=1e-6, rtol=0)


def test_compact_drops_inputs_that_fed_only_removed_units(data):
    X, y = data
    model = prune(SparseMLPRegressor((12, 8), max_epochs=50, random_state=0).fit(X, y), 0.0)
    w1, w2 = np.array(model.params_[0]["w"]), np.array(model.params_[1]["w"])
    w1[:, :3, 4:] = 0.0  # inputs 0-2 feed only units 0-3 of the first layer,
    w2[:, :4] = 0.0  # whose outgoing weights are zero
    model.params_ = ({**model.params_[0], "w": w1}, {**model.params_[1], "w": w2}, model.params_[2])
    small = compact(model)
    info = small.compaction_
    assert info["hidden_after"] == (8, 8)
    assert info["inputs_after"] == 3 and list(info["inputs"]) == [3, 4, 5]
    np.testing.assert_allclose(small.predict(X), model.predict(X), atol=1e-6, rtol=0)


def test_compact_of_a_network_pruned_to_a_constant_reads_no_used_input(diabetes):
    X, y = diabetes
    model = SparseMLPRegressor((16,), max_epochs=300, random_state=0).fit(X, y)
    pruned = prune(model, 0.9, scope="layer")
    small = compact(pruned, X)
    first = np.asarray(small.params_[0]["w"])
    assert small.compaction_["inputs_after"] == 1 and np.all(first == 0)  # one zero row is kept
    assert list(small.selected_feature_names_) == []
    np.testing.assert_allclose(small.predict(X), pruned.predict(X), atol=1e-6, rtol=0)


def test_models_predicting_with_dense_estimator_are_refused(data):
    X, y = data
    cv = SparseMLPRegressorCV(
        (8,), cv=2, n_alphas=2, max_epochs=30, refit_dense=True, random_state=0
    ).fit(X, y)
    for fn in (lambda m: prune(m, 0.5), quantize, compact, lambda m: prune_schedule(m, X, y)):
        with pytest.raises(ValueError, match=r"dense_estimator_ .*refit_dense=False"):
            fn(cv)
    # what the message suggests works: the dense network on the selected columns
    pruned = prune(cv.dense_estimator_, 0.5)
    assert pruned.predict(X[:, cv.selected_features_]).shape == (len(X),)


def test_non_network_estimators_get_a_clear_error(data):
    X, y = data
    for model in (HadamardLasso().fit(X, y), HadamardLasso()):
        for fn in (lambda m: sl.prune(m, 0.5), sl.quantize, sl.compact):
            with pytest.raises(ValueError, match="MLP estimators .*not on HadamardLasso"):
                fn(model)
