"""Penalties on network parameters.

Each penalty is a small frozen dataclass registered as a JAX pytree: its strengths (``alpha``,
``l1_ratio``, ``max_norm``) are array leaves, so a batch of penalties can be stacked and trained at
once with ``vmap``; its structure (``mode``, which parameters it acts on) is static. Like skglm's
penalties, each one knows

* ``value(params)``: the penalty ``Omega(params)`` itself;
* ``smooth(params)``: the part added to the loss and differentiated (e.g. L2, or L1 in
  ``mode="subgradient"``); zero for the parts handled by a proximal step;
* ``prox(params, step)``: the proximal operator of ``step * Omega`` for the non-smooth part
  (a projection for constraints), applied after each optimizer step;
* ``subdiff_distance(params, grads)``: how far ``-grads`` (the gradient of the smooth objective)
  is from the subdifferential of the non-smooth part: 0 exactly at a stationary point.

Scalings follow scikit-learn with the data-fit ``0.5 * mean squared error``: ``L1`` is
``alpha ||W||_1`` (as ``Lasso``), ``L2`` is ``(alpha / 2) ||W||^2``, ``ElasticNet`` is
``alpha (l1_ratio ||W||_1 + (1 - l1_ratio) / 2 ||W||^2)`` (as ``ElasticNet``).
By default penalties act on weights only (leaves named ``"w"``), never on biases.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from sparsitylab.engine.networks import check_choice
from sparsitylab.engine.prox import group_soft_threshold, project_l2_ball, soft_threshold


@dataclass(frozen=True)
class Selector:
    """Which parameter leaves a penalty acts on: leaf names ``keys`` in layers ``layers``.

    ``layers=None`` means every layer; negative indices count from the output.
    """

    keys: tuple[str, ...] = ("w",)
    layers: tuple[int, ...] | None = None

    def selects(self, index: int, n_layers: int, key: str) -> bool:
        if key not in self.keys:
            return False
        if self.layers is None:
            return True
        return index in {i % n_layers for i in self.layers}


WEIGHTS = Selector()
WEIGHTS_AND_BIASES = Selector(keys=("w", "b"))


def map_selected(fn, params, where: Selector):
    """Apply ``fn`` to the selected leaves of a layer-tuple pytree, keeping the others."""
    n = len(params)
    return tuple(
        {k: (fn(v) if where.selects(i, n, k) else v) for k, v in layer.items()}
        for i, layer in enumerate(params)
    )


def selected(params, where: Selector):
    n = len(params)
    return [v for i, layer in enumerate(params) for k, v in layer.items() if where.selects(i, n, k)]


_ZERO = jnp.asarray(0.0)  # weak-typed: adds to float32 without promoting it


def _sum(values):
    return sum(values, start=_ZERO)


def _max(values):
    return jnp.max(jnp.stack([jnp.max(v) for v in values])) if values else _ZERO


def _register(data: list[str], meta: list[str]):
    def wrap(cls):
        return jax.tree_util.register_dataclass(cls, data_fields=data, meta_fields=meta)

    return wrap


class Penalty:
    """Base class: a penalty with no smooth part and an identity prox."""

    def value(self, params):
        raise NotImplementedError

    def smooth(self, params):
        return _ZERO

    def prox(self, params, step):
        return params

    def subdiff_distance(self, params, grads):
        return _ZERO

    @property
    def has_prox(self) -> bool:
        return False


@_register(["alpha"], ["mode", "where"])
@dataclass(frozen=True)
class L1(Penalty):
    """``alpha * sum |w|``. ``mode="prox"`` soft-thresholds after each step (exact zeros);
    ``mode="subgradient"`` differentiates ``|w|`` with the loss (weights hover near zero but
    almost never reach it)."""

    alpha: float = 1e-3
    mode: str = "prox"
    where: Selector = WEIGHTS

    def __post_init__(self):
        check_choice("L1 mode", self.mode, ("prox", "subgradient"))

    def value(self, params):
        return self.alpha * _sum(jnp.sum(jnp.abs(v)) for v in selected(params, self.where))

    def smooth(self, params):
        return self.value(params) if self.mode == "subgradient" else _ZERO

    @property
    def has_prox(self):
        return self.mode == "prox"

    def prox(self, params, step):
        if self.mode != "prox":
            return params
        return map_selected(lambda v: soft_threshold(v, step * self.alpha), params, self.where)

    def subdiff_distance(self, params, grads):
        if self.mode != "prox":
            return _ZERO
        dists = [
            jnp.where(w != 0, jnp.abs(g + self.alpha * jnp.sign(w)), jnp.maximum(jnp.abs(g) - self.alpha, 0.0))
            for w, g in zip(selected(params, self.where), selected(grads, self.where), strict=True)
        ]  # fmt: skip
        return _max(dists)


@_register(["alpha"], ["where"])
@dataclass(frozen=True)
class L2(Penalty):
    """``(alpha / 2) * sum w^2``, added to the loss (coupled weight decay)."""

    alpha: float = 1e-3
    where: Selector = WEIGHTS

    def value(self, params):
        return 0.5 * self.alpha * _sum(jnp.sum(v * v) for v in selected(params, self.where))

    def smooth(self, params):
        return self.value(params)


@_register(["alpha", "l1_ratio"], ["where"])
@dataclass(frozen=True)
class ElasticNet(Penalty):
    """``alpha * (l1_ratio * |w| + (1 - l1_ratio) / 2 * w^2)``; the L2 part is differentiated,
    the L1 part soft-thresholded."""

    alpha: float = 1e-3
    l1_ratio: float = 0.5
    where: Selector = WEIGHTS

    def value(self, params):
        return self.alpha * _sum(
            self.l1_ratio * jnp.sum(jnp.abs(v)) + 0.5 * (1 - self.l1_ratio) * jnp.sum(v * v)
            for v in selected(params, self.where)
        )

    def smooth(self, params):
        sq = _sum(jnp.sum(v * v) for v in selected(params, self.where))
        return 0.5 * self.alpha * (1 - self.l1_ratio) * sq

    @property
    def has_prox(self):
        return True

    def prox(self, params, step):
        t = step * self.alpha * self.l1_ratio
        return map_selected(lambda v: soft_threshold(v, t), params, self.where)

    def subdiff_distance(self, params, grads):
        lam = self.alpha * self.l1_ratio
        dists = [
            jnp.where(w != 0, jnp.abs(g + lam * jnp.sign(w)), jnp.maximum(jnp.abs(g) - lam, 0.0))
            for w, g in zip(selected(params, self.where), selected(grads, self.where), strict=True)
        ]
        return _max(dists)


def _group_axes(over: str, v):
    # input: a group is one input feature's row of the first layer (norm over its outputs);
    # neurons: a group is one unit's incoming weights (norm over every axis but the last).
    return tuple(range(1, v.ndim)) if over == "input" else tuple(range(v.ndim - 1))


@_register(["alpha"], ["over"])
@dataclass(frozen=True)
class GroupLasso(Penalty):
    """``alpha * sum_g ||w_g||_2`` by block soft-thresholding (exact zeros per group).

    ``over="input"``: one group per input feature, its row of the first-layer weights (feature
    selection). ``over="neurons"``: one group per hidden unit, its incoming weights (unit
    selection); the output layer is left alone.
    """

    alpha: float = 1e-3
    over: str = "input"

    def __post_init__(self):
        check_choice("group", self.over, ("input", "neurons"))

    def _where(self, params) -> Selector:
        if self.over == "input":
            return Selector(("w",), (0,))
        return Selector(("w",), tuple(range(len(params) - 1)))

    def value(self, params):
        return self.alpha * _sum(
            jnp.sum(jnp.sqrt(jnp.sum(v * v, axis=_group_axes(self.over, v))))
            for v in selected(params, self._where(params))
        )

    @property
    def has_prox(self):
        return True

    def prox(self, params, step):
        def shrink(v):
            return group_soft_threshold(v, step * self.alpha, _group_axes(self.over, v))

        return map_selected(shrink, params, self._where(params))

    def subdiff_distance(self, params, grads):
        dists = []
        where = self._where(params)
        for w, g in zip(selected(params, where), selected(grads, where), strict=True):
            axes = _group_axes(self.over, w)
            nw = jnp.sqrt(jnp.sum(w * w, axis=axes, keepdims=True))
            at_zero = jnp.maximum(jnp.sqrt(jnp.sum(g * g, axis=axes)) - self.alpha, 0.0)
            safe = jnp.where(nw > 0, nw, 1.0)
            away = jnp.sqrt(jnp.sum((g + self.alpha * w / safe) ** 2, axis=axes))
            dists.append(jnp.where(jnp.squeeze(nw, axes) > 0, away, at_zero))
        return _max(dists)


@_register(["max_norm"], ["where"])
@dataclass(frozen=True)
class MaxNorm(Penalty):
    """The constraint ``||incoming weights of each unit||_2 <= max_norm``, kept by projecting
    after every step (Srivastava et al. 2014). Its value is 0 on the feasible set."""

    max_norm: float = 3.0
    where: Selector = WEIGHTS

    def value(self, params):
        return _ZERO

    @property
    def has_prox(self):
        return True

    def prox(self, params, step):
        def project(v):
            return project_l2_ball(v, self.max_norm, tuple(range(v.ndim - 1)))

        return map_selected(project, params, self.where)


@_register(["terms"], [])
@dataclass(frozen=True)
class Sum(Penalty):
    """Several penalties at once: values and smooth parts add, proximal steps apply in turn."""

    terms: tuple[Penalty, ...] = field(default_factory=tuple)

    def value(self, params):
        return _sum(t.value(params) for t in self.terms)

    def smooth(self, params):
        return _sum(t.smooth(params) for t in self.terms)

    @property
    def has_prox(self):
        return any(t.has_prox for t in self.terms)

    def prox(self, params, step):
        for t in self.terms:
            params = t.prox(params, step)
        return params

    def subdiff_distance(self, params, grads):
        return _max([t.subdiff_distance(params, grads) for t in self.terms])


NO_PENALTY = Sum(())
