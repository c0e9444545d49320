"""The diagnostics audit: labels, compacted networks, trainable parameters, grid counts, shapes."""

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from jax.flatten_util import ravel_pytree

from sparsitylab.diagnostics import (
    activation_patterns,
    betti_numbers,
    count_regions_2d,
    effective_n_features,
    gradient_norm_history,
    hessian_eigenvalues,
    layer_representations,
    linear_regions_1d,
    mean_abs_weight_per_feature,
    relu_vs_least_squares,
)
from sparsitylab.diagnostics._model import as_dense
from sparsitylab.engine.networks import MLP


def engine_net(n_inputs=2, hidden=(4,), n_outputs=1, seed=0, activation="tanh", **kw):
    """An engine MLP in float64 with random parameters (gate, batch norm) and running stats."""
    net = MLP(n_inputs=n_inputs, hidden=hidden, n_outputs=n_outputs, activation=activation,
              dtype="float64", **kw)  # fmt: skip
    params, state = net.init(jax.random.PRNGKey(seed))
    rng = np.random.default_rng(seed)
    params = jax.tree.map(lambda a: rng.normal(size=a.shape), params)
    state = tuple({"mean": rng.normal(size=s["mean"].shape),
                   "var": rng.uniform(0.5, 2.0, s["var"].shape)} if s else {}
                  for s in state)  # fmt: skip
    return net, params, state


def brute_eigenvalues(net, params, state, X, loss):
    """Eigenvalues of jax.hessian of ``loss(network output)`` over every trainable leaf."""
    theta, unravel = ravel_pytree(params)

    def f(t):
        return loss(net.apply(unravel(t), state, jnp.asarray(X))[0])

    H = np.asarray(jax.hessian(f)(theta))
    return np.linalg.eigvalsh(0.5 * (H + H.T))[::-1]


def stacked(*trees):
    return jax.tree.map(lambda *a: np.stack(a), *trees)


# --------------------------------------------------------------------------- 1: class labels
def test_logistic_labels_are_codes_without_classes():
    net, params, state = engine_net()
    X = np.random.default_rng(1).normal(size=(20, 2))
    y = np.ones(20)  # one class only: must stay 1, not become 0

    def loss(out):
        return jnp.mean(jax.nn.softplus(out[:, 0]) - y * out[:, 0])

    got = hessian_eigenvalues((net, params, state), X, y, loss="logistic")
    np.testing.assert_allclose(got, brute_eigenvalues(net, params, state, X, loss), atol=1e-10)


def test_softmax_labels_are_codes_without_classes():
    net, params, state = engine_net(n_outputs=3, seed=2)
    X = np.random.default_rng(3).normal(size=(24, 2))
    y = np.tile([0, 2], 12)  # classes {0, 2} of 3 outputs: must not become {0, 1}

    def loss(out):
        return jnp.mean(jax.nn.logsumexp(out, axis=1) - out[np.arange(24), y])

    got = hessian_eigenvalues((net, params, state), X, y, loss="softmax")
    np.testing.assert_allclose(got, brute_eigenvalues(net, params, state, X, loss), atol=1e-10)


@pytest.mark.parametrize("n_outputs, loss, y", [
    (1, "logistic", [0, 2]), (1, "logistic", [0.5, 1]), (3, "softmax", [0, 3]),
    (3, "softmax", [-1, 0]), (1, "logistic", ["a", "b"]),
])  # fmt: skip
def test_bad_class_codes_without_classes_raise(n_outputs, loss, y):
    net, params, state = engine_net(n_outputs=n_outputs)
    X = np.zeros((2, 2))
    with pytest.raises(ValueError, match="class"):
        hessian_eigenvalues((net, params, state), X, np.array(y), loss=loss)


def test_labels_not_in_classes_raise():
    net, params, state = engine_net()
    model = SimpleNamespace(network_=net, params_=stacked(params), state_=stacked(state),
                            classes_=np.array(["a", "b"]))  # fmt: skip
    X = np.random.default_rng(0).normal(size=(4, 2))
    hessian_eigenvalues(model, X, np.array(["a", "b", "b", "a"]), k=1)
    with pytest.raises(ValueError, match="not in the model's classes_"):
        hessian_eigenvalues(model, X, np.array(["a", "b", "c", "a"]), k=1)


# --------------------------------------------------------------------------- 2: compacted networks
@pytest.fixture(scope="module")
def compacted():
    from sparsitylab import SparseMLPRegressor, compact

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(80, 4)), columns=["a", "b", "c", "d"])
    y = X["d"] * 2
    model = SparseMLPRegressor(
        hidden_layer_sizes=(5,), penalty="group_input", alpha=0.3, max_epochs=300,
        learning_rate=0.03, random_state=0,
    ).fit(X, y)  # fmt: skip
    small = compact(model)
    cols = np.asarray(small.network_.columns)
    assert 0 < len(cols) < 4  # the network is wrapped: it reads some columns only
    return small, X.to_numpy(), y.to_numpy(), cols


