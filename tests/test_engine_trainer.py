"""The compiled loop: early stopping, dropout, batch norm, determinism, vmap, divergence."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sparsitylab
from sparsitylab.engine.networks import MLP
from sparsitylab.engine.optimizers import Optimizer
from sparsitylab.engine.penalties import L1, L2, Sum
from sparsitylab.engine.trainer import Data, Member, TrainConfig, stack_members, train


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 5))
    y = np.tanh(X[:, :1] * 2) + 0.3 * rng.normal(size=(80, 1))
    return X, y


def one(
    net,
    config,
    data,
    penalty=Sum(()),
    opt=Optimizer("adam", 1e-2),
    seed=0,
    rate=0.0,
    tw=None,
    vw=None,
):
    tw = np.ones(len(data.X)) if tw is None else tw
    return train(
        net,
        config,
        data,
        stack_members([Member(jax.random.PRNGKey(seed), penalty, opt, rate, tw, vw)]),
    )


def test_early_stopping_restores_the_best_weights(problem):
    X, _ = problem
    y = np.random.default_rng(5).normal(size=(80, 1))  # pure noise: fitting it only overfits
    net = MLP(5, (64, 64), dtype="float64")
    data = Data(X[:40], y[:40], X[40:], y[40:])
    cfg = TrainConfig(max_epochs=400, early_stopping=True, patience=15)
    res = one(net, cfg, data, opt=Optimizer("adam", 3e-2))
    best, ran = int(res.best_epoch[0]), int(res.n_epochs[0])
    assert 0 <= best < ran - 1 and ran < 400, (best, ran)  # it stopped, after the best epoch
    val = res.history["val_loss"][0]
    assert ran - 1 - best == 15 and np.argmin(val[:ran]) == best
    # the returned weights are those after epoch `best`: retraining exactly that long gives them
    again = one(net, TrainConfig(max_epochs=best + 1), data, opt=Optimizer("adam", 3e-2))
    for a, b in zip(jax.tree.leaves(res.params), jax.tree.leaves(again.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_monitor_penalty_adds_the_penalty_to_the_monitored_validation_loss(problem):
    # Keras' val_loss includes the regularization losses; monitor_penalty does the same. With
    # patience beyond the last epoch both runs follow one trajectory and keep their best epoch.
    X, y = problem
    net = MLP(5, (32,), dtype="float64")
    data = Data(X[:40], y[:40], X[40:], y[40:])
    penalty = Sum((L2(0.01),))
    runs = {
        flag: one(net, TrainConfig(max_epochs=60, early_stopping=True, patience=60,
                                   monitor_penalty=flag),
                  data, penalty=penalty, opt=Optimizer("adam", 3e-2))
        for flag in (False, True)
    }  # fmt: skip
    val = runs[False].history["val_loss"][0]
    np.testing.assert_array_equal(val, runs[True].history["val_loss"][0])  # data-fit in both
    b0, b1 = int(runs[False].best_epoch[0]), int(runs[True].best_epoch[0])
    assert b0 != b1 and b0 == np.argmin(val)

    def monitored(run, b):  # the restored weights are those after epoch b
        return val[b] + float(penalty.value(jax.tree.map(lambda v: v[0], run.params)))

    assert monitored(runs[True], b1) < monitored(runs[False], b0)


def test_dropout_is_identity_at_evaluation():
    net = MLP(3, (50,), dropout=True, dtype="float64")
    plain = MLP(3, (50,), dtype="float64")
    params, state = net.init(jax.random.PRNGKey(0))
    X = jnp.asarray(np.random.default_rng(1).normal(size=(10, 3)))
    evaluated = net.apply(params, state, X, train=False)[0]
    np.testing.assert_array_equal(evaluated, plain.apply(params, state, X)[0])
    noisy = net.apply(params, state, X, train=True, key=jax.random.PRNGKey(3), dropout_rate=0.5)[0]
    assert not np.allclose(noisy, evaluated)
    # inverted dropout keeps the expected activation: average over many masks
    keys = jax.random.split(jax.random.PRNGKey(4), 4000)
    mean = jax.vmap(lambda k: net.apply(params, state, X, train=True, key=k, dropout_rate=0.5)[0])(
        keys
    ).mean(0)
    np.testing.assert_allclose(mean, evaluated, atol=0.1 * float(jnp.abs(evaluated).max()))


def test_batch_norm_uses_running_statistics_at_evaluation(problem):
    X, y = problem
    net = MLP(5, (8,), batch_norm=True, dtype="float64")
    res = one(net, TrainConfig(max_epochs=30, batch_size=16), Data(X, y))
    params = jax.tree.map(lambda v: v[0], res.params)
    state = jax.tree.map(lambda v: v[0], res.state)
    assert not np.allclose(state[0]["mean"], 0)  # statistics were accumulated
    full = net.apply(params, state, jnp.asarray(X))[0]
    alone = net.apply(params, state, jnp.asarray(X[:1]))[0]
    np.testing.assert_allclose(full[:1], alone, rtol=1e-12)  # no dependence on the batch
    h = X @ params[0]["w"] + params[0]["b"]
    h = (h - state[0]["mean"]) / np.sqrt(state[0]["var"] + 1e-5) * params[0]["scale"] + params[0][
        "shift"
    ]
    manual = np.maximum(h, 0) @ params[1]["w"] + params[1]["b"]
    np.testing.assert_allclose(full, manual, rtol=1e-10)


def test_vmap_equals_one_by_one(problem):
    X, y = problem
    net = MLP(5, (16, 8), dropout=True, dtype="float64")
    cfg = TrainConfig(max_epochs=25, batch_size=16, early_stopping=True, patience=5)
    rng = np.random.default_rng(0)
    specs = []
    for i, (alpha, lr, rate) in enumerate(
        [(1e-3, 1e-2, 0.0), (1e-1, 3e-3, 0.2), (1e-2, 1e-2, 0.5)]
    ):
        tw = (rng.random(80) < 0.6 + 0.1 * i).astype(float)  # folds of unequal sizes
        specs.append(
            Member(jax.random.PRNGKey(i), L1(alpha), Optimizer("adam", lr), rate, tw, 1.0 - tw)
        )
    data = Data(X, y)
    batched = train(net, cfg, data, stack_members(specs))
    for i, spec in enumerate(specs):
        alone = train(net, cfg, data, stack_members([spec]))
        assert batched.n_epochs[i] == alone.n_epochs[0]
        for a, b in zip(
            jax.tree.leaves(batched.params), jax.tree.leaves(alone.params), strict=True
        ):
            np.testing.assert_allclose(a[i], b[0], rtol=1e-9, atol=1e-12)


def test_same_random_state_same_numbers(problem):
    X, y = problem
    kw = dict(hidden_layer_sizes=(8,), dropout=0.2, batch_size=16, max_epochs=20, penalty="l1")
    a = sparsitylab.SparseMLPRegressor(random_state=7, **kw).fit(X, y[:, 0])
    b = sparsitylab.SparseMLPRegressor(random_state=7, **kw).fit(X, y[:, 0])
    c = sparsitylab.SparseMLPRegressor(random_state=8, **kw).fit(X, y[:, 0])
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert not np.allclose(a.predict(X), c.predict(X))


def test_divergence_stops_with_a_clear_error(problem):
    X, y = problem
    model = sparsitylab.SparseMLPRegressor(
        optimizer="sgd", learning_rate=1e3, max_epochs=200, random_state=0
    )
    with pytest.raises(
        sparsitylab.DivergenceError, match=r"diverged at epoch \d+.*smaller learning_rate"
    ):
        model.fit(X, y[:, 0] * 1e3)


def test_parameters_that_overflow_in_the_last_epoch_count_as_diverged(problem):
    """One full-batch SGD step with a huge rate: the loss it reports (before the step) is finite,
    the parameters after it are not; the epoch must still be flagged. Two epochs: the second
    epoch's loss shows it."""
    X, y = problem
    net = MLP(5, (8,))
    data = Data(X.astype(np.float32), (y * 1e3).astype(np.float32))
    for epochs in (1, 2):
        res = one(net, TrainConfig(max_epochs=epochs), data, opt=Optimizer("sgd", 1e38))
        assert np.isfinite(res.history["loss"][0, 0])
        assert res.diverged_epoch[0] == epochs - 1, (epochs, res.diverged_epoch)
        assert not all(np.all(np.isfinite(v)) for v in jax.tree.leaves(res.params))


