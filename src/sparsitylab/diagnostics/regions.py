"""Activation patterns and the linear regions of ReLU networks (seed 003, problem 4).

A ReLU network is piecewise linear: fixing the on/off pattern of every hidden unit fixes an affine
map, and the set of inputs sharing one pattern (an *activation region*) is a convex polyhedron,
because under a fixed pattern every pre-activation is affine in the input and the pattern is a list
of linear inequalities. The regions here are computed from the weights:

* 1 input: layer by layer, each unit's pre-activation is affine on each current interval, so its
  zero is one division; cutting at those zeros and recursing gives the exact breakpoints.
* 2 inputs: the same recursion with convex polygons cut by lines (exact, for small networks), or
  the number of distinct patterns on a fine grid, read only at points off the boundaries (any
  size; it can miss regions thinner than the grid spacing, so it is a lower bound that converges
  to the exact count).
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb

import numpy as np
import pandas as pd

from sparsitylab.diagnostics._model import Dense, as_dense, require_piecewise_linear
from sparsitylab.diagnostics._plotting import new_figure


def activation_patterns(model, X, *, member: int = 0) -> np.ndarray:
    """Boolean array ``(n_samples, n_hidden_units)``: True where a unit's pre-activation is > 0.

    Columns run over the hidden layers in order, units in order within a layer.
    """
    net = as_dense(model, member=member)
    require_piecewise_linear(net, "an activation pattern")
    _, pre, _ = net.forward(X)
    if not pre:
        return np.zeros((np.asarray(X).shape[0], 0), dtype=bool)
    return np.concatenate([z > 0 for z in pre], axis=1)


def hamming_distance(patterns_a: np.ndarray, patterns_b: np.ndarray) -> int:
    """Number of differing bits between two pattern arrays of the same shape."""
    a, b = np.asarray(patterns_a, dtype=bool), np.asarray(patterns_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"pattern arrays differ in shape: {a.shape} vs {b.shape}")
    return int(np.count_nonzero(a != b))


def plot_activation_patterns(model, X, *, member: int = 0, max_rows: int = 400):
    """The pattern array as an image (samples down, units across; on = dark)."""
    P = activation_patterns(model, X, member=member)
    order = np.argsort(np.asarray(X, dtype=float).reshape(len(P), -1)[:, 0], kind="stable")
    P = P[order][:: max(1, len(P) // max_rows)]
    fig, ax = new_figure()
    ax.imshow(P, aspect="auto", cmap="Greys", interpolation="nearest")
    ax.set_xlabel("hidden unit")
    ax.set_ylabel("sample (sorted by first feature)")
    ax.set_title("ReLU activation patterns")
    return fig


# --------------------------------------------------------------------------- 1 input, exact
def _check_inputs(net: Dense, dims: tuple[int, ...], what: str) -> None:
    if net.n_inputs not in dims:
        supported = " or ".join(str(d) for d in dims)
        raise ValueError(
            f"{what} supports networks with {supported} input(s) (region plots are 1-D or 2-D "
            f"input slices); this network has {net.n_inputs} inputs"
        )


def _merge_close(points: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Sorted points strictly inside (lo, hi), merging ones closer than rounding error."""
    tol = 1e-12 * max(1.0, abs(hi - lo), abs(lo), abs(hi))
    points = np.sort(points[(points > lo + tol) & (points < hi - tol)])
    if points.size < 2:
        return points
    keep = np.concatenate([[True], np.diff(points) > tol])
    return points[keep]


