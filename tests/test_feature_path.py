"""Feature-selection paths, the CV estimators and the Hadamard input gate (issue 4)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LassoCV

from sparsitylab import (
    DivergenceError,
    SparseMLPClassifier,
    SparseMLPRegressor,
    SparseMLPRegressorCV,
)
from sparsitylab.datasets import make_sparse_regression
from sparsitylab.engine.penalties import GroupLasso, HadamardInput
from sparsitylab.engine.trainer import Data
from sparsitylab.estimators.path import (
    _prepare,
    cv_folds,
    default_warm_epochs,
    effective_first_layer,
    estimator_path,
    leave_alphas,
    relax,
    run_path,
)


def _standard(X, y):
    return (X - X.mean(0)) / X.std(0), (y - y.mean()) / y.std()


@pytest.fixture(scope="module")
def nonlinear():
    X, y, support = make_sparse_regression(400, 50, 5, nonlinear=True, noise=0.1, random_state=0)
    X, y = _standard(X, y)
    return X, y, support


def test_cv_path_selects_exactly_the_informative_set_where_lasso_misses(nonlinear):
    X, y, support = nonlinear
    model = SparseMLPRegressorCV(cv=3, n_alphas=10, random_state=0).fit(X, y)
    np.testing.assert_array_equal(model.selected_features_, support)
    # the chosen alpha is an interior point of the grid, and the selection is by exact zeros
    assert 0 < model.path_.best_index < len(model.alphas_) - 1
    first = model.coefs_[0]
    dropped = np.setdiff1d(np.arange(50), support)
    assert np.all(first[dropped] == 0) and np.all(np.linalg.norm(first[support], axis=1) > 0)
    # a Lasso sees the two linear features but not the product x4 * x5 of the target
    lasso = np.flatnonzero(LassoCV(cv=3).fit(X, y).coef_)
    assert not set(support) <= set(lasso)
    # and explains far less of the target (in-sample R^2)
    assert model.score(X, y) > LassoCV(cv=3).fit(X, y).score(X, y) + 0.2


def _linear(n=200, p=10, k=3, seed=0):
    X, y, support = make_sparse_regression(n, p, k, noise=0.1, random_state=seed)
    X, y = _standard(X, y)
    return X, y, support


def test_path_records_loss_counts_and_leave_alphas():
    X, y, support = _linear()
    model = SparseMLPRegressor(
        (16,),
        penalty="group_input",
        optimizer="sgd",
        learning_rate=0.1,
        max_epochs=300,
        random_state=0,
    )
    path = model.path(X, y, n_alphas=8, return_params=True)
    assert path.selected.shape == (8, 10) and len(path.val_loss) == 8
    assert np.all(np.diff(path.alphas) > 0)
    assert path.n_selected[0] == 10 and path.n_selected[-1] < 10
    # the informative features leave the model last
    imp = model.feature_importances_
    np.testing.assert_array_equal(imp, path.leave_alpha)
    noise = np.setdiff1d(np.arange(10), support)
    assert imp[support].min() > imp[noise].max()
    # params on request: one (params, state) per alpha, the selection read off them
    assert len(path.params) == 8
    w0 = np.asarray(path.params[-1][0][0]["w"])[0]
    np.testing.assert_array_equal(np.any(w0 != 0, axis=1), path.selected[-1])
    # the estimator is left fitted at the chosen alpha
    assert model.alpha_ == path.best_alpha
    np.testing.assert_array_equal(
        model.selected_features_, np.flatnonzero(path.selected[path.best_index])
    )
    frame = path.to_frame()
    assert list(frame.columns) == ["alpha", "val_loss", "n_selected", "selected", "diverged"]


def test_leave_alphas_definition():
    alphas = np.array([0.1, 0.2, 0.4])
    sel = np.array([[1, 1, 0, 1], [1, 0, 0, 1], [0, 0, 0, 1]], bool)
    np.testing.assert_array_equal(leave_alphas(alphas, sel), [0.4, 0.2, 0.0, np.inf])


def test_monotone_path_keeps_a_dropped_row_at_zero_where_the_free_path_readmits_it():
    # 8 of 20 correlated features, noisy: the free warm path drops feature 4 and brings it back
    X, y, _ = make_sparse_regression(200, 20, 8, rho=0.7, noise=3.0, random_state=0)
    X, y = _standard(X, y)
    kw = dict(
        penalty="group_input", optimizer="sgd", learning_rate=0.1, max_epochs=300, random_state=0
    )

    def rows(path):  # read off the weights themselves, not the path's bookkeeping
        return np.stack([np.any(effective_first_layer(p)[0] != 0, axis=1) for p, _ in path.params])

    free = estimator_path(
        SparseMLPRegressor((16,), **kw), X, y, n_alphas=10, monotone=False, return_params=True
    )
    model = SparseMLPRegressor((16,), **kw)
    held = model.path(X, y, n_alphas=10, return_params=True)  # monotone by default
    free_rows, held_rows = rows(free), rows(held)
    readmitted = [np.any(~free_rows[i] & free_rows[i + 1 :]) for i in range(len(free_rows))]
    assert any(readmitted)
    # once a row is exactly zero it is exactly zero at every larger alpha: nested sets
    assert np.all(held_rows[1:] <= held_rows[:-1])
    np.testing.assert_array_equal(held_rows, held.selected)
    # so each feature is in the model below its leave alpha and out from it on
    assert held.n_selected[0] == 20 and held.n_selected[-1] < 20
    for j, a in enumerate(model.feature_importances_):
        np.testing.assert_array_equal(held_rows[:, j], held.alphas < a)


def test_warm_epochs_give_max_epochs_per_decade_whatever_the_number_of_alphas():
    for n_alphas in (12, 24):
        alphas = np.geomspace(1e-3, 1.0, n_alphas)  # three decades
        steps = default_warm_epochs(800, alphas)
        assert steps * (n_alphas - 1) >= 3 * 800 > (steps - 1) * (n_alphas - 1)
    assert default_warm_epochs(800, [0.0, 0.1, 1.0]) == 400  # one decade over two steps


def test_refit_path_beside_the_folds_and_batched_relaxed_refits_match_separate_runs():
    # the CV estimator trains its every-row refit path as one more member of the folds' path,
    # and all relaxed refits of a path at once; each member's numbers depend only on itself
    X, y, _ = _linear(n=120, p=8, seed=2)
    est = SparseMLPRegressor((8,), penalty="group_input", optimizer="sgd", learning_rate=0.1,
                             max_epochs=60, random_state=0)  # fmt: skip
    X, y, Y, n_out = _prepare(est, X, y)
    rng = np.random.RandomState(0)
    train_w, val_w = cv_folds(est, Y, 3, rng)
    keys = est._member_keys(rng, 3)
    network, config, data = est._network(X.shape[1], n_out), est._config(), Data(X, Y)
    alphas = np.geomspace(0.02, 0.3, 4)
    ones, zeros = np.ones(len(X), np.float32), np.zeros(len(X), np.float32)
    both = run_path(est, network, config, data, keys, train_w, val_w, alphas, True, 30, 20,
                    every_row=True)  # fmt: skip
    folds = run_path(est, network, config, data, keys, train_w, val_w, alphas, True, 30, 20)
    alone = run_path(est, network, config, data, keys[:1], [ones], [zeros], alphas, True, 30)
    np.testing.assert_allclose(both.val_loss, folds.val_loss, rtol=1e-5)
    for a, b in zip(both.every_row, alone.penalized, strict=True):
        np.testing.assert_array_equal(a.params[0]["w"] == 0, b.params[0]["w"] == 0)
        np.testing.assert_allclose(a.params[0]["w"], b.params[0]["w"], rtol=1e-4, atol=1e-6)
    assert np.any(np.all(folds.penalized[-1].params[0]["w"] == 0, axis=2))  # some input left
    at_once = relax(est, network, config, data, keys, train_w, val_w, folds.penalized, 20)
    for point, batched in zip(folds.penalized, at_once, strict=True):
        (one,) = relax(est, network, config, data, keys, train_w, val_w, [point], 20)
        np.testing.assert_allclose(batched.params[1]["w"], one.params[1]["w"], rtol=1e-4, atol=1e-6)
        # the relaxed refit keeps the dropped inputs at exactly zero
        dropped = np.all(point.params[0]["w"] == 0, axis=2)
        assert np.all(np.asarray(batched.params[0]["w"])[dropped] == 0)


def test_warm_and_batched_paths_agree_on_the_informative_set_and_are_reproducible():
    X, y, support = _linear(seed=1)
    kw = dict(
        penalty="group_input", optimizer="sgd", learning_rate=0.1, max_epochs=300, random_state=3
    )
    alphas = np.geomspace(0.01, 0.5, 6)
    warm = SparseMLPRegressor((16,), **kw).path(X, y, alphas=alphas, warm_start=True)
    again = SparseMLPRegressor((16,), **kw).path(X, y, alphas=alphas, warm_start=True)
    cold = SparseMLPRegressor((16,), **kw).path(X, y, alphas=alphas, warm_start=False)
    np.testing.assert_array_equal(warm.val_loss, again.val_loss)
    assert warm.mode == "warm" and cold.mode == "batched"
    for p in (warm, cold):
        assert set(support) <= set(np.flatnonzero(p.selected[p.best_index]))


def test_hadamard_input_gate_selects_with_exact_zeros_and_balanced_factors():
    X, y, support = _linear(seed=2)
    model = SparseMLPRegressor(
        (16,),
        penalty="hadamard_input",
        alpha=0.05,
        optimizer="sgd",
        learning_rate=0.1,
        max_epochs=600,
        random_state=0,
    ).fit(X, y)
    gate = model.params_[0]["gate"][0]
    w = model.params_[0]["w"][0]
    rows = np.linalg.norm(w, axis=1)
    # dropped features: gate and row both exactly zero; kept ones balanced |g_j| = ||W1[j]||
    assert set(support) <= set(model.selected_features_)
    assert len(model.selected_features_) < 10
    off = np.setdiff1d(np.arange(10), model.selected_features_)
    assert np.all(gate[off] == 0) and np.all(w[off] == 0)
    np.testing.assert_allclose(
        np.abs(gate[model.selected_features_]), rows[model.selected_features_], rtol=1e-4
    )
    # at a balanced point the weight decay equals the group lasso on the gated rows
    params = tuple({k: jnp.asarray(v[0]) for k, v in layer.items()} for layer in model.params_)
    gated = ({"w": params[0]["gate"][:, None] * params[0]["w"]}, *params[1:])
    np.testing.assert_allclose(
        float(HadamardInput(0.05).value(params)), float(GroupLasso(0.05).value(gated)), rtol=1e-4
    )


def test_hadamard_prox_is_exact_on_a_small_case():
    pen = HadamardInput(1.0)
    params = ({"w": jnp.array([[3.0, 4.0], [0.1, 0.0]]), "gate": jnp.array([1.0, 1.0])},)
    out = pen.prox(params, 0.5)
    v = out[0]["gate"][:, None] * out[0]["w"]
    # row 0: ||v|| = 5 -> 4.5 along (0.6, 0.8); row 1: ||v|| = 0.1 <= 0.5 -> exactly zero
    np.testing.assert_allclose(np.asarray(v[0]), [2.7, 3.6], rtol=1e-6)
    assert float(out[0]["gate"][1]) == 0.0 and np.all(np.asarray(out[0]["w"][1]) == 0)


@pytest.mark.parametrize("n_classes", [2, 10])
def test_classifier_path_binary_and_multiclass(n_classes):
    X, y = make_classification(
        300,
        12,
        n_informative=4,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=1,
        class_sep=2.0,
        shuffle=False,
        random_state=0,
    )
    X = (X - X.mean(0)) / X.std(0)
    model = SparseMLPClassifier(
        (16,),
        penalty="group_input",
        optimizer="sgd",
        learning_rate=0.1,
        max_epochs=200,
        random_state=0,
    )
    path = model.path(X, y, n_alphas=6)
    assert path.n_selected[0] == 12 and path.n_selected[-1] < path.n_selected[0]
    # the 4 informative columns (shuffle=False puts them first) leave the model last
    imp = model.feature_importances_
    assert imp[:4].min() >= imp[4:].max()
    assert model.predict_proba(X).shape == (300, n_classes)
    assert model.score(X, y) > 0.7


def test_pandas_names_kept_through_path_and_cv():
    X, y, support = _linear(p=8)
    frame = pd.DataFrame(X, columns=[f"f_{j}" for j in range(8)])
    model = SparseMLPRegressorCV(
        (16,), cv=2, n_alphas=5, max_epochs=200, refit_dense=True, random_state=0
    ).fit(frame, y)
    names = list(model.selected_feature_names_)
    assert names == [f"f_{j}" for j in model.selected_features_]
    assert set(f"f_{j}" for j in support) <= set(names)
    assert model.path_.selected_names() == names
    # the dense refit uses only the selected columns and predicts from the full frame
    assert model.dense_estimator_.n_features_in_ == len(names)
    assert model.predict(frame).shape == (200,)
    assert model.score(frame, y) > 0.8


def test_bad_path_inputs_raise_clear_errors():
    X, y, _ = _linear(n=40, p=5)
    with pytest.raises(ValueError, match="needs a penalty"):
        SparseMLPRegressor(max_epochs=5).path(X, y, n_alphas=3)
    with pytest.raises(ValueError, match="every alpha must be a finite real number >= 0"):
        SparseMLPRegressor(penalty="group_input", max_epochs=5).path(X, y, alphas=[-1.0, 0.1])
    with pytest.raises(ValueError, match="cross-validating alpha needs a penalty"):
        SparseMLPRegressorCV(penalty=None, max_epochs=5).fit(X, y)
    for refused in (dict(early_stopping=True), dict(n_estimators=2), dict(bootstrap=True)):
        with pytest.raises(ValueError, match="not supported here"):
            SparseMLPRegressorCV(max_epochs=5, cv=2, n_alphas=2, **refused).fit(X, y)


def test_cv_path_warns_on_diverged_alphas_and_refuses_a_path_that_only_diverged():
    X, y, _ = _linear(n=60, p=5)
    X = X * 10  # unscaled inputs: the default proximal SGD step overflows at small alphas
    alphas = [1e-3, 1e-2, 1e6]  # the last one zeroes every input row at once
    cv = SparseMLPRegressorCV(alphas=alphas, cv=2, max_epochs=50, random_state=0)
    with pytest.warns(RuntimeWarning, match="diverged at 2 of 3 alphas"):
        cv.fit(X, y)
    assert cv.alpha_ == 1e6 and np.all(np.isinf(cv.mse_path_[:2]).any(axis=1))
    with pytest.raises(DivergenceError, match="every alpha"):
        SparseMLPRegressorCV(alphas=alphas[:2], cv=2, max_epochs=50, random_state=0).fit(X, y)


def test_fits_without_held_inputs_equal_fits_that_hold_them_at_zero_by_a_mask(monkeypatch):
    """``train_from(..., keep=...)`` trains an MLP on the kept columns only (padded with zero
    columns to a power of two; here forced on a small problem by lowering the work threshold);
    the same members under a ``Mask`` prox on every input give the same parameters, and the
    held rows come back exactly zero."""
    import dataclasses

    import jax

    from sparsitylab.sparse import _train

    monkeypatch.setattr("sparsitylab.engine.trainer.CALL_WORK", 1)
    widths = []

    def spy(*args, label=None, **kwargs):
        widths.append(label)
        return compiled(*args, label=label, **kwargs)

    compiled = _train._compiled
    monkeypatch.setattr(_train, "_compiled", spy)

    from sparsitylab.engine.networks import MLP
    from sparsitylab.engine.optimizers import Optimizer
    from sparsitylab.engine.penalties import Mask, Sum
    from sparsitylab.engine.trainer import Member, TrainConfig, stack_members
    from sparsitylab.sparse._train import init_members, narrow_width, train_from

    assert [narrow_width(k, 50) for k in (1, 5, 8, 9, 33, 50)] == [1, 8, 8, 16, 50, 50]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 12))
    y = X[:, :1] * X[:, 1:2] + np.sin(X[:, 2:3]) + 0.1 * rng.normal(size=(60, 1))
    net = MLP(12, (6,), dtype="float64")
    keys = jnp.stack([jax.random.PRNGKey(i) for i in range(3)])
    params, state = init_members(net, keys)
    keep = np.zeros((3, 12), bool)
    keep[0, :5], keep[1, [0, 3, 7, 11]], keep[2] = True, True, True  # widths 8, 4 and 12
    w = np.asarray(params[0]["w"]) * keep[..., None]
    params = ({**params[0], "w": w}, *params[1:])
    members = stack_members([
        Member(k, Sum((GroupLasso(0.01, over="input"),)), Optimizer("sgd", 0.1), 0.0,
               np.r_[np.ones(45), np.zeros(15)] if i else np.ones(60), None)
        for i, k in enumerate(keys)
    ])  # fmt: skip
    cfg = TrainConfig(max_epochs=60)
    narrow = train_from(net, cfg, Data(X, y), members, params, state, keep=keep)
    assert sorted(set(widths)) == [4, 8, 12]
    masks = (np.broadcast_to(keep[..., None], w.shape).astype(float), np.ones((3, 6, 1)))
    held = dataclasses.replace(members, penalty=Sum((members.penalty, Mask(masks))))
    masked = train_from(net, cfg, Data(X, y), held, params, state)
    for a, b in zip(jax.tree.leaves(narrow.params), jax.tree.leaves(masked.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert np.all(np.asarray(narrow.params[0]["w"])[~keep] == 0.0)
    assert np.all(np.any(np.asarray(narrow.params[0]["w"])[keep] != 0.0, axis=-1))
