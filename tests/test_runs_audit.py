"""Runs of studies as a demanding user tests them: interruption, resume, executors, schedulers."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from typer.testing import CliRunner

from sparsitylab.cli import app
from sparsitylab.report import Report
from sparsitylab.studies import (
    DaskExecutor,
    ProcessExecutor,
    Study,
    StudyError,
    Task,
    run_study,
)


# --- a small study that needs no training --------------------------------------------------------
def _square(directory, i):
    """A task that leaves a mark (so a test can count the tasks that ran) and returns i^2."""
    Path(directory, f"ran-{i}-{time.monotonic_ns()}").touch()
    return {"square": i * i}


def _study(marks):
    def tasks(config, seeds):
        return [Task(f"t/{i}", _square, {"directory": str(marks), "i": i}) for i in range(seeds)]

    def analyze(config, results):
        return Report("Squares", "One line.", metrics={"squares": results})

    return Study("squares", "Squares.", "none", tasks=tasks, analyze=analyze)


def _ran(marks):
    return len(list(Path(marks).iterdir()))


def test_resume_skips_only_the_lines_that_are_not_results(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    study = _study(marks)
    reference = run_study(study, tmp_path / "a", seeds=4)["metrics"].read_bytes()
    runs = (tmp_path / "a" / "squares" / "runs.jsonl").read_text().splitlines(keepends=True)
    # a result, a line of another kind, a corrupt line, then two more results: t/1 is missing
    target = tmp_path / "a" / "squares" / "runs.jsonl"
    target.write_text(runs[0] + "null\n" + '{"key": "t/1", "resu\n' + runs[2] + runs[3])
    before = _ran(marks)
    paths = run_study(study, tmp_path / "a", seeds=4, resume=True)
    assert _ran(marks) - before == 1  # only t/1 ran again
    assert paths["metrics"].read_bytes() == reference


def test_a_new_run_leaves_no_earlier_report_beside_its_configuration(tmp_path, interrupting):
    marks = tmp_path / "marks"
    marks.mkdir()
    study = _study(marks)
    run_study(study, tmp_path, seeds=2)
    directory = tmp_path / "squares"
    assert (directory / "metrics.json").exists()
    with pytest.raises(KeyboardInterrupt):  # a new run with 3 seeds, interrupted
        run_study(study, tmp_path, seeds=3, executor=interrupting(after=1))
    assert json.loads((directory / "config.json").read_text())["seeds"] == 3
    for name in ("metrics.json", "report.md", "report.html"):  # the 2-seed report is gone
        assert not (directory / name).exists(), name
    paths = run_study(study, tmp_path, seeds=3, resume=True)
    assert json.loads(paths["metrics"].read_text())["squares"]["t/2"] == {"square": 4}


def _sleep_then_mark(directory, i):
    time.sleep(0.0 if i == 0 else 1.0)
    return _square(directory, i)


@pytest.mark.slow
def test_process_executor_stops_queued_tasks_when_the_run_stops(tmp_path):
    tasks = [
        Task(f"t/{i}", _sleep_then_mark, {"directory": str(tmp_path), "i": i}) for i in range(12)
    ]
    runs = ProcessExecutor(2).run(tasks)
    next(runs)  # the first result, then the consumer stops (an interrupt, a failed write)
    runs.close()
    time.sleep(2.0)
    assert _ran(tmp_path) < 12  # not every queued task runs after the stop


def _die(i):
    os._exit(3)  # a worker killed (out of memory, a signal)


def _nap(i):
    time.sleep(1.0)
    return i


def test_a_worker_that_dies_is_one_study_error():
    # every unfinished task of a broken pool fails alike: the message names none of them
    tasks = [
        Task("dies", _die, {"i": 0}),
        Task("waits", _nap, {"i": 0}),
    ]
    with pytest.raises(
        StudyError, match=r"worker process died \(BrokenProcessPool.*--resume"
    ) as err:
        list(ProcessExecutor(1).run(tasks))
    assert "running task" not in str(err.value)


@pytest.mark.slow
def test_a_dask_worker_that_dies_is_one_study_error():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        executor = DaskExecutor(cluster.scheduler_address)
        try:
            with pytest.raises(StudyError, match="worker process died running task dies"):
                list(executor.run([Task("dies", _die, {"i": 0})]))
        finally:
            executor.close()


# --- --scheduler at an address that is not a Dask scheduler -------------------------------------
def _server(reply: bytes):
    """A TCP server on localhost that answers every connection with ``reply`` and then nothing."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held = []

    def serve():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            held.append(conn)
            if reply:
                conn.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    return sock, f"tcp://127.0.0.1:{sock.getsockname()[1]}"


def test_a_server_that_never_answers_fails_in_bounded_time():
    pytest.importorskip("distributed")
    sock, address = _server(b"")
    try:
        start = time.monotonic()
        with pytest.raises(StudyError, match="cannot reach the Dask scheduler"):
            DaskExecutor(address, timeout=1.0)
        assert time.monotonic() - start < 10
    finally:
        sock.close()


