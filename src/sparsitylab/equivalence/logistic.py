"""The depth-2 Hadamard network with the logistic loss: L1-penalised logistic regression.

Trained on ``mean(log(1 + exp(z)) - y z) + (alpha / 2)(||u||^2 + ||v||^2)``, ``z = X (u * v) + b``
(labels 0/1, unpenalised intercept ``b``), which equals ``mean log-loss + alpha ||beta||_1`` at its
balanced minimisers: scikit-learn's ``LogisticRegression(penalty="l1", C=1 / (n alpha))``.

Same plan as the squared loss (``solvers.py``): working sets grown by the saddle condition
``|x_j^T (y - sigmoid(z)) / n| > alpha``, L-BFGS on the network's weights and intercept, then a
Newton solve of the balanced stationarity equations on the identified support and signs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from sparsitylab.equivalence._threads import single_threaded_blas
from sparsitylab.equivalence._validation import check_alpha, check_Xy
from sparsitylab.equivalence.networks import bucket
from sparsitylab.equivalence.solvers import SolveResult, kkt_floor, solve_psd


def logistic_network_objective(params, X, y, alpha):
    """``params = (u, v, b)``: the network's two layers and its intercept."""
    u, v, b = params
    z = X @ (u * v) + b
    return jnp.mean(jnp.logaddexp(0.0, z) - y * z) + 0.5 * alpha * (u @ u + v @ v)


_value_and_grad = jax.jit(jax.value_and_grad(logistic_network_objective))


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _train(XW, y, alpha, beta, b0, max_iter):
    n, m = XW.shape
    mb = bucket(m)
    Xp = np.zeros((n, mb))
    Xp[:, :m] = XW
    mag = np.sqrt(np.abs(beta))
    x0 = np.zeros(2 * mb + 1)
    x0[:m] = np.sign(beta) * mag
    x0[mb : mb + m] = mag
    x0[-1] = b0

    def fun(x):
        val, (gu, gv, gb) = _value_and_grad((x[:mb], x[mb : 2 * mb], x[-1]), Xp, y, alpha)
        return float(val), np.concatenate([np.asarray(gu), np.asarray(gv), [float(gb)]])

    res = scipy.optimize.minimize(
        fun, x0, jac=True, method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": 1e-12, "ftol": 0.0, "maxcor": 20},
    )  # fmt: skip
    u, v = res.x[:m], res.x[mb : mb + m]
    return u * v, float(res.x[-1]), int(res.nit)


def _exact(XS, y, s, alpha, beta, b):
    """Newton on ``mean log-loss + alpha s . beta`` over (beta_S, b); the signs are fixed."""
    n, k = XS.shape
    A = np.column_stack([XS, np.ones(n)])
    w = np.append(beta, b)
    lin = np.append(alpha * s, 0.0)

    def f(w):
        z = A @ w
        return np.mean(np.logaddexp(0.0, z) - y * z) + lin @ w

    def gradient(w):
        return A.T @ (_sigmoid(A @ w) - y) / n + lin

    for _ in range(100):
        z = A @ w
        pr = _sigmoid(z)
        grad = A.T @ (pr - y) / n + lin
        H = (A * (pr * (1 - pr))[:, None]).T @ A / n
        if np.max(np.abs(grad)) <= 1e-15:
            break
        d = -solve_psd(H, grad)  # minimum-norm step where H is singular (duplicated columns)
        t, f0 = 1.0, f(w)
        # near the optimum a Newton step lowers f by less than f's rounding (ill-conditioned
        # H): there a step that keeps f within rounding and shrinks the gradient is taken
        noise = 1e-15 * max(1.0, abs(f0))
        g0 = np.max(np.abs(grad))
        slope = grad @ d
        while t > 1e-12:
            ft = f(w + t * d)
            if ft <= f0 + 1e-4 * t * slope:  # Armijo
                break
            if ft <= f0 + noise and np.max(np.abs(gradient(w + t * d))) < g0:
                break
            t *= 0.5
        w = w + t * d
        if np.max(np.abs(t * d)) <= 1e-15 * max(1.0, np.max(np.abs(w))):
            break
    return w[:k], w[k]


def logistic_kkt_floor(X, beta, intercept):
    """``solvers.kkt_floor`` for ``g = X^T rho / n``, ``rho = y - sigmoid(X beta + b)``: each
    ``|rho_i| <= 1`` and the rounding of ``z`` passes through ``sigmoid' <= 1/4``, so ``||y||``
    becomes ``sqrt(n) (1 + |b|)``."""
    return kkt_floor(X, beta, np.sqrt(X.shape[0]) * (1.0 + abs(intercept)))


@single_threaded_blas
def fit_logistic(X, y01, alpha, *, max_iter=1000, max_outer=100, kkt_tol=None):
    """``argmin mean log-loss + alpha ||beta||_1`` via the network; returns (result, intercept).

    ``alpha`` finite and > 0. Converged: KKT violation (the intercept's ``|mean(rho)|`` included)
    ``<= kkt_tol + logistic_kkt_floor`` (default ``kkt_tol = 1e-10 alpha``).
    """
    X, y01 = check_Xy(X, y01)
    alpha = check_alpha(alpha)
    n, p = X.shape
    if kkt_tol is None:
        kkt_tol = 1e-10 * alpha
    lipschitz = np.einsum("ij,ij->j", X, X) / (4 * n)
    ybar = np.clip(y01.mean(), 1e-12, 1 - 1e-12)
    beta, b = np.zeros(p), float(np.log(ybar / (1 - ybar)))
    out = SolveResult(beta=beta)
    for outer in range(max_outer):
        rho = y01 - _sigmoid(X @ beta + b)
        g = X.T @ rho / n
        on = beta != 0
        kkt = float(
            np.max([
                np.max(np.abs(g[on] - alpha * np.sign(beta[on])), initial=0.0),
                np.max(np.abs(g[~on]) - alpha, initial=0.0),
                abs(np.mean(rho)),  # the intercept's stationarity
            ])
        )  # fmt: skip
        out.history.append(kkt)
        out.n_outer = outer
        tolerance = kkt_tol + logistic_kkt_floor(X, beta, b)
        if kkt <= tolerance and outer > 0:
            out.converged = True
            break
        viol = np.where(on, -np.inf, np.abs(g) - alpha)
        cand = np.flatnonzero(viol > 0)
        cand = cand[np.argsort(-viol[cand])][: max(10, int(on.sum()))]
        beta[cand] = np.sign(g[cand]) * (np.abs(g[cand]) - alpha) / lipschitz[cand]
        W = np.flatnonzero(beta)
        if W.size == 0:
            # only the intercept: its optimum is the log-odds of the labels
            out.converged = kkt <= tolerance
            break
        b_net, b, nit = _train(X[:, W], y01, alpha, beta[W], b, max_iter)
        out.n_iter += nit
        keep = np.abs(b_net) > 1e-7 * np.max(np.abs(b_net))
        S, s = W[keep], np.sign(b_net[keep])
        bs = b_net[keep]
        while S.size:
            bs_new, b_new = _exact(X[:, S], y01, s, alpha, bs, b)
            bad = np.sign(bs_new) != s
            if not bad.any():
                bs, b = bs_new, b_new
                break
            S, s, bs = S[~bad], s[~bad], bs[~bad]
        beta = np.zeros(p)
        beta[S] = bs
        nb = np.linalg.norm(beta)
        full_net = np.zeros(p)
        full_net[W] = b_net
        out.exact_step_change = float(np.linalg.norm(beta - full_net) / nb) if nb else 0.0
    out.beta = beta
    return out, b
