"""Activation patterns and exact linear regions."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from sparsitylab.diagnostics import (
    activation_patterns,
    activation_regions_1d,
    count_regions_2d,
    linear_regions_1d,
    plot_activation_patterns,
    plot_count_regions_2d,
    plot_linear_regions_1d,
    region_bound,
    regions_through_training,
)
from sparsitylab.diagnostics._model import as_dense
from sparsitylab.diagnostics.regions import _cells_2d, _grid


def hand_built():
    # layer 1: relu(x - 0.5), relu(-x - 0.25) -> kinks at 0.5 and -0.25
    # layer 2: relu(h1 - 0.2) -> on where x - 0.5 > 0.2, i.e. x > 0.7; relu(h2 + h1 - 1)
    #          -> on where x > 1.5 or -x - 0.25 > 1, i.e. x < -1.25
    W1, b1 = np.array([[1.0, -1.0]]), np.array([-0.5, -0.25])
    W2, b2 = np.array([[1.0, 1.0], [0.0, 1.0]]), np.array([-0.2, -1.0])
    W3, b3 = np.array([[1.0], [2.0]]), np.array([0.3])
    return [W1, W2, W3], [b1, b2, b3]


def test_hand_built_breakpoints_are_exact():
    bps = linear_regions_1d(hand_built(), -2.0, 2.0)
    np.testing.assert_allclose(bps, [-1.25, -0.25, 0.5, 0.7, 1.5], rtol=0, atol=1e-14)
    # an interval that cuts some of them off
    np.testing.assert_allclose(linear_regions_1d(hand_built(), 0.0, 1.0), [0.5, 0.7], atol=1e-14)


def test_regions_1d_affine_pieces_match_forward():
    net = hand_built()
    table = activation_regions_1d(net, -2.0, 2.0)
    assert len(table) == 6
    dense = as_dense(net)
    for r in table.itertuples():
        xs = np.linspace(r.start, r.end, 7)[1:-1]
        out = dense.forward(xs[:, None])[0][:, 0]
        np.testing.assert_allclose(out, r.slope * xs + r.intercept, atol=1e-12)
        pats = activation_patterns(net, xs[:, None])
        assert all("".join("1" if v else "0" for v in p) == r.pattern for p in pats)
    # neighbouring regions differ in pattern
    assert all(a != b for a, b in zip(table["pattern"][:-1], table["pattern"][1:], strict=True))


def test_random_1d_network_pattern_constant_between_breakpoints():
    rng = np.random.default_rng(1)
    sizes = [1, 8, 8, 1]
    Ws = [rng.normal(size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    bs = [rng.normal(size=b) for b in sizes[1:]]
    bps = linear_regions_1d((Ws, bs), -3, 3)
    edges = np.concatenate([[-3], bps, [3]])
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        xs = np.linspace(a, b, 9)[1:-1, None]
        P = activation_patterns((Ws, bs), xs)
        assert (P == P[0]).all()
    # and a fine grid never sees a pattern change away from a breakpoint
    xs = np.linspace(-3, 3, 20001)[:, None]
    P = activation_patterns((Ws, bs), xs)
    changes = xs[1:, 0][np.any(P[1:] != P[:-1], axis=1)]
    for c in changes:
        assert np.min(np.abs(bps - c)) <= 6 / 20000 + 1e-12


def small_2d(seed, hidden=(5, 4)):
    rng = np.random.default_rng(seed)
    sizes = [2, *hidden, 1]
    Ws = [rng.normal(size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    bs = [rng.normal(size=b) * 0.5 for b in sizes[1:]]
    return Ws, bs


@pytest.mark.parametrize("seed", [1, 4, 6])
def test_grid_and_exact_counts_agree(seed):
    net = small_2d(seed)
    bounds = ((-2, 2), (-2, 2))
    exact = count_regions_2d(net, bounds, exact=True)
    assert count_regions_2d(net, bounds, resolution=300) == exact <= region_bound(2, (5, 4))


@pytest.mark.parametrize("seed", [0, 2])
def test_grid_is_a_lower_bound_made_of_exact_regions(seed):
    net = small_2d(seed)
    bounds = ((-2, 2), (-2, 2))
    cells = _cells_2d(as_dense(net), bounds)
    exact_patterns = {p.tobytes() for _, p in cells}
    assert len(exact_patterns) == len(cells)  # one pattern per region
    _, _, pts = _grid(bounds, 150)
    grid_patterns = {row.tobytes() for row in activation_patterns(net, pts)}
    assert grid_patterns <= exact_patterns
    coarse = count_regions_2d(net, bounds, resolution=150)
    fine = count_regions_2d(net, bounds, resolution=600)
    assert coarse <= fine <= len(cells)


def test_one_layer_grid_equals_exact_and_bound():
    # four lines through the box in general position: 11 regions (the arrangement bound)
    W = np.array([[1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 1.0, -1.0]])
    b = np.array([0.1, -0.2, 0.3, -0.15])
    net = ([W, np.ones((4, 1))], [b, np.zeros(1)])
    bounds = ((-3, 3), (-3, 3))
    assert count_regions_2d(net, bounds, exact=True) == 11
    assert count_regions_2d(net, bounds, resolution=400) == 11
    assert region_bound(2, (4,)) == 11


def test_pattern_count_never_exceeds_bound():
    for seed in range(3):
        for hidden in ((3,), (6,), (4, 3), (3, 3, 3)):
            net = small_2d(seed, hidden)
            n = count_regions_2d(net, ((-10, 10), (-10, 10)), resolution=200)
            assert n <= region_bound(2, hidden)


def test_regions_through_training_counts():
    counts = regions_through_training([hand_built(), hand_built()], (-2, 2))
    assert counts.tolist() == [6, 6]


def test_bad_inputs_name_what_is_supported():
    Ws, bs = hand_built()
    with pytest.raises(ValueError, match="relu"):
        linear_regions_1d((Ws, bs, "tanh"), -1, 1)
    with pytest.raises(ValueError, match="relu"):
        activation_patterns((Ws, bs, "sigmoid"), np.zeros((3, 1)))
    three_inputs = ([np.ones((3, 2)), np.ones((2, 1))], [np.zeros(2), np.zeros(1)])
    with pytest.raises(ValueError, match="1 or 2 input"):
        regions_through_training([three_inputs], (0, 1))
    with pytest.raises(ValueError, match="1 input"):
        linear_regions_1d(small_2d(0), -1, 1)
    with pytest.raises(ValueError, match="2 input"):
        count_regions_2d(hand_built(), ((0, 1), (0, 1)))
    with pytest.raises(ValueError, match="lo < hi"):
        linear_regions_1d(hand_built(), 1, 0)


def test_plots_return_figures():
    from matplotlib.figure import Figure

    X = np.linspace(-2, 2, 50)[:, None]
    assert isinstance(plot_linear_regions_1d(hand_built(), -2, 2, X=X, y=X[:, 0]), Figure)
    assert isinstance(plot_activation_patterns(hand_built(), X), Figure)
    assert isinstance(plot_count_regions_2d(small_2d(0), ((-2, 2), (-2, 2)), 100, True), Figure)
