"""Bridge penalties: depth-3 and depth-4 Hadamard networks vs skglm ``L2_3`` / ``L0_5``.

20 random problems (correlated Gaussian designs, sparse truth, n > p and n < p alternating, alpha at
3%, 10% or 30% of alpha_max). skglm's ``AndersonCD`` is started from the Lasso solution at the same
alpha (started from zero it often stays there: zero is always a local minimum of these penalties),
with the mapped strength ``L2_3(1.5 alpha)`` for depth 3 and ``L0_5(2 alpha)`` for depth 4. The
objective each reaches is compared; the bar is "at least as low on 16 of the 20 problems".
"""

from __future__ import annotations

import warnings

import numpy as np

from benchmarks._common import timer, write_result


def _problem(seed):
    rng = np.random.default_rng(seed)
    n, p = (60, 120) if seed % 2 else (150, 40)
    cov = 0.6 ** np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
    X = rng.standard_normal((n, p)) @ np.linalg.cholesky(cov).T
    w = np.zeros(p)
    w[rng.choice(p, 6, replace=False)] = rng.standard_normal(6) * 2
    y = X @ w + rng.standard_normal(n)
    X, y = X - X.mean(0), y - y.mean()
    alpha = [0.1, 0.03, 0.3][seed % 3] * np.max(np.abs(X.T @ y)) / n
    return X, y, alpha


def main(n_problems=20):
    from skglm.datafits import Quadratic
    from skglm.penalties import L0_5, L2_3
    from skglm.solvers import AndersonCD

    import sparsitylab as sl
    from sparsitylab.equivalence.reference import bridge_objective, skglm_bridge

    X0, y0, a0 = _problem(0)  # compile once (numba for skglm, XLA for the network) before timing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for pen0 in (L2_3(1.5 * a0), L0_5(2.0 * a0)):
            AndersonCD(fit_intercept=False).solve(X0, y0, Quadratic(), pen0)
    sl.HadamardLasso(alpha=a0, depth=3, fit_intercept=False).fit(X0, y0)
    out = {}
    for depth in (3, 4):
        rows = []
        for seed in range(n_problems):
            X, y, alpha = _problem(seed)
            lasso = sl.HadamardLasso(alpha=alpha, fit_intercept=False).fit(X, y).coef_
            with timer() as t_ref:
                ref = skglm_bridge(X, y, alpha, depth, lasso)
            with timer() as t_net:
                net = sl.HadamardLasso(alpha=alpha, depth=depth, fit_intercept=False).fit(X, y)
            f_net = bridge_objective(X, y, net.coef_, alpha, depth)
            f_ref = bridge_objective(X, y, ref, alpha, depth)
            rows.append(
                {
                    "seed": seed,
                    "shape": list(X.shape),
                    "objective_network": f_net,
                    "objective_skglm_from_lasso": f_ref,
                    "ratio": f_net / f_ref,
                    "nnz_network": int(np.count_nonzero(net.coef_)),
                    "nnz_skglm": int(np.count_nonzero(ref)),
                    "nnz_lasso": int(np.count_nonzero(lasso)),
                    "kkt_violation": net.certificate_.kkt_violation,
                    "seconds_network": round(t_net(), 4),
                    "seconds_skglm": round(t_ref(), 4),
                }
            )
        ratios = np.array([r["ratio"] for r in rows])
        out[f"depth_{depth}"] = {
            "at_least_as_low": int(np.sum(ratios <= 1 + 1e-9)),
            "strictly_lower": int(np.sum(ratios < 1 - 1e-9)),
            "worst_ratio": float(ratios.max()),
            "best_ratio": float(ratios.min()),
            "bar_16_of_20": bool(np.sum(ratios <= 1 + 1e-9) >= 16 * n_problems / 20),
            "problems": rows,
        }
        print(depth, {k: v for k, v in out[f"depth_{depth}"].items() if k != "problems"})
    return write_result("bridge", {"n_problems": n_problems, "results": out})


if __name__ == "__main__":
    print(main())
