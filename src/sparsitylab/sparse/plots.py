"""Plots of a feature-selection path and of feature importances (matplotlib; each returns the
Figure)."""

from __future__ import annotations

import numpy as np

from sparsitylab.sparse._model import check_count


def _axes(ax, **fig_kw):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(layout="constrained", **fig_kw)
        return fig, ax
    return ax.figure, ax


def plot_path(path, ax=None):
    """Validation loss (left axis, with the per-fold spread when cross-validated) and number of
    selected features (right axis) against alpha, the chosen alpha marked. ``path`` is a
    :class:`~sparsitylab.estimators.path.FeaturePath` (``est.path_``)."""
    own = ax is None
    fig, ax = _axes(ax, figsize=(6, 4))
    a = np.asarray(path.alphas)
    folds = np.asarray(path.val_loss_folds)
    ax.plot(a, path.val_loss, "o-", color="C0", label="validation loss")
    if folds.shape[1] > 1:
        ax.fill_between(a, folds.min(axis=1), folds.max(axis=1), color="C0", alpha=0.2)
    ax.set_xscale("log")
    ax.set_xlabel("alpha")
    ax.set_ylabel("validation loss", color="C0")
    ax.axvline(
        path.best_alpha, color="k", ls="--", lw=1, label=f"chosen alpha {path.best_alpha:.3g}"
    )
    right = ax.twinx()
    right.step(a, path.n_selected, where="mid", color="C1", label="selected features")
    right.set_ylabel("selected features", color="C1")
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    if own:  # below the axes, clear of both curves
        fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize="small")
    else:
        right.legend(handles=handles, loc="best", fontsize="small")
    ax.set_title(f"feature-selection path ({path.mode})")
    return fig


def plot_feature_importances(importances, names=None, top=20, ax=None, label="importance"):
    """Horizontal bars of the ``top`` largest importances. ``importances``: an array, or a dict
    ``{measure name: array}`` to compare measures (each normalized by its maximum; infinite
    values, features never leaving a path, are drawn at the top of their measure's scale).
    ``top``: an integer >= 1."""
    top = check_count("top", top, 1)
    measures = importances if isinstance(importances, dict) else {label: importances}
    measures = {k: np.asarray(v, float) for k, v in measures.items()}
    first = next(iter(measures.values()))
    p = len(first)
    names = np.asarray([f"x{j}" for j in range(p)] if names is None else names, dtype=object)

    def normalized(v):
        finite = v[np.isfinite(v)]
        top_value = finite.max() if finite.size and finite.max() > 0 else 1.0
        v = np.where(np.isfinite(v), v, top_value * 1.1)
        return v / v.max() if v.max() > 0 else v

    order = np.argsort(-normalized(first), kind="stable")[:top]
    fig, ax = _axes(ax, figsize=(6, 0.3 * len(order) + 1.5))
    height = 0.8 / len(measures)
    for i, (name, v) in enumerate(measures.items()):
        ax.barh(np.arange(len(order)) + i * height, normalized(v)[order], height=height, label=name)
    ax.set_yticks(np.arange(len(order)) + 0.4 - height / 2)
    ax.set_yticklabels(names[order])
    ax.invert_yaxis()
    ax.set_xlabel("importance (relative to the largest)")
    if len(measures) > 1:
        ax.legend(fontsize="small")
    return fig
