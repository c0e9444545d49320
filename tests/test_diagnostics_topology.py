"""Betti numbers by the kNN / geodesic / Vietoris-Rips recipe, at the default k and scale."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

pytest.importorskip("gph")

from sparsitylab.diagnostics import (
    betti_numbers,
    betti_through_layers,
    make_disks_in_holes,
    make_linked_rings,
    make_nested_spheres,
    make_topology_dataset,
    plot_betti_numbers,
    plot_betti_through_layers,
)


def circle(rng, n, center=(0.0, 0.0), radius=1.0):
    t = rng.uniform(0, 2 * np.pi, n)
    return np.asarray(center) + radius * np.column_stack([np.cos(t), np.sin(t)])


def test_circle():
    assert betti_numbers(circle(np.random.default_rng(0), 200)) == (1, 1)


def test_two_circles():
    rng = np.random.default_rng(1)
    pts = np.vstack([circle(rng, 150), circle(rng, 150, (3.0, 0.0), 0.5)])
    assert betti_numbers(pts) == (2, 2)


def test_sphere():
    pts = make_nested_spheres(300, n_pairs=1, random_state=0)[0][:300]
    assert betti_numbers(pts, max_dim=2) == (1, 0, 1)


def test_disks_in_holes_match_the_paper():
    X, y = make_disks_in_holes(2500, random_state=0)
    assert betti_numbers(X[y == 0]) == (9, 0)
    assert betti_numbers(X[y == 1]) == (1, 9)


def test_small_d2_d3():
    X, y = make_linked_rings(300, n_pairs=2, random_state=0)
    assert betti_numbers(X[y == 0]) == (2, 2)
    assert betti_numbers(X[y == 1]) == (2, 2)
    X, y = make_topology_dataset("D-II", 600, random_state=0)
    assert X.shape == (1200, 3)
    with pytest.raises(ValueError, match="D-I"):
        make_topology_dataset("D-IV")


def test_through_layers_identity_network_keeps_topology():
    X, y = make_linked_rings(200, n_pairs=1, random_state=0)
    # a linear network that is the identity: every layer is the input again
    eye = np.eye(3)
    table = betti_through_layers(([eye, eye], [np.zeros(3), np.zeros(3)], "linear"), X, y)
    assert table.shape[0] == 3 * 2
    assert (table["b0"] == 1).all() and (table["b1"] == 1).all()
    from matplotlib.figure import Figure

    assert isinstance(plot_betti_through_layers(table=table), Figure)


def test_too_few_points_is_a_clear_error():
    with pytest.raises(ValueError, match="at least"):
        betti_numbers(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="2-D array"):
        betti_numbers(np.zeros(20))


def test_plot_betti_numbers():
    from matplotlib.figure import Figure

    assert isinstance(plot_betti_numbers(circle(np.random.default_rng(0), 100)), Figure)