def test_a_server_that_speaks_another_protocol_is_one_line(tmp_path):
    pytest.importorskip("distributed")
    sock, address = _server(b"HTTP/1.0 400 Bad Request\r\n\r\n")  # MemoryError in the client
    try:
        result = CliRunner().invoke(
            app, ["study", "sample-size", "--quick", "--out", str(tmp_path), "--scheduler", address]
        )
    finally:
        sock.close()
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    text = result.output.strip()
    assert text.startswith("error: cannot reach the Dask scheduler") and "\n" not in text, text


# --- sweep rows equal separate fits ---------------------------------------------------------------
def test_sweep_with_bootstrap_equals_separate_fits():
    import sparsitylab as sl

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X[:, 0] - X[:, 1] ** 2 + 0.1 * rng.normal(size=60)
    base = sl.SparseMLPRegressor(
        hidden_layer_sizes=(8,), max_epochs=30, learning_rate=1e-2, n_estimators=2, bootstrap=True
    )
    grid = {"random_state": [0, 1]}
    frame = sl.sweep(base, X, y, grid)
    for seed, est in zip(grid["random_state"], frame.attrs["estimators"], strict=True):
        alone = sl.SparseMLPRegressor(**{**base.get_params(), "random_state": seed}).fit(X, y)
        np.testing.assert_allclose(est.predict(X), alone.predict(X), rtol=1e-5, atol=1e-5)


def test_sweep_with_early_stopping_equals_separate_fits_and_cross_validate():
    # early stopping monitors a validation_fraction of each fold's training rows, as fit does:
    # not the scored fold (an optimistic val_score), nor, without cv, the training loss
    from sklearn.model_selection import KFold, cross_validate

    import sparsitylab as sl

    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 3))
    y = X[:, 0] - X[:, 1] ** 2 + 0.3 * rng.normal(size=90)
    base = sl.SparseMLPRegressor(
        hidden_layer_sizes=(8,), max_epochs=300, learning_rate=3e-2, early_stopping=True,
        patience=5, n_estimators=2, bootstrap=True, random_state=3,
    )  # fmt: skip
    alone = clone(base).fit(X, y)
    est = sl.sweep(base, X, y, {}).attrs["estimators"][0]
    assert est.n_iter_ == alone.n_iter_ < 300
    np.testing.assert_allclose(est.predict(X), alone.predict(X), rtol=1e-5, atol=1e-5)

    folds = KFold(3, shuffle=True, random_state=0)
    frame = sl.sweep(base, X, y, {}, cv=folds)
    ref = cross_validate(clone(base), X, y, cv=folds, return_estimator=True)
    np.testing.assert_allclose(frame["val_score"][0], ref["test_score"].mean(), rtol=1e-5)
    epochs = [e.n_iter_ for e in frame.attrs["estimators"][0]]
    assert epochs == [e.n_iter_ for e in ref["estimator"]]

    # a RandomState is copied for each fold, as cross_validate's clones copy it
    seeded = clone(base).set_params(random_state=np.random.RandomState(5))
    frame = sl.sweep(seeded, X, y, {}, cv=folds)
    ref = cross_validate(seeded, X, y, cv=folds)
    np.testing.assert_allclose(frame["val_score"][0], ref["test_score"].mean(), rtol=1e-5)


def _preallocate_setting(i):
    return os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE")


@pytest.mark.parametrize("parent, worker", [(None, "false"), ("true", "true")])
def test_process_workers_share_the_accelerator_unless_told_otherwise(monkeypatch, parent, worker):
    # JAX's default (75% of a GPU at a process's first computation) would leave the next worker
    # none; a setting the user made is passed through unchanged
    if parent is None:
        monkeypatch.delenv("XLA_PYTHON_CLIENT_PREALLOCATE", raising=False)
    else:
        monkeypatch.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", parent)
    results = dict(ProcessExecutor(1).run([Task("t", _preallocate_setting, {"i": 0})]))
    assert results == {"t": worker}


# --- quick runs compile fast ---------------------------------------------------------------------
def _compile_mode(i):
    from sparsitylab.engine.compilation import fast_requested

    return fast_requested()


def _mode_study():
    from sparsitylab.engine.compilation import fast_requested

    def analyze(config, results):
        return Report("Modes", "One line.", metrics={"task": results, "analyze": fast_requested()})

    tasks = lambda config, seeds: [Task("t", _compile_mode, {"i": 0})]  # noqa: E731
    return Study("modes", "Modes.", "none", tasks=tasks, analyze=analyze)


@pytest.mark.parametrize("quick", [False, True])
def test_quick_runs_compile_their_training_programs_fast_and_full_runs_do_not(tmp_path, quick):
    from sparsitylab.engine.compilation import fast_requested

    metrics = json.loads(run_study(_mode_study(), tmp_path, quick=quick)["metrics"].read_text())
    assert metrics == {"task": {"t": quick}, "analyze": quick}
    assert not fast_requested()  # the mode ends with the run


def test_a_task_keeps_its_compilation_mode_in_a_worker_process():
    # the mode is a context variable of this process: the task carries it to the worker
    tasks = [Task(f"t{f}", _compile_mode, {"i": 0}, fast_compile=f) for f in (False, True)]
    assert dict(ProcessExecutor(1).run(tasks)) == {"tFalse": False, "tTrue": True}
