"""Regression tests for the audit of the CLI, the report renderer and two studies' claims."""

from __future__ import annotations

import os
import pickle
import re

import numpy as np
import pandas as pd
import pytest

from _cli_helpers import invoke as _invoke
from _cli_helpers import one_line_error as _one_line_error
from _cli_helpers import toy_frame
from sparsitylab.cli import MODEL_FORMAT


@pytest.fixture
def frame():
    return toy_frame("price")


# --- relu-vs-linear: every weight held non-negative ---------------------------------------------
def test_nonnegative_network_holds_every_weight_and_stays_above_nnls():
    from scipy.optimize import nnls

    from sparsitylab.diagnostics import collapse_nonnegative_relu
    from sparsitylab.studies.relu_linear import _half_sse, nonnegative_network

    rng = np.random.default_rng(0)
    X = rng.uniform(0.0, 1.0, (60, 3))
    y = -X.sum(1) + 0.05 * rng.standard_normal(60)  # least squares' slopes are all negative
    W, B = nonnegative_network(X, y, (3, 3), 300, 0.05, 0)
    assert min(w.min() for w in W) >= 0.0  # the output layer's weights too
    assert min(b.min() for b in B[:-1]) >= 0.0
    coef, icpt = collapse_nonnegative_relu((W, B))
    assert coef.min() >= 0.0
    xm, ym = X.mean(0), y.mean()
    beta, _ = nnls(X - xm, y - ym)
    nnls_loss = _half_sse((X - xm) @ beta + ym, y)
    net_loss = _half_sse(X @ coef[:, 0] + icpt[0], y)
    # a linear model with non-negative coefficients: never better than NNLS (here the mean)
    assert net_loss >= nnls_loss * (1 - 1e-9)
    A = np.column_stack([X, np.ones(len(X))])
    ls_loss = _half_sse(A @ np.linalg.lstsq(A, y, rcond=None)[0], y)
    assert net_loss > 10 * ls_loss


# --- vanishing-gradients: the number in the text is the metric it names ------------------------
def test_vanishing_text_states_the_ratio_difference():
    from sparsitylab.studies.vanishing import CONFIG, analyze, tasks

    config = {**CONFIG, "lengths": [5], "n_epochs": 3, "seeds": 2}
    results = {t.key: t.fn(**t.kwargs) for t in tasks(config, 2)}
    report = analyze(config, results)
    text = " ".join(t for s in report.sections for t in s.text)
    found = re.search(r"ratio \|dC/dw_1\| / \|dC/dw_last\| is (-?[\d.]+) decades larger", text)
    assert found, text
    assert float(found.group(1)) == round(report.metrics["sigmoid_below_relu_decades"][-1], 1)
    assert "first layer's gradient is" not in text


# --- report.md tables ---------------------------------------------------------------------------
def _separators(line):
    return len(re.findall(r"(?<!\\)\|", line))


def test_markdown_table_escapes_pipes_and_prints_zero():
    from sparsitylab.report import Report, Section, Table, render_markdown

    frame = pd.DataFrame({"log10 |a| / |b|": [-0.0, 1.5], "name": ["x|y", "z"]})
    md = render_markdown(Report("t", "s", [Section("S", [], [Table("T", frame)])]))
    lines = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert len(lines) == 4
    assert len({_separators(ln) for ln in lines}) == 1, lines
    assert _separators(lines[0]) == 3
    assert "\\|a\\|" in lines[0] and "x\\|y" in md
    assert lines[2].split("|")[1].strip() == "0"  # -0.0 prints as 0, not -0


def test_sd_over_seeds_is_the_sample_sd():
    from sparsitylab.studies._framework import mean_sd, sd_over_seeds

    a = np.array([[1.0, 2.0], [3.0, 5.0], [4.0, 11.0]])
    assert np.allclose(sd_over_seeds(a), [mean_sd(a[:, 0])[1], mean_sd(a[:, 1])[1]])
    assert np.allclose(sd_over_seeds(a), a.std(0, ddof=1))
    assert np.array_equal(sd_over_seeds(a[:1]), [0.0, 0.0])