def _pieces_1d(net: Dense, lo: float, hi: float):
    """Exact pieces ``(start, end, pattern, slope, intercept)`` of a 1-input network on [lo, hi]."""
    # on each piece the current layer's output is h(x) = A x + C
    pieces = [(lo, hi, np.ones(1), np.zeros(1), [])]
    for w, b in zip(net.weights[:-1], net.biases[:-1], strict=True):
        nxt = []
        for s, e, A, C, pats in pieces:
            zA, zC = A @ w, C @ w + b
            nz = zA != 0
            cuts = _merge_close(-zC[nz] / zA[nz], s, e)
            edges = np.concatenate([[s], cuts, [e]])
            for p, q in zip(edges[:-1], edges[1:], strict=True):
                active = zA * (0.5 * (p + q)) + zC > 0
                g = net.slope(active)
                nxt.append((p, q, zA * g, zC * g, [*pats, active]))
        pieces = nxt
    w, b = net.weights[-1], net.biases[-1]
    return [(s, e, np.concatenate(p) if p else np.zeros(0, bool), A @ w, C @ w + b)
            for s, e, A, C, p in pieces]  # fmt: skip


def _check_interval(lo, hi):
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"need a finite interval lo < hi, got ({lo}, {hi})")
    return lo, hi


def linear_regions_1d(model, lo: float, hi: float, *, member: int = 0) -> np.ndarray:
    """Sorted breakpoints in the open interval (lo, hi) where the activation pattern changes.

    Computed from the weights (no grid): ``len(result) + 1`` is the number of activation regions
    on [lo, hi]. On each region the network is affine.
    """
    lo, hi = _check_interval(lo, hi)
    net = as_dense(model, member=member)
    require_piecewise_linear(net, "linear-region analysis")
    _check_inputs(net, (1,), "linear_regions_1d")
    pieces = _pieces_1d(net, lo, hi)
    return np.array([p[0] for p in pieces[1:]], dtype=np.float64)


def activation_regions_1d(model, lo: float, hi: float, *, member: int = 0) -> pd.DataFrame:
    """One row per activation region on [lo, hi]: start, end, pattern (a 0/1 string), and the
    slope and intercept of the (first) output there."""
    lo, hi = _check_interval(lo, hi)
    net = as_dense(model, member=member)
    require_piecewise_linear(net, "linear-region analysis")
    _check_inputs(net, (1,), "activation_regions_1d")
    rows = [
        {
            "start": s,
            "end": e,
            "pattern": "".join("1" if v else "0" for v in p),
            "slope": float(A[0]),
            "intercept": float(C[0]),
        }
        for s, e, p, A, C in _pieces_1d(net, lo, hi)
    ]
    return pd.DataFrame(rows, columns=["start", "end", "pattern", "slope", "intercept"])


def plot_linear_regions_1d(model, lo: float, hi: float, *, X=None, y=None, member: int = 0):
    """The fitted function over [lo, hi], its activation regions shaded by pattern."""
    regions = activation_regions_1d(model, lo, hi, member=member)
    fig, ax = new_figure()
    codes = {p: i for i, p in enumerate(dict.fromkeys(regions["pattern"]))}
    cmap = _categorical_cmap(len(codes))
    for r in regions.itertuples():
        ax.axvspan(r.start, r.end, color=cmap(codes[r.pattern]), alpha=0.35, lw=0)
        xs = np.array([r.start, r.end])
        ax.plot(xs, r.slope * xs + r.intercept, color="k", lw=1.5)
    if X is not None and y is not None:
        ax.plot(np.ravel(X), np.ravel(y), ".", color="tab:red", ms=3, label="data")
        ax.legend(loc="best")
    ax.set_xlim(lo, hi)
    ax.set_xlabel("x")
    ax.set_ylabel("network output")
    ax.set_title(f"{len(regions)} activation regions on [{lo:g}, {hi:g}]")
    return fig


def _categorical_cmap(n: int):
    import matplotlib

    return matplotlib.colormaps["tab20"].resampled(max(n, 1))


# --------------------------------------------------------------------------- 2 inputs
def _parse_bounds(bounds) -> tuple[float, float, float, float]:
    b = np.asarray(bounds, dtype=np.float64).ravel()
    if b.size != 4:
        raise ValueError("bounds must be ((x_lo, x_hi), (y_lo, y_hi))")
    x0, x1, y0, y1 = b
    if not (x0 < x1 and y0 < y1):
        raise ValueError(f"bounds need x_lo < x_hi and y_lo < y_hi, got {bounds}")
    return float(x0), float(x1), float(y0), float(y1)