def test_compacted_network_reads_the_original_columns(compacted):
    model, X, y, cols = compacted
    p = jax.tree.map(lambda a: np.asarray(a[0], np.float64), model.params_)
    w1 = p[0]["w"] * p[0]["gate"][:, None] if "gate" in p[0] else p[0]["w"]
    want = X[:, cols] @ w1 + p[0]["b"] > 0
    np.testing.assert_array_equal(activation_patterns(model, X), want)
    pred = model.predict(pd.DataFrame(X, columns=list("abcd")))
    np.testing.assert_allclose(as_dense(model).forward(X)[0][:, 0], pred, atol=1e-5)


def test_compacted_hessian(compacted):
    model, X, y, cols = compacted
    p = jax.tree.map(lambda a: np.asarray(a[0], np.float64), model.params_)
    s = jax.tree.map(lambda a: np.asarray(a[0], np.float64), model.state_)

    def loss(out):
        return 0.5 * jnp.mean((out[:, 0] - y) ** 2)

    want = brute_eigenvalues(model.network_.inner, p, s, X[:, cols], loss)
    np.testing.assert_allclose(hessian_eigenvalues(model, X, y), want, atol=1e-8)


def test_compacted_weights_per_original_feature(compacted):
    model, X, y, cols = compacted
    w = np.asarray(model.params_[0]["w"][0], np.float64)
    if "gate" in model.params_[0]:
        w = w * np.asarray(model.params_[0]["gate"][0], np.float64)[:, None]
    want = np.zeros(4)
    want[cols] = np.abs(w).mean(axis=1)
    s = mean_abs_weight_per_feature(model)
    assert list(s.index) == ["a", "b", "c", "d"]
    np.testing.assert_allclose(s.to_numpy(), want)
    assert effective_n_features(model) == np.count_nonzero(np.any(w != 0, axis=1))


# --------------------------------------------------------------------------- 3: trainable params
def test_hessian_is_over_the_trainable_parameters():
    # input gate and batch norm: the Hessian over (gate, w, b, scale, shift), not folded weights
    net, p0, s0 = engine_net(3, (4,), input_gate=True, batch_norm=True, seed=4)
    _, p1, s1 = engine_net(3, (4,), input_gate=True, batch_norm=True, seed=5)
    model = SimpleNamespace(network_=net, params_=stacked(p0, p1), state_=stacked(s0, s1))
    rng = np.random.default_rng(6)
    X, y = rng.normal(size=(30, 3)), rng.normal(size=30)

    def loss(out):
        return 0.5 * jnp.mean((out[:, 0] - y) ** 2)

    want = brute_eigenvalues(net, p1, s1, X, loss)
    assert want.size == 3 + 12 + 4 + 4 + 4 + 4 + 1
    np.testing.assert_allclose(hessian_eigenvalues(model, X, y, member=1), want, atol=1e-9)
    lanczos = hessian_eigenvalues(model, X, y, k=3, member=1, method="lanczos")
    np.testing.assert_allclose(lanczos, want[:3], rtol=1e-7)


# --------------------------------------------------------------------------- 4: grid count
def test_grid_count_ignores_points_on_boundaries():
    # |x1| = relu(x1) + relu(-x1): two regions; the grid at odd resolution has points on x1 = 0
    m = ([np.array([[1.0, -1.0], [0.0, 0.0]]), np.ones((2, 1))], [np.zeros(2), np.zeros(1)])
    box = ((-1, 1), (-1, 1))
    assert count_regions_2d(m, box, exact=True) == 2
    assert count_regions_2d(m, box, resolution=401) == 2
    # four lines through the origin (a grid point): 8 regions
    W1 = np.array([[1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 1.0, -1.0]])
    m = ([W1, np.ones((4, 1))], [np.zeros(4), np.zeros(1)])
    assert count_regions_2d(m, box, exact=True) == 8
    assert count_regions_2d(m, box, resolution=501) == 8


def test_grid_count_keeps_regions_where_a_unit_is_constant():
    # relu(relu(x1)) with a pruned unit (zero weights and bias): z is 0 on a whole region
    W1, W2 = np.array([[1.0, 0.0], [0.0, 0.0]]), np.array([[1.0], [0.0]])
    m = ([W1, W2, np.ones((1, 1))], [np.zeros(2), np.zeros(1), np.zeros(1)])
    box = ((-1, 1), (-1, 1))
    assert count_regions_2d(m, box, exact=True) == 2
    assert count_regions_2d(m, box, resolution=401) == 2


