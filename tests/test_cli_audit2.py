"""Regression tests for the second audit of the study framework, executors, reports and CLI."""

from __future__ import annotations

import json
import os
import pickle
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _cli_helpers import invoke, one_line_error, toy_frame
from sparsitylab.report import Report, Section, Table, render_html, render_markdown
from sparsitylab.studies import (
    DaskExecutor,
    InProcessExecutor,
    ProcessExecutor,
    Study,
    StudyError,
    Task,
    get_study,
    make_executor,
    run_study,
)


@pytest.fixture
def frame():
    return toy_frame("y")


def _csv(tmp_path, frame, name="d.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


# --- a study that needs no training ---------------------------------------------------------------
def _square(i, error=None):
    if error == "interrupt":
        raise KeyboardInterrupt
    if error == "value":
        raise ValueError("a task failed")
    return {"square": i * i}


def _squares(error=None, keys=None):
    """``squares``: one task per seed; ``error`` raised by task 1; ``keys`` overrides the keys."""

    def tasks(config, seeds):
        # list(range(...)) as the toy studies: a count like 10**21 fails at once (OverflowError)
        names = keys or [f"t/{i}" for i in list(range(seeds))]
        return [
            Task(k, _square, {"i": i, "error": error if i == 1 else None})
            for i, k in enumerate(names)
        ]

    def analyze(config, results):
        return Report("Squares", "One line.", metrics={"squares": results})

    return Study("squares", "Squares.", "none", tasks=tasks, analyze=analyze, seeds=2)


@pytest.fixture
def register(monkeypatch):
    """Offer a study to the command line for one test."""
    from sparsitylab import studies

    def add(study):
        monkeypatch.setitem(studies.STUDIES, study.name, study)
        return study

    return add


def _report_files(directory):
    return {n: (directory / n).read_bytes() for n in ("config.json", "metrics.json", "report.md")}


# --- 1: user text is never read as Rich markup ----------------------------------------------------
def test_names_with_brackets_are_printed_as_written(frame, tmp_path):
    folder = tmp_path / "dir[x]"
    folder.mkdir()
    data = _csv(folder, frame.rename(columns={"a": "price[usd]", "b": "x[/]"}))
    result = invoke("fit", data, "--target", "y")
    assert result.exit_code == 0, result.output
    assert "selected features (2 of 3): price[usd], x[/]" in result.output
    assert f"model saved: {folder / 'd.lasso.pkl'}" in result.output
    assert (folder / "d.lasso.pkl").exists()


def test_markup_in_error_messages_is_not_read(frame, tmp_path):
    data = _csv(tmp_path, frame)
    one_line_error(invoke("study", "[/]"), "unknown study '[/]'")
    one_line_error(invoke("fit", data, "--target", "[/x]"), "'[/x]'")
    one_line_error(invoke("fit", data, "--target", "[red]y"), "'[red]y'")
    text = _csv(tmp_path, frame.assign(**{"city[name]": ["p", "q"] * 20}), "s.csv")
    one_line_error(invoke("fit", text, "--target", "y"), "'city[name]'")


def test_study_paths_with_brackets_are_printed_as_written(register, tmp_path):
    register(_squares())
    out = tmp_path / "out[x]"
    result = invoke("study", "squares", "--out", out)
    assert result.exit_code == 0, result.output
    assert f"report: {out / 'squares' / 'report.html'}" in result.output.splitlines()


# --- 2 and 5: one run per folder; nothing deleted before every check passed -----------------------
def _wait(started, release, i):
    started.set()
    assert release.wait(20)
    return {"i": i}


def test_a_second_run_into_a_running_folder_is_refused(tmp_path):
    started, release = threading.Event(), threading.Event()

    def tasks(config, seeds):
        return [Task("wait", _wait, {"started": started, "release": release, "i": seeds})]

    study = Study("waits", "W.", "none", tasks=tasks, analyze=lambda c, r: Report("W", "w", []))
    first = {}
    thread = threading.Thread(target=lambda: first.update(paths=run_study(study, tmp_path)))
    thread.start()
    try:
        assert started.wait(20)
        directory = tmp_path / "waits"
        config = (directory / "config.json").read_bytes()
        with pytest.raises(StudyError, match=r"in use by another run \(pid \d+ on .*--out"):
            run_study(study, tmp_path, seeds=3)
        assert (directory / "config.json").read_bytes() == config  # the second run wrote nothing
    finally:
        release.set()
        thread.join(20)
    assert "paths" in first
    assert not (tmp_path / "waits" / ".lock").exists()  # released: the folder is free again
    run_study(study, tmp_path, seeds=3)


def test_a_locked_folder_is_one_line_and_keeps_its_report(register, tmp_path):
    register(_squares())
    assert invoke("study", "squares", "--out", tmp_path).exit_code == 0
    directory = tmp_path / "squares"
    before = _report_files(directory)
    lock = directory / ".lock"
    lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    result = invoke("study", "squares", "--out", tmp_path, "--seeds", "3")
    one_line_error(result, f"{directory} is in use by another run", "choose another --out")
    assert _report_files(directory) == before and lock.exists()


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its pid no longer runs
    directory = tmp_path / "squares"
    directory.mkdir()
    (directory / ".lock").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    paths = run_study(_squares(), tmp_path)
    assert json.loads(paths["metrics"].read_text())["squares"]["t/1"] == {"square": 1}
    assert not (directory / ".lock").exists()


@pytest.mark.parametrize(
    ("content", "holder"),
    [(json.dumps({"pid": 1, "host": "elsewhere.invalid"}), "pid 1 on elsewhere.invalid"),
     ("", "holder unknown")],
)  # fmt: skip
def test_a_lock_that_cannot_be_judged_stale_is_kept(tmp_path, content, holder):
    directory = tmp_path / "squares"
    directory.mkdir()
    (directory / ".lock").write_text(content)
    with pytest.raises(StudyError, match=rf"{holder}\).*delete .*\.lock"):
        run_study(_squares(), tmp_path)
    assert (directory / ".lock").read_text() == content


def test_a_failed_run_releases_its_lock(tmp_path):
    with pytest.raises(ValueError, match="a task failed"):
        run_study(_squares(error="value"), tmp_path)
    assert not (tmp_path / "squares" / ".lock").exists()


def test_huge_seeds_are_refused_before_the_report_is_deleted(register, tmp_path):
    register(_squares())
    assert invoke("study", "squares", "--out", tmp_path).exit_code == 0
    directory = tmp_path / "squares"
    before = _report_files(directory)
    result = invoke("study", "squares", "--out", tmp_path, "--seeds", 10**21)
    one_line_error(result, "--seeds must be between 1 and 10000")
    with pytest.raises(StudyError, match="--seeds"):
        run_study(_squares(), tmp_path, seeds=10**21)
    assert _report_files(directory) == before


def test_a_study_whose_tasks_are_wrong_deletes_nothing(tmp_path):
    run_study(_squares(), tmp_path)
    before = _report_files(tmp_path / "squares")
    with pytest.raises(StudyError, match="duplicate task keys"):
        run_study(_squares(keys=["same", "same"]), tmp_path, seeds=2)
    assert _report_files(tmp_path / "squares") == before


# --- 3: a Dask scheduler without usable workers ---------------------------------------------------
def test_a_scheduler_without_workers_fails_in_bounded_time():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as cluster:
        start = time.monotonic()
        with pytest.raises(StudyError, match=r"has no workers after 1 s: start some"):
            DaskExecutor(cluster.scheduler_address, worker_timeout=1.0)
        assert time.monotonic() - start < 10


_BLOCK_IMPORT = """
import sys

class _Block:
    def find_spec(self, name, path=None, target=None):
        if name == "sparsitylab" or name.startswith("sparsitylab."):
            raise ModuleNotFoundError(f"No module named {name!r}")

sys.meta_path.insert(0, _Block())
"""


def test_a_worker_that_cannot_import_sparsitylab_is_named(tmp_path):
    distributed = pytest.importorskip("distributed")
    block = tmp_path / "block_sparsitylab.py"
    block.write_text(_BLOCK_IMPORT)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
        preload=[str(block)],
    ) as cluster:  # fmt: skip
        with pytest.raises(
            StudyError, match=r"worker tcp://\S+ cannot import sparsitylab \(ModuleNotFoundError"
        ):
            DaskExecutor(cluster.scheduler_address, worker_timeout=10.0)