def test_lbfgs_full_batch_and_its_limits(problem):
    X, y = problem
    net = MLP(5, (8,), dtype="float64")
    res = one(
        net, TrainConfig(max_epochs=200), Data(X, y), penalty=L2(1e-3), opt=Optimizer("lbfgs")
    )
    adam = one(net, TrainConfig(max_epochs=200), Data(X, y), penalty=L2(1e-3))
    assert res.history["loss"][0, -1] < adam.history["loss"][0, -1]
    with pytest.raises(ValueError, match="smooth objective"):
        one(net, TrainConfig(max_epochs=5), Data(X, y), penalty=L1(1e-3), opt=Optimizer("lbfgs"))
    with pytest.raises(ValueError, match="full batch"):
        one(net, TrainConfig(max_epochs=5, batch_size=8), Data(X, y), opt=Optimizer("lbfgs"))


def test_recorded_gradient_norms_match_jax_grad(problem):
    X, y = problem
    net = MLP(5, (8,), dtype="float64")
    res = one(
        net,
        TrainConfig(max_epochs=1, record=("grad_norm", "sparsity")),
        Data(X, y),
        penalty=L2(0.1),
    )
    params, state = net.init(jax.random.fold_in(jax.random.PRNGKey(0), 0))

    def objective(p):
        out = net.apply(p, state, jnp.asarray(X))[0]
        return 0.5 * jnp.mean(jnp.sum((out - y) ** 2, axis=1)) + L2(0.1).value(p)

    g = jax.grad(objective)(params)
    expect = [np.sqrt(sum(float(jnp.sum(v**2)) for v in layer.values())) for layer in g]
    np.testing.assert_allclose(res.history["grad_norm"][0, 0], expect, rtol=1e-10)
    np.testing.assert_array_equal(res.history["sparsity"][0, 0], [0.0, 0.0])


