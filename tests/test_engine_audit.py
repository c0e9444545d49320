"""Regressions from an audit of the engine: the max-norm projection in the optimizer's metric,
which proximal steps in turn are the prox of a sum, weight-0 rows in the gradient, and clear
errors for bad data and hyperparameters."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize

import sparsitylab as sl
from sparsitylab.engine.losses import datafit, poisson
from sparsitylab.engine.networks import MLP
from sparsitylab.engine.optimizers import Optimizer
from sparsitylab.engine.penalties import (
    L1,
    L2,
    ElasticNet,
    GroupLasso,
    HadamardInput,
    Mask,
    MaxNorm,
    Sum,
)
from sparsitylab.engine.prox import project_l2_ball
from sparsitylab.engine.trainer import Data, Member, TrainConfig, stack_members, train


def _metric_prox(v, t, c, alpha=0.0, kind="l1", free=None):
    """``argmin_z sum (z - v)^2 / (2 t) + alpha Omega(z)`` over ``||z|| <= c`` (``Omega``: the
    L1 norm, or the L2 norm with ``kind="group"``), with the coordinates outside ``free`` held
    at 0, by SLSQP on a smooth reformulation (``z = zp - zn``, or an epigraph variable) over the
    free coordinates only (bounds pinned at 0 make SLSQP's subproblems infeasible)."""
    free = np.ones(len(v), bool) if free is None else np.asarray(free, bool)
    v, t = np.broadcast_to(v, free.shape)[free], np.broadcast_to(t, free.shape)[free]
    h = len(v)
    if kind == "l1":
        x0 = np.r_[np.maximum(v, 0), np.maximum(-v, 0)] * 0.5
        fun = lambda x: 0.5 * np.sum((x[:h] - x[h:] - v) ** 2 / t) + alpha * np.sum(x)  # noqa: E731
        jac = lambda x: np.r_[(x[:h] - x[h:] - v) / t, (v - x[:h] + x[h:]) / t] + alpha  # noqa: E731
        cons = [{"type": "ineq", "fun": lambda x: c**2 - np.sum((x[:h] - x[h:]) ** 2),
                 "jac": lambda x: 2 * np.r_[x[h:] - x[:h], x[:h] - x[h:]]}]  # fmt: skip
        bounds = [(0, None)] * (2 * h)
        unpack = lambda x: x[:h] - x[h:]  # noqa: E731
    else:
        x0 = np.r_[0.3 * v, 1.0]
        fun = lambda x: 0.5 * np.sum((x[:h] - v) ** 2 / t) + alpha * x[h]  # noqa: E731
        jac = lambda x: np.r_[(x[:h] - v) / t, alpha]  # noqa: E731
        cons = [
            {"type": "ineq", "fun": lambda x: c**2 - np.sum(x[:h] ** 2),
             "jac": lambda x: np.r_[-2 * x[:h], 0.0]},
            {"type": "ineq", "fun": lambda x: x[h] ** 2 - np.sum(x[:h] ** 2),
             "jac": lambda x: np.r_[-2 * x[:h], 2 * x[h]]},
        ]  # fmt: skip
        bounds = [(None, None)] * h + [(0, None)]
        unpack = lambda x: x[:h]  # noqa: E731
    res = minimize(fun, x0, jac=jac, bounds=bounds, constraints=cons, method="SLSQP",
                   options={"ftol": 1e-14, "maxiter": 1000})  # fmt: skip
    z = np.zeros(free.shape)
    z[free] = unpack(res.x)
    # a failed reference would make the comparison meaningless: converged, or stopped by
    # rounding in its line search (status 8) at a feasible point
    assert res.status in (0, 8) and np.linalg.norm(z) <= c * (1 + 1e-9), res.message
    return z


# --- 1. the max-norm projection in the rule's metric ---------------------------------------


def test_diagonal_projection_is_the_metric_projection():
    from sparsitylab.engine.prox import project_l2_ball_diagonal

    rng = np.random.default_rng(0)
    v = rng.normal(size=(6, 5)) * 2.0
    t = np.exp(rng.uniform(-3, 3, size=(6, 5)))
    c = 1.2
    z = np.asarray(project_l2_ball_diagonal(jnp.asarray(v), jnp.asarray(t), c, 0))
    for k in range(5):  # each column (axis 0) is one slice
        np.testing.assert_allclose(z[:, k], _metric_prox(v[:, k], t[:, k], c), atol=1e-6)
        assert np.linalg.norm(z[:, k]) <= c * (1 + 1e-12)
    # a feasible slice is its own projection; a constant step gives the Euclidean one
    np.testing.assert_array_equal(
        project_l2_ball_diagonal(jnp.asarray(v), jnp.asarray(t), 100.0, 0), v
    )
    np.testing.assert_allclose(
        project_l2_ball_diagonal(jnp.asarray(v), jnp.full_like(t, 0.3), c, 0),
        project_l2_ball(jnp.asarray(v), c, 0),
        rtol=1e-14,
    )


def _layers(rng):
    return (
        {"w": jnp.asarray(rng.normal(size=(4, 3)) * 2), "b": jnp.asarray(rng.normal(size=3))},
        {"w": jnp.asarray(rng.normal(size=(3, 2)) * 2), "b": jnp.asarray(rng.normal(size=2))},
    )


def test_max_norm_prox_under_a_per_coordinate_step_is_the_metric_projection():
    rng = np.random.default_rng(1)
    params = _layers(rng)
    step = jax.tree.map(lambda v: jnp.exp(jnp.asarray(rng.uniform(-2, 2, size=v.shape))), params)
    c = 1.0
    out = MaxNorm(c).prox(params, step)
    for layer, new, t in zip(params, out, step, strict=True):
        np.testing.assert_array_equal(new["b"], layer["b"])  # biases are not constrained
        w, z, tw = (np.asarray(a) for a in (layer["w"], new["w"], t["w"]))
        for k in range(w.shape[1]):  # one unit's incoming weights
            np.testing.assert_allclose(z[:, k], _metric_prox(w[:, k], tw[:, k], c), atol=1e-6)
    # a scalar step keeps the Euclidean projection (Keras' max-norm)
    plain = MaxNorm(c).prox(params, 0.1)
    for layer, new in zip(params, plain, strict=True):
        np.testing.assert_array_equal(new["w"], project_l2_ball(layer["w"], c, (0,)))


def _constrained_least_squares():
    rng = np.random.default_rng(0)
    n, p = 60, 4
    X = rng.normal(size=(n, p)) * np.array([1, 3, 0.5, 1])
    y = X @ np.array([[2.0], [1.0], [0.3], [0.0]]) + 0.3 * rng.normal(size=(n, 1))
    return X, y


@pytest.mark.parametrize("name, lr", [("adam", 0.002), ("adagrad", 0.05)])
def test_max_norm_under_adaptive_rules_reaches_the_constrained_optimum(name, lr):
    """``min 0.5 mean (y - Xw - b)^2`` over ``||w|| <= c``: the fit meets scipy's constrained
    solution and the KKT conditions ``-grad = mu w``, ``mu >= 0``, ``||w|| = c``."""
    X, y = _constrained_least_squares()
    n, p = X.shape
    c = 1.5
    member = Member(jax.random.PRNGKey(0), Sum((MaxNorm(c),)), Optimizer(name, lr), 0.0, np.ones(n))
    res = train(MLP(p, (), dtype="float64"), TrainConfig(max_epochs=20000), Data(X, y),
                stack_members([member]))  # fmt: skip
    w, b = res.params[0]["w"][0][:, 0], res.params[0]["b"][0]
    grad = X.T @ (X @ w + b - y[:, 0]) / n
    mu = -grad @ w / (w @ w)
    assert mu > 0 and abs(np.linalg.norm(w) - c) < 1e-9
    assert np.max(np.abs(grad + mu * w)) < 1e-6  # 0.57 (adam) with a Euclidean projection

    def fun(z):
        return 0.5 * np.mean((y[:, 0] - X @ z[:p] - z[p]) ** 2)

    ball = {"type": "ineq", "fun": lambda z: c**2 - z[:p] @ z[:p]}
    ref = minimize(
        fun, np.zeros(p + 1), method="SLSQP", constraints=[ball], options={"ftol": 1e-15}
    ).x
    np.testing.assert_allclose(w, ref[:p], atol=1e-5)


# --- 2. proximal steps in turn: where they are the prox of the sum -----------------------


@pytest.mark.parametrize("diagonal", [False, True], ids=["scalar", "per-coordinate"])
@pytest.mark.parametrize("first", ["l1", "elasticnet", "mask+l1"])
def test_l1_then_max_norm_is_the_prox_of_the_sum(first, diagonal):
    """Soft-thresholding then the max-norm projection (``Sum``'s order in the estimators) is the
    prox of ``alpha ||w||_1 + [||w|| <= c]`` in the step's metric; a mask first keeps it so."""
    rng = np.random.default_rng(2)
    alpha, c = 0.3, 1.0
    terms = {"l1": (L1(alpha),), "elasticnet": (ElasticNet(2 * alpha, 0.5),)}
    free = np.ones(6, bool)
    if first == "mask+l1":
        free = np.array([1, 0, 1, 1, 0, 1], bool)
        terms[first] = (Mask((jnp.asarray(free[:, None], jnp.float64),)), L1(alpha))
    for _ in range(3):
        v = rng.normal(size=6) * 2
        t = np.exp(rng.uniform(-1.5, 1.5, size=6)) if diagonal else np.full(6, 0.7)
        params = ({"w": jnp.asarray(v[:, None])},)
        step = ({"w": jnp.asarray(t[:, None])},) if diagonal else 0.7
        z = np.asarray(Sum((*terms[first], MaxNorm(c))).prox(params, step)[0]["w"][:, 0])
        np.testing.assert_allclose(z, _metric_prox(v, t, c, alpha, "l1", free), atol=1e-6)


def test_group_over_neurons_then_max_norm_is_the_prox_of_the_sum_under_a_scalar_step():
    rng = np.random.default_rng(3)
    alpha, c = 0.3, 1.0
    for _ in range(3):
        v = rng.normal(size=6) * 2
        params = ({"w": jnp.asarray(v[:, None])}, {"w": jnp.ones((1, 1))})
        pen = Sum((GroupLasso(alpha, "neurons"), MaxNorm(c)))
        z = np.asarray(pen.prox(params, 0.7)[0]["w"][:, 0])
        np.testing.assert_allclose(z, _metric_prox(v, np.full(6, 0.7), c, alpha, "group"),
                                   atol=1e-6)  # fmt: skip


@pytest.mark.parametrize("penalty", ["group_input", "hadamard_input"])
def test_estimators_refuse_max_norm_with_penalties_on_input_rows(penalty):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = X[:, 0]
    est = sl.SparseMLPRegressor(hidden_layer_sizes=(4,), penalty=penalty, max_norm=2.0,
                                max_epochs=5)  # fmt: skip
    with pytest.raises(ValueError, match=f"max_norm cannot be combined with penalty='{penalty}'"):
        est.fit(X, y)
    with pytest.raises(ValueError, match="max_norm cannot be combined"):
        est.path(X, y, alphas=[0.1, 0.01])
    # each alone, and max_norm with a penalty it composes with, still fit
    for kw in (dict(penalty=penalty), dict(max_norm=2.0, penalty="l1")):
        sl.SparseMLPRegressor(hidden_layer_sizes=(4,), max_epochs=5, **kw).fit(X, y)


# --- 3. rows of weight 0 in the gradient ------------------------------------------------------


def test_a_weight_zero_row_leaves_the_gradient_finite_and_unchanged():
    pred = jnp.array([[0.5], [100.0], [-0.3]], jnp.float32)  # exp(100) overflows float32
    y = jnp.array([[1.0], [1.0], [2.0]], jnp.float32)
    w = jnp.array([1.0, 0.0, 2.0], jnp.float32)
    keep = np.array([0, 2])
    value, grad = jax.value_and_grad(lambda p: datafit(poisson, p, y, w))(pred)
    ref_value, ref_grad = jax.value_and_grad(lambda p: datafit(poisson, p, y[keep], w[keep]))(
        pred[keep]
    )
    assert np.all(np.isfinite(grad))
    assert float(value) == float(ref_value)
    np.testing.assert_array_equal(grad[keep], ref_grad)
    assert float(grad[1, 0]) == 0.0


def test_a_held_out_row_whose_loss_overflows_does_not_stop_minibatch_training():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 3)).astype(np.float32)
    y = rng.poisson(1.0, size=(10, 1)).astype(np.float32)
    net = MLP(3, (), dtype="float32")
    p0, _ = net.init(jax.random.fold_in(jax.random.PRNGKey(0), 0))
    X[8] = 100.0 * np.sign(np.asarray(p0[0]["w"][:, 0]))  # weight 0: exp(f(x)) overflows
    tw = np.r_[np.ones(8), np.zeros(2)].astype(np.float32)
    member = Member(jax.random.PRNGKey(0), Sum(()), Optimizer("sgd", 0.01), 0.0, tw)
    res = train(net, TrainConfig(loss="poisson", max_epochs=5, batch_size=3), Data(X, y),
                stack_members([member]))  # fmt: skip
    assert int(res.diverged_epoch[0]) == -1
    assert np.all(np.isfinite(res.history["loss"][0]))


