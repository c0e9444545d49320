"""Bundled data and the seeds' synthetic problems."""

import numpy as np
import pytest
from sklearn.linear_model import Lasso
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sparsitylab import datasets


def test_boston_reproduces_the_reports_lasso_row():
    X, y = datasets.load_boston(return_X_y=True)
    assert X.shape == (506, 13) and list(X.columns) == list(datasets.BOSTON_FEATURES)
    assert y.name == "MEDV"
    Xtr, Xte, ytr, yte = train_test_split(
        X.to_numpy(), y.to_numpy(), test_size=0.2, random_state=42
    )
    scaler = StandardScaler().fit(Xtr)
    pred = Lasso(alpha=0.1).fit(scaler.transform(Xtr), ytr).predict(scaler.transform(Xte))
    assert round(mean_squared_error(yte, pred), 4) == 25.6567
    assert round(r2_score(yte, pred), 4) == 0.6501


def test_mnist_subset():
    bunch = datasets.load_mnist5k()
    assert bunch.data.shape == (5000, 784) and bunch.data.dtype == np.float32
    assert 0.0 <= bunch.data.min() and bunch.data.max() <= 1.0
    np.testing.assert_array_equal(np.bincount(bunch.target), [500] * 10)


def test_toys():
    X, y, Xt, yt = datasets.make_quadratic_toy(random_state=0)
    assert X.shape == (10, 1) and Xt.shape == (100, 1)
    assert np.std(y - X[:, 0] ** 2) == pytest.approx(0.2, abs=0.15)
    X, y = datasets.make_sine_toy()
    np.testing.assert_allclose(y, np.sin(np.pi * X[:, 0] / 4))
    assert X.min() == -2 and X.max() == 2 and len(X) == 200


def test_sparse_regression_support_and_errors():
    X, y, support = datasets.make_sparse_regression(400, 30, 5, rho=0.5, random_state=0)
    assert X.shape == (400, 30) and len(support) == 5
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    assert set(np.argsort(-np.abs(beta))[:5]) == set(support)
    with pytest.raises(ValueError, match="n_informative"):
        datasets.make_sparse_regression(10, 5, 6)
    with pytest.raises(ValueError, match="rho"):
        datasets.make_sparse_regression(10, 5, 2, rho=1.0)


def test_subpackages_and_names_resolve_from_the_top_level():
    import sparsitylab

    assert sparsitylab.datasets.load_boston is datasets.load_boston
    assert sparsitylab.SparseMLPRegressor.__name__ == "SparseMLPRegressor"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        sparsitylab.nope  # noqa: B018


def test_sparse_regression_roles_rebuild_the_target():
    from sparsitylab.datasets import make_sparse_regression

    X, y, support, roles = make_sparse_regression(
        300, 20, 5, nonlinear=True, noise=0.0, random_state=3, return_roles=True
    )
    X2, y2, support2 = make_sparse_regression(300, 20, 5, nonlinear=True, noise=0.0, random_state=3)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(support, support2)
    assert sorted(roles) == ["linear", "linear", "product", "product", "sin"]
    col = dict(zip(roles, support, strict=True))  # one column per role name (the last of each)
    lin = [c for r, c in zip(roles, support, strict=True) if r == "linear"]
    prod = [c for r, c in zip(roles, support, strict=True) if r == "product"]
    f = 1.5 * X[:, lin[0]] - 1.5 * X[:, lin[1]] + 2 * np.sin(2 * X[:, col["sin"]])
    f = f + 2 * X[:, prod[0]] * X[:, prod[1]]
    # the two linear columns may come in either order: one of the two signs matches
    g = f + 3.0 * (X[:, lin[1]] - X[:, lin[0]])
    assert min(np.max(np.abs(y - f)), np.max(np.abs(y - g))) < 1e-12
