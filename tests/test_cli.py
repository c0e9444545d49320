"""The command line: studies, fit, certify, and one-line errors on bad input."""

from __future__ import annotations

import json
import os
import pickle
import stat
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from _cli_helpers import invoke as _invoke
from _cli_helpers import one_line_error as _one_line_error


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 6))
    y = 3 * X[:, 0] - 2 * X[:, 2] + 0.1 * rng.standard_normal(120)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)]).assign(price=y)
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return path, frame


def test_studies_lists_every_study():
    from sparsitylab.studies import STUDIES

    result = _invoke("studies")
    assert result.exit_code == 0
    for name in STUDIES:
        assert name in result.output


def test_unknown_study():
    _one_line_error(_invoke("study", "no-such-study"), "unknown study", "boston")


def test_missing_file(tmp_path):
    _one_line_error(_invoke("fit", tmp_path / "missing.csv", "--target", "y"), "no such file")


def test_missing_target(table):
    path, _ = table
    _one_line_error(_invoke("fit", path, "--target", "nope"), "'nope'", "x0")


def test_non_numeric_column(table, tmp_path):
    _, frame = table
    path = tmp_path / "text.csv"
    frame.assign(city=["a", "b", "c"] * 40).to_csv(path, index=False)
    _one_line_error(_invoke("fit", path, "--target", "price"), "'city'", "not numeric")


def test_alpha_and_path_conflict(table):
    path, _ = table
    _one_line_error(_invoke("fit", path, "--target", "price", "--alpha", "0.1", "--path"), "either")


def test_fit_lasso_then_certify(table, tmp_path):
    path, _ = table
    model = tmp_path / "m.pkl"
    result = _invoke("fit", path, "--target", "price", "--alpha", "0.05", "--save", model)
    assert result.exit_code == 0, result.output
    assert "selected features" in result.output and "x0" in result.output
    assert "duality_gap" in result.output and model.exists()
    result = _invoke("certify", model)
    assert result.exit_code == 0, result.output
    assert "certified" in result.output


def test_fit_hadamard_parquet_path(table, tmp_path):
    pytest.importorskip("pyarrow")
    pytest.importorskip("sparsitylab.estimators.hadamard")
    _, frame = table
    path = tmp_path / "data.parquet"
    frame.to_parquet(path)
    model = tmp_path / "h.pkl"
    result = _invoke(
        "fit", path, "--target", "price", "--model", "hadamard", "--alpha", "0.05", "--save", model
    )
    assert result.exit_code == 0, result.output
    assert "certificate" in result.output
    assert _invoke("certify", model).exit_code == 0


def test_certify_rejects_other_files(tmp_path):
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"not a pickle")
    _one_line_error(_invoke("certify", junk), "not a model")
    _one_line_error(_invoke("certify", tmp_path / "none.pkl"), "no such file")


