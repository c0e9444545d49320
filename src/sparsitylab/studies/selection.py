"""``feature-selection``: the sparse-network path against the Lasso.

* Regression with non-linear informative features (``make_sparse_regression(nonlinear=True)``:
  ``1.5 x_a - 1.5 x_b + 2 sin(2 x_c) + 2 x_d x_e``): ``SparseMLPRegressorCV`` (group lasso on the
  first layer's rows, proximal SGD, alpha by K-fold CV on a warm path) against ``LassoCV``;
  recovery of the informative set over seeds.
* MNIST-5k pixels: a group-lasso network path on a training subset, the point nearest
  ``target_pixels`` pixels; about as many pixels (the nearest count on a C grid) chosen by L1
  logistic regression, and as many at random; each set is judged by the test accuracy of the
  same unpenalized network refitted on it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from sparsitylab.report import Figure, Report, Section, Table
from sparsitylab.studies._framework import Study, Task, count, mean_sd, pyplot

CONFIG = {
    "n": 400, "p": 50, "cv": 3, "n_alphas": 10, "max_epochs": 600,
    "mnist_train": 2000, "mnist_test": 1000, "mnist_epochs": 400, "target_pixels": 50,
    "mnist_alphas": [0.03, 0.05, 0.08, 0.12, 0.2],
}  # fmt: skip
QUICK = {
    "n_alphas": 6,
    "max_epochs": 400,
    "mnist_train": 800,
    "mnist_epochs": 150,
    "mnist_alphas": [0.05, 0.08, 0.12, 0.2],
}


def regression_task(config, seed):
    from sklearn.linear_model import LassoCV

    from sparsitylab import SparseMLPRegressorCV
    from sparsitylab.datasets import make_sparse_regression

    X, y, support, roles = make_sparse_regression(
        config["n"], config["p"], 5, nonlinear=True, random_state=seed, return_roles=True
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = SparseMLPRegressorCV(
            cv=config["cv"], n_alphas=config["n_alphas"], max_epochs=config["max_epochs"],
            random_state=seed,
        ).fit(X, y)  # fmt: skip
        lasso = LassoCV(cv=config["cv"], random_state=seed).fit(X, y)
    return {
        "support": support,
        "roles": roles,
        "network": net.selected_features_,
        "lasso": np.flatnonzero(lasso.coef_),
        "path_n_selected": net.path_.n_selected,
        "path_alphas": net.path_.alphas,
        "path_val_loss": net.path_.val_loss,
        "best_index": net.path_.best_index,
    }


def _dense_accuracy(Xa, ya, Xb, yb, cols, config, seed):
    from sparsitylab import SparseMLPClassifier

    model = SparseMLPClassifier(
        hidden_layer_sizes=(32,), penalty=None, optimizer="adam", learning_rate=1e-2,
        max_epochs=config["mnist_epochs"], random_state=seed,
    ).fit(Xa[:, cols], ya)  # fmt: skip
    return float(model.score(Xb[:, cols], yb))


def _l1_pixels(Xa, ya, C):
    """The pixels that any class uses in one-vs-rest L1 logistic regression at ``C``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    base = LogisticRegression(penalty="l1", C=C, solver="liblinear", tol=1e-3)
    coef = np.vstack([e.coef_ for e in OneVsRestClassifier(base).fit(Xa, ya).estimators_])
    return np.flatnonzero(np.any(coef != 0, axis=0))


def _l1_logistic_pixels(Xa, ya, target, steps=12):
    """L1 logistic regression's pixel set of the size nearest ``target``: bisection on ``log C``
    over [1e-3, 10] (the count grows with C), keeping the nearest set seen."""
    lo, hi = np.log(1e-3), np.log(10.0)
    best = None
    for _ in range(steps):
        mid = (lo + hi) / 2
        cols = _l1_pixels(Xa, ya, float(np.exp(mid)))
        if best is None or abs(len(cols) - target) < abs(len(best) - target):
            best = cols
        if len(cols) == target:
            break
        lo, hi = (mid, hi) if len(cols) < target else (lo, mid)
    return best


