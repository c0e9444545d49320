"""Audit B of the studies and reports: Ctrl-C with worker processes, every stated number in
metrics.json, the reports' wording (topology, boston, feature-selection, early-stopping) and
the run header of every report."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sparsitylab
from sparsitylab.report import Report, Section, render_html, render_markdown
from sparsitylab.studies import ProcessExecutor, Study, Task, get_study, run_study

# --- B1: Ctrl-C (SIGINT to the process group) during `study --processes N` -----------------------
_SLEEPY = """
import os
import time
from pathlib import Path

from sparsitylab.report import Report
from sparsitylab.studies import Study, Task

MARKS = {marks!r}


def work(i):
    Path(MARKS, f"ran-{{i}}").touch()
    if i > 0:
        time.sleep(600)  # far longer than the test waits: the worker must be stopped
    return {{"i": i}}


def tasks(config, seeds):
    return [Task(f"t/{{i}}", work, {{"i": i}}) for i in range(seeds)]


STUDY = Study("sleepy", "Sleeps.", "none", tasks=tasks,
              analyze=lambda config, results: Report("Sleepy", "s", []), seeds=2)
"""

# A shell that runs the suite as a background job starts it with SIGINT ignored, and a child
# inherits that (Python then installs no KeyboardInterrupt handler): the scripts below restore
# what a terminal gives a command.
_RUN_CLI = """
import signal
import sys

signal.signal(signal.SIGINT, signal.default_int_handler)

import sleepy_tasks
from sparsitylab import studies
from sparsitylab.cli import app

