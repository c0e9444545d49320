"""Regression tests for the third audit of the command line (audit B: a new user's side)."""

from __future__ import annotations

import io
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from sklearn.model_selection import train_test_split

from _cli_helpers import invoke, one_line_error, one_line_usage_error, toy_frame, write_csv

DOCS = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


@pytest.fixture
def frame():
    return toy_frame("y")


# --- B2: --save never replaces the data ----------------------------------------------------------
def test_save_onto_the_input_file_is_refused_and_the_data_kept(frame, tmp_path):
    data = write_csv(tmp_path, frame)
    before = data.read_bytes()
    result = invoke("fit", data, "--target", "y", "--save", data)
    one_line_error(result)
    assert result.output == (
        f"error: --save {data} is the input file; choose another name (e.g. "
        f"{tmp_path / 'd.lasso.pkl'})\n"
    )
    # the same file by another spelling
    other = tmp_path / "sub" / ".." / "d.csv"
    (tmp_path / "sub").mkdir()
    one_line_error(invoke("fit", data, "--target", "y", "--save", other), "is the input file")
    assert data.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "sub"]


@pytest.mark.parametrize("name", ["other.csv", "other.csv.gz", "other.parquet", "other.xlsx"])
def test_save_onto_another_data_file_is_refused(frame, tmp_path, name):
    data = write_csv(tmp_path, frame)
    victim = tmp_path / name
    victim.write_bytes(b"precious data")
    result = invoke("fit", data, "--target", "y", "--save", victim)
    ending = name[len("other") :]
    one_line_error(result, f"--save {victim} would overwrite a data file ({ending})")
    assert victim.read_bytes() == b"precious data"


# --- B3: a constant target, a constant held-out part ---------------------------------------------
def test_a_constant_target_is_refused(frame, tmp_path):
    data = write_csv(tmp_path, frame.assign(y=5.0))
    result = invoke("fit", data, "--target", "y", "--model", "hadamard")
    one_line_error(result)
    assert result.output == (
        "error: the target 'y' has a single value (5) in all 40 rows; there is nothing to fit\n"
    )
    assert not (tmp_path / "d.hadamard.pkl").exists()


def test_r2_of_a_constant_held_out_part_is_not_defined(frame, tmp_path):
    _, test = train_test_split(np.arange(len(frame)), test_size=0.2, random_state=42)
    y = frame.y.to_numpy().copy()
    y[test] = 1.0  # every held-out row has the same target; the training rows vary
    data = write_csv(tmp_path, frame.assign(y=y))
    result = invoke("fit", data, "--target", "y")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "test_r2" in line)
    cells = [c.strip() for c in row.split("│")[1:-1]]
    assert cells == ["test_r2", "n/a", "not defined: the 8 held-out targets are all equal"]
    bundle = pickle.loads((tmp_path / "d.lasso.pkl").read_bytes())
    assert bundle["metrics"]["test_r2"] is None


# --- D1: usage errors are one line ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "command", "message"),
    [(["fit", "d.csv", "--target", "y", "--alpha", "abc"], "sparsitylab fit",
      r"Invalid value for '--alpha': [^\n]+"),
     (["fit", "d.csv", "--target", "y", "--model", "foo"], "sparsitylab fit",
      r"Invalid value for '--model': [^\n]*'foo'[^\n]*"),
     (["fit", "d.csv"], "sparsitylab fit", re.escape("Missing option '--target'.")),
     (["study"], "sparsitylab study", re.escape("Missing argument 'NAME'.")),
     (["study", "boston", "--quick", "true"], "sparsitylab study",
      re.escape("Got unexpected extra argument(s) (true)")),
     (["certify"], "sparsitylab certify", re.escape("Missing argument 'MODEL'.")),
     (["fti"], "sparsitylab", re.escape("No such command 'fti'. Did you mean 'fit'?")),
     (["--bogus"], "sparsitylab", re.escape("No such option: --bogus"))],
)  # fmt: skip
def test_usage_errors_are_one_line(args, command, message):
    one_line_usage_error(invoke(*args), command, message)


