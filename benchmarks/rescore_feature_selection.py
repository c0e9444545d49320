"""Score the feature sets stored by earlier runs of ``bench_feature_selection`` with the current
refit protocol (``python -m benchmarks.rescore_feature_selection SETTING [SETTING ...]``).

A run of ``bench_feature_selection`` stores each method's ``k``-feature set per seed. Runs
made before a set's error was the mean of ``REFITS`` dense refits scored each set by one refit
(seed ``seed``). This refits the stored sets, on the same split of the same data, ``REFITS``
times each, and writes ``benchmarks/results/bench_feature_selection_<setting>_refits.json``;
the stored file (its paths, sets and times, which the rescoring does not touch) stays as it
was. Settings are those of ``bench_feature_selection.SETTINGS`` (``full`` reads
``bench_feature_selection.json``).
"""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np

from benchmarks import bench_feature_selection as bench
from benchmarks._common import RESULTS, write_result


def _stored(setting: str) -> dict:
    path = RESULTS / f"{bench.result_name(setting)}.json"
    if not path.exists():
        raise SystemExit(f"no stored run for setting {setting!r}: {path} does not exist")
    return json.loads(path.read_text())


def rescore(setting: str) -> dict:
    stored = _stored(setting)
    data = bench._datasets(bench.SETTINGS[setting]["mnist_rows"])
    out = {}
    for name, block in stored["datasets"].items():
        task, X, y, _ = data[name]
        runs = []
        for run in block["runs"]:
            Xtr, Xte, ytr, yte, target = bench._split(
                task, np.asarray(X), np.asarray(y), run["seed"]
            )
            cols = {who: run[who]["features"] for who in bench.SIDES}
            same = bench._same_set(cols["sparsitylab"], cols["lassonet"])
            pair = bench._pair_errors(
                task, Xtr, ytr, Xte, yte, target, cols["sparsitylab"], cols["lassonet"], run["seed"]
            )
            errors = dict(zip(bench.SIDES, pair, strict=True))
            record = {"seed": run["seed"], "k": run["k"]}
            for who in bench.SIDES:
                record[who] = {
                    "features": cols[who],
                    **bench._set_record(errors[who]),
                    "stored_single_refit": run[who]["test_error_dense_refit"],
                }
            runs.append(record)
            print(
                f"{setting} {name} seed {run['seed']}: k={run['k']} "
                f"sl {runs[-1]['sparsitylab']['test_error_dense_refit']:.4g} "
                f"lassonet {runs[-1]['lassonet']['test_error_dense_refit']:.4g}"
                + (" (same set)" if same else ""),
                flush=True,
            )
        means = {who: bench._mean_over_seeds(runs, who, "test_error_dense_refit")
                 for who in bench.SIDES}  # fmt: skip
        out[name] = {
            "task": task,
            "error": block["error"],
            "runs": runs,
            "mean_test_error_dense_refit": means,
            "mean_test_error_first_refit": {
                who: bench._mean_over_seeds(runs, who, "test_error_first_refit")
                for who in bench.SIDES
            },
            "where_sets_differ": bench._where_sets_differ(runs),
            "error_no_worse": means["sparsitylab"] <= means["lassonet"],
        }
    return {
        "setting": setting,
        "refits": bench.REFITS,
        "stored_file_date": stored["machine"]["date"],
        "protocol": __doc__ + "\n" + bench.__doc__,
        "datasets": out,
    }


def main(argv: list[str]) -> int:
    if not argv:
        print(f"usage: python -m benchmarks.rescore_feature_selection SETTING ...; "
              f"settings: {', '.join(sorted(bench.SETTINGS))}")  # fmt: skip
        return 2
    warnings.filterwarnings("ignore")
    for setting in argv:
        if setting not in bench.SETTINGS:
            raise SystemExit(f"unknown setting {setting!r}; one of {sorted(bench.SETTINGS)}")
        path = write_result(bench.result_name(setting) + "_refits", rescore(setting))
        print(f"wrote {path}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
