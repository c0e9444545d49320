"""Sparsity and weights, ReLU vs linear, convolution filters, the chain network."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

from sparsitylab.diagnostics import (
    blur_kernel,
    chain_network_gradients,
    collapse_nonnegative_relu,
    convolve_image,
    effective_n_features,
    lasso_vs_network_weights,
    mean_abs_weight_per_feature,
    plot_chain_network_gradients,
    plot_convolution_filters,
    plot_lasso_vs_network_weights,
    plot_mean_abs_weight_per_feature,
    plot_relu_vs_least_squares,
    plot_sparsity_by_layer,
    plot_weight_histograms,
    relu_vs_least_squares,
    sparsity_by_layer,
    weight_histograms,
)
from sparsitylab.diagnostics._model import as_dense


def weights():
    W1 = np.array([[0.0, 1e-5, 2.0], [0.0, 0.0, 0.0], [3.0, -1.0, 1e-3]])
    W2 = np.array([[1.0], [0.0], [-0.5]])
    return [W1, W2], [np.zeros(3), np.zeros(1)]


def test_sparsity_by_layer():
    t = sparsity_by_layer(weights(), thresholds=(0.0, 1e-4, 1e-2))
    assert t.loc["0", "frac_le_0"] == pytest.approx(4 / 9)
    assert t.loc["0", "frac_le_0.0001"] == pytest.approx(5 / 9)
    assert t.loc["0", "frac_le_0.01"] == pytest.approx(6 / 9)
    assert t.loc["all", "n_weights"] == 12
    assert t.loc["all", "frac_le_0"] == pytest.approx(5 / 12)


def test_features():
    s = mean_abs_weight_per_feature(weights(), ["a", "b", "c"])
    np.testing.assert_allclose(s.to_numpy(), [(1e-5 + 2) / 3, 0.0, (4 + 1e-3) / 3])
    assert effective_n_features(weights()) == 2
    assert effective_n_features(weights(), tol=2.5) == 1
    table = lasso_vs_network_weights(np.array([0.5, 0.0, -1.0]), weights(), ["a", "b", "c"])
    assert table["lasso_scaled"].tolist() == [0.5, 0.0, 1.0]
    h = weight_histograms(weights(), bins=4)
    assert h.groupby("layer")["count"].sum().tolist() == [9, 3]


def test_feature_rows_named_by_the_fitted_frame():
    import pandas as pd

    from sparsitylab import SparseMLPRegressor

    X = pd.DataFrame(np.random.default_rng(0).normal(size=(30, 3)), columns=["rm", "tax", "age"])
    model = SparseMLPRegressor((4,), max_epochs=3, random_state=0).fit(X, X["rm"])
    assert mean_abs_weight_per_feature(model).index.tolist() == ["rm", "tax", "age"]
    assert mean_abs_weight_per_feature(model, list("abc")).index.tolist() == list("abc")


def test_member_index_checked():
    from sparsitylab import SparseMLPRegressor

    X = np.random.default_rng(0).normal(size=(30, 3))
    model = SparseMLPRegressor((4,), n_estimators=3, max_epochs=3, random_state=0).fit(X, X[:, 0])
    assert mean_abs_weight_per_feature(model, member=2).shape == (3,)
    for bad in (3, -1, 1.0):
        with pytest.raises(ValueError, match=r"member must be an integer in \[0, 3\)"):
            mean_abs_weight_per_feature(model, member=bad)


def test_relu_on_nonnegative_data_is_linear():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, size=(50, 4))
    Ws = [rng.uniform(0, 1, (4, 4)), rng.uniform(0, 1, (4, 4)), rng.normal(size=(4, 1))]
    bs = [rng.uniform(0, 1, 4), rng.uniform(0, 1, 4), rng.normal(size=1)]
    coef, intercept = collapse_nonnegative_relu((Ws, bs))
    np.testing.assert_allclose(as_dense((Ws, bs)).forward(X)[0], X @ coef + intercept, atol=1e-12)
    with pytest.raises(ValueError, match=">= 0"):
        collapse_nonnegative_relu(([-w for w in Ws], bs))


def test_network_at_least_as_good_as_least_squares():
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 1, size=(60, 3))
    y = X @ np.array([1.0, 2.0, 0.5]) + 0.3 + 0.05 * rng.normal(size=60)
    A = np.column_stack([X, np.ones(60)])
    beta = np.linalg.lstsq(A, y, rcond=None)[0]
    # a ReLU network that represents the least-squares fit exactly (shift keeps units on)
    net = ([np.eye(3), beta[:3, None]], [np.full(3, 0.0), np.array([beta[3]])])
    s = relu_vs_least_squares(net, X, y)
    assert s["network_not_worse"]
    assert s["network_loss"] == pytest.approx(s["least_squares_loss"], rel=1e-10)


def test_filters():
    img = np.zeros((9, 9))
    img[3:6, 3:6] = 1.0
    blurred = convolve_image(img, blur_kernel(3))
    assert blurred.sum() == pytest.approx(img.sum())
    edges = convolve_image(img, [[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    assert edges[4, 4] == 0 and edges[3, 3] < 0 and edges[2, 4] > 0


def test_chain_network_vanishing_gradients():
    sig = chain_network_gradients(6, "sigmoid", n_epochs=5)
    relu = chain_network_gradients(6, "relu", n_epochs=5)
    first = sig.iloc[0]
    # sigmoid: each step back multiplies by w sigma' <= 1/4, so the first layer's is smallest
    assert (np.diff(first.to_numpy()) > 0).all()
    assert first["w_1"] / first["w_5"] < 0.25**3
    assert relu.iloc[0]["w_1"] / relu.iloc[0]["w_5"] > sig.iloc[0]["w_1"] / sig.iloc[0]["w_5"]


def test_plots():
    assert isinstance(plot_sparsity_by_layer(weights()), Figure)
    assert isinstance(plot_weight_histograms(weights()), Figure)
    assert isinstance(plot_mean_abs_weight_per_feature(weights()), Figure)
    assert isinstance(plot_lasso_vs_network_weights([1, 0, 2], weights()), Figure)
    assert isinstance(plot_chain_network_gradients(4, n_epochs=3), Figure)
    X = np.random.default_rng(0).uniform(size=(20, 3))
    assert isinstance(plot_relu_vs_least_squares(weights(), X, X[:, 0]), Figure)
    conv = np.random.default_rng(0).normal(size=(3, 3, 1, 4))
    assert isinstance(plot_convolution_filters(np.eye(28), conv), Figure)


def test_reads_fitted_estimators():
    from sparsitylab import SparseMLPRegressor
    from sparsitylab.diagnostics import activation_patterns, linear_regions_1d

    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(40, 1))
    model = SparseMLPRegressor(hidden_layer_sizes=(6,), max_epochs=3, random_state=0)
    model.fit(X, X[:, 0] ** 2)
    assert activation_patterns(model, X).shape == (40, 6)
    bps = linear_regions_1d(model, -2, 2)
    dense = as_dense(model)
    np.testing.assert_allclose(dense.forward(X)[0][:, 0], model.predict(X), rtol=1e-5, atol=1e-6)
    assert len(bps) <= 6
    assert sparsity_by_layer(model).shape[0] == 3


@pytest.mark.slow
def test_cnn_experiment_runs_small():
    from sparsitylab.diagnostics import cnn_gradient_experiment, plot_cnn_gradient_experiment

    table = cnn_gradient_experiment(n_epochs=2, n_samples=300, batch_size=50, channels=(4,))
    assert list(table.columns[:2]) == ["grad_conv0", "grad_dense0"]
    assert len(table) == 2 and (table["grad_total"] > 0).all()
    assert isinstance(plot_cnn_gradient_experiment(table), Figure)
    assert isinstance(plot_convolution_filters(None, table), Figure)
