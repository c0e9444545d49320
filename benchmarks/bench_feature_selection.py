"""Feature selection against LassoNet: test error at equal number of features, time of path + CV.

Data sets: Boston (``sparsitylab.datasets.load_boston``), diabetes and breast cancer
(``sklearn.datasets``), MNIST-5k (``sparsitylab.datasets.load_mnist5k``, 50 of 784 pixels).

Per data set and seed, both sides get the same stratified (classification) or plain 80/20
train/test split (``random_state=seed``), inputs standardized on the training rows, regression
targets standardized on the training rows (errors are reported in the original units), and the
same hidden layer sizes.

* Timed (the bar): each library's cross-validated path estimator fitted on the training rows,
  with the same number of folds: ``SparseMLPRegressorCV`` / ``SparseMLPClassifierCV`` (defaults:
  group lasso on the inputs, proximal SGD, a monotone warm path over 12 alphas, relaxed refits)
  against ``LassoNetRegressorCV`` / ``LassoNetClassifierCV`` (its defaults except
  ``hidden_dims`` and, in the quick setting, a coarser ``path_multiplier``, which makes LassoNet
  faster). sparsitylab's time includes JAX compilation (the first fit of each shape in the
  process).
* Equal number of features: ``k`` is the number of features sparsitylab's CV selects (MNIST:
  ``k = 50``). LassoNet's set is the point of its path with exactly ``k`` features (its CV path
  when that reaches one, else a full ``LassoNet*.path`` on the training rows, untimed); when no
  point has exactly ``k``, and for MNIST on both sides, the set is the ``k`` features that stay
  longest on the method's own path (ties: larger first-layer weight norm).
* Test error (the bar): an unpenalized network of the same hidden sizes (sparsitylab's
  ``SparseMLP*`` with ``penalty=None``, Adam, early stopping, 3 averaged members) refitted on
  each method's ``k`` columns, the same procedure for both, ``REFITS`` times with the refit
  seeds ``seed + 1000 r`` (``r = 0 .. REFITS - 1``); a set's test error is the mean of those
  refits. One refit's initialization moves the test error by more than the two sets differ
  (full setting, Boston seed 1: standard deviation 1.1 and 1.5 in MSE over the 10 refits of
  each library's set, ``test_error_refits`` in the results file), so a single
  refit (``r = 0``, kept as ``test_error_first_refit``) measures the draw more than the set.
  Each method's own model
  at that point is reported beside it (tabular data sets): sparsitylab's CV estimator (relaxed
  refit at its chosen alpha) and LassoNet's path model with ``k`` features.

Settings (``SETTINGS``): full (5 seeds, 5 folds, LassoNet's default ``path_multiplier=1.02``,
MNIST 5,000 rows); quick with ``SPARSITYLAB_BENCH_QUICK=1`` (1 seed, 3 folds, multiplier 1.2,
MNIST 1,000 rows); ``SPARSITYLAB_BENCH_SETTING=tabular5`` or ``mnist5`` (5 seeds of the quick
setting on the three tabular data sets, or on MNIST alone) or ``mnist5_all_rows`` (5 seeds of the
quick setting on all 5,000 MNIST images) or ``tabular_full`` (the full setting on the three
tabular data sets) or ``tabular_more_seeds`` (the ``tabular5`` setting on 20 further seeds, 5 to
24: how often the two libraries' sets differ, and which scores better when they do) or
``mnist_full_one_seed`` and ``mnist_full_seeds_1_4`` (the full setting on MNIST, seed 0, then
seeds 1 to 4: a seed takes LassoNet about 13 minutes on 2 cores), written to
``bench_feature_selection_<setting>.json``.
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np

from benchmarks._common import write_result

HIDDEN = (32,)
REFITS = 10
SETTINGS = {
    "full": {"seeds": [0, 1, 2, 3, 4], "cv": 5, "lassonet_path_multiplier": 1.02,
             "mnist_rows": 5000},
    "quick": {"seeds": [0], "cv": 3, "lassonet_path_multiplier": 1.2, "mnist_rows": 1000},
    "tabular5": {"seeds": [0, 1, 2, 3, 4], "cv": 3, "lassonet_path_multiplier": 1.2,
                 "mnist_rows": 0},
    "tabular_full": {"seeds": [0, 1, 2, 3, 4], "cv": 5, "lassonet_path_multiplier": 1.02,
                     "mnist_rows": 0},
    "tabular_more_seeds": {"seeds": list(range(5, 25)), "cv": 3, "lassonet_path_multiplier": 1.2,
                           "mnist_rows": 0},
    "mnist5": {"seeds": [0, 1, 2, 3, 4], "cv": 3, "lassonet_path_multiplier": 1.2,
               "mnist_rows": 1000, "only": ["mnist5k"]},
    "mnist5_all_rows": {"seeds": [0, 1, 2, 3, 4], "cv": 3, "lassonet_path_multiplier": 1.2,
                        "mnist_rows": 5000, "only": ["mnist5k"]},
    "mnist_full_one_seed": {"seeds": [0], "cv": 5, "lassonet_path_multiplier": 1.02,
                            "mnist_rows": 5000, "only": ["mnist5k"]},
    "mnist_full_seeds_1_4": {"seeds": [1, 2, 3, 4], "cv": 5, "lassonet_path_multiplier": 1.02,
                             "mnist_rows": 5000, "only": ["mnist5k"]},
}  # fmt: skip
MNIST_K = 50


def _setting():
    name = os.environ.get("SPARSITYLAB_BENCH_SETTING", "")
    if not name:
        quick = os.environ.get("SPARSITYLAB_BENCH_QUICK", "") not in ("", "0")
        name = "quick" if quick else "full"
    if name not in SETTINGS:
        raise SystemExit(
            f"SPARSITYLAB_BENCH_SETTING must be one of {sorted(SETTINGS)}, got {name!r}"
        )
    return name, SETTINGS[name]


def result_name(setting_name):
    """The results file's name (without ``.json``) of a setting's run."""
    suffix = "" if setting_name in ("full", "quick") else f"_{setting_name}"
    return "bench_feature_selection" + suffix


def _datasets(mnist_rows):
    from sklearn.datasets import load_breast_cancer, load_diabetes

    from sparsitylab.datasets import load_boston, load_mnist5k

    X, y = load_mnist5k(return_X_y=True)
    if mnist_rows == 0:  # a tabular-only setting
        X = None
    elif mnist_rows < len(y):
        from sklearn.model_selection import train_test_split

        X, _, y, _ = train_test_split(X, y, train_size=mnist_rows, stratify=y, random_state=0)
    out = {
        "boston": ("regression", *load_boston(return_X_y=True, as_frame=False), None),
        "diabetes": ("regression", *load_diabetes(return_X_y=True), None),
        "breast_cancer": ("classification", *load_breast_cancer(return_X_y=True), None),
    }
    if X is not None:
        out["mnist5k"] = ("classification", X, y, MNIST_K)
    return out


def _split(task, X, y, seed):
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    strat = y if task == "classification" else None
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=seed, stratify=strat)
    scaler = StandardScaler().fit(Xtr)
    Xtr = scaler.transform(Xtr).astype(np.float32)
    Xte = scaler.transform(Xte).astype(np.float32)
    shift, scale = (0.0, 1.0)
    if task == "regression":
        shift, scale = float(ytr.mean()), float(ytr.std())
        ytr = ((ytr - shift) / scale).astype(np.float32)
    return Xtr, Xte, ytr, yte, (shift, scale)


def _error(task, y_true, pred, target):
    if task == "regression":
        shift, scale = target
        return float(np.mean((np.asarray(pred, float).ravel() * scale + shift - y_true) ** 2))
    return float(np.mean(np.asarray(pred).ravel() != np.asarray(y_true).ravel()))


def _top_k(masks, tiebreak, k):
    """The ``k`` features that stay longest on a path (``masks`` in path order, dense first):
    ranked by the first point at which each one is out (as LassoNet's ``feature_importances_``,
    so a feature that re-enters later does not count), ties broken by ``tiebreak`` (larger
    first)."""
    masks = np.asarray(masks, bool)
    stays = np.cumprod(masks, axis=0).sum(axis=0)  # points before the first drop
    order = np.lexsort((-np.asarray(tiebreak, float), -stays))
    return np.sort(order[:k])


def _dense_error(task, Xtr, ytr, Xte, yte, target, cols, seed):
    from sparsitylab import SparseMLPClassifier, SparseMLPRegressor

    cls = SparseMLPClassifier if task == "classification" else SparseMLPRegressor
    net = cls(
        hidden_layer_sizes=HIDDEN, penalty=None, optimizer="adam", learning_rate=3e-3,
        max_epochs=1000, early_stopping=True, patience=30, n_estimators=3, random_state=seed,
    )  # fmt: skip
    net.fit(Xtr[:, cols], ytr)
    return _error(task, yte, net.predict(Xte[:, cols]), target)


def _set_errors(task, Xtr, ytr, Xte, yte, target, cols, seed, refits=REFITS):
    """Test errors of ``refits`` dense refits on ``cols`` (refit seeds ``seed + 1000 r``)."""
    cols = np.asarray(cols, int)
    if len(cols) == 0:
        return None
    return [
        _dense_error(task, Xtr, ytr, Xte, yte, target, cols, seed + 1000 * r) for r in range(refits)
    ]


def _same_set(a, b):
    return sorted(np.asarray(a, int).tolist()) == sorted(np.asarray(b, int).tolist())


def _pair_errors(task, Xtr, ytr, Xte, yte, target, sl_cols, ln_cols, seed):
    """Both libraries' set errors (``_set_errors``); a set both chose is refitted once."""
    sl = _set_errors(task, Xtr, ytr, Xte, yte, target, sl_cols, seed)
    if _same_set(sl_cols, ln_cols):
        return sl, sl
    return sl, _set_errors(task, Xtr, ytr, Xte, yte, target, ln_cols, seed)


