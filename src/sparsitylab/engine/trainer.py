"""The compiled training loop, for one network or a batch of configurations at once.

``train(network, config, data, members)`` trains ``M`` *members*: configurations of one
architecture that differ only in numbers (penalty strengths, learning rate, weight decay, dropout
rate, random key, and which rows they train and validate on, given as sample weights). With
``M > 1`` they are trained by ``vmap`` in one compiled program; with ``M == 1`` the same function
runs without ``vmap``. A member's numbers depend only on its own inputs, so a batched member
gives the same parameters as the same member trained alone.

The whole fit is one XLA program: a ``lax.while_loop`` over epochs (it ends when every member
has stopped) around a ``lax.scan`` over minibatches. Each epoch

1. orders the member's training rows at random (rows of weight 0 go last), cuts them into
   ``ceil(n_train / batch_size)`` batches (the last one padded with weight-0 rows; a batch with
   no weight is skipped, so unequal folds stay exact), and takes one optimizer step per batch;
   full-batch training takes one step on the member's rows of positive weight (padded with
   weight-0 rows to the largest member of its call), without shuffling;
2. records the epoch's training loss (the batch objectives, data-fit plus smooth penalty,
   averaged with the batch weights) and the validation data-fit in evaluation mode (skipped
   with ``val_history=False`` unless early stopping needs it: a path judges its points once,
   at the end);
3. applies early stopping with the semantics of Keras' ``EarlyStopping``: an epoch improves when
   ``monitor < best - min_delta``; after ``patience`` epochs without improvement training stops,
   and with ``restore_best_weights`` the parameters of the best epoch are returned. ``monitor``
   is the validation data-fit (the training objective without validation rows); with
   ``monitor_penalty`` it also adds the penalty's value, as Keras' ``val_loss`` adds the
   regularization losses;
4. stops with ``diverged_epoch`` set if the training loss became non-finite (parameters that
   become non-finite make the next epoch's loss so; after the last epoch they are checked
   directly).

After the loop a second divergence test runs, for the adaptive rules (Adam, RMSProp, AdaGrad,
...) whose normalized steps keep the weights finite while the fit runs away: the member's
*training objective* (data-fit plus the penalty's value, in evaluation mode, on its training
rows with their weights) is computed at the parameters it started from (``network.init``, or
the given ones of a warm start) and at those it returns (the best epoch's with
``restore_best_weights``). The member diverged when the end value is non-finite, or when it is
both more than :data:`DIVERGENCE_FACTOR` (10) times the start value (for a negative start, of a
loss without its constant, above it by 9 times its size) *and* above it by more than the
data-fit of the best constant prediction on the same rows (half the targets' weighted variance
for the squared error, the entropy of the class frequencies for the log-losses; at least
float32's epsilon times the data-fit of the zero prediction). The margin keeps a fit that
starts near zero (a warm start at a good point, a path's next alpha) from being called
diverged for a rise that is small on the data's scale. ``diverged_epoch`` is then the last
epoch run, ``objective_diverged`` says which test fired, and ``start_objective`` /
``end_objective`` hold both values (:func:`divergence_report` words it). :func:`train` runs
this test as a second compiled program after the training program (compiled for speed of
compilation: it runs once per fit); warm fits from given parameters run it inside theirs.

Optional per-epoch records (``config.record``) are computed inside the loop:
``"grad_norm"`` (L2 norm per layer of the epoch's mean gradient: for full-batch training the
gradient at the epoch's starting parameters),
``"sparsity"`` (fraction of exactly-zero weights per layer at the end of the epoch),
``"hamming"`` (number of ReLU pattern bits over the training rows that differ between the start
and the end of the epoch), ``"max_error"`` (largest ``|f(x) - y|`` on the training rows) and, for
the classification losses, ``"error_rate"`` (weighted fraction of misclassified training rows at
the end of the epoch, and ``val_error_rate`` on the validation rows when there are some).
"""

from __future__ import annotations

import dataclasses
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from sparsitylab.engine.compilation import compiler_options, fast_requested
from sparsitylab.engine.losses import datafit, get_loss
from sparsitylab.engine.networks import check_choice, check_number
from sparsitylab.engine.optimizers import Optimizer, build, build_lbfgs
from sparsitylab.engine.penalties import Penalty

RECORDS = ("grad_norm", "sparsity", "hamming", "max_error", "error_rate")

# a member whose training objective ends this many times above its start diverged (module doc)
DIVERGENCE_FACTOR = 10.0


