"""Regressions from an audit of the training loop: the order of the mask and the penalty's
prox, weight-0 rows whose loss overflows, records that need a regression loss, float64 data on
a float32 network."""

import jax
import numpy as np
import pytest

from sparsitylab.engine.networks import MLP
from sparsitylab.engine.optimizers import Optimizer
from sparsitylab.engine.penalties import GroupLasso, MaxNorm, Sum
from sparsitylab.engine.trainer import Data, Member, TrainConfig, stack_members, train
from sparsitylab.sparse._train import init_members, train_from


@pytest.mark.parametrize(
    "penalty", [MaxNorm(0.5), GroupLasso(0.05, over="neurons")], ids=["maxnorm", "neurons"]
)
def test_held_inputs_give_the_fit_of_the_kept_columns_alone(penalty):
    """Rows held at zero contribute nothing: the fit equals the network on the kept columns."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 6)).astype(np.float32)
    y = (X[:, 0] - X[:, 2]).astype(np.float32)[:, None]
    keep = np.array([True, False, True, True, False, False])
    net = MLP(6, (5,), 1)
    small = MLP(3, (5,), 1)
    key = jax.random.PRNGKey(0)
    params, state = init_members(net, key[None])
    params = (dict(params[0], w=params[0]["w"] * keep[None, :, None]), *params[1:])
    member = stack_members([Member(key, Sum((penalty,)), Optimizer("adam", 0.05), 0.0,
                                   np.ones(30, np.float32))])  # fmt: skip
    config = TrainConfig(loss="squared_error", max_epochs=20)
    full = train_from(net, config, Data(X, y), member, params, state, keep=keep[None])
    cut = (dict(params[0], w=params[0]["w"][:, keep]), *params[1:])
    alone = train_from(small, config, Data(X[:, keep], y), member, cut, state)
    np.testing.assert_array_equal(full.params[0]["w"][0][~keep], 0.0)
    np.testing.assert_allclose(full.params[0]["w"][0][keep], alone.params[0]["w"][0], atol=1e-6)
    np.testing.assert_allclose(full.params[1]["w"], alone.params[1]["w"], atol=1e-6)


def test_a_weight_zero_row_whose_loss_overflows_costs_nothing():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20, 3)).astype(np.float32)
    y = X[:, :1].astype(np.float32)
    X[5] = 1e20  # finite in float32; its squared error is not
    w = np.ones(20, np.float32)
    w[5] = 0.0
    net = MLP(3, (4,), 1)
    config = TrainConfig(loss="squared_error", max_epochs=5, batch_size=8)
    res = train(net, config, Data(X, y),
                stack_members([Member(jax.random.PRNGKey(0), Sum(()), Optimizer("adam", 0.01),
                                      0.0, w)]))  # fmt: skip
    assert int(res.diverged_epoch[0]) == -1
    assert np.all(np.isfinite(res.history["loss"][0]))


@pytest.mark.parametrize("loss", ["softmax", "logistic"])
def test_max_error_needs_a_regression_loss(loss):
    with pytest.raises(ValueError, match="record 'max_error'.*error_rate"):
        TrainConfig(loss=loss, record=("max_error",))


@pytest.mark.parametrize("early_stopping", [False, True])
def test_float64_data_on_a_float32_network(early_stopping):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 4))  # float64
    y = X[:, :1] * 2.0
    net = MLP(4, (6,), 1)
    member = stack_members([Member(jax.random.PRNGKey(0), Sum(()), Optimizer("adam", 0.01), 0.0,
                                   np.ones(30, np.float32), np.ones(30, np.float32))])  # fmt: skip
    config = TrainConfig(loss="squared_error", max_epochs=5, early_stopping=early_stopping)
    res = train(net, config, Data(X, y), member)
    as32 = train(net, config, Data(X.astype(np.float32), y.astype(np.float32)), member)
    assert res.params[0]["w"].dtype == np.float32
    np.testing.assert_array_equal(res.params[0]["w"], as32.params[0]["w"])