def _set_record(errors):
    """The JSON fields of one set's refits (``None`` for an empty set)."""
    if errors is None:
        return {"test_error_dense_refit": None, "test_error_first_refit": None,
                "test_error_refits": None}  # fmt: skip
    return {
        "test_error_dense_refit": float(np.mean(errors)),
        "test_error_first_refit": float(errors[0]),
        "test_error_refits": [float(e) for e in errors],
    }


def _sparsitylab(task, Xtr, ytr, cv, seed):
    from sparsitylab import SparseMLPClassifierCV, SparseMLPRegressorCV

    cls = SparseMLPClassifierCV if task == "classification" else SparseMLPRegressorCV
    est = cls(hidden_layer_sizes=HIDDEN, cv=cv, random_state=seed)
    start = time.perf_counter()
    est.fit(Xtr, ytr)
    return est, time.perf_counter() - start


def _lassonet_cls(task, cv):
    import lassonet

    if cv:
        return (
            lassonet.LassoNetClassifierCV
            if task == "classification"
            else (lassonet.LassoNetRegressorCV)
        )
    return lassonet.LassoNetClassifier if task == "classification" else lassonet.LassoNetRegressor


def _lassonet(task, Xtr, ytr, cv, seed, multiplier):
    from sklearn.model_selection import KFold, StratifiedKFold

    folds = (StratifiedKFold if task == "classification" else KFold)(
        cv, shuffle=True, random_state=seed
    )
    est = _lassonet_cls(task, True)(
        hidden_dims=HIDDEN, cv=folds, path_multiplier=multiplier, verbose=0,
        random_state=seed, torch_seed=seed,
    )  # fmt: skip
    start = time.perf_counter()
    path = est.path(Xtr, ytr, return_state_dicts=True)  # what .fit runs, keeping the models
    return est, path, time.perf_counter() - start


