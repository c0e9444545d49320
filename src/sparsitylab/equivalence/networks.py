"""The Hadamard networks themselves, as pure JAX functions of their weights.

A depth-``k`` Hadamard network has one weight per input feature in each of ``k`` linear layers and
predicts ``X @ (w1 * ... * wk)``; with weight decay it is trained on

    F(w) = 1/(2n) ||y - X (w1 * ... * wk)||^2 + (alpha / 2) * sum_l ||w_l||^2.

For the squared loss we train it in *variable projection* form (Poon & Peyre): for fixed gates
``w2..wk`` the first layer is a ridge regression with a closed form, so the optimiser only sees

    phi(w2..wk) = min_{w1} F(w1, w2, ..., wk),

whose gradient is the partial gradient of ``F`` at the optimal ``w1`` (the envelope theorem). All of
it is written on the Gram matrix of a working set of features (``G = X_W^T X_W / n + ridge I``,
``c = X_W^T y / n``), so an iteration costs one small Cholesky factorisation. The gates may be
shared
by a group of features (``gid``): a scalar gate per group times a vector is the group lasso network.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import cho_factor, cho_solve


def network_objective(layers, X, y, intercept, alpha, ridge=0.0):
    """``F`` evaluated on the layers themselves (``layers``: shape ``(k, p)``), no shortcut taken.

    ``ridge`` adds ``(ridge / 2) ||beta||^2`` on the product (the elastic-net network).
    """
    beta = jnp.prod(layers, axis=0)
    r = y - X @ beta - intercept
    n = X.shape[0]
    return (
        0.5 * jnp.dot(r, r) / n
        + 0.5 * alpha * jnp.sum(layers * layers)
        + 0.5 * ridge * jnp.dot(beta, beta)
    )


def _first_layer(gates, G, c, alpha, gid):
    gate = jnp.prod(gates, axis=0)[gid]
    A = gate[:, None] * G * gate[None, :] + alpha * jnp.eye(G.shape[0], dtype=G.dtype)
    u = cho_solve(cho_factor(A, lower=True), gate * c)
    return u, gate


def varpro_objective(gates, G, c, alpha, gid, gate_weight):
    """``phi(gates)`` up to the constant ``||y||^2 / (2n)``; its gradient is exact (envelope)."""
    u, gate = _first_layer(gates, G, c, alpha, gid)
    u = jax.lax.stop_gradient(u)
    beta = gate * u
    loss = -jnp.dot(c, beta) + 0.5 * jnp.dot(beta, G @ beta)
    return loss + 0.5 * alpha * (jnp.dot(u, u) + jnp.sum(gate_weight * gates * gates))


@partial(jax.jit, static_argnames=())
def _varpro_value_and_grad(gates, G, c, alpha, gid, gate_weight):
    return jax.value_and_grad(varpro_objective)(gates, G, c, alpha, gid, gate_weight)


@jax.jit
def varpro_layers(gates, G, c, alpha, gid):
    """The first layer ``w1 = argmin_w1 F`` for the given gates, and the product ``beta``."""
    u, gate = _first_layer(gates, G, c, alpha, gid)
    return u, gate * u


def bucket(m: int) -> int:
    """Pad working sets to a few sizes so each compiled program is re-used (16, 32, 64, ...)."""
    return max(16, 1 << int(np.ceil(np.log2(max(m, 1)))))


def group_network_objective(gates, weights, groups, X, y, intercept, alpha):
    """The gated network ``beta_g = s_g z_g`` with decay ``(alpha/2)(sum |g| s_g^2 + ||z||^2)``."""
    sizes = jnp.bincount(groups, length=gates.shape[0])
    beta = gates[groups] * weights
    r = y - X @ beta - intercept
    return 0.5 * jnp.dot(r, r) / X.shape[0] + 0.5 * alpha * (
        jnp.sum(sizes * gates * gates) + jnp.dot(weights, weights)
    )
