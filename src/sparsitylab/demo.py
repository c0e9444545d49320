"""``python -m sparsitylab.demo --out DIR``: the flagship Boston study, then where its report is."""

from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sparsitylab.demo", description=__doc__)
    parser.add_argument("--out", default="reports", help="reports go to OUT/boston/")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per network (default 10)")
    parser.add_argument("--quick", action="store_true", help="fewer seeds and epochs")
    args = parser.parse_args(argv)

    from sparsitylab.studies import get_study, run_study

    start = time.perf_counter()

    def progress(done, total, key):
        if key:
            print(f"  [{done}/{total}] {key} ({time.perf_counter() - start:.0f} s)", flush=True)

    print("Running the boston study (seed 000's report, networks over seeds)...", flush=True)
    paths = run_study(
        get_study("boston"), args.out, quick=args.quick, seeds=args.seeds, progress=progress
    )
    metrics = json.loads(paths["metrics"].read_text())
    lasso = metrics["lasso"]
    print(
        f"Lasso (alpha {lasso['alpha']}): test MSE {lasso['test_mse']:.4f}, R^2 {lasso['r2']:.4f}"
    )
    for name, m in metrics["networks"].items():
        print(
            f"  {name:<11} test MSE {m['test_mse_mean']:7.3f} ± {m['test_mse_std']:.3f} "
            f"(report, one run: {m['report_test_mse']:.4f})"
        )
    print(f"Done in {time.perf_counter() - start:.0f} s. Report: {paths['html'].resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
