"""Depth-2 Hadamard network == scikit-learn Lasso, with certificates; three routes agree."""

import numpy as np
import pytest
from sklearn.linear_model import Lasso

import sparsitylab as sl


def make_problem(n, p, rho, seed):
    rng = np.random.default_rng(seed)
    cov = rho ** np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
    X = rng.standard_normal((n, p)) @ np.linalg.cholesky(cov).T
    w = np.zeros(p)
    w[: min(8, p)] = rng.standard_normal(min(8, p)) * 2
    y = X @ w + rng.standard_normal(n) + 1.5
    return X, y


def alpha_max(X, y):
    return np.max(np.abs((X - X.mean(0)).T @ (y - y.mean()))) / X.shape[0]


CASES = [(40, 120, 0.8, 0), (200, 30, 0.5, 1), (60, 60, 0.9, 2)]


@pytest.mark.parametrize(("n", "p", "rho", "seed"), CASES)
@pytest.mark.parametrize("frac", [0.3, 0.05])
def test_matches_sklearn_lasso(n, p, rho, seed, frac):
    X, y = make_problem(n, p, rho, seed)
    alpha = frac * alpha_max(X, y)
    net = sl.HadamardLasso(alpha=alpha).fit(X, y)
    ref = Lasso(alpha=alpha, tol=1e-14, max_iter=10**6).fit(X, y)
    rel = np.linalg.norm(net.coef_ - ref.coef_) / np.linalg.norm(ref.coef_)
    assert rel <= 1e-5
    assert np.array_equal(net.coef_ != 0, ref.coef_ != 0)
    assert net.intercept_ == pytest.approx(ref.intercept_, rel=1e-8, abs=1e-8)
    cert = net.certificate_
    assert cert.duality_gap <= 1e-8
    assert cert.kkt_violation <= 1e-8 * alpha
    # the network objective (on the layers) equals the Lasso objective (on their product)
    r = y - X @ ref.coef_ - ref.intercept_
    lasso_obj = 0.5 * r @ r / n + alpha * np.abs(ref.coef_).sum()
    assert cert.network_objective == pytest.approx(cert.sparse_objective, rel=1e-12)
    assert cert.sparse_objective == pytest.approx(lasso_obj, rel=1e-10)
    # layers are balanced and multiply to coef_, with exact zeros
    assert np.allclose(np.prod(net.layers_, axis=0), net.coef_, rtol=1e-12, atol=0)
    assert np.allclose(np.abs(net.layers_[0]), np.abs(net.layers_[1]))
    assert np.all(net.coef_[ref.coef_ == 0] == 0.0)


def test_three_routes_agree():
    X, y = make_problem(50, 80, 0.7, 3)
    alpha = 0.1 * alpha_max(X, y)
    a = sl.HadamardLasso(alpha=alpha, solver="lbfgs").fit(X, y)
    b = sl.HadamardLasso(alpha=alpha, solver="variational").fit(X, y)
    c = Lasso(alpha=alpha, tol=1e-14, max_iter=10**6).fit(X, y)
    scale = np.linalg.norm(c.coef_)
    assert np.linalg.norm(a.coef_ - c.coef_) / scale <= 1e-8
    assert np.linalg.norm(b.coef_ - c.coef_) / scale <= 1e-8
    assert b.certificate_.duality_gap <= 1e-8
    assert np.array_equal(a.coef_ != 0, b.coef_ != 0)


def test_network_objective_is_weight_decay_on_layers():
    X, y = make_problem(30, 10, 0.3, 4)
    m = sl.HadamardLasso(alpha=0.05).fit(X, y)
    u, v = m.layers_
    r = y - X @ (u * v) - m.intercept_
    by_hand = 0.5 * r @ r / 30 + 0.5 * 0.05 * (u @ u + v @ v)
    assert m.certificate_.network_objective == pytest.approx(by_hand, rel=1e-13)
    # an unbalanced factorisation of the same product pays strictly more
    r2 = 0.5 * r @ r / 30 + 0.5 * 0.05 * ((2 * u) @ (2 * u) + (v / 2) @ (v / 2))
    assert r2 > by_hand


def test_no_intercept_and_alpha_above_max():
    X, y = make_problem(40, 20, 0.5, 5)
    ref = Lasso(alpha=0.2, fit_intercept=False, tol=1e-14, max_iter=10**6).fit(X, y)
    net = sl.HadamardLasso(alpha=0.2, fit_intercept=False).fit(X, y)
    assert net.intercept_ == 0.0
    assert np.allclose(net.coef_, ref.coef_, rtol=1e-7, atol=1e-10)
    big = sl.HadamardLasso(alpha=2 * alpha_max(X, y)).fit(X, y)
    assert np.all(big.coef_ == 0) and big.intercept_ == pytest.approx(y.mean())


def test_sklearn_conventions_and_pandas():
    pd = pytest.importorskip("pandas")
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    X, y = make_problem(40, 6, 0.2, 6)
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(6)])
    m = sl.HadamardLasso(alpha=0.1)
    assert m.get_params()["alpha"] == 0.1
    assert clone(m).set_params(depth=3).depth == 3
    with pytest.raises(NotFittedError):
        m.predict(X)
    m.fit(frame, y)
    assert list(m.feature_names_in_) == list(frame.columns)
    assert m.n_features_in_ == 6
    assert m.score(frame, y) > 0.5
    again = sl.HadamardLasso(alpha=0.1, random_state=0).fit(frame, y)
    assert np.array_equal(again.coef_, m.coef_)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"alpha": -1.0}, "alpha must be > 0"),
        ({"depth": 1}, "depth must be an integer >= 2"),
        ({"solver": "sgd"}, "solver must be"),
        ({"solver": "variational", "depth": 3}, "needs depth=2"),
        ({"max_iter": 0}, "max_iter"),
    ],
)
def test_bad_parameters(params, match):
    X, y = make_problem(20, 5, 0.1, 7)
    with pytest.raises(ValueError, match=match):
        sl.HadamardLasso(**params).fit(X, y)
