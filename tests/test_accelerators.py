"""What keeps results the same on GPUs as on CPUs (checked here on the CPU backend).

* Every matrix product and convolution of the engine asks for full float32 precision: on GPUs
  JAX's default lets float32 products run in TF32, which moved fits ~3e-4 away from
  scikit-learn's Lasso on an H100 (docs/engine.md, "On a GPU").
* On an accelerator ``predict`` sends rows through blocks of one size, so a row's prediction does
  not depend on the batch it comes in (a GPU's summation order depends on the product's shape).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sparsitylab import SparseMLPClassifier, SparseMLPRegressor
from sparsitylab.engine.losses import datafit, get_loss
from sparsitylab.engine.networks import CNN, MLP, Hadamard
from sparsitylab.estimators import _base


def _dot_precisions(fn, *args):
    text = jax.jit(fn).lower(*args).as_text()
    lines = [line for line in text.splitlines() if "dot_general" in line or "convolution" in line]
    assert lines, "no matrix product found"
    return lines


@pytest.mark.parametrize(
    "network",
    [
        MLP(5, (4, 3), 2, batch_norm=True),
        MLP(5, (4,), 1, input_gate=True),
        Hadamard(5, depth=3),
        CNN(side=6, channels=(2,), hidden=(3,), n_outputs=2),
    ],
    ids=["mlp", "gated", "hadamard", "cnn"],
)
def test_every_product_asks_for_full_precision_forward_and_backward(network):
    params, state = network.init(jax.random.PRNGKey(0))
    X = jnp.ones((4, network.n_inputs), jnp.float32)

    def loss(p):
        out = network.apply(p, state, X, train=True)[0]
        return datafit(get_loss("squared_error"), out, jnp.ones_like(out), jnp.ones(4))

    for line in _dot_precisions(lambda p: jax.grad(loss)(p), params):
        assert "HIGHEST" in line, line


def test_first_layer_product_with_laid_out_transpose_is_full_precision():
    net = MLP(5, (4,), 1)
    params, state = net.init(jax.random.PRNGKey(0))
    X = jnp.ones((6, 5), jnp.float32)

    def loss(p):
        return jnp.sum(net.apply(p, state, X, input_t=X.T)[0] ** 2)

    for line in _dot_precisions(jax.grad(loss), params):
        assert "HIGHEST" in line, line


@pytest.mark.parametrize("cls", [SparseMLPRegressor, SparseMLPClassifier])
def test_block_wise_prediction_equals_the_padded_one_and_ignores_the_batch(cls, monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(23, 4))
    y = X[:, 0] > 0 if cls is SparseMLPClassifier else X[:, 0] - X[:, 1]
    model = cls((8,), max_epochs=20, n_estimators=2, random_state=0).fit(X, y)
    out = model.predict_proba(X) if cls is SparseMLPClassifier else model.predict(X)

    monkeypatch.setattr(_base.jax, "default_backend", lambda: "gpu")
    monkeypatch.setattr(_base, "_BLOCK", 5)  # 23 rows: four full blocks and a partial one
    calls = []
    real = _base._predictor

    def counting(network):
        f = real(network)

        def wrapped(params, state, Xb):
            calls.append(Xb.shape)
            return f(params, state, Xb)

        return wrapped

    monkeypatch.setattr(_base, "_predictor", counting)
    blocked = model.predict_proba(X) if cls is SparseMLPClassifier else model.predict(X)
    # the same rows through products of another shape: equal up to float32 rounding
    np.testing.assert_allclose(blocked, out, rtol=1e-5, atol=1e-6)
    assert set(calls) == {(5, 4)} and len(calls) == 5
    one = model.predict_proba(X[7:8]) if cls is SparseMLPClassifier else model.predict(X[7:8])
    np.testing.assert_array_equal(one, blocked[7:8])  # a row alone: the very same numbers
