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

from sparsitylab.engine.networks import check_choice, check_number
from sparsitylab.engine.prox import (
    group_soft_threshold,
    group_soft_threshold_diagonal,
    project_l2_ball,
    project_l2_ball_diagonal,
    soft_threshold,
)


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


def map_selected_with_step(fn, params, step, where: Selector):
    """Like :func:`map_selected` with ``fn(leaf, step_leaf)``; ``step`` is a scalar or a pytree
    shaped like ``params`` (a per-coordinate step size)."""
    if not isinstance(step, tuple):
        return map_selected(lambda v: fn(v, step), params, where)
    n = len(params)
    return tuple(
        {k: (fn(v, step[i][k]) if where.selects(i, n, k) else v) for k, v in layer.items()}
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


def _check_alpha(name, alpha):
    check_number(f"{name} alpha", alpha, lambda a: a >= 0, ">= 0 (0 for no penalty)")


def _l1_distance(params, grads, where, lam):
    """Largest distance of ``-grad`` to ``lam * d|w|`` over the selected leaves."""
    dists = [
        jnp.where(w != 0, jnp.abs(g + lam * jnp.sign(w)), jnp.maximum(jnp.abs(g) - lam, 0.0))
        for w, g in zip(selected(params, where), selected(grads, where), strict=True)
    ]
    return _max(dists)


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

    def coordinates(self, params):
        """Per-leaf factors ``S`` (a pytree like ``params``) of the coordinates the optimizer runs
        in: the gradient is multiplied by ``S`` before the rule and the rule's update by ``S``
        after it. ``None``: the parameters' own coordinates."""
        return None

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
        _check_alpha("L1", self.alpha)

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
        return map_selected_with_step(
            lambda v, t: soft_threshold(v, t * self.alpha), params, step, self.where
        )

    def subdiff_distance(self, params, grads):
        if self.mode != "prox":
            return _ZERO
        return _l1_distance(params, grads, self.where, self.alpha)


@_register(["alpha"], ["where"])
@dataclass(frozen=True)
class L2(Penalty):
    """``(alpha / 2) * sum w^2``, added to the loss (coupled weight decay)."""

    alpha: float = 1e-3
    where: Selector = WEIGHTS

    def __post_init__(self):
        _check_alpha("L2", self.alpha)

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

    def __post_init__(self):
        _check_alpha("ElasticNet", self.alpha)
        check_number(
            "ElasticNet l1_ratio",
            self.l1_ratio,
            lambda r: (r >= 0) & (r <= 1),
            "in [0, 1] (1 for the lasso, 0 for ridge)",
        )

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
        lam = self.alpha * self.l1_ratio
        return map_selected_with_step(
            lambda v, t: soft_threshold(v, t * lam), params, step, self.where
        )

    def subdiff_distance(self, params, grads):
        return _l1_distance(params, grads, self.where, self.alpha * self.l1_ratio)


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
        _check_alpha("GroupLasso", self.alpha)

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
        def shrink(v, t):
            # a per-coordinate step: the prox in the optimizer's diagonal metric
            axes = _group_axes(self.over, v)
            if jnp.ndim(t):
                return group_soft_threshold_diagonal(v, t * self.alpha, axes)
            return group_soft_threshold(v, t * self.alpha, axes)

        return map_selected_with_step(shrink, params, step, self._where(params))

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
    after every step (Srivastava et al. 2014). Its value is 0 on the feasible set.

    The projection is taken in the optimizer's metric, as every prox is: with a scalar step (SGD,
    momentum) it is the Euclidean one, ``w <- w min(1, c / ||w||)`` (Keras' ``MaxNorm``); with a
    per-coordinate step ``t`` (the adaptive rules) it is ``argmin_z sum (z - w)^2 / (2 t)`` over
    ``||z|| <= c``, ``z = w / (1 + mu t)`` with ``mu >= 0`` such that ``||z|| = c``
    (:func:`~sparsitylab.engine.prox.project_l2_ball_diagonal`). Its fixed points then satisfy
    the constraint's KKT conditions, ``-grad = mu w`` with ``mu >= 0`` on a unit at the bound;
    a Euclidean projection after an adaptive step would settle elsewhere, at a distance that does
    not shrink with the learning rate.
    """

    max_norm: float = 3.0
    where: Selector = WEIGHTS

    def __post_init__(self):
        check_number(
            "MaxNorm max_norm", self.max_norm, lambda c: c > 0, "> 0 (no MaxNorm for no bound)"
        )

    def value(self, params):
        return _ZERO

    @property
    def has_prox(self):
        return True

    def prox(self, params, step):
        def project(v, t):
            axes = tuple(range(v.ndim - 1))
            if jnp.ndim(t):  # a per-coordinate step: the projection in its diagonal metric
                return project_l2_ball_diagonal(v, t, self.max_norm, axes)
            return project_l2_ball(v, self.max_norm, axes)

        return map_selected_with_step(project, params, step, self.where)


@_register(["terms"], [])
@dataclass(frozen=True)
class Sum(Penalty):
    """Several penalties at once: values and smooth parts add, proximal steps apply in turn, in
    the order of ``terms``.

    Proximal steps in turn are the proximal step of the sum (so that fixed points are stationary
    points of ``loss + sum Omega``) only where the terms do not interact; the cases used here,
    checked against numerical minimizers in ``tests/test_engine_audit.py``:

    * terms on disjoint leaves or disjoint coordinates (the prox of a separable sum is taken
      piece by piece), and terms without a prox (``L2``, ``L1(mode="subgradient")``);
    * ``Mask`` first, then any penalty here: every prox keeps a zero at zero, so the second stays
      on the mask's subspace and ``(w - z) / t`` differs from its subgradient by a vector on the
      masked coordinates (the subspace's normal cone);
    * ``L1`` or ``ElasticNet``, then ``MaxNorm``, in any metric: the projection
      ``z = s / (1 + mu t)`` of the soft-thresholded ``s`` keeps its signs and zeros, so
      ``(w - z) / t = (w - s) / t + mu z`` lies in ``alpha d|z| + mu z``;
    * ``GroupLasso(over="neurons")``, then ``MaxNorm``, under a scalar step (SGD, momentum):
      both scale a unit's incoming weights along themselves. Under a per-coordinate step
      (the adaptive rules) they do not commute: the exact prox is the group prox where that lies
      in the ball and the diagonal projection of ``w`` itself elsewhere; in turn, the fixed
      points are off by an amount proportional to the learning rate.

    Terms on overlapping groups are not exact: ``GroupLasso(over="input")`` (rows of the first
    layer) or ``HadamardInput`` (its product rows) with ``MaxNorm`` (its columns) have fixed
    points that move with the learning rate. The estimators refuse ``max_norm`` with these.
    """

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

    def coordinates(self, params):
        scales = [s for t in self.terms if (s := t.coordinates(params)) is not None]
        if len(scales) > 1:
            raise ValueError("at most one penalty may change the optimizer's coordinates")
        return scales[0] if scales else None


NO_PENALTY = Sum(())


@_register(["alpha"], [])
@dataclass(frozen=True)
class HadamardInput(Penalty):
    """Weight decay on an input gate and the first layer, ``(alpha / 2)(||g||^2 + ||W1||_F^2)``,
    minimized through the group lasso it equals (feature selection with exact zeros).

    The network multiplies input ``j`` by a gate ``g_j`` before the first layer, so feature ``j``
    reaches the network through the product row ``v_j = g_j W1[j, :]``. For a fixed ``v_j`` the
    weight decay ``(alpha / 2)(g_j^2 + ||W1[j, :]||^2)`` is smallest when the factors are
    balanced, ``|g_j| = ||W1[j, :]||``, where it equals ``alpha ||v_j||``: minimizing
    ``loss + decay`` over the pairs is minimizing ``loss + alpha sum_j ||v_j||`` over the products
    (the core equivalence at the input), and balanced factors of a solution of one solve the other.

    Gradient steps on the factors cannot reach zero (a pair's step on ``v_j`` shrinks with
    ``||v_j||``), and block soft-thresholding ``v_j`` after them mixes two metrics, so that the
    fixed points are not those of the group lasso. The optimizer therefore runs on the products
    (:meth:`coordinates`: the row gradient ``dL/dW1[j, :] = g_j dL/dv_j`` divided by ``g_j``, the
    rule's step multiplied back by ``1 / g_j``, none on the gate), the proximal step is the
    group lasso's on ``v`` (in the rule's diagonal metric), and the pair is written back balanced
    (``g_j = sqrt(||v_j||)`` with the gate's sign, ``W1[j, :] = v_j / g_j``; both exactly 0 for a
    dropped feature, which stays dropped). The fit is a proximal gradient method on the group
    lasso of the products, except that a dropped feature never comes back (its factors' gradients
    vanish at ``(0, 0)``), so a feature dropped early stays out even where the group lasso would
    keep it; balanced factors of its result are a stationary point of the weight-decay objective.
    ``value`` is the decay itself; at a balanced point it equals the group lasso on the products.
    """

    alpha: float = 1e-3

    def __post_init__(self):
        _check_alpha("HadamardInput", self.alpha)

    def value(self, params):
        first = params[0]
        return 0.5 * self.alpha * (jnp.sum(first["gate"] ** 2) + jnp.sum(first["w"] ** 2))

    @property
    def has_prox(self):
        return True

    def coordinates(self, params):
        g = params[0]["gate"]
        inverse = jnp.where(g != 0, 1.0 / jnp.where(g != 0, g, 1.0), 0.0)
        first = {k: jnp.ones_like(v) for k, v in params[0].items()}
        first["gate"] = jnp.zeros_like(g)
        first["w"] = jnp.broadcast_to(inverse[:, None], params[0]["w"].shape)
        rest = jax.tree.map(jnp.ones_like, params[1:])
        return (first, *rest)

    def prox(self, params, step):
        first = dict(params[0])
        g, w = first["gate"], first["w"]
        v = g[:, None] * w  # product rows, (p, h)
        if isinstance(step, tuple):  # a per-coordinate step (on the products: coordinates())
            v = group_soft_threshold_diagonal(v, step[0]["w"] * self.alpha, 1)
        else:
            v = group_soft_threshold(v, step * self.alpha, 1)
        norm = jnp.sqrt(jnp.sum(v * v, axis=1))
        # keep the gate's sign so a step never flips the sign of a surviving factor pair
        sign = jnp.where(g < 0, -1.0, 1.0).astype(g.dtype)
        gate = sign * jnp.sqrt(norm)
        safe = jnp.where(norm > 0, gate, 1.0)
        first["gate"] = gate
        first["w"] = jnp.where(norm[:, None] > 0, v / safe[:, None], 0.0)
        return (first, *params[1:])


@_register(["masks"], ["key"])
@dataclass(frozen=True)
class Mask(Penalty):
    """The constraint "pruned weights stay zero": ``masks`` holds one 0/1 array per layer (the
    shape of that layer's ``key`` leaf); the prox multiplies by it after every step, so a weight
    whose mask is 0 is exactly 0 after every update whatever the optimizer's moments do. Its value
    is 0 on the feasible set."""

    masks: tuple = field(default_factory=tuple)
    key: str = "w"

    def value(self, params):
        return _ZERO

    @property
    def has_prox(self):
        return True

    def prox(self, params, step):
        return tuple(
            {k: (v * m.astype(v.dtype) if k == self.key else v) for k, v in layer.items()}
            for layer, m in zip(params, self.masks, strict=True)
        )