def test_console_script_usage_error_is_one_line_and_help_still_works():
    cmd = [sys.executable, "-m", "sparsitylab.cli"]
    done = subprocess.run([*cmd, "certify", "m.pkl", "--tol", "x"], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert re.fullmatch(
        r"error: Invalid value for '--tol': .+ \(see .*certify --help\)\n", done.stderr
    ), done.stderr
    done = subprocess.run([*cmd, "certify", "--help"], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0 and "Usage: python -m sparsitylab.cli certify" in done.stdout


# --- C1 and C2: help texts ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("command", "usage"),
    [([], "sparsitylab [OPTIONS] COMMAND [ARGS]..."),
     (["study"], "sparsitylab study [OPTIONS] NAME"),
     (["fit"], "sparsitylab fit [OPTIONS] DATA"),
     (["certify"], "sparsitylab certify [OPTIONS] MODEL")],
)  # fmt: skip
def test_help_shows_no_type_after_flags_and_no_braces(command, usage):
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert f"Usage: {usage}" in result.output
    assert "<bool>" not in result.output and "{" not in result.output
    flags = [line for line in result.output.splitlines() if re.search(r"--(help|quick)\b", line)]
    assert flags and all(re.search(r"--\w+\s+[A-Z]", line) for line in flags), flags


def test_help_paragraphs_have_no_hard_line_breaks(monkeypatch):
    import typer.main
    import typer.rich_utils

    import sparsitylab.cli as cli

    group = typer.main.get_command(cli.app)
    for name, command in group.commands.items():
        for paragraph in command.help.split("\n\n"):
            assert "\n" not in paragraph, (name, paragraph)
    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", 400)
    result = invoke("certify", "--help")
    assert result.exit_code == 0
    lines = [" ".join(line.split()) for line in result.output.splitlines()]
    assert (
        "A model file is a pickle, and loading a pickle can run code: certify only files you "
        "trust (ones you saved with `sparsitylab fit`). Names from outside numpy, SciPy, "
        "scikit-learn and sparsitylab are refused before they load, which narrows but does not "
        "remove the risk."
    ) in lines


# --- C3: every bad column at once, and advice that fits -------------------------------------------
def test_every_bad_column_is_named_in_one_line(frame, tmp_path):
    bad = frame.assign(
        species=["a", "b", "c", "d"] * 10,
        city=["paris", "rome"] * 20,
        miss=np.where(np.arange(40) % 7 == 0, np.nan, 1.0),
    )
    result = invoke("fit", write_csv(tmp_path, bad), "--target", "y")
    one_line_error(result)
    assert result.output == (
        "error: columns 'species', 'city' are not numeric; encode them first (e.g. one-hot "
        "columns) or drop them; missing values in column(s) miss; impute or drop them first\n"
    )


def test_stray_text_in_a_numeric_column_names_a_cell(frame, tmp_path):
    a = frame.a.astype(object)
    a[3] = "n/a?"
    a[9] = "?"
    result = invoke("fit", write_csv(tmp_path, frame.assign(a=a)), "--target", "y")
    one_line_error(result)
    assert result.output == (
        "error: column 'a' (e.g. data row 4: 'n/a?', 2 such cells) has cells that are not "
        "numbers; correct them or drop those rows\n"
    )


def test_missing_target_values_advise_dropping_the_rows(frame, tmp_path):
    y = frame.y.copy()
    y[[3, 11]] = np.nan
    result = invoke("fit", write_csv(tmp_path, frame.assign(y=y)), "--target", "y")
    one_line_error(result)
    assert result.output == (
        "error: the target 'y' has missing values (data rows 4, 12); drop those rows first (an "
        "imputed target would be fitted as if it were measured)\n"
    )


# --- C4: the default model path ------------------------------------------------------------------
def test_default_model_path_drops_every_data_suffix(frame, tmp_path):
    data = write_csv(tmp_path, frame, "d.csv.gz")
    result = invoke("fit", data, "--target", "y", "--model", "hadamard")
    assert result.exit_code == 0, result.output
    assert f"model saved: {tmp_path / 'd.hadamard.pkl'}" in result.output.splitlines()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv.gz", "d.hadamard.pkl"]


def test_replacing_a_default_model_is_announced(frame, tmp_path):
    pytest.importorskip("pyarrow")
    csv = write_csv(tmp_path, frame)
    frame.assign(y=-frame.y).to_parquet(tmp_path / "d.parquet")
    first = invoke("fit", csv, "--target", "y")
    assert first.exit_code == 0 and "warning" not in first.output
    result = invoke("fit", tmp_path / "d.parquet", "--target", "y")
    assert result.exit_code == 0, result.output
    model = tmp_path / "d.lasso.pkl"
    assert result.stderr == (
        f"warning: replacing {model}, an earlier model (perhaps of another file named d.*); give "
        "--save to keep both\n"
    )
    assert pickle.loads(model.read_bytes())["estimator"].coef_[0] < 0  # the parquet's model


# --- C5: --path: lasso and hadamard choose the same alpha -----------------------------------------
def test_lasso_and_hadamard_paths_choose_the_same_alpha(frame, tmp_path):
    pytest.importorskip("sparsitylab.estimators.hadamard")
    rng = np.random.default_rng(3)
    noisy = frame.assign(y=frame.y + rng.standard_normal(40), d=rng.standard_normal(40))
    data = write_csv(tmp_path, noisy)
    alphas = {}
    for model in ("lasso", "hadamard"):
        save = tmp_path / f"{model}.pkl"
        result = invoke("fit", data, "--target", "y", "--model", model, "--path", "--save", save)
        assert result.exit_code == 0, result.output
        alphas[model] = pickle.loads(save.read_bytes())["alpha"]
    assert alphas["lasso"] == alphas["hadamard"]
    # the common grid: 100 values from alpha_max down to 1e-3 alpha_max
    grid = pickle.loads((tmp_path / "hadamard.pkl").read_bytes())["estimator"].alphas_
    assert len(grid) == 100 and grid[-1] == pytest.approx(1e-3 * grid[0])


# --- C6: what the numbers are ---------------------------------------------------------------------
def _certificate_fields(output):
    line = next(line for line in output.splitlines() if line.startswith("certificate: "))
    return re.findall(r"(?:^certificate: |, )([a-z_]+) ", line)


@pytest.mark.parametrize("model", ["lasso", "hadamard"])
def test_fit_labels_held_out_metrics_and_prints_signed_coefficients(frame, tmp_path, model):
    data = write_csv(tmp_path, frame)
    result = invoke("fit", data, "--target", "y", "--model", model)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    rows = {
        cells[0]: cells[1:]
        for cells in ([c.strip() for c in line.split("│")[1:-1]] for line in lines)
        if cells
    }
    assert rows["test_mse"][1] == "on the 8 held-out rows"
    assert rows["test_r2"][1] == "on the same 8 held-out rows"
    assert rows["n_test"] == ["8", "rows held out (--test-size 0.2)"]
    coef = pickle.loads((tmp_path / f"d.{model}.pkl").read_bytes())["estimator"].coef_
    assert coef[0] > 0 > coef[1]  # y = 2a - b + noise
    line = next(line for line in lines if line.startswith("coefficients ("))
    assert line.startswith(
        "coefficients (change in 'y' per training standard deviation of the feature): "
        f"a {coef[0]:+.4g}, b {coef[1]:+.4g}"
    )
    objective = next(line for line in lines if line.startswith("objective: "))
    assert "alpha ||b||_1" in objective and "n = 32 training rows" in objective
    docs = DOCS.read_text()
    for field in _certificate_fields(result.output):
        assert f"`{field}`" in docs, field


def test_mlp_prints_first_layer_group_norms(frame, tmp_path):
    from sparsitylab.estimators.path import effective_first_layer

    data = write_csv(tmp_path, frame)
    result = invoke("fit", data, "--target", "y", "--model", "mlp")
    assert result.exit_code == 0, result.output
    net = pickle.loads((tmp_path / "d.mlp.pkl").read_bytes())["estimator"].regressor_
    norms = np.sqrt((np.asarray(effective_first_layer(net.params_), float) ** 2).sum(2))[0]
    assert norms.shape == (3,)  # one member, not compacted: rows are the columns a, b, c
    kept = [n for j, n in enumerate("abc") if norms[j] > 0]
    shown = ", ".join(f"{n} {norms['abc'.index(n)]:.4g}" for n in kept)
    assert (
        "first-layer group norms (L2 norm of each feature's input weights, standardized "
        f"inputs): {shown}"
    ) in result.output.splitlines()


# --- C7: extreme target values --------------------------------------------------------------------
def test_an_extreme_target_value_is_named(frame, tmp_path):
    y = frame.y.copy()
    y[7] = 1e4
    result = invoke("fit", write_csv(tmp_path, frame.assign(y=y)), "--target", "y")
    assert result.exit_code == 0, result.output
    warning = result.stderr.splitlines()
    assert len(warning) == 1
    assert re.fullmatch(
        r"warning: the target 'y' has extreme values \(data row 8: 10000, \d+ robust sds from "
        r"the median \S+\); the fit is least squares, so such rows weigh heavily: check "
        r"them",
        warning[0],
    ), warning
    clean = write_csv(tmp_path, frame, "clean.csv")
    assert invoke("fit", clean, "--target", "y").stderr == ""


# --- C8: certify's tolerance ----------------------------------------------------------------------
@pytest.fixture
def lasso_model(frame, tmp_path):
    model = tmp_path / "m.pkl"
    result = invoke("fit", write_csv(tmp_path, frame), "--target", "y", "--save", model)
    assert result.exit_code == 0, result.output
    return model


def test_a_tolerance_below_rounding_is_refused(lasso_model):
    result = invoke("certify", lasso_model, "--tol", "1e-20")
    one_line_error(result)
    assert result.output == (
        "error: --tol 1e-20 is below float64 rounding: relative duality gaps under about 1e-14 "
        "cannot be told apart from 0; give --tol 1e-14 or more\n"
    )


def test_a_gap_at_rounding_level_is_not_blamed_on_the_model(lasso_model, monkeypatch):
    import sparsitylab.cli as cli

    real = cli.lasso_certificate
    monkeypatch.setattr(cli, "lasso_certificate", lambda *a: {**real(*a), "duality_gap": 3e-14})
    result = invoke("certify", lasso_model, "--tol", "1e-14")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: relative duality gap 3e-14 exceeds 1e-14: not certified at this tolerance; a gap "
        "this small is float64 rounding, so the coefficients are the Lasso solution to machine "
        "precision: raise --tol\n"
    )


