"""Where the time of ``bench_engine``'s single fit goes, by JAX's profiler (not a benchmark).

``python -m benchmarks.profile_single_fit`` fits the 13-128-64-32-16-1 network of
``bench_engine`` once to compile, then once more under ``jax.profiler`` (1,000 full-batch Adam
steps), and writes ``benchmarks/results/profile_single_fit.json``: the busy time of each XLA:CPU
thread that ran operations, and the operations with the largest time per step (name, mean
microseconds, calls). The profiler adds overhead, so read the shares, not the totals.
"""

from __future__ import annotations

import collections
import gzip
import json
import tempfile
from pathlib import Path

from benchmarks._common import write_result
from benchmarks.bench_engine import STEPS, boston_train, model


def main(top: int = 15):
    import jax

    X, y = boston_train()
    model(random_state=0).fit(X, y)  # compile outside the trace
    with tempfile.TemporaryDirectory() as folder:
        jax.profiler.start_trace(folder, create_perfetto_trace=True)
        model(random_state=1).fit(X, y)
        jax.profiler.stop_trace()
        trace = next(Path(folder).rglob("perfetto_trace.json.gz"))
        events = json.loads(gzip.decompress(trace.read_bytes()))
    events = events["traceEvents"] if isinstance(events, dict) else events
    busy, ops = collections.Counter(), collections.defaultdict(lambda: [0, 0.0])
    for e in events:  # operations only: Python frames start with "$", executors with "Thunk"
        if e.get("ph") != "X" or e.get("dur") is None or e["name"].startswith(("$", "Thunk")):
            continue
        busy[e.get("tid")] += e["dur"]
        ops[e["name"]][0] += 1
        ops[e["name"]][1] += e["dur"]
    per_step = [(name, total / calls, calls) for name, (calls, total) in ops.items()]
    per_step = [r for r in per_step if r[2] >= STEPS]  # the ops of the training step
    per_step.sort(key=lambda r: -r[1] * r[2])
    result = {
        "steps": STEPS,
        "thread_busy_ms": sorted((v / 1e3 for v in busy.values() if v > 1e4), reverse=True),
        "top_ops": [{"name": n, "us_per_call": us, "calls": c} for n, us, c in per_step[:top]],
    }
    path = write_result("profile_single_fit", result)
    print("busy ms per thread:", [round(v, 1) for v in result["thread_busy_ms"]])
    for r in result["top_ops"]:
        print(f"  {r['us_per_call']:7.1f} us x{r['calls']}  {r['name']}")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
