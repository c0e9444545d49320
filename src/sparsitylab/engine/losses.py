"""Data-fit terms: per-sample losses of a 2-D prediction and their weighted mean.

Every loss maps ``(pred (n, m), y) -> (n,)``; ``datafit`` averages with sample weights,
``sum_i w_i l_i / sum_i w_i``. The scalings match scikit-learn's linear models, so penalties keep
scikit-learn's meaning of ``alpha``:

* ``squared_error``: ``0.5 ||y_i - f_i||^2`` (half the squared error, as in ``Lasso``);
* ``logistic``: binary cross-entropy on the logit ``f_i``, ``y_i`` in {0, 1};
* ``softmax``: multinomial cross-entropy on logits ``f_i``, ``y_i`` an integer class index;
* ``huber``: ``0.5 r^2`` for ``|r| <= 1`` and ``|r| - 0.5`` beyond (``r = y_i - f_i``);
* ``poisson``: negative log-likelihood with log link, ``exp(f_i) - y_i f_i`` (constant dropped).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from sparsitylab.engine.networks import check_choice


def squared_error(pred, y):
    return 0.5 * jnp.sum((pred - y) ** 2, axis=-1)


def logistic(pred, y):
    z = pred[:, 0]
    return jax.nn.softplus(z) - y[:, 0] * z


def softmax(pred, y):
    logz = jax.nn.logsumexp(pred, axis=-1)
    picked = jnp.take_along_axis(pred, y.astype(jnp.int32)[:, None], axis=-1)[:, 0]
    return logz - picked


def huber(pred, y, delta=1.0):
    r = jnp.abs(pred - y)
    quad = jnp.minimum(r, delta)
    return jnp.sum(0.5 * quad**2 + delta * (r - quad), axis=-1)


def poisson(pred, y):
    return jnp.sum(jnp.exp(pred) - y * pred, axis=-1)


LOSSES = {
    "squared_error": squared_error,
    "logistic": logistic,
    "softmax": softmax,
    "huber": huber,
    "poisson": poisson,
}


def get_loss(name: str):
    check_choice("loss", name, LOSSES)
    return LOSSES[name]


def datafit(loss, pred, y, sample_weight=None):
    """Weighted mean of the per-sample loss, ``sum_i w_i l_i / sum_i w_i``; an all-zero weight
    vector gives 0.

    A row of weight 0 contributes nothing to the value or to the gradient, even where its loss
    or the loss's derivative overflows (``0 * inf`` would be NaN in either pass): its prediction
    is replaced by 0 before the loss (the gradient of the select is 0 there) and its term by 0
    after it."""
    if sample_weight is None:
        return jnp.mean(loss(pred, y))
    keep = sample_weight > 0
    per_sample = loss(jnp.where(keep[:, None], pred, 0.0), y)
    weighted = jnp.where(keep, sample_weight * per_sample, 0.0)
    return jnp.sum(weighted) / jnp.maximum(jnp.sum(sample_weight), 1e-12)
