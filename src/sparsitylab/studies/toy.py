"""Studies on seed 001's quadratic toy and seed 003's optimizer questions.

``early-stopping``, ``weight-penalty``, ``ensembles-dropout``, ``sample-size`` and ``optimizers``.
The toy is ``y = x^2 + N(0, 0.2^2)`` at 10 even points of [-1, 1] with a 100-point test set (the
best possible test MSE is the noise variance, 0.04). The network is seed 001's: one hidden layer of
20 tanh units, linear output, Adam, full batch. Each task trains all the seeds of one
configuration in one batched program (``sparsitylab.sweep`` over ``random_state``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sparsitylab.report import Figure, Report, Section, Table
from sparsitylab.studies._framework import Study, Task, count, mean_sd, pyplot

NOISE_VARIANCE = 0.04
BASE = {
    "hidden_layer_sizes": (20,),
    "activation": "tanh",
    "optimizer": "adam",
    "learning_rate": 0.01,
}


def _toy(n_samples, data_seed):
    from sparsitylab.datasets import make_quadratic_toy

    return make_quadratic_toy(n_samples=n_samples, random_state=data_seed)


def _curve(values, points=400):
    """Every k-th entry so that at most ``points`` remain (plots only)."""
    values = np.asarray(values, float)
    step = max(1, int(np.ceil(values.shape[-1] / points)))
    return values[..., ::step]


def fit_seeds(
    params, seeds, n_samples=10, data_seed=0, curves=False, estimators=False, test_seed=None
):
    """Train one configuration for ``seeds`` initial weights (one batched program); test errors
    (and curves; with ``estimators``, also the fitted estimators as a second value).

    With ``test_seed`` the 100-point test set comes from its own random state, the same for every
    ``n_samples`` (otherwise its noise is drawn after the training noise and changes with it)."""
    from sparsitylab import SparseMLPRegressor, sweep

    X, y, Xt, yt = _toy(n_samples, data_seed)
    if test_seed is not None:
        Xt, yt = _toy(2, test_seed)[2:]
    frame = sweep(
        SparseMLPRegressor(**params),
        X,
        y,
        {"random_state": list(range(seeds))},
        validation_data=(Xt, yt),
    )
    fitted = frame.attrs["estimators"]
    out = {
        "test_mse": [float(np.mean((e.predict(Xt) - yt) ** 2)) for e in fitted],
        "train_mse": [float(np.mean((e.predict(X) - y) ** 2)) for e in fitted],
        "weight_l1": [float(sum(np.abs(w).sum() for w in e.coefs_)) for e in fitted],
    }
    if curves:
        hist = [np.atleast_2d(e.history_["val_loss"]).mean(0) for e in fitted]
        out["test_curve"] = [(2 * h).tolist() for h in hist]  # MSE (the engine records MSE / 2)
        out["train_curve"] = [
            (2 * np.atleast_2d(e.history_["loss"]).mean(0)).tolist() for e in fitted
        ]
    return (out, fitted) if estimators else out


# === early-stopping ====
def early_stopping_task(config, seeds):
    from sparsitylab import SparseMLPRegressor

    params = {**BASE, "max_epochs": config["max_epochs"]}
    res, fitted = fit_seeds(params, seeds, curves=True, estimators=True)
    test = np.asarray(res.pop("test_curve"))
    train_curve = np.asarray(res.pop("train_curve"))
    best = test.argmin(axis=1)
    X, y, Xt, yt = _toy(10, 0)
    refit = SparseMLPRegressor(  # stopped before convergence on purpose (no warning: _call)
        **{**params, "max_epochs": int(best[0]) + 1}, random_state=0
    ).fit(X, y)
    grid = np.linspace(-1, 1, 200)[:, None]
    full = fitted[0]  # seed 0 of the curves (a lone fit can differ by float32 rounding)
    return {
        **res,
        "best_epoch": best,
        "best_test_mse": test.min(axis=1),
        "final_test_mse": test[:, -1],
        "test_curve": _curve(test),
        "train_curve": _curve(train_curve),
        "curve_step": int(np.ceil(test.shape[1] / 400)),
        "refit_test_mse": float(np.mean((refit.predict(Xt) - yt) ** 2)),
        "grid": grid[:, 0],
        "refit_pred": refit.predict(grid),
        "full_pred": full.predict(grid),
        "X": X[:, 0],
        "y": y,
    }


def ridge_demo_task(config):
    from sparsitylab.diagnostics import early_stopping_vs_ridge

    frame = early_stopping_vs_ridge(
        np.logspace(-2, 1, 8), lr=config["gd_lr"], n_steps=config["gd_steps"]
    )
    return {"frame": frame}


def early_stopping_analyze(config, results):
    plt = pyplot()
    r = results["fit"]
    best = np.asarray(r["best_epoch"])
    E = config["max_epochs"]
    ridge = pd.DataFrame(results["ridge"]["frame"])
    gap = np.abs(ridge["gd"] - ridge["ridge"]).to_numpy()
    lam, alpha = ridge["eigenvalue"].to_numpy(), float(ridge["alpha"].iloc[0])
    small = lam <= alpha / 10  # "well below alpha": the regime where the two agree
    metrics = {
        "max_epochs": E,
        # 1-based epochs (the report's numbers); ``best`` above is the 0-based index
        "best_epoch": (best + 1).tolist(),
        "best_epoch_seed0": int(best[0]) + 1,
        "best_test_mse": mean_sd(r["best_test_mse"]),
        "final_test_mse": mean_sd(r["final_test_mse"]),
        "refit_test_mse_seed0": r["refit_test_mse"],
        "noise_variance": NOISE_VARIANCE,
        "optimum_inside": bool(np.all((best > 0) & (best < E - 1))),
        "ridge_vs_gd_max_gap": float(np.max(gap)),
        "ridge_vs_gd_max_gap_eigenvalue": float(lam[np.argmax(gap)]),
        "ridge_vs_gd_max_gap_below_alpha_over_10": (
            float(np.max(gap[small])) if small.any() else None
        ),
        "ridge_alpha": alpha,
    }
    if small.any():
        agree = (
            f"For eigenvalues well below alpha (at most alpha/10 = {alpha / 10:.3g}, where "
            "lr·λ ≪ 1 and λ ≪ alpha) both recover about τ·lr·λ = λ/alpha of the optimum and "
            "agree closely (largest difference there "
            f"{metrics['ridge_vs_gd_max_gap_below_alpha_over_10']:.3g}); "
        )
    else:
        agree = (
            "The two agree only for eigenvalues well below alpha (lr·λ ≪ 1 and λ ≪ alpha, "
            "where both recover about τ·lr·λ = λ/alpha of the optimum), and none is here; "
        )
    ridge_text = (
        "Gradient descent from 0 on a quadratic, stopped after τ = "
        f"{config['gd_steps']} steps of size {config['gd_lr']}, is compared per Hessian "
        "eigen-direction with ridge at alpha = 1/(τ·lr) = "
        f"{alpha:.3g}: the fraction of the optimum each recovers. "
        + agree
        + "at larger eigenvalues they differ more (largest difference "
        f"{metrics['ridge_vs_gd_max_gap']:.3f}, at eigenvalue "
        f"{metrics['ridge_vs_gd_max_gap_eigenvalue']:.3g})."
    )
    n_seeds = config["seeds"]
    epochs_text = (
        f"epochs {', '.join(str(b) for b in metrics['best_epoch'])}"
        if len(best) > 1
        else f"epoch {metrics['best_epoch'][0]}"
    )
    step = r["curve_step"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    epochs = np.arange(len(r["test_curve"][0])) * step + 1
    for i, (tr, te) in enumerate(zip(r["train_curve"], r["test_curve"], strict=True)):
        a.plot(epochs, tr, color="C0", alpha=0.5, label="train" if i == 0 else None)
        a.plot(epochs, te, color="C3", alpha=0.5, label="test" if i == 0 else None)
    a.axvline(best[0] + 1, color="k", ls=":", label=f"test-set optimum (seed 0): {best[0] + 1}")
    a.axhline(NOISE_VARIANCE, color="gray", ls="--", lw=0.8, label="noise variance")
    a.set(xscale="log", yscale="log", xlabel="epoch", ylabel="MSE", title="Train and test MSE")
    a.legend(fontsize=8)
    b.plot(r["X"], r["y"], "o", label="training data")
    b.plot(r["grid"], np.asarray(r["grid"]) ** 2, "k--", label="x²")
    b.plot(r["grid"], r["full_pred"], label=f"{E} epochs")
    b.plot(r["grid"], r["refit_pred"], label=f"stopped at {best[0] + 1}")
    b.legend(fontsize=8)
    b.set(xlabel="x", ylabel="y, network output", title="Refit stopped at the optimum (seed 0)")
    fig2, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(ridge["eigenvalue"], ridge["gd"], "o", label="gradient descent, stopped")
    ax.plot(ridge["eigenvalue"], ridge["ridge"], "x", label="ridge, alpha = 1/(τ·lr)")
    ax.set(xscale="log", xlabel="Hessian eigenvalue", ylabel="fraction of w* recovered")
    ax.legend()
    rows = pd.DataFrame(
        {
            "": [
                "lowest test MSE over epochs (epoch chosen on the test set: optimistic)",
                f"test MSE after {E} epochs",
            ],
            "mean": [metrics["best_test_mse"][0], metrics["final_test_mse"][0]],
            "sd": [metrics["best_test_mse"][1], metrics["final_test_mse"][1]],
        }
    )
    return Report(
        "Early stopping on the quadratic toy",
        "Seed 001: the test error has an interior optimum; "
        "stopping there regularizes like an L2 penalty.",
        [
            Section(
                "Train and test error per epoch",
                [
                    f"20 tanh units, Adam (lr {BASE['learning_rate']}), full batch, "
                    f"{count(n_seeds, 'seed')}. The test MSE is lowest at "
                    f"{epochs_text} of {E}: before it the network underfits, after it it fits "
                    f"the noise. Refit for {metrics['best_epoch_seed0']} epochs (seed 0) it "
                    f"scores {r['refit_test_mse']:.4f}. The stopping epoch is chosen on the "
                    "same 100-point test set whose error is reported (no separate validation "
                    "split), so the lowest test MSE, and the refit's, are optimistically "
                    "biased: an oracle's choice, not what early stopping on held-out training "
                    "data would reach.",
                ],
                [
                    Table("Test MSE over seeds", rows),
                    Figure(
                        "early_stopping_curves",
                        fig,
                        "Left: MSE per epoch (every seed). Right: the fit after all epochs and "
                        "stopped at the test set's optimum.",
                    ),
                ],
            ),
            Section(
                "Early stopping ~ L2 on a quadratic",
                [ridge_text],
                [
                    Figure(
                        "early_stopping_vs_ridge",
                        fig2,
                        "Per eigen-direction: stopped gradient descent against ridge.",
                    )
                ],
            ),
        ],
        metrics,
    )


EARLY_STOPPING = Study(
    "early-stopping",
    "Seed 001: train/test error per epoch, the interior optimum, the refit "
    "stopped there, and early stopping ~ L2 on a quadratic.",
    "seed 001",
    lambda c, s: [
        Task("fit", early_stopping_task, {"config": c, "seeds": s}),
        Task("ridge", ridge_demo_task, {"config": c}),
    ],
    early_stopping_analyze,
    {"max_epochs": 3000, "gd_lr": 0.05, "gd_steps": 50},
    {},
    seeds=10,
    quick_seeds=3,
)


# === weight-penalty ====
def penalty_task(config, seeds, penalty):
    """Every alpha x seed of one penalty in one batched program."""
    from sparsitylab import SparseMLPRegressor, sweep

    X, y, Xt, yt = _toy(10, 0)
    params = {**BASE, "max_epochs": config["max_epochs"], "penalty": penalty}
    frame = sweep(
        SparseMLPRegressor(**params),
        X,
        y,
        {"alpha": config["alphas"], "random_state": list(range(seeds))},
        validation_data=(Xt, yt),
    )
    out = {f"{a:g}": {"test_mse": [], "weight_l1": []} for a in config["alphas"]}
    for (_, row), est in zip(frame.iterrows(), frame.attrs["estimators"], strict=True):
        r = out[f"{row['alpha']:g}"]
        r["test_mse"].append(float(np.mean((est.predict(Xt) - yt) ** 2)))
        r["weight_l1"].append(float(sum(np.abs(w).sum() for w in est.coefs_)))
    return out


def small_net_task(config, seeds, width):
    params = {**BASE, "max_epochs": config["max_epochs"], "hidden_layer_sizes": (width,)}
    return fit_seeds(params, seeds)


def weight_penalty_tasks(config, seeds):
    tasks = [
        Task(p, penalty_task, {"config": config, "seeds": seeds, "penalty": p})
        for p in ("l2", "l1")
    ]
    tasks += [
        Task(f"width/{w}", small_net_task, {"config": config, "seeds": seeds, "width": w})
        for w in config["widths"]
    ]
    return tasks


def weight_penalty_analyze(config, results):
    plt = pyplot()
    alphas = config["alphas"]
    rows, metrics = [], {"noise_variance": NOISE_VARIANCE}
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    for pen, color in (("l2", "C0"), ("l1", "C1")):
        mse = np.array([np.mean(results[pen][f"{x:g}"]["test_mse"]) for x in alphas])
        sd = np.array([mean_sd(results[pen][f"{x:g}"]["test_mse"])[1] for x in alphas])
        l1w = np.array([np.mean(results[pen][f"{x:g}"]["weight_l1"]) for x in alphas])
        best = int(np.argmin(mse))
        metrics[pen] = {
            "alphas": alphas,
            "test_mse": mse.tolist(),
            "weight_l1": l1w.tolist(),
            "best_alpha": alphas[best],
            "best_test_mse": float(mse[best]),
            "weakest_test_mse": float(mse[0]),
        }
        a.errorbar(alphas, mse, yerr=sd, marker="o", color=color, label=pen.upper(), capsize=2)
        # log axis: an exact 0 (every weight pruned by L1) is drawn as a marker at the bottom
        pos = l1w > 0
        b.plot(np.asarray(alphas)[pos], l1w[pos], marker="o", color=color, label=pen.upper())
        if not pos.all():
            floor_y = l1w[pos].min() / 10 if pos.any() else 1e-6
            b.plot(np.asarray(alphas)[~pos], np.full((~pos).sum(), floor_y), marker="v", ls="",
                   color=color, label=f"{pen.upper()}: all weights 0")  # fmt: skip
        rows.append(
            {
                "penalty": pen.upper(),
                "best alpha": alphas[best],
                "test MSE at best": mse[best],
                f"test MSE at alpha {alphas[0]:g}": mse[0],
            }
        )
    a.axhline(NOISE_VARIANCE, color="gray", ls="--", lw=0.8, label="noise variance")
    a.set(xscale="log", yscale="log", xlabel="alpha", ylabel="test MSE", title="Validation curve")
    b.set(xscale="log", yscale="log", xlabel="alpha", ylabel="sum |w|", title="Weight magnitude")
    a.legend(), b.legend()
    widths = config["widths"]
    wm = [mean_sd(results[f"width/{w}"]["test_mse"]) for w in widths]
    metrics["widths"] = {str(w): m for w, m in zip(widths, wm, strict=True)}
    best_reg = min(metrics["l2"]["best_test_mse"], metrics["l1"]["best_test_mse"])
    close = [w for w, m in zip(widths, wm, strict=True) if m[0] <= 1.25 * best_reg]
    metrics["small_network_like_regularized"] = close[0] if close else None
    width_table = pd.DataFrame(
        {
            "hidden units (no penalty)": widths,
            "test MSE mean": [m[0] for m in wm],
            "sd": [m[1] for m in wm],
        }
    )
    sentence = (
        f"Of the widths tried ({', '.join(map(str, widths))}), the smallest unpenalized network "
        f"within 25% of the best penalized test MSE ({best_reg:.4f}) has {close[0]} hidden "
        f"unit(s) (test MSE {wm[widths.index(close[0])][0]:.4f})."
        if close
        else f"No unpenalized width tried ({', '.join(map(str, widths))}) comes within 25% of "
        f"the best penalized test MSE ({best_reg:.4f})."
    )
    interior = {
        pen: 0 < alphas.index(metrics[pen]["best_alpha"]) < len(alphas) - 1 for pen in ("l2", "l1")
    }
    metrics["interior_optimum"] = interior
    shape = []
    for pen in ("l2", "l1"):
        r = metrics[pen]
        where = (
            "lowest at an intermediate alpha" if interior[pen] else
            "lowest at the weakest alpha tried" if r["best_alpha"] == alphas[0] else
            "lowest at the strongest alpha tried"
        )  # fmt: skip
        shape.append(
            f"{pen.upper()}: test MSE {r['weakest_test_mse']:.4f} at alpha {alphas[0]:g}, "
            f"{where} ({r['best_test_mse']:.4f} at {r['best_alpha']:g}), "
            f"{r['test_mse'][-1]:.4f} at {alphas[-1]:g}"
        )
    scale = (
        "Scale of alpha: the objective is 0.5 * MSE + (alpha / 2) ||W||^2 (L2) or "
        "0.5 * MSE + alpha ||W||_1 (L1), full batch on the 10 training points. scikit-learn's "
        "`MLPRegressor` minimizes 0.5 * MSE + (alpha / (2 n)) ||W||^2 with n the samples of "
        "the (mini)batch, so an L2 alpha here equals n = 10 times it in `MLPRegressor`'s units "
        "(full batch). The best alpha is chosen on the same 100-point test set whose error is "
        "reported, so the best test MSE is optimistically biased (no separate validation split)."
    )
    small_like = metrics["small_network_like_regularized"]
    subtitle = "Seed 001: L2 and L1 strength against test error and weight size; " + (
        f"an unpenalized network of {small_like} hidden unit(s) comes within 25% of the best "
        "penalized one."
        if small_like is not None
        else "no small unpenalized network tried comes within 25% of the penalized one."
    )
    return Report(
        "Weight penalties on the quadratic toy",
        subtitle,
        [
            Section(
                "Validation curves",
                [
                    f"20 tanh units, {config['max_epochs']} epochs of Adam, "
                    f"{count(config['seeds'], 'seed')} per alpha. **Measured**: "
                    + "; ".join(shape)
                    + ".",
                    scale,
                ],
                [
                    Table("Optimal strength", pd.DataFrame(rows)),
                    Figure(
                        "weight_penalty_curves",
                        fig,
                        "Test MSE (mean ± sd over seeds) and total "
                        "absolute weight against the penalty strength.",
                    ),
                ],
            ),
            Section(
                "A small network instead of a penalty",
                [sentence],
                [Table("Unpenalized networks by width", width_table)],
            ),
        ],
        metrics,
    )


WEIGHT_PENALTY = Study(
    "weight-penalty",
    "Seed 001: validation curves of L2 and L1 strength, weight magnitudes, and "
    "the small network that behaves like the penalized one.",
    "seed 001",
    weight_penalty_tasks,
    weight_penalty_analyze,
    {"max_epochs": 3000, "alphas": [1e-5, 1e-4, 1e-3, 1e-2, 1e-1], "widths": [1, 2, 3, 5, 20]},
    {"alphas": [1e-5, 1e-3, 1e-2, 1e-1], "widths": [2, 20]},
    seeds=10,
    quick_seeds=3,
)


# === ensembles-dropout ====
VARIANTS = {
    "single": ("one network", {}),
    "ensemble": ("ensemble of 5 (different initial weights)", {"n_estimators": 5}),
    "bagging": ("bagging, 5 bootstrap samples", {"n_estimators": 5, "bootstrap": True}),
    "dropout": ("dropout 0.1", {"dropout": 0.1}),
}


def variant_task(config, seeds, variant):
    params = {**BASE, "max_epochs": config["max_epochs"], **VARIANTS[variant][1]}
    return fit_seeds(params, seeds)


def ensembles_analyze(config, results):
    plt = pyplot()
    rows, metrics = [], {}
    for key, (label, _) in VARIANTS.items():
        m = mean_sd(results[key]["test_mse"])
        metrics[key] = {
            "test_mse_mean": m[0],
            "test_mse_sd": m[1],
            "test_mse": results[key]["test_mse"],
        }
        cost = 5 if key in ("ensemble", "bagging") else 1
        rows.append({"model": label, "test MSE mean": m[0], "sd": m[1], "networks trained": cost})
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.boxplot([results[k]["test_mse"] for k in VARIANTS], tick_labels=list(VARIANTS))
    ax.axhline(NOISE_VARIANCE, color="gray", ls="--", lw=0.8, label="noise variance")
    ax.set_ylabel("test MSE")
    ax.legend()
    single = metrics["single"]["test_mse_mean"]
    return Report(
        "Ensembles, bagging and dropout on the quadratic toy",
        "Seeds 001 and 003: averaging "
        "networks and dropping units both lower the test error of an overfitting network.",
        [
            Section(
                "Test error over seeds",
                [
                    f"Every model trains for {config['max_epochs']} epochs (Adam, full batch); the "
                    "ensembles train 5 networks each, so they cost 5 times as much. "
                    f"{count(config['seeds'], 'seed')} per model. The single network's test MSE "
                    f"is {single:.4f}; the noise "
                    f"floor is {NOISE_VARIANCE}.",
                    "Dropout trains one network whose units are randomly silenced, an implicit "
                    "ensemble of its sub-networks that shares weights; bagging trains separate "
                    "networks "
                    "on bootstrap samples, which on 10 points also drops a third of the data per "
                    "member.",
                ],
                [
                    Table("Test MSE", pd.DataFrame(rows)),
                    Figure("ensembles_dropout", fig, "Test MSE over seeds for each model."),
                ],
            )
        ],
        metrics,
    )


ENSEMBLES = Study(
    "ensembles-dropout",
    "Seeds 001/003: ensembles of differently initialized networks, bagging "
    "and dropout against one network, test error and spread.",
    "seeds 001, 003",
    lambda c, s: [Task(k, variant_task, {"config": c, "seeds": s, "variant": k}) for k in VARIANTS],
    ensembles_analyze,
    {"max_epochs": 3000},
    {},
    seeds=10,
    quick_seeds=4,
)


# === sample-size ====
def size_task(config, seeds, n):
    params = {**BASE, "max_epochs": config["max_epochs"]}
    return fit_seeds(
        params, seeds, n_samples=n, data_seed=config["data_seed"], test_seed=config["test_seed"]
    )


def _fixed_test_noise(test_seed):
    """The MSE of the true function on the fixed test set: its noise floor."""
    _, _, Xt, yt = _toy(2, test_seed)
    return float(np.mean((Xt[:, 0] ** 2 - yt) ** 2))


def sample_size_analyze(config, results):
    plt = pyplot()
    sizes = config["sizes"]
    stats = [mean_sd(results[f"n/{n}"]["test_mse"]) for n in sizes]
    train = [mean_sd(results[f"n/{n}"]["train_mse"]) for n in sizes]
    floor = _fixed_test_noise(config["test_seed"])
    metrics = {
        "sizes": sizes,
        "test_mse": [s[0] for s in stats],
        "test_sd": [s[1] for s in stats],
        "train_mse": [t[0] for t in train],
        "noise_variance": NOISE_VARIANCE,
        "test_noise_floor": floor,  # the fixed test set's own noise MSE, the same for every n
    }
    gap = [te - tr for te, tr in zip(metrics["test_mse"], metrics["train_mse"], strict=True)]
    metrics["test_minus_train"] = gap
    # "train and test meet": the gap at the largest n is within 10% of the noise variance
    metrics["meets_at_largest_n"] = bool(abs(gap[-1]) <= 0.1 * NOISE_VARIANCE)
    metrics["test_falls"] = bool(metrics["test_mse"][-1] < metrics["test_mse"][0])
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.errorbar(
        sizes, metrics["test_mse"], yerr=metrics["test_sd"], marker="o", label="test", capsize=2
    )
    ax.plot(sizes, metrics["train_mse"], marker="s", label="train")
    ax.axhline(NOISE_VARIANCE, color="gray", ls="--", lw=0.8, label="noise variance")
    ax.axhline(floor, color="gray", ls=":", lw=0.8, label="noise MSE of the test set")
    ax.set(xscale="log", yscale="log", xlabel="training points n", ylabel="MSE")
    ax.legend()
    table = pd.DataFrame(
        {
            "n": sizes,
            "test MSE mean": metrics["test_mse"],
            "sd": metrics["test_sd"],
            "train MSE": metrics["train_mse"],
        }
    )
    te, tr = metrics["test_mse"], metrics["train_mse"]
    if metrics["meets_at_largest_n"]:
        verdict = (
            f"At n = {sizes[-1]} train and test error meet ({tr[-1]:.4f} and {te[-1]:.4f}, the "
            f"test set's noise MSE is {floor:.4f}): the network no longer overfits."
        )
    else:
        verdict = (
            f"At n = {sizes[-1]} train and test error still differ ({tr[-1]:.4f} and "
            f"{te[-1]:.4f}; the test set's noise MSE is {floor:.4f})."
        )
    trend = "falls" if metrics["test_falls"] else "does not fall"
    measured = (
        f"**Measured**: the test MSE {trend} from {te[0]:.4f} at n = {sizes[0]} to "
        f"{te[-1]:.4f} at n = {sizes[-1]}; the training MSE goes from {tr[0]:.4f} to "
        f"{tr[-1]:.4f}. " + verdict
    )
    return Report(
        "Sample size: the learning curve",
        f"Seed 001: test MSE {te[0]:.3f} at n = {sizes[0]}, {te[-1]:.3f} at n = {sizes[-1]} "
        f"(train {tr[0]:.3f} and {tr[-1]:.3f}) on one fixed test set.",
        [
            Section(
                "Learning curve",
                [
                    f"20 tanh units, {config['max_epochs']} epochs of Adam, no penalty, "
                    f"{count(config['seeds'], 'seed')} per n; training points evenly spaced on "
                    "[-1, 1], noise sd 0.2. "
                    "Every n is judged on the same 100-point test set (drawn from its own "
                    f"random state, {config['test_seed']}), whose noise MSE is {floor:.4f}.",
                    "**Claim** (seed 001): with more data the same unregularized network stops "
                    "overfitting. " + measured,
                ],
                [
                    Table("Error against n", table),
                    Figure("learning_curve", fig, "Train and test MSE against the sample size."),
                ],
            )
        ],
        metrics,
    )


SAMPLE_SIZE = Study(
    "sample-size",
    "Seed 001: learning curve of the 20-neuron network as the training set grows.",
    "seed 001",
    lambda c, s: [Task(f"n/{n}", size_task, {"config": c, "seeds": s, "n": n}) for n in c["sizes"]],
    sample_size_analyze,
    {"max_epochs": 3000, "sizes": [10, 20, 40, 80, 160, 320], "data_seed": 0, "test_seed": 1000},
    {"max_epochs": 2000, "sizes": [10, 40, 160]},
    seeds=10,
    quick_seeds=3,
)


# === optimizers ====
OPTIMIZER_LR = {
    "sgd": 0.1,
    "momentum": 0.05,
    "nesterov": 0.05,
    "rmsprop": 0.003,
    "adagrad": 0.1,
    "adam": 0.01,
    "adamw": 0.01,
}


def _sine(config):
    from sparsitylab.datasets import make_sine_toy

    X, y = make_sine_toy(n_samples=200, noise=0.05, random_state=0)
    return X, y


OPTIMIZER_NAMES = {
    "sgd": "SGD",
    "momentum": "momentum",
    "nesterov": "Nesterov",
    "rmsprop": "RMSProp",
    "adagrad": "AdaGrad",
    "adam": "Adam",
    "adamw": "AdamW",
}


def optimizer_task(
    config, seeds, name, batch_size=None, batch_norm=False, dropout=0.0, dropout_first=False
):
    """Training curves of one optimizer/batch/normalization setting, all seeds batched."""
    import jax

    from sparsitylab.engine.networks import MLP
    from sparsitylab.engine.optimizers import Optimizer
    from sparsitylab.engine.penalties import Sum
    from sparsitylab.engine.trainer import Data, Member, TrainConfig, stack_members, train

    X, y = _sine(config)
    data = Data(np.asarray(X, np.float32), np.asarray(y[:, None], np.float32))
    net = MLP(
        n_inputs=1,
        hidden=(32, 32),
        batch_norm=batch_norm,
        dropout=dropout > 0,
        dropout_first=dropout_first,
    )
    wd = 1e-2 if name == "adamw" else 0.0
    opt = Optimizer(name, OPTIMIZER_LR[name], wd)
    w = np.ones(len(y), np.float32)
    members = stack_members(
        [Member(jax.random.PRNGKey(s), Sum(()), opt, dropout, w) for s in range(seeds)]
    )
    res = train(
        net, TrainConfig(max_epochs=config["max_epochs"], batch_size=batch_size), data, members
    )
    if np.any(np.asarray(res.diverged_epoch) >= 0):
        return {"diverged": True, "loss": []}
    out = jax.vmap(lambda p, s: net.apply(p, s, data.X)[0])(res.params, res.state)
    final = np.mean((np.asarray(out)[:, :, 0] - y) ** 2, axis=1)
    return {"diverged": False, "loss": 2 * np.asarray(res.history["loss"]), "final_mse": final}


def optimizer_tasks(config, seeds):
    t = [
        Task(f"opt/{n}", optimizer_task, {"config": config, "seeds": seeds, "name": n})
        for n in config["optimizers"]
    ]
    t += [
        Task(
            f"batch/{b}",
            optimizer_task,
            {"config": config, "seeds": seeds, "name": "adam", "batch_size": b},
        )
        for b in config["batch_sizes"]
    ]
    for key, kw in (
        ("bn", {"batch_norm": True}),
        ("bn+dropout", {"batch_norm": True, "dropout": 0.1}),
        ("dropout+bn", {"batch_norm": True, "dropout": 0.1, "dropout_first": True}),
    ):
        t.append(
            Task(
                f"norm/{key}",
                optimizer_task,
                {"config": config, "seeds": seeds, "name": "adam", **kw},
            )
        )
    return t


def optimizers_analyze(config, results):
    plt = pyplot()
    metrics, sections = {}, []
    for group, title in (
        ("opt", "Optimizers (full batch)"),
        ("batch", "Minibatch sizes (Adam)"),
        ("norm", "Batch norm and dropout (Adam, full batch)"),
    ):
        keys = [k for k in results if k.startswith(group + "/")]
        if group != "opt":  # full-batch Adam without normalization is the reference of both
            keys = ["opt/adam", *keys]
        fig, ax = plt.subplots(figsize=(7, 3.8))
        rows = []
        for k in keys:
            r = results[k]
            label = k.split("/", 1)[1] if k != "opt/adam" or group == "opt" else "full batch, plain"
            if r["diverged"]:
                rows.append({"setting": label, "final train MSE mean": np.nan, "sd": np.nan})
                metrics[k] = None
                continue
            loss = np.asarray(r["loss"])
            ax.plot(np.arange(1, loss.shape[1] + 1), loss.mean(0), label=label)
            m = mean_sd(r["final_mse"])
            metrics[k] = metrics.get(k) or {
                "final_mse": m[0],
                "final_sd": m[1],
                "first_epoch_loss": float(loss[:, 0].mean()),
                "last_epoch_loss": float(loss[:, -1].mean()),
            }
            rows.append({"setting": label, "final train MSE mean": m[0], "sd": m[1]})
        ax.set(yscale="log", xscale="log", xlabel="epoch", ylabel="training loss (MSE)")
        ax.legend(fontsize=8)
        name = {"opt": "optimizer_curves", "batch": "batch_size_curves", "norm": "norm_curves"}[
            group
        ]
        sections.append(
            Section(
                title,
                [],
                [
                    Table("Final training MSE (mean, sd over seeds)", pd.DataFrame(rows)),
                    Figure(name, fig, f"{title}: mean training curve."),
                ],
            )
        )
    sections[0].text.append(
        f"A ReLU network (32, 32) on sin(πx/4) + noise (200 points), {config['max_epochs']} "
        f"epochs, {count(config['seeds'], 'seed')}; learning rates: "
        + ", ".join(f"{k} {OPTIMIZER_LR[k]:g}" for k in config["optimizers"])  # those trained
        + "."
        + (" AdamW adds decoupled weight decay 0.01." if "adamw" in config["optimizers"] else "")
    )
    names = [OPTIMIZER_NAMES[k] for k in config["optimizers"]]  # the optimizers trained
    trained = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    sections[1].text.append(
        "The same number of epochs: smaller batches take more steps per epoch, each noisier."
    )
    sections[2].text.append(
        "`bn+dropout`: dense → batch norm → ReLU → dropout; `dropout+bn`: "
        "dense → dropout → batch norm → ReLU. The curves are the training-mode MSE, no penalty "
        "(the dropout runs' with dropout on); the table's final MSE is recomputed on all 200 "
        "points after training. The two orders "
        "are compared only by these numbers and their seed-to-seed sd; why one order trains "
        "differently (e.g. batch-norm statistics shifted by dropout) is not measured here."
    )
    return Report(
        "Optimizers, minibatches and normalization",
        f"Seed 003: how {trained}, the batch size, batch norm and dropout shape training.",
        sections,
        metrics,
    )


OPTIMIZERS = Study(
    "optimizers",
    "Seed 003: SGD, momentum, Nesterov, RMSProp, AdaGrad, Adam, AdamW; minibatch "
    "sizes; batch norm with and without dropout (both orders); training curves.",
    "seed 003",
    optimizer_tasks,
    optimizers_analyze,
    {"max_epochs": 1000, "batch_sizes": [8, 32], "optimizers": list(OPTIMIZER_LR)},
    {"max_epochs": 200, "batch_sizes": [16], "optimizers": ["sgd", "momentum", "adam", "adamw"]},
    seeds=5,
    quick_seeds=2,
)


STUDIES = [EARLY_STOPPING, WEIGHT_PENALTY, ENSEMBLES, SAMPLE_SIZE, OPTIMIZERS]
