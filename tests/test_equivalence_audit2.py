"""Regressions from the second audit of the equivalence estimators (findings 1-11)."""

import contextlib
import warnings

import numpy as np
import pytest
import scipy.special
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso, LinearRegression

import sparsitylab as sl
import sparsitylab.estimators.hadamard as hadamard
from sparsitylab.equivalence import solvers
from sparsitylab.equivalence.logistic import fit_logistic
from sparsitylab.equivalence.path import alpha_grid
from sparsitylab.equivalence.penalties import L1, Bridge, balanced_layers
from sparsitylab.equivalence.reference import bridge_objective
from sparsitylab.equivalence.softimpute import fit_factorized, soft_impute, svt
from sparsitylab.equivalence.solvers import (
    SolveResult,
    fit_bridge,
    fit_quadratic,
    fit_variational,
    kkt_floor,
)
from sparsitylab.estimators.hadamard import _quadratic_certificate


def _problem(n=50, p=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    y = X[:, 0] - 2.0 * X[:, 3] + 0.5 * rng.standard_normal(n)
    return X, y


def _badly_scaled():
    """Columns scaled from 1e-6 to 1e6 (the audit's c19/c20)."""
    rng = np.random.default_rng(0)
    scales = 10.0 ** np.array([-4, -2, 0, 2, 4, 6, -6, 3])
    X = rng.standard_normal((100, 8)) * scales
    y = X[:, 2] / scales[2] + 0.5 * X[:, 4] / scales[4] + rng.standard_normal(100) + 1e3
    return X, y


def _alpha_max(X, y):
    Xc, yc = X - X.mean(0), y - y.mean()
    return np.max(np.abs(Xc.T @ yc)) / len(y)


@contextlib.contextmanager
def _no_convergence_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        yield


# ------------------------------------------------------ 1. depth >= 3 honours max_iter and tol
def test_fit_bridge_passes_max_iter_and_kkt_tol_to_every_network(monkeypatch):
    X, y = _problem()
    alpha = 0.05
    calls = []
    inner = solvers.fit_quadratic

    def spy(X, y, a, penalty, **kwargs):
        calls.append((a, kwargs.get("max_iter"), kwargs.get("kkt_tol")))
        return inner(X, y, a, penalty, **kwargs)

    monkeypatch.setattr(solvers, "fit_quadratic", spy)
    res = fit_bridge(X - X.mean(0), y - y.mean(), alpha, 3, max_iter=7, kkt_tol=1e-3 * alpha)
    assert len(calls) >= 5 and all(it == 7 for _, it, _ in calls)
    # the bridge at alpha gets 1e-3 alpha, its Lasso start at m alpha gets m 1e-3 alpha
    assert all(tol == pytest.approx(1e-3 * a, rel=1e-15) for a, _, tol in calls)
    assert res.converged


@pytest.mark.parametrize("make", [
    lambda: sl.HadamardLasso(alpha=0.05, depth=3, max_iter=7, tol=1e-3),
    lambda: sl.HadamardLassoCV(alphas=[0.05], cv=2, depth=3, max_iter=7, tol=1e-3),
])  # fmt: skip
def test_bridge_estimators_pass_max_iter_and_tol(make, monkeypatch):
    X, y = _problem()
    seen = []

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return fit_bridge(*args, **kwargs)

    monkeypatch.setattr(hadamard, "fit_bridge", spy)  # the (re)fit; CV's folds use path.py's
    model = make().fit(X, y)
    assert len(seen) == 1
    assert seen[0]["max_iter"] == 7 and seen[0]["kkt_tol"] == pytest.approx(1e-3 * 0.05)
    assert model.certificate_.converged and model.certificate_.kkt_violation <= 1e-3 * 0.05


def test_bridge_loose_tol_is_certified_at_the_tight_objective():
    X, y = _badly_scaled()
    alpha = 0.01
    with _no_convergence_warning():  # the old fit warned for every tol: fit_bridge ignored it
        loose = sl.HadamardLasso(alpha=alpha, depth=3, tol=0.1).fit(X, y)
        tight = sl.HadamardLasso(alpha=alpha, depth=3, tol=1e-12).fit(X, y)
    Xc, yc = X - X.mean(0), y - y.mean()
    for model in (loose, tight):
        cert = model.certificate_
        floor = kkt_floor(Xc, model.coef_, np.linalg.norm(yc))
        assert cert.converged and cert.kkt_violation <= model.tol * alpha + floor
    assert bridge_objective(Xc, yc, loose.coef_, alpha, 3) == pytest.approx(
        bridge_objective(Xc, yc, tight.coef_, alpha, 3), rel=1e-12
    )


# ------------------------------------------------------ 2. nuclear norm: exact zero above ||P(Y)||
@pytest.fixture(scope="module")
def partial():
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((12, 5)) @ rng.standard_normal((5, 9))
    mask = rng.random(Y.shape) < 0.7
    return Y, mask, np.linalg.norm(np.where(mask, Y, 0.0), 2)


@pytest.mark.parametrize("ratio", [1.0001, 1.5, 3.0])
def test_nuclear_norm_is_exactly_zero_at_and_above_the_operator_norm(partial, ratio):
    Y, mask, op = partial
    alpha = ratio * op
    M_ref, _ = soft_impute(Y, mask, alpha)
    assert not M_ref.any()  # the closed form: SVT of P(Y) at alpha >= ||P(Y)||_op is 0
    with _no_convergence_warning():
        model = sl.FactorizedNuclearNorm(alpha=alpha, rank=3, random_state=0)
        model.fit(np.where(mask, Y, np.nan))
    assert not model.completed_.any() and not model.U_.any() and not model.V_.any()
    assert not model.singular_values_.any()
    cert = model.certificate_
    assert cert.converged and cert.kkt_violation == 0.0 and cert.duality_gap == 0.0
    assert cert.sparse_objective == pytest.approx(0.5 * np.sum(np.where(mask, Y, 0.0) ** 2))


def test_nuclear_norm_exact_finish_keeps_the_live_directions():
    rng = np.random.default_rng(1)
    Y = rng.standard_normal((10, 3)) @ rng.standard_normal((3, 8))
    alpha = 0.9 * np.linalg.svd(Y, compute_uv=False)[1]  # between the 2nd and 3rd singular value
    with _no_convergence_warning():
        model = sl.FactorizedNuclearNorm(alpha=alpha, rank=4, random_state=0).fit(Y)
    ref = svt(Y, alpha)  # full observation: the solution is the singular value soft-threshold
    assert np.abs(model.completed_ - ref).max() <= 1e-6 * np.abs(ref).max()
    s_ref = np.maximum(np.linalg.svd(Y, compute_uv=False) - alpha, 0.0)[:4]
    assert np.count_nonzero(model.singular_values_) == np.count_nonzero(s_ref) == 2
    assert np.allclose(model.singular_values_, s_ref, atol=1e-6)
    assert model.certificate_.converged


# ------------------------------------------------------ 3. FactorizedNuclearNorm: mask is keyword
def test_nuclear_norm_refuses_a_positional_mask(partial):
    Y, mask, _ = partial
    filled = np.where(mask, Y, 0.0)
    model = sl.FactorizedNuclearNorm(alpha=1.0, rank=9, random_state=0)
    with pytest.raises(ValueError, match=r"takes no y.*mask=mask"):
        model.fit(filled, mask)
    with pytest.raises(ValueError, match=r"takes no y.*mask=mask"):
        model.fit_transform(filled, mask)
    with pytest.raises(TypeError):
        model.fit(filled, None, mask)  # mask is keyword-only
    by_mask = model.fit_transform(filled, mask=mask)
    by_nan = sl.FactorizedNuclearNorm(alpha=1.0, rank=9, random_state=0)
    by_nan.fit(np.where(mask, Y, np.nan))
    assert np.array_equal(by_mask, by_nan.completed_)
    M, _ = soft_impute(Y, mask, 1.0)
    assert np.abs(by_mask - M).max() <= 1e-5 * np.abs(M).max()


# ------------------------------------------------------ 4. tolerance with a rounding floor
@pytest.mark.parametrize("rel", [1e-8, 1e-12])
def test_tiny_alpha_is_certified_like_the_path(rel):
    X, y = _problem(40, 6)
    alpha = rel * _alpha_max(X, y)
    with _no_convergence_warning():  # the old fit warned: tol * alpha is below rounding
        model = sl.HadamardLasso(alpha=alpha).fit(X, y)
    ols = LinearRegression().fit(X, y).coef_  # the Lasso at alpha -> 0
    assert np.abs(model.coef_ - ols).max() <= 1e-6 * np.abs(ols).max()
    cert = model.certificate_
    Xc, yc = X - X.mean(0), y - y.mean()
    floor = kkt_floor(Xc, model.coef_, np.linalg.norm(yc))
    assert cert.converged and cert.kkt_violation <= model.tol * alpha + floor
    assert floor > model.tol * alpha  # the floor, not tol * alpha, decides here
    _, coefs, certs = sl.hadamard_path(X, y, alphas=[alpha])
    assert np.abs(coefs[:, 0] - model.coef_).max() <= 1e-12 * np.abs(ols).max()
    assert certs[0].converged == cert.converged


def test_badly_scaled_columns_are_certified_at_sklearns_objective():
    X, y = _badly_scaled()
    alpha = 1e-3
    with _no_convergence_warning():
        model = sl.HadamardLasso(alpha=alpha).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = Lasso(alpha=alpha, tol=1e-15, max_iter=10**6).fit(X, y)

    def objective(b, c):
        r = y - X @ b - c
        return 0.5 * r @ r / len(y) + alpha * np.abs(b).sum()

    assert objective(model.coef_, model.intercept_) <= objective(ref.coef_, ref.intercept_) * (
        1 + 1e-12
    )
    assert model.certificate_.converged


def test_floor_does_not_hide_an_unfinished_fit():
    X, y = _problem()
    alpha = 0.05 * _alpha_max(X, y)
    Xc, yc = X - X.mean(0), y - y.mean()
    res = fit_quadratic(Xc, yc, alpha, L1(), max_outer=1)  # one round: KKT of beta = 0 only
    assert not res.converged
    assert res.history[-1] > 1e6 * kkt_floor(Xc, np.zeros(X.shape[1]), np.linalg.norm(yc))


# ------------------------------------------------------ 5. the bridge certificate is second order
def test_bridge_certificate_reports_the_support_curvature():
    X, y = _problem()
    alpha, depth = 0.05, 3
    model = sl.HadamardLasso(alpha=alpha, depth=depth).fit(X, y)
    cert = model.certificate_
    Xc = X - X.mean(0)
    S = np.flatnonzero(model.coef_)
    pen = Bridge(depth)
    p, lam = pen.power, pen.weight(alpha)
    b = np.abs(model.coef_[S])
    H = Xc[:, S].T @ Xc[:, S] / len(y) + np.diag(lam * p * (p - 1) * b ** (p - 2))
    assert cert.support_curvature == pytest.approx(np.linalg.eigvalsh(H)[0], rel=1e-10)
    assert cert.support_curvature > 0 and cert.converged
    assert "non-convex" in cert.problem and "support curvature" in str(cert)
    assert np.isnan(sl.HadamardLasso(alpha=alpha).fit(X, y).certificate_.support_curvature)


@pytest.mark.parametrize("depth", [3, 4])
def test_bridge_saddle_is_not_certified(depth):
    """A coefficient split evenly between two duplicated columns is stationary but a saddle."""
    rng = np.random.default_rng(0)
    n = 60
    x = rng.standard_normal(n)
    X = np.c_[x, x, rng.standard_normal((n, 2))]
    X -= X.mean(0)
    y = 2 * x + 0.3 * rng.standard_normal(n)
    y -= y.mean()
    alpha, pen = 0.05, Bridge(depth)
    L, c, lam, p = X[:, 0] @ X[:, 0] / n, X[:, 0] @ y / n, pen.weight(alpha), pen.power
    t = c / (2 * L)  # b = (t, t, 0, 0): 4 L t - 2 c + 2 lam p t^(p-1) = 0, by Newton
    for _ in range(100):
        t -= (4 * L * t - 2 * c + 2 * lam * p * t ** (p - 1)) / (
            4 * L + 2 * lam * p * (p - 1) * t ** (p - 2)
        )
    b = np.array([t, t, 0.0, 0.0])
    cert = _quadratic_certificate(
        X, y, X, y, b, 0.0, balanced_layers(b, depth), alpha, pen, 0.0,
        SolveResult(beta=b, converged=True), 1e-8 * alpha,
    )  # fmt: skip
    H = np.full((2, 2), L) + np.diag(pen.curvature(b[:2], alpha))
    assert cert.kkt_violation <= 1e-12  # first order: as good as it gets
    assert cert.support_curvature == pytest.approx(np.linalg.eigvalsh(H)[0], rel=1e-10)
    assert cert.support_curvature < 0 and not cert.converged
    fit = sl.HadamardLasso(alpha=alpha, depth=depth, fit_intercept=False).fit(X, y)
    assert fit.certificate_.converged  # the solver leaves the saddle: one column takes it all
    assert bridge_objective(X, y, fit.coef_, alpha, depth) < bridge_objective(X, y, b, alpha, depth)


# ------------------------------------------------------ 6. tol must be finite
@pytest.mark.parametrize("tol", [np.inf, True, np.nan, 0.0, -1.0])
@pytest.mark.parametrize("make", [
    lambda tol: sl.HadamardLasso(alpha=0.1, tol=tol),
    lambda tol: sl.HadamardLasso(alpha=0.1, depth=3, tol=tol),
    lambda tol: sl.HadamardLassoCV(tol=tol, cv=2, n_alphas=3),
    lambda tol: sl.HadamardElasticNet(alpha=0.1, tol=tol),
    lambda tol: sl.HadamardGroupLasso(alpha=0.1, groups=[0, 0, 1, 1, 2, 2], tol=tol),
    lambda tol: sl.HadamardLogisticRegression(alpha=0.1, tol=tol),
])  # fmt: skip
def test_tol_must_be_a_finite_positive_number(make, tol):
    X, y = _problem()
    est = make(tol)
    if isinstance(est, sl.HadamardLogisticRegression):
        y = (y > 0).astype(int)
    with pytest.raises(ValueError, match="tol must be"):
        est.fit(X, y)


@pytest.mark.parametrize("tol", [np.inf, True])
def test_tol_must_be_finite_for_the_nuclear_norm_and_the_path(tol):
    X, y = _problem()
    with pytest.raises(ValueError, match="tol must be"):
        sl.FactorizedNuclearNorm(alpha=1.0, rank=2, tol=tol).fit(X)
    with pytest.raises(ValueError, match="tol must be"):
        sl.hadamard_path(X, y, n_alphas=3, tol=tol)


# ------------------------------------------------------ 7. group index lists
@pytest.mark.parametrize(("groups", "match"), [
    ([[0, 0, 1], [2, 3], [4, 5]], "more than once"),
    ([[0.9, 1.2], [2, 3], [4, 5]], "integer feature indices"),
    ([[True, False], [2, 3], [4, 5]], "integer feature indices"),
    ([np.nan] * 6, "NaN labels"),
    ("abcdef", "one group label per feature"),
    (3, "one group label per feature"),
])  # fmt: skip
def test_group_index_lists_are_checked(groups, match):
    X, y = _problem()
    with pytest.raises(ValueError, match=match):
        sl.HadamardGroupLasso(alpha=0.1, groups=groups).fit(X, y)


def test_group_label_column_is_read_as_labels():
    X, y = _problem()
    labels = np.array([0, 0, 1, 1, 2, 2])
    flat = sl.HadamardGroupLasso(alpha=0.1, groups=labels).fit(X, y)
    column = sl.HadamardGroupLasso(alpha=0.1, groups=labels[:, None]).fit(X, y)
    lists = sl.HadamardGroupLasso(alpha=0.1, groups=[[0, 1], [2, 3], [4, 5]]).fit(X, y)
    assert np.array_equal(column.group_ids_, labels)
    assert np.array_equal(column.coef_, flat.coef_) and np.array_equal(lists.coef_, flat.coef_)
    # group lasso KKT at the solution: ||X_g^T r / n|| = alpha sqrt(|g|) on live groups
    Xc, yc = X - X.mean(0), y - y.mean()
    g = Xc.T @ (yc - Xc @ flat.coef_) / len(y)
    for k in range(3):
        gk, bk = g[labels == k], flat.coef_[labels == k]
        if np.any(bk):
            assert np.allclose(gk, 0.1 * np.sqrt(2) * bk / np.linalg.norm(bk), atol=1e-10)
        else:
            assert np.linalg.norm(gk) <= 0.1 * np.sqrt(2)


# ------------------------------------------------------ 8. the solvers check alpha
_SOLVERS = [
    lambda X, y, a: fit_quadratic(X, y, a, L1()),
    lambda X, y, a: fit_variational(X, y, a),
    lambda X, y, a: fit_bridge(X, y, a, 3),
    lambda X, y, a: fit_logistic(X, (y > 0).astype(float), a),
    lambda X, y, a: soft_impute(X, np.ones_like(X, dtype=bool), a),
    lambda X, y, a: fit_factorized(
        X, np.ones_like(X, dtype=bool), a, 2, rng=np.random.default_rng(0)
    ),
]


@pytest.mark.parametrize("alpha", [-0.1, 0.0, np.nan, np.inf, True, "0.1"])
@pytest.mark.parametrize("solve", _SOLVERS)
def test_solvers_refuse_a_bad_alpha(solve, alpha):
    X, y = _problem()
    with pytest.raises(ValueError, match="alpha must be"):
        solve(X, y, alpha)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"eps": -1.0}, r"eps must be in \(0, 1\]"),
    ({"eps": 0.0}, r"eps must be in \(0, 1\]"),
    ({"eps": 2.0}, r"eps must be in \(0, 1\]"),
    ({"eps": np.nan}, "eps must be a finite"),
    ({"n_alphas": 0}, "n_alphas must be an integer >= 1"),
    ({"n_alphas": 2.5}, "n_alphas must be an integer >= 1"),
])  # fmt: skip
def test_alpha_grid_refuses_bad_eps_and_n_alphas(kwargs, match):
    X, y = _problem()
    with pytest.raises(ValueError, match=match):
        alpha_grid(X, y, **kwargs)


