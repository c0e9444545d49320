"""Sparsity and weights: how many weights are zero, which inputs a network uses.

Weights are read as trained, from an estimator's ``params_`` (member 0 by default), a
``(network, params)`` pair, scikit-learn's ``coefs_``, or a plain list of weight arrays, except that
an input gate is folded into the first layer: the inputs meet ``gate[:, None] * W1``. Batch norm is
not folded. Layer ``i`` is the ``i``-th weight tensor (the first layer may be a convolution). The
per-feature functions give one row per column of the original ``X``: for a network that
``sparsitylab.compact`` narrowed to some columns, the dropped columns have zero weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sparsitylab.diagnostics._model import pad_rows, take_member, unwrap
from sparsitylab.diagnostics._plotting import new_figure

DEFAULT_THRESHOLDS = (0.0, 1e-8, 1e-6, 1e-4, 1e-2)


def _engine_weights(params, read):
    """The engine's layers ``read`` to numpy, an input gate folded: ``gate[:, None] * W1``."""
    ws = [read(layer["w"]) for layer in params]
    if ws and "gate" in params[0]:
        ws[0] = read(params[0]["gate"])[:, None] * ws[0]
    return ws


def layer_weights(model, *, member: int = 0) -> list[np.ndarray]:
    """The weight tensors (no biases) of every layer, as float64 numpy arrays (gate folded)."""
    if hasattr(model, "params_"):
        return _engine_weights(
            model.params_, lambda a: take_member(np.asarray(a, np.float64), member)
        )
    if hasattr(model, "coefs_"):
        return [np.asarray(w, dtype=np.float64) for w in model.coefs_]
    if isinstance(model, tuple | list) and model:
        first = model[0]
        if hasattr(first, "init") and hasattr(first, "apply"):
            return _engine_weights(model[1], lambda a: np.asarray(a, dtype=np.float64))
        if isinstance(first, tuple | list):  # (weights, biases)
            return [np.asarray(w, dtype=np.float64) for w in first]
        return [np.asarray(w, dtype=np.float64) for w in model]
    raise TypeError(
        f"cannot read weights from {type(model).__name__}; pass a fitted estimator, a "
        "(network, params) pair or a list of weight arrays"
    )


def _first_layer_per_feature(model, member: int, what: str) -> np.ndarray:
    """The dense first layer ``(n_features, units)``, one row per column of the original ``X``
    (zero rows for the columns a compacted network does not read)."""
    w = layer_weights(model, member=member)[0]
    if w.ndim != 2:
        raise ValueError(f"{what} reads a dense first layer (n_inputs, units)")
    network = getattr(model, "network_", None)
    if network is None and isinstance(model, tuple | list) and hasattr(model[0], "apply"):
        network = model[0]
    columns, n_features, _ = unwrap(network)
    return w if columns is None else pad_rows(w, columns, n_features)


def sparsity_by_layer(model, thresholds: Sequence[float] = DEFAULT_THRESHOLDS, *, member=0):
    """Fraction of weights with ``|w| <= t`` per layer, for each threshold ``t``.

    ``t = 0`` counts exact zeros (what proximal training produces); positive thresholds count
    near-zeros. One row per layer plus a final ``"all"`` row; columns ``n_weights`` and
    ``frac_le_{t}``, ``t`` written as ``{t:g}`` where that reads back as ``t``, else ``repr(t)``
    (so distinct thresholds get distinct columns; repeated thresholds are an error).
    """
    ws = layer_weights(model, member=member)
    thresholds = [float(t) for t in thresholds]
    if any(not t >= 0 for t in thresholds):
        raise ValueError("thresholds must be >= 0")
    if len(set(thresholds)) != len(thresholds):
        raise ValueError(f"thresholds must be distinct, got {thresholds}")
    labels = [f"{t:g}" if float(f"{t:g}") == t else repr(t) for t in thresholds]
    rows = []
    for name, w in [*((str(i), w) for i, w in enumerate(ws)),
                    ("all", np.concatenate([w.ravel() for w in ws]))]:  # fmt: skip
        a = np.abs(w.ravel())
        rows.append({"layer": name, "n_weights": a.size,
                     **{f"frac_le_{lab}": float(np.mean(a <= t))
                        for lab, t in zip(labels, thresholds, strict=True)}})  # fmt: skip
    return pd.DataFrame(rows).set_index("layer")


def plot_sparsity_by_layer(model, thresholds: Sequence[float] = DEFAULT_THRESHOLDS, *, member=0):
    table = sparsity_by_layer(model, thresholds, member=member)
    fig, ax = new_figure()
    cols = [c for c in table.columns if c.startswith("frac_le_")]
    x = np.arange(len(table))
    width = 0.8 / len(cols)
    for i, c in enumerate(cols):
        ax.bar(x + i * width, table[c], width, label=f"|w| <= {c[8:]}")
    ax.set_xticks(x + 0.4 - width / 2, table.index)
    ax.set_xlabel("layer")
    ax.set_ylabel("fraction of weights")
    ax.set_ylim(0, 1)
    ax.legend(fontsize="small")
    return fig