# --- 4. train() checks its data -----------------------------------------------------------------

_RNG = np.random.default_rng(0)
_X, _Y = _RNG.normal(size=(30, 3)), _RNG.normal(size=(30, 1))


def _run(data, tw=None, vw=None, net=None, loss="squared_error", members=None):
    net = MLP(3, (), dtype="float64") if net is None else net
    tw = np.ones(len(data.X)) if tw is None else tw
    if members is None:
        members = stack_members(
            [Member(jax.random.PRNGKey(0), Sum(()), Optimizer("sgd", 0.1), 0.0, tw, vw)]
        )
    return train(net, TrainConfig(loss=loss, max_epochs=2), data, members)


@pytest.mark.parametrize(
    "case, match",
    [
        (lambda: _run(Data(_X, _Y[:25])), r"y must be 2-D.*one row per row of X \(30\)"),
        (lambda: _run(Data(_X, _Y[:25]), tw=np.r_[np.ones(20), np.zeros(10)]), "y must be"),
        (lambda: _run(Data(_X, _Y[:, 0])), r"pass y\[:, None\]"),
        (lambda: _run(Data(_X, np.c_[_Y, _Y])), "y has 2 column.*1 output"),
        (lambda: _run(Data(_X[:, :2], _Y)), "X has 2 column.*network takes 3 input"),
        (lambda: _run(Data(_X, _Y, _X[:10], _Y[:7])), r"y_val must be 2-D.*X_val \(10\)"),
        (lambda: _run(Data(_X, _Y, _X[:10], _Y[:10, 0])), "y_val must be 2-D"),
        (lambda: _run(Data(_X, _Y, _X[:10, :2], _Y[:10])), "X_val must be 2-D with X's 3"),
        (lambda: _run(Data(_X, _Y, _X[:10])), "X_val and y_val go together"),
        (lambda: _run(Data(_X, _Y, None, _Y[:10])), "X_val and y_val go together"),
        (lambda: _run(Data(np.where(np.eye(30, 3) > 0, np.nan, _X), _Y)), "X contains NaN"),
        (lambda: _run(Data(_X, np.where(np.eye(30, 1) > 0, np.inf, _Y))), "y contains NaN"),
        (lambda: _run(Data(_X, _Y), tw=np.r_[np.nan, np.ones(29)]), "train_weight must be finite"),
        (lambda: _run(Data(_X, _Y), tw=np.r_[-1.0, np.ones(29)]), r"train_weight .*>= 0"),
        (lambda: _run(Data(_X, _Y), tw=np.ones(29)), r"train_weight must be \(M, 30\)"),
        (lambda: _run(Data(_X, _Y), vw=np.ones(10)), r"val_weight must be \(M, 30\)"),
        (lambda: _run(Data(_X, _Y, _X[:10], _Y[:10]), vw=np.ones(30)), r"val_weight .*\(M, 10\)"),
        (lambda: _run(Data(_X, _Y), vw=np.r_[-1.0, np.ones(29)]), "val_weight must be finite"),
        (lambda: _run(Data(_X, -np.abs(_Y)), loss="poisson"), "poisson.*>= 0"),
        (lambda: _run(Data(_X, np.zeros((30, 1))), net=MLP(3, (), 3), loss="softmax"),
         "softmax.*1-D class indices"),
        (lambda: _run(Data(_X, np.r_[np.zeros(29), 3]), net=MLP(3, (), 3), loss="softmax"),
         r"integer class indices in \[0, 3\)"),
    ],
)  # fmt: skip
def test_train_refuses_bad_data_with_a_clear_message(case, match):
    with pytest.raises(ValueError, match=match):
        case()


