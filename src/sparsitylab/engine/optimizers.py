"""Optimizers as chains of small optax gradient transformations.

A training step is one chain, read left to right::

    scale_by_<rule>  ->  decoupled weight decay  ->  scale by -learning_rate  ->  proximal step

* the *rule* is the optimizer proper (identity for SGD, a trace for momentum and Nesterov,
  Adam's moments, RMSProp, AdaGrad, AdaDelta);
* *decoupled weight decay* adds ``weight_decay * w`` to the update direction of the weights
  before the learning rate scales it, so a step shrinks ``w`` by ``lr * weight_decay * w``
  independently of the adaptive rule (AdamW; Loshchilov & Hutter 2019). ``"adamw"`` is Adam
  with this transformation; any rule can use it;
* the *proximal step* applies the penalty's prox to the parameters the update would produce:
  soft-thresholding for L1 (exact zeros), block soft-thresholding for the group lasso,
  projection for max-norm constraints. Its step is ``learning_rate`` times the rule's own
  per-coordinate step size (1 for SGD, the trace's sum ``(1 - momentum^k) / (1 - momentum)``
  for momentum and Nesterov, ``1 / (sqrt(v_hat) + eps)`` for Adam, ...), so that ``alpha`` keeps
  its meaning under momentum and adaptive optimizers: the fixed points are stationary points of
  ``loss + Omega``.

``Optimizer`` is a pytree whose learning rate, weight decay and momentum are array leaves, so a
batch of them trains under ``vmap``. L-BFGS (full batch, smooth objectives only) is optax's
``lbfgs`` with its zoom line search; the trainer drives it.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from sparsitylab.engine.networks import check_choice, check_number
from sparsitylab.engine.penalties import WEIGHTS, Penalty, Selector

OPTIMIZERS = (
    "sgd",
    "momentum",
    "nesterov",
    "adam",
    "adamw",
    "rmsprop",
    "adagrad",
    "adadelta",
    "lbfgs",
)


@dataclass(frozen=True)
class Optimizer:
    """An optimizer's name (static) and its hyperparameters (arrays, batchable): a finite
    ``learning_rate >= 0`` and ``weight_decay >= 0``, ``0 <= momentum < 1`` (checked here when
    they are numbers, and by ``trainer.train`` when they are arrays)."""

    name: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9

    def __post_init__(self):
        check_choice("optimizer", self.name, OPTIMIZERS)
        finite = lambda x: (x >= 0) & (x < np.inf)  # noqa: E731
        check_number("learning_rate", self.learning_rate, finite, "finite and >= 0")
        check_number("weight_decay", self.weight_decay, finite, "finite and >= 0 (0: none)")
        check_number(
            "momentum", self.momentum, lambda b: (b >= 0) & (b < 1), "in [0, 1) (0.9 is usual)"
        )


jax.tree_util.register_dataclass(
    Optimizer, data_fields=["learning_rate", "weight_decay", "momentum"], meta_fields=["name"]
)


def _rule(opt: Optimizer) -> optax.GradientTransformation:
    name = opt.name
    if name == "sgd":
        return optax.identity()
    if name in ("momentum", "nesterov"):
        return optax.trace(decay=opt.momentum, nesterov=name == "nesterov")
    if name in ("adam", "adamw"):
        return optax.scale_by_adam()
    if name == "rmsprop":
        return optax.scale_by_rms(decay=0.9, eps=1e-7)
    if name == "adagrad":
        return optax.scale_by_rss(initial_accumulator_value=0.1, eps=1e-7)
    if name == "adadelta":
        return optax.scale_by_adadelta(rho=0.95, eps=1e-6)
    raise ValueError(f"{name!r} has no first-order rule")  # lbfgs is driven by the trainer


def decoupled_weight_decay(rate, where: Selector = WEIGHTS) -> optax.GradientTransformation:
    """Add ``rate * w`` to the update direction of the selected leaves (before the lr scaling)."""

    def update(updates, state, params):
        n = len(params)
        out = tuple(
            {
                k: (u + rate * params[i][k] if where.selects(i, n, k) else u)
                for k, u in layer.items()
            }
            for i, layer in enumerate(updates)
        )
        return out, state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def diagonal_step(opt: Optimizer, rule_state, prev_state, steps_before):
    """Per-coordinate factor ``D`` by which the rule scales a gradient (``None``: ``D = 1``).

    For the adaptive rules the step on coordinate ``i`` is ``lr * D_i * (moment of g_i)``, so the
    proximal step that keeps ``alpha`` meaning ``alpha`` uses the threshold ``lr * alpha * D_i``
    (a proximal gradient step in the rule's diagonal metric). Its fixed points satisfy the
    optimality condition of ``loss + Omega`` whatever ``D`` is. Momentum's trace of a constant
    gradient ``g`` is ``g (1 - b^(k+1)) / (1 - b)`` at step ``k + 1`` (``b`` the momentum;
    Nesterov's update ``g (1 - b^(k+2)) / (1 - b)``): its ``D``, given the number of earlier
    steps ``steps_before`` (counted by :func:`build` for these two rules only; ``None`` for the
    others), tends to ``1 / (1 - b)``. ``prev_state`` is the rule's state before the step
    (AdaDelta scales by the previous mean squared update).
    """
    name = opt.name
    if name in ("momentum", "nesterov"):
        b = opt.momentum
        terms = steps_before + (1 if name == "momentum" else 2)
        return (1.0 - b**terms) / (1.0 - b)
    if name in ("adam", "adamw"):
        b2, eps = 0.999, 1e-8
        correction = 1.0 - b2 ** rule_state.count.astype(jax.tree.leaves(rule_state.nu)[0].dtype)
        return jax.tree.map(lambda v: 1.0 / (jnp.sqrt(v / correction) + eps), rule_state.nu)
    if name == "rmsprop":
        return jax.tree.map(lambda v: jax.lax.rsqrt(v + 1e-7), rule_state.nu)
    if name == "adagrad":
        return jax.tree.map(
            lambda t: jnp.where(t > 0, jax.lax.rsqrt(t + 1e-7), 0.0), rule_state.sum_of_squares
        )
    if name == "adadelta":
        eps = 1e-6
        return jax.tree.map(
            lambda x, g: jnp.sqrt(x + eps) / jnp.sqrt(g + eps), prev_state.e_x, rule_state.e_g
        )
    return None


def build(opt: Optimizer, penalty: Penalty) -> optax.GradientTransformation:
    """One training step for a first-order optimizer and a penalty.

    ``rule -> decoupled weight decay -> scale by -lr -> proximal step``. The proximal step maps
    the tentative parameters ``params + u`` to ``prox(params + u, lr * D)`` with ``D`` the rule's
    diagonal step (:func:`diagonal_step`), and returns the difference as the update. A penalty
    that names other coordinates (``Penalty.coordinates``: the Hadamard input gate's products)
    has the rule run in them.
    """
    rule = _rule(opt)
    tail = optax.chain(
        decoupled_weight_decay(opt.weight_decay), optax.scale_by_learning_rate(opt.learning_rate)
    )

    counted = penalty.has_prox and opt.name in ("momentum", "nesterov")  # steps for their D

    def init(params):
        states = (rule.init(params), tail.init(params))
        return (*states, jnp.zeros([], jnp.int32)) if counted else states

    def update(grads, state, params):
        scale = penalty.coordinates(params)  # the rule runs in the penalty's coordinates
        if scale is not None:
            grads = jax.tree.map(jnp.multiply, grads, scale)
        u, rule_state = rule.update(grads, state[0], params)
        if scale is not None:
            u = jax.tree.map(jnp.multiply, u, scale)
        u, tail_state = tail.update(u, state[1], params)
        if penalty.has_prox:
            diag = diagonal_step(opt, rule_state, state[0], state[2] if counted else None)
            step = (
                opt.learning_rate
                if diag is None
                else jax.tree.map(lambda d: opt.learning_rate * d, diag)
            )
            moved = optax.apply_updates(params, u)
            u = jax.tree.map(lambda t, p: t - p, penalty.prox(moved, step), params)
        return u, (rule_state, tail_state, *((state[2] + 1,) if counted else ()))

    return optax.GradientTransformation(init, update)


def build_lbfgs() -> optax.GradientTransformationExtraArgs:
    """optax's L-BFGS with a zoom line search (the line search picks the step size)."""
    return optax.lbfgs()
