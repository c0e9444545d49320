"""Regressions of sparsitylab.sparse from an audit: L-BFGS and masks, the alpha a retraining
penalizes at, what a refit leaves behind, compaction's masks and importances, input checks."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from sparsitylab import SparseMLPRegressor, SparseMLPRegressorCV
from sparsitylab.datasets import make_sparse_regression
from sparsitylab.engine.networks import MLP
from sparsitylab.sparse import compact, prune, prune_schedule, quantize, retrain


@pytest.fixture(scope="module")
def data():
    X, y, _ = make_sparse_regression(100, 6, 2, noise=0.1, random_state=0)
    X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
    return X, (y - y.mean()) / y.std()


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return SparseMLPRegressor((16,), learning_rate=1e-2, max_epochs=60, random_state=0).fit(X, y)


def _group(**kw):
    kw = {"penalty": "group_input", "optimizer": "sgd", "learning_rate": 0.1, **kw}
    return SparseMLPRegressor((8,), max_epochs=40, random_state=0, **kw)


def test_lbfgs_is_refused_where_masks_or_proximal_steps_must_hold_zeros(data):
    X, y = data
    model = SparseMLPRegressor(
        (8,), optimizer="lbfgs", learning_rate=1.0, max_epochs=10, random_state=0
    ).fit(X, y)
    retrain(model, X, y, epochs=2)  # nothing to hold at zero: L-BFGS may retrain it
    pruned = prune(model, 0.5)
    for run in (
        lambda: retrain(pruned, X, y, epochs=2),
        lambda: prune_schedule(model, X, y, amounts=(0.5,), epochs=2),
        lambda: _group(optimizer="lbfgs", learning_rate=1.0).path(X, y, alphas=[0.01, 0.1]),
    ):
        with pytest.raises(ValueError, match=r"L-BFGS takes no proximal steps.*optimizer='adam'"):
            run()
    # what the message suggests works, and the pruned weights stay exactly zero
    adam = copy.deepcopy(pruned).set_params(optimizer="adam", learning_rate=1e-2)
    out = retrain(adam, X, y, epochs=5)
    for layer, mask in zip(out.params_, pruned.masks_, strict=True):
        assert np.all(np.asarray(layer["w"])[mask == 0] == 0)


def test_retraining_a_cv_model_penalizes_at_its_chosen_alpha(data):
    X, y = data
    cv = SparseMLPRegressorCV(
        (8,), cv=2, alphas=[0.01, 0.3, 1.0], max_epochs=80, random_state=0
    ).fit(X, y)
    assert cv.alpha_ != cv.alpha and 0 < len(cv.selected_features_) < X.shape[1]
    at_alpha_ = copy.deepcopy(cv).set_params(alpha=cv.alpha_)
    got = retrain(cv, X, y, epochs=30, random_state=0)
    want = retrain(at_alpha_, X, y, epochs=30, random_state=0)
    for a, b in zip(got.params_, want.params_, strict=True):
        np.testing.assert_array_equal(a["w"], b["w"])
    assert set(got.selected_features_) <= set(cv.selected_features_)  # dropped inputs stay out


def test_a_new_fit_drops_what_pruning_compaction_and_quantization_attached(data, fitted):
    X, y = data
    y2 = -3 * X[:, 3] + X[:, 4]
    pruned = prune(fitted, 0.9)
    assert hasattr(pruned, "sparse_inference_")
    pruned.fit(X, y2)
    for name in ("sparse_inference_", "masks_"):
        assert not hasattr(pruned, name)
    np.testing.assert_allclose(pruned.predict(X[:5]), pruned.predict(X)[:5], atol=1e-5)
    assert pruned.score(X, y2) > 0.9  # the new network predicts the new target
    np.testing.assert_array_equal(prune(pruned, 0.0).sparsity_, [0.0, 0.0])  # no old mask

    edited = prune_schedule(fitted, X, y, amounts=(0.5,), epochs=2)
    edited = quantize(compact(prune(edited, 0.6), X), bits=8)
    for name in ("masks_", "schedule_", "compaction_", "quantization_"):
        assert hasattr(edited, name)
    edited.fit(X, y)
    for name in ("masks_", "schedule_", "compaction_", "quantization_"):
        assert not hasattr(edited, name)
    assert isinstance(edited.network_, MLP)

    model = _group()
    model.path(X, y, alphas=[0.01, 0.1])
    stale = prune(model, 0.9, scope="layer")
    stale.path(X, y, alphas=[0.01, 0.1])  # a path refits too; it sets its own alpha_, path_
    assert not hasattr(stale, "masks_") and not hasattr(stale, "sparse_inference_")
    np.testing.assert_allclose(stale.predict(X[:4]), stale.predict(X)[:4], atol=1e-5)
    model.fit(X, y)  # a plain fit is no longer at the path's alpha_
    assert not hasattr(model, "alpha_") and not hasattr(model, "path_")


def test_compact_cuts_the_masks_so_retraining_keeps_pruned_weights_at_zero(data):
    X, y = data
    model = SparseMLPRegressor((24,), learning_rate=1e-2, max_epochs=60, random_state=0).fit(X, y)
    pruned = prune(model, 0.8, scope="layer")
    small = compact(pruned, X)
    assert small.compaction_["hidden_after"][0] < 24
    for layer, mask in zip(small.params_, small.masks_, strict=True):
        assert mask.shape == np.shape(layer["w"])
        assert np.all(np.asarray(layer["w"])[mask == 0] == 0)
    out = retrain(small, X, y, epochs=10, random_state=0)
    for layer, mask in zip(out.params_, small.masks_, strict=True):
        assert np.all(np.asarray(layer["w"])[mask == 0] == 0)
    np.testing.assert_array_equal(out.sparsity_ >= small.sparsity_, [True, True])
    assert out.sparsity_[0] > 0.5


def test_compact_keeps_the_importances_of_the_columns_it_uses(data, fitted):
    X, y = data
    pruned = prune(fitted, 0.85, scope="layer")
    small = compact(pruned, X)
    assert small.compaction_["hidden_after"][0] < 16  # fewer units: a new mean |W1| would differ
    used = small.selected_features_
    expected = np.zeros_like(pruned.feature_importances_)
    expected[used] = pruned.feature_importances_[used]
    np.testing.assert_array_equal(small.feature_importances_, expected)

    model = _group()
    path = model.path(X, y, alphas=[0.01, 0.3, 1.0])
    assert np.isinf(model.feature_importances_).any()  # leave_alpha, not mean |W1|
    small = compact(model)
    used = model.selected_features_
    np.testing.assert_array_equal(small.feature_importances_[used], path.leave_alpha[used])
    assert np.all(np.delete(small.feature_importances_, used) == 0)


def test_retrain_validates_its_data_as_fit_does(data, fitted):
    X, y = data
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[100, 50\]"):
        retrain(fitted, X, y[:50], epochs=2)
    with pytest.raises(ValueError, match="Input y contains NaN"):
        retrain(fitted, X, np.where(np.arange(len(y)) == 3, np.nan, y), epochs=2)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        retrain(fitted, np.where(np.arange(X.shape[1]) == 1, np.nan, X), y, epochs=2)
    with pytest.raises(ValueError, match="X has 5 features"):
        retrain(fitted, X[:, :5], y, epochs=2)


def test_path_checks_its_epoch_and_grid_arguments(data):
    X, y = data
    for kw, message in (
        (dict(relax_epochs=-1), "relax_epochs must be an integer >= 0, got -1"),
        (dict(relax_epochs=2.5), "relax_epochs must be an integer >= 0, got 2.5"),
        (dict(warm_epochs=-3), "warm_epochs must be an integer >= 1, got -3"),
        (dict(warm_epochs=0), "warm_epochs must be an integer >= 1, got 0"),
        (dict(n_alphas=0), "n_alphas must be an integer >= 1, got 0"),
    ):
        with pytest.raises(ValueError, match=message):
            _group().path(X, y, **kw)


def test_path_refuses_ensembles_as_the_cv_estimators_do(data):
    X, y = data
    for kw in (dict(n_estimators=3), dict(bootstrap=True)):
        with pytest.raises(ValueError, match="one network per alpha.*not supported here"):
            _group(**kw).path(X, y, alphas=[0.01, 0.1])


def test_prune_schedule_refuses_an_empty_schedule(data, fitted):
    X, y = data
    with pytest.raises(ValueError, match="at least one fraction"):
        prune_schedule(fitted, X, y, amounts=[], epochs=2)
    assert not hasattr(fitted, "schedule_")


def test_quantization_counts_batch_norm_statistics(data):
    X, y = data
    model = SparseMLPRegressor((8,), batch_norm=True, max_epochs=5, random_state=0).fit(X, y)
    rep = quantize(model, bits=8).quantization_
    n_weights, n_other = 6 * 8 + 8 * 1, 8 + 8 + 8 + 1  # b, scale, shift; output bias
    n_stats = 8 + 8  # running mean and variance
    assert rep["n_weights"] == n_weights
    assert rep["bytes_float32"] == 4 * (n_weights + n_other + n_stats)
    assert rep["bytes_quantized"] == n_weights + 4 * (n_other + n_stats + 2)  # 2 layer scales