def test_a_wrong_model_is_not_certified(lasso_model):
    bundle = pickle.loads(lasso_model.read_bytes())
    bundle["estimator"].coef_ = bundle["estimator"].coef_ * 1.5
    lasso_model.write_bytes(pickle.dumps(bundle))
    result = invoke("certify", lasso_model)
    assert result.exit_code == 1
    assert re.fullmatch(
        r"error: relative duality gap \S+ exceeds 1e-06: not certified at this tolerance; the "
        r"saved coefficients are not the Lasso solution to this accuracy\n",
        result.stderr,
    ), result.stderr


# --- C9: studies on one line each; --out naming a file --------------------------------------------
def test_studies_prints_one_line_per_study_when_piped():
    from sparsitylab.studies import STUDIES

    result = invoke("studies")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == list(STUDIES)
    for line, study in zip(lines, STUDIES.values(), strict=True):
        assert study.summary in line and line.endswith(f"[source: {study.source}]")


def test_studies_lines_are_cut_to_a_narrow_terminal(monkeypatch):
    import sparsitylab.cli as cli
    from sparsitylab.studies import STUDIES

    screen = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=screen, force_terminal=True, width=60))
    assert invoke("studies").exit_code == 0
    lines = re.sub(r"\x1b\[[0-9;]*m", "", screen.getvalue()).splitlines()
    assert len(lines) == len(STUDIES)
    assert all(len(line) <= 60 for line in lines) and lines[0].endswith("…")


