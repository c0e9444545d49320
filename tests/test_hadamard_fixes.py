"""Regressions: input validation, feature names and selected features of the Hadamard estimators."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

import sparsitylab as sl
from sparsitylab.equivalence.certificates import Certificate, lasso_duality_gap
from sparsitylab.equivalence.logistic import fit_logistic
from sparsitylab.equivalence.path import alpha_grid, lasso_path_active, path_vmap_folds
from sparsitylab.equivalence.penalties import L1
from sparsitylab.equivalence.softimpute import soft_impute
from sparsitylab.equivalence.solvers import fit_bridge, fit_quadratic, fit_variational


def _problem(n=40, p=10, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    y = X[:, 0] - 2.0 * X[:, 3] + 0.1 * rng.standard_normal(n)
    return X, y


def test_cv_keeps_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = _problem()
    frame = pd.DataFrame(X, columns=[f"c{j}" for j in range(X.shape[1])])
    model = sl.HadamardLassoCV(cv=3, n_alphas=5).fit(frame, y)
    assert list(model.feature_names_in_) == list(frame.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(frame)


@pytest.mark.parametrize(
    ("alphas", "match"),
    [
        ([-1.0, 0.1], "finite real number > 0"),
        ([0.0, 0.1], "finite real number > 0"),
        ([0.1, np.nan], "finite real number > 0"),
        ([0.1, np.inf], "finite real number > 0"),
        ([], "non-empty"),
        (0.1, "non-empty 1-D"),
        (0, "alphas must be an integer >= 1"),
    ],
)
def test_bad_alphas(alphas, match):
    X, y = _problem()
    with pytest.raises(ValueError, match=match):
        sl.HadamardLassoCV(alphas=alphas, cv=3).fit(X, y)
    with pytest.raises(ValueError, match=match):
        sl.hadamard_path(X, y, alphas=alphas)


def test_int_alphas_is_the_number_of_alphas():
    """scikit-learn >= 1.7: ``LassoCV(alphas=10)`` tries 10 alphas on the default grid."""
    X, y = _problem()
    model = sl.HadamardLassoCV(alphas=6, cv=3).fit(X, y)
    assert model.alphas_.shape == (6,)
    assert np.allclose(model.alphas_, sl.HadamardLassoCV(n_alphas=6, cv=3).fit(X, y).alphas_)
    alphas, coefs, certs = sl.hadamard_path(X, y, alphas=4)
    assert alphas.shape == (4,) and coefs.shape == (X.shape[1], 4) and len(certs) == 4
    with pytest.raises(ValueError, match="eps must be"):
        sl.hadamard_path(X, y, eps=0.0)


def test_logistic_one_class_and_three_classes():
    X, _ = _problem()
    model = sl.HadamardLogisticRegression(alpha=0.1)
    with pytest.raises(ValueError, match="needs at least 2 classes"):
        model.fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="binary"):
        model.fit(X, np.arange(len(X)) % 3)
    with pytest.raises(ValueError, match="Unknown label type"):
        model.fit(X, np.linspace(0.0, 1.0, len(X)))
    assert model.__sklearn_tags__().classifier_tags.multi_class is False


def test_path_rejects_non_finite_data():
    X, y = _problem()
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        sl.hadamard_path(Xn, y, alphas=[0.1, 0.01])
    with pytest.raises(ValueError, match="Input X contains NaN"):
        sl.hadamard_path(Xn, y, n_alphas=3)
    yi = y.copy()
    yi[2] = np.inf
    with pytest.raises(ValueError, match="Input y contains infinity"):
        sl.hadamard_path(X, yi, n_alphas=3)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        sl.hadamard_path(X, y[:-1], n_alphas=3)
    with pytest.raises(ValueError, match="Expected 2D array"):
        sl.hadamard_path(X[:, 0], y, n_alphas=3)


@pytest.mark.parametrize(
    "solve",
    [
        lambda X, y: alpha_grid(X, y),
        lambda X, y: lasso_path_active(X, y, [0.1, 0.01]),
        lambda X, y: path_vmap_folds([(X, y)], [0.1]),
        lambda X, y: fit_quadratic(X, y, 0.1, L1()),
        lambda X, y: fit_variational(X, y, 0.1),
        lambda X, y: fit_bridge(X, y, 0.1, 3),
        lambda X, y: fit_logistic(X, (y > 0).astype(float), 0.1),
    ],
)
def test_solvers_reject_non_finite_data(solve):
    X, y = _problem()
    Xn = X.copy()
    Xn[3, 2] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        solve(Xn, y)


def test_soft_impute_rejects_non_finite_observed_entries():
    Y = np.arange(12.0).reshape(3, 4)
    mask = np.ones_like(Y, dtype=bool)
    mask[0, 0] = False
    Y[0, 0] = np.nan  # unobserved: ignored
    soft_impute(Y, mask, 1.0, max_iter=5)
    Y[1, 1] = np.inf
    with pytest.raises(ValueError, match="observed entries"):
        soft_impute(Y, mask, 1.0)


def test_certificate_with_nan_objectives_certifies_nothing():
    X, y = _problem()
    beta = np.zeros(X.shape[1])
    beta[0] = np.nan
    gap = lasso_duality_gap(X, y, beta, 0.1)
    assert np.isnan(gap)
    cert = Certificate(
        problem="lasso",
        network_objective=float("nan"),
        sparse_objective=float("nan"),
        duality_gap=0.0,
        kkt_violation=0.0,
        zero_set_violation=0.0,
    )
    assert np.isnan(cert.duality_gap) and not cert.converged
    assert "rel. gap 0.00e+00" not in str(cert)


def test_group_labels_of_the_wrong_length():
    X, y = _problem()
    with pytest.raises(ValueError, match="groups has 3 labels but X has 10 features"):
        sl.HadamardGroupLasso(groups=[0, 0, 1]).fit(X, y)


@pytest.mark.parametrize(
    "make",
    [
        lambda: sl.HadamardLasso(alpha=0.3),
        lambda: sl.HadamardLasso(alpha=0.3, depth=3),
        lambda: sl.HadamardElasticNet(alpha=0.3),
        lambda: sl.HadamardGroupLasso(alpha=0.3, groups=np.arange(10) // 2),
        lambda: sl.HadamardLassoCV(cv=3, n_alphas=5),
        lambda: sl.HadamardLogisticRegression(alpha=0.05),
    ],
)
def test_selected_features(make):
    pd = pytest.importorskip("pandas")
    X, y = _problem()
    model = make()
    with pytest.raises(NotFittedError):
        _ = model.selected_feature_names_
    if isinstance(model, sl.HadamardLogisticRegression):
        y = (y > 0).astype(int)
    model.fit(X, y)
    coef = np.atleast_2d(model.coef_)
    expected = np.flatnonzero(np.any(coef != 0, axis=0))
    assert 0 < expected.size < X.shape[1]
    assert np.array_equal(model.selected_features_, expected)
    assert list(model.selected_feature_names_) == [f"x{j}" for j in expected]
    names = [f"c{j}" for j in range(X.shape[1])]
    model.fit(pd.DataFrame(X, columns=names), y)
    assert list(model.selected_feature_names_) == [names[j] for j in expected]
