"""Penalties: closed-form proximal operators, and what proximal vs subgradient L1 do in training."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

import sparsitylab  # noqa: F401
from sparsitylab.engine.networks import MLP
from sparsitylab.engine.optimizers import Optimizer
from sparsitylab.engine.penalties import L1, L2, ElasticNet, GroupLasso, MaxNorm, Sum
from sparsitylab.engine.prox import group_soft_threshold, project_l2_ball, soft_threshold
from sparsitylab.engine.trainer import Data, Member, TrainConfig, stack_members, train


@settings(max_examples=40, deadline=None)
@given(x=st.floats(-10, 10), t=st.floats(0, 5))
def test_soft_threshold_is_the_l1_prox(x, t):
    numeric = minimize_scalar(
        lambda z: 0.5 * (z - x) ** 2 + t * abs(z),
        bounds=(-11, 11),
        method="bounded",
        options={"xatol": 1e-10},
    ).x
    got = float(soft_threshold(jnp.asarray(x), t))
    assert abs(got - numeric) < 1e-6
    if abs(x) <= t:
        assert got == 0.0


def test_group_soft_threshold_and_projection():
    rng = np.random.default_rng(0)
    v = jnp.asarray(rng.normal(size=(6, 4)))
    norms = np.linalg.norm(np.asarray(v), axis=1)
    t = float(np.median(norms))
    out = np.asarray(group_soft_threshold(v, t, axis=1))
    for row, nrm, o in zip(np.asarray(v), norms, out, strict=True):
        expect = np.zeros(4) if nrm <= t else row * (1 - t / nrm)
        np.testing.assert_allclose(o, expect, atol=1e-12)
    assert np.sum(np.all(out == 0, axis=1)) == np.sum(norms <= t)
    proj = np.asarray(project_l2_ball(v, 0.5, axis=0))
    assert np.all(np.linalg.norm(proj, axis=0) <= 0.5 + 1e-12)


def test_penalty_values_use_sklearn_scaling():
    params = ({"w": jnp.asarray([[1.0, -2.0]]), "b": jnp.asarray([5.0, 5.0])},)
    assert float(L1(0.5).value(params)) == pytest.approx(1.5)  # biases are not penalized
    assert float(L2(0.5).value(params)) == pytest.approx(0.5 * 0.5 * 5.0)
    assert float(ElasticNet(0.5, 0.25).value(params)) == pytest.approx(0.5 * (0.25 * 3 + 0.375 * 5))
    assert float(GroupLasso(1.0, "input").value(params)) == pytest.approx(np.sqrt(5.0))
    assert float(Sum((L1(0.5), L2(0.5))).value(params)) == pytest.approx(1.5 + 1.25)
    clipped = MaxNorm(1.0).prox(params, 0.1)
    assert np.all(np.abs(np.asarray(clipped[0]["w"])) <= 1.0)


def _fit(penalty, X, y, seed=0, epochs=1500, optimizer=None):
    net = MLP(X.shape[1], (16,), dtype="float64")
    optimizer = Optimizer("adam", 1e-2) if optimizer is None else optimizer
    member = Member(jax.random.PRNGKey(seed), penalty, optimizer, 0.0, np.ones(len(X)))
    result = train(net, TrainConfig(max_epochs=epochs), Data(X, y), stack_members([member]))
    return result, net


def test_prox_l1_gives_exact_zeros_subgradient_does_not():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 10))
    y = (X[:, 0] - 2 * X[:, 1] + 0.1 * rng.normal(size=120))[:, None]
    prox, _ = _fit(L1(0.02), X, y)
    sub, _ = _fit(L1(0.02, mode="subgradient"), X, y)
    zeros_prox = np.mean(prox.params[0]["w"] == 0)
    zeros_sub = np.mean(sub.params[0]["w"] == 0)
    assert zeros_prox > 0.5, zeros_prox
    assert zeros_sub < 0.01, zeros_sub
    # both minimize the same objective, loss + alpha ||W||_1: their final values are close
    # (the proximal one lower: it can sit exactly at the kinks)
    full_prox = prox.history["loss"][0, -1] + float(
        L1(0.02).value(jax.tree.map(lambda v: v[0], prox.params))
    )
    full_sub = sub.history["loss"][0, -1]
    assert full_prox <= full_sub * 1.05
    assert full_sub <= full_prox * 1.5


def test_group_input_zeros_whole_features():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(150, 8))
    y = (2 * np.sin(X[:, 0]) + X[:, 1] - X[:, 2])[:, None]
    # proximal gradient descent (full batch): the rows of the five unused inputs reach exactly 0
    penalty = GroupLasso(0.05, "input")
    sgd, _ = _fit(penalty, X, y, epochs=2000, optimizer=Optimizer("sgd", 0.05))
    w1 = sgd.params[0]["w"][0]
    dead = np.all(w1 == 0, axis=1)
    assert dead[3:].all() and not dead[:3].any()
    # Adam (the prox in its diagonal metric) reaches a lower objective: only the first layer is
    # penalized, so scale moves into the next layer and the unused rows end small, not all zero
    adam, _ = _fit(penalty, X, y, epochs=2000)

    def objective(res):
        params = jax.tree.map(lambda v: v[0], res.params)
        return res.history["loss"][0, -1] + float(penalty.value(params))

    assert objective(adam) < objective(sgd)
    rows = np.linalg.norm(adam.params[0]["w"][0], axis=1)
    assert rows[3:].max() < 0.1 * rows[:3].min()
