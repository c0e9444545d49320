"""Training that starts from given parameters (warm starts, retraining after pruning).

The engine's ``train`` always starts from ``network.init(key)``. Here the same compiled loop
(``engine.trainer._fit_one``) runs on a thin wrapper network whose ``init`` returns the
parameters passed in as traced arrays, so one compiled program serves every starting point of the
same shapes: a warm-started path over ``A`` penalty strengths compiles once, not ``A`` times.
Members (folds, ensemble members, path points) run exactly as in the engine: batched with
``vmap``, in concurrent calls sized by their work. Members whose first-layer rows are partly
held at zero (a monotone path, a relaxed refit) can train on the inputs still in use only.
"""

from __future__ import annotations

import dataclasses
import math
from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np

from sparsitylab.engine.compilation import compiler_options
from sparsitylab.engine.networks import MLP
from sparsitylab.engine.penalties import Mask, Sum
from sparsitylab.engine.trainer import (
    TrainResult,
    _fit_one,
    batch_geometry,
    is_large,
    run_members,
)


class _From:
    """``network`` whose ``init`` returns fixed (traced) parameters and state."""

    def __init__(self, network, params, state):
        self.network, self.params, self.state = network, params, state

    def init(self, key):
        return self.params, self.state

    def apply(self, *args, **kwargs):
        return self.network.apply(*args, **kwargs)


def narrow_width(n_kept: int, n_inputs: int) -> int:
    """The input width a member with ``n_kept`` usable inputs trains at: the next power of two,
    at most ``n_inputs`` (few distinct widths: few compiled programs)."""
    return min(n_inputs, 1 << max(0, math.ceil(math.log2(max(n_kept, 1)))))


def _can_narrow(network) -> bool:
    return isinstance(network, MLP) and not network.input_gate


@lru_cache(maxsize=32)
def _compiled(network, config, geometry, batched, label=None, fast=False):
    """The fit from given parameters; with ``label`` (an input width) on the columns
    ``start[3][:label]`` of the inputs only (index ``n_inputs``: a zero column); compiled fast
    with ``fast`` (:mod:`~sparsitylab.engine.compilation`)."""

    def fit(start, data):
        member, params, state, columns = start
        net = network
        if label is not None:
            p = network.n_inputs
            cols = columns[:label]
            take = partial(jnp.take, indices=cols, axis=1, mode="fill", fill_value=0)
            data = dataclasses.replace(
                data, X=take(data.X), X_val=None if data.X_val is None else take(data.X_val)
            )
            first = {**params[0], "w": jnp.take(params[0]["w"], cols, 0, mode="fill", fill_value=0)}
            params = (first, *params[1:])
            net = dataclasses.replace(network, n_inputs=label)
        out = _fit_one(_From(net, params, state), config, geometry, member, data)
        if label is not None:  # back to every input: the unused rows are exactly zero
            w = out["params"][0]["w"]
            full = jnp.zeros((p, w.shape[1]), w.dtype).at[cols].set(w, mode="drop")
            out["params"] = ({**out["params"][0], "w": full}, *out["params"][1:])
        return out

    program = jax.vmap(fit, in_axes=(0, None)) if batched else fit
    return jax.jit(program, compiler_options=compiler_options(fast))


def train_from(network, config, data, members, params, state, keep=None) -> TrainResult:
    """Train stacked ``members`` (leading axis ``M``) starting from ``params``/``state``, which
    carry the same leading axis. Returns the engine's :class:`TrainResult` (numpy arrays); the
    members run as the engine runs them (:func:`~sparsitylab.engine.trainer.run_members`).

    ``keep``: ``(M, n_inputs)`` booleans, the inputs each member may use; the first-layer rows of
    the others must be zero and stay exactly zero. An MLP without input gate whose steps are
    large (:func:`~sparsitylab.engine.trainer.is_large`) then trains on the kept columns only,
    padded with zero columns to :func:`narrow_width` (a held row contributes nothing, so this is
    the same fit with fewer multiply-adds, in one more compiled program per width); otherwise
    the rows are held at zero by a :class:`~sparsitylab.engine.penalties.Mask`.

    As the engine's ``train``, refuses L-BFGS with a penalty that needs proximal steps (L-BFGS
    takes none) and with ``keep``: the weights held at zero would regrow.
    """
    if members.optimizer.name == "lbfgs" and (members.penalty.has_prox or keep is not None):
        raise ValueError(
            "L-BFGS takes no proximal steps, so it cannot hold weights at exactly zero (pruning "
            "masks, dropped inputs) nor apply L1, elastic net, group lasso or max-norm; use a "
            "first-order optimizer, e.g. set_params(optimizer='adam') or 'sgd'"
        )
    if keep is None:
        start = (members, params, state, None)
        return run_members(_compiled, network, config, data, start, members.train_weight)
    keep = np.asarray(keep, bool)
    geometry = batch_geometry(members.train_weight, config.batch_size)
    if not (_can_narrow(network) and is_large(network, geometry)):
        shapes = [np.shape(layer["w"]) for layer in params]
        masks = [np.broadcast_to(keep[..., None], shapes[0]).astype(np.float32)]
        masks += [np.ones(shape, np.float32) for shape in shapes[1:]]
        # the mask first: the penalty's prox (a unit's max-norm, group norm) then sees the held
        # rows at zero, as the reduced problem on the kept columns does
        held = Sum((Mask(tuple(masks)), members.penalty))
        start = (dataclasses.replace(members, penalty=held), params, state, None)
        return run_members(_compiled, network, config, data, start, members.train_weight)
    m, p = keep.shape
    columns = np.full((m, p), p, np.int32)  # kept columns first, then p (a zero column)
    for i, row in enumerate(keep):
        kept = np.flatnonzero(row)
        columns[i, : len(kept)] = kept
    widths = [narrow_width(int(k), p) for k in keep.sum(axis=1)]
    start = (members, params, state, columns)
    return run_members(_compiled, network, config, data, start, members.train_weight, labels=widths)


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
