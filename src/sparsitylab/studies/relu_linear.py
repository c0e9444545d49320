"""``relu-vs-linear``: seed 002's ReLU network against least squares on non-negative features.

Features uniform on [0, 1] (non-negative), two targets: a linear one and one with a non-linear
term. Three models per seed:

* least squares with an intercept (the global optimum of the linear model);
* a ReLU network ``D -> D -> D -> 1`` (seed 002's architecture with ``L = 2``) trained by Adam;
* the same network with every weight held non-negative, the output layer's included, and every
  hidden bias non-negative (projected Adam; the output bias, the intercept, is free): on
  non-negative inputs every ReLU is then the identity, so the network *is* a linear model with
  non-negative coefficients, ``x W_1 W_2 W_3 + c``; ``diagnostics.collapse_nonnegative_relu``
  gives that model. Every non-negative coefficient vector is reachable (``W_1 = W_2 = I``), so
  the constrained network's optimum is non-negative least squares with a free intercept
  (``scipy.optimize.nnls`` on centred data), whose loss is at least least squares'.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sparsitylab.report import Figure, Report, Section, Table
from sparsitylab.studies._framework import Study, Task, count, mean_sd, pyplot

CONFIG = {"n": 200, "d": 5, "noise": 0.1, "max_epochs": 3000, "lr": 0.01}
QUICK = {"max_epochs": 1000}
TARGETS = ("linear", "nonlinear")


def make_data(config, target, seed):
    rng = np.random.default_rng(5000 + seed)
    X = rng.uniform(0.0, 1.0, (config["n"], config["d"]))
    w = np.linspace(1.0, -1.0, config["d"])  # mixed signs: least squares is not non-negative
    y = X @ w + config["noise"] * rng.standard_normal(config["n"])
    if target == "nonlinear":
        y = y + 2.0 * np.abs(X[:, 0] - 0.5)
    return X, y


def _half_sse(pred, y):
    return 0.5 * float(np.sum((pred - y) ** 2))


def nonnegative_network(X, y, hidden, epochs, lr, seed):
    """Projected Adam on ``1/2 sum (f(x) - y)^2 / n`` with every weight (output layer's included)
    and every hidden bias >= 0; the output bias is free."""
    import jax
    import jax.numpy as jnp
    import optax

    sizes = [X.shape[1], *hidden, 1]
    keys = jax.random.split(jax.random.PRNGKey(seed), len(sizes) - 1)
    params = [
        (jax.random.uniform(k, (a, b), jnp.float64) / a, jnp.full((b,), 0.01, jnp.float64))
        for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]
    Xj, yj = jnp.asarray(X), jnp.asarray(y)

    def forward(p, x):
        for w, b in p[:-1]:
            x = jax.nn.relu(x @ w + b)
        return (x @ p[-1][0] + p[-1][1])[:, 0]

    def loss(p):
        return 0.5 * jnp.mean((forward(p, Xj) - yj) ** 2)

    opt = optax.adam(lr)

    def project(p):
        hidden = [(jnp.maximum(w, 0), jnp.maximum(b, 0)) for w, b in p[:-1]]
        return [*hidden, (jnp.maximum(p[-1][0], 0), p[-1][1])]

    @jax.jit
    def run(p):
        def step(carry, _):
            p, s = carry
            g = jax.grad(loss)(p)
            u, s = opt.update(g, s, p)
            return (project(optax.apply_updates(p, u)), s), None

        (p, _), _ = jax.lax.scan(step, (p, opt.init(p)), None, length=epochs)
        return p

    p = run(params)
    weights = [np.asarray(w) for w, _ in p]
    biases = [np.asarray(b) for _, b in p]
    return weights, biases


def task(config, target, seeds):
    from scipy.optimize import nnls

    from sparsitylab import SparseMLPRegressor
    from sparsitylab.diagnostics import collapse_nonnegative_relu, relu_vs_least_squares
    from sparsitylab.diagnostics._model import as_dense

    d = config["d"]
    out = {k: [] for k in ("ls", "relu", "nn_relu", "nnls", "collapse_err", "not_worse", "min_w")}
    for s in range(seeds):
        X, y = make_data(config, target, s)
        net = SparseMLPRegressor(
            hidden_layer_sizes=(d, d), activation="relu", penalty=None, optimizer="adam",
            learning_rate=config["lr"], max_epochs=config["max_epochs"], random_state=s,
        ).fit(X, y)  # fmt: skip
        cmp = relu_vs_least_squares(net, X, y)
        out["ls"].append(cmp["least_squares_loss"])
        out["relu"].append(cmp["network_loss"])
        out["not_worse"].append(bool(cmp["network_not_worse"]))
        W, B = nonnegative_network(X, y, (d, d), config["max_epochs"], config["lr"], s)
        coef, icpt = collapse_nonnegative_relu((W, B))
        pred_net = as_dense((W, B)).forward(X)[0][:, 0]
        pred_lin = X @ coef[:, 0] + icpt[0]
        out["collapse_err"].append(float(np.max(np.abs(pred_net - pred_lin))))
        out["nn_relu"].append(_half_sse(pred_net, y))
        out["min_w"].append(float(min(w.min() for w in W)))
        # non-negative least squares with a free intercept: centre, then NNLS
        xm, ym = X.mean(0), y.mean()
        beta, _ = nnls(X - xm, y - ym)
        out["nnls"].append(_half_sse((X - xm) @ beta + ym, y))
    return out


def tasks(config, seeds):
    return [Task(t, task, {"config": config, "target": t, "seeds": seeds}) for t in TARGETS]


def analyze(config, results):
    plt = pyplot()
    rows, metrics = [], {}
    for t in TARGETS:
        r = {k: np.asarray(v, float) for k, v in results[t].items()}
        ratio = r["relu"] / r["ls"]
        metrics[t] = {
            "least_squares_loss": mean_sd(r["ls"]),
            "relu_loss": mean_sd(r["relu"]),
            "relu_over_ls": ratio.tolist(),
            "relu_not_worse_fraction": float(np.mean(r["not_worse"])),
            "nonneg_relu_loss": mean_sd(r["nn_relu"]),
            "nnls_loss": mean_sd(r["nnls"]),
            "nonneg_over_nnls": (r["nn_relu"] / r["nnls"]).tolist(),
            "nonneg_over_ls_min": float(np.min(r["nn_relu"] / r["ls"])),
            "collapse_max_abs_diff": float(r["collapse_err"].max()),
            "nonneg_min_weight": float(r["min_w"].min()),
        }
        rows.append(
            {
                "target": t,
                "least squares": r["ls"].mean(),
                "ReLU network": r["relu"].mean(),
                "sd": mean_sd(r["relu"])[1],
                "network ≤ LS (seeds)": f"{int(r['not_worse'].sum())}/{len(ratio)}",
                "non-negative ReLU net": r["nn_relu"].mean(),
                "NNLS": r["nnls"].mean(),
            }
        )
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, t in zip(axes, TARGETS, strict=True):
        r = results[t]
        xs = np.arange(len(r["ls"]))
        ax.plot(xs, r["ls"], "o-", label="least squares")
        ax.plot(xs, r["relu"], "s-", label="ReLU network")
        ax.plot(xs, r["nn_relu"], "^-", label="ReLU net, all weights ≥ 0")
        ax.plot(xs, r["nnls"], "x--", label="NNLS")
        ax.set(title=f"{t} target", xlabel="seed", ylabel="training loss ½ Σ (f(x) - y)²")
        ax.legend(fontsize=8)
    lin, nl = metrics["linear"], metrics["nonlinear"]
    text = [
        f"{config['n']} points with {config['d']} features uniform on [0, 1]; targets "
        "`x · w + noise` with w from 1 down to -1 (linear) and the same plus 2 |x_1 - 0.5| "
        f"(non-linear); noise sd {config['noise']}. Networks {config['d']}-{config['d']}-"
        f"{config['d']}-1 with ReLU, Adam (learning rate {config['lr']}), full batch, "
        f"{config['max_epochs']} epochs, {count(config['seeds'], 'seed')}. Losses are "
        "½ Σ (f(x_n) - y_n)² as in the seed.",
        "**Seed 002's claims**: (a) if the network's optimal weights are non-negative, the "
        "network is a linear model and its loss equals least squares'; (b) in general "
        "L_NN* ≤ L_LS*, since a linear model is a special case of the network.",
        f"**Measured, (b)**: the trained ReLU network's loss is at most least squares' in "
        f"{lin['relu_not_worse_fraction']:.0%} of the seeds on the linear target (mean ratio "
        f"{np.mean(lin['relu_over_ls']):.4f}) and {nl['relu_not_worse_fraction']:.0%} on the "
        f"non-linear one (mean ratio {np.mean(nl['relu_over_ls']):.3f}). The inequality is about "
        "global minima; a trained network reaches it in practice here, but nothing guarantees "
        "it (a run can stop at a worse stationary point, e.g. with dead units).",
        "**Measured, (a)**: holding every weight non-negative, the output layer's included, and "
        "every hidden bias non-negative (the output bias, the intercept, is free) makes the "
        "network exactly linear: its predictions equal those of the collapsed linear model "
        "x W_1 W_2 W_3 + c to "
        f"{max(lin['collapse_max_abs_diff'], nl['collapse_max_abs_diff']):.1e}. Its coefficients "
        "W_1 W_2 W_3 are products of non-negative matrices, hence non-negative, and every "
        "non-negative coefficient vector is reachable (W_1 = W_2 = I), so the constrained "
        "network's optimum is non-negative least squares (with a free intercept), **not** least "
        "squares: its loss is "
        f"{np.mean(lin['nonneg_over_nnls']):.4f} times NNLS' and at least "
        f"{lin['nonneg_over_ls_min']:.2f} times least squares' on the linear target, whose "
        "least-squares coefficients have mixed signs "
        f"({np.mean(nl['nonneg_over_nnls']):.4f} times NNLS' on the non-linear one). The seed's "
        "equality holds only under its exact hypothesis, that the *unconstrained* global optimum "
        "happens to be non-negative (then NNLS and least squares meet); holding the weights "
        "non-negative does not make it so. The seed's collapse x W_1 ⋯ W_{L+1} also leaves out "
        "the biases, which give the intercept c.",
    ]
    metrics["seeds"] = config["seeds"]
    return Report(
        "ReLU networks against least squares on non-negative features",
        "Seed 002: a ReLU network is never worse than least squares at its optimum, and "
        "with non-negative weights it is a linear model.",
        [
            Section("Training losses", text, [
                Table("Training loss ½ Σ (f(x) - y)² (mean over seeds)", pd.DataFrame(rows)),
                Figure("relu_vs_least_squares", fig, "Training loss per seed, four models."),
            ])
        ],
        metrics,
    )  # fmt: skip


STUDY = Study(
    "relu-vs-linear",
    "Seed 002: least squares vs ReLU networks on non-negative features; the network with every "
    "weight non-negative as a linear model (non-negative least squares).",
    "seed 002",
    tasks,
    analyze,
    CONFIG,
    QUICK,
    seeds=5,
    quick_seeds=2,
)
