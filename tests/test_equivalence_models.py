"""Elastic net, group lasso, logistic, nuclear norm, paths and CV against their references."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression, lasso_path

import sparsitylab as sl
from sparsitylab.equivalence.softimpute import nuclear_objective, soft_impute


def make_problem(n=60, p=24, seed=0):
    rng = np.random.default_rng(seed)
    cov = 0.6 ** np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
    X = rng.standard_normal((n, p)) @ np.linalg.cholesky(cov).T
    w = np.zeros(p)
    w[: min(6, p)] = [2, -1.5, 1, 0, 3, -2][: min(6, p)]
    return X, X @ w + rng.standard_normal(n) + 0.5


def test_elastic_net_matches_sklearn():
    X, y = make_problem(seed=1)
    net = sl.HadamardElasticNet(alpha=0.1, l1_ratio=0.7).fit(X, y)
    ref = ElasticNet(alpha=0.1, l1_ratio=0.7, tol=1e-14, max_iter=10**6).fit(X, y)
    assert np.linalg.norm(net.coef_ - ref.coef_) / np.linalg.norm(ref.coef_) <= 1e-5
    assert np.array_equal(net.coef_ != 0, ref.coef_ != 0)
    assert net.certificate_.duality_gap <= 1e-8
    assert net.certificate_.network_objective == pytest.approx(
        net.certificate_.sparse_objective, rel=1e-12
    )


def test_group_lasso_matches_skglm():
    skglm = pytest.importorskip("skglm")  # noqa: F841
    from skglm.datafits import QuadraticGroup
    from skglm.penalties import WeightedGroupL2
    from skglm.solvers import GroupBCD

    X, y = make_problem(seed=2)
    X, y = X - X.mean(0), y - y.mean()
    groups = np.repeat(np.arange(8), 3)
    alpha = 0.15
    net = sl.HadamardGroupLasso(alpha=alpha, groups=groups, fit_intercept=False).fit(X, y)
    ptr = np.arange(0, 25, 3, dtype=np.int32)
    idx = np.arange(24, dtype=np.int32)
    pen = WeightedGroupL2(alpha, np.sqrt(np.full(8, 3.0)), ptr, idx)
    ref = GroupBCD(tol=1e-14, max_iter=10000).solve(X, y, QuadraticGroup(ptr, idx), pen)[0]
    assert np.linalg.norm(net.coef_ - ref) / np.linalg.norm(ref) <= 1e-5
    norms = lambda b: np.sqrt(np.bincount(groups, weights=b * b))  # noqa: E731
    assert np.array_equal(norms(net.coef_) > 0, norms(ref) > 1e-10)
    cert = net.certificate_
    assert cert.duality_gap <= 1e-8
    assert cert.network_objective == pytest.approx(cert.sparse_objective, rel=1e-12)


def test_logistic_matches_sklearn():
    rng = np.random.default_rng(3)
    n, p = 150, 10
    X = rng.standard_normal((n, p))
    y = (X[:, 0] - 2 * X[:, 1] + 0.5 * rng.standard_normal(n) > 0.3).astype(int)
    alpha = 0.02
    net = sl.HadamardLogisticRegression(alpha=alpha).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = LogisticRegression(
            penalty="l1", C=1 / (n * alpha), solver="saga", tol=1e-13, max_iter=200000
        ).fit(X, y)
    assert np.linalg.norm(net.coef_ - ref.coef_) / np.linalg.norm(ref.coef_) <= 1e-5
    assert net.intercept_[0] == pytest.approx(ref.intercept_[0], rel=1e-5)
    assert net.certificate_.duality_gap <= 1e-8
    assert net.certificate_.network_objective == pytest.approx(
        net.certificate_.sparse_objective, rel=1e-12
    )
    assert set(net.predict(X)) <= {0, 1}


def test_logistic_reaches_its_kkt_tolerance_on_nearly_separable_unscaled_data():
    """A large intercept and nearly separable classes make the Hessian ill-conditioned: the
    last Newton steps lower the objective by less than its rounding, yet still shrink the
    gradient, and are taken."""
    from sklearn.datasets import make_blobs

    from sparsitylab.equivalence.logistic import fit_logistic

    X, y = make_blobs(random_state=0, n_samples=21)
    X, y = X - X.min(), (y > 0).astype(float)
    alpha = 0.01
    res, b = fit_logistic(X, y, alpha)
    assert res.converged and res.history[-1] <= 1e-10 * alpha
    g = X.T @ (y - 1 / (1 + np.exp(-(X @ res.beta + b)))) / len(y)
    np.testing.assert_allclose(g, alpha * np.sign(res.beta), atol=1e-10 * alpha)  # KKT


def test_nuclear_norm_matches_soft_impute():
    rng = np.random.default_rng(4)
    Y = rng.standard_normal((30, 3)) @ rng.standard_normal((3, 20)) + 0.1 * rng.standard_normal(
        (30, 20)
    )
    mask = rng.random(Y.shape) < 0.6
    alpha = 1.0
    model = sl.FactorizedNuclearNorm(alpha=alpha, rank=8, random_state=0)
    completed = model.fit_transform(np.where(mask, Y, np.nan))
    M, _ = soft_impute(Y, mask, alpha)
    ref = nuclear_objective(Y, mask, M, alpha)
    assert model.certificate_.sparse_objective == pytest.approx(ref, rel=1e-6)
    assert model.certificate_.network_objective == pytest.approx(ref, rel=1e-6)
    assert model.certificate_.duality_gap <= 1e-6
    assert np.linalg.norm(completed - M) / np.linalg.norm(M) <= 1e-4
    again = sl.FactorizedNuclearNorm(alpha=alpha, rank=8, random_state=0)
    assert np.array_equal(again.fit_transform(np.where(mask, Y, np.nan)), completed)


def test_path_matches_lasso_path_and_cv():
    X, y = make_problem(seed=5)
    Xc, yc = X - X.mean(0), y - y.mean()
    alphas, coefs, certs = sl.hadamard_path(X, y, n_alphas=20)
    ref_alphas, ref_coefs, _ = lasso_path(Xc, yc, alphas=alphas, tol=1e-14, max_iter=10**6)
    assert np.allclose(coefs, ref_coefs, rtol=1e-6, atol=1e-9)
    assert max(c.duality_gap for c in certs) <= 1e-8
    _, coefs_v, _ = sl.hadamard_path(X, y, alphas=alphas, strategy="vmap")
    assert np.allclose(coefs_v, coefs, rtol=1e-8, atol=1e-12)
    cv = sl.HadamardLassoCV(n_alphas=15, cv=3).fit(X, y)
    assert cv.mse_path_.shape == (15, 3)
    batched = sl.HadamardLassoCV(n_alphas=15, cv=3, strategy="vmap").fit(X, y)
    assert np.allclose(batched.mse_path_, cv.mse_path_, rtol=1e-8)
    assert batched.alpha_ == cv.alpha_
    ref = Lasso(alpha=cv.alpha_, tol=1e-14, max_iter=10**6).fit(X, y)
    assert np.allclose(cv.coef_, ref.coef_, rtol=1e-6, atol=1e-10)


def _gaps(X, y, alphas, coefs, ridge=0.0):
    from sparsitylab.equivalence.certificates import lasso_duality_gap

    return np.array(
        [lasso_duality_gap(X, y, b, a, ridge) for a, b in zip(alphas, coefs, strict=True)]
    )


def test_active_path_on_a_wide_problem_matches_lasso_path():
    # p > 1000: the Gram columns are computed only for features that enter
    from sparsitylab.equivalence.path import alpha_grid, lasso_path_active

    X, y = make_problem(n=80, p=1100, seed=7)
    X, y = X - X.mean(0), y - y.mean()
    alphas = alpha_grid(X, y, 25, 1e-2)
    coefs, results = lasso_path_active(X, y, alphas)
    ref = lasso_path(X, y, alphas=alphas, tol=1e-14, max_iter=10**6)[1].T
    assert np.array_equal(coefs != 0, ref != 0)
    assert np.allclose(coefs, ref, rtol=1e-6, atol=1e-9)
    assert _gaps(X, y, alphas, coefs).max() <= 1e-10
    assert all(r.converged for r in results)


def test_active_path_falls_back_to_the_network_and_handles_ridge():
    from sparsitylab.equivalence.path import alpha_grid, lasso_path_active

    X, y = make_problem(n=50, p=30, seed=8)
    X, y = X - X.mean(0), y - y.mean()
    alphas = alpha_grid(X, y, 12, 1e-2)
    fast, _ = lasso_path_active(X, y, alphas)
    # one round per alpha: every change of support is left to the trained network
    slow, results = lasso_path_active(X, y, alphas, max_rounds=1)
    assert any(r.n_iter > 0 for r in results)
    assert np.allclose(slow, fast, rtol=1e-7, atol=1e-10)
    assert np.array_equal(slow != 0, fast != 0)
    ridge = 0.3
    enet, _ = lasso_path_active(X, y, alphas[::3], ridge=ridge)
    for a, b in zip(alphas[::3], enet, strict=True):
        total = a + ridge  # scikit-learn: alpha * l1_ratio = a, alpha * (1 - l1_ratio) = ridge
        ref = ElasticNet(alpha=total, l1_ratio=a / total, fit_intercept=False, tol=1e-14,
                         max_iter=10**6).fit(X, y)  # fmt: skip
        assert np.allclose(b, ref.coef_, rtol=1e-6, atol=1e-9)
    assert _gaps(X, y, alphas[::3], enet, ridge).max() <= 1e-10


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: sl.HadamardElasticNet(alpha=-0.1), "alpha must be > 0"),
        (lambda: sl.HadamardElasticNet(l1_ratio=0.0), "l1_ratio"),
        (lambda: sl.HadamardGroupLasso(groups=[[0, 1], [2]]), "do not cover"),
        (lambda: sl.HadamardGroupLasso(groups=[[0, 1], [1, 2, 3]]), "repeats"),
        (lambda: sl.HadamardLogisticRegression(alpha=-1), "alpha must be > 0"),
    ],
)
def test_bad_model_input(make, match):
    X, y = make_problem(n=20, p=4, seed=6)
    if "Logistic" in type(make()).__name__:
        y = (y > np.median(y)).astype(int)
    with pytest.raises(ValueError, match=match):
        make().fit(X, y)


def test_bad_matrix_input():
    Y = np.arange(12.0).reshape(3, 4)
    with pytest.raises(ValueError, match="rank must be an integer >= 1"):
        sl.FactorizedNuclearNorm(rank=0).fit(Y)
    mask = np.ones_like(Y, dtype=bool)
    mask[1] = False
    with pytest.raises(ValueError, match="no observed entry"):
        sl.FactorizedNuclearNorm(rank=2).fit(Y, mask=mask)
    mask = np.ones_like(Y, dtype=bool)
    mask[:, 2] = False
    with pytest.raises(ValueError, match="no observed entry"):
        sl.FactorizedNuclearNorm(rank=2).fit(Y, mask=mask)
    with pytest.raises(ValueError, match="depth must be"):
        sl.hadamard_path(Y, np.ones(3), depth=1)
    with pytest.raises(ValueError, match="binary"):
        sl.HadamardLogisticRegression(alpha=0.1).fit(Y, np.array([0, 1, 2]))
