"""The study framework: declarative studies, executors for their runs, and resumable results.

A :class:`Study` is a description (name, one-line summary, the seed it reproduces, default number
of seeds, its configuration and the overrides of ``--quick``) plus two functions:

* ``tasks(config, seeds) -> list[Task]``: the independent runs (each a module-level function and
  its keyword arguments, returning JSON-like results: numbers, lists, dicts);
* ``analyze(config, results) -> Report``: the tables, figures and metrics, computed from the
  results only (so a resumed study gives the same report as an uninterrupted one).

:func:`run_study` writes ``config.json`` first, then runs the tasks through an :class:`Executor`
(in-process, local processes, or a Dask cluster) and appends each result to ``runs.jsonl`` as it
finishes (one line, flushed and synced). With ``resume=True`` the results already on disk are
kept and only the missing tasks run. Results go through a JSON round trip whether they were just
computed or read back, so both paths give identical numbers.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparsitylab.report import Report, to_jsonable, write_json, write_report

__all__ = [
    "Study",
    "Task",
    "Executor",
    "InProcessExecutor",
    "ProcessExecutor",
    "DaskExecutor",
    "StudyError",
    "make_executor",
    "run_study",
    "study_config",
]


class StudyError(RuntimeError):
    """A study cannot run as asked (unknown name, conflicting results on disk, ...)."""


@dataclass(frozen=True)
class Task:
    """One independent run: ``fn(**kwargs)``; ``key`` names it in ``runs.jsonl``."""

    key: str
    fn: Callable[..., Any]
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Study:
    name: str
    summary: str
    source: str
    tasks: Callable[[dict, int], list[Task]]
    analyze: Callable[[dict, dict], Report]
    config: dict = field(default_factory=dict)
    quick: dict = field(default_factory=dict)
    seeds: int = 10
    quick_seeds: int = 3


def study_config(study: Study, *, quick: bool = False, seeds: int | None = None) -> dict:
    """The exact configuration a run uses (written as ``config.json``)."""
    config = dict(study.config)
    if quick:
        config.update(study.quick)
    n = seeds if seeds is not None else (study.quick_seeds if quick else study.seeds)
    if n < 1:
        raise StudyError(f"--seeds must be at least 1, got {n}")
    return {"study": study.name, "quick": bool(quick), "seeds": int(n), **config}


def _call(fn, kwargs):
    return json.loads(json.dumps(to_jsonable(fn(**kwargs)), allow_nan=False))


# --- executors ----------------------------------------------------------------------------------
class Executor:
    """Runs tasks and yields ``(key, result)`` as each finishes (in any order)."""

    name = "base"

    def run(self, tasks: list[Task]) -> Iterator[tuple[str, Any]]:  # pragma: no cover
        raise NotImplementedError

    def close(self):
        pass


class InProcessExecutor(Executor):
    """In this process, one task after another (each task batches its seeds with ``vmap``)."""

    name = "in-process"

    def run(self, tasks):
        for task in tasks:
            yield task.key, _call(task.fn, task.kwargs)


class ProcessExecutor(Executor):
    """Local worker processes (``spawn``: each has its own JAX runtime)."""

    name = "processes"

    def __init__(self, max_workers: int | None = None):
        self.max_workers = max_workers or max(1, min(4, os.cpu_count() or 1))

    def run(self, tasks):
        import multiprocessing as mp

        pool = ProcessPoolExecutor(self.max_workers, mp_context=mp.get_context("spawn"))
        try:
            futures = {pool.submit(_call, t.fn, t.kwargs): t.key for t in tasks}
            for fut in as_completed(futures):
                try:
                    result = fut.result()
                except BrokenProcessPool as exc:  # every unfinished task sees it: name none
                    raise _worker_died(None, exc) from exc
                yield futures[fut], result
        finally:  # interrupted or failed: the queued tasks are dropped, not run
            pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor(Executor):
    """A Dask cluster: ``address`` of a running scheduler (``tcp://host:8786``) or a ``Client``."""

    name = "dask"

    def __init__(self, address, timeout: float = 10.0):
        try:
            from distributed import Client
        except ImportError as exc:  # pragma: no cover
            raise StudyError(
                "--scheduler needs dask.distributed: pip install 'sparsitylab[distributed]'"
            ) from exc
        if isinstance(address, Client):
            self.client, self._own = address, False
        else:
            self.client, self._own = _connect(Client, address, timeout), True

    def run(self, tasks):
        from distributed import KilledWorker
        from distributed import as_completed as dask_completed

        futures = {
            self.client.submit(
                _call, t.fn, t.kwargs, key=f"sparsitylab-{t.key}-{id(t)}", pure=False
            ): t.key
            for t in tasks
        }
        for fut in dask_completed(list(futures)):
            try:
                result = fut.result()
            except KilledWorker as exc:
                raise _worker_died(futures[fut], exc) from exc
            yield futures[fut], result

    def close(self):
        if self._own:
            self.client.close()


def _worker_died(key, exc) -> StudyError:
    running = "" if key is None else f" running task {key}"
    return StudyError(
        f"a worker process died{running} ({type(exc).__name__}: out of memory?); "
        "the finished tasks are kept: run again with --resume"
    )


def _connect(client_type, address, timeout: float):
    """``client_type(address)``, or a :class:`StudyError` within about ``2 * timeout`` seconds.

    ``Client(timeout=...)`` bounds opening the connection, not the handshake after it: a server
    that is not a Dask scheduler may accept and never answer (the client would wait forever) or
    answer bytes that fail to decode in any way. So the client is made in a daemon thread that
    is waited for a bounded time, and every failure becomes one line. A client that connects
    after the wait has ended is closed at once.
    """
    made: dict = {}
    lock = threading.Lock()

    def connect():
        try:
            client = client_type(address, timeout=f"{timeout}s")
        except Exception as exc:
            made["error"] = exc
            return
        with lock:
            if not made.get("abandoned"):
                made["client"] = client
                return
        client.close()

    thread = threading.Thread(target=connect, name="sparsitylab-dask-connect", daemon=True)
    thread.start()
    thread.join(2 * timeout)
    with lock:
        if "client" in made:
            return made["client"]
        made["abandoned"] = True
    exc = made.get("error")
    if exc is None:
        reason = f"no answer after {2 * timeout:g} s (is a Dask scheduler listening there?)"
    elif isinstance(exc, OSError | ValueError):
        reason = " ".join(str(exc).split())
    else:  # what a server that speaks another protocol makes the client do
        reason = f"it does not answer as a Dask scheduler ({type(exc).__name__})"
    raise StudyError(f"cannot reach the Dask scheduler at {address}: {reason}") from exc


def make_executor(scheduler: str | None = None, processes: int | None = None) -> Executor:
    """``scheduler`` address -> Dask; ``processes`` > 1 -> local processes; else in-process."""
    if scheduler:
        return DaskExecutor(scheduler)
    if processes and processes > 1:
        return ProcessExecutor(processes)
    return InProcessExecutor()


# --- running ------------------------------------------------------------------------------------
def _read_runs(path: Path) -> dict[str, Any]:
    """Complete lines of ``runs.jsonl``; a line cut short by an interruption, or any other line
    that is not a result, is skipped (its task runs again), never the lines after it."""
    done = {}
    if not path.exists():
        return done
    with path.open("rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                break
            try:
                entry = json.loads(raw)
                done[entry["key"]] = entry["result"]
            except (ValueError, TypeError, KeyError):  # not a line this module wrote
                continue
    return done


def _truncate_partial(path: Path) -> None:
    """Drop a trailing incomplete line so that appended lines start clean."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with path.open("r+b") as fh:
            fh.truncate(cut)


def run_study(
    study: Study,
    out,
    *,
    quick: bool = False,
    seeds: int | None = None,
    executor: Executor | None = None,
    resume: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Path]:
    """Run ``study`` into ``out/<name>/`` and return the paths of the files written.

    ``progress(done, total, key)`` is called after each finished task (and once at the start).
    """
    config = study_config(study, quick=quick, seeds=seeds)
    directory = Path(out) / study.name
    directory.mkdir(parents=True, exist_ok=True)
    config_path, runs_path = directory / "config.json", directory / "runs.jsonl"
    if resume and config_path.exists():
        try:
            previous = json.loads(config_path.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise StudyError(
                f"{config_path} is not a configuration this program wrote ({exc}); run without "
                "--resume to start over"
            ) from exc
        if previous != to_jsonable(config):
            raise StudyError(
                f"{directory} holds results of another configuration; resume with the "
                f"same options or choose another --out"
            )
    else:
        resume = False
    if not resume:  # a new run: no result or report of an earlier one stays beside its config
        for name in ("runs.jsonl", "metrics.json", "report.md", "report.html"):
            (directory / name).unlink(missing_ok=True)
    write_json(config_path, config)
    if resume:
        _truncate_partial(runs_path)
        done = _read_runs(runs_path)
    else:
        done = {}
    tasks = study.tasks(config, config["seeds"])
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        raise StudyError(f"study {study.name!r} has duplicate task keys")
    todo = [t for t in tasks if t.key not in done]
    executor = executor or InProcessExecutor()
    if progress:
        progress(len(tasks) - len(todo), len(tasks), "")
    if todo:
        with runs_path.open("ab") as fh:
            for key, result in executor.run(todo):
                line = json.dumps({"key": key, "result": result}, allow_nan=False) + "\n"
                fh.write(line.encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
                done[key] = result
                if progress:
                    progress(len(done), len(tasks), key)
    results = {k: done[k] for k in keys}
    report = study.analyze(config, results)
    report.config = to_jsonable(config)
    return write_report(report, directory)


def iter_seeds(n: int) -> Iterable[int]:
    return range(int(n))


# --- helpers shared by the studies' analysis functions ----------------------------------------
def count(n, word: str) -> str:
    """``"1 seed"``, ``"3 seeds"``: a count with its noun in the right number."""
    return f"{n} {word}{'' if int(n) == 1 else 's'}"


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value) of a list of numbers."""
    import numpy as np

    v = np.asarray(values, float)
    return float(v.mean()), float(sd_over_seeds(v))


def sd_over_seeds(values):
    """Sample standard deviation (ddof 1, as :func:`mean_sd`) along the first axis, the seeds;
    zeros for a single seed. For error bars labelled "mean ± sd over seeds"."""
    import numpy as np

    v = np.asarray(values, float)
    return v.std(axis=0, ddof=1) if len(v) > 1 else np.zeros(v.shape[1:])


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (studies never open windows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
