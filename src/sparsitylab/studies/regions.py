"""``activation-regions`` (seed 003, problem 4) and ``mnist-gradients`` (seed 003, problem 5).

``activation-regions``: a ReLU network fits ``sin(pi x / 4)`` at 200 even points of [-2, 2] (Adam,
learning rate 0.01, minibatches); per epoch the mean and maximum training error and the Hamming
distance between the activation patterns of all training points at the epoch's start and end
(recorded inside the compiled loop); after training, the exact activation regions on [-2, 2]
computed from the weights. All seeds train together as ensemble members of one program.

``mnist-gradients``: the CNN (conv -> ReLU -> max-pool -> dense softmax) on the bundled MNIST-5k
digits (80/20 split), Adam 1e-3, minibatches of 100: gradient norm per layer, loss and
classification error per epoch (``diagnostics.cnn_gradient_experiment``), one seed per task.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sparsitylab.report import Figure, Report, Section, Table
from sparsitylab.studies._framework import Study, Task, count, mean_sd, pyplot, sd_over_seeds

# === activation-regions ====
REGIONS = {"hidden": [20, 20], "max_epochs": 600, "batch_size": 20, "lr": 0.01}


def regions_task(config, seeds):
    from sparsitylab import SparseMLPRegressor
    from sparsitylab.datasets import make_sine_toy
    from sparsitylab.diagnostics import activation_regions_1d, hamming_history

    X, y = make_sine_toy(n_samples=200)
    model = SparseMLPRegressor(
        hidden_layer_sizes=tuple(config["hidden"]), activation="relu", penalty=None,
        optimizer="adam", learning_rate=config["lr"], batch_size=config["batch_size"],
        max_epochs=config["max_epochs"], n_estimators=seeds, record=("hamming", "max_error"),
        random_state=0,
    ).fit(X, y)  # fmt: skip
    out = {"hamming": [], "mse": [], "max_error": [], "n_regions": [], "final_max_error": []}
    grid = np.linspace(-2, 2, 400)[:, None]
    preds = model._forward(grid).astype(np.float64)[:, :, 0]
    fit = model._forward(X).astype(np.float64)[:, :, 0]
    for m in range(seeds):
        h = hamming_history(model, member=m)
        out["hamming"].append(h["hamming"].to_numpy())
        out["mse"].append(2 * h["loss"].to_numpy())  # the engine records MSE / 2
        out["max_error"].append(h["max_error"].to_numpy())
        regions = activation_regions_1d(model, -2.0, 2.0, member=m)
        out["n_regions"].append(len(regions))
        out["final_max_error"].append(float(np.max(np.abs(fit[m] - y))))
        if m == 0:
            out["regions"] = regions
    out["grid"], out["pred0"] = grid[:, 0], preds[0]
    out["n_hidden_units"] = int(sum(config["hidden"]))
    return out


def regions_analyze(config, results):
    plt = pyplot()
    r = results["fit"]
    H = np.asarray(r["hamming"], float)
    E = H.shape[1]
    k = max(1, E // 10)
    first, last = H[:, :k].mean(1), H[:, -k:].mean(1)
    mse, mx = np.asarray(r["mse"]), np.asarray(r["max_error"])
    metrics = {
        "epochs": E,
        "hamming_first_10pct": first.tolist(),
        "hamming_last_10pct": last.tolist(),
        "hamming_first_10pct_mean": float(np.mean(first)),
        "hamming_last_10pct_mean": float(np.mean(last)),
        "hamming_decreases_all_seeds": bool(np.all(last < first)),
        "hamming_last_epoch": H[:, -1].tolist(),
        "patterns_per_epoch": int(200 * r["n_hidden_units"]),
        "final_mse": mean_sd(mse[:, -1]),
        "final_max_error": mean_sd(r["final_max_error"]),
        "final_mse_per_seed": mse[:, -1].tolist(),  # the table's columns
        "final_max_error_per_seed": [float(v) for v in r["final_max_error"]],
        "n_regions": r["n_regions"],
        "n_regions_mean": mean_sd(r["n_regions"]),
    }
    epochs = np.arange(1, E + 1)
    fig1, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    a.semilogy(epochs, mse.mean(0), label="mean squared error (mean over seeds)")
    a.semilogy(epochs, mx.mean(0), label="max |f(x) - y| (mean over seeds)")
    a.set(xlabel="epoch", ylabel="training error")
    a.legend(fontsize=8)
    for i, h in enumerate(H):
        b.plot(epochs, h, lw=0.8, alpha=0.7, label=f"seed {i}")
    b.set(xlabel="epoch", ylabel="Hamming distance, epoch start vs end", yscale="symlog")
    b.legend(fontsize=8)
    regions = pd.DataFrame(r["regions"])
    fig2, ax = plt.subplots(figsize=(9, 3.8))
    codes = {p: i for i, p in enumerate(dict.fromkeys(regions["pattern"]))}
    cmap = plt.get_cmap("tab20")
    for row in regions.itertuples():
        ax.axvspan(row.start, row.end, color=cmap(codes[row.pattern] % 20), alpha=0.4, lw=0)
    xs = np.asarray(r["grid"])
    ax.plot(xs, np.sin(np.pi * xs / 4), "k--", lw=1, label="sin(πx/4)")
    ax.plot(xs, r["pred0"], color="tab:red", lw=1.5, label="network (seed 0)")
    ax.set(xlim=(-2, 2), xlabel="x", title=f"{len(regions)} activation regions (seed 0)")
    ax.legend(fontsize=8)
    rows = [
        {
            "seed": i,
            "Hamming, first 10% of epochs": first[i],
            "Hamming, last 10%": last[i],
            "last epoch": H[i, -1],
            "final MSE": mse[i, -1],
            "final max error": r["final_max_error"][i],
            "regions on [-2, 2]": r["n_regions"][i],
        }
        for i in range(len(H))
    ]
    text = [
        f"ReLU network {'-'.join(map(str, config['hidden']))}, Adam (learning rate "
        f"{config['lr']}), minibatches of {config['batch_size']}, {E} epochs, "
        f"{count(len(H), 'seed')}. "
        f"The Hamming distance counts, over the 200 training points and {r['n_hidden_units']} "
        f"hidden units ({metrics['patterns_per_epoch']} bits), the activations that differ "
        "between the start and the end of an epoch.",
        "**Seed 003's claim**: the Hamming distance falls over training and the last epoch's "
        "patterns are nearly unchanged. **Measured**: mean distance over the first 10% of "
        f"epochs {metrics['hamming_first_10pct_mean']:.1f}, over the last 10% "
        f"{metrics['hamming_last_10pct_mean']:.1f} "
        f"({'lower for every seed' if metrics['hamming_decreases_all_seeds'] else 'not lower for every seed'}); "  # noqa: E501
        f"at the last epoch {', '.join(str(int(v)) for v in H[:, -1])} bits change. The "
        "distance does not reach zero with a constant learning rate: the points next to a "
        "breakpoint keep flipping as Adam's steps jitter the breakpoints.",
        f"The trained networks have {metrics['n_regions_mean'][0]:.1f} activation regions on "
        f"[-2, 2] (sd {metrics['n_regions_mean'][1]:.1f}), computed exactly from the weights; "
        f"final MSE {metrics['final_mse'][0]:.2e}, maximum error "
        f"{metrics['final_max_error'][0]:.3f}.",
    ]
    return Report(
        "Activation regions and pattern changes of a ReLU network",
        "Seed 003, problem 4: training error, exact activation regions and Hamming distances "
        "per epoch on sin(πx/4).",
        [
            Section("Training", text, [
                Table("Per seed", pd.DataFrame(rows)),
                Figure("errors_and_hamming", fig1,
                       "Left: mean squared and maximum training error per epoch. Right: "
                       "activation-pattern changes per epoch."),
                Figure("activation_regions", fig2,
                       "The trained function and its activation regions, shaded by pattern."),
            ]),
        ],
        metrics,
    )  # fmt: skip


ACTIVATION_REGIONS = Study(
    "activation-regions",
    "Seed 003 problem 4: a ReLU net on sin(pi x/4): mean and max error per epoch, exact "
    "activation regions, Hamming distances per epoch.",
    "seed 003",
    lambda c, s: [Task("fit", regions_task, {"config": c, "seeds": s})],
    regions_analyze,
    REGIONS,
    {"max_epochs": 150},
    seeds=5,
    quick_seeds=2,
)


# === mnist-gradients ====
MNIST = {"n_epochs": 25, "n_samples": None, "batch_size": 100, "lr": 1e-3, "channels": [8]}


def mnist_task(config, seed):
    from sparsitylab.diagnostics import cnn_gradient_experiment

    frame = cnn_gradient_experiment(
        n_epochs=config["n_epochs"], batch_size=config["batch_size"], lr=config["lr"],
        channels=tuple(config["channels"]), n_samples=config["n_samples"], random_state=seed,
    )  # fmt: skip
    return {col: frame[col].to_numpy() for col in frame.columns}


def mnist_analyze(config, results):
    plt = pyplot()
    runs = [results[f"seed/{s}"] for s in range(config["seeds"])]
    cols = [c for c in runs[0] if c.startswith("grad_")]
    A = {c: np.asarray([r[c] for r in runs], float) for c in [*cols, "loss", "train_error",
                                                              "test_error"]}  # fmt: skip
    E = A["loss"].shape[1]
    metrics = {
        "epochs": E,
        "test_error_first": mean_sd(A["test_error"][:, 0]),
        "test_error_last": mean_sd(A["test_error"][:, -1]),
        "train_error_last": mean_sd(A["train_error"][:, -1]),
        "loss_first": mean_sd(A["loss"][:, 0]),
        "loss_last": mean_sd(A["loss"][:, -1]),
        "grad_total_first": mean_sd(A["grad_total"][:, 0]),
        "grad_total_last": mean_sd(A["grad_total"][:, -1]),
        "grad_total_max": float(A["grad_total"].max()),
        "grad_norm_of": "epoch mean gradient",  # not the mean of the per-step norms
    }
    epochs = np.arange(1, E + 1)
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for c in cols:
        m, s = A[c].mean(0), sd_over_seeds(A[c])
        axes[0].semilogy(epochs, m, label=c)
        axes[0].fill_between(epochs, np.maximum(m - s, 1e-12), m + s, alpha=0.2)
    axes[0].set_ylabel("L2 norm of the epoch's mean gradient")
    axes[0].legend(fontsize=8)
    for c, lab in (("train_error", "train"), ("test_error", "test")):
        m, s = A[c].mean(0), sd_over_seeds(A[c])
        axes[1].plot(epochs, m, label=lab)
        axes[1].fill_between(epochs, m - s, m + s, alpha=0.2)
    axes[1].set_ylabel("classification error")
    axes[1].legend()
    axes[2].semilogy(epochs, A["loss"].mean(0))
    axes[2].set_ylabel("training loss (cross-entropy)")
    for ax in axes:
        ax.set_xlabel("epoch")
    n_images = config["n_samples"] or 5000
    table = pd.DataFrame(
        [
            {"": "epoch 1", "loss": metrics["loss_first"][0],
             "test error": metrics["test_error_first"][0],
             "test error sd": metrics["test_error_first"][1],
             "norm of mean gradient": metrics["grad_total_first"][0]},
            {"": f"epoch {E}", "loss": metrics["loss_last"][0],
             "test error": metrics["test_error_last"][0],
             "test error sd": metrics["test_error_last"][1],
             "norm of mean gradient": metrics["grad_total_last"][0]},
        ]
    )  # fmt: skip
    ratio = metrics["grad_total_last"][0] / metrics["grad_total_first"][0]
    train_last = metrics["train_error_last"][0]
    if ratio < 1:
        grads = (
            "The norm of the epoch's mean gradient shrinks with the loss here; this says "
            "nothing about how large the single steps' gradients stay"
        )
    else:
        grads = f"The norm of the epoch's mean gradient does not shrink over these {E} epochs"
    if train_last < 0.05:  # the training set is (nearly) fitted
        fitted = (
            f" while the training error goes to zero ({train_last:.3f} after {E} epochs); "
            "the test error flattens once the training set is fitted."
        )
    else:
        fitted = (
            f". The training error is still {train_last:.3f} after {E} epochs, so this run "
            "stops before the training set is fitted."
        )
    text = [
        f"CNN with {config['channels'][0]} 3x3 filters, ReLU, max-pooling and a dense softmax "
        f"layer on {n_images} MNIST digits (80% train, 20% test, stratified), Adam "
        f"{config['lr']}, minibatches of {config['batch_size']}, {E} epochs, "
        f"{count(config['seeds'], 'seed')}. The recorded gradient norm is the L2 norm (per "
        "layer and in total) of the "
        "epoch's mean gradient, the minibatch gradients averaged over the epoch's steps, not "
        "the mean of the per-step norms: minibatch noise cancels partly in the mean, so the "
        "per-step norms are on average at least as large as the plotted value (triangle "
        "inequality). Per-step norms are not recorded, so this run does not test how large the "
        "single steps' gradients are.",
        "**Seed 003's claim**: despite large gradient norms the classification error "
        "stabilizes early, and Adam keeps the parameter updates small. **Measured**: the test "
        f"error falls from {metrics['test_error_first'][0]:.3f} after the first epoch to "
        f"{metrics['test_error_last'][0]:.3f} (sd {metrics['test_error_last'][1]:.3f}); the "
        f"norm of the epoch's mean gradient ends at {ratio:.2g} times its first-epoch value. "
        + grads
        + fitted,
    ]
    return Report(
        "Gradient norms and classification error of a CNN on MNIST",
        "Seed 003, problem 5: gradient norms per layer, classification error and loss per epoch.",
        [Section("Training", text, [
            Table("First and last epoch (mean over seeds)", table),
            Figure("cnn_training", fig, "Norms of the epoch's mean gradient, classification error "
                   "and loss per epoch (mean ± sd over seeds)."),
        ])],
        metrics,
    )  # fmt: skip


MNIST_GRADIENTS = Study(
    "mnist-gradients",
    "Seed 003 problem 5: the CNN on MNIST-5k: gradient norms per layer, classification error "
    "and loss per epoch.",
    "seed 003",
    lambda c, s: [Task(f"seed/{i}", mnist_task, {"config": c, "seed": i}) for i in range(s)],
    mnist_analyze,
    MNIST,
    {"n_epochs": 4, "n_samples": 1000},
    seeds=3,
    quick_seeds=2,
)

STUDIES = [ACTIVATION_REGIONS, MNIST_GRADIENTS]
