"""Training that starts from given parameters (warm starts, retraining after pruning).

The engine's ``train`` always starts from ``network.init(key)``. Here the same compiled loop
(``engine.trainer._fit_one``) runs on a thin wrapper network whose ``init`` returns the
parameters passed in as traced arrays, so one compiled program serves every starting point of the
same shapes: a warm-started path over ``A`` penalty strengths compiles once, not ``A`` times.
Members (folds, ensemble members, path points) run exactly as in the engine: batched with
``vmap``, in concurrent calls sized by their work.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import numpy as np

from sparsitylab.engine.trainer import TrainResult, _fit_one, run_members


class _From:
    """``network`` whose ``init`` returns fixed (traced) parameters and state."""

    def __init__(self, network, params, state):
        self.network, self.params, self.state = network, params, state

    def init(self, key):
        return self.params, self.state

    def apply(self, *args, **kwargs):
        return self.network.apply(*args, **kwargs)


@lru_cache(maxsize=32)
def _compiled(network, config, n_batches, batch, may_skip, batched):
    def fit(start, data):
        member, params, state = start
        return _fit_one(
            _From(network, params, state), config, n_batches, batch, member, data, may_skip=may_skip
        )

    return jax.jit(jax.vmap(fit, in_axes=(0, None)) if batched else fit)


def train_from(network, config, data, members, params, state) -> TrainResult:
    """Train stacked ``members`` (leading axis ``M``) starting from ``params``/``state``, which
    carry the same leading axis. Returns the engine's :class:`TrainResult` (numpy arrays); the
    members run as the engine runs them (:func:`~sparsitylab.engine.trainer.run_members`)."""
    start = (members, params, state)
    return run_members(_compiled, network, config, data, start, members.train_weight)


@lru_cache(maxsize=32)
def _evaluator(network, loss_name):
    from sparsitylab.engine.losses import datafit, get_loss

    loss = get_loss(loss_name)

    def one(params, state, X, Y, w):
        return datafit(loss, network.apply(params, state, X)[0], Y, w)

    return jax.jit(jax.vmap(one, in_axes=(0, 0, None, None, 0)))


def weighted_loss(network, loss_name, params, state, X, Y, weights) -> np.ndarray:
    """The data-fit of each member (leading axis) on the rows weighted by ``weights`` (M, n)."""
    f = _evaluator(network, loss_name)
    return np.asarray(f(params, state, X, Y, weights))


@lru_cache(maxsize=32)
def _initializer(network):
    return jax.jit(jax.vmap(lambda k: network.init(jax.random.fold_in(k, 0))))


def init_members(network, keys):
    """Initial parameters and state of each member, as the engine draws them from its key (one
    compiled program: drawn op by op, the first call compiled every random op separately)."""
    params, state = _initializer(network)(keys)
    return params, state