def test_a_client_with_a_worker_runs_tasks():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster,
        distributed.Client(cluster) as client,
    ):
        executor = DaskExecutor(client, worker_timeout=10.0)
        assert dict(executor.run([Task("t/3", _square, {"i": 3})])) == {"t/3": {"square": 9}}


# --- 4: --alpha, and arithmetic errors as one line ------------------------------------------------
@pytest.mark.parametrize("alpha", ["nan", "inf", "-inf", "1e400", "0", "-1"])
def test_alpha_must_be_positive_and_finite(frame, tmp_path, alpha):
    result = invoke("fit", _csv(tmp_path, frame), "--target", "y", "--alpha", alpha)
    one_line_error(result, "--alpha must be a positive finite number")


@pytest.mark.parametrize(
    "error",
    [OverflowError("(34, 'Numerical result out of range')"), ZeroDivisionError("division by zero"),
     MemoryError()],
)  # fmt: skip
def test_arithmetic_and_memory_errors_are_one_line(frame, tmp_path, monkeypatch, error):
    def fail(*args):
        raise error

    monkeypatch.setattr("sparsitylab.cli.lasso_certificate", fail)
    result = invoke("fit", _csv(tmp_path, frame), "--target", "y")
    one_line_error(result, type(error).__name__, str(error))


