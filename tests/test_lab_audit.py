"""Regression tests of the regularization lab knobs against closed forms and references.

A network without hidden layers (``hidden_layer_sizes=()``) is the linear model ``X W + b``, so
its penalized fits are scikit-learn's ``Lasso`` and ``MultiTaskLasso`` with the same ``alpha``
whatever the optimizer (docs/engine.md: the proximal step's fixed points are the stationary
points of ``loss + Omega``).
"""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.linear_model import Lasso, MultiTaskLasso

import sparsitylab  # noqa: F401
from sparsitylab.engine.prox import group_soft_threshold
from sparsitylab.estimators.mlp import SparseMLPRegressor


@pytest.fixture(scope="module")
def linear():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 6))
    B = np.zeros((6, 3))
    B[0], B[1], B[4] = [1.5, -1.0, 0.2], [0.0, 2.0, -0.1], [0.3, 0.05, 0.1]
    Y = X @ B + 0.3 * rng.normal(size=(100, 3))
    return X, Y


def _linear_fit(X, y, penalty, alpha, optimizer, learning_rate, epochs=2000):
    return SparseMLPRegressor(
        hidden_layer_sizes=(), penalty=penalty, alpha=alpha, optimizer=optimizer,
        learning_rate=learning_rate, max_epochs=epochs, random_state=0,
    ).fit(X, y)  # fmt: skip


@pytest.mark.parametrize(
    "optimizer, learning_rate", [("momentum", 0.02), ("nesterov", 0.02), ("adadelta", 1.0)]
)
def test_l1_under_momentum_and_adadelta_is_sklearns_lasso(linear, optimizer, learning_rate):
    # the proximal threshold must follow the rule's step size: momentum's trace of a constant
    # gradient is g / (1 - momentum), AdaDelta's step is sqrt(E[dx^2]) / sqrt(E[g^2]); with a
    # threshold of lr * alpha the fit was the Lasso of alpha * (1 - momentum) (resp. all zeros)
    X, Y = linear
    y = Y[:, 0]
    ref = Lasso(alpha=0.2, tol=1e-12, max_iter=100_000).fit(X, y).coef_
    est = _linear_fit(X, y, "l1", 0.2, optimizer, learning_rate)
    w = est.coefs_[0][:, 0]
    np.testing.assert_allclose(w, ref, atol=1e-5)
    np.testing.assert_array_equal(w == 0, ref == 0)


@pytest.mark.parametrize(
    "optimizer, learning_rate",
    [("momentum", 0.02), ("adam", 0.01), ("adagrad", 0.1), ("adadelta", 1.0)],
)
def test_group_input_under_adaptive_optimizers_is_sklearns_multitask_lasso(
    linear, optimizer, learning_rate
):
    # one group per input row of W (3 outputs): the group prox in the optimizer's diagonal
    # metric; averaging a per-coordinate step over the group moved the fixed points
    X, Y = linear
    ref = MultiTaskLasso(alpha=0.15, tol=1e-12, max_iter=100_000).fit(X, Y).coef_.T
    est = _linear_fit(X, Y, "group_input", 0.15, optimizer, learning_rate)
    W = est.coefs_[0]
    np.testing.assert_allclose(W, ref, atol=1e-5)
    np.testing.assert_array_equal(np.all(W == 0, axis=1), [False, False, True, True, False, True])


def test_group_prox_in_a_diagonal_metric_is_the_numerical_minimizer():
    from sparsitylab.engine.prox import group_soft_threshold_diagonal

    rng = np.random.default_rng(3)
    for _ in range(20):
        v = rng.normal(size=4) * 2.0
        t = 10 ** rng.uniform(-2, 1, size=4)
        z = np.asarray(group_soft_threshold_diagonal(jnp.asarray(v[None]), jnp.asarray(t[None]), 1))
        z = z[0]
        f = lambda u: np.sum((u - v) ** 2 / (2 * t)) + np.linalg.norm(u)  # noqa: B023, E731
        best = min(
            minimize(f, x0, method="Nelder-Mead", options={"xatol": 1e-12, "fatol": 1e-14}).fun
            for x0 in (v, 0.5 * v)
        )
        best = min(best, f(np.zeros(4)))
        assert f(z) <= best + 1e-9
        assert np.all(z == 0) == (np.linalg.norm(v / t) <= 1)
    # a constant step: plain block soft-thresholding
    v = jnp.asarray(rng.normal(size=(5, 3)))
    np.testing.assert_allclose(
        group_soft_threshold_diagonal(v, jnp.full((5, 3), 0.7), 1),
        group_soft_threshold(v, 0.7, 1),
        atol=1e-12,
    )