def _first_layer_norms(state_dict):
    w = state_dict["layers.0.weight"].detach().cpu().numpy()  # (hidden, p)
    return np.linalg.norm(w, axis=0)


def _lassonet_at_k(task, Xtr, ytr, seed, multiplier, cv_path, k):
    """LassoNet's ``k``-feature set, its model there, and whether a full path was needed."""
    counts = [int(h.selected.sum()) for h in cv_path]
    hits = [i for i, c in enumerate(counts) if c == k]
    if hits:
        item = cv_path[hits[-1]]
        return np.flatnonzero(item.selected.numpy()), item, None
    est = _lassonet_cls(task, False)(
        hidden_dims=HIDDEN, path_multiplier=multiplier, verbose=0, random_state=seed,
        torch_seed=seed,
    )  # fmt: skip
    start = time.perf_counter()
    path = est.path(Xtr, ytr, return_state_dicts=True)
    seconds = time.perf_counter() - start
    counts = [int(h.selected.sum()) for h in path]
    hits = [i for i, c in enumerate(counts) if c == k]
    if hits:
        item = path[hits[-1]]
        return np.flatnonzero(item.selected.numpy()), item, (est, seconds)
    # the sparsest point with at least k features, trimmed to k by the path's own order
    above = [i for i, c in enumerate(counts) if c >= k]
    item = path[above[-1]] if above else path[0]
    masks = np.stack([h.selected.numpy() for h in path])
    cols = _top_k(masks, _first_layer_norms(item.state_dict), k)
    return cols, None, (est, seconds)


