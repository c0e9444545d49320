"""Topology of the data through the layers (Naitzat, Zhitnikov & Lim 2020, "Topology of deep
neural networks").

Betti numbers of a point cloud at one fixed scale, by the paper's recipe:

1. the symmetric k-nearest-neighbour graph of the points (an edge when either point is among the
   other's ``k`` nearest);
2. the geodesic distance on that graph: the number of hops of a shortest path (points in
   different components are infinitely far apart);
3. the Vietoris-Rips complex of that distance at one scale ``s`` (a simplex for every set of points
   pairwise at most ``s`` hops apart), and its Betti numbers ``b_0, ..., b_max_dim``.

The hop distance adapts to the sampling density, which is why one ``(k, s)`` serves point clouds
of very different size and geometry: the defaults were chosen once, so that sampled circles,
spheres and the D-I data give their known Betti numbers (see docs/diagnostics.md), and are then
used unchanged at every layer. Homology is computed with giotto-ph (``pip install
sparsitylab[topology]``), over the field with two elements.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from sparsitylab.diagnostics._model import as_dense
from sparsitylab.diagnostics._plotting import new_figure

DEFAULT_K = 12
DEFAULT_SCALE = 3
MIN_POINTS = 8


def _ripser():
    try:
        from gph import ripser_parallel
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Betti numbers need the giotto-ph package: pip install sparsitylab[topology] "
            "(or pip install giotto-ph)"
        ) from exc
    return ripser_parallel


def geodesic_distances(points, k: int = DEFAULT_K) -> np.ndarray:
    """Hop distances on the symmetric k-nearest-neighbour graph (``inf`` between components)."""
    from scipy.sparse.csgraph import shortest_path
    from sklearn.neighbors import kneighbors_graph

    X = np.asarray(points, dtype=np.float64)
    G = kneighbors_graph(X, n_neighbors=k, mode="connectivity", include_self=False)
    G = G.maximum(G.T)
    return shortest_path(G, method="D", directed=False, unweighted=True)


def _check_points(points, k: int, max_dim: int, scale: float) -> np.ndarray:
    X = np.asarray(points, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"points must be a 2-D array (n_points, n_dims), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("points contain NaN or infinite values")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if max_dim < 0:
        raise ValueError(f"max_dim must be >= 0, got {max_dim}")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number of graph hops, got {scale}")
    need = max(MIN_POINTS, k + 1)
    if X.shape[0] < need:
        raise ValueError(
            f"betti_numbers needs at least max({MIN_POINTS}, k + 1) = {need} points for a "
            f"k-nearest-neighbour graph with k={k}; got {X.shape[0]}"
        )
    return X


def betti_numbers(
    points, k: int = DEFAULT_K, scale: float = DEFAULT_SCALE, max_dim: int = 1
) -> tuple[int, ...]:
    """Betti numbers ``(b_0, ..., b_max_dim)`` of a point cloud at one scale.

    ``k``: neighbours in the kNN graph; ``scale``: the Vietoris-Rips scale in graph hops;
    ``max_dim``: the highest homology dimension (2 needs tetrahedra: keep the cloud small).
    """
    X = _check_points(points, k, max_dim, scale)
    D = geodesic_distances(X, k)
    finite = np.isfinite(D)
    D[~finite] = 2.0 * scale + 2.0 + (D[finite].max() if finite.any() else 0.0)
    # hop distances are integers: a threshold half a hop above the scale keeps exactly the
    # simplices of diameter <= scale
    thresh = float(scale) + 0.5
    dgms = _ripser()(D, metric="precomputed", maxdim=max_dim, thresh=thresh)["dgms"]
    return tuple(int(np.sum((d[:, 0] <= scale) & (d[:, 1] > scale))) for d in dgms)


def plot_betti_numbers(points, k: int = DEFAULT_K, scale: float = DEFAULT_SCALE, max_dim=1):
    """The point cloud (first two coordinates) titled with its Betti numbers."""
    X = _check_points(points, k, max_dim, scale)
    betti = betti_numbers(X, k=k, scale=scale, max_dim=max_dim)
    fig, ax = new_figure(figsize=(5, 5))
    ax.scatter(X[:, 0], X[:, 1] if X.shape[1] > 1 else np.zeros(len(X)), s=3)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(f"Betti numbers {betti} (k={k}, scale={scale})")
    return fig


# --------------------------------------------------------------------------- through the layers
def layer_representations(model, X, *, member: int = 0) -> list[np.ndarray]:
    """The input followed by every hidden layer's output (after the activation) and the output."""
    net = as_dense(model, member=member)
    X = net.check_X(X)
    out, _, post = net.forward(X)
    return [X, *post, out]


def betti_through_layers(
    model, X, y, *, k: int = DEFAULT_K, scale: float = DEFAULT_SCALE, max_dim: int = 1,
    member: int = 0,
) -> pd.DataFrame:  # fmt: skip
    """Betti numbers of each class's point cloud at each layer of a network.

    Layer 0 is the input, then every hidden layer's activations, then the output (logits). Returns
    a long DataFrame with columns ``layer``, ``class``, ``n_points``, ``b0``, ..., ``b{max_dim}``.
    """
    y = np.asarray(y)
    reps = layer_representations(model, X, member=member)
    if y.shape != (len(reps[0]),):
        raise ValueError(f"y must hold one label per row of X ({len(reps[0])}), got {y.shape}")
    rows = []
    for layer, H in enumerate(reps):
        for c in np.unique(y):
            pts = H[y == c]
            betti = betti_numbers(pts, k=k, scale=scale, max_dim=max_dim)
            rows.append({"layer": layer, "class": c, "n_points": len(pts),
                         **{f"b{i}": b for i, b in enumerate(betti)}})  # fmt: skip
    return pd.DataFrame(rows)


