"""Regressions of sparsitylab.sparse from a third audit: quantize's test error and its checks of
``X_test, y_test``, compact's checks of ``X``, copies that share no array with their input,
divergence while retraining, integer counts that refuse booleans, compact's documented
tolerance."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import DataConversionWarning
from sklearn.metrics import accuracy_score, mean_squared_error

from sparsitylab import DivergenceError, SparseMLPClassifier, SparseMLPRegressor
from sparsitylab.sparse import (
    SparseForward,
    compact,
    plot_feature_importances,
    prune,
    prune_schedule,
    quantize,
    retrain,
)

matplotlib.use("Agg")

DOCS = Path(__file__).resolve().parents[1] / "docs" / "sparse-networks.md"


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.randn(120, 5)
    y = X[:, 0] - 2 * X[:, 1] + np.abs(X[:, 2]) + 0.1 * rng.randn(120)
    return X, (y - y.mean()) / y.std()


@pytest.fixture(scope="module")
def regressor(data):
    X, y = data
    return SparseMLPRegressor((16,), learning_rate=1e-2, max_epochs=80, random_state=0).fit(
        X[:80], y[:80]
    )


def _mse(pred, y):
    pred, y = np.asarray(pred, float), np.asarray(y, float)
    return float(np.mean((pred.reshape(y.shape) - y) ** 2))


# --- finding 1: quantize's test error and its checks ------------------------------------------
def test_quantize_reports_the_mean_squared_error_for_every_shape_of_y_test(data, regressor):
    X, y = data
    Xt, yt = X[80:], y[80:]
    true = _mse(regressor.predict(Xt), yt)
    for y_test in (yt, yt[:, None], pd.DataFrame({"target": yt}), list(yt)):
        q = quantize(regressor, 4, Xt, y_test)
        rep = q.quantization_
        assert rep["error_before"] == pytest.approx(true, rel=1e-12), type(y_test)
        assert rep["error_after"] == pytest.approx(_mse(q.predict(Xt), yt), rel=1e-12)
        assert rep["error_change"] == pytest.approx(rep["error_after"] - rep["error_before"])
    assert quantize(regressor, 4, Xt, yt[:, None]).quantization_["error_before"] < 0.5


def test_quantize_error_of_a_column_and_of_a_multi_output_regressor(data):
    X, y = data
    Xt = X[80:]
    column = SparseMLPRegressor((8,), learning_rate=1e-2, max_epochs=40, random_state=0)
    column.fit(X[:80], y[:80, None])  # predicts (n, 1)
    for y_test in (y[80:], y[80:, None]):
        err = quantize(column, 8, Xt, y_test).quantization_["error_before"]
        assert err == pytest.approx(_mse(column.predict(Xt), y[80:, None]), rel=1e-12)
    Y = np.c_[y, -2 * y + X[:, 3]]
    multi = SparseMLPRegressor((8,), learning_rate=1e-2, max_epochs=40, random_state=0)
    multi.fit(X[:80], Y[:80])
    err = quantize(multi, 8, Xt, Y[80:]).quantization_["error_before"]  # over rows and outputs
    assert err == pytest.approx(mean_squared_error(Y[80:], multi.predict(Xt)), rel=1e-12)
    with pytest.raises(ValueError, match=r"y_test has 1 output\(s\) but the training y has 2"):
        quantize(multi, 8, Xt, Y[80:, 0])


@pytest.mark.parametrize("n_classes", [2, 3])
def test_quantize_reports_one_minus_accuracy_for_a_classifier(data, n_classes):
    X, y = data
    labels = np.array(["low", "mid", "high"])[:n_classes]
    codes = np.digitize(y, np.quantile(y, np.linspace(0, 1, n_classes + 1)[1:-1]))
    yc = labels[codes]
    clf = SparseMLPClassifier((8,), learning_rate=1e-2, max_epochs=40, random_state=0)
    clf.fit(X[:80], yc[:80])
    Xt, yt = X[80:], yc[80:]
    true = 1.0 - accuracy_score(yt, clf.predict(Xt))
    assert 0.0 < true < 0.5  # a test that can tell right from wrong
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataConversionWarning)  # the (n, 1) column, as in fit
        for y_test in (yt, yt[:, None], pd.DataFrame({"label": yt}), list(yt)):
            q = quantize(clf, 3, Xt, y_test)
            rep = q.quantization_
            assert rep["error_before"] == pytest.approx(true, abs=1e-12), type(y_test)
            expected_after = 1.0 - accuracy_score(yt, q.predict(Xt))
            assert rep["error_after"] == pytest.approx(expected_after, abs=1e-12)
    with pytest.raises(ValueError, match="labels that were not seen in training"):
        quantize(clf, 8, Xt, codes[80:])  # integers for string labels


def test_quantize_refuses_half_a_test_pair_and_bad_test_data(data, regressor):
    X, y = data
    Xt, yt = X[80:], y[80:]
    with pytest.raises(ValueError, match="X_test without y_test: give both"):
        quantize(regressor, 8, Xt)
    with pytest.raises(ValueError, match="y_test without X_test: give both"):
        quantize(regressor, 8, y_test=yt)
    bad = [
        ((Xt, yt[:10]), "inconsistent numbers of samples"),
        ((Xt, np.where(yt > 1, np.nan, yt)), "y contains NaN"),
        ((Xt, np.where(yt > 1, np.inf, yt)), "y contains infinity"),
        ((np.where(Xt > 1, np.nan, Xt), yt), "X_test contains NaN|X contains NaN"),
        ((Xt[:, :3], yt), "3 features, but SparseMLPRegressor is expecting 5"),
        ((Xt[:0], yt[:0]), "0 sample"),
    ]
    for (Xb, yb), message in bad:
        with pytest.raises(ValueError, match=r"quantize's test data .*(" + message + ")"):
            quantize(regressor, 8, Xb, yb)


def test_quantize_takes_frames_and_checks_their_feature_names(data):
    X, y = data
    frame = pd.DataFrame(X, columns=list("abcde"))
    model = SparseMLPRegressor((8,), max_epochs=20, random_state=0).fit(frame, y)
    target = pd.DataFrame({"y": y})  # a one-column frame, as pandas users hold targets
    good = quantize(model, 8, frame, target).quantization_
    assert good["error_before"] == pytest.approx(_mse(model.predict(frame), y), rel=1e-12)
    with pytest.raises(ValueError, match="quantize's test data .*feature names should match"):
        quantize(model, 8, frame[list("bacde")], target)


# --- finding 2: compact checks X as predict does ----------------------------------------------
@pytest.fixture(scope="module")
def frame_model():
    rng = np.random.RandomState(0)
    df = pd.DataFrame({"a": rng.uniform(0, 1, 100), "b": rng.uniform(-1, 0, 100),
                       "c": rng.randn(100)})  # fmt: skip
    y = df.a - df.b + 0.1 * df.c
    model = SparseMLPRegressor((16,), max_epochs=200, learning_rate=1e-2, random_state=0)
    return df, model.fit(df, y)


def test_compact_refuses_an_x_that_predict_refuses(frame_model):
    df, model = frame_model
    refused = [
        (df.iloc[:0], "0 sample"),  # no row is active: every unit would go
        (df[["b", "a", "c"]], "feature names should match"),  # reordered columns
        (df[["a", "b"]], "feature names should match|2 features"),
        (df.assign(c=np.where(df.c > 1, np.nan, df.c)), "contains NaN"),
        (df.assign(c=np.where(df.c > 1, np.inf, df.c)), "infinity"),
        (df.assign(c=np.where(df.c > 1, 1e39, df.c)), "beyond float32's range"),
        (df.assign(c=df.c.astype(str)), "'c' of X are not numeric"),
    ]
    for X, message in refused:
        with pytest.raises(ValueError, match=message):
            compact(model, X)
        with pytest.raises(ValueError, match=message):
            model.predict(X)  # the same rule as predict's


def test_compact_on_valid_x_keeps_predictions(frame_model):
    df, model = frame_model
    small = compact(model, df)
    assert small.compaction_["hidden_after"][0] < 16  # units never active on X went
    np.testing.assert_allclose(small.predict(df), model.predict(df), rtol=0, atol=1e-5)
    with pytest.warns(UserWarning, match="valid feature names"):  # as predict warns
        numpy_small = compact(model, df.to_numpy())
    assert numpy_small.compaction_["hidden_after"] == small.compaction_["hidden_after"]


# --- finding 3: copies share no array with their input ----------------------------------------
def _arrays(model):
    out = [v for tree in (model.params_, model.state_) for layer in tree for v in layer.values()]
    out += list(getattr(model, "masks_", ()) or ())
    out += list(model.coefs_) + list(model.intercepts_)
    return [np.asarray(a) for a in out]


@pytest.fixture(scope="module")
def rich_model(data):
    """Batch norm (parameters and running statistics), an input gate, biases and masks."""
    X, y = data
    model = SparseMLPRegressor(
        (12, 8), batch_norm=True, penalty="hadamard_input", alpha=1e-3, learning_rate=1e-2,
        max_epochs=40, random_state=0,
    ).fit(X, y)  # fmt: skip
    pruned = prune(model, 0.3)
    assert "gate" in pruned.params_[0] and "scale" in pruned.params_[0]
    assert "mean" in pruned.state_[0] and pruned.masks_ is not None
    return pruned


@pytest.mark.parametrize("name", ["prune", "quantize", "retrain"])
def test_copies_share_no_array_with_their_input(data, rich_model, name):
    X, y = data
    make = {
        "prune": lambda m: prune(m, 0.4),
        "quantize": lambda m: quantize(m, 8),
        "retrain": lambda m: retrain(m, X, y, epochs=2, random_state=0),
    }[name]
    original = rich_model
    snapshot = [a.copy() for a in _arrays(original)]
    rows = X[:40]  # more than MAX_BATCH rows: the dense path, which reads params_ directly
    before, before_few = original.predict(rows), original.predict(X[:5])  # and the CSR path
    out = make(original)
    for a in _arrays(out):
        for b in _arrays(original):
            assert not np.shares_memory(a, b), name
    for a in _arrays(out):  # scribble over the copy
        if a.flags.writeable:
            a += 100.0
    np.testing.assert_array_equal(original.predict(rows), before)
    np.testing.assert_array_equal(original.predict(X[:5]), before_few)
    for a, b in zip(_arrays(original), snapshot, strict=True):
        np.testing.assert_array_equal(a, b)


# --- finding 6: divergence while retraining ---------------------------------------------------
def test_diverging_retraining_raises_divergence_error_with_fits_advice(data):
    X, y = data
    model = SparseMLPRegressor((8,), max_epochs=20, learning_rate=1e-2, random_state=0).fit(X, y)
    pruned = prune(model, 0.5).set_params(optimizer="sgd", learning_rate=1e3)
    advice = re.escape(f"Try {pruned._divergence_advice()}.")
    nan = r"training diverged at epoch \d+: the loss or the weights became NaN/inf\. "
    with pytest.raises(DivergenceError, match=r"^retrain: " + nan + advice):
        retrain(pruned, X, 100 * y, epochs=20)
    diverging = SparseMLPRegressor((8,), max_epochs=20, random_state=0).fit(X, y)
    diverging.set_params(optimizer="sgd", learning_rate=1e3)
    with pytest.raises(
        DivergenceError, match=r"^prune_schedule step 1 \(amount 0.3\), retrain: " + nan + advice
    ):
        prune_schedule(diverging, X, 100 * y, amounts=(0.3, 0.6), epochs=20)
    assert issubclass(DivergenceError, ArithmeticError)


def test_retraining_that_runs_away_with_finite_weights_is_stopped(data):
    """Adam's normalized steps keep the weights finite at learning_rate=1e3 while the fit runs
    away: retrain says so as fit does (no NaN/inf claim, no advice for a stronger penalty)."""
    X, y = data
    model = SparseMLPRegressor((8,), max_epochs=20, learning_rate=1e-2, random_state=0).fit(X, y)
    pruned = prune(model, 0.5).set_params(learning_rate=1e3)
    with pytest.raises(DivergenceError, match=r"^retrain: training diverged") as info:
        retrain(pruned, X, y, epochs=50)
    message = str(info.value)
    assert "smaller learning_rate (now 1000.0)" in message
    assert "NaN/inf" not in message and "stronger penalty" not in message


# --- finding 9: counts refuse booleans --------------------------------------------------------
def test_counts_refuse_booleans(data, regressor):
    X, y = data
    pruned = prune(regressor, 0.5)
    for epochs in (True, False, 2.0, 0):
        with pytest.raises(ValueError, match=r"epochs must be an integer >= 1, got"):
            retrain(pruned, X, y, epochs=epochs)
        with pytest.raises(ValueError, match=r"epochs must be an integer >= 1, got"):
            prune_schedule(regressor, X, y, amounts=(0.5,), epochs=epochs)
    assert retrain(pruned, X, y, epochs=np.int64(1)).masks_ is not None  # numpy integers pass
    for top in (True, 0, 2.5):
        with pytest.raises(ValueError, match=r"top must be an integer >= 1, got"):
            plot_feature_importances(np.arange(4.0), top=top)
    with pytest.raises(ValueError, match=r"max_batch must be an integer >= 0, got True"):
        SparseForward(pruned, max_batch=True)


# --- finding 10: compact's tolerance as documented --------------------------------------------
def test_compact_agrees_to_float32_rounding_as_documented(data):
    X, y = data
    text = " ".join(DOCS.read_text().split())
    assert "Predictions agree to float32 rounding (about 1e-6 relative;" in text
    assert "Predictions agree to 1e-6" not in text
    for act in ("leaky_relu", "sigmoid"):
        model = SparseMLPRegressor(
            (12, 8), activation=act, batch_norm=True, penalty="l1", alpha=3e-2,
            learning_rate=1e-2, max_epochs=100, random_state=0,
        ).fit(X, 5 * y)  # fmt: skip
        pruned = prune(model, 0.6)
        small = compact(pruned)
        assert small.compaction_["params_after"] < small.compaction_["params_before"]
        a, b = pruned.predict(X), small.predict(X)
        assert np.abs(a - b).max() <= 2e-6 * np.abs(a).max(), act
