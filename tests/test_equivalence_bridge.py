"""Depth 3 and 4: the bridge penalties, against skglm started from the Lasso solution."""

import numpy as np
import pytest

import sparsitylab as sl
from sparsitylab.equivalence.reference import bridge_objective, skglm_bridge

skglm = pytest.importorskip("skglm")


def make_problem(seed):
    rng = np.random.default_rng(seed)
    n, p = (60, 100) if seed % 2 else (120, 30)
    cov = 0.6 ** np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
    X = rng.standard_normal((n, p)) @ np.linalg.cholesky(cov).T
    w = np.zeros(p)
    w[:6] = rng.standard_normal(6) * 2
    y = X @ w + rng.standard_normal(n)
    return X - X.mean(0), y - y.mean()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("depth", [3, 4])
def test_never_worse_than_skglm(seed, depth):
    X, y = make_problem(seed)
    alpha = [0.1, 0.03, 0.3][seed % 3] * np.max(np.abs(X.T @ y)) / len(y)
    lasso = sl.HadamardLasso(alpha=alpha, fit_intercept=False).fit(X, y)
    ref = skglm_bridge(X, y, alpha, depth, lasso.coef_)
    net = sl.HadamardLasso(alpha=alpha, depth=depth, fit_intercept=False).fit(X, y)
    ours = bridge_objective(X, y, net.coef_, alpha, depth)
    assert ours <= 1.001 * bridge_objective(X, y, ref, alpha, depth)
    cert = net.certificate_
    assert np.isnan(cert.duality_gap)
    assert cert.kkt_violation <= 1e-8 * alpha  # stationarity on the support + zero-set condition
    assert cert.zero_set_violation == 0.0
    assert cert.network_objective == pytest.approx(cert.sparse_objective, rel=1e-12)
    assert cert.sparse_objective == pytest.approx(ours, rel=1e-12)
    layers = np.abs(net.layers_)
    assert np.allclose(layers, layers[0], rtol=1e-12)  # balanced: |w1| = ... = |wk|


def test_deeper_is_sparser_at_matched_fit():
    """At matched training error, depth 3 and 4 need fewer features than depth 2 (the Lasso)."""
    rng = np.random.default_rng(11)
    n, p = 100, 60
    cov = 0.7 ** np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
    X = rng.standard_normal((n, p)) @ np.linalg.cholesky(cov).T
    w = np.zeros(p)
    w[:5] = [3, -2, 2, 1.5, -1]
    y = X @ w + 0.5 * rng.standard_normal(n)
    X, y = X - X.mean(0), y - y.mean()
    curves = {}
    for depth in (2, 3, 4):
        alphas, coefs, _ = sl.hadamard_path(X, y, n_alphas=15, eps=1e-2, depth=depth)
        mse = np.mean((y[:, None] - X @ coefs) ** 2, axis=0)
        curves[depth] = (mse, (coefs != 0).sum(axis=0))
    for target in (2.0, 1.0, 0.5):  # MSE levels; the smallest support reaching each
        best = {d: m[1][m[0] <= target].min() for d, m in curves.items()}
        assert best[3] <= best[2] and best[4] <= best[2]
    # and strictly sparser somewhere
    assert any(
        curves[4][1][curves[4][0] <= t].min() < curves[2][1][curves[2][0] <= t].min()
        for t in (2.0, 1.0, 0.5)
    )
