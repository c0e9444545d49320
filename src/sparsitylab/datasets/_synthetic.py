"""The seeds' synthetic problems, reproducible from ``random_state``."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state


def make_quadratic_toy(
    n_samples: int = 10, n_test: int = 100, noise: float = 0.2, random_state=None
):
    """Seed 001's toy: ``y = x^2 + N(0, noise^2)`` on an even grid of [-1, 1].

    Returns ``X_train (n_samples, 1), y_train, X_test (n_test, 1), y_test``; the test set is drawn
    from the same distribution (deliberately large, so test error is a converged estimate).
    """
    if n_samples < 2 or n_test < 1:
        raise ValueError(f"need n_samples >= 2 and n_test >= 1, got {n_samples} and {n_test}")
    rng = check_random_state(random_state)
    x = np.linspace(-1.0, 1.0, n_samples)
    y = x**2 + rng.normal(0.0, noise, n_samples)
    xt = np.linspace(-1.0, 1.0, n_test)
    yt = xt**2 + rng.normal(0.0, noise, n_test)
    return x[:, None], y, xt[:, None], yt


def make_sine_toy(n_samples: int = 200, noise: float = 0.0, random_state=None):
    """Seed 003 (problem 4): ``y = sin(pi x / 4)`` at ``n_samples`` even points of [-2, 2].

    Returns ``X (n_samples, 1), y``; ``noise`` adds N(0, noise^2).
    """
    if n_samples < 2:
        raise ValueError(f"need n_samples >= 2, got {n_samples}")
    rng = check_random_state(random_state)
    x = np.linspace(-2.0, 2.0, n_samples)
    y = np.sin(np.pi * x / 4.0)
    if noise:
        y = y + rng.normal(0.0, noise, n_samples)
    return x[:, None], y


def make_sparse_regression(
    n_samples: int = 200,
    n_features: int = 50,
    n_informative: int = 5,
    *,
    rho: float = 0.0,
    noise: float = 0.1,
    nonlinear: bool = False,
    random_state=None,
    return_roles: bool = False,
):
    """A regression problem where only the first ``n_informative`` features matter.

    Features are Gaussian with ``corr(x_i, x_j) = rho^|i - j|`` (Toeplitz), then the informative
    columns are moved to random positions. With ``nonlinear=False`` the target is
    ``X[:, S] @ beta_S + noise * N(0, 1)``, ``beta_S`` of random signs and magnitudes in [1, 2].
    With ``nonlinear=True`` (needs ``n_informative >= 4``) the first two informative features
    enter linearly and the others non-linearly: ``2 sin(2 x_3)``, ``2 x_4 x_5`` and
    ``x_j^2 - 1`` after
    that (a square alone when ``n_informative == 4``): a linear model cannot see the product and
    square terms, whose features are uncorrelated with the target.

    Returns ``X, y, support`` where ``support`` holds the sorted informative column indices;
    with ``return_roles=True`` also ``roles``, each support column's term: ``"linear"``, ``"sin"``,
    ``"product"`` or ``"square"``.
    """
    if not 0 < n_informative <= n_features:
        raise ValueError(f"need 0 < n_informative <= n_features, got {n_informative}, {n_features}")
    if not -1.0 < rho < 1.0:
        raise ValueError(f"rho must lie in (-1, 1), got {rho}")
    if nonlinear and n_informative < 4:
        raise ValueError("nonlinear=True needs n_informative >= 4")
    rng = check_random_state(random_state)
    idx = np.arange(n_features)
    cov = rho ** np.abs(idx[:, None] - idx[None, :])
    X = rng.standard_normal((n_samples, n_features)) @ np.linalg.cholesky(cov).T
    perm = rng.permutation(n_features)
    X = X[:, perm]
    support = np.sort(np.flatnonzero(perm < n_informative))
    # columns of the informative features, in the order of their original index
    cols = np.argsort(perm)[:n_informative]
    Z = X[:, cols]
    if not nonlinear:
        beta = rng.uniform(1.0, 2.0, n_informative) * rng.choice([-1.0, 1.0], n_informative)
        f = Z @ beta
    else:
        f = 1.5 * Z[:, 0] - 1.5 * Z[:, 1] + 2.0 * np.sin(2.0 * Z[:, 2])
        if n_informative == 4:
            f = f + 2.0 * (Z[:, 3] ** 2 - 1.0)
        else:
            f = f + 2.0 * Z[:, 3] * Z[:, 4]
            for j in range(5, n_informative):
                f = f + (Z[:, j] ** 2 - 1.0)
    y = f + noise * rng.normal(size=n_samples)
    if not return_roles:
        return X, y, support
    if not nonlinear:
        terms = ["linear"] * n_informative
    elif n_informative == 4:
        terms = ["linear", "linear", "sin", "square"]
    else:
        terms = ["linear", "linear", "sin", "product", "product"] + ["square"] * (n_informative - 5)
    role_of = dict(zip(cols.tolist(), terms, strict=True))
    return X, y, support, [role_of[int(c)] for c in support]