# --- 6: values too large to fit -------------------------------------------------------------------
def test_values_too_large_name_the_column(frame, tmp_path):
    data = _csv(tmp_path, frame.assign(big=frame.a * 1e200))
    one_line_error(invoke("fit", data, "--target", "y"), "column(s) big", "rescale")


# --- 7: targets that look like classes ------------------------------------------------------------
def test_a_two_valued_target_is_fitted_with_a_warning(frame, tmp_path):
    data = _csv(tmp_path, frame.assign(y=(frame.y > 0).astype(int)))
    result = invoke("fit", data, "--target", "y")
    assert result.exit_code == 0, result.output
    assert "warning: the target 'y' has only 2 distinct values" in result.output
    assert "not a classifier" in result.output


def test_a_boolean_target_is_fitted_with_a_warning(frame, tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "d.parquet"
    frame.assign(y=frame.y > 0).to_parquet(path)
    result = invoke("fit", path, "--target", "y")
    assert result.exit_code == 0, result.output
    assert "warning: the target 'y' is boolean" in result.output


def test_a_text_target_must_be_numeric(frame, tmp_path):
    data = _csv(tmp_path, frame.assign(y=np.where(frame.y > 0, "yes", "no")))
    result = invoke("fit", data, "--target", "y")
    one_line_error(result, "the target 'y' is not numeric", "regression")
    assert "one-hot" not in result.output


# --- 8: fit --seeds -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "fragment"),
    [(["--seeds", "0"], "--seeds must be at least 1"),
     (["--seeds", "-3", "--model", "mlp"], "--seeds must be at least 1"),
     (["--seeds", "3"], "--model mlp only"),
     (["--seeds", "2", "--model", "hadamard"], "--model mlp only")],
)  # fmt: skip
def test_fit_seeds_is_checked(frame, tmp_path, args, fragment):
    one_line_error(invoke("fit", _csv(tmp_path, frame), "--target", "y", *args), fragment)


# --- 9 and 11: interruptions and errors during a run are one line ---------------------------------
def test_interrupting_fit_does_not_suggest_resume(frame, tmp_path, monkeypatch):
    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr("sparsitylab.cli.read_table", interrupt)
    result = invoke("fit", _csv(tmp_path, frame), "--target", "y")
    one_line_error(result, "interrupted")
    assert result.exit_code == 130 and "--resume" not in result.output


def test_interrupting_a_study_suggests_resume_on_one_line(register, tmp_path):
    register(_squares(error="interrupt"))
    result = invoke("study", "squares", "--out", tmp_path)
    one_line_error(result, "interrupted (run again with --resume")
    assert result.exit_code == 130


def test_a_task_that_fails_is_one_line_without_a_progress_bar(register, tmp_path):
    register(_squares(error="value"))
    one_line_error(invoke("study", "squares", "--out", tmp_path), "ValueError: a task failed")


def test_resuming_with_other_options_names_the_difference(register, tmp_path):
    register(_squares())
    assert invoke("study", "squares", "--out", tmp_path).exit_code == 0
    result = invoke("study", "squares", "--out", tmp_path, "--seeds", "3", "--resume")
    one_line_error(result, "another configuration (seeds: 3 here, 2 on disk)")


# --- 10: file types and long column lists ---------------------------------------------------------
def test_other_file_types_are_refused_in_one_short_line(frame, tmp_path):
    path = tmp_path / "data.json"
    frame.to_json(path)
    result = invoke("fit", path, "--target", "y")
    one_line_error(result, "data.json", "CSV", "Parquet")
    assert len(result.output) < 200


def test_compressed_csv_is_read(frame, tmp_path):
    result = invoke("fit", _csv(tmp_path, frame, "d.csv.gz"), "--target", "y")
    assert result.exit_code == 0, result.output