def test_minibatch_gradient_norms_average_the_batches_that_took_a_step(problem):
    """At learning rate 0 the parameters stay at their start, so the mean of the batch
    gradients over equal batches is the gradient over the member's rows; a member with fewer
    rows meets an empty (all weight 0) batch, which must not count in the mean."""
    X, y = problem
    net = MLP(5, (8,), dtype="float64")
    cfg = TrainConfig(max_epochs=2, batch_size=20, record=("grad_norm",))
    params, state = net.init(jax.random.fold_in(jax.random.PRNGKey(0), 0))
    full = np.ones(80)
    part = np.r_[np.ones(40), np.zeros(40)]  # 2 of its 4 batches are empty

    def expected(tw):
        def objective(p):
            out = net.apply(p, state, jnp.asarray(X))[0]
            return jnp.sum(tw * 0.5 * jnp.sum((out - y) ** 2, axis=1)) / tw.sum()

        g = jax.grad(objective)(params)
        return [np.sqrt(sum(float(jnp.sum(v**2)) for v in layer.values())) for layer in g]

    opt = Optimizer("sgd", 0.0)
    members = [Member(jax.random.PRNGKey(0), Sum(()), opt, 0.0, tw, None) for tw in (full, part)]
    batched = train(net, cfg, Data(X, y), stack_members(members))
    for i, tw in enumerate((full, part)):
        alone = train(net, cfg, Data(X, y), stack_members([members[i]]))
        for res, j in ((batched, i), (alone, 0)):
            for epoch in range(2):
                np.testing.assert_allclose(
                    res.history["grad_norm"][j, epoch], expected(tw), rtol=1e-10
                )


@pytest.mark.parametrize("loss", ["softmax", "logistic"])
def test_recorded_error_rates_match_the_final_predictions(loss):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(90, 4)).astype(np.float32)
    labels = (X[:, 0] + 0.5 * rng.normal(size=90) > 0).astype(int) + (X[:, 1] > 1)
    Xv = rng.normal(size=(40, 4)).astype(np.float32)
    lv = (Xv[:, 0] > 0).astype(int)
    if loss == "logistic":
        labels, lv = np.minimum(labels, 1), np.minimum(lv, 1)
        y, yv, n_out = labels[:, None].astype(np.float32), lv[:, None].astype(np.float32), 1
    else:
        y, yv, n_out = labels.astype(np.int32), lv.astype(np.int32), 3
    net = MLP(n_inputs=4, hidden=(8,), n_outputs=n_out)
    tw = np.where(np.arange(90) < 80, 1.0, 0.0)  # the last 10 rows are not training rows
    config = TrainConfig(loss=loss, max_epochs=15, batch_size=16, record=("error_rate",))
    res = one(net, config, Data(X, y, Xv, yv), tw=tw, opt=Optimizer("adam", 0.05))
    params = jax.tree.map(lambda v: v[0], res.params)
    state = jax.tree.map(lambda v: v[0], res.state)

    def rate(Xs, target, w):
        out = np.asarray(net.apply(params, state, Xs)[0])
        pred = out.argmax(1) if loss == "softmax" else (out[:, 0] > 0).astype(int)
        truth = target if loss == "softmax" else target[:, 0].astype(int)
        return np.sum(w * (pred != truth)) / np.sum(w)

    h = res.history
    assert h["error_rate"].shape == (1, 15) and h["val_error_rate"].shape == (1, 15)
    assert h["error_rate"][0, -1] == pytest.approx(rate(X, y, tw), abs=1e-6)
    assert h["val_error_rate"][0, -1] == pytest.approx(rate(Xv, yv, np.ones(40)), abs=1e-6)


def test_error_rate_needs_a_classification_loss():
    with pytest.raises(ValueError, match="error_rate' needs a classification loss"):
        TrainConfig(loss="squared_error", record=("error_rate",))


