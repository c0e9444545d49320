"""Recorded per-epoch diagnostics against recomputations outside the compiled loop."""

import matplotlib

matplotlib.use("Agg")

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sparsitylab import SparseMLPRegressor
from sparsitylab.datasets import make_sine_toy
from sparsitylab.diagnostics import (
    activation_patterns,
    gradient_norm_history,
    hamming_distance,
    hamming_history,
    plot_gradient_norm_history,
    plot_hamming_history,
)

RECORD = ("grad_norm", "hamming", "max_error")


def fit(epochs, lr=1e-2, record=RECORD):
    X, y = make_sine_toy(60)
    model = SparseMLPRegressor(
        hidden_layer_sizes=(8, 8), penalty=None, optimizer="sgd", learning_rate=lr,
        max_epochs=epochs, record=record, random_state=0,
    )  # fmt: skip
    return model.fit(X, y), X, y


def member0(model):
    return jax.tree.map(lambda a: np.asarray(a)[0], model.params_)


def test_hamming_is_zero_when_the_weights_do_not_move():
    model, _, _ = fit(4, lr=1e-30)  # too small a step to move a float32 weight
    table = hamming_history(model)
    assert (table["hamming"] == 0).all() and len(table) == 4
    moving, _, _ = fit(4, lr=0.2)
    assert hamming_history(moving)["hamming"].sum() > 0  # the check can fail


def test_recorded_hamming_equals_recomputation_on_saved_params():
    epochs = 3
    model, X, _ = fit(epochs, lr=0.2)
    recorded = hamming_history(model)["hamming"].to_numpy()
    saved = [fit(e, lr=0.2)[0] for e in range(1, epochs + 1)]
    assert recorded.sum() > 0
    for e in range(1, epochs):
        before = activation_patterns(saved[e - 1], X)
        after = activation_patterns(saved[e], X)
        assert recorded[e] == hamming_distance(before, after)


def test_grad_norms_equal_jax_grad_outside_the_loop():
    model1, X, y = fit(1)
    model2, _, _ = fit(2)
    recorded = gradient_norm_history(model2)
    params = member0(model1)  # the parameters at the start of epoch 2
    net = model1.network_
    Xj, yj = jnp.asarray(X, jnp.float32), jnp.asarray(y, jnp.float32)[:, None]

    def loss(p):
        out, _ = net.apply(p, tuple({} for _ in p), Xj)
        return jnp.mean(0.5 * jnp.sum((out - yj) ** 2, axis=1))

    g = jax.grad(loss)(params)
    want = [np.sqrt(sum(float(jnp.sum(v**2)) for v in layer.values())) for layer in g]
    got = recorded.iloc[1, :-1].to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4)
    np.testing.assert_allclose(recorded["total"].iloc[1], np.linalg.norm(want), rtol=1e-4)


def test_history_needs_the_record_option():
    model, _, _ = fit(2, record=())
    with pytest.raises(ValueError, match="record"):
        hamming_history(model)
    with pytest.raises(ValueError, match="grad_norm"):
        gradient_norm_history(model)


def test_plots():
    from matplotlib.figure import Figure

    model, _, _ = fit(3)
    assert isinstance(plot_hamming_history(model), Figure)
    assert isinstance(plot_gradient_norm_history(model), Figure)