@dataclass(frozen=True)
class TrainConfig:
    """Static settings of a fit (changing one compiles a new program)."""

    loss: str = "squared_error"
    max_epochs: int = 1000
    batch_size: int | None = None
    early_stopping: bool = False
    patience: int = 10
    min_delta: float = 0.0
    restore_best_weights: bool = True
    monitor_penalty: bool = False
    record: tuple[str, ...] = ()
    val_history: bool = True

    def __post_init__(self):
        get_loss(self.loss)
        for name in self.record:
            check_choice("record", name, RECORDS)
        if "error_rate" in self.record and self.loss not in ("softmax", "logistic"):
            raise ValueError(
                f"record 'error_rate' needs a classification loss ('softmax' or 'logistic'), "
                f"got loss={self.loss!r}"
            )
        if "max_error" in self.record and self.loss in ("softmax", "logistic"):
            raise ValueError(
                "record 'max_error' is the largest |prediction - target| of a regression; with "
                f"loss={self.loss!r} record 'error_rate' instead"
            )
        if self.max_epochs < 1:
            raise ValueError(f"max_epochs must be >= 1, got {self.max_epochs}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 or None (full batch), got {self.batch_size}")
        if self.patience < 0 or self.min_delta < 0:
            raise ValueError("patience and min_delta must be >= 0")


@dataclass(frozen=True)
class Member:
    """One configuration. Every leaf may carry a leading axis of size ``M`` (a batch).

    ``dropout_rate`` is in ``[0, 1)``; ``train_weight`` (and ``val_weight``, on the validation
    rows or, without ``Data.X_val``, on the training rows) are finite and ``>= 0``, one per row.
    """

    key: Any
    penalty: Penalty
    optimizer: Optimizer
    dropout_rate: Any
    train_weight: Any
    val_weight: Any = None

    def __post_init__(self):
        check_number(
            "dropout_rate",
            self.dropout_rate,
            lambda r: (r >= 0) & (r < 1),
            "in [0, 1) (the fraction of hidden units dropped; 0: no dropout)",
        )


jax.tree_util.register_dataclass(
    Member,
    data_fields=["key", "penalty", "optimizer", "dropout_rate", "train_weight", "val_weight"],
    meta_fields=[],
)


@dataclass(frozen=True)
class Data:
    """Arrays shared by every member: training rows and, optionally, separate validation rows
    (when ``X_val`` is None, validation weights refer to the training rows)."""

    X: Any
    y: Any
    X_val: Any = None
    y_val: Any = None


jax.tree_util.register_dataclass(Data, data_fields=["X", "y", "X_val", "y_val"], meta_fields=[])


@dataclass
class TrainResult:
    """Numpy results with a leading member axis: parameters, state, per-epoch history (NaN after
    a member stopped), epochs run, best epoch (early stopping) and the epoch that diverged (-1
    when none did: the epoch whose loss became non-finite, or the last epoch run when the
    training objective ended far above its start).

    ``objective_diverged`` marks the members that diverged by the objective test alone (their
    loss and weights stayed finite); ``start_objective`` and ``end_objective`` are the training
    objective (evaluation mode, training rows) at the starting and the returned parameters (see
    the module docstring). These three are ``None`` on results assembled by hand."""

    params: Any
    state: Any
    history: dict[str, np.ndarray]
    n_epochs: np.ndarray
    best_epoch: np.ndarray
    diverged_epoch: np.ndarray
    extras: dict = field(default_factory=dict)
    objective_diverged: np.ndarray | None = None
    start_objective: np.ndarray | None = None
    end_objective: np.ndarray | None = None


def _objective_rose(start, end, margin):
    """The objective test of the module docstring: ``end`` non-finite, or above ``start`` by
    more than ``DIVERGENCE_FACTOR - 1`` times ``|start|`` and by more than ``margin``."""
    rise = end - start
    far = (rise > (DIVERGENCE_FACTOR - 1) * jnp.abs(start)) & (rise > margin)
    return ~jnp.isfinite(end) | (jnp.isfinite(start) & far)


def divergence_report(result: TrainResult, members=slice(None)) -> str | None:
    """What happened to the first diverged member among ``members`` (a slice or indices of
    ``result``'s member axis), in words (``None`` when none diverged): the epoch whose loss or
    weights became NaN/inf, or how far the training objective ended above its start."""
    epochs = np.atleast_1d(np.asarray(result.diverged_epoch)[members])
    bad = np.flatnonzero(epochs >= 0)
    if len(bad) == 0:
        return None
    by_objective = result.objective_diverged
    if by_objective is not None:
        by_objective = np.atleast_1d(np.asarray(by_objective)[members])
        grown = [i for i in bad if by_objective[i]]
        if len(grown) == len(bad):  # every diverged member by the objective test alone
            i = grown[0]
            start = float(np.atleast_1d(np.asarray(result.start_objective)[members])[i])
            end = float(np.atleast_1d(np.asarray(result.end_objective)[members])[i])
            after = f"after {int(epochs[i]) + 1} epoch{'s' if epochs[i] else ''}"
            if not np.isfinite(end):
                return (
                    f"training diverged {after}: the training objective at the returned weights "
                    "is NaN/inf (the predictions overflow)"
                )
            if start > 0:
                how = (
                    f"ended {end / start:.3g}x above its starting value ({start:.4g} -> {end:.4g})"
                )
            else:
                how = f"rose from {start:.4g} to {end:.4g}"
            return f"training diverged {after}: the training objective {how}"
        bad = [i for i in bad if not by_objective[i]]
    epoch = int(min(epochs[i] for i in bad)) + 1
    return f"training diverged at epoch {epoch}: the loss or the weights became NaN/inf"


