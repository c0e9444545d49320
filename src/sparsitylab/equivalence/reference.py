"""Reference solvers for checking the networks: skglm's bridge penalties at the mapped strength.

The depth-``k`` Hadamard network with weight decay ``alpha`` equals the bridge penalty
``(alpha k / 2) sum |beta_j|^(2/k)``: skglm's ``L2_3(1.5 alpha)`` for ``k = 3`` and
``L0_5(2 alpha)`` for ``k = 4``. For these non-convex penalties ``beta = 0`` is always a local
minimum and skglm started from zero often stays there, so the reference is started from a given
point (the Lasso solution at the same alpha is the natural one). skglm is a test extra: it is
imported when called.
"""

from __future__ import annotations

import warnings

import numpy as np

from sparsitylab.equivalence._validation import check_Xy
from sparsitylab.equivalence.penalties import Bridge


def bridge_objective(X, y, beta, alpha, depth):
    """``1/(2n) ||y - X beta||^2 + (alpha k / 2) sum |beta_j|^(2/k)``, the network's objective."""
    r = y - X @ beta
    return 0.5 * r @ r / len(y) + Bridge(depth).value(beta, alpha)


def skglm_bridge_penalty(alpha, depth):
    """skglm's penalty equal to the depth-``depth`` network's at weight decay ``alpha``."""
    from skglm.penalties import L0_5, L2_3

    if depth == 3:
        return L2_3(1.5 * alpha)
    if depth == 4:
        return L0_5(2.0 * alpha)
    raise ValueError(f"skglm has bridge penalties for depth 3 and 4 only, got depth {depth}")


def skglm_bridge(X, y, alpha, depth, w_init, *, tol=1e-12, max_iter=1000):
    """skglm's ``AndersonCD`` on the mapped bridge problem (no intercept), from ``w_init``."""
    X, y = check_Xy(X, y)
    from skglm.datafits import Quadratic
    from skglm.solvers import AndersonCD

    w0 = np.array(w_init, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solver = AndersonCD(fit_intercept=False, tol=tol, max_iter=max_iter)
        pen = skglm_bridge_penalty(alpha, depth)
        return solver.solve(X, y, Quadratic(), pen, w_init=w0, Xw_init=X @ w0)[0]