def plot_betti_through_layers(model=None, X=None, y=None, *, table=None, **kwargs):
    """Betti numbers per layer, one panel per homology dimension, one line per class.

    Pass a table from :func:`betti_through_layers` (``table=``) or the model and data.
    """
    if table is None:
        table = betti_through_layers(model, X, y, **kwargs)
    dims = [c for c in table.columns if c.startswith("b") and c[1:].isdigit()]
    fig, axes = new_figure(figsize=(4.0 * len(dims), 3.5), ncols=len(dims))
    axes = np.atleast_1d(axes)
    for ax, col in zip(axes, dims, strict=True):
        for c, part in table.groupby("class"):
            ax.plot(part["layer"], part[col], marker="o", label=f"class {c}")
        ax.set_xlabel("layer (0 = input)")
        ax.set_ylabel(f"Betti number {col}")
    axes[0].legend(loc="best")
    return fig


# --------------------------------------------------------------------------- data sets
def _uniform_disk(rng, n, center, radius):
    r = radius * np.sqrt(rng.uniform(size=n))
    t = rng.uniform(0.0, 2.0 * np.pi, n)
    return np.asarray(center) + np.column_stack([r * np.cos(t), r * np.sin(t)])


_D1_CENTERS = np.array([(x, y) for y in (0.5, 0.0, -0.5) for x in (-0.5, 0.0, 0.5)])


def make_disks_in_holes(n_samples: int = 2500, *, random_state=None):
    """D-I: class 0 is nine disks; class 1 is a disk with nine holes, one disk inside each hole.

    The big disk has radius 1; the holes (radius 0.18) sit on a 3x3 grid of spacing 0.5 and
    each holds a disk of radius 0.1. Points are uniform on each class's region, ``n_samples``
    per class. Betti numbers: class 0 ``(9, 0)``, class 1 ``(1, 9)``.
    Returns ``X (2 n_samples, 2), y``.
    """
    rng = check_random_state(random_state)
    per = np.full(9, n_samples // 9)
    per[: n_samples % 9] += 1
    a = np.vstack([_uniform_disk(rng, m, c, 0.1) for m, c in zip(per, _D1_CENTERS, strict=True)])
    b = np.zeros((0, 2))
    while len(b) < n_samples:
        p = _uniform_disk(rng, 2 * n_samples, (0.0, 0.0), 1.0)
        d = np.linalg.norm(p[:, None, :] - _D1_CENTERS[None], axis=2).min(axis=1)
        b = np.vstack([b, p[d > 0.18]])
    X = np.vstack([a, b[:n_samples]])
    y = np.repeat([0, 1], n_samples)
    return X, y


def _sphere(rng, n, center, radius):
    v = rng.normal(size=(n, 3))
    return np.asarray(center) + radius * v / np.linalg.norm(v, axis=1, keepdims=True)


def make_nested_spheres(n_samples: int = 600, n_pairs: int = 2, *, random_state=None):
    """A small D-II-like set in 3-D: ``n_pairs`` pairs of concentric spheres (radii 0.5 and 1,
    centres 3 apart); class 0 the inner spheres, class 1 the outer ones. Each class has Betti
    numbers ``(n_pairs, 0, n_pairs)``. ``n_samples`` points per class."""
    rng = check_random_state(random_state)
    per = np.full(n_pairs, n_samples // n_pairs)
    per[: n_samples % n_pairs] += 1
    centers = [(3.0 * i, 0.0, 0.0) for i in range(n_pairs)]
    a = np.vstack([_sphere(rng, m, c, 0.5) for m, c in zip(per, centers, strict=True)])
    b = np.vstack([_sphere(rng, m, c, 1.0) for m, c in zip(per, centers, strict=True)])
    return np.vstack([a, b]), np.repeat([0, 1], n_samples)


def make_linked_rings(n_samples: int = 600, n_pairs: int = 2, *, random_state=None):
    """A small D-III-like set in 3-D: ``n_pairs`` pairs of linked circles (radius 1, one in the
    xy-plane, its partner in the xz-plane through its centre's edge); class 0 holds one ring of
    each pair, class 1 the other. Each class has Betti numbers ``(n_pairs, n_pairs)``."""
    rng = check_random_state(random_state)
    per = np.full(n_pairs, n_samples // n_pairs)
    per[: n_samples % n_pairs] += 1
    a, b = [], []
    for i, m in enumerate(per):
        c = np.array([4.0 * i, 0.0, 0.0])
        t = rng.uniform(0.0, 2.0 * np.pi, m)
        a.append(c + np.column_stack([np.cos(t), np.sin(t), np.zeros(m)]))
        t = rng.uniform(0.0, 2.0 * np.pi, m)
        b.append(c + np.column_stack([1.0 + np.cos(t), np.zeros(m), np.sin(t)]))
    return np.vstack(a + b), np.repeat([0, 1], n_samples)


def make_topology_dataset(name: str = "D-I", n_samples: int | None = None, *, random_state=None):
    """``"D-I"`` (:func:`make_disks_in_holes`), ``"D-II"`` (:func:`make_nested_spheres`) or
    ``"D-III"`` (:func:`make_linked_rings`)."""
    makers = {"D-I": make_disks_in_holes, "D-II": make_nested_spheres, "D-III": make_linked_rings}
    if name not in makers:
        raise ValueError(f"unknown data set {name!r}; valid options are {sorted(makers)}")
    kwargs = {} if n_samples is None else {"n_samples": n_samples}
    return makers[name](random_state=random_state, **kwargs)