def stack_members(members: list[Member]) -> Member:
    """Stack single members into one batched member (their structures must agree)."""
    return jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *members)


def _zero_fractions(params, dtype):
    return jnp.stack([jnp.mean(layer["w"] == 0, dtype=dtype) for layer in params])


def _select(flag, new, old):
    return jax.tree.map(lambda a, b: jnp.where(flag, a, b), new, old)


def _fit_one(network, config: TrainConfig, geometry: Geometry, member, data, objective_test=True):
    """One member's fit, its rows cut into batches as ``geometry`` says; with
    ``objective_test=False`` without the objective divergence test (the caller runs
    :func:`_objective_test`)."""
    n_batches, batch, may_skip = geometry.n_batches, geometry.batch, geometry.may_skip
    loss_fn = get_loss(config.loss)
    record = config.record
    X, y = data.X, data.y
    params, state = network.init(jax.random.fold_in(member.key, 0))
    dtype = jax.tree.leaves(params)[0].dtype
    cast = partial(jax.tree.map, lambda v: jnp.asarray(v, dtype))
    penalty, opt, rate = cast(member.penalty), cast(member.optimizer), cast(member.dropout_rate)
    tw = jnp.asarray(member.train_weight, dtype)
    vw = None if member.val_weight is None else jnp.asarray(member.val_weight, dtype)
    has_val = vw is not None and (config.early_stopping or config.val_history)
    Xv, yv = (data.X, data.y) if data.X_val is None else (data.X_val, data.y_val)
    lbfgs = opt.name == "lbfgs"
    tx = build_lbfgs() if lbfgs else build(opt, penalty)
    n = X.shape[0]

    full, full_t = None, None
    if batch is None:  # one full batch: the training rows (in order) and weight-0 padding
        full = (X, y, tw)
        if geometry.rows < n:
            rows = jnp.argsort(tw <= 0, stable=True)[: geometry.rows]
            full = (X[rows], y[rows], tw[rows])
        # the same rows at every step: lay out their transpose once, for the weight gradient
        # of the first layer (networks.input_product)
        full_t = jax.lax.optimization_barrier(full[0].T)

    def objective(p, s, Xb, yb, wb, key):
        out, new_s = network.apply(
            p, s, Xb, train=True, key=key, dropout_rate=rate, sample_weight=wb, input_t=full_t
        )
        return datafit(loss_fn, out, yb, wb) + penalty.smooth(p), new_s

    grad_fn = jax.value_and_grad(objective, has_aux=True)

    def step(carry, batch_data):
        p, s, o = carry[:3]
        Xb, yb, wb, kb = batch_data
        (obj, new_s), g = grad_fn(p, s, Xb, yb, wb, kb)
        if lbfgs:
            upd, new_o = tx.update(
                g, o, p, value=obj, grad=g,
                value_fn=lambda q: objective(q, s, Xb, yb, wb, kb)[0],
            )  # fmt: skip
        else:
            upd, new_o = tx.update(g, o, p)
        wsum = jnp.sum(wb)
        new = (optax.apply_updates(p, upd), new_s, new_o)
        if may_skip:  # a batch of weight-0 padding rows takes no step
            new = _select(wsum > 0, new, (p, s, o))
        if "grad_norm" in record:  # running sum of the batch gradients, as one flat vector
            flat = jnp.concatenate([v.ravel() for v in jax.tree.leaves(g)])
            new = (*new, carry[3] + (jnp.where(wsum > 0, flat, 0) if may_skip else flat))
        return new, {"obj": obj, "w": wsum}

    def batches(key):
        kperm, kdrop = jax.random.split(key)
        if batch is None:
            return jax.tree.map(lambda v: v[None], (*full, kdrop))
        order = jnp.argsort(jnp.where(tw > 0, jax.random.uniform(kperm, (n,)), 2.0))
        pad = n_batches * batch - n
        weights = tw[order]
        if pad > 0:
            order = jnp.concatenate([order, jnp.zeros(pad, order.dtype)])
            weights = jnp.concatenate([weights, jnp.zeros(pad, dtype)])
        else:  # rows beyond the last batch all have weight 0 (they sort last)
            order, weights = order[: n_batches * batch], weights[: n_batches * batch]
        idx = order.reshape(n_batches, batch)
        return X[idx], y[idx], weights.reshape(n_batches, batch), jax.random.split(kdrop, n_batches)

    train_rows = tw > 0

    def patterns(p, s):  # ReLU on/off bits of every hidden unit over the training rows
        _, _, pre = network.apply(p, s, X, capture=True)
        return jnp.concatenate([h > 0 for h in pre], axis=1)

    def wrong(out, target):  # 1.0 where a classification is wrong
        if config.loss == "softmax":
            return (jnp.argmax(out, axis=-1) != target.astype(jnp.int32)).astype(dtype)
        return ((out[:, 0] > 0) != (target[:, 0] > 0.5)).astype(dtype)

    def error_rate(out, target, w):
        return jnp.sum(w * wrong(out, target)) / jnp.maximum(jnp.sum(w), 1e-12)

    def evaluate(p, s):
        """Validation data-fit and, when recorded, error rate (NaN without validation rows)."""
        nan = jnp.asarray(jnp.nan, dtype)
        if not has_val:
            return nan, nan
        out = network.apply(p, s, Xv)[0]
        rate = error_rate(out, yv, vw) if "error_rate" in record else nan
        return datafit(loss_fn, out, yv, vw), rate

    E = config.max_epochs
    L = len(params)
    history = {"loss": jnp.full(E, jnp.nan, dtype)}
    if has_val:
        history["val_loss"] = jnp.full(E, jnp.nan, dtype)
    if "grad_norm" in record:
        history["grad_norm"] = jnp.full((E, L), jnp.nan, dtype)
    if "sparsity" in record:
        history["sparsity"] = jnp.full((E, L), jnp.nan, dtype)
    if "hamming" in record:
        history["hamming"] = jnp.full(E, -1, jnp.int32)
    if "error_rate" in record:
        history["error_rate"] = jnp.full(E, jnp.nan, dtype)
        if has_val:
            history["val_error_rate"] = jnp.full(E, jnp.nan, dtype)
    if "max_error" in record:
        history["max_error"] = jnp.full(E, jnp.nan, dtype)

    carry = {
        "params": params, "state": state, "opt": tx.init(params),
        "best_params": params, "best_state": state,
        "best": jnp.asarray(jnp.inf, dtype), "best_epoch": jnp.asarray(-1),
        "wait": jnp.asarray(0), "epoch": jnp.asarray(0), "stop": jnp.asarray(False),
        "diverged": jnp.asarray(-1), "key": jax.random.fold_in(member.key, 1),
        "history": history,
    }  # fmt: skip
    if "hamming" in record:
        carry["pattern"] = patterns(params, state)

    # grad_norm sums the epoch's batch gradients as one flat vector (the leaves in tree order,
    # so each layer is one slice): one fused add per step instead of a stacked gradient
    sizes = [sum(math.prod(v.shape) for v in jax.tree.leaves(layer)) for layer in params]
    bounds = np.cumsum([0, *sizes]).tolist()
    layer_slices = list(zip(bounds[:-1], bounds[1:], strict=True))

    def body(c):
        e = c["epoch"]
        key, kb = jax.random.split(c["key"])
        init = (c["params"], c["state"], c["opt"])
        if "grad_norm" in record:
            init = (*init, jnp.zeros(bounds[-1], dtype))
        (p, s, o, *gsum), outs = jax.lax.scan(step, init, batches(kb))
        wsum = jnp.maximum(jnp.sum(outs["w"]), 1e-12)
        train_loss = jnp.sum(outs["obj"] * outs["w"]) / wsum
        val_loss, val_rate = evaluate(p, s)
        hist = dict(c["history"])
        hist["loss"] = hist["loss"].at[e].set(train_loss)
        if has_val:
            hist["val_loss"] = hist["val_loss"].at[e].set(val_loss)
        new = {**c, "params": p, "state": s, "opt": o, "key": key, "epoch": e + 1}
        if "grad_norm" in record:
            count = jnp.maximum(jnp.sum(outs["w"] > 0, dtype=dtype), 1) if may_skip else n_batches
            sq = jnp.square(gsum[0] / count)
            norms = [jnp.sqrt(jnp.sum(sq[a:b])) for a, b in layer_slices]
            hist["grad_norm"] = hist["grad_norm"].at[e].set(jnp.stack(norms))
        if "sparsity" in record:
            hist["sparsity"] = hist["sparsity"].at[e].set(_zero_fractions(p, dtype))
        if "hamming" in record:
            pat = patterns(p, s)
            per_row = jnp.sum(pat != c["pattern"], axis=1, dtype=jnp.int32)
            count = jnp.sum(jnp.where(train_rows, per_row, 0), dtype=jnp.int32)
            hist["hamming"] = hist["hamming"].at[e].set(count)
            new["pattern"] = pat
        if "error_rate" in record:
            rate = error_rate(network.apply(p, s, X)[0], y, tw)
            hist["error_rate"] = hist["error_rate"].at[e].set(rate)
            if has_val:
                hist["val_error_rate"] = hist["val_error_rate"].at[e].set(val_rate)
        if "max_error" in record:
            err = jnp.abs(network.apply(p, s, X)[0] - y).max(axis=-1)
            hist["max_error"] = hist["max_error"].at[e].set(jnp.max(jnp.where(train_rows, err, 0)))
        new["history"] = hist

        # non-finite parameters make the next epoch's loss non-finite (checked after the loop
        # for the last epoch): no per-step scan of every parameter
        finite = jnp.isfinite(train_loss)
        new["diverged"] = jnp.where(finite, -1, e)
        stop = ~finite
        if config.early_stopping:
            monitor = val_loss if has_val else train_loss
            if config.monitor_penalty and has_val:  # as Keras' val_loss: data-fit + penalty
                monitor = monitor + penalty.value(p)
            improved = monitor < c["best"] - config.min_delta
            new["best"] = jnp.where(improved, monitor, c["best"])
            new["best_epoch"] = jnp.where(improved, e, c["best_epoch"])
            new["best_params"] = _select(improved, p, c["best_params"])
            new["best_state"] = _select(improved, s, c["best_state"])
            new["wait"] = jnp.where(improved, 0, c["wait"] + 1)
            stop = stop | (~improved & (new["wait"] >= config.patience))  # patience=0 too
        new["stop"] = stop
        return new

    def cond(c):
        return (c["epoch"] < E) & ~c["stop"]

    start = (params, state)  # the objective test's starting point
    c = jax.lax.while_loop(cond, body, carry)
    params, state = c["params"], c["state"]
    last_finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in jax.tree.leaves(params)]))
    diverged = jnp.where((c["diverged"] < 0) & ~last_finite, c["epoch"] - 1, c["diverged"])
    if config.early_stopping and config.restore_best_weights:
        use_best = (c["best_epoch"] >= 0) & (diverged < 0)
        params, state = _select(use_best, (c["best_params"], c["best_state"]), (params, state))
    out = {
        "params": params, "state": state, "history": c["history"], "n_epochs": c["epoch"],
        "best_epoch": c["best_epoch"], "diverged_epoch": diverged,
    }  # fmt: skip
    if objective_test:
        out.update(_objective_test(network, config, member, data, start, out))
    else:
        out["start"] = start
    return out


