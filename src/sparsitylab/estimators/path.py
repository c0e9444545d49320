"""Feature-selection paths: one network per penalty strength, folds and alphas batched.

A path fits the estimator at ``A`` increasing strengths ``alpha_1 < ... < alpha_A`` of a
feature-sparse penalty (``"group_input"``: ``alpha sum_j ||W1[j, :]||``; ``"hadamard_input"``:
weight decay on an input gate and the first layer, equal at balance to the same group lasso on the
gated rows) and records, per alpha, the validation loss and which inputs keep a non-zero
first-layer row. Feature ``j`` is *selected* when its (gated) row is non-zero; the proximal steps
make dropped rows exactly zero, so the count is exact, not a threshold.

Two ways to run it, both on the training engine:

* ``warm_start=True``: the alphas are visited in increasing order, each fit starting from the
  previous one's parameters (the first one trains ``max_epochs``, the others ``warm_epochs``,
  by default ``max_epochs`` per decade of the grid: :func:`default_warm_epochs`). One compiled
  program serves every alpha (the starting parameters are traced inputs), and the folds of a
  cross-validation are ``vmap``-ed members of it. With ``monotone=True`` (the default) the path
  is *hierarchical*: a row that is exactly zero after the fit at ``alpha_i`` is held at zero for
  every ``alpha > alpha_i`` (the fit runs without that input: ``train_from(..., keep=...)``), so
  the selected sets are nested,
  ``S(alpha_1) >= S(alpha_2) >= ...``, and the alpha at which a feature leaves is unambiguous.
  With the rest of the network fixed this is exact (a zero row stays optimal while its gradient
  norm is at most alpha, and alpha only grows); without the hold, rows that the inexact warm fits
  drop can come back at larger alphas as the rest moves (a Boston path went 13, ..., 3, 2, 7
  features).
* ``warm_start=False``: every (alpha, fold) pair is one member of a single ``vmap``-ed engine run,
  each from the same initial weights as its fold. Such a path is *free*: ``monotone`` concerns
  warm paths only (there is no previous alpha to hold a row from), the selected sets need not be
  nested, and ``leave_alpha`` is then the grid alpha after a feature's last selected point.

Each point is judged by its validation *data-fit*, the training objective without the penalty:
half the squared error (``0.5 ||y_i - f_i||^2``, mean over rows; half the mean squared error for
one output) for regression, the mean log-loss (cross-entropy) for classification. A member that
diverges (NaN/inf loss or weights) at one alpha marks that point ``diverged`` (never chosen); the
path keeps, for that member, the parameters its fit started from (a warm path continues from
them), and the point's selected set is read off those, never off non-finite rows.

Going up the path matters for networks: at ``W1 = 0`` a ReLU network with zero biases has zero
gradient in ``W1`` (every unit sits at the kink), and a Hadamard pair at ``(0, 0)`` is a stationary
point, so a path started from the sparse end could never bring a feature back.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from numbers import Integral

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.utils import check_random_state

from sparsitylab._errors import DivergenceError
from sparsitylab.engine.losses import datafit, get_loss
from sparsitylab.engine.penalties import Sum
from sparsitylab.engine.trainer import Data, Member, TrainResult, stack_members, train
from sparsitylab.equivalence._validation import check_alphas as _check_alphas
from sparsitylab.estimators._base import feature_names, make_penalty
from sparsitylab.sparse._train import init_members, train_from, weighted_loss

FEATURE_PENALTIES = ("group_input", "hadamard_input")


def check_feature_penalty(est, what):
    """Refuse a penalty that cannot select features: only :data:`FEATURE_PENALTIES` zero whole
    first-layer rows (an input's every weight) by design."""
    if est.penalty not in FEATURE_PENALTIES:
        raise ValueError(
            f"{what} needs a penalty that selects input features (a group penalty on the first "
            f"layer's input rows), one of {', '.join(map(repr, FEATURE_PENALTIES))}; got "
            f"penalty={est.penalty!r}. Set penalty='group_input'"
        )


# --- what "selected" means ------------------------------------------------------------------
def effective_first_layer(params) -> np.ndarray:
    """The first-layer weights as the inputs see them, ``gate[:, None] * W1`` when gated, with the
    leading member axis: ``(M, n_features, n_units)``."""
    first = params[0]
    w = np.asarray(first["w"])
    if "gate" in first:
        w = np.asarray(first["gate"])[..., None] * w
    return w


def used_inputs(params) -> np.ndarray:
    """``(M, n_features)`` booleans: per member, the inputs whose first-layer row is non-zero."""
    return np.any(effective_first_layer(params) != 0, axis=2)


def selected_mask(params) -> np.ndarray:
    """``(n_features,)`` booleans: the inputs whose first-layer row is non-zero in some member."""
    return used_inputs(params).any(axis=0)


def leave_alphas(alphas, selected) -> np.ndarray:
    """Per feature, the smallest alpha of the (increasing) grid from which it stays out of the
    model: ``0`` for a feature never selected, ``inf`` for one still selected at the largest."""
    alphas = np.asarray(alphas, float)
    selected = np.asarray(selected, bool)
    out = np.empty(selected.shape[1])
    for j in range(selected.shape[1]):
        on = np.flatnonzero(selected[:, j])
        if len(on) == 0:
            out[j] = 0.0
        elif on[-1] == len(alphas) - 1:
            out[j] = np.inf
        else:
            out[j] = alphas[on[-1] + 1]
    return out


def default_alphas(network, loss_name, X, Y, weight, key, n_alphas, eps=1e-3) -> np.ndarray:
    """A geometric grid ``alpha_max * [eps, 1]`` (increasing). ``alpha_max`` is twice the largest
    feature gradient norm ``||dL/dW1[j, :]||`` of the data-fit at the initial weights: the group
    lasso's zero test for a feature (a row stays at zero while its gradient norm is below alpha)
    evaluated where training starts, with a margin because the gradients grow as the network fits.
    """
    alpha_max = 2.0 * float(_largest_feature_gradient(network, loss_name)(key, X, Y, weight))
    if not np.isfinite(alpha_max) or alpha_max <= 0:
        alpha_max = 1.0
    return np.geomspace(alpha_max * eps, alpha_max, n_alphas)


@lru_cache(maxsize=32)
def _largest_feature_gradient(network, loss_name):
    """``max_j ||dL/dW1[j, :]||`` at the initial weights drawn from ``key``, as one program."""
    loss = get_loss(loss_name)

    def largest(key, X, Y, weight):
        params, state = network.init(jax.random.fold_in(key, 0))

        def fit(first_w):
            p = ({**params[0], "w": first_w}, *params[1:])
            return datafit(loss, network.apply(p, state, X)[0], Y, weight)

        g = jax.grad(fit)(params[0]["w"])
        if "gate" in params[0]:
            gate = params[0]["gate"][:, None]
            g = g / jnp.where(gate == 0, 1.0, gate)
        return jnp.max(jnp.sqrt(jnp.sum(g * g, axis=1)))

    return jax.jit(largest)


def default_warm_epochs(max_epochs, alphas) -> int:
    """Epochs of each warm-started fit after the first: ``max_epochs`` per decade of the grid,
    ``ceil(max_epochs * log10(alpha_A / alpha_1) / (A - 1))`` over its positive alphas (one
    decade when fewer than two are positive). The path then moves through alpha at the same
    speed whatever ``A``: more alphas record the same trajectory more finely, they do not train
    it longer."""
    a = np.asarray(alphas, float)
    pos = a[a > 0]
    decades = float(np.log10(pos[-1] / pos[0])) if len(pos) > 1 else 1.0
    return max(1, math.ceil(max_epochs * decades / max(len(a) - 1, 1)))


def check_alphas(alphas) -> np.ndarray:
    """A path's grid, increasing and without repeats; alpha = 0 (no penalty) is allowed."""
    a = np.sort(_check_alphas(alphas, zero=True))
    repeated = np.unique(a[1:][a[1:] == a[:-1]])
    if len(repeated):
        raise ValueError(
            f"alphas must be distinct (a path fits each alpha once), got {repeated.tolist()} "
            "more than once; remove the repeated values"
        )
    return a


# --- the path itself ------------------------------------------------------------------------
@dataclass
class PathRun:
    """Raw path results: per alpha a :class:`TrainResult` whose member axis is the folds, the
    validation data-fit ``val_loss`` of shape ``(n_alphas, n_folds)`` (inf where one diverged)
    and ``diverged`` ``(n_alphas,)``: a fold's loss is not finite there, or the member on every
    row diverged."""

    alphas: np.ndarray
    results: list
    val_loss: np.ndarray
    diverged: np.ndarray
    mode: str
    seconds: float
    penalized: list
    every_row: list | None = None


def _members(est, penalty, keys, train_w, val_w):
    """One member per fold."""
    _, opt, rate = est._hyper()
    return [
        Member(k, penalty, opt, rate, tw, vw)
        for k, tw, vw in zip(keys, train_w, val_w, strict=True)
    ]


def _penalty(est, alpha):
    return make_penalty(est.penalty, float(alpha), est.l1_ratio, est.max_norm)


def take_members(res: TrainResult, sl: slice) -> TrainResult:
    """The members ``sl`` of ``res``."""
    return TrainResult(
        params=jax.tree.map(lambda v: v[sl], res.params),
        state=jax.tree.map(lambda v: v[sl], res.state),
        history={k: v[sl] for k, v in res.history.items()},
        n_epochs=res.n_epochs[sl], best_epoch=res.best_epoch[sl],
        diverged_epoch=res.diverged_epoch[sl],
        **{
            name: None if getattr(res, name) is None else getattr(res, name)[sl]
            for name in ("objective_diverged", "start_objective", "end_objective")
        },
    )  # fmt: skip


def split_members(res: TrainResult, n_parts: int) -> list[TrainResult]:
    """``res`` (member axis ``n_parts * F``, part-major) as ``n_parts`` results of ``F`` members."""
    F = len(res.n_epochs) // n_parts
    return [take_members(res, slice(i * F, (i + 1) * F)) for i in range(n_parts)]


def _where_members(ok, new, old):
    """Per member (leading axis), ``new`` where ``ok`` else ``old``."""
    return jax.tree.map(
        lambda a, b: np.where(ok.reshape((-1,) + (1,) * (a.ndim - 1)), a, b), new, old
    )


def _keep_finite(res: TrainResult, start) -> TrainResult:
    """``res`` with each diverged member's parameters and state replaced by ``start``, those it
    trained from: what the path keeps of it (``diverged_epoch`` still says it diverged)."""
    ok = np.asarray(res.diverged_epoch) < 0
    params, state = _where_members(ok, (res.params, res.state), start)
    return dataclasses.replace(res, params=params, state=state)


def relax(est, network, config, data, keys, train_w, val_w, results, epochs) -> list:
    """The relaxed refits of path points (``results``, one :class:`TrainResult` of the folds per
    point), all trained at once: each continues from its parameters with no penalty but the
    selected inputs fixed (the dropped rows held at exactly zero), so the validation loss judges
    the selected *set* rather than the shrunken weights (the relaxed lasso)."""
    members = _members(est, Sum(()), keys, train_w, val_w) * len(results)
    params, state = (
        jax.tree.map(lambda *vs: np.concatenate(vs), *[getattr(r, f) for r in results])
        for f in ("params", "state")
    )
    cfg = dataclasses.replace(config, max_epochs=int(epochs), val_history=False)
    keep = used_inputs(params)
    out = train_from(network, cfg, data, stack_members(members), params, state, keep=keep)
    return split_members(out, len(results))


def run_path(
    est,
    network,
    config,
    data,
    keys,
    train_w,
    val_w,
    alphas,
    warm_start,
    warm_epochs,
    relax_epochs=0,
    monotone=True,
    every_row=False,
):
    """Train ``est``'s network at every alpha for every fold (rows of ``train_w``/``val_w``);
    with ``relax_epochs > 0`` each point is judged (and returned) after its relaxed refit; with
    ``monotone`` (warm paths) a row that is exactly zero at one alpha is held at zero for every
    larger alpha. A member that diverges at one alpha keeps the parameters it started from (its
    result's ``params``; a warm path starts the next alpha from them).

    ``every_row=True`` also trains, beside the folds and in the same programs, the path of one
    more member on every row (the first fold's key, no validation rows): ``PathRun.every_row``,
    its penalized result per alpha (not relaxed, not judged), the refit path of a CV estimator.
    """
    start = time.perf_counter()
    config = dataclasses.replace(config, val_history=False)  # points are judged at the end
    F = len(keys)
    path_keys, path_train, path_val = list(keys), list(train_w), list(val_w)
    if every_row:
        n = np.shape(data.X)[0]
        path_keys.append(keys[0])
        path_train.append(np.ones(n, np.float32))
        path_val.append(np.zeros(n, np.float32))
    results = []
    if warm_start:
        warm_config = dataclasses.replace(config, max_epochs=int(warm_epochs))
        params, state = init_members(network, jnp.stack(path_keys))
        for i, alpha in enumerate(alphas):
            members = _members(est, _penalty(est, alpha), path_keys, path_train, path_val)
            res = train_from(
                network, config if i == 0 else warm_config, data, stack_members(members), params,
                state, keep=used_inputs(params) if monotone and i > 0 else None,
            )  # fmt: skip
            res = _keep_finite(res, (params, state))
            params, state = res.params, res.state
            results.append(res)
        mode = "warm"
    else:
        members = []
        for alpha in alphas:
            members += _members(est, _penalty(est, alpha), path_keys, path_train, path_val)
        res = train(network, config, data, stack_members(members))
        initial = init_members(network, jnp.stack(path_keys))
        results = [_keep_finite(r, initial) for r in split_members(res, len(alphas))]
        mode = "batched"
    all_rows = [take_members(r, slice(F, F + 1)) for r in results] if every_row else None
    results = [take_members(r, slice(0, F)) for r in results] if every_row else results
    penalized = results
    if relax_epochs:
        results = relax(est, network, config, data, keys, train_w, val_w, results, relax_epochs)
    val = np.empty((len(alphas), F))
    vw = np.stack(val_w)
    for i, (res, pen) in enumerate(zip(results, penalized, strict=True)):
        val[i] = weighted_loss(network, config.loss, res.params, res.state, data.X, data.y, vw)
        # a point whose penalized fit diverged stays judged so, even if its relaxed refit (from
        # the parameters the path kept) did not
        bad = (np.asarray(res.diverged_epoch) >= 0) | (np.asarray(pen.diverged_epoch) >= 0)
        val[i][bad] = np.inf
    val[~np.isfinite(val)] = np.inf
    diverged = ~np.all(np.isfinite(val), axis=1)
    if every_row:
        diverged |= np.array([np.any(np.asarray(r.diverged_epoch) >= 0) for r in all_rows])
    seconds = time.perf_counter() - start
    return PathRun(np.asarray(alphas), results, val, diverged, mode, seconds, penalized, all_rows)


# --- what users get back --------------------------------------------------------------------
@dataclass
class FeaturePath:
    """A fitted path. Arrays are indexed by alpha (increasing) first.

    ``val_loss``: validation data-fit per alpha (mean over folds; ``val_loss_folds`` per fold):
    half the squared error ``0.5 ||y_i - f_i||^2`` averaged over the validation rows for
    regression (half the MSE for one output), the mean log-loss for classification; inf where
    training diverged on that fold. ``selected``: ``(n_alphas, n_features)`` booleans;
    ``n_selected``; ``feature_names``; ``leave_alpha``: per feature, the smallest grid alpha
    from which it stays out (inf: still in at the largest; 0: never in);
    ``best_index``: the alpha chosen (least mean validation loss, or the 1-SE rule in the CV
    estimators); ``diverged``: per alpha, whether training diverged there (on a fold, or on the
    CV estimators' refit on every row; such a point is never chosen, and its ``selected`` row is
    read off the parameters the path kept: those the diverged fit started from);
    ``params``: per alpha the parameter pytrees (when asked for);
    ``mode`` ("warm" or "batched") and ``seconds`` (wall time of the training).
    """

    alphas: np.ndarray
    val_loss: np.ndarray
    val_loss_folds: np.ndarray
    selected: np.ndarray
    feature_names: np.ndarray
    best_index: int
    diverged: np.ndarray
    mode: str
    seconds: float
    params: list | None = None
    leave_alpha: np.ndarray = field(init=False)

    def __post_init__(self):
        self.leave_alpha = leave_alphas(self.alphas, self.selected)

    @property
    def n_selected(self) -> np.ndarray:
        return self.selected.sum(axis=1)

    @property
    def best_alpha(self) -> float:
        return float(self.alphas[self.best_index])

    def selected_names(self, index: int | None = None) -> list:
        """Names of the features selected at ``alphas[index]`` (default: the chosen alpha)."""
        i = self.best_index if index is None else index
        return list(self.feature_names[self.selected[i]])

    def to_frame(self):
        """One row per alpha: alpha, validation loss, number and names of selected features,
        whether training diverged there."""
        import pandas as pd

        return pd.DataFrame({
            "alpha": self.alphas, "val_loss": self.val_loss, "n_selected": self.n_selected,
            "selected": [list(self.feature_names[s]) for s in self.selected],
            "diverged": self.diverged,
        })  # fmt: skip

    def plot(self, ax=None):
        from sparsitylab.sparse.plots import plot_path

        return plot_path(self, ax=ax)


def check_path(est, diverged):
    """Refuse a path on which every point ``diverged`` (``PathRun.diverged``); warn when some
    did (those are never chosen)."""
    bad = np.asarray(diverged, bool)
    if not bad.any():
        return
    advice = f"try {est._divergence_advice()}"
    if bad.all():
        raise DivergenceError(f"training diverged at every alpha of the path: {advice}")
    warnings.warn(
        f"training diverged at {int(bad.sum())} of {len(bad)} alphas of the path (on at least "
        f"one fold, or on the refit on every row); those alphas were not chosen: {advice}",
        RuntimeWarning,
        stacklevel=3,
    )


def choose(val_loss_folds, rule="min", diverged=None) -> int:
    """Index of the chosen alpha among those not ``diverged``: least mean validation loss
    (``"min"``), or the largest alpha whose mean is within one standard error of that minimum
    (``"1se"``; the sparsest such point when the selected sets are nested)."""
    if diverged is not None:
        val_loss_folds = np.where(np.asarray(diverged, bool)[:, None], np.inf, val_loss_folds)
    mean = val_loss_folds.mean(axis=1)
    best = int(np.argmin(mean))
    if rule == "min" or val_loss_folds.shape[1] < 2:
        return best
    se = val_loss_folds[best].std(ddof=1) / np.sqrt(val_loss_folds.shape[1])
    within = np.flatnonzero(mean <= mean[best] + se)
    return int(within.max())


def _check_count(name, value, low, none=False):
    """Refuse a count that is not an integer ``>= low`` (``None`` allowed with ``none``)."""
    if value is None and none:
        return
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def _prepare(est, X, y):
    """The validated data and encoded targets (the parameters are checked before)."""
    X, y = est._validate_fit(X, y)
    Y, n_outputs = est._encode_targets(y, fitted=False)
    return X, y, Y, n_outputs


def estimator_path(
    est,
    X,
    y,
    *,
    alphas=None,
    n_alphas=20,
    warm_start=True,
    validation_data=None,
    return_params=False,
    warm_epochs=None,
    relax_epochs=0,
    monotone=True,
):
    """``est.path(...)``: a path with one validation split, the estimator left fitted at the
    alpha of least validation loss. The arguments are checked first (a refused one leaves an
    earlier fit as it was); a failure once the refit has started leaves the estimator unfitted."""
    est._check_params()
    check_feature_penalty(est, "a path")
    if est.n_estimators != 1 or est.bootstrap:
        raise ValueError(
            "a path trains one network per alpha; n_estimators > 1 and bootstrap=True are not "
            "supported here (fit with alpha=alpha_ after the path for an ensemble at the chosen "
            "alpha)"
        )
    if alphas is None:
        _check_count("n_alphas", n_alphas, 1)
    else:
        alphas = check_alphas(alphas)
    _check_count("warm_epochs", warm_epochs, 1, none=True)
    _check_count("relax_epochs", relax_epochs, 0)
    try:
        path = _fit_path(
            est, X, y, alphas, n_alphas, warm_start, validation_data, return_params,
            warm_epochs, relax_epochs, monotone,
        )  # fmt: skip
    except BaseException:
        est._forget_fit()
        raise
    if est.verbose:
        print(f"{type(est).__name__}.path: {summary(path)}")
    return path


def summary(path) -> str:
    """One line on a fitted path (what ``verbose`` prints)."""
    return (
        f"{len(path.alphas)} alphas ({path.mode}), alpha_={path.best_alpha:.4g}, "
        f"{int(path.n_selected[path.best_index])} of {path.selected.shape[1]} features selected, "
        f"{int(path.diverged.sum())} diverged, {path.seconds:.2f} s"
    )


def _fit_path(
    est, X, y, alphas, n_alphas, warm_start, validation_data, return_params, warm_epochs,
    relax_epochs, monotone,
):  # fmt: skip
    X, _, Y, n_outputs = _prepare(est, X, y)
    rng = check_random_state(est.random_state)
    n = X.shape[0]
    if validation_data is not None:
        Xv, Yv = est._validate_validation_data(validation_data, n_outputs)
        data = Data(np.concatenate([X, Xv]), np.concatenate([Y, Yv]))
        tw = np.r_[np.ones(n), np.zeros(len(Xv))].astype(np.float32)
    else:
        tr, _ = train_test_split(
            np.arange(n),
            test_size=est.validation_fraction,
            random_state=rng.randint(2**31 - 1),
            stratify=est._stratify(Y),
        )
        data = Data(X, Y)
        tw = np.zeros(n, np.float32)
        tw[tr] = 1.0
    vw = (1.0 - tw).astype(np.float32)
    network = est._network(X.shape[1], n_outputs)
    config = est._config()
    keys = est._member_keys(rng, 1)
    if alphas is None:
        alphas = default_alphas(network, config.loss, data.X, data.y, tw, keys[0], int(n_alphas))
    warm_epochs = warm_epochs or default_warm_epochs(int(est.max_epochs), alphas)
    run = run_path(
        est, network, config, data, keys, [tw], [vw], alphas, warm_start, warm_epochs,
        relax_epochs, monotone,
    )  # fmt: skip
    check_path(est, run.diverged)
    best = choose(run.val_loss, diverged=run.diverged)
    path = FeaturePath(
        alphas=alphas, val_loss=run.val_loss.mean(axis=1), val_loss_folds=run.val_loss,
        selected=np.stack([selected_mask(r.params) for r in run.penalized]),
        feature_names=feature_names(est, X.shape[1]), best_index=best, diverged=run.diverged,
        mode=run.mode, seconds=run.seconds,
        params=[(r.params, r.state) for r in run.results] if return_params else None,
    )  # fmt: skip
    est._store(network, run.results[best], slice(0, 1))
    est.alpha_ = path.best_alpha
    est.path_ = path
    est.feature_importances_ = path.leave_alpha
    return path


def cv_folds(est, Y, cv, rng):
    """Train and validation weights ``(F, n)`` of a (stratified) K-fold split."""
    n = Y.shape[0]
    seed = rng.randint(2**31 - 1)
    strat = est._stratify(Y)
    splitter = (StratifiedKFold if strat is not None else KFold)(
        cv, shuffle=True, random_state=seed
    )
    tw, vw = [], []
    for tr, va in splitter.split(np.zeros(n), strat):
        t = np.zeros(n, np.float32)
        t[tr] = 1.0
        v = np.zeros(n, np.float32)
        v[va] = 1.0
        tw.append(t)
        vw.append(v)
    return tw, vw
