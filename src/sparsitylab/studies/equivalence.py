"""``equivalence``: sparse models fitted as networks trained with weight decay, against references.

* Lasso vs the depth-2 Hadamard network along a path (Boston, and synthetic correlated problems
  over seeds): ``sparsitylab.hadamard_path`` against scikit-learn's ``lasso_path`` on the same
  alphas, coefficient paths overlaid, relative duality gaps per alpha.
* Depth 3 and 4 against skglm's bridge penalties ``L2_3(1.5 alpha)`` / ``L0_5(2 alpha)``: skglm is
  started from zero *and* from the Lasso solution at the same alpha (zero is always a local minimum
  of these penalties, so a run from zero alone is a vacuous reference); the network's objective is
  compared with skglm's best.
* L1 logistic regression (scikit-learn ``saga``), the group lasso (skglm ``GroupBCD``) and
  nuclear-norm matrix completion (the package's soft-impute) on synthetic problems over seeds.

Every synthetic problem is drawn from its seed, so the same options give the same numbers.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from sparsitylab.report import Figure, Report, Section, Table
from sparsitylab.studies._framework import Study, Task, count, mean_sd, pyplot

CONFIG = {
    "n_alphas": 20,
    "eps": 1e-3,
    "synthetic": {"n": 100, "p": 40, "rho": 0.6},
    "bridge_alpha_fractions": [0.3, 0.1, 0.03],
    "logistic_alpha": 0.02,
    "group_alpha": 0.15,
    "group_reference": "skglm",
    "bridge_seeds": None,  # None: every seed
    "nuclear": {"rows": 30, "cols": 20, "rank": 3, "observed": 0.6, "alpha": 1.0, "fit_rank": 8},
}
# skglm's GroupBCD compiles for ~20 s (numba): --quick checks the group lasso against a numpy
# accelerated proximal gradient instead
QUICK = {
    "n_alphas": 8,
    "bridge_alpha_fractions": [0.1],
    "group_reference": "fista",
    "bridge_seeds": 1,
}


def _correlated(n, p, rho, rng):
    cov = rho ** np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
    return rng.standard_normal((n, p)) @ np.linalg.cholesky(cov).T


def synthetic_problem(config, seed):
    """A correlated regression problem with 6 non-zero coefficients, centred (``X, y``)."""
    s = config["synthetic"]
    rng = np.random.default_rng(1000 + seed)
    X = _correlated(s["n"], s["p"], s["rho"], rng)
    w = np.zeros(s["p"])
    w[rng.choice(s["p"], 6, replace=False)] = rng.choice([-1, 1], 6) * rng.uniform(1, 3, 6)
    y = X @ w + rng.standard_normal(s["n"])
    return X - X.mean(0), y - y.mean()


def _boston():
    from sparsitylab.studies.boston import CONFIG as BOSTON
    from sparsitylab.studies.boston import split

    Xtr, _, ytr, _ = split(BOSTON)
    return Xtr - Xtr.mean(0), ytr - ytr.mean()


# --- tasks -------------------------------------------------------------------------------------
def path_task(config, problem, seed=0):
    """Hadamard depth-2 path vs scikit-learn's ``lasso_path`` on the same alphas."""
    from sklearn.linear_model import lasso_path

    from sparsitylab import hadamard_path

    X, y = _boston() if problem == "boston" else synthetic_problem(config, seed)
    alphas, coefs, certs = hadamard_path(
        X, y, n_alphas=config["n_alphas"], eps=config["eps"], fit_intercept=False
    )
    _, ref, _ = lasso_path(X, y, alphas=alphas, tol=1e-14, max_iter=10**6)
    scale = np.maximum(np.linalg.norm(ref, axis=0), 1e-12)
    return {
        "alphas": alphas,
        "coefs": coefs,
        "sklearn": ref,
        "gaps": [c.duality_gap for c in certs],
        "kkt": [c.kkt_violation / a for c, a in zip(certs, alphas, strict=True)],
        "rel_coef_diff": np.linalg.norm(coefs - ref, axis=0) / scale,
        "support_equal": [
            bool(np.array_equal(coefs[:, i] != 0, np.abs(ref[:, i]) > 1e-10))
            for i in range(len(alphas))
        ],
        "objective_gap": [abs(c.network_objective - c.sparse_objective) for c in certs],
    }