def mnist_task(config, seed):
    from sklearn.model_selection import train_test_split

    from sparsitylab import SparseMLPClassifier
    from sparsitylab.datasets import load_mnist5k

    X, y = load_mnist5k(return_X_y=True)
    Xa, Xb, ya, yb = train_test_split(
        X, y, train_size=config["mnist_train"], test_size=config["mnist_test"], stratify=y,
        random_state=seed,
    )  # fmt: skip
    k = config["target_pixels"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = SparseMLPClassifier(
            hidden_layer_sizes=(32,), penalty="group_input", optimizer="sgd", learning_rate=0.1,
            max_epochs=config["mnist_epochs"], random_state=seed,
        ).path(Xa, ya, alphas=config["mnist_alphas"])  # fmt: skip
        counts = np.asarray(path.n_selected, float)
        i = int(np.argmin(np.where(counts > 0, np.abs(counts - k), np.inf)))
        net_cols = np.flatnonzero(path.selected[i])
        best = _l1_logistic_pixels(Xa, ya, len(net_cols))
        rng = np.random.default_rng(seed)
        informative = np.flatnonzero(Xa.std(0) > 0)
        random_cols = np.sort(rng.choice(informative, len(net_cols), replace=False))
        acc = {
            name: _dense_accuracy(Xa, ya, Xb, yb, cols, config, seed)
            for name, cols in (("network", net_cols), ("l1_logistic", best),
                               ("random", random_cols))
        }  # fmt: skip
        acc["all_pixels"] = _dense_accuracy(Xa, ya, Xb, yb, np.arange(784), config, seed)
    return {
        "n_network": len(net_cols), "n_l1": len(best), "accuracy": acc,
        "network_pixels": net_cols, "path_n_selected": path.n_selected,
    }  # fmt: skip


def tasks(config, seeds):
    out = [Task(f"regression/{s}", regression_task, {"config": config, "seed": s})
           for s in range(seeds)]  # fmt: skip
    out += [Task(f"mnist/{s}", mnist_task, {"config": config, "seed": s}) for s in range(seeds)]
    return out


def _counts(values):
    """Per-seed counts as text: one number when they agree, else the list."""
    values = [int(v) for v in values]
    return str(values[0]) if len(set(values)) == 1 else "/".join(map(str, values))


def _recovery(selected, support):
    sel, sup = set(selected), set(support)
    return len(sel & sup), len(sel - sup)


def _precision(found, kept):
    """Informative among the kept inputs; None when none is kept."""
    return found / kept if kept else None


def _mean_defined(values):
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _seeds(seeds) -> str:
    """``"seed 1"``, ``"seeds 0 and 2"``, ``"seeds 0, 1 and 3"``."""
    seeds = [str(s) for s in seeds]
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    return f"seeds {', '.join(seeds[:-1])} and {seeds[-1]}"


def _fmt(value, spec=".2f") -> str:
    return "n/a" if value is None else format(value, spec)


def analyze(config, results):
    plt = pyplot()
    seeds = config["seeds"]
    reg = [results[f"regression/{s}"] for s in range(seeds)]
    n_inputs = config["p"]
    rows, found, false = [], {"network": [], "lasso": []}, {"network": [], "lasso": []}
    kept = {"network": [], "lasso": []}  # per seed: how many inputs each keeps
    missed = {"network": [], "lasso": []}  # per seed: the roles of the informative ones missed
    for s, r in enumerate(reg):
        roles = r.get("roles")
        for who in ("network", "lasso"):
            tp, fp = _recovery(r[who], r["support"])
            found[who].append(tp)
            false[who].append(fp)
            kept[who].append(len(r[who]))
            chosen = set(np.asarray(r[who]).tolist())
            missed[who].append(sorted(
                (roles[j] if roles else f"x{c}")
                for j, c in enumerate(np.asarray(r["support"]).tolist()) if c not in chosen
            ))  # fmt: skip
        rows.append({
            "seed": s, "informative": str(list(r["support"])),
            "roles": ", ".join(roles) if roles else "?",
            "network selects": str(list(r["network"])), "Lasso selects": str(list(r["lasso"])),
        })  # fmt: skip
    precision = {who: [_precision(f, k) for f, k in zip(found[who], kept[who], strict=True)]
                 for who in found}  # fmt: skip
    # a seed where CV kept every input selected nothing: its recall of 5 is no recovery
    all_kept = {who: [s for s, k in enumerate(kept[who]) if k == n_inputs] for who in kept}
    means = {
        f"{who}_{what}_mean": float(np.mean(v))
        for what, by in (("found", found), ("false", false), ("kept", kept))
        for who, v in by.items()
    }
    means |= {f"{who}_precision_mean": _mean_defined(v) for who, v in precision.items()}
    mn = [results[f"mnist/{s}"] for s in range(seeds)]
    acc = {k: [m["accuracy"][k] for m in mn] for k in mn[0]["accuracy"]}
    metrics = {
        "regression": {
            "network_found": found["network"], "network_false": false["network"],
            "lasso_found": found["lasso"], "lasso_false": false["lasso"],
            "network_kept": kept["network"], "lasso_kept": kept["lasso"],
            "network_precision": precision["network"], "lasso_precision": precision["lasso"],
            "network_kept_all": all_kept["network"], "lasso_kept_all": all_kept["lasso"],
            **means,
            "network_found_when_selecting_mean": _mean_defined(
                [f for s, f in enumerate(found["network"]) if s not in all_kept["network"]]),
            "e_x_sin_2x": 2 * np.exp(-2),  # E[x sin 2x] for standard normal x
            "network_exact": [f == 5 and p == 0 for f, p in
                              zip(found["network"], false["network"], strict=True)],
            "lasso_missed": [len(x) for x in missed["lasso"]],
            "network_missed": [len(x) for x in missed["network"]],
            "lasso_missed_roles": missed["lasso"], "network_missed_roles": missed["network"],
        },
        "mnist": {
            "n_pixels_network": [m["n_network"] for m in mn],
            "n_pixels_l1": [m["n_l1"] for m in mn],
            **{f"accuracy_{k}": mean_sd(v) for k, v in acc.items()},
        },
    }  # fmt: skip
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    r0 = reg[0]
    a = axes[0]
    a.plot(r0["path_alphas"], r0["path_n_selected"], marker="o", color="tab:blue")
    a.axvline(r0["path_alphas"][r0["best_index"]], color="gray", ls="--", lw=0.8)
    a.set(xscale="log", xlabel="alpha", ylabel="features selected", title="network path (seed 0)")
    b = a.twinx()
    b.plot(r0["path_alphas"], r0["path_val_loss"], color="tab:red", marker=".")
    b.set_ylabel("CV validation loss", color="tab:red")
    img = np.zeros(784)
    for m in mn:
        img[np.asarray(m["network_pixels"], int)] += 1
    im = axes[1].imshow(img.reshape(28, 28), cmap="viridis", vmin=0, vmax=seeds)
    fig.colorbar(im, ax=axes[1], label="seeds selecting the pixel", ticks=range(seeds + 1))
    axes[1].set(title=f"pixels the network selected ({count(seeds, 'seed')})", xticks=[], yticks=[])
    npx, nl1 = metrics["mnist"]["n_pixels_network"], metrics["mnist"]["n_pixels_l1"]
    mrow = [
        {"pixels": name, "n per seed": n, "test accuracy": mean_sd(acc[key])[0],
         "sd": mean_sd(acc[key])[1]}
        for name, key, n in (("network path", "network", _counts(npx)),
                             ("L1 logistic", "l1_logistic", _counts(nl1)),
                             ("random", "random", _counts(npx)), ("all", "all_pixels", "784"))
    ]  # fmt: skip
    rg = metrics["regression"]
    nseeds = count(seeds, "seed")
    recovery = pd.DataFrame([
        {"seed": s, **{f"{label} {col}": value for who, label in (("network", "network"),
                                                                  ("lasso", "Lasso"))
                       for col, value in (
                           ("keeps", kept[who][s]),
                           ("found (of 5)", found[who][s]),
                           ("false positives", false[who][s]),
                           ("precision", precision[who][s]))}}
        for s in range(seeds)
    ])  # fmt: skip
    known = all(r.get("roles") for r in reg)

    def _missed(who):
        per = [", ".join(x) if x else "none" for x in missed[who]]
        return "; ".join(f"seed {s}: {x}" for s, x in enumerate(per))

    fn, ln = rg["network_found_mean"], rg["lasso_found_mean"]
    fpn, fpl = rg["network_false_mean"], rg["lasso_false_mean"]
    pn, pl = rg["network_precision_mean"], rg["lasso_precision_mean"]
    recall = (
        "the network's recall is higher" if fn > ln else
        "the Lasso's recall is higher" if ln > fn else "their recall is the same"
    )  # fmt: skip
    fps = (
        "the network has more false positives" if fpn > fpl else
        "the Lasso has more false positives" if fpl > fpn else "as many false positives"
    )  # fmt: skip
    prec = (
        "" if pn is None or pl is None else
        ", and its precision is higher" if pn > pl else
        ", and the Lasso's precision is higher" if pl > pn else ", and the same precision"
    )  # fmt: skip
    no_selection = {
        who: (f"{label} kept all {n_inputs} inputs in {_seeds(all_kept[who])} (no selection at "
              "the CV alpha)") if all_kept[who] else ""
        for who, label in (("network", "the network"), ("lasso", "the Lasso"))
    }  # fmt: skip
    caveats = [x for x in no_selection.values() if x]
    text_reg = [
        f"{config['n']} samples, {config['p']} features, 5 informative: two linear, one "
        "through sin(2x), two only through their product. `SparseMLPRegressorCV` (hidden 32, "
        f"group lasso on the input rows, {config['cv']}-fold CV over {config['n_alphas']} "
        f"alphas, {config['max_epochs']} epochs) against `LassoCV`, {nseeds}.",
        "**Claim**: the network path recovers the informative set; the Lasso misses the "
        f"non-linear ones. **Measured**: the network keeps {kept['network']} inputs per seed "
        f"and finds {fn:.1f} of 5 on average (per seed {found['network']}) with {fpn:.1f} "
        f"false positives (per seed {false['network']}; precision {_fmt(pn)}; the exact set "
        f"in {sum(rg['network_exact'])} of {nseeds}); the Lasso keeps {kept['lasso']} and "
        f"finds {ln:.1f} of 5 (per seed {found['lasso']}) with {fpl:.1f} false positives "
        f"(per seed {false['lasso']}; precision {_fmt(pl)}): {recall}, {fps}{prec}.",
    ]
    if caveats:
        selecting = rg["network_found_when_selecting_mean"]
        if not all_kept["network"]:
            after = ""
        elif selecting is None:
            after = "The network selected in no seed, so this run does not test the claim."
        else:
            after = f"Over the seeds where the network selected, it finds {selecting:.1f} of 5."
        joined = "; ".join(caveats)
        text_reg.append(
            joined[0].upper() + joined[1:] + ": a seed that keeps every input finds all 5 "
            "without selecting, so its recall is no recovery, and its precision is "
            f"{5 / n_inputs:.2f}, the share of informative inputs. " + after
        )
    if known:
        lasso_sin = sum("sin" not in x for x in missed["lasso"])
        lasso_prod = [2 - x.count("product") for x in missed["lasso"]]
        text_reg.append(
            f"Informative features missed, by role — by the Lasso: {_missed('lasso')}; by the "
            f"network: {_missed('network')}. The Lasso selects the sin(2x) feature in "
            f"{lasso_sin} of {nseeds}: sin(2x) is correlated with x (E[x sin 2x] = 2e^-2, about "
            f"{rg['e_x_sin_2x']:.2f} for standard normal x), so a linear model sees part of it. "
            "Only the product's "
            "factors are uncorrelated with the target, invisible to a linear model in "
            "expectation; the Lasso selected "
            + ", ".join(f"{k} of the 2 in seed {s}" for s, k in enumerate(lasso_prod))
            + (" (through chance correlation in the sample)." if any(lasso_prod) else ".")
        )
    else:
        text_reg.append(
            f"Informative features missed — by the Lasso: {_missed('lasso')}; by the network: "
            f"{_missed('network')} (these runs recorded no roles)."
        )
    an, al, ar = (mean_sd(acc[k])[0] for k in ("network", "l1_logistic", "random"))
    # how far the L1-logistic sets are from the network's size, as a share of it
    gap = max(abs(a - b) / max(a, 1) for a, b in zip(npx, nl1, strict=True))
    text_mnist = [
        f"{config['mnist_train']} training and {config['mnist_test']} test images; a group-"
        f"lasso network path at alphas {config['mnist_alphas']}, the point nearest "
        f"{config['target_pixels']} pixels (reached per seed: {_counts(npx)}); one-vs-rest "
        "L1 logistic regression (liblinear) at the C, found by bisection, whose count of "
        f"pixels used by any class is nearest the network's (per seed: {_counts(nl1)}); random "
        "pixels of the network's count. Every set is judged by the same unpenalized 32-unit "
        f"network ({config['mnist_epochs']} epochs of Adam) on those pixels.",
        f"**Measured** (mean over {nseeds}): network pixels {an:.3f}, L1-logistic pixels "
        f"{al:.3f}, random pixels {ar:.3f}, all 784 pixels {mean_sd(acc['all_pixels'])[0]:.3f}. "
        + ("The network and L1-logistic sets have the same size in every seed. " if gap == 0
           else "The network and L1-logistic sets differ in size by at most "
           f"{gap:.0%} in a seed. " if gap <= 0.05 else
           "The network and L1-logistic sets differ in size by up to "
           f"{gap:.0%} in a seed, so their accuracies do not compare equal budgets. ")
        + f"Seed-to-seed sd: {mean_sd(acc['network'])[1]:.3f}, {mean_sd(acc['l1_logistic'])[1]:.3f}"
        f", {mean_sd(acc['random'])[1]:.3f}.",
    ]  # fmt: skip
    return Report(
        "Feature selection: sparse-network path against the Lasso",
        f"Informative features found (of 5): network {fn:.1f}, Lasso {ln:.1f}; false positives: "
        f"network {fpn:.1f}, Lasso {fpl:.1f}; precision: network {_fmt(pn)}, Lasso {_fmt(pl)} "
        f"(means over {nseeds})" + "".join(f"; {c}" for c in caveats) + ". MNIST pixel sets chosen "
        f"three ways (network path {_counts(metrics['mnist']['n_pixels_network'])} pixels, "
        f"L1 logistic {_counts(metrics['mnist']['n_pixels_l1'])}).",
        [
            Section("Non-linear informative features", text_reg, [
                Table("Recovery per seed", recovery, "Keeps: inputs selected at the CV alpha "
                      f"(of {n_inputs}); precision: the informative share of them."),
                Table("Selected features", pd.DataFrame(rows)),
                Figure("selection", fig, "Left: features along the network's path with its CV "
                       "loss (chosen alpha dashed). Right: MNIST pixels chosen by the network."),
            ]),
            Section("MNIST pixels", text_mnist, [
                Table("Test accuracy of a network on the selected pixels", pd.DataFrame(mrow))
            ]),
        ],
        metrics,
    )  # fmt: skip


STUDY = Study(
    "feature-selection",
    "The sparse-network path vs the Lasso on non-linear informative features, and MNIST-5k "
    "pixel sets chosen by the network, L1 logistic and at random.",
    "issue 6",
    tasks,
    analyze,
    CONFIG,
    QUICK,
    seeds=3,
    quick_seeds=2,
)
