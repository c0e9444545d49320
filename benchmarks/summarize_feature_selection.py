"""How large the stored LassoNet comparisons' differences are against their uncertainty
(``python -m benchmarks.summarize_feature_selection``; no training, reads the results files).

For each group of stored runs and each data set, the per-seed difference
``d_s = e_s(sparsitylab) - e_s(LassoNet)`` of the two ``k``-feature sets' test errors (each the
mean of ``REFITS`` dense refits; ``d_s = 0`` where both libraries chose the same set) is
summarized by:

* ``mean_difference``: the mean of ``d_s`` over the seeds (negative: sparsitylab's sets do
  better), and ``relative_difference``, the same over LassoNet's mean error;
* ``se_over_seeds``: the standard error of that mean over the seeds (``std(d, ddof=1) /
  sqrt(n)``), the paired comparison's uncertainty, which counts the choice of split and the
  refits' scatter together;
* ``se_refit_noise``: the part of it due to the refits alone, ``sqrt(sum_s v_s) / n`` with
  ``v_s`` the variance of the difference of two ``REFITS``-refit means (0 for a shared set).

Groups: the full tabular setting, the two 3-fold tabular runs and the two pooled (seeds 0 to
24), and the full MNIST setting (seed 0 and seeds 1 to 4 pooled). Written to
``benchmarks/results/bench_feature_selection_summary.json``.
"""

from __future__ import annotations

import json

import numpy as np

from benchmarks import bench_feature_selection as bench
from benchmarks._common import RESULTS, write_result


def _files(*parts):
    """Results files' names (no ``.json``): ``(setting, suffix)`` pairs."""
    return [bench.result_name(setting) + suffix for setting, suffix in parts]


RESCORED = "_refits"  # the rescored copy of a run stored before sets were refitted 10 times
GROUPS = {
    "tabular_full": _files(("tabular_full", "")),
    "tabular5": _files(("tabular5", RESCORED)),
    "tabular_more_seeds": _files(("tabular_more_seeds", RESCORED)),
    "tabular_3_folds_seeds_0_24": _files(("tabular5", RESCORED), ("tabular_more_seeds", RESCORED)),
    "mnist_full": _files(("mnist_full_one_seed", RESCORED), ("mnist_full_seeds_1_4", RESCORED)),
}


def _runs(names):
    """The stored runs of the results files ``names``, per data set."""
    out = {}
    for name in names:
        stored = json.loads((RESULTS / f"{name}.json").read_text())
        for dataset, block in stored["datasets"].items():
            out.setdefault(dataset, []).extend(block["runs"])
    return out


def paired_difference(runs) -> dict:
    """The summary of one data set's runs (see the module docstring)."""
    errors = {
        who: np.array([r[who]["test_error_dense_refit"] for r in runs]) for who in bench.SIDES
    }
    d = errors["sparsitylab"] - errors["lassonet"]
    n = len(d)
    differ = bench._where_sets_differ(runs)["seeds"]
    noise = sum(  # a shared set's two refit means are the same numbers: no noise in d
        np.var(r[who]["test_error_refits"], ddof=1) / len(r[who]["test_error_refits"])
        for r in runs
        if r["seed"] in differ
        for who in bench.SIDES
    )
    mean_ln = float(errors["lassonet"].mean())
    return {
        "seeds": [r["seed"] for r in runs],
        "seeds_where_sets_differ": differ,
        "mean_test_error": {who: float(errors[who].mean()) for who in bench.SIDES},
        "mean_difference": float(d.mean()),
        "relative_difference": float(d.mean() / mean_ln),
        "se_over_seeds": float(d.std(ddof=1) / np.sqrt(n)),
        "se_refit_noise": float(np.sqrt(noise) / n),
    }


def summarize() -> dict:
    return {
        group: {dataset: paired_difference(runs) for dataset, runs in _runs(names).items()}
        for group, names in GROUPS.items()
    }


def main() -> int:
    groups = summarize()
    for group, block in groups.items():
        for name, s in block.items():
            se = s["se_over_seeds"]
            print(
                f"{group:28s} {name:14s} seeds {len(s['seeds']):2d}, sets differ on "
                f"{len(s['seeds_where_sets_differ']):2d}: difference {s['mean_difference']:+.4g} "
                f"({s['relative_difference']:+.1%}), standard error {se:.3g}"
            )
    path = write_result(
        "bench_feature_selection_summary",
        {
            "groups": groups,
            "files": {group: [f"{name}.json" for name in names] for group, names in GROUPS.items()},
            "protocol": __doc__,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