def _grid(bounds, resolution: int):
    x0, x1, y0, y1 = _parse_bounds(bounds)
    if resolution < 2:
        raise ValueError(f"resolution must be >= 2, got {resolution}")
    xs, ys = np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)
    gx, gy = np.meshgrid(xs, ys)
    return xs, ys, np.column_stack([gx.ravel(), gy.ravel()])


def _patterns(net: Dense, pts: np.ndarray) -> np.ndarray:
    _, pre, _ = net.forward(pts)
    return np.concatenate([z > 0 for z in pre], axis=1) if pre else np.zeros((len(pts), 0), bool)


def _grid_region_ids(net: Dense, bounds, resolution: int):
    """Grid axes, a region id per grid point and whether the point is *interior*: its four
    neighbours at ``1e-6`` grid steps share its pattern. The set of inputs with one pattern is
    convex, so a pattern seen at five such non-collinear points is that of a two-dimensional
    region; a point on a boundary ``z_u = 0`` can show the pattern of a line or a vertex."""
    xs, ys, pts = _grid(bounds, resolution)
    P = _patterns(net, pts)
    step = 1e-6 * min(xs[1] - xs[0], ys[1] - ys[0])
    interior = np.ones(len(pts), bool)
    for d in ((step, 0.0), (-step, 0.0), (0.0, step), (0.0, -step)):
        interior &= np.all(_patterns(net, pts + np.array(d)) == P, axis=1)
    _, ids = np.unique(np.packbits(P, axis=1), axis=0, return_inverse=True)
    shape = (resolution, resolution)
    return xs, ys, ids.reshape(shape), interior.reshape(shape)


def _area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _clip(poly: np.ndarray, vals: np.ndarray, keep_positive: bool) -> np.ndarray:
    """The part of a convex polygon where the affine function (values ``vals`` at its vertices)
    is >= 0 (``keep_positive``) or <= 0."""
    v = vals if keep_positive else -vals
    out = []
    n = len(poly)
    for i in range(n):
        p, q, vp, vq = poly[i], poly[(i + 1) % n], v[i], v[(i + 1) % n]
        if vp >= 0:
            out.append(p)
        if (vp > 0 > vq) or (vp < 0 < vq):
            t = vp / (vp - vq)
            out.append(p + t * (q - p))
    return np.array(out) if out else np.zeros((0, 2))


def _cells_2d(net: Dense, bounds):
    """Exact regions in the box: list of (polygon vertices, pattern)."""
    x0, x1, y0, y1 = _parse_bounds(bounds)
    box = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    min_area = 1e-12 * (x1 - x0) * (y1 - y0)
    # on each cell the current layer's output is h(p) = p @ A + C
    cells = [(box, np.eye(2), np.zeros(2), [])]
    for w, b in zip(net.weights[:-1], net.biases[:-1], strict=True):
        nxt = []
        for poly, A, C, pats in cells:
            zA, zC = A @ w, C @ w + b
            pieces = [poly]
            for j in range(w.shape[1]):
                split = []
                for piece in pieces:
                    vals = piece @ zA[:, j] + zC[j]
                    scale = np.abs(piece @ zA[:, j]).max() + abs(zC[j]) + 1e-300
                    if vals.min() >= -1e-12 * scale or vals.max() <= 1e-12 * scale:
                        split.append(piece)
                        continue
                    for side in (True, False):
                        part = _clip(piece, vals, side)
                        if len(part) >= 3 and _area(part) > min_area:
                            split.append(part)
                pieces = split
            for piece in pieces:
                active = piece.mean(axis=0) @ zA + zC > 0
                g = net.slope(active)
                nxt.append((piece, zA * g, zC * g, [*pats, active]))
        cells = nxt
    return [(poly, np.concatenate(p) if p else np.zeros(0, bool)) for poly, _, _, p in cells]