def test_train_accepts_what_it_documents():
    codes = np.arange(30) % 3
    _run(Data(_X, codes, _X[:10], codes[:10]), net=MLP(3, (), 3), loss="softmax")
    _run(Data(_X, _Y, _X[:10], _Y[:10]), vw=np.r_[np.zeros(5), np.ones(5)])
    _run(Data(jnp.asarray(_X), jnp.asarray(_Y)), tw=np.r_[np.zeros(10), 2 * np.ones(20)])


# --- 5. hyperparameters are checked ------------------------------------------------------------


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: L1(-0.5), "L1 alpha must be >= 0"),
        (lambda: L1(np.float32("nan")), "L1 alpha must be >= 0"),
        (lambda: L2(-1.0), "L2 alpha must be >= 0"),
        (lambda: ElasticNet(-1.0), "ElasticNet alpha must be >= 0"),
        (lambda: ElasticNet(0.1, l1_ratio=2), r"l1_ratio must be in \[0, 1\]"),
        (lambda: GroupLasso(-1.0), "GroupLasso alpha must be >= 0"),
        (lambda: HadamardInput(-1.0), "HadamardInput alpha must be >= 0"),
        (lambda: MaxNorm(-1.0), "max_norm must be > 0"),
        (lambda: MaxNorm(0.0), "max_norm must be > 0"),
        (lambda: Optimizer("adam", -1e-3), "learning_rate must be finite and >= 0"),
        (lambda: Optimizer("adam", np.inf), "learning_rate must be finite"),
        (lambda: Optimizer("adamw", 1e-3, -0.1), "weight_decay must be finite and >= 0"),
        (lambda: Optimizer("momentum", 0.1, 0.0, 1.0), r"momentum must be in \[0, 1\)"),
        (lambda: Optimizer("momentum", 0.1, 0.0, np.array([0.5, -0.1])), "momentum.*-0.1"),
        (lambda: Member(jax.random.PRNGKey(0), L1(), Optimizer(), 1.0, np.ones(3)),
         r"dropout_rate must be in \[0, 1\)"),
    ],
)  # fmt: skip
def test_bad_hyperparameters_are_refused_when_made(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "field, bad, match",
    [
        ("penalty", Sum((L1(jnp.asarray([-0.5])),)), "L1 alpha must be >= 0"),
        ("penalty", Sum((MaxNorm(jnp.asarray([-1.0])),)), "max_norm must be > 0"),
        ("penalty", Sum((ElasticNet(jnp.asarray([0.1]), jnp.asarray([2.0])),)), "l1_ratio"),
        ("optimizer", Optimizer("momentum", jnp.asarray([0.1]), jnp.asarray([0.0]),
                                jnp.asarray([1.0])), "momentum must be in"),
        ("optimizer", Optimizer("sgd", jnp.asarray([-0.1]), jnp.asarray([0.0]),
                                jnp.asarray([0.9])), "learning_rate must be"),
        ("dropout_rate", jnp.asarray([1.0]), r"dropout_rate must be in \[0, 1\)"),
    ],
)  # fmt: skip
def test_train_checks_stacked_hyperparameters(field, bad, match):
    """Stacked members hold device arrays (not checked when made, as traced ones are not):
    ``train`` checks them with numpy before anything is traced."""
    good = Member(jax.random.PRNGKey(0), Sum((L1(0.1),)), Optimizer("momentum", 0.1), 0.0,
                  np.ones(30))  # fmt: skip
    members = dataclasses.replace(stack_members([good]), **{field: bad})
    with pytest.raises(ValueError, match=match):
        _run(Data(_X, _Y), members=members)
