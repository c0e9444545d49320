"""Regressions from the audit of the equivalence estimators, their certificates and the weights."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso, LogisticRegression

import sparsitylab as sl
import sparsitylab.estimators.hadamard as hadamard
from sparsitylab.diagnostics import mean_abs_weight_per_feature, sparsity_by_layer
from sparsitylab.diagnostics._model import as_dense
from sparsitylab.equivalence.certificates import logistic_duality_gap
from sparsitylab.equivalence.penalties import L1, Bridge
from sparsitylab.equivalence.softimpute import nuclear_objective, soft_impute
from sparsitylab.equivalence.solvers import stationarity


def logistic_objective(X, y, alpha, beta, b):
    z = X @ beta + b
    return np.mean(np.logaddexp(0.0, z) - y * z) + alpha * np.sum(np.abs(beta))


def sklearn_logistic(X, y, alpha):
    with warnings.catch_warnings():  # scikit-learn's deprecation of `penalty`
        warnings.simplefilter("ignore")
        ref = LogisticRegression(
            penalty="l1", C=1 / (len(y) * alpha), solver="saga", tol=1e-14, max_iter=10**6
        ).fit(X, y)
    return ref.coef_[0], ref.intercept_[0]


def lasso_objective(X, y, alpha, beta):
    Xc, yc = X - X.mean(0), y - y.mean()
    r = yc - Xc @ beta
    return 0.5 * r @ r / len(y) + alpha * np.sum(np.abs(beta))


# ------------------------------------------------------------- 1. the logistic gap and intercept
@pytest.fixture(scope="module")
def imbalanced():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 5))
    y = (X @ [2, -1, 0, 0, 1.0] + 2.5 + rng.standard_normal(200) > 0).astype(float)
    alpha = 0.02
    return X, y, alpha, *sklearn_logistic(X, y, alpha)


def test_logistic_gap_bounds_suboptimality_anywhere(imbalanced):
    X, y, alpha, beta, b = imbalanced
    best = logistic_objective(X, y, alpha, beta, b)  # >= the optimum: a weaker bound to beat
    assert abs(logistic_duality_gap(X, y, beta, b, alpha)) <= 1e-10
    rng = np.random.default_rng(0)
    points = [(beta, b + d) for d in (-0.3, -0.1, -0.01, 0.01, 0.1, 0.3)]
    points += [
        (beta + 0.05 * rng.standard_normal(5), b + 0.1 * rng.standard_normal()) for _ in range(20)
    ]
    for bb, cc in points:
        primal = logistic_objective(X, y, alpha, bb, cc)
        gap = logistic_duality_gap(X, y, bb, cc, alpha)
        assert gap >= (primal - best) / primal > 0


def test_logistic_kkt_includes_the_intercept(imbalanced, monkeypatch):
    X, y, alpha, _, _ = imbalanced
    fit = hadamard.fit_logistic

    def shifted(*args, **kwargs):  # the fit with its intercept moved off the optimum
        res, b = fit(*args, **kwargs)
        return res, b - 0.1

    monkeypatch.setattr(hadamard, "fit_logistic", shifted)
    with pytest.warns(ConvergenceWarning, match="HadamardLogisticRegression"):
        model = sl.HadamardLogisticRegression(alpha=alpha).fit(X, y)
    assert not model.certificate_.converged  # judged by its own KKT, the intercept's included
    beta, b = model.coef_[0], model.intercept_[0]
    rho = y - 1 / (1 + np.exp(-(X @ beta + b)))
    g = X.T @ rho / len(y)
    on = beta != 0
    coef_kkt = max(
        np.max(np.abs(g[on] - alpha * np.sign(beta[on]))),
        np.max(np.abs(g[~on]) - alpha, initial=0.0),
    )
    assert abs(rho.mean()) > coef_kkt  # the intercept is what is off
    assert model.certificate_.kkt_violation == pytest.approx(abs(rho.mean()), rel=1e-10)
    assert model.certificate_.duality_gap > 0


# ------------------------------------------------------------- 2. nuclear norm: converged is honest
def test_nuclear_norm_unfinished_fit_is_not_converged():
    rng = np.random.default_rng(4)
    Y = rng.standard_normal((10, 3)) @ rng.standard_normal((3, 8))
    Y += 0.1 * rng.standard_normal(Y.shape)
    mask = rng.random(Y.shape) < 0.7
    alpha = 3.0
    M, _ = soft_impute(Y, mask, alpha)
    with pytest.warns(ConvergenceWarning, match="FactorizedNuclearNorm"):
        early = sl.FactorizedNuclearNorm(alpha=alpha, rank=5, max_iter=10, random_state=0)
        early.fit(np.where(mask, Y, np.nan))
    cert = early.certificate_
    assert np.abs(early.completed_ - M).max() > 1e-3  # really unfinished
    assert not cert.converged and cert.kkt_violation > early.tol * alpha
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        done = sl.FactorizedNuclearNorm(alpha=alpha, rank=5, random_state=0)
        done.fit(np.where(mask, Y, np.nan))
    assert done.certificate_.converged and done.certificate_.kkt_violation <= 1e-6 * alpha
    ref = nuclear_objective(Y, mask, M, alpha)
    assert done.certificate_.sparse_objective == pytest.approx(ref, rel=1e-8)


# ------------------------------------------------------------- 3+4. singular systems on the support
def duplicated():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 8))
    y = X @ [2, -1.5, 0, 0, 1, 0, 0, 0.0] + 0.3 * rng.standard_normal(40)
    return np.column_stack([X, X[:, 0], -X[:, 4]]), y


def assert_lasso_optimal(X, y, alpha, coef, cert):
    ref = Lasso(alpha=alpha, tol=1e-14, max_iter=10**6).fit(X, y).coef_
    f, f_ref = lasso_objective(X, y, alpha, coef), lasso_objective(X, y, alpha, ref)
    assert f == pytest.approx(f_ref, rel=1e-8)
    assert cert.converged and cert.duality_gap <= 1e-10


@pytest.mark.parametrize("solver", ["lbfgs", "variational"])
def test_duplicated_columns_lasso(solver):
    X, y = duplicated()
    for alpha in (0.3, 0.1, 0.01):
        model = sl.HadamardLasso(alpha=alpha, solver=solver).fit(X, y)
        assert_lasso_optimal(X, y, alpha, model.coef_, model.certificate_)


def test_duplicated_columns_path_bridge_and_logistic():
    X, y = duplicated()
    alphas, coefs, certs = sl.hadamard_path(X, y, n_alphas=6)
    for a, b, c in zip(alphas, coefs.T, certs, strict=True):
        assert_lasso_optimal(X, y, a, b, c)
    # depth 3: the duplicate adds nothing; the fit is certified and as good as without it
    deep = sl.HadamardLasso(alpha=0.05, depth=3).fit(X, y)
    plain = sl.HadamardLasso(alpha=0.05, depth=3).fit(X[:, :8], y)
    assert deep.certificate_.converged
    assert deep.certificate_.sparse_objective <= plain.certificate_.sparse_objective * (1 + 1e-10)
    # logistic
    yb = (y > np.median(y)).astype(float)
    model = sl.HadamardLogisticRegression(alpha=0.02).fit(X, yb)
    f = logistic_objective(X, yb, 0.02, model.coef_[0], model.intercept_[0])
    f_ref = logistic_objective(X, yb, 0.02, *sklearn_logistic(X, yb, 0.02))
    assert f == pytest.approx(f_ref, rel=1e-8)
    assert model.certificate_.converged and model.certificate_.duality_gap <= 1e-10


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("solver", ["lbfgs", "variational"])
def test_more_features_than_samples(seed, solver):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((20, 60))
    y = X[:, :3] @ [1, 1, -2] + 0.3 * rng.standard_normal(20)
    for alpha in (0.01, 0.003, 0.001):
        model = sl.HadamardLasso(alpha=alpha, solver=solver).fit(X, y)
        assert_lasso_optimal(X, y, alpha, model.coef_, model.certificate_)


# ------------------------------------------------------------- 5. bridge: zero columns, NaN
def test_bridge_certificate_with_a_constant_column():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((50, 4))
    y = X @ [2, -1.5, 0, 1] + 0.3 * rng.standard_normal(50)
    Xk = np.column_stack([X, np.ones(50)])  # centred: a zero column
    for depth in (3, 4):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model = sl.HadamardLasso(alpha=0.05, depth=depth).fit(Xk, y)
        ref = sl.HadamardLasso(alpha=0.05, depth=depth).fit(X, y)
        cert = model.certificate_
        assert cert.converged and cert.zero_set_violation == 0.0
        assert np.isfinite(cert.kkt_violation) and cert.kkt_violation <= 1e-8 * 0.05
        np.testing.assert_allclose(model.coef_, [*ref.coef_, 0.0], rtol=1e-8, atol=1e-12)


def test_bridge_threshold_is_the_minimum_and_vanishes_with_the_curvature():
    for depth in (3, 4):
        pen = Bridge(depth)
        p, lam = pen.power, pen.weight(0.05)
        L = np.array([0.0, 1e-6, 0.3, 2.5])
        tau = pen.zero_threshold(0.05, L)
        b = np.geomspace(1e-6, 1e6, 200001)
        brute = [np.min(Lj * b / 2 + lam * b ** (p - 1)) for Lj in L[2:]]
        np.testing.assert_allclose(tau[2:], brute, rtol=1e-6)
        assert tau[0] == 0.0 and 0 < tau[1] < tau[2]


def test_stationarity_never_drops_a_nan():
    beta = np.array([1.0, 0.0])
    for pen in (L1(), Bridge(3)):
        kkt, zero = stationarity(np.array([0.05, np.nan]), beta, 0.05, pen, np.ones(2))
        assert np.isnan(kkt) and np.isnan(zero)


# ------------------------------------------------------------- 6. CV checks its solver parameters
@pytest.mark.parametrize("params", [{"tol": -1}, {"tol": 0}, {"max_iter": 0}, {"max_iter": "a"}])
def test_lasso_cv_checks_tol_and_max_iter(params):
    X, y = duplicated()
    with pytest.raises(ValueError) as single:
        sl.HadamardLasso(**params).fit(X, y)
    with pytest.raises(ValueError, match=str(single.value).replace(".", r"\.")):
        sl.HadamardLassoCV(n_alphas=3, cv=2, **params).fit(X, y)


# ------------------------------------------------------------- 7. weights diagnostics
def test_close_thresholds_keep_their_columns():
    w = np.array([[1e-8, 1.0000005e-8], [0.0, 1.0]])
    table = sparsity_by_layer([w], thresholds=(1e-8, 1.000001e-8))
    cols = [c for c in table.columns if c.startswith("frac_le_")]
    assert len(cols) == 2
    assert table.loc["0", cols].tolist() == [
        np.mean(np.abs(w) <= 1e-8),
        np.mean(np.abs(w) <= 1.000001e-8),
    ]
    with pytest.raises(ValueError, match="distinct"):
        sparsity_by_layer([w], thresholds=(1e-8, 1e-8))


def test_input_gate_is_folded_into_the_first_layer():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    model = sl.SparseMLPRegressor(
        (5,), penalty="hadamard_input", alpha=0.05, max_epochs=30, random_state=0
    ).fit(X, X[:, 0] - 2 * X[:, 1])
    first = model.params_[0]
    gate, W1 = np.asarray(first["gate"])[0], np.asarray(first["w"])[0]
    assert not np.allclose(np.abs(gate), 1.0)  # trained: folding matters
    expected = np.abs(gate[:, None] * W1).mean(axis=1)
    np.testing.assert_allclose(mean_abs_weight_per_feature(model).to_numpy(), expected)
    # the same as the prediction-time first layer read by as_dense
    np.testing.assert_allclose(expected, np.abs(as_dense(model).weights[0]).mean(axis=1))
    pair = (
        model.network_,
        [{k: np.asarray(v)[0] for k, v in layer.items()} for layer in model.params_],
    )
    np.testing.assert_allclose(mean_abs_weight_per_feature(pair).to_numpy(), expected)
