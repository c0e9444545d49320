"""Proximal operators and projections, as pure functions of arrays.

These are the closed forms every penalty and solver in the package shares:

* ``soft_threshold(x, t) = sign(x) max(|x| - t, 0)``: the prox of ``t ||.||_1``;
* ``group_soft_threshold(v, t, axis)``: the prox of ``t ||.||_2`` applied to each slice of ``v``
  along ``axis`` (block soft-thresholding);
* ``project_l2_ball(v, radius, axis)``: the Euclidean projection of each slice onto the ball of
  ``radius`` (the max-norm constraint).
"""

from __future__ import annotations

import jax.numpy as jnp


def soft_threshold(x, t):
    """``argmin_z 0.5 (z - x)^2 + t |z|``; exact zeros where ``|x| <= t``."""
    return jnp.sign(x) * jnp.maximum(jnp.abs(x) - t, 0.0)


def _norms(v, axis):
    return jnp.sqrt(jnp.sum(v * v, axis=axis, keepdims=True))


def group_soft_threshold(v, t, axis):
    """Block soft-thresholding: each slice ``g`` becomes ``max(1 - t / ||g||, 0) g``.

    ``axis`` names the dimension(s) that form one group, e.g. ``axis=1`` on a ``(p, h)`` first
    layer makes each input feature's row a group. Slices with ``||g|| <= t`` become exactly zero.
    """
    norms = _norms(v, axis)
    scale = jnp.maximum(1.0 - t / jnp.where(norms > 0, norms, 1.0), 0.0)
    return jnp.where(norms > 0, v * scale, 0.0)


def project_l2_ball(v, radius, axis):
    """Scale each slice along ``axis`` down to norm ``radius`` if it is longer."""
    norms = _norms(v, axis)
    return v * jnp.minimum(1.0, radius / jnp.maximum(norms, 1e-30))