def _objective_test(network, config: TrainConfig, member, data, start, out):
    """The objective divergence test of the module docstring for one member: its training
    objective (evaluation mode, training rows with their weights) at ``start`` (parameters and
    state) and at ``out``'s, and ``out``'s ``diverged_epoch`` with the test applied."""
    loss_fn = get_loss(config.loss)
    X, y = data.X, data.y
    dtype = jax.tree.leaves(start[0])[0].dtype
    penalty = jax.tree.map(lambda v: jnp.asarray(v, dtype), member.penalty)
    tw = jnp.asarray(member.train_weight, dtype)

    def objective(p, s):
        pred = network.apply(p, s, X)[0]
        return datafit(loss_fn, pred, y, tw) + penalty.value(p), pred.shape

    def constant_datafit(shape):
        """The test's margin: the data-fit of the best constant prediction on the training rows
        (for the squared error and Huber, the weighted mean target), at least float32's epsilon
        times the data-fit of the zero prediction (targets constant to rounding)."""
        wsum = jnp.maximum(jnp.sum(tw), 1e-12)
        tiny = 1e-30
        if config.loss == "softmax":
            hot = jax.nn.one_hot(y.astype(jnp.int32), shape[-1], dtype=dtype)
            freq = jnp.sum(tw[:, None] * hot, axis=0) / wsum
            const = jnp.log(jnp.maximum(freq, tiny))
        elif config.loss == "logistic":
            q = jnp.clip(jnp.sum(tw * y[:, 0]) / wsum, 1e-7, 1 - 1e-7)
            const = jnp.log(q)[None] - jnp.log1p(-q)[None]
        else:
            mean = jnp.sum(tw[:, None] * y, axis=0) / wsum
            const = jnp.log(jnp.maximum(mean, tiny)) if config.loss == "poisson" else mean
        const = jnp.broadcast_to(jnp.asarray(const, dtype), shape)
        best = datafit(loss_fn, const, y, tw)
        zero = datafit(loss_fn, jnp.zeros(shape, dtype), y, tw)
        return jnp.maximum(jnp.abs(best), jnp.finfo(dtype).eps * jnp.abs(zero))

    start_objective, shape = objective(*start)
    end_objective, _ = objective(out["params"], out["state"])
    diverged = out["diverged_epoch"]
    rose = _objective_rose(start_objective, end_objective, constant_datafit(shape))
    by_objective = (diverged < 0) & rose
    return {
        "diverged_epoch": jnp.where(by_objective, out["n_epochs"] - 1, diverged),
        "objective_diverged": by_objective, "start_objective": start_objective,
        "end_objective": end_objective,
    }  # fmt: skip


