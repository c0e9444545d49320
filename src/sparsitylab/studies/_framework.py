"""The study framework: declarative studies, executors for their runs, and resumable results.

A :class:`Study` is a description (name, one-line summary, the seed it reproduces, default number
of seeds, its configuration and the overrides of ``--quick``) plus two functions:

* ``tasks(config, seeds) -> list[Task]``: the independent runs (each a module-level function and
  its keyword arguments, returning JSON-like results: numbers, lists, dicts);
* ``analyze(config, results) -> Report``: the tables, figures and metrics, computed from the
  results only (so a resumed study gives the same report as an uninterrupted one).

:func:`open_run` checks everything first (options, tasks, the results on disk), then locks
``OUT/NAME`` against other runs (``.lock``, created atomically) and writes ``config.json``;
:meth:`StudyRun.execute` runs the tasks through an :class:`Executor` (in-process, local
processes, or a Dask cluster) and appends each result to ``runs.jsonl`` as it finishes (one line,
flushed and synced). :func:`run_study` does both. With ``resume=True`` the results already on
disk are kept and only the missing tasks run. Results go through a JSON round trip whether they
were just computed or read back, so both paths give identical numbers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sparsitylab.engine.compilation import fast_compilation
from sparsitylab.report import Report, to_jsonable, write_json, write_report

__all__ = [
    "Study",
    "Task",
    "Executor",
    "InProcessExecutor",
    "ProcessExecutor",
    "DaskExecutor",
    "StudyError",
    "StudyRun",
    "MAX_SEEDS",
    "check_executor_options",
    "make_executor",
    "open_run",
    "run_header",
    "run_study",
    "study_config",
]

MAX_SEEDS = 10_000  # far above any study's need; a typo (10**21) fails here, not mid-run
LOCK_NAME = ".lock"
_POLL_S = 0.2  # ProcessExecutor: longest wait before an interrupt is seen


class StudyError(RuntimeError):
    """A study cannot run as asked (unknown name, conflicting results on disk, ...)."""


@dataclass(frozen=True)
class Task:
    """One independent run: ``fn(**kwargs)``; ``key`` names it in ``runs.jsonl``. With
    ``fast_compile`` it runs inside :func:`~sparsitylab.engine.compilation.fast_compilation`
    (:func:`open_run` sets it for ``--quick`` runs, whose many short fits are mostly
    compilation)."""

    key: str
    fn: Callable[..., Any]
    kwargs: dict = field(default_factory=dict)
    fast_compile: bool = False


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
    if not 1 <= n <= MAX_SEEDS:
        raise StudyError(f"--seeds must be between 1 and {MAX_SEEDS}, got {n}")
    return {"study": study.name, "quick": bool(quick), "seeds": int(n), **config}


def run_header(study: Study, config: dict) -> str:
    """The report's line on its run: quick or full, seeds, sparsitylab's version and the command.

    Only what ``config.json`` fixes (no date, no host, no executor), so a resumed run and an
    uninterrupted one write the same report."""
    from sparsitylab import __version__

    quick, seeds = bool(config.get("quick")), int(config["seeds"])
    command = f"sparsitylab study {study.name}" + (" --quick" if quick else "")
    if seeds != (study.quick_seeds if quick else study.seeds):
        command += f" --seeds {seeds}"
    kind = "Full run"
    if quick:
        kind = "**Quick run** (`--quick`: smaller settings than the full study)"
    return f"{kind}, {count(seeds, 'seed')}, sparsitylab {__version__}: `{command}`."


def _call(task: Task):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(), fast_compilation(task.fast_compile):
        # a study trains for the budget its configuration states: reaching it is the protocol
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = task.fn(**task.kwargs)
    return json.loads(json.dumps(to_jsonable(result), allow_nan=False))


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
            yield task.key, _call(task)


class ProcessExecutor(Executor):
    """Local worker processes (``spawn``: each has its own JAX runtime).

    On a GPU the workers share the device: each takes memory as it needs it
    (``XLA_PYTHON_CLIENT_PREALLOCATE=false`` unless that variable is set), since JAX's default,
    75% of the device at a process's first computation, would leave the next worker none.

    The workers ignore SIGINT from their start (Ctrl-C signals the whole process group): this
    process alone handles the interrupt. When the run stops early (an interrupt, a failed task,
    the consumer closing the generator) the queued tasks are cancelled and the workers
    terminated, so the command ends at once and no worker prints a traceback.
    """

    name = "processes"

    def __init__(self, max_workers: int | None = None):
        self.max_workers = max_workers or max(1, min(4, os.cpu_count() or 1))

    def run(self, tasks):
        import multiprocessing as mp

        pool = ProcessPoolExecutor(
            self.max_workers, mp_context=mp.get_context("spawn"), initializer=_start_worker
        )
        futures: dict = {}
        finished = False
        try:
            with _sigint_blocked():  # the workers start here (spawned on submit)
                for t in tasks:
                    futures[pool.submit(_call, t)] = t.key
            pending = set(futures)
            while pending:
                # a bounded wait: Ctrl-C may reach another thread of this process (the progress
                # bar's), and Python runs the handler only when this thread wakes up
                done, pending = wait(pending, timeout=_POLL_S, return_when=FIRST_COMPLETED)
                for fut in done:
                    try:
                        result = fut.result()
                    except BrokenProcessPool as exc:  # every unfinished task sees it: name none
                        raise _worker_died(None, exc) from exc
                    yield futures[fut], result
            finished = True
        finally:
            if not finished:  # interrupted or failed: the queued tasks are dropped, not run,
                for fut in futures:
                    fut.cancel()
                _stop_workers(pool)  # and the running ones stopped (their results are lost)
            pool.shutdown(wait=True, cancel_futures=True)


def _start_worker():
    """Worker start, before any computation.

    * ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` unless set: JAX reads it when it opens the device;
    * SIGINT ignored: Ctrl-C in a terminal signals the whole process group, and a worker that
      received it would die with a traceback of its own; the parent process handles the
      interrupt and stops the workers (:func:`_stop_workers`).
    """
    _share_accelerator()
    if _can_mask_signals():
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # (a pending SIGINT is discarded)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _share_accelerator():
    """JAX takes device memory as it needs it, so that worker processes can share a GPU."""
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


def _can_mask_signals() -> bool:
    return hasattr(signal, "pthread_sigmask") and hasattr(signal, "SIGINT")


@contextlib.contextmanager
def _sigint_blocked():
    """SIGINT blocked in this thread while worker processes start: they inherit the mask, so a
    Ctrl-C during their start (before :func:`_start_worker` ignores it) cannot raise in them. A
    SIGINT that arrives meanwhile still interrupts this process (another thread receives it, or
    this one when the block ends)."""
    if not _can_mask_signals():  # Windows: no process-group SIGINT to guard against
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's worker processes (they ignore SIGINT, and a task may run for long)."""
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
    if terminate is not None:
        with contextlib.suppress(Exception):
            terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):  # already ended
            process.terminate()


class DaskExecutor(Executor):
    """A Dask cluster: ``address`` of a running scheduler (``tcp://host:8786``) or a ``Client``.

    The cluster must have a worker within ``worker_timeout`` seconds, and every worker must
    import sparsitylab (the tasks are its functions): otherwise a :class:`StudyError`, not a
    run that waits forever.
    """

    name = "dask"

    def __init__(self, address, timeout: float = 10.0, worker_timeout: float = 30.0):
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
        try:
            _check_workers(self.client, worker_timeout)
        except BaseException:
            self.close()
            raise

    def run(self, tasks):
        from distributed import KilledWorker
        from distributed import as_completed as dask_completed

        futures = {
            self.client.submit(_call, t, key=f"sparsitylab-{t.key}-{id(t)}", pure=False): t.key
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


def _check_workers(client, timeout: float) -> None:
    """At least one worker within ``timeout`` seconds, and every worker imports sparsitylab."""
    import importlib

    address = client.scheduler.address
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError:
        raise StudyError(
            f"the Dask scheduler at {address} has no workers after {timeout:g} s: start some "
            f"(dask worker {address}) and run again"
        ) from None
    answers = client.run(importlib.import_module, "sparsitylab", on_error="return")
    for worker, answer in sorted(answers.items()):
        if isinstance(answer, BaseException):
            raise StudyError(
                f"the Dask worker {worker} cannot import sparsitylab ({type(answer).__name__}: "
                f"{' '.join(str(answer).split())}): install it where the workers run"
            )


def check_executor_options(scheduler: str | None = None, processes: int | None = None) -> None:
    """Refuse what :func:`make_executor` cannot honour, before it connects anywhere."""
    if scheduler is not None and not scheduler.strip():
        raise StudyError("--scheduler needs an address, e.g. tcp://host:8786")
    if processes is not None and processes < 1:
        raise StudyError(f"--processes must be at least 1, got {processes}")
    if processes is not None and scheduler is not None:
        raise StudyError("give --scheduler (a Dask cluster) or --processes (local), not both")


def make_executor(scheduler: str | None = None, processes: int | None = None) -> Executor:
    """``scheduler`` address -> Dask; ``processes`` N -> N local worker processes (N = 1 too:
    the tasks then run away from this process); neither -> in-process."""
    check_executor_options(scheduler, processes)
    if scheduler is not None:
        return DaskExecutor(scheduler)
    if processes is not None:
        return ProcessExecutor(processes)
    return InProcessExecutor()


# --- results on disk ----------------------------------------------------------------------------
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


# --- the lock of a run folder --------------------------------------------------------------------
def _create_lock(path: Path) -> None:
    """Create ``path`` only if it does not exist (``O_EXCL``: one winner), naming this process."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w") as fh:
        json.dump({"pid": os.getpid(), "host": socket.gethostname()}, fh)


def _lock_owner(path: Path) -> dict | None:
    """``{"pid", "host"}`` of the lock's holder; ``{}`` if unreadable; None if it is gone."""
    try:
        owner = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    ok = (
        isinstance(owner, dict)
        and isinstance(owner.get("pid"), int)
        and owner["pid"] > 0
        and isinstance(owner.get("host"), str)
    )
    return owner if ok else {}


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill would end the process there: assume it runs
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _is_free(owner: dict | None) -> bool:
    """The lock is gone, or held by a process of this host that no longer runs."""
    if owner is None:
        return True
    return owner.get("host") == socket.gethostname() and not _pid_alive(owner["pid"])


def _busy(directory: Path, path: Path, owner: dict | None) -> StudyError:
    who = f"pid {owner['pid']} on {owner['host']}" if owner else "holder unknown"
    return StudyError(
        f"{directory} is in use by another run ({who}): wait for it to end or choose another "
        f"--out; if no run uses that folder, delete {path}"
    )


def _acquire_lock(directory: Path) -> Path:
    """Lock ``directory`` for this run, taking over a lock left by a dead run on this host."""
    path = directory / LOCK_NAME
    try:
        _create_lock(path)
        return path
    except FileExistsError:
        owner = _lock_owner(path)
    if not _is_free(owner):
        raise _busy(directory, path, owner)
    path.unlink(missing_ok=True)
    try:
        _create_lock(path)
    except FileExistsError:  # another run took it over first
        raise _busy(directory, path, _lock_owner(path)) from None
    return path


# --- running ------------------------------------------------------------------------------------
def _differences(previous: dict, config: dict) -> str:
    """``"seeds: 2 here, 3 on disk"``: the settings that differ (at most three)."""

    def show(d, key):
        return json.dumps(d[key]) if key in d else "unset"

    keys = [k for k in sorted(set(previous) | set(config)) if previous.get(k) != config.get(k)]
    parts = [f"{k}: {show(config, k)} here, {show(previous, k)} on disk" for k in keys[:3]]
    return "; ".join(parts) + ("; ..." if len(keys) > 3 else "")


def _previous_results(directory: Path, config: dict, resume: bool) -> dict[str, Any]:
    """The results a resumed run keeps (checked against ``config``); a new run deletes the
    previous run's results and report, so none stays beside its config."""
    config_path, runs_path = directory / "config.json", directory / "runs.jsonl"
    if not (resume and config_path.exists()):
        for name in ("runs.jsonl", "metrics.json", "report.md", "report.html"):
            (directory / name).unlink(missing_ok=True)
        return {}
    try:
        previous = json.loads(config_path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise StudyError(
            f"{config_path} is not a configuration this program wrote ({exc}); run without "
            "--resume to start over"
        ) from exc
    wanted = to_jsonable(config)
    if previous != wanted:
        differ = f" ({_differences(previous, wanted)})" if isinstance(previous, dict) else ""
        raise StudyError(
            f"{directory} holds results of another configuration{differ}; resume with the "
            "same options or choose another --out"
        )
    _truncate_partial(runs_path)
    return _read_runs(runs_path)


@dataclass
class StudyRun:
    """A run that :func:`open_run` checked and locked: :meth:`execute` runs what is missing."""

    study: Study
    config: dict
    directory: Path
    tasks: list[Task]
    done: dict[str, Any]

    def execute(
        self,
        executor: Executor | None = None,
        progress: Callable[[int, int, str], None] | None = None,
    ) -> dict[str, Path]:
        """Run the missing tasks, write the report; returns the paths of the files written.

        ``progress(done, total, key)`` is called after each finished task (and once at the start).
        """
        done, total = self.done, len(self.tasks)
        todo = [t for t in self.tasks if t.key not in done]
        executor = executor or InProcessExecutor()
        if progress:
            progress(total - len(todo), total, "")
        if todo:
            runs = executor.run(todo)
            with (self.directory / "runs.jsonl").open("ab") as fh, _closing(runs):
                for key, result in runs:
                    line = json.dumps({"key": key, "result": result}, allow_nan=False) + "\n"
                    fh.write(line.encode("utf-8"))
                    fh.flush()
                    os.fsync(fh.fileno())
                    done[key] = result
                    if progress:
                        progress(len(done), total, key)
        with fast_compilation(any(t.fast_compile for t in self.tasks)):  # as its tasks compile
            report = self.study.analyze(self.config, {t.key: done[t.key] for t in self.tasks})
        report.config = to_jsonable(self.config)
        report.header = run_header(self.study, self.config)
        return write_report(report, self.directory)


@contextlib.contextmanager
def _closing(runs):
    """Close the executor's generator however the loop ends (an interrupt, a failed write), so
    that it stops its workers at once rather than when it is collected."""
    try:
        yield runs
    finally:
        close = getattr(runs, "close", None)
        if close is not None:
            close()


@contextlib.contextmanager
def open_run(
    study: Study, out, *, quick: bool = False, seeds: int | None = None, resume: bool = False
) -> Iterator[StudyRun]:
    """Check the options and the tasks, lock ``out/<name>/``, check or clear what is on disk and
    write ``config.json``; nothing is deleted or written before every check passed. The lock is
    held until the block ends: a second run into the same folder is refused."""
    config = study_config(study, quick=quick, seeds=seeds)
    tasks = [replace(t, fast_compile=quick) for t in study.tasks(config, config["seeds"])]
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        raise StudyError(f"study {study.name!r} has duplicate task keys")
    directory = Path(out) / study.name
    directory.mkdir(parents=True, exist_ok=True)
    lock = _acquire_lock(directory)
    try:
        done = _previous_results(directory, config, resume)
        write_json(directory / "config.json", config)
        yield StudyRun(study, config, directory, tasks, done)
    finally:
        lock.unlink(missing_ok=True)


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
    with open_run(study, out, quick=quick, seeds=seeds, resume=resume) as run:
        return run.execute(executor, progress)


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