def _one(name, task, X, y, fixed_k, seed, setting):
    import torch

    Xtr, Xte, ytr, yte, target = _split(task, X, y, seed)
    cv, mult = setting["cv"], setting["lassonet_path_multiplier"]
    torch.manual_seed(seed)
    sl, sl_seconds = _sparsitylab(task, Xtr, ytr, cv, seed)
    ln, ln_path, ln_seconds = _lassonet(task, Xtr, ytr, cv, seed, mult)

    if fixed_k is None:
        k = len(sl.selected_features_)
        sl_cols = np.asarray(sl.selected_features_)
    else:
        k = fixed_k
        sl_cols = _top_k(sl.path_.selected, np.linalg.norm(sl.coefs_[0], axis=1), k)
    ln_cols, ln_item, extra = _lassonet_at_k(task, Xtr, ytr, seed, mult, ln_path, k)
    sl_errors, ln_errors = _pair_errors(task, Xtr, ytr, Xte, yte, target, sl_cols, ln_cols, seed)

    out = {
        "seed": seed,
        "n_train": len(ytr),
        "n_test": len(yte),
        "n_features": X.shape[1],
        "k": int(k),
        "sparsitylab": {
            "seconds_path_cv": sl_seconds,
            "alpha": sl.alpha_,
            "n_alphas": len(sl.alphas_),
            "path_n_selected": sl.path_.n_selected.tolist(),
            "cv_selected_count": int(len(sl.selected_features_)),
            "features": sl_cols.tolist(),
            **_set_record(sl_errors),
        },
        "lassonet": {
            "seconds_path_cv": ln_seconds,
            "best_lambda": float(ln.best_lambda_),
            "n_lambdas_final_path": len(ln_path),
            "cv_selected_count": int(ln.best_selected_.sum()),
            "features": ln_cols.tolist(),
            "k_point_from": "cv_path" if extra is None else "full_path",
            "seconds_full_path_untimed": None if extra is None else extra[1],
            **_set_record(ln_errors),
        },
    }
    if fixed_k is None:
        out["sparsitylab"]["test_error_own_model"] = _error(task, yte, sl.predict(Xte), target)
        if ln_item is not None:
            model = ln if extra is None else extra[0]
            model.load(ln_item.state_dict)
            out["lassonet"]["test_error_own_model"] = _error(task, yte, model.predict(Xte), target)
    out["speedup"] = ln_seconds / sl_seconds
    return out


SIDES = ("sparsitylab", "lassonet")


def _mean_over_seeds(runs, who, field):
    return float(np.mean([r[who][field] for r in runs]))


