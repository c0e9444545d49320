"""Regularisation paths of Hadamard networks: warm starts (default) or all alphas batched by
``vmap``.

``alpha_grid`` is scikit-learn's: ``alpha_max = max_j |x_j^T y| / n`` (the smallest alpha whose
Lasso
solution is 0; below it the saddle at zero has an escape direction) down to ``eps * alpha_max`` on a
log scale.

Two strategies, measured against each other in ``benchmarks/bench_lasso_path.py``:

* ``"warm"``: one alpha after the other, each network started from the previous solution's balanced
  layers; the working set carries over, so only the features that enter are trained afresh.
* ``"vmap"``: every alpha's network trained at once on all features by ``optax.lbfgs`` under
  ``jax.vmap`` (one compiled program, a fixed number of steps), each then finished and checked like
  a single fit (a fit whose check fails is finished by the working-set solver).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from sparsitylab.equivalence._threads import single_threaded_blas
from sparsitylab.equivalence.networks import varpro_layers, varpro_objective
from sparsitylab.equivalence.penalties import L1
from sparsitylab.equivalence.solvers import _identify, _lasso_exact, fit_bridge, fit_quadratic


def alpha_grid(X, y, n_alphas=100, eps=1e-3, l1_ratio=1.0):
    """``n_alphas`` geometric values from ``alpha_max`` to ``eps * alpha_max`` (centred data)."""
    n = X.shape[0]
    alpha_max = float(np.max(np.abs(X.T @ y))) / (n * l1_ratio)
    if alpha_max <= 0:
        alpha_max = 1.0
    return np.geomspace(alpha_max, alpha_max * eps, n_alphas)


@single_threaded_blas
def path_warm(X, y, alphas, depth=2, ridge=0.0):
    """Warm-started path; returns coefficients ``(n_alphas, p)`` and the solver results."""
    beta, coefs, results = None, [], []
    for a in alphas:
        if depth == 2:
            res = fit_quadratic(X, y, a, L1(), ridge=ridge, beta0=beta)
        else:
            lasso = fit_quadratic(X, y, a, L1(), ridge=ridge, beta0=beta)
            res = fit_bridge(X, y, a, depth, ridge=ridge, beta_lasso=lasso.beta, starts=(1.0,))
            beta = lasso.beta  # the Lasso path carries the warm start
        if depth == 2:
            beta = res.beta
        coefs.append(res.beta)
        results.append(res)
    return np.array(coefs), results


def _batched_network(n_steps):
    opt = optax.lbfgs()

    def solve_one(alpha, G, c, gid, w, v0):
        def f(V):
            return varpro_objective(V, G, c, alpha, gid, w)

        vg = optax.value_and_grad_from_state(f)

        def step(carry, _):
            V, state = carry
            val, grad = vg(V, state=state)
            upd, state = opt.update(grad, state, V, value=val, grad=grad, value_fn=f)
            return (optax.apply_updates(V, upd), state), None

        (V, _), _ = jax.lax.scan(step, (v0, opt.init(v0)), None, length=n_steps)
        return varpro_layers(V, G, c, alpha, gid)[1]

    return jax.jit(jax.vmap(solve_one, in_axes=(0, None, None, None, None, None)))


_BATCHED = {}


@single_threaded_blas
def path_vmap(X, y, alphas, n_steps=200):
    """All alphas at once (depth 2): batched L-BFGS on the full network, then the exact finish."""
    n, p = X.shape
    G = X.T @ X / n
    c = X.T @ y / n
    gid = jnp.arange(p)
    w = jnp.ones(p)
    v0 = jnp.sqrt(jnp.abs(c) / jnp.maximum(jnp.diag(G), 1e-300))[None, :]
    if n_steps not in _BATCHED:
        _BATCHED[n_steps] = _batched_network(n_steps)
    nets = np.asarray(_BATCHED[n_steps](jnp.asarray(alphas), G, c, gid, w, v0))
    coefs, results = [], []
    for a, b_net in zip(alphas, nets, strict=True):
        b = _lasso_exact(G, c, _identify(b_net, np.arange(p)), a)
        res = fit_quadratic(
            X, y, a, L1(), beta0=b
        )  # checks; trains further only if the check fails
        coefs.append(res.beta)
        results.append(res)
    return np.array(coefs), results