studies.STUDIES["sleepy"] = sleepy_tasks.STUDY
app(["study", "sleepy", "--processes", "2", "--out", sys.argv[1]], prog_name="sparsitylab")
"""


def _group(pgid: int) -> list[int]:
    """The processes of process group ``pgid`` that still run (zombies have ended)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # ended meanwhile
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs POSIX groups and /proc")
def test_ctrl_c_with_worker_processes_prints_one_line_and_stops_the_workers(tmp_path):
    marks, out = tmp_path / "marks", tmp_path / "out"
    marks.mkdir()
    (tmp_path / "sleepy_tasks.py").write_text(_SLEEPY.format(marks=str(marks)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    # its own process group, as a command started from a terminal: Ctrl-C signals all of it
    proc = subprocess.Popen(
        [sys.executable, "-c", _RUN_CLI, str(out)], env=env, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        runs = out / "sleepy" / "runs.jsonl"
        deadline = time.monotonic() + 180
        # t/0 finished and is on disk: its worker waits for more work, the other one sleeps
        while not (runs.exists() and runs.read_text().count("\n") >= 1):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the first task never finished"
            time.sleep(0.1)
        while not (marks / "ran-1").exists():  # t/1 sleeps in a worker, the other one waits
            assert time.monotonic() < deadline, "the second task never started"
            time.sleep(0.1)
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)  # not the 600 s the sleeping task wants
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert stderr == "error: interrupted (run again with --resume to continue)\n", stderr
    deadline = time.monotonic() + 20  # (multiprocessing's resource tracker ends just after)
    while _group(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _group(proc.pid) == []  # the workers were stopped, not left sleeping
    assert runs.read_text().count("\n") == 1  # the finished task is kept for --resume


_INTERRUPT_ANOTHER_THREAD = """
import signal
import threading
import time

signal.signal(signal.SIGINT, signal.default_int_handler)

import sleepy_tasks
from sparsitylab.studies import ProcessExecutor, Task


def poke():  # SIGINT to this thread: the main one, waiting for the sleeping task, must see it
    time.sleep(2.0)
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)


threading.Thread(target=poke, daemon=True).start()
try:
    list(ProcessExecutor(1).run([Task("t/1", sleepy_tasks.work, {"i": 1})]))
except KeyboardInterrupt:
    print("interrupted")
"""


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs POSIX threads")
def test_an_interrupt_received_by_another_thread_stops_the_worker_run(tmp_path):
    # Ctrl-C goes to any thread of the process that does not block it (the progress bar's, say);
    # Python runs the handler in the main thread once that one wakes, so it must not wait for
    # the running task (600 s) to finish
    marks = tmp_path / "marks"
    marks.mkdir()
    (tmp_path / "sleepy_tasks.py").write_text(_SLEEPY.format(marks=str(marks)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    result = subprocess.run(
        [sys.executable, "-c", _INTERRUPT_ANOTHER_THREAD], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.stdout == "interrupted\n", (result.stdout, result.stderr)


def _ignores_sigint(i):
    return signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_process_workers_ignore_sigint():
    assert dict(ProcessExecutor(1).run([Task("h", _ignores_sigint, {"i": 0})])) == {"h": True}


# --- quick runs of the studies this audit changed (quick_study: each run once for the suite) ---
def _read(paths):
    return (
        paths["markdown"].read_text(),
        json.loads(paths["metrics"].read_text()),
        json.loads(paths["config"].read_text()),
    )


def _numbers(value):
    """Every number in a JSON value (dict keys that are numbers too)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _numbers(v)
            try:
                yield float(k)
            except ValueError:
                pass
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield float(value)


_DECIMAL = re.compile(r"(?<![\w.])-?\d+\.\d+(?:e[-+]?\d+)?")


def _unstated(md: str, metrics: dict, config: dict, header: str) -> list[str]:
    """The decimal numbers of ``md`` that are in neither metrics.json nor config.json, to the
    precision shown (the auditor's check_numbers.py; the header's version is no result)."""
    text = re.sub(r"!\[.*?\]\(.*?\)", "", md.replace(header, ""))
    known = list(_numbers(metrics)) + list(_numbers(config))
    missing = []
    for shown in sorted(set(_DECIMAL.findall(text))):
        x = float(shown)
        mantissa, _, exponent = shown.partition("e")
        half = 0.5 * 10 ** (int(exponent or 0) - len(mantissa.split(".")[1])) * 1.0001
        if not any(abs(v - x) <= max(half, 1e-12) or (x and abs(v - x) / abs(x) < 5e-4)
                   for v in known):  # fmt: skip
            missing.append(shown)
    return missing


CHANGED = ["activation-regions", "boston", "early-stopping", "feature-selection", "topology"]


@pytest.mark.parametrize("name", CHANGED)
def test_every_number_a_report_states_is_in_metrics(name, quick_study):
    from sparsitylab.studies._framework import run_header

    md, metrics, config = _read(quick_study(name))
    header = run_header(get_study(name), config)
    assert header in md  # (the version in it is not a result)
    assert _unstated(md, metrics, config, header) == []
    # the check sees a number that is not stored, to the precision shown
    planted = md + "\n\n-98765.4321 and 1.5e-07 (and 1.00 when 1.0 is stored)\n"
    assert _unstated(planted, {**metrics, "one": 1.0}, config, header) == ["-98765.4321", "1.5e-07"]


# --- R5: every report says how it was run ---------------------------------------------------------
@pytest.mark.parametrize("name", CHANGED)
def test_every_report_says_quick_seeds_and_version(name, quick_study):
    paths = quick_study(name)
    md, _, config = _read(paths)
    line = (
        f"**Quick run** (`--quick`: smaller settings than the full study), "
        f"{config['seeds']} seeds, sparsitylab {sparsitylab.__version__}: "
        f"`sparsitylab study {name} --quick`."
    )
    assert md.split("\n\n")[2] == line  # under the title and the summary
    html = paths["html"].read_text()
    assert "<strong>Quick run</strong>" in html and f"sparsitylab {sparsitylab.__version__}" in html


def _squares_study():
    def tasks(config, seeds):
        return [Task(f"t/{i}", _square, {"i": i}) for i in range(seeds)]

    def analyze(config, results):
        values = [results[f"t/{i}"] for i in range(config["seeds"])]
        return Report("Squares", "One line.", [Section("S", [f"Squares {values}."])],
                      metrics={"squares": values})  # fmt: skip

    return Study("squares", "Squares.", "none", tasks=tasks, analyze=analyze, seeds=10)


def _square(i):
    return i * i


def test_a_full_run_says_so_and_a_resumed_run_writes_the_same_report(tmp_path, interrupting):
    study = _squares_study()
    whole = run_study(study, tmp_path / "whole", seeds=3)
    md = whole["markdown"].read_text()
    assert (
        f"Full run, 3 seeds, sparsitylab {sparsitylab.__version__}: "
        "`sparsitylab study squares --seeds 3`." in md
    )
    assert "Quick run" not in md and "Full run" in whole["html"].read_text()
    with pytest.raises(KeyboardInterrupt):
        run_study(study, tmp_path / "cut", seeds=3, executor=interrupting(after=1))
    resumed = run_study(study, tmp_path / "cut", seeds=3, resume=True)
    for kind in ("markdown", "html", "metrics"):  # no date, nothing of the interruption
        assert resumed[kind].read_bytes() == whole[kind].read_bytes(), kind


def test_header_renders_in_markdown_and_html_only_when_given():
    report = Report("T", "S.", [Section("A", ["text"])])
    assert render_markdown(report) == "# T\n\n*S.*\n\n## A\n\ntext\n"
    report.header = "Full run, 1 seed."
    assert render_markdown(report).startswith("# T\n\n*S.*\n\nFull run, 1 seed.\n\n## A")
    assert "<p class='run'>Full run, 1 seed.</p>" in render_html(report)


# --- R1: topology -------------------------------------------------------------------------------
def test_topology_states_accuracy_below_its_bar_and_the_logit_layer_as_measured(quick_study):
    md, m, _ = _read(quick_study("topology"))
    assert "always (1, 0)" not in md
    bar = m["well_trained_accuracy"]
    for entry in m["low_accuracy_networks"]:  # "wide 128 relu (0.945)": shown below the bar
        shown = float(re.search(r"\(([\d.]+)\)$", entry).group(1))
        assert shown < bar, entry
    low = re.search(r"Training accuracy \(mean over seeds\) is below ([\d.]+) for (.*?): ", md)
    assert bool(low) == bool(m["low_accuracy_networks"])
    if low:
        assert float(low.group(1)) == bar
        assert low.group(2) == ", ".join(m["low_accuracy_networks"])
    keys = [k for k in m if "/" in k]
    simple = [v for k in keys for v in m[k]["logit_simplified"]]
    assert m["logit_runs"] == len(simple) and m["logit_simplified_runs"] == sum(simple)
    assert (
        f"both classes are (1, 0) in {sum(simple)} of {len(simple)} runs (network, activation, "
        "seed)" in md
    )
    for k in keys:  # (1, 0) at the logit layer is what the Betti numbers there say
        for s, flag in enumerate(m[k]["logit_simplified"]):
            ends = [(m[k]["logit_b0"][c][s], m[k]["logit_b1"][c][s]) for c in ("0", "1")]
            assert flag == (ends == [(1, 0), (1, 0)])
            if not flag:
                assert f"{k.replace('/', ' ')} seed {s} (" in md


# --- R2: boston ---------------------------------------------------------------------------------
def test_boston_explains_the_lasso_rows_tolerance(quick_study):
    md, m, _ = _read(quick_study("boston"))
    exact = m["lasso_exact"]
    assert exact["tol"] <= 1e-10 and m["lasso"]["tol"] == 1e-4  # scikit-learn's default
    assert abs(exact["test_mse"] - 25.6589) < 5e-5  # docs/studies.md: the exact solution
    assert f"test MSE {exact['test_mse']:.4f}" in md and "default tolerance" in md
    if "hadamard" in m:
        h = m["hadamard"]
        # the network is the exact Lasso; the default-tolerance row is what differs
        assert h["max_coef_difference_to_lasso_exact"] < 1e-8
        assert h["max_coef_difference_to_lasso"] > 100 * h["max_coef_difference_to_lasso_exact"]
        assert f"by at most {h['max_coef_difference_to_lasso_exact']:.2e}" in md
        assert "The difference is the Lasso's tolerance, not the network's." in md
        assert set(h["coef"]) == set(m["lasso"]["coef"])
        assert "| Lasso, tol=1e-12 (exact) |" in md


# --- R3: feature-selection ----------------------------------------------------------------------
def test_feature_selection_counts_kept_inputs_and_precision(quick_study):
    paths = quick_study("feature-selection")
    md, m, config = _read(paths)
    reg = m["regression"]
    lines = (paths["markdown"].parent / "runs.jsonl").read_text().splitlines()
    results = {r["key"]: r["result"] for r in map(json.loads, lines)}
    p = config["p"]
    for who in ("network", "lasso"):
        kept = [len(results[f"regression/{s}"][who]) for s in range(config["seeds"])]
        assert reg[f"{who}_kept"] == kept
        assert reg[f"{who}_kept_all"] == [s for s, k in enumerate(kept) if k == p]
        expected = [f / k if k else None for f, k in zip(reg[f"{who}_found"], kept, strict=True)]
        assert reg[f"{who}_precision"] == pytest.approx(expected)
    summary = md.split("\n\n")[1]
    assert (
        f"precision: network {reg['network_precision_mean']:.2f}, "
        f"Lasso {reg['lasso_precision_mean']:.2f}" in summary
    )
    found = f"network {reg['network_found_mean']:.1f}, Lasso {reg['lasso_found_mean']:.1f}"
    assert found in summary
    for s in reg["network_kept_all"]:  # a seed that selected nothing is named as such
        named = f"the network kept all {p} inputs in seed {s} (no selection at the CV alpha)"
        assert named in summary
        assert "its recall is no recovery" in md
    assert "| seed | network keeps | network found (of 5) |" in md


def test_feature_selection_names_a_seed_that_kept_every_input(quick_study):
    # the audit's case (CV chose an alpha that keeps all inputs), made certain for seed 0
    from sparsitylab.studies._framework import _read_runs

    paths = quick_study("feature-selection")
    config = json.loads(paths["config"].read_text())
    results = _read_runs(paths["markdown"].parent / "runs.jsonl")
    results["regression/0"] = {**results["regression/0"], "network": list(range(config["p"]))}
    report = get_study("feature-selection").analyze(config, results)
    reg = report.metrics["regression"]
    assert 0 in reg["network_kept_all"] and reg["network_kept"][0] == config["p"]
    assert reg["network_precision"][0] == 5 / config["p"]  # the share of informative inputs
    seeds = reg["network_kept_all"]
    named = rf"the network kept all {config['p']} inputs in seeds? [\d, and]*\b0\b[\d, and]* "
    assert re.search(named + r"\(no selection at the CV alpha\)", report.summary), report.summary
    md = render_markdown(report)
    assert "its recall is no recovery" in md
    assert "Over the seeds where the network selected" in md or len(seeds) == config["seeds"]


# --- R4: early-stopping -------------------------------------------------------------------------
def test_early_stopping_labels_the_test_set_optimum_as_optimistic(quick_study):
    md, m, _ = _read(quick_study("early-stopping"))
    assert "best test MSE (early stopped)" not in md
    row = "| lowest test MSE over epochs (epoch chosen on the test set: optimistic) |"
    assert row in md
    assert "optimistically biased" in md


# --- the two figures without a y-label ------------------------------------------------------------
@pytest.mark.parametrize(
    "name, figure",
    [("early-stopping", "early_stopping_curves"), ("boston", "lasso_vs_network")],
)
def test_every_panel_has_a_y_label(name, figure, quick_study, monkeypatch):
    import sparsitylab.report as report
    from sparsitylab.studies._framework import _read_runs

    paths = quick_study(name)
    directory = paths["markdown"].parent
    config = json.loads(paths["config"].read_text())
    labels = {}
    original = report.Figure.__post_init__

    def record(self):
        if self.figure is not None:
            labels[self.name] = [ax.get_ylabel() for ax in self.figure.axes]
        original(self)

    monkeypatch.setattr(report.Figure, "__post_init__", record)
    get_study(name).analyze(config, _read_runs(directory / "runs.jsonl"))
    assert len(labels[figure]) == 2 and all(label.strip() for label in labels[figure])


# --- a study's fixed budget of epochs is its protocol: no ConvergenceWarning -------------------
def _capped(i):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    warnings.warn("reached max_epochs", ConvergenceWarning, stacklevel=1)
    warnings.warn("something else", RuntimeWarning, stacklevel=1)
    return i


def test_study_tasks_do_not_report_convergence_warnings(recwarn):
    from sparsitylab.studies import InProcessExecutor

    assert dict(InProcessExecutor().run([Task("t", _capped, {"i": 3})])) == {"t": 3}
    assert [w.category.__name__ for w in recwarn] == ["RuntimeWarning"]
