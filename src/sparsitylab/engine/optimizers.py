"""Optimizers as chains of small optax gradient transformations.

A training step is one chain, read left to right::

    scale_by_<rule>  ->  decoupled weight decay  ->  scale by -learning_rate  ->  proximal step

* the *rule* is the optimizer proper (identity for SGD, a trace for momentum and Nesterov,
  Adam's moments, RMSProp, AdaGrad, AdaDelta);
* *decoupled weight decay* adds ``weight_decay * w`` to the update direction of the weights
  before the learning rate scales it, so a step shrinks ``w`` by ``lr * weight_decay * w``
  independently of the adaptive rule (AdamW; Loshchilov & Hutter 2019). ``"adamw"`` is Adam
  with this transformation; any rule can use it;
* the *proximal step* applies the penalty's prox with step ``learning_rate`` to the parameters
  the update would produce: soft-thresholding for L1 (exact zeros), block soft-thresholding for
  the group lasso, projection for max-norm constraints.

``Optimizer`` is a pytree whose learning rate, weight decay and momentum are array leaves, so a
batch of them trains under ``vmap``. L-BFGS (full batch, smooth objectives only) is optax's
``lbfgs`` with its zoom line search; the trainer drives it.
"""

from __future__ import annotations

from dataclasses import dataclass
import jax
import optax

from sparsitylab.engine.networks import check_choice
from sparsitylab.engine.penalties import WEIGHTS, Penalty, Selector

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "lbfgs")


@dataclass(frozen=True)
class Optimizer:
    """An optimizer's name (static) and its hyperparameters (arrays, batchable)."""

    name: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9

    def __post_init__(self):
        check_choice("optimizer", self.name, OPTIMIZERS)


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
            {k: (u + rate * params[i][k] if where.selects(i, n, k) else u) for k, u in layer.items()}
            for i, layer in enumerate(updates)
        )
        return out, state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def proximal_step(penalty: Penalty, step) -> optax.GradientTransformation:
    """Turn an update ``u`` into ``prox(params + u, step) - params``."""

    def update(updates, state, params):
        moved = optax.apply_updates(params, updates)
        target = penalty.prox(moved, step)
        return jax.tree.map(lambda t, p: t - p, target, params), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def build(opt: Optimizer, penalty: Penalty) -> optax.GradientTransformation:
    """The full step for a first-order optimizer and a penalty."""
    parts = [_rule(opt)]
    parts.append(decoupled_weight_decay(opt.weight_decay))
    parts.append(optax.scale_by_learning_rate(opt.learning_rate))
    if penalty.has_prox:
        parts.append(proximal_step(penalty, opt.learning_rate))
    return optax.chain(*parts)


def build_lbfgs() -> optax.GradientTransformationExtraArgs:
    """optax's L-BFGS with a zoom line search (the line search picks the step size)."""
    return optax.lbfgs()