def test_out_naming_a_file_says_it_is_a_file(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("keep")
    result = invoke("study", "early-stopping", "--quick", "--out", afile)
    one_line_error(result)
    assert result.output == (
        f"error: --out {afile} is not a writable folder: it is a file; give a folder (a missing "
        "one is created)\n"
    )
    result = invoke("study", "early-stopping", "--quick", "--out", afile / "sub")
    one_line_error(result, f"{afile} is a file")
    assert afile.read_text() == "keep"


# --- R5: --version --------------------------------------------------------------------------------
def test_version():
    from sparsitylab import __version__

    result = invoke("--version")
    assert result.exit_code == 0
    assert result.output == f"sparsitylab {__version__}\n"


# --- Python warnings raised by a command are one line each -------------------------------------
def test_a_python_warning_is_one_warning_line(capsys):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from sparsitylab.cli import _guard

    def noisy():
        warnings.warn(
            "stopped at max_epochs=3\n  while improving", ConvergenceWarning, stacklevel=1
        )
        return 7

    with warnings.catch_warnings():
        warnings.simplefilter("always")  # as outside the test suite, which ignores this one
        before = warnings.showwarning
        assert _guard(noisy) == 7
        assert warnings.showwarning is before  # put back once the command is done
    err = capsys.readouterr().err
    assert err == "warning: stopped at max_epochs=3 while improving (ConvergenceWarning)\n"