def test_a_long_column_list_is_shortened(tmp_path):
    wide = pd.DataFrame(np.zeros((12, 60)), columns=[f"pixel{i}" for i in range(60)])
    result = invoke("fit", _csv(tmp_path, wide), "--target", "label")
    one_line_error(result, "pixel19, ... and 40 more")
    assert "pixel20" not in result.output


# --- 12: paths stay whole when piped --------------------------------------------------------------
def test_long_report_paths_are_not_folded(register, tmp_path):
    register(_squares())
    out = tmp_path / ("a" * 120)
    result = invoke("study", "squares", "--out", out)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"report: {out / 'squares' / 'report.html'}" in lines
    assert f"metrics: {out / 'squares' / 'metrics.json'}" in lines


# --- 13: executor options -------------------------------------------------------------------------
def test_an_empty_scheduler_address_is_refused(register, tmp_path):
    register(_squares())
    result = invoke("study", "squares", "--out", tmp_path, "--scheduler", "")
    one_line_error(result, "--scheduler needs an address")
    assert not (tmp_path / "squares").exists()


def test_processes_one_is_one_local_process():
    executor = make_executor(processes=1)
    assert isinstance(executor, ProcessExecutor) and executor.max_workers == 1
    assert isinstance(make_executor(), InProcessExecutor)


# --- 14: reports ----------------------------------------------------------------------------------
def test_markdown_cells_keep_one_row_per_line():
    frame = pd.DataFrame({"name": ["two\nlines", "a\r\nb", "<script>"], "n": [1, 2, 3]})
    md = render_markdown(Report("t", "s", [Section("S", [], [Table("T", frame)])]))
    rows = [line for line in md.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + 3
    assert "| two<br>lines | 1 |" in rows and "| a<br>b | 2 |" in rows
    assert "| &lt;script&gt; | 3 |" in rows


def test_code_spans_are_shown_as_written_in_html():
    html = render_html(Report("t", "use `x**2 + y**2` and **bold** *it*", []))
    assert "<code>x**2 + y**2</code>" in html
    assert "<strong>bold</strong>" in html and "<em>it</em>" in html


# --- 15: counts with their noun in the right number -----------------------------------------------
def _one_seed_results(name, config):
    """Results of one seed for the three toy studies (their analysis needs nothing else)."""
    one = {"test_mse": [0.1], "train_mse": [0.05], "weight_l1": [1.0]}
    if name == "ensembles-dropout":
        return {k: one for k in ("single", "ensemble", "bagging", "dropout")}
    if name == "sample-size":
        return {f"n/{n}": one for n in config["sizes"]}
    per_alpha = {f"{a:g}": one for a in config["alphas"]}
    return {"l2": per_alpha, "l1": per_alpha} | {f"width/{w}": one for w in config["widths"]}


@pytest.mark.parametrize(
    ("name", "phrase"),
    [("sample-size", "1 seed per n"), ("weight-penalty", "1 seed per alpha"),
     ("ensembles-dropout", "1 seed per model")],
)  # fmt: skip
def test_one_seed_is_singular_in_the_reports(name, phrase):
    from sparsitylab.studies import study_config

    study = get_study(name)
    config = study_config(study, quick=True, seeds=1)
    md = render_markdown(study.analyze(config, _one_seed_results(name, config)))
    assert phrase in md and "1 seeds" not in md


# --- 16: certify loads only what a model holds ----------------------------------------------------
class _Touch:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return Path.touch, (Path(self.path),)


class _NumpySave:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return np.save, (str(self.path), [1.0, 2.0])


@pytest.mark.parametrize("payload", [_Touch, _NumpySave])
def test_certify_refuses_a_pickle_that_is_not_a_model_before_running_it(tmp_path, payload):
    mark = tmp_path / "ran.npy"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"format": "sparsitylab-model-1", "x": payload(mark)}))
    one_line_error(invoke("certify", evil), "is not a model saved by `sparsitylab fit`")
    assert not mark.exists()


def test_certify_help_says_model_files_must_be_trusted():
    result = invoke("certify", "--help")
    assert result.exit_code == 0 and "pickle" in result.output and "trust" in result.output


# --- 17: the usage text names every option --------------------------------------------------------
def test_usage_text_and_docs_name_every_option():
    import typer.main

    import sparsitylab.cli as cli

    docs = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    group = typer.main.get_command(cli.app)
    for name, command in group.commands.items():
        for param in command.params:
            for option in (o for o in param.opts if o.startswith("--")):
                assert option in cli.__doc__, (name, option)
                assert option in docs, (name, option)