@pytest.mark.parametrize("large", [False, True])
def test_full_batch_members_train_on_their_rows_only_and_groups_match_fits_alone(
    problem, monkeypatch, large
):
    """A full-batch member whose held-out rows have weight 0 gives the fit on its rows alone;
    members with 60 and 80 training rows share a call when their steps are small, and go in
    separate calls (row groups: the folds step on their own rows only) when they are large
    (forced here by lowering the work threshold); each equals its fit alone either way."""
    from sparsitylab.engine import trainer
    from sparsitylab.engine.trainer import row_groups

    if large:
        monkeypatch.setattr(trainer, "CALL_WORK", 1)
    seen = []

    def spy(network, config, geometry, batched, **kwargs):
        seen.append(geometry.rows)
        return trainer._compiled(network, config, geometry, batched, **kwargs)

    X, y = problem
    net = MLP(5, (8,), dtype="float64")
    cfg = TrainConfig(max_epochs=30, record=("grad_norm",))
    opt = Optimizer("adam", 1e-2)
    fold = np.r_[np.ones(60), np.zeros(20)]
    other = np.r_[np.zeros(20), np.ones(60)]
    weights = (fold, np.ones(80), other)
    assert [list(g) for g in row_groups(np.stack(weights))] == [[1], [0, 2]]
    members = [Member(jax.random.PRNGKey(s), Sum(()), opt, 0.0, tw, 1 - tw) for s, tw in
               enumerate(weights)]  # fmt: skip
    tw = np.stack(weights)
    batched = trainer.run_members(spy, net, cfg, Data(X, y), stack_members(members), tw)
    assert sorted(set(seen)) == ([60, 80] if large else [80])
    for i, tw in enumerate(weights):
        rows = tw > 0
        alone = train(net, cfg, Data(X[rows], y[rows]), stack_members([
            Member(jax.random.PRNGKey(i), Sum(()), opt, 0.0, np.ones(rows.sum()), None)
        ]))  # fmt: skip
        for a, b in zip(jax.tree.leaves(batched.params), jax.tree.leaves(alone.params),
                        strict=True):  # fmt: skip
            np.testing.assert_allclose(a[i], b[0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(batched.history["loss"][i], alone.history["loss"][0], rtol=1e-9)


def test_val_history_off_skips_the_validation_record_unless_early_stopping_needs_it(problem):
    X, y = problem
    net = MLP(5, (8,), dtype="float64")
    tw = np.r_[np.ones(60), np.zeros(20)]
    off = one(net, TrainConfig(max_epochs=20, val_history=False), Data(X, y), tw=tw, vw=1 - tw)
    on = one(net, TrainConfig(max_epochs=20), Data(X, y), tw=tw, vw=1 - tw)
    assert "val_loss" not in off.history and np.all(np.isfinite(on.history["val_loss"]))
    for a, b in zip(jax.tree.leaves(off.params), jax.tree.leaves(on.params), strict=True):
        np.testing.assert_array_equal(a, b)  # the record changes nothing else
    stop = TrainConfig(max_epochs=400, early_stopping=True, patience=5, val_history=False)
    res = one(net, stop, Data(X, y), tw=tw, vw=1 - tw, opt=Optimizer("adam", 5e-2))
    assert np.isfinite(res.history["val_loss"][0, 0]) and res.n_epochs[0] < 400


def test_fast_compilation_compiles_the_training_program_fast_within_its_block(problem, monkeypatch):
    from sparsitylab.engine import compilation, trainer

    asked = []
    real = trainer.compiler_options
    monkeypatch.setattr(trainer, "compiler_options", lambda fast: asked.append(fast) or real(fast))
    trainer._compiled.cache_clear()  # every program below is compiled here
    X, y = problem
    net, cfg, data = MLP(5, (7,), dtype="float64"), TrainConfig(max_epochs=30), Data(X, y)
    ref = one(net, cfg, data)
    assert asked == [False, True]  # the training program optimized, the objective test fast
    with compilation.fast_compilation():
        assert compilation.fast_requested()
        fast = one(net, cfg, data)
        assert asked == [False, True, True, True]
        with compilation.fast_compilation(False):  # nested blocks restore the outer mode
            assert not compilation.fast_requested()
        assert compilation.fast_requested()
    assert not compilation.fast_requested()
    one(net, cfg, data)
    assert len(asked) == 4  # back to the optimized program compiled first
    for a, b in zip(jax.tree.leaves(ref.params), jax.tree.leaves(fast.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    if jax.default_backend() == "cpu":
        assert compilation.compiler_options(True) == compilation.FAST_COMPILE_OPTIONS
    assert compilation.compiler_options(False) is None
