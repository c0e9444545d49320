"""Every study's ``--quick`` run against the goal of under a minute on 2 cores, beside the same
quick run with its training programs compiled optimized (the anchor: what ``--quick`` took before
it compiled them fast, ``docs/engine.md``, "Compilation").

Each run is a fresh process with the persistent compilation cache off
(``SPARSITYLAB_CACHE_DIR=off``), so it pays compilation as a new user's first run does; its time
is the whole process's wall clock, imports included. Mode ``fast`` is what
``sparsitylab study NAME --quick`` runs; mode ``optimized`` clears the tasks' ``fast_compile``
(the analysis then compiles optimized too). ``SPARSITYLAB_BENCH_QUICK=1``: fast mode only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from benchmarks._common import timer, write_result

GOAL_SECONDS = 60.0


def _one(name: str, mode: str, out: str) -> None:
    """One quick run of study ``name`` in this process (the subprocess's work)."""
    import dataclasses
    import warnings

    from sparsitylab.studies import get_study, open_run

    warnings.simplefilter("ignore")
    with open_run(get_study(name), out, quick=True) as run:
        if mode == "optimized":
            run.tasks = [dataclasses.replace(t, fast_compile=False) for t in run.tasks]
        run.execute()


def _timed(name: str, mode: str) -> float:
    env = {**os.environ, "SPARSITYLAB_CACHE_DIR": "off"}
    code = f"from benchmarks.bench_quick_studies import _one; _one({name!r}, {mode!r}, {{out!r}})"
    with tempfile.TemporaryDirectory() as out, timer() as elapsed:
        subprocess.run([sys.executable, "-c", code.format(out=out)], env=env, check=True)
    return elapsed()


def main() -> None:
    from sparsitylab.studies import STUDIES

    quick = os.environ.get("SPARSITYLAB_BENCH_QUICK", "") not in ("", "0")
    modes = ["fast"] if quick else ["fast", "optimized"]
    seconds = {mode: {} for mode in modes}
    for name in STUDIES:
        for mode in modes:
            seconds[mode][name] = _timed(name, mode)
            print(f"{name:20s} {mode:9s} {seconds[mode][name]:6.1f} s", flush=True)
    fast = seconds["fast"]
    payload = {
        "protocol": __doc__,
        "goal_seconds": GOAL_SECONDS,
        "seconds": seconds,
        "slowest_fast": max(fast.values()),
        "total_seconds": {mode: sum(v.values()) for mode, v in seconds.items()},
        "bars": {"every_quick_study_under_a_minute": all(t < GOAL_SECONDS for t in fast.values())},
    }
    print(f"wrote {write_result('bench_quick_studies', payload)}")


if __name__ == "__main__":
    main()