CALL_WORK = 1e7  # multiply-adds per step that one call should hold (see chunk_size, is_large)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without affinity
        return os.cpu_count() or 1


def n_workers() -> int:
    """Concurrent calls in flight: ``$SPARSITYLAB_THREADS``, else two per available core."""
    env = os.environ.get("SPARSITYLAB_THREADS")
    return max(1, int(env)) if env else 2 * _cores()


def chunk_size(network, rows_per_step: int, m: int) -> int:
    """Members per call: enough to hold about ``CALL_WORK`` multiply-adds per step, and at
    most ``ceil(m / cores)`` so that every core gets a call.

    One XLA:CPU call keeps about one core busy, and its speed per member falls as the batch of
    members grows once each member's step is large (``benchmarks/bench_engine.py``, ``chunking``:
    a 64-member sweep of the 13-128-64-32-16-1 network runs at ~25% of the matmul rate in one
    call, ~60% in calls of one member); small steps instead gain from batching, which shares
    the per-operation overhead.
    """
    by_work = max(1, int(CALL_WORK // max(1, step_work(network, rows_per_step))))
    return max(1, min(by_work, math.ceil(m / _cores())))


def step_work(network, rows_per_step: int) -> int:
    """Multiply-adds of one member's step, counted as parameters x rows."""
    shapes = jax.eval_shape(network.init, jax.random.PRNGKey(0))[0]
    return sum(int(np.prod(v.shape)) for v in jax.tree.leaves(shapes)) * int(rows_per_step)


def is_large(network, geometry) -> bool:
    """Whether one member's step holds at least ``CALL_WORK`` multiply-adds: only then do
    separate programs for members of different sizes (row groups, narrowed inputs) save more
    time than compiling them costs."""
    return step_work(network, geometry.batch or geometry.rows) >= CALL_WORK


@dataclass(frozen=True)
class Geometry:
    """How the members of one call meet their rows each epoch (static: part of the program).

    ``rows`` is the largest member's number of training rows. Full batch (``batch=None``): each
    step sees the member's first ``rows`` rows in the order "rows of positive weight first", so a
    fold's held-out rows never enter its steps. Minibatches: ``n_batches`` batches of ``batch``
    shuffled rows; ``may_skip`` when some member can meet a batch with no weight (fewer training
    rows than the largest member), which the step then skips by a select.
    """

    n_batches: int
    batch: int | None
    rows: int
    may_skip: bool = False


def batch_geometry(train_weight: np.ndarray, batch_size: int | None) -> Geometry:
    """The :class:`Geometry` of members with these ``(M, n)`` training weights."""
    counts = np.sum(np.asarray(train_weight) > 0, axis=-1)
    n_train = int(np.max(counts))
    if batch_size is None or batch_size >= n_train:
        return Geometry(1, None, n_train)
    n_batches = math.ceil(n_train / batch_size)
    may_skip = math.ceil(int(np.min(counts)) / batch_size) < n_batches
    return Geometry(n_batches, batch_size, n_train, may_skip)


GROUP_RATIO = 0.9  # members share a call when their training rows are within this ratio


def row_groups(train_weight: np.ndarray) -> list[np.ndarray]:
    """Members grouped by their number of training rows (largest first): a group's smallest
    count is at least ``GROUP_RATIO`` times its largest, so a batch of members padded to its
    largest wastes at most a tenth of its steps (the folds of a cross-validation share one
    group; the refit on every row, a third or a fifth larger, gets its own)."""
    counts = np.sum(np.asarray(train_weight) > 0, axis=-1)
    order = np.argsort(-counts, kind="stable")
    groups, current = [], [order[0]]
    for i in order[1:]:
        if counts[i] >= GROUP_RATIO * counts[current[0]]:
            current.append(i)
        else:
            groups.append(np.sort(current))
            current = [i]
    groups.append(np.sort(current))
    return groups


def _run_calls(calls, members, data, m):
    """Run ``calls`` (pairs of a function and the member indices it takes) concurrently, each
    as ``fn(members[indices], data)`` in numpy, and put the members back in their order."""

    def one(call):
        fn, index = call
        part = jax.tree.map(lambda v: np.asarray(v)[index], members)
        return index, jax.tree.map(np.asarray, fn(part, data))

    if len(calls) == 1 or jax.default_backend() != "cpu":
        done = [one(c) for c in calls]
    else:
        with ThreadPoolExecutor(min(n_workers(), len(calls))) as pool:
            done = list(pool.map(one, calls))
    index = np.concatenate([i for i, _ in done])
    first = np.unique(index, return_index=True)[1]  # each member once (padding repeats it)
    assert len(first) == m
    return jax.tree.map(lambda *vs: np.concatenate(vs)[first], *[r for _, r in done])


def _in_dtype(data: Data, dtype) -> Data:
    """``data`` with its floating arrays in the network's ``dtype`` (float64 inputs on a float32
    network would otherwise promote the gradients and the losses); integer labels stay."""
    if dtype is None:
        return data

    def cast(a):
        if a is None:
            return a
        kind = a.dtype if hasattr(a, "dtype") else np.asarray(a).dtype  # no copy to the device
        if not np.issubdtype(kind, np.floating) or kind == np.dtype(dtype):
            return a
        return np.asarray(a, dtype=dtype)

    return Data(*(cast(a) for a in (data.X, data.y, data.X_val, data.y_val)))


def run_members(
    compiled, network, config: TrainConfig, data: Data, members, train_weight, labels=None
):
    """Train the stacked ``members`` (any pytree with leading axis ``M``; ``train_weight`` is
    their ``(M, n)`` training weights) with ``compiled(network, config, geometry, batched)``,
    the compiled fit with ``vmap`` over members or, when ``batched`` is False, for one member
    alone, and ``fast=`` whether the calling context asked for
    :func:`~sparsitylab.engine.compilation.fast_compilation`.

    Members whose steps are large (:func:`is_large`) are grouped by their number of training
    rows (:func:`row_groups`); each group gets its own :func:`batch_geometry` and goes in calls
    of :func:`chunk_size` members (one member per call: the program without ``vmap``), padded
    to equal size by repeating its last member so one program serves every call of the group;
    all calls run concurrently. A member's numbers depend only on itself and its geometry.
    ``labels`` (one hashable per member) split the groups further: members of different labels
    never share a call, and ``compiled`` gets the group's label as ``label=``.
    """
    tw = np.asarray(train_weight)
    m = tw.shape[0]
    data = _in_dtype(data, getattr(network, "dtype", None))
    calls = []
    split = row_groups if is_large(network, batch_geometry(tw, config.batch_size)) else None
    given = labels is not None
    labels = np.asarray(labels) if given else np.zeros(m, int)
    groups = []
    for label in np.unique(labels):
        index = np.flatnonzero(labels == label)
        for g in split(tw[index]) if split else [np.arange(len(index))]:
            groups.append((label.item() if given else None, index[g]))
    for label, group in groups:
        geometry = batch_geometry(tw[group], config.batch_size)
        rows = geometry.batch or geometry.rows
        chunk = 1 if len(group) == 1 else chunk_size(network, rows, len(group))
        if jax.default_backend() != "cpu":
            chunk = len(group)
        program = partial(compiled, network, config, geometry, fast=fast_requested())
        if label is not None:
            program = partial(program, label=label)
        if chunk == 1:
            single = program(False)

            def fn(ms, d, single=single):
                out = single(jax.tree.map(lambda v: v[0], ms), d)
                return jax.tree.map(lambda v: np.asarray(v)[None], out)  # no tiny compiled ops
        else:
            fn = program(True)
        n_calls = math.ceil(len(group) / chunk)
        padded = group[np.minimum(np.arange(n_calls * chunk), len(group) - 1)]
        calls += [(fn, index) for index in padded.reshape(n_calls, chunk)]
    return TrainResult(**_run_calls(calls, members, data, m))


@lru_cache(maxsize=64)
def _compiled(network, config, geometry, batched, fast=False):
    """The compiled fit: the training program (compiled fast with ``fast``:
    :mod:`~sparsitylab.engine.compilation`), then the objective divergence test as a second
    program, always compiled fast (it runs two forward passes once per fit, so its compilation
    matters and its speed does not; inside the training program it made a first fit's
    compilation longer by more than the second program takes)."""
    fit = partial(_fit_one, network, config, geometry, objective_test=False)
    check = partial(_objective_test, network, config)
    if batched:
        fit, check = jax.vmap(fit, in_axes=(0, None)), jax.vmap(check, in_axes=(0, None, 0, 0))
    fit = jax.jit(fit, compiler_options=compiler_options(fast))
    check = jax.jit(check, compiler_options=compiler_options(True))

    def run(members, data):
        out = fit(members, data)
        start = out.pop("start")
        return {**out, **check(members, data, start, out)}

    return run


def _all_finite(a) -> bool:
    """Whether every value of ``a`` is finite (integers always are); a device array is checked
    where it lies."""
    xp = jnp if isinstance(a, jax.Array) else np
    a = a if xp is jnp else np.asarray(a)
    return not xp.issubdtype(a.dtype, xp.inexact) or bool(xp.all(xp.isfinite(a)))


def _check_targets(name, y, n_rows, x_name, network, loss):
    """``y`` as ``loss`` reads it: one row per row of ``x_name``; 1-D class indices in
    ``[0, n_outputs)`` for ``"softmax"``, else ``(n_rows, n_outputs)``, finite (``>= 0`` for
    ``"poisson"``)."""
    shape = np.shape(y)
    n_outputs = getattr(network, "n_outputs", None)
    if loss == "softmax":
        if len(shape) != 1 or shape[0] != n_rows:
            raise ValueError(
                f"with loss='softmax' {name} must be 1-D class indices, one per row of {x_name} "
                f"({n_rows},); got shape {shape}"
            )
        codes = np.asarray(y)
        high = np.inf if n_outputs is None else n_outputs
        if not np.all((codes >= 0) & (codes < high) & (codes == np.floor(codes))):
            raise ValueError(
                f"with loss='softmax' {name} must hold integer class indices in [0, {high}) "
                "(encode labels as 0, 1, ..., n_classes - 1)"
            )
        return
    if len(shape) != 2 or shape[0] != n_rows:
        hint = f" (a 1-D target: pass {name}[:, None])" if len(shape) == 1 else ""
        raise ValueError(
            f"{name} must be 2-D, (n_samples, n_outputs), with one row per row of {x_name} "
            f"({n_rows}); got shape {shape}{hint}"
        )
    if n_outputs is not None and shape[1] != n_outputs:
        raise ValueError(
            f"{name} has {shape[1]} column(s) but the network has {n_outputs} output(s); give "
            f"{name} one column per output"
        )
    if not _all_finite(y):
        raise ValueError(f"{name} contains NaN or infinite values; drop or impute those rows")
    if loss == "poisson" and not np.all(np.asarray(y) >= 0):
        raise ValueError(f"with loss='poisson' {name} must be >= 0 (counts or rates)")


def _check_weights(name, w, m, n, rows):
    """``w`` of shape ``(m, n)`` (``m=None``: any number of members), finite and ``>= 0``."""
    w = np.asarray(w)
    if w.ndim != 2 or w.shape[1] != n or (m is not None and w.shape[0] != m):
        raise ValueError(
            f"{name} must be (M, {n}): one weight per row of {rows} for each of the M members "
            f"(stack members with stack_members); got shape {w.shape}"
        )
    if not np.all(np.isfinite(w) & (w >= 0)):
        raise ValueError(
            f"{name} must be finite and >= 0 (a weight of 0 leaves the row out); got "
            f"{w[~(np.isfinite(w) & (w >= 0))][:5].tolist()}"
        )


def check_inputs(network, config: TrainConfig, data: Data, members: Member) -> None:
    """Refuse, with numpy and before anything is traced, what ``train`` would otherwise read
    wrongly or fail on deep inside JAX: ``X`` 2-D with the network's ``n_inputs`` columns,
    targets as :func:`_check_targets` says, ``X_val`` and ``y_val`` given together with ``X``'s
    columns, finite inputs, weights of shape ``(M, n)`` finite and ``>= 0`` (each member with
    some positive training weight), and the members' hyperparameters in their ranges."""
    X = data.X
    if np.ndim(X) != 2:
        raise ValueError(f"X must be 2-D, (n_samples, n_features); got shape {np.shape(X)}")
    n, p = np.shape(X)
    n_inputs = getattr(network, "n_inputs", None)
    if n_inputs is not None and p != n_inputs:
        raise ValueError(
            f"X has {p} column(s) but the network takes {n_inputs} input(s); give X the "
            "network's columns or build the network for X"
        )
    if not _all_finite(X):
        raise ValueError("X contains NaN or infinite values; drop or impute them first")
    _check_targets("y", data.y, n, "X", network, config.loss)
    if (data.X_val is None) != (data.y_val is None):
        raise ValueError(
            "X_val and y_val go together: give both (separate validation rows) or neither "
            "(validation weights then refer to the training rows)"
        )
    n_val = n
    if data.X_val is not None:
        if np.ndim(data.X_val) != 2 or np.shape(data.X_val)[1] != p:
            raise ValueError(
                f"X_val must be 2-D with X's {p} column(s); got shape {np.shape(data.X_val)}"
            )
        if not _all_finite(data.X_val):
            raise ValueError("X_val contains NaN or infinite values; drop or impute them first")
        n_val = np.shape(data.X_val)[0]
        _check_targets("y_val", data.y_val, n_val, "X_val", network, config.loss)
    tw = np.asarray(members.train_weight)
    _check_weights("train_weight", tw, None, n, "X")
    if np.any(tw.sum(axis=1) <= 0):
        raise ValueError("every member needs at least one training row with positive weight")
    if members.val_weight is not None:
        rows = "X" if data.X_val is None else "X_val"
        _check_weights("val_weight", members.val_weight, tw.shape[0], n_val, rows)
    # rebuilt with numpy leaves, the penalty, optimizer and member check their numbers
    jax.tree.map(np.asarray, members)


def train(network, config: TrainConfig, data: Data, members: Member) -> TrainResult:
    """Train the stacked ``members`` (leading axis ``M``) of ``network`` on ``data`` (checked
    first by :func:`check_inputs`)."""
    check_inputs(network, config, data, members)
    tw = np.asarray(members.train_weight)
    if members.optimizer.name == "lbfgs":
        if config.batch_size is not None and config.batch_size < tw.shape[1]:
            raise ValueError("L-BFGS trains on the full batch: use batch_size=None")
        if members.penalty.has_prox:
            raise ValueError(
                "L-BFGS needs a smooth objective; L1, elastic net, group lasso and max-norm need a "
                "first-order optimizer (e.g. 'adam' or 'sgd')"
            )
        if getattr(network, "dropout", False) or getattr(network, "batch_norm", False):
            raise ValueError("L-BFGS needs a deterministic objective: no dropout or batch norm")
        if np.any(np.asarray(members.optimizer.weight_decay) != 0):
            raise ValueError(
                "L-BFGS takes no decoupled weight_decay (its line search picks the steps); set "
                "weight_decay=0 and use the coupled penalty='l2' instead"
            )
    m = tw.shape[0]
    if data.X_val is not None and members.val_weight is None:  # separate validation rows: all
        val_weight = np.ones((m, np.shape(data.X_val)[0]), tw.dtype)
        members = dataclasses.replace(members, val_weight=val_weight)
    return run_members(_compiled, network, config, data, members, tw)