def bridge_task(config, seed):
    from sparsitylab.equivalence.reference import bridge_objective, skglm_bridge

    """Depth 2, 3, 4 networks at the same alphas; skglm from zero and from the Lasso."""
    from sklearn.linear_model import Lasso

    from sparsitylab import HadamardLasso

    X, y = synthetic_problem(config, seed)
    amax = np.max(np.abs(X.T @ y)) / len(y)
    rows = []
    for frac in config["bridge_alpha_fractions"]:
        alpha = frac * amax
        lasso = Lasso(alpha, fit_intercept=False, tol=1e-14, max_iter=10**6).fit(X, y)
        row = {"alpha_fraction": frac, "lasso_nnz": int(np.sum(lasso.coef_ != 0))}
        for depth in (3, 4):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                net = HadamardLasso(alpha=alpha, depth=depth, fit_intercept=False).fit(X, y)
            zero = skglm_bridge(X, y, alpha, depth, np.zeros(X.shape[1]))
            warm = skglm_bridge(X, y, alpha, depth, lasso.coef_)
            obj = {
                k: bridge_objective(X, y, b, alpha, depth)
                for k, b in (("net", net.coef_), ("skglm_zero", zero), ("skglm_lasso", warm))
            }
            row[f"d{depth}"] = {
                "objective": obj["net"],
                "skglm_from_zero": obj["skglm_zero"],
                "skglm_from_lasso": obj["skglm_lasso"],
                "ratio_to_skglm_best": obj["net"] / min(obj["skglm_zero"], obj["skglm_lasso"]),
                "nnz": int(np.sum(net.coef_ != 0)),
                "nnz_skglm_zero": int(np.sum(np.abs(zero) > 0)),
                "kkt_over_alpha": net.certificate_.kkt_violation / alpha,
                "balanced": bool(
                    np.allclose(np.abs(net.layers_), np.abs(net.layers_[0]), rtol=1e-10)
                ),
            }
        rows.append(row)
    return rows


def logistic_task(config, seed):
    from sklearn.linear_model import LogisticRegression

    from sparsitylab import HadamardLogisticRegression

    rng = np.random.default_rng(2000 + seed)
    n, p = 150, 10
    X = rng.standard_normal((n, p))
    y = (X[:, 0] - 2 * X[:, 1] + 0.5 * rng.standard_normal(n) > 0.3).astype(int)
    alpha = config["logistic_alpha"]
    net = HadamardLogisticRegression(alpha=alpha).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = LogisticRegression(
            penalty="l1", C=1 / (n * alpha), solver="saga", tol=1e-13, max_iter=200000
        ).fit(X, y)
    return {
        "rel_coef_diff": np.linalg.norm(net.coef_ - ref.coef_) / np.linalg.norm(ref.coef_),
        "gap": net.certificate_.duality_gap,
        "nnz": int(np.sum(net.coef_ != 0)),
        "nnz_sklearn": int(np.sum(np.abs(ref.coef_) > 1e-10)),
    }


def group_fista(X, y, groups, alpha, n_iter=20000):
    """The group lasso by accelerated proximal gradient (numpy): an independent reference."""
    n = len(y)
    weights = alpha * np.sqrt(np.bincount(groups))[groups]
    step = n / np.linalg.norm(X, 2) ** 2
    beta = z = np.zeros(X.shape[1])
    t = 1.0
    for _ in range(n_iter):
        v = z + step * X.T @ (y - X @ z) / n
        norms = np.sqrt(np.bincount(groups, weights=v * v))[groups]
        new = v * np.maximum(1.0 - step * weights / np.maximum(norms, 1e-300), 0.0)
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        z = new + (t - 1) / t_new * (new - beta)
        beta, t = new, t_new
    return beta


def _group_skglm(X, y, groups, alpha):
    from skglm.datafits import QuadraticGroup
    from skglm.penalties import WeightedGroupL2
    from skglm.solvers import GroupBCD

    sizes = np.bincount(groups)
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
    idx = np.argsort(groups, kind="stable").astype(np.int32)
    pen = WeightedGroupL2(alpha, np.sqrt(sizes.astype(float)), ptr, idx)
    return GroupBCD(tol=1e-14, max_iter=10000).solve(X, y, QuadraticGroup(ptr, idx), pen)[0]


