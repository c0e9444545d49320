"""Pruning, retraining with fixed masks, compaction, quantization, the CSR path, plots (issue 4)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import NotFittedError

import sparsitylab
from sparsitylab import SparseMLPClassifier, SparseMLPRegressor
from sparsitylab.datasets import make_sparse_regression
from sparsitylab.sparse import (
    SparseForward,
    compact,
    plot_feature_importances,
    plot_path,
    prune,
    prune_schedule,
    quantize,
)


@pytest.fixture(scope="module")
def data():
    X, y, support = make_sparse_regression(200, 10, 3, noise=0.1, random_state=0)
    return X.astype(np.float32), (y - y.mean()) / y.std(), support


@pytest.fixture(scope="module")
def fitted(data):
    X, y, _ = data
    return SparseMLPRegressor((24, 16), max_epochs=150, learning_rate=1e-2, random_state=0).fit(
        X, y
    )


def _weights(model):
    return np.concatenate([np.ravel(layer["w"]) for layer in model.params_])


def test_top_level_names():
    assert sparsitylab.prune is prune and sparsitylab.compact is compact
    assert sparsitylab.quantize is quantize and sparsitylab.prune_schedule is prune_schedule


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_prune_leaves_exactly_the_asked_fraction(fitted, scope):
    pruned = prune(fitted, 0.9, scope=scope)
    w = _weights(pruned)
    assert np.sum(w != 0) == w.size - round(0.9 * w.size) or scope == "layer"
    for layer, mask in zip(pruned.params_, pruned.masks_, strict=True):
        if scope == "layer":
            n = np.size(layer["w"])
            assert np.sum(layer["w"] != 0) == n - round(0.9 * n)
        assert np.all(np.asarray(layer["w"])[mask == 0] == 0)
    # the survivors are the largest weights (global: one threshold over every layer)
    if scope == "global":
        orig = np.abs(_weights(fitted))
        kept = np.abs(orig[w != 0])
        assert kept.min() >= np.abs(orig[w == 0]).max()
    # the original is untouched; the copy predicts, with the CSR path attached
    assert np.all(_weights(fitted) != 0)
    assert pruned.sparse_inference_ is not None
    assert pruned.predict(np.zeros((3, 10))).shape == (3,)


def test_masks_survive_retraining(fitted, data):
    X, y, _ = data
    # scope="layer": a global 80% cut of this small network leaves one output weight
    before = prune(fitted, 0.8, scope="layer")
    out = prune_schedule(fitted, X, y, amounts=(0.5, 0.8), epochs=40, scope="layer")
    w = _weights(out)
    assert np.sum(w != 0) <= w.size - round(0.8 * w.size)
    for layer, mask in zip(out.params_, out.masks_, strict=True):
        assert np.all(np.asarray(layer["w"])[mask == 0] == 0)
    assert [s["amount"] for s in out.schedule_] == [0.5, 0.8]
    # pruning gradually and retraining with the masks beats the one-shot cut
    assert out.score(X, y) > before.score(X, y) + 0.05


def test_sparse_inference_matches_dense(fitted):
    pruned = prune(fitted, 0.9)
    X = np.random.default_rng(0).normal(size=(5, 10)).astype(np.float32)
    sparse = SparseForward(pruned)(X)
    dense = SparseForward(pruned, dense=True)(X)
    pruned.__dict__.pop("sparse_inference_")
    jax_out = pruned._forward(X)
    np.testing.assert_allclose(sparse, jax_out, atol=1e-5)
    np.testing.assert_allclose(dense, jax_out, atol=1e-5)


def test_compact_preserves_predictions_and_reduces_parameters(data):
    X, y, support = data
    model = SparseMLPRegressor(
        (32, 16),
        penalty="group_input",
        alpha=0.05,
        optimizer="sgd",
        learning_rate=0.1,
        max_epochs=300,
        random_state=0,
    ).fit(X, y)
    pruned = prune(model, 0.85)  # leaves dead units and unused inputs behind
    small = compact(pruned)
    info = small.compaction_
    assert info["params_after"] < info["params_before"]
    assert sum(info["hidden_after"]) < sum(info["hidden_before"])
    assert info["inputs_after"] <= len(np.flatnonzero(np.any(pruned.coefs_[0] != 0, axis=1)))
    Xt = np.random.default_rng(1).normal(size=(50, 10)).astype(np.float32)
    np.testing.assert_allclose(small.predict(Xt), pruned.predict(Xt), atol=1e-6, rtol=0)
    np.testing.assert_allclose(small.predict(X), pruned.predict(X), atol=1e-6, rtol=0)
    # with training data, ReLU units never active on it go too; predictions on it are kept
    smaller = compact(pruned, X)
    assert smaller.compaction_["params_after"] <= info["params_after"]
    np.testing.assert_allclose(smaller.predict(X), pruned.predict(X), atol=1e-6, rtol=0)


def test_compact_folds_constant_units_into_the_next_bias(fitted):
    model = prune(fitted, 0.0)
    params = [dict(layer) for layer in model.params_]
    w = np.array(params[1]["w"])
    w[:, :, :5] = 0.0  # five units of the 2nd hidden layer lose all incoming weights
    params[1]["w"] = w
    model.params_ = tuple(params)
    small = compact(model)
    assert small.compaction_["hidden_after"] == (24, 11)
    X = np.random.default_rng(2).normal(size=(20, 10))
    np.testing.assert_allclose(small.predict(X), model.predict(X), atol=1e-6, rtol=0)


def test_compact_classifier_with_ensemble():
    X, y = make_classification(
        200, 8, n_informative=3, n_classes=3, n_clusters_per_class=1, random_state=0
    )
    model = SparseMLPClassifier(
        (16,), n_estimators=2, max_epochs=100, learning_rate=1e-2, random_state=0
    ).fit(X, y)
    pruned = prune(model, 0.7, scope="layer")
    small = compact(pruned, X)
    np.testing.assert_allclose(small.predict_proba(X), pruned.predict_proba(X), atol=1e-6)
    assert small.compaction_["params_after"] < small.compaction_["params_before"]


def test_quantize_reports_size_zeros_and_error(fitted, data):
    X, y, _ = data
    q8 = quantize(fitted, bits=8, X_test=X, y_test=y)
    rep = q8.quantization_
    assert rep["bytes_quantized"] < rep["bytes_float32"] / 3
    for layer in q8.params_:  # at most 2^(b-1) - 1 levels per sign per layer
        assert len(np.unique(np.abs(layer["w"]))) <= 128
    assert abs(rep["error_change"]) < 0.05 * max(rep["error_before"], 1e-3) + 1e-3
    q2 = quantize(fitted, bits=2, X_test=X, y_test=y)
    assert q2.quantization_["zeros_after"] > rep["zeros_after"]
    assert set(np.unique(np.sign(q2.params_[0]["w"]) * 0 + np.abs(q2.params_[0]["w"]) > 0)) <= {
        False,
        True,
    }
    assert q2.quantization_["error_change"] > rep["error_change"]


def test_bad_inputs_raise_clear_errors(fitted, data):
    X, y, _ = data
    for amount in (-0.1, 1.5, "half"):
        with pytest.raises(ValueError, match="amount must be a fraction"):
            prune(fitted, amount)
    for bits in (1, 17, 8.5):
        with pytest.raises(ValueError, match="bits must be an integer from 2 to 16"):
            quantize(fitted, bits=bits)
    with pytest.raises(ValueError, match="scope must be"):
        prune(fitted, 0.5, scope="row")
    unfitted = SparseMLPRegressor()
    for fn in (lambda m: prune(m, 0.5), compact, quantize):
        with pytest.raises(NotFittedError, match="call fit"):
            fn(unfitted)
    with pytest.raises(ValueError, match="non-decreasing"):
        prune_schedule(fitted, X, y, amounts=(0.9, 0.5))


def test_plots_return_figures():
    from matplotlib.figure import Figure

    X, y, _ = make_sparse_regression(120, 6, 2, noise=0.1, random_state=0)
    model = SparseMLPRegressor(
        (8,),
        penalty="group_input",
        optimizer="sgd",
        learning_rate=0.1,
        max_epochs=100,
        random_state=0,
    )
    path = model.path(X, (y - y.mean()) / y.std(), n_alphas=4)
    fig = plot_path(path)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    fig2 = plot_feature_importances(
        {"path alpha": path.leave_alpha, "mean |W1|": np.abs(model.coefs_[0]).mean(axis=1)}
    )
    assert isinstance(fig2, Figure) and len(fig2.axes[0].patches) == 12