# --- certify ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bundle",
    [
        {"format": MODEL_FORMAT},
        {"format": MODEL_FORMAT, "kind": "lasso", "estimator": None, "features": ["a"],
         "target": "y", "alpha": 0.1, "X_train": "oops", "y_train": [1.0, 2.0]},
        {"format": MODEL_FORMAT, "kind": "lasso", "estimator": None, "features": ["a"],
         "target": "y", "alpha": "0.1", "X_train": [[1.0], [2.0]], "y_train": [1.0, 2.0]},
    ],
)  # fmt: skip
def test_certify_incomplete_model_is_one_line(tmp_path, bundle):
    path = tmp_path / "partial.pkl"
    path.write_bytes(pickle.dumps(bundle))
    _one_line_error(_invoke("certify", path), "not a complete model")


def test_certify_still_certifies_a_fitted_model(frame, tmp_path):
    data, model = tmp_path / "d.csv", tmp_path / "m.pkl"
    frame.to_csv(data, index=False)
    assert _invoke("fit", data, "--target", "price", "--save", model).exit_code == 0
    result = _invoke("certify", model)
    assert result.exit_code == 0 and "certified" in result.output, result.output


# --- fit ----------------------------------------------------------------------------------------
def test_header_only_csv_reports_zero_rows(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("a,b,price\n")
    _one_line_error(_invoke("fit", path, "--target", "price"), "has 0 rows")


def test_one_row_is_singular(frame, tmp_path):
    path = tmp_path / "one.csv"
    frame.head(1).to_csv(path, index=False)
    _one_line_error(_invoke("fit", path, "--target", "price"), "has 1 row;")


def test_semicolon_separated_file_is_named(frame, tmp_path):
    path = tmp_path / "semi.csv"
    frame.to_csv(path, index=False, sep=";")
    _one_line_error(_invoke("fit", path, "--target", "price"), "';'-separated")


def test_a_semicolon_inside_a_quoted_name_of_a_comma_file_is_fine(frame, tmp_path):
    path = tmp_path / "names.csv"
    frame.rename(columns={"a": "a;b"}).to_csv(path, index=False)
    result = _invoke("fit", path, "--target", "price")
    assert result.exit_code == 0, result.output


def test_duplicate_headers_are_refused(frame, tmp_path):
    path = tmp_path / "dup.csv"
    frame.rename(columns={"c": "price"}).to_csv(path, index=False)
    _one_line_error(_invoke("fit", path, "--target", "price"), "duplicate", "price")


def test_index_column_is_refused(frame, tmp_path):
    path = tmp_path / "indexed.csv"
    frame.to_csv(path)  # index=True: an unnamed first column
    _one_line_error(_invoke("fit", path, "--target", "price"), "Unnamed: 0", "index=False")


def test_too_few_test_rows(frame, tmp_path):
    path = tmp_path / "twelve.csv"
    frame.head(12).to_csv(path, index=False)
    result = _invoke("fit", path, "--target", "price", "--test-size", "0.05")
    _one_line_error(result, "1 row of 12", "--test-size")
    assert "r2" not in result.output


def test_unwritable_save_folder_is_refused_before_fitting(frame, tmp_path, monkeypatch):
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    real_access = os.access
    if os.geteuid() == 0:  # root may write anywhere: act as an unprivileged user would see it
        monkeypatch.setattr(
            os,
            "access",
            lambda p, mode, **kw: False if str(p) == str(folder) else real_access(p, mode, **kw),
        )
    try:
        result = _invoke("fit", data, "--target", "price", "--save", folder / "m.pkl")
        _one_line_error(result, "not writable", str(folder))
        assert "test_mse" not in result.output
        assert not list(folder.iterdir())
    finally:
        folder.chmod(0o755)