def group_task(config, seed):
    from sparsitylab import HadamardGroupLasso

    rng = np.random.default_rng(3000 + seed)
    n, p = 60, 24
    X = _correlated(n, p, 0.6, rng)
    w = np.zeros(p)
    w[:6] = [2, -1.5, 1, 0, 3, -2]
    y = X @ w + rng.standard_normal(n)
    X, y = X - X.mean(0), y - y.mean()
    groups = np.repeat(np.arange(8), 3)
    alpha = config["group_alpha"]
    net = HadamardGroupLasso(alpha=alpha, groups=groups, fit_intercept=False).fit(X, y)
    if config["group_reference"] == "skglm":
        ref = _group_skglm(X, y, groups, alpha)
    else:
        ref = group_fista(X, y, groups, alpha)
    norms = lambda b: np.sqrt(np.bincount(groups, weights=b * b))  # noqa: E731
    return {
        "rel_coef_diff": np.linalg.norm(net.coef_ - ref) / np.linalg.norm(ref),
        "gap": net.certificate_.duality_gap,
        "groups_selected": int(np.sum(norms(net.coef_) > 0)),
        "groups_selected_skglm": int(np.sum(norms(ref) > 1e-10)),
    }


def nuclear_task(config, seed):
    from sparsitylab import FactorizedNuclearNorm
    from sparsitylab.equivalence.softimpute import nuclear_objective, soft_impute

    c = config["nuclear"]
    rng = np.random.default_rng(4000 + seed)
    truth = rng.standard_normal((c["rows"], c["rank"])) @ rng.standard_normal(
        (c["rank"], c["cols"])
    )
    Y = truth + 0.1 * rng.standard_normal(truth.shape)
    mask = rng.random(Y.shape) < c["observed"]
    model = FactorizedNuclearNorm(alpha=c["alpha"], rank=c["fit_rank"], random_state=seed)
    completed = model.fit_transform(np.where(mask, Y, np.nan))
    M, _ = soft_impute(Y, mask, c["alpha"])
    ref = nuclear_objective(Y, mask, M, c["alpha"])
    sv = np.linalg.svd(completed, compute_uv=False)
    return {
        "objective": model.certificate_.sparse_objective,
        "soft_impute_objective": ref,
        "rel_objective_diff": abs(model.certificate_.sparse_objective - ref) / ref,
        "rel_solution_diff": np.linalg.norm(completed - M) / np.linalg.norm(M),
        "gap": model.certificate_.duality_gap,
        "rank": int(np.sum(sv > 1e-6 * sv[0])),
        "missing_rel_error": float(
            np.linalg.norm((completed - truth)[~mask]) / np.linalg.norm(truth[~mask])
        ),
        "singular_values": sv[: c["fit_rank"]],
    }


def tasks(config, seeds):
    out = [Task("path/boston", path_task, {"config": config, "problem": "boston"})]
    for s in range(seeds):
        kw = {"config": config, "seed": s}
        out += [
            Task(f"path/synthetic/{s}", path_task, {**kw, "problem": "synthetic"}),
            Task(f"logistic/{s}", logistic_task, kw),
            Task(f"group/{s}", group_task, kw),
            Task(f"nuclear/{s}", nuclear_task, kw),
        ]
    n_bridge = min(seeds, config["bridge_seeds"] or seeds)
    out += [
        Task(f"bridge/{s}", bridge_task, {"config": config, "seed": s}) for s in range(n_bridge)
    ]
    return out


# --- analysis ------------------------------------------------------------------------------------