def test_alpha_grid_with_eps_one_is_alpha_max():
    X, y = _problem()
    grid = alpha_grid(X, y, n_alphas=3, eps=1.0)
    assert np.allclose(grid, np.max(np.abs(X.T @ y)) / len(y), rtol=1e-15)


# ------------------------------------------------------ 9. predict_proba on large margins
def test_predict_proba_does_not_overflow():
    X, y = _problem()
    model = sl.HadamardLogisticRegression(alpha=0.01).fit(X, (y > 0).astype(int))
    big = 1e4 * X
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proba = model.predict_proba(big)
    z = big @ model.coef_[0] + model.intercept_[0]
    assert np.abs(z).max() > 800  # exp(-z) overflows float64 here
    assert np.array_equal(proba[:, 1], scipy.special.expit(z))
    assert np.allclose(proba.sum(axis=1), 1.0)


# ------------------------------------------------------ 10. equal fits, equal certificates
def test_identical_bridge_fits_have_equal_certificates():
    X, y = _problem()
    a = sl.HadamardLasso(alpha=0.05, depth=3).fit(X, y).certificate_
    b = sl.HadamardLasso(alpha=0.05, depth=3).fit(X, y).certificate_
    assert np.isnan(a.duality_gap)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    c = sl.HadamardLasso(alpha=0.06, depth=3).fit(X, y).certificate_
    assert a != c
    lasso = sl.HadamardLasso(alpha=0.05).fit(X, y).certificate_
    assert lasso == sl.HadamardLasso(alpha=0.05).fit(X, y).certificate_ and lasso != a


# ------------------------------------------------------ 11. l1_ratio is a number, not a bool
@pytest.mark.parametrize("l1_ratio", [True, False])
def test_elastic_net_refuses_a_bool_l1_ratio(l1_ratio):
    X, y = _problem()
    with pytest.raises(ValueError, match="l1_ratio"):
        sl.HadamardElasticNet(alpha=0.1, l1_ratio=l1_ratio).fit(X, y)
    net = sl.HadamardElasticNet(alpha=0.1, l1_ratio=1.0).fit(X, y)  # the Lasso
    ref = Lasso(alpha=0.1, tol=1e-14, max_iter=10**6).fit(X, y)
    assert np.abs(net.coef_ - ref.coef_).max() <= 1e-8
