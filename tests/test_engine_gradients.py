"""Every loss and layer differentiates correctly: jax.grad against central finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sparsitylab  # noqa: F401  (float64 on)
from sparsitylab.engine.losses import LOSSES, datafit
from sparsitylab.engine.networks import ACTIVATIONS, CNN, MLP, Hadamard


def directional_fd(f, params, direction, eps=1e-6):
    plus = jax.tree.map(lambda p, d: p + eps * d, params, direction)
    minus = jax.tree.map(lambda p, d: p - eps * d, params, direction)
    return (f(plus) - f(minus)) / (2 * eps)


def check_grad(f, params, seed=0, n_directions=3):
    g = jax.grad(f)(params)
    leaves, treedef = jax.tree.flatten(params)
    rng = np.random.default_rng(seed)
    for _ in range(n_directions):
        d = treedef.unflatten([jnp.asarray(rng.normal(size=v.shape)) for v in leaves])
        analytic = sum(
            jnp.vdot(a, b) for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(d), strict=True)
        )
        numeric = directional_fd(f, params, d)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def targets(loss, n, m, rng):
    if loss == "logistic":
        return jnp.asarray(rng.integers(0, 2, (n, 1)), jnp.float64)
    if loss == "softmax":
        return jnp.asarray(rng.integers(0, m, n))
    if loss == "poisson":
        return jnp.asarray(rng.poisson(2.0, (n, m)), jnp.float64)
    return jnp.asarray(rng.normal(size=(n, m)))


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_loss_gradients(loss):
    rng = np.random.default_rng(1)
    m = 1 if loss == "logistic" else 3
    pred = jnp.asarray(rng.normal(size=(7, m)) * 0.5)
    y = targets(loss, 7, m, rng)
    w = jnp.asarray(rng.uniform(0.5, 2.0, 7))
    check_grad(lambda p: datafit(LOSSES[loss], p, y, w), pred)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("input_t", [False, True])
def test_mlp_gradients(activation, batch_norm, input_t):
    """Also with the input's transpose at hand (``input_t``: the full-batch trainer's first
    layer, whose weight gradient is then ``X.T @ g`` by its own rule)."""
    net = MLP(4, (5, 3), n_outputs=2, activation=activation, batch_norm=batch_norm, dtype="float64")
    params, state = net.init(jax.random.PRNGKey(0))
    X = jnp.asarray(np.random.default_rng(2).normal(size=(9, 4)) + 0.3)
    y = jnp.asarray(np.random.default_rng(3).normal(size=(9, 2)))

    def f(p):
        out, _ = net.apply(p, state, X, train=True, input_t=X.T if input_t else None)
        return datafit(LOSSES["squared_error"], out, y)

    check_grad(f, params)


def test_hadamard_and_cnn_gradients():
    X = jnp.asarray(np.random.default_rng(4).normal(size=(6, 5)))
    y = jnp.asarray(np.random.default_rng(5).normal(size=(6, 1)))
    net = Hadamard(5, depth=3)
    params, state = net.init(jax.random.PRNGKey(1))
    check_grad(lambda p: datafit(LOSSES["squared_error"], net.apply(p, state, X)[0], y), params)

    cnn = CNN(side=6, channels=(2,), kernel=3, pool=2, hidden=(4,), n_outputs=3, dtype="float64")
    cp, cs = cnn.init(jax.random.PRNGKey(2))
    images = jnp.asarray(np.random.default_rng(6).normal(size=(4, 36)))
    labels = jnp.asarray([0, 1, 2, 1])
    check_grad(lambda p: datafit(LOSSES["softmax"], cnn.apply(p, cs, images)[0], labels), cp)
