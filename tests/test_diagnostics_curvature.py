"""Hessian spectrum and early stopping ~ ridge."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from sparsitylab.diagnostics import (
    early_stopping_vs_ridge,
    hessian_eigenvalues,
    plot_early_stopping_vs_ridge,
    plot_hessian_eigenvalues,
)


def small_model(seed=0, act="tanh"):
    rng = np.random.default_rng(seed)
    Ws = [rng.normal(size=(2, 4)), rng.normal(size=(4, 1))]
    bs = [rng.normal(size=4), rng.normal(size=1)]
    X = rng.normal(size=(30, 2))
    y = np.sin(X[:, 0]) + X[:, 1]
    return (Ws, bs, act), X, y


def numpy_loss(theta, X, y):
    W1, b1, W2, b2 = theta[:8].reshape(2, 4), theta[8:12], theta[12:16].reshape(4, 1), theta[16:]
    out = np.tanh(X @ W1 + b1) @ W2 + b2
    return 0.5 * np.mean((out[:, 0] - y) ** 2)


def test_hessian_matches_numpy_finite_differences():
    (Ws, bs, act), X, y = small_model()
    theta = np.concatenate([Ws[0].ravel(), bs[0], Ws[1].ravel(), bs[1]])
    n, h = theta.size, 1e-4
    H = np.zeros((n, n))
    E = np.eye(n) * h
    for i in range(n):
        for j in range(n):
            H[i, j] = (numpy_loss(theta + E[i] + E[j], X, y) - numpy_loss(theta + E[i] - E[j], X, y)
                       - numpy_loss(theta - E[i] + E[j], X, y)
                       + numpy_loss(theta - E[i] - E[j], X, y)) / (4 * h * h)  # fmt: skip
    want = np.linalg.eigvalsh(0.5 * (H + H.T))[::-1]
    got = hessian_eigenvalues((Ws, bs, act), X, y)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_lanczos_matches_exact():
    (Ws, bs, act), X, y = small_model(1)
    exact = hessian_eigenvalues((Ws, bs, act), X, y, k=3, method="exact")
    lanczos = hessian_eigenvalues((Ws, bs, act), X, y, k=3, method="lanczos")
    np.testing.assert_allclose(lanczos, exact, rtol=1e-7, atol=1e-9)


def test_linear_model_hessian_is_gram_matrix():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 3))
    y = rng.normal(size=40)
    model = ([rng.normal(size=(3, 1))], [np.zeros(1)], "linear")
    A = np.column_stack([X, np.ones(40)])
    want = np.linalg.eigvalsh(A.T @ A / 40)[::-1]
    np.testing.assert_allclose(hessian_eigenvalues(model, X, y), want, atol=1e-12)


def test_early_stopping_matches_closed_forms():
    lam = np.logspace(-3, 1.5, 25)
    table = early_stopping_vs_ridge(lam, lr=1e-2, n_steps=40)
    np.testing.assert_allclose(table["gd"], table["gd_closed_form"], atol=1e-10)
    np.testing.assert_allclose(table["ridge"], table["ridge_closed_form"], atol=1e-10)
    assert np.allclose(table["alpha"], 1 / (40 * 1e-2))
    # the equivalence: small eigen-directions are shrunk by ~ lambda / alpha in both
    small = table["eigenvalue"] * 1e-2 < 1e-3
    np.testing.assert_allclose(table["gd_closed_form"][small], table["ridge_closed_form"][small],
                               rtol=0.05)  # fmt: skip
    # large ones are kept by both
    big = table["eigenvalue"] > 20 * table["alpha"]
    assert (table["gd"][big] > 0.95).all() and (table["ridge"][big] > 0.95).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="positive"):
        early_stopping_vs_ridge([1.0, -1.0], 0.1, 5)
    model, X, y = small_model()
    with pytest.raises(ValueError, match="Lanczos"):
        hessian_eigenvalues(model, X, y, method="lanczos")


def test_plots():
    from matplotlib.figure import Figure

    model, X, y = small_model()
    assert isinstance(plot_hessian_eigenvalues(model, X, y), Figure)
    assert isinstance(plot_early_stopping_vs_ridge(), Figure)