def test_study_command_writes_report(tmp_path):
    result = _invoke("study", "early-stopping", "--quick", "--seeds", "2", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    out = tmp_path / "early-stopping"
    for name in (
        "report.html",
        "report.md",
        "metrics.json",
        "config.json",
        "early_stopping_curves.png",
    ):
        assert (out / name).exists(), name
    assert json.loads((out / "config.json").read_text())["seeds"] == 2


def test_console_script_error_has_no_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "sparsitylab.cli", "fit", str(tmp_path / "x.csv"), "--target", "y"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and done.stderr.strip().startswith("error:")
    assert len(done.stderr.strip().splitlines()) == 1


def test_fit_path_then_certify(table, tmp_path):
    path, _ = table
    model = tmp_path / "p.pkl"
    result = _invoke("fit", path, "--target", "price", "--path", "--save", model)
    assert result.exit_code == 0, result.output
    result = _invoke("certify", model)
    assert result.exit_code == 0, result.output


def test_fit_title_on_one_line(table):
    path, _ = table
    result = _invoke("fit", path, "--target", "price", "--save", path.with_suffix(".pkl"))
    assert result.exit_code == 0, result.output
    assert "lasso on data.csv → price" in result.output


def test_save_into_directory_or_missing_folder(table, tmp_path):
    path, _ = table
    _one_line_error(_invoke("fit", path, "--target", "price", "--save", tmp_path), "directory")
    assert ".tmp" not in _invoke("fit", path, "--target", "price", "--save", tmp_path).output
    missing = tmp_path / "no" / "m.pkl"
    _one_line_error(_invoke("fit", path, "--target", "price", "--save", missing), "does not exist")
    assert not missing.parent.exists()


def test_saved_model_mode_follows_umask(table, tmp_path):
    path, _ = table
    model = tmp_path / "m.pkl"
    old = os.umask(0o022)
    try:
        assert _invoke("fit", path, "--target", "price", "--save", model).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(model.stat().st_mode) == 0o644


def test_infinite_values_name_the_column(table, tmp_path):
    _, frame = table
    path = tmp_path / "inf.csv"
    frame.assign(x3=frame.x3.where(frame.index != 5, np.inf)).to_csv(path, index=False)
    _one_line_error(_invoke("fit", path, "--target", "price"), "x3", "infinite")


def test_training_that_diverges_is_one_line(table, monkeypatch):
    from sparsitylab import SparseMLPRegressor
    from sparsitylab._errors import DivergenceError

    def diverge(self, X, y):
        raise DivergenceError("training diverged at epoch 3: try a smaller learning_rate")

    monkeypatch.setattr(SparseMLPRegressor, "fit", diverge)
    path, _ = table
    _one_line_error(_invoke("fit", path, "--target", "price", "--model", "mlp"), "diverged")


def _fit_mlp(path, model, *extra):
    result = _invoke("fit", path, "--target", "price", "--model", "mlp", "--save", model, *extra)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    r2 = float(next(line for line in lines if "r2" in line).split("│")[2])
    chosen = next(line for line in lines if line.startswith("selected features"))
    return r2, chosen, pickle.loads(model.read_bytes())


def test_fit_mlp_path_selects_the_informative_columns(table, tmp_path):
    path, frame = table
    r2, chosen, bundle = _fit_mlp(path, tmp_path / "m.pkl", "--path")
    # price = 3 x0 - 2 x2 + noise: the path keeps both, and the CV's alpha drops the others
    assert chosen.startswith("selected features (2 of 6): x0, x2"), chosen
    assert r2 > 0.95
    net = bundle["estimator"].regressor_
    assert bundle["alpha"] == net.alpha_ > 0
    assert list(net.selected_features_) == [0, 2]


def test_fit_mlp_is_invariant_to_the_target_units(table, tmp_path):
    # the network is fitted to the standardized target and the saved model predicts in the
    # target's own units: a target in other units gives the same fit, scaled
    path, frame = table
    r2, chosen, bundle = _fit_mlp(path, tmp_path / "a.pkl", "--path")
    big = tmp_path / "big.csv"
    frame.assign(price=frame.price * 1e6 + 5e7).to_csv(big, index=False)
    r2_big, chosen_big, bundle_big = _fit_mlp(big, tmp_path / "b.pkl", "--path")
    assert chosen_big == chosen and r2_big == pytest.approx(r2, abs=1e-4)
    X = bundle["X_train"][:5]
    np.testing.assert_allclose(
        bundle_big["estimator"].predict(X), bundle["estimator"].predict(X) * 1e6 + 5e7,
        rtol=1e-5,
    )  # fmt: skip


def test_fit_mlp_path_refuses_seeds(table):
    path, _ = table
    result = _invoke("fit", path, "--target", "price", "--model", "mlp", "--path", "--seeds", "3")
    _one_line_error(result, "--seeds")


def test_processes_and_tol_must_be_positive(table, tmp_path):
    _one_line_error(_invoke("study", "early-stopping", "--processes", "-1"), "--processes")
    _one_line_error(_invoke("study", "early-stopping", "--processes", "0"), "--processes")
    both = _invoke("study", "early-stopping", "--processes", "2", "--scheduler", "tcp://h:8786")
    _one_line_error(both, "not both")
    path, _ = table
    model = tmp_path / "m.pkl"
    assert _invoke("fit", path, "--target", "price", "--save", model).exit_code == 0
    for tol in ("-1", "0"):
        _one_line_error(_invoke("certify", model, "--tol", tol), "--tol")


def test_study_seeds_and_out_checked_before_any_work(tmp_path):
    _one_line_error(_invoke("study", "early-stopping", "--seeds", "0"), "--seeds")
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    result = _invoke("study", "early-stopping", "--quick", "--out", a_file)
    _one_line_error(result, "not a writable folder")
    assert "0/?" not in result.output  # no progress bar drawn before the error