def test_grid_count_is_a_lower_bound():
    rng = np.random.default_rng(1)
    for _ in range(4):
        W = [rng.integers(-2, 3, (2, 5)).astype(float), rng.integers(-2, 3, (5, 4)).astype(float),
             rng.normal(size=(4, 1))]  # fmt: skip
        b = [rng.integers(-1, 2, 5).astype(float), rng.integers(-1, 2, 4).astype(float),
             np.zeros(1)]  # fmt: skip
        exact = count_regions_2d((W, b), ((-2, 2), (-2, 2)), exact=True)
        assert count_regions_2d((W, b), ((-2, 2), (-2, 2)), resolution=401) <= exact


# --------------------------------------------------------------------------- 5: 1-D X, topology
def test_layer_representations_of_1d_input():
    m = ([np.array([[1.0, -2.0, 0.5]]), np.ones((3, 1))], [np.zeros(3), np.zeros(1)])
    x = np.linspace(-1, 1, 30)
    reps = layer_representations(m, x)
    assert reps[0].shape == (30, 1)
    for a, b in zip(reps, layer_representations(m, x[:, None]), strict=True):
        np.testing.assert_array_equal(a, b)


def test_betti_through_layers_of_1d_input():
    pytest.importorskip("gph")
    from sparsitylab.diagnostics import betti_through_layers

    m = ([np.array([[1.0, -2.0, 0.5]]), np.ones((3, 1))], [np.zeros(3), np.zeros(1)])
    x = np.linspace(-1, 1, 40)
    y = np.repeat([0, 1], 20)
    got = betti_through_layers(m, x, y, k=5)
    pd.testing.assert_frame_equal(got, betti_through_layers(m, x[:, None], y, k=5))
    assert (got["b0"] == 1).all()  # an interval and its images are connected


@pytest.mark.parametrize("scale", [0.0, -1.0, np.nan, np.inf])
def test_betti_scale_must_be_positive(scale):
    pts = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match="scale"):
        betti_numbers(pts, k=5, scale=scale)


# --------------------------------------------------------------------------- 6: target shapes
def two_outputs():
    rng = np.random.default_rng(0)
    return [rng.uniform(size=(1, 3)), rng.uniform(size=(3, 2))], [np.zeros(3), np.zeros(2)]


def one_output():
    W, b = two_outputs()
    return [W[0], W[1][:, :1]], [b[0], b[1][:1]]


def test_target_shape_is_checked():
    X = np.linspace(0, 1, 10)[:, None]
    y = X[:, 0] ** 2
    for f in (hessian_eigenvalues, relu_vs_least_squares):
        with pytest.raises(ValueError, match="y"):
            f(two_outputs(), X, y)
        with pytest.raises(ValueError, match="y"):
            f(one_output(), X, np.c_[y, y, y])
        with pytest.raises(ValueError, match="y"):
            f(one_output(), X, y[:5])
    # the shapes that fit
    W, b = one_output()
    A = np.column_stack([X, np.ones(10)])
    np.testing.assert_allclose(hessian_eigenvalues(([W[0] @ W[1]], [np.zeros(1)], "linear"),
                                                   X, y[:, None]),
                               np.linalg.eigvalsh(A.T @ A / 10)[::-1], atol=1e-12)  # fmt: skip
    assert relu_vs_least_squares(two_outputs(), X, np.c_[y, y])["network_loss"] > 0


def test_nan_data_is_rejected():
    X = np.linspace(0, 1, 10)[:, None]
    y = X[:, 0] ** 2
    Xn, yn = X.copy(), y.copy()
    Xn[3, 0], yn[2] = np.nan, np.inf
    for f in (hessian_eigenvalues, relu_vs_least_squares):
        with pytest.raises(ValueError, match="X contains NaN"):
            f(one_output(), Xn, y)
        with pytest.raises(ValueError, match="y contains NaN"):
            f(one_output(), X, yn)


# --------------------------------------------------------------------------- 7: member
def test_member_out_of_range_for_a_single_member_history():
    model = SimpleNamespace(history_={"grad_norm": np.ones((5, 2))})
    assert gradient_norm_history(model).shape == (5, 3)
    with pytest.raises(ValueError, match="member"):
        gradient_norm_history(model, member=3)


# --------------------------------------------------------------------------- 8: batch-norm state
def test_batch_norm_pair_needs_its_state():
    net, params, state = engine_net(batch_norm=True, activation="relu")
    X = np.random.default_rng(0).normal(size=(5, 2))
    with pytest.raises(ValueError, match="state"):
        activation_patterns((net, params), X)
    want = np.asarray(net.apply(params, state, jnp.asarray(X), capture=True)[2][0]) > 0
    np.testing.assert_array_equal(activation_patterns((net, params, state), X), want)


def test_stacked_pair_is_rejected():
    net, params, state = engine_net(n_inputs=1, activation="relu")
    with pytest.raises(ValueError, match="member axis"):
        linear_regions_1d((net, stacked(params), stacked(state)), -1, 1)