def _path_figure(results, keys, titles):
    plt = pyplot()
    fig, axes = plt.subplots(2, len(keys), figsize=(5.5 * len(keys), 6.5), squeeze=False)
    for j, (key, title) in enumerate(zip(keys, titles, strict=True)):
        r = results[key]
        a = np.asarray(r["alphas"])
        ax = axes[0, j]
        for i, (ours, ref) in enumerate(
            zip(np.asarray(r["coefs"]), np.asarray(r["sklearn"]), strict=True)
        ):
            ax.plot(a, ref, color="0.6", lw=3, label="scikit-learn Lasso" if i == 0 else None)
            ax.plot(a, ours, lw=1, ls="--", label="Hadamard network" if i == 0 else None)
        ax.set(xscale="log", xlabel="alpha", ylabel="coefficient", title=title)
        ax.legend(fontsize=8)
        gaps = np.maximum(np.asarray(r["gaps"], float), 1e-18)
        axes[1, j].semilogy(a, gaps, marker="o")
        axes[1, j].axhline(1e-8, color="r", ls="--", lw=0.8, label="1e-8")
        axes[1, j].set(xscale="log", xlabel="alpha", ylabel="relative duality gap")
        axes[1, j].legend(fontsize=8)
    return fig


def analyze(config, results):
    seeds = config["seeds"]
    path_keys = ["path/boston"] + [f"path/synthetic/{s}" for s in range(seeds)]
    gaps = np.concatenate([np.asarray(results[k]["gaps"], float) for k in path_keys])
    diffs = np.concatenate([np.asarray(results[k]["rel_coef_diff"], float) for k in path_keys])
    supports = all(all(results[k]["support_equal"]) for k in path_keys)
    path_rows = []
    for k in path_keys:
        r = results[k]
        path_rows.append(
            {
                "problem": "Boston" if k == "path/boston" else f"synthetic, seed {k[-1]}",
                "alphas": len(r["alphas"]),
                "max duality gap": float(np.max(r["gaps"])),
                "max rel. coef. difference": float(np.max(r["rel_coef_diff"])),
                "same support everywhere": all(r["support_equal"]),
                "max |network - Lasso objective|": float(np.max(r["objective_gap"])),
            }
        )
    n_bridge = min(seeds, config["bridge_seeds"] or seeds)
    bridge = [row for s in range(n_bridge) for row in results[f"bridge/{s}"]]
    bridge_rows, ratios = [], []
    for d in (3, 4):
        for frac in config["bridge_alpha_fractions"]:
            rs = [row for row in bridge if row["alpha_fraction"] == frac]
            rat = [row[f"d{d}"]["ratio_to_skglm_best"] for row in rs]
            ratios += rat
            bridge_rows.append(
                {
                    "depth": d,
                    "alpha / alpha_max": frac,
                    "objective / skglm best (mean)": mean_sd(rat)[0],
                    "max": float(np.max(rat)),
                    "nnz network": mean_sd([row[f"d{d}"]["nnz"] for row in rs])[0],
                    "nnz skglm from 0": mean_sd([row[f"d{d}"]["nnz_skglm_zero"] for row in rs])[0],
                    "nnz Lasso (depth 2)": mean_sd([row["lasso_nnz"] for row in rs])[0],
                    "max KKT / alpha": float(
                        np.max([row[f"d{d}"]["kkt_over_alpha"] for row in rs])
                    ),
                }
            )
    zero_worse = [
        row[f"d{d}"]["skglm_from_zero"] > row[f"d{d}"]["skglm_from_lasso"] * (1 + 1e-9)
        for row in bridge
        for d in (3, 4)
    ]
    logi = [results[f"logistic/{s}"] for s in range(seeds)]
    grp = [results[f"group/{s}"] for s in range(seeds)]
    nuc = [results[f"nuclear/{s}"] for s in range(seeds)]
    metrics = {
        "depth2": {
            "max_duality_gap": float(gaps.max()),
            "max_rel_coef_diff_to_sklearn": float(diffs.max()),
            "same_support": bool(supports),
            "n_fits": int(gaps.size),
        },
        "bridge": {
            "max_ratio_to_skglm_best": float(np.max(ratios)),
            "mean_ratio_to_skglm_best": float(np.mean(ratios)),
            "skglm_from_zero_worse_fraction": float(np.mean(zero_worse)),
            "all_balanced": all(row[f"d{d}"]["balanced"] for row in bridge for d in (3, 4)),
            "balanced_fraction": float(
                np.mean([row[f"d{d}"]["balanced"] for row in bridge for d in (3, 4)])
            ),
            "deeper_not_denser_fraction": float(
                np.mean([r["nnz network"] <= r["nnz Lasso (depth 2)"] for r in bridge_rows])
            ),
            "deeper_sparser_fraction": float(
                np.mean([r["nnz network"] < r["nnz Lasso (depth 2)"] for r in bridge_rows])
            ),
            "rows": bridge_rows,
        },
        "logistic": {
            "max_rel_coef_diff": float(max(r["rel_coef_diff"] for r in logi)),
            "max_gap": float(max(r["gap"] for r in logi)),
        },
        "group": {
            "max_rel_coef_diff": float(max(r["rel_coef_diff"] for r in grp)),
            "max_gap": float(max(r["gap"] for r in grp)),
            "same_groups": all(r["groups_selected"] == r["groups_selected_skglm"] for r in grp),
        },
        "nuclear": {
            "max_rel_objective_diff": float(max(r["rel_objective_diff"] for r in nuc)),
            "max_rel_solution_diff": float(max(r["rel_solution_diff"] for r in nuc)),
            "max_gap": float(max(r["gap"] for r in nuc)),
            "ranks": [r["rank"] for r in nuc],
            "missing_rel_error": mean_sd([r["missing_rel_error"] for r in nuc]),
        },
    }
    synth_title = f"synthetic (seed 0), n={config['synthetic']['n']}, p={config['synthetic']['p']}"
    fig_paths = _path_figure(results, ["path/boston", "path/synthetic/0"], ["Boston", synth_title])
    plt = pyplot()
    fig_nuc, ax = plt.subplots(figsize=(6, 3.6))
    for s, r in enumerate(nuc):
        ax.semilogy(np.arange(1, len(r["singular_values"]) + 1), np.maximum(r["singular_values"],
                    1e-16), marker="o", label=f"seed {s}")  # fmt: skip
    ax.set(xlabel="index", ylabel="singular value of the completion",
           title=f"factorised network, rank {config['nuclear']['fit_rank']}")  # fmt: skip
    ax.legend(fontsize=8)
    other = pd.DataFrame(
        [
            {
                "model": "L1 logistic vs scikit-learn saga",
                "max rel. coef. difference": metrics["logistic"]["max_rel_coef_diff"],
                "max duality gap": metrics["logistic"]["max_gap"],
                "selected (network / reference, seed 0)": f"{logi[0]['nnz']} / "
                f"{logi[0]['nnz_sklearn']} features",
            },
            {
                "model": "group lasso vs "
                + ("skglm GroupBCD" if config["group_reference"] == "skglm" else "numpy FISTA"),
                "max rel. coef. difference": metrics["group"]["max_rel_coef_diff"],
                "max duality gap": metrics["group"]["max_gap"],
                "selected (network / reference, seed 0)": f"{grp[0]['groups_selected']} / "
                f"{grp[0]['groups_selected_skglm']} groups",
            },
            {
                "model": "nuclear norm vs soft-impute",
                "max rel. coef. difference": metrics["nuclear"]["max_rel_solution_diff"],
                "max duality gap": metrics["nuclear"]["max_gap"],
                "selected (network / reference, seed 0)": f"rank {nuc[0]['rank']} "
                f"(truth {config['nuclear']['rank']})",
            },
        ]
    )
    d2 = metrics["depth2"]
    br = metrics["bridge"]
    sections = [
        Section(
            "Depth 2 is the Lasso, along a path",
            [
                f"`hadamard_path` (the network `beta = u * v` with weight decay alpha/2 (‖u‖² + "
                f"‖v‖²), {config['n_alphas']} alphas from alpha_max down to "
                f"{config['eps']:g} alpha_max) against scikit-learn's `lasso_path` at the same "
                f"alphas (tolerance 1e-14), on Boston (standardized training part, centred) and "
                f"on {count(seeds, 'correlated synthetic problem')} (Toeplitz correlation "
                f"{config['synthetic']['rho']}, 6 non-zero coefficients).",
                f"Over all {d2['n_fits']} fits the largest relative duality gap is "
                f"**{d2['max_duality_gap']:.1e}** (the claim: at most 1e-8) and the largest "
                f"relative coefficient difference to scikit-learn is "
                f"**{d2['max_rel_coef_diff_to_sklearn']:.1e}**; the supports are "
                f"{'identical at every alpha' if d2['same_support'] else 'NOT identical'}.",
            ],
            [
                Table("Per problem", pd.DataFrame(path_rows)),
                Figure(
                    "lasso_vs_network_paths",
                    fig_paths,
                    "Top: coefficient paths, scikit-learn's Lasso (thick grey) and the Hadamard "
                    "network (dashed) on top of each other. Bottom: the network's relative "
                    "duality gap per alpha.",
                ),
            ],
        ),
        Section(
            "Depth 3 and 4 are the bridge penalties",
            [
                "Depth k gives (alpha k / 2) Σ |beta_j|^(2/k): skglm's `L2_3(1.5 alpha)` for "
                "k = 3 and `L0_5(2 alpha)` for k = 4. These penalties are non-convex and zero is "
                "always a local minimum, so skglm is run twice, from zero and from the Lasso "
                "solution at the same alpha, and the network is compared with the better of "
                "the two.",
                f"The network's objective is at most **{br['max_ratio_to_skglm_best']:.6f}** "
                f"times skglm's best (mean {br['mean_ratio_to_skglm_best']:.6f}; the bar is "
                f"1.001). skglm started from zero ended worse than from the Lasso in "
                f"{br['skglm_from_zero_worse_fraction']:.0%} of the fits. "
                + (
                    "Every network is balanced (|w1| = ... = |wk|). "
                    if br["all_balanced"]
                    else f"{br['balanced_fraction']:.0%} of the networks are balanced "
                    "(|w1| = ... = |wk|). "
                )
                + f"The deeper network keeps no more features (mean nnz) than the Lasso at the "
                f"same alpha in {br['deeper_not_denser_fraction']:.0%} of the table's rows and "
                f"strictly fewer in {br['deeper_sparser_fraction']:.0%}.",
            ],
            [
                Table(
                    f"Bridge penalties ({n_bridge} synthetic problem(s))", pd.DataFrame(bridge_rows)
                )
            ],
        ),
        Section(
            "Logistic, group lasso, nuclear norm",
            [
                "L1 logistic regression `LogisticRegression(penalty='l1', C=1/(n alpha))` with "
                f"alpha {config['logistic_alpha']}; the group lasso alpha Σ sqrt(|g|) ‖beta_g‖ "
                f"(8 groups of 3, alpha {config['group_alpha']}) against "
                + (
                    "skglm's `GroupBCD` with `WeightedGroupL2`"
                    if config["group_reference"] == "skglm"
                    else "accelerated proximal gradient in numpy (20,000 steps)"
                )
                + "; and matrix completion of a "
                f"{config['nuclear']['rows']}x{config['nuclear']['cols']} rank-"
                f"{config['nuclear']['rank']} matrix with {config['nuclear']['observed']:.0%} "
                "of entries observed, by the factorised network `U V^T` with weight decay against "
                "soft-impute (singular value thresholding) on alpha ‖M‖_*. For the completion the "
                "'coefficient' column is the relative difference of the completed matrices; the "
                f"completion's relative error on the missing entries is "
                f"{metrics['nuclear']['missing_rel_error'][0]:.3f} "
                f"(sd {metrics['nuclear']['missing_rel_error'][1]:.3f}).",
            ],
            [
                Table("Against the references (max over seeds)", other),
                Figure(
                    "nuclear_singular_values",
                    fig_nuc,
                    "Singular values of the network's completion: weight decay on the factors "
                    "switches off the directions beyond the solution's rank.",
                ),
            ],
        ),
    ]
    return Report(
        "Sparse models are networks trained with weight decay",
        "Lasso, bridge, logistic, group lasso and nuclear norm fitted as networks, each against "
        "an independent reference solver.",
        sections,
        metrics,
    )


STUDY = Study(
    "equivalence",
    "Lasso vs the depth-2 Hadamard network along paths (Boston, synthetic), depth 3/4 vs skglm's "
    "bridge penalties, logistic, group lasso, nuclear norm vs soft-impute.",
    "seed 000 (Tibshirani 2021, Hoff 2017)",
    tasks,
    analyze,
    CONFIG,
    QUICK,
    seeds=5,
    quick_seeds=2,
)
