"""Matrix completion two ways: the factorised network and soft-impute (singular value thresholding).

The problem is ``min_M 1/2 sum_{(i,j) observed} (Y_ij - M_ij)^2 + alpha ||M||_*``. Its factorised
form (Srebro et al. 2004) is the two-layer linear network ``M = U V^T`` with weight decay,

    1/2 ||P(Y - U V^T)||_F^2 + (alpha/2) (||U||_F^2 + ||V||_F^2),

equal to it whenever the rank ``r`` of the factors is at least the rank of the nuclear-norm
solution,
because ``||M||_* = min_{U V^T = M} (||U||_F^2 + ||V||_F^2) / 2``, attained at the balanced
factorisation ``U = A S^(1/2)``, ``V = B S^(1/2)`` of the SVD ``M = A S B^T``.

``soft_impute`` is the reference: accelerated proximal gradient, whose prox is the singular value
soft-threshold ``SVT_alpha(Z) = A max(S - alpha, 0) B^T``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from sparsitylab.equivalence._threads import single_threaded_blas
from sparsitylab.equivalence._validation import check_alpha, check_observed


def svt(Z, t):
    """Singular value soft-thresholding: the prox of ``t ||.||_*``."""
    A, s, Bt = np.linalg.svd(Z, full_matrices=False)
    s = np.maximum(s - t, 0.0)
    k = int(np.count_nonzero(s))
    return (A[:, :k] * s[:k]) @ Bt[:k]


def nuclear_objective(Y, mask, M, alpha):
    R = np.where(mask, Y - M, 0.0)
    return 0.5 * float(np.sum(R * R)) + alpha * float(np.sum(np.linalg.svd(M, compute_uv=False)))


@single_threaded_blas
def soft_impute(Y, mask, alpha, *, max_iter=20000, tol=1e-13, M0=None):
    """Accelerated soft-impute: ``M <- SVT_alpha(P(Y) + P_perp(Z))`` with Nesterov momentum.

    The data term has a 1-Lipschitz gradient, so the step is 1. Stops when the relative change of
    ``M`` falls below ``tol``. ``alpha`` finite and > 0. Returns ``(M, n_iter)``.
    """
    Y, mask = check_observed(Y, mask)
    alpha = check_alpha(alpha)
    Yo = np.where(mask, Y, 0.0)
    M = np.zeros_like(Yo) if M0 is None else M0.copy()
    Z, t = M.copy(), 1.0
    for it in range(1, max_iter + 1):  # noqa: B007  (returned)
        M_new = svt(np.where(mask, Yo, Z), alpha)
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        Z = M_new + ((t - 1.0) / t_new) * (M_new - M)
        change = np.linalg.norm(M_new - M) / max(np.linalg.norm(M_new), 1e-300)
        M, t = M_new, t_new
        if change <= tol:
            break
    return M, it


def factorized_objective(params, Y, mask, alpha):
    """The network's objective on its two layers ``params = (U, V)``."""
    U, V = params
    R = jnp.where(mask, Y - U @ V.T, 0.0)
    return 0.5 * jnp.sum(R * R) + 0.5 * alpha * (jnp.sum(U * U) + jnp.sum(V * V))


_value_and_grad = jax.jit(jax.value_and_grad(factorized_objective))


@single_threaded_blas
def fit_factorized(Y, mask, alpha, rank, *, rng, max_iter=5000):
    """Train ``U V^T`` with weight decay ``alpha`` (finite, > 0) by L-BFGS from a small random
    start; -> (U, V, nit)."""
    Y, mask = check_observed(Y, mask)
    alpha = check_alpha(alpha)
    n, d = Y.shape
    Yo = np.where(mask, Y, 0.0)
    scale = np.sqrt(max(np.linalg.norm(Yo, 2), 1e-12) / rank)
    U0 = scale * rng.standard_normal((n, rank)) / np.sqrt(n)
    V0 = scale * rng.standard_normal((d, rank)) / np.sqrt(d)
    Yj, mj = jnp.asarray(Yo), jnp.asarray(mask)

    def fun(x):
        U, V = x[: n * rank].reshape(n, rank), x[n * rank :].reshape(d, rank)
        val, (gU, gV) = _value_and_grad((U, V), Yj, mj, alpha)
        return float(val), np.concatenate([np.asarray(gU).ravel(), np.asarray(gV).ravel()])

    res = scipy.optimize.minimize(
        fun, np.concatenate([U0.ravel(), V0.ravel()]), jac=True, method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": 1e-13 * max(np.abs(Yo).max(), 1e-300), "ftol": 0.0,
                 "maxcor": 30},
    )  # fmt: skip
    U, V = res.x[: n * rank].reshape(n, rank), res.x[n * rank :].reshape(d, rank)
    return U, V, int(res.nit)


def balance(U, V, floor=0.0):
    """Balanced factors ``A S^(1/2)``, ``B S^(1/2)`` of ``M = U V^T`` and its ``r`` largest
    singular values ``s`` (``r`` the factors' width). Singular values ``<= floor`` are set to
    exactly 0, with their factor columns: L-BFGS shrinks a direction the solution does not have
    towards 0 but never reaches it, and the exact finish drops it (the analogue of the Lasso's
    exact zeros)."""
    A, s, Bt = np.linalg.svd(U @ V.T, full_matrices=False)
    r = U.shape[1]
    s = np.where(s[:r] > floor, s[:r], 0.0)
    root = np.sqrt(s)
    return A[:, :r] * root, Bt[:r].T * root, s