def count_regions_2d(
    model, bounds, resolution: int = 400, exact: bool = False, *, member: int = 0
) -> int:
    """Number of activation regions of a 2-input ReLU network in the box ``bounds``.

    ``exact=False`` counts the distinct patterns at the interior points of a
    ``resolution x resolution`` grid, those whose neighbours at ``1e-6`` grid steps share their
    pattern (a lower bound: each pattern counted is a two-dimensional region's, and regions
    thinner than the grid spacing are missed); ``exact=True`` cuts the box into
    convex polygons layer by layer (exact, cost grows with the number of regions: small networks).
    """
    net = as_dense(model, member=member)
    require_piecewise_linear(net, "linear-region analysis")
    _check_inputs(net, (2,), "count_regions_2d")
    if exact:
        return len(_cells_2d(net, bounds))
    _, _, ids, interior = _grid_region_ids(net, bounds, resolution)
    return len(np.unique(ids[interior]))


def region_bound(n_inputs: int, hidden: Sequence[int]) -> int:
    """Upper bound on the number of activation regions (whole input space).

    Within a region of the layers before it, layer ``l``'s ``n_l`` units are ``n_l`` hyperplanes in
    the ``d``-dimensional input space, which cut it into at most ``sum_{j<=d} C(n_l, j)`` pieces
    (Zaslavsky's bound for an arrangement); the bound is the product over layers.
    """
    total = 1
    for n in hidden:
        total *= sum(comb(int(n), j) for j in range(min(int(n_inputs), int(n)) + 1))
    return total


def plot_count_regions_2d(
    model, bounds, resolution: int = 400, exact: bool = False, *, member: int = 0
):
    """The activation regions of a 2-input network in ``bounds``: the grid coloured by pattern,
    with the exact region boundaries drawn over it when ``exact=True``."""
    net = as_dense(model, member=member)
    require_piecewise_linear(net, "linear-region analysis")
    _check_inputs(net, (2,), "plot_count_regions_2d")
    xs, ys, ids, interior = _grid_region_ids(net, bounds, resolution)
    n = int(ids.max()) + 1
    fig, ax = new_figure(figsize=(5.5, 5))
    perm = np.random.default_rng(0).permutation(n)  # neighbours get unrelated colours
    ax.pcolormesh(xs, ys, perm[ids], cmap=_categorical_cmap(n), shading="auto")
    title = f"{len(np.unique(ids[interior]))} regions on a {resolution}x{resolution} grid"
    if exact:
        cells = _cells_2d(net, bounds)
        for poly, _ in cells:
            closed = np.vstack([poly, poly[:1]])
            ax.plot(closed[:, 0], closed[:, 1], color="k", lw=0.5)
        title += f"; {len(cells)} exact regions"
    ax.set_title(title)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    return fig


# --------------------------------------------------------------------------- through training
def regions_through_training(snapshots, bounds, *, resolution: int = 400, exact: bool = True):
    """Number of activation regions for each snapshot of a network (e.g. saved every epoch).

    ``snapshots`` is a sequence of models (anything the diagnostics read); ``bounds`` is
    ``(lo, hi)`` for 1-input networks (always exact) or a 2-D box. Returns a Series indexed by
    snapshot number.
    """
    counts = []
    for snap in snapshots:
        net = as_dense(snap)
        require_piecewise_linear(net, "linear-region analysis")
        _check_inputs(net, (1, 2), "regions_through_training")
        if net.n_inputs == 1:
            lo, hi = np.ravel(bounds)[:2]
            counts.append(len(linear_regions_1d(net, lo, hi)) + 1)
        else:
            counts.append(count_regions_2d(net, bounds, resolution=resolution, exact=exact))
    return pd.Series(counts, name="n_regions", index=pd.RangeIndex(len(counts), name="snapshot"))


def plot_regions_through_training(snapshots, bounds, **kwargs):
    counts = regions_through_training(snapshots, bounds, **kwargs)
    fig, ax = new_figure()
    ax.plot(counts.index, counts.to_numpy(), marker="o")
    ax.set_xlabel("snapshot (epoch)")
    ax.set_ylabel("number of activation regions")
    return fig