def mean_abs_weight_per_feature(model, feature_names=None, *, member: int = 0) -> pd.Series:
    """For each input feature, the mean of ``|w|`` over its first-layer weights (all units).

    With an input gate (``penalty="hadamard_input"``) the first layer is ``gate[:, None] * W1``;
    a column that a compacted network does not read has ``0``.

    The report's measure of how much a network uses a feature. Rows are named by
    ``feature_names``, else by the model's ``feature_names_in_`` (fitted on pandas; one per
    first-layer input), else ``x0, x1, ...``.
    """
    w = _first_layer_per_feature(model, member, "mean_abs_weight_per_feature")
    fitted_names = getattr(model, "feature_names_in_", None)
    if feature_names is None and fitted_names is not None and len(fitted_names) == len(w):
        feature_names = fitted_names
    names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(len(w))]
    if len(names) != len(w):
        raise ValueError(f"{len(names)} feature names for {len(w)} inputs")
    return pd.Series(np.abs(w).mean(axis=1), index=names, name="mean_abs_weight")


def plot_mean_abs_weight_per_feature(model, feature_names=None, *, member: int = 0):
    s = mean_abs_weight_per_feature(model, feature_names, member=member)
    fig, ax = new_figure(figsize=(max(6.0, 0.35 * len(s)), 4))
    ax.bar(s.index, s.to_numpy())
    ax.set_ylabel("mean |first-layer weight|")
    ax.tick_params(axis="x", rotation=90)
    return fig


def effective_n_features(model, tol: float = 0.0, *, member: int = 0) -> int:
    """Number of input features with at least one first-layer weight ``|w| > tol``.

    A feature whose outgoing weights are all (near) zero does not reach the network's output.
    """
    w = _first_layer_per_feature(model, member, "effective_n_features")
    return int(np.count_nonzero(np.any(np.abs(w) > tol, axis=1)))


def weight_histograms(model, bins: int = 50, *, member: int = 0) -> pd.DataFrame:
    """Histogram of each layer's weights: a long table with ``layer``, ``left``, ``right``,
    ``count``."""
    rows = []
    for i, w in enumerate(layer_weights(model, member=member)):
        counts, edges = np.histogram(w.ravel(), bins=bins)
        rows.append(pd.DataFrame({"layer": i, "left": edges[:-1], "right": edges[1:],
                                  "count": counts}))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def plot_weight_histograms(model, bins: int = 50, *, member: int = 0):
    table = weight_histograms(model, bins, member=member)
    layers = table["layer"].unique()
    fig, axes = new_figure(figsize=(3.5 * len(layers), 3.2), ncols=len(layers))
    for ax, (layer, part) in zip(np.atleast_1d(axes), table.groupby("layer"), strict=True):
        ax.bar(part["left"], part["count"], width=part["right"] - part["left"], align="edge")
        ax.set_yscale("symlog", linthresh=1)
        ax.set_title(f"layer {layer}")
        ax.set_xlabel("weight")
    np.atleast_1d(axes)[0].set_ylabel("count")
    return fig


def lasso_vs_network_weights(lasso, model, feature_names=None, *, member: int = 0):
    """|Lasso coefficient| beside the network's mean |first-layer weight|, per feature.

    ``lasso`` is a fitted linear model (``coef_``) or the coefficient array. Columns ``lasso``,
    ``network``, and both divided by their maximum (``lasso_scaled``, ``network_scaled``).
    """
    coef = np.abs(np.ravel(getattr(lasso, "coef_", lasso))).astype(np.float64)
    net = mean_abs_weight_per_feature(model, feature_names, member=member)
    if coef.size != len(net):
        raise ValueError(f"{coef.size} Lasso coefficients for {len(net)} network inputs")
    table = pd.DataFrame({"lasso": coef, "network": net.to_numpy()}, index=net.index)
    for c in ("lasso", "network"):
        top = table[c].max()
        table[f"{c}_scaled"] = table[c] / top if top > 0 else 0.0
    return table


def plot_lasso_vs_network_weights(lasso, model, feature_names=None, *, member: int = 0):
    """The report's figure: per feature, scaled |Lasso coefficient| beside scaled mean |weight|."""
    table = lasso_vs_network_weights(lasso, model, feature_names, member=member)
    fig, ax = new_figure(figsize=(max(6.0, 0.45 * len(table)), 4))
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["lasso_scaled"], 0.4, label="|Lasso coefficient|")
    ax.bar(x + 0.2, table["network_scaled"], 0.4, label="mean |first-layer weight|")
    ax.set_xticks(x, table.index, rotation=90)
    ax.set_ylabel("relative to the largest")
    ax.legend()
    return fig
