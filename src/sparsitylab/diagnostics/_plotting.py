"""Shared plotting helpers: figures are made with the object API, never through pyplot state."""

from __future__ import annotations


def new_figure(figsize=(6.0, 4.0), ncols: int = 1, nrows: int = 1, **kwargs):
    """A new matplotlib Figure and its Axes (one Axes, or an array when ``nrows * ncols > 1``).

    ``matplotlib.figure.Figure`` is used directly, so no GUI backend and no global figure list
    is involved; the caller owns the figure.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=True, **kwargs)
    return fig, axes