def test_patience_zero_stops_at_the_first_epoch_without_improvement():
    # Keras' EarlyStopping(patience=0): stop after the first epoch that does not improve, not
    # after the first epoch whatever happens
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 4))
    y = X[:, 0] - 2 * X[:, 1] + 0.5 * rng.normal(size=40)
    Xv = rng.normal(size=(40, 4))
    yv = Xv[:, 0] - 2 * Xv[:, 1] + 0.5 * rng.normal(size=40)
    kw = dict(hidden_layer_sizes=(64,), optimizer="adam", learning_rate=0.03, random_state=0)
    curve = SparseMLPRegressor(max_epochs=60, **kw).fit(X, y, (Xv, yv)).history_["val_loss"]
    first_worse = int(np.flatnonzero(np.diff(curve) >= 0)[0]) + 1
    assert first_worse > 1
    for patience in (0, 1):
        est = SparseMLPRegressor(max_epochs=60, early_stopping=True, patience=patience, **kw)
        est.fit(X, y, (Xv, yv))
        assert est.n_iter_ == first_worse + 1
        assert est.best_epoch_ == first_worse - 1


def test_lbfgs_refuses_decoupled_weight_decay():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    est = SparseMLPRegressor((4,), optimizer="lbfgs", weight_decay=0.1, max_epochs=3)
    with pytest.raises(ValueError, match="weight_decay"):
        est.fit(X, X[:, 0])


@pytest.mark.parametrize(
    "optimizer, learning_rate, epochs",
    [("sgd", 0.1, 2000), ("momentum", 0.02, 2000), ("adam", 0.003, 4000), ("adadelta", 1.0, 2000)],
)
def test_hadamard_input_gate_is_sklearns_multitask_lasso(linear, optimizer, learning_rate, epochs):
    # weight decay on the gate and the rows equals the group lasso on their products: the
    # optimizer runs on the products; thresholding the products after steps on the factors had
    # fixed points with ||dL/dv_j|| = alpha / (2 ||v_j||) and dropped features the Lasso keeps
    X, Y = linear
    ref = MultiTaskLasso(alpha=0.15, tol=1e-12, max_iter=100_000).fit(X, Y).coef_.T
    est = _linear_fit(X, Y, "hadamard_input", 0.15, optimizer, learning_rate, epochs)
    gate, w = est.params_[0]["gate"][0], est.params_[0]["w"][0]
    np.testing.assert_allclose(gate[:, None] * w, ref, atol=1e-5)
    np.testing.assert_array_equal(est.selected_features_, [0, 1, 4])
    kept = est.selected_features_
    np.testing.assert_allclose(np.abs(gate[kept]), np.linalg.norm(w[kept], axis=1), rtol=1e-5)


def test_momentum_outside_0_1_is_refused_when_the_step_is_built():
    import jax

    from sparsitylab.engine.optimizers import Optimizer, build
    from sparsitylab.engine.penalties import L1

    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\)"):
        build(Optimizer("momentum", 0.1, 0.0, 1.0), L1(0.1))
    # the pytree takes device arrays and tracers as leaves unchecked (tree maps rebuild it under
    # vmap and jit); concrete numbers are checked when it is made
    import jax.numpy as jnp

    assert (
        jax.tree.map(lambda _: jnp.asarray(2.0), Optimizer("momentum", 0.1, 0.0, 0.5)).momentum
        == 2.0
    )
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\)"):
        Optimizer("momentum", 0.1, 0.0, 2.0)


@pytest.mark.parametrize("name, first, second", [("momentum", 1.0, 1.9), ("nesterov", 1.9, 2.71)])
def test_momentum_threshold_follows_the_trace_of_its_first_steps(name, first, second):
    # a constant gradient: momentum's step k is lr g (1 - b^k) / (1 - b) (Nesterov's one term
    # ahead), and the L1 threshold is lr alpha times the same factor, not its limit 1 / (1 - b)
    import jax

    from sparsitylab.engine.optimizers import Optimizer, build
    from sparsitylab.engine.penalties import L1
    from sparsitylab.engine.prox import soft_threshold

    lr, alpha, g = 0.1, 2.0, jnp.asarray([[3.0, -0.5, 1.0]])
    tx = build(Optimizer(name, lr, 0.0, 0.9), L1(alpha))
    params = ({"w": jnp.asarray([[1.0, 1.0, -1.0]])},)
    state = tx.init(params)
    expect = params[0]["w"]
    for factor in (first, second):
        updates, state = tx.update(({"w": g},), state, params)
        params = jax.tree.map(lambda p, u: p + u, params, updates)
        expect = soft_threshold(expect - lr * factor * g, lr * alpha * factor)
        np.testing.assert_allclose(params[0]["w"], expect, rtol=1e-6)