def _where_sets_differ(runs):
    """Seeds whose two ``k``-feature sets differ, and which scores better there (mean refit)."""
    differ = [r for r in runs if not _same_set(*(r[who]["features"] for who in SIDES))]
    diffs = [r["sparsitylab"]["test_error_dense_refit"] - r["lassonet"]["test_error_dense_refit"]
             for r in differ]  # fmt: skip
    return {
        "seeds": [r["seed"] for r in differ],
        "sparsitylab_better": int(sum(d < 0 for d in diffs)),
        "sparsitylab_worse": int(sum(d > 0 for d in diffs)),
        "equal": int(sum(d == 0 for d in diffs)),
    }


def main():
    warnings.filterwarnings("ignore")
    import lassonet
    import torch

    import sparsitylab

    setting_name, setting = _setting()
    datasets = _datasets(setting["mnist_rows"])
    if "only" in setting:
        datasets = {name: datasets[name] for name in setting["only"]}
    results, bars = {}, {}
    for name, (task, X, y, fixed_k) in datasets.items():
        runs = []
        for seed in setting["seeds"]:
            r = _one(name, task, np.asarray(X), np.asarray(y), fixed_k, seed, setting)
            runs.append(r)
            print(
                f"{name} seed {seed}: k={r['k']} "
                f"sl {r['sparsitylab']['test_error_dense_refit']:.4g} "
                f"({r['sparsitylab']['seconds_path_cv']:.1f}s) "
                f"lassonet {r['lassonet']['test_error_dense_refit']:.4g} "
                f"({r['lassonet']['seconds_path_cv']:.1f}s)",
                flush=True,
            )
        sl_err, ln_err = (_mean_over_seeds(runs, w, "test_error_dense_refit") for w in SIDES)
        sl_first, ln_first = (_mean_over_seeds(runs, w, "test_error_first_refit") for w in SIDES)
        sl_t = float(sum(r["sparsitylab"]["seconds_path_cv"] for r in runs))
        ln_t = float(sum(r["lassonet"]["seconds_path_cv"] for r in runs))
        results[name] = {
            "task": task,
            "error": "test MSE (original units)" if task == "regression" else "misclassification",
            "runs": runs,
            "mean_test_error_dense_refit": {"sparsitylab": sl_err, "lassonet": ln_err},
            "mean_test_error_first_refit": {"sparsitylab": sl_first, "lassonet": ln_first},
            "where_sets_differ": _where_sets_differ(runs),
            "mean_k": float(np.mean([r["k"] for r in runs])),
            "seconds_path_cv_total": {"sparsitylab": sl_t, "lassonet": ln_t},
            "speedup": ln_t / sl_t,
        }
        bars[name] = {"error_no_worse": sl_err <= ln_err, "speedup_at_least_5x": ln_t / sl_t >= 5}
    sl_total = sum(r["seconds_path_cv_total"]["sparsitylab"] for r in results.values())
    ln_total = sum(r["seconds_path_cv_total"]["lassonet"] for r in results.values())
    payload = {
        "setting": setting_name,
        "settings": SETTINGS,
        "quick_env": "SPARSITYLAB_BENCH_QUICK=1 selects the quick setting",
        "seeds": setting["seeds"],
        "hidden_layer_sizes": list(HIDDEN),
        "versions": {
            "sparsitylab": getattr(sparsitylab, "__version__", None),
            "lassonet": getattr(lassonet, "__version__", "0.0.21"),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
        },
        "protocol": __doc__,
        "datasets": results,
        "seconds_path_cv_total": {"sparsitylab": sl_total, "lassonet": ln_total},
        "speedup_overall": ln_total / sl_total,
        "bars": {
            "per_dataset": bars,
            "error_no_worse_all": all(b["error_no_worse"] for b in bars.values()),
            "speedup_at_least_5x_all": all(b["speedup_at_least_5x"] for b in bars.values()),
        },
    }
    path = write_result(result_name(setting_name), payload)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
