"""100-alpha Lasso paths: the Hadamard network (sparsitylab) vs scikit-learn, celer and skglm.

Problems: diabetes, Boston (both standardised) and a correlated synthetic problem (n = 500, p =
5000,
AR(1) columns with correlation 0.6, 50 true features). Alphas: 100 values from alpha_max down to
1e-3 alpha_max. Every solver is asked for tol 1e-6 and its path is then scored by the *same*
relative duality gap ``(P - D) / P`` (sparsitylab's certificate), reported per solver as the worst
gap over the path and the number of alphas that reach 1e-6. All solvers run in this process, one
after the other, on the same centred data (no intercept).

Also measured on the two small problems: the two path strategies of ``hadamard_path`` (warm starts
vs all alphas batched with ``vmap``), and ``HadamardLassoCV`` (5 folds, 100 alphas) with each
strategy (the ``vmap`` one trains every fold x alpha network in one program) beside scikit-learn's
``LassoCV``.
"""

from __future__ import annotations

import warnings

import numpy as np

from benchmarks._common import timer, write_result

TOL = 1e-6


def _standardise(X, y):
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    X = X - X.mean(0)
    return X / X.std(0), y - y.mean()


def _problems(synthetic_p=5000):
    from sklearn.datasets import load_diabetes

    from sparsitylab.datasets import load_boston

    out = {"diabetes": _standardise(*load_diabetes(return_X_y=True))}
    out["boston"] = _standardise(*load_boston(return_X_y=True))
    rng = np.random.default_rng(0)
    n, p, rho = 500, synthetic_p, 0.6
    Z = rng.standard_normal((n, p))
    X = np.empty_like(Z)
    X[:, 0] = Z[:, 0]
    for j in range(1, p):
        X[:, j] = rho * X[:, j - 1] + np.sqrt(1 - rho**2) * Z[:, j]
    w = np.zeros(p)
    w[rng.choice(p, 50, replace=False)] = rng.standard_normal(50)
    y = X @ w + 0.5 * rng.standard_normal(n)
    out[f"synthetic_n500_p{p}"] = _standardise(X, y)
    return out


def _gaps(X, y, alphas, coefs):
    from sparsitylab.equivalence.certificates import lasso_duality_gap

    return np.array([lasso_duality_gap(X, y, b, a) for a, b in zip(alphas, coefs, strict=True)])


def _sparsitylab(X, y, alphas):
    from sparsitylab.equivalence.path import path_warm

    return path_warm(X, y, alphas)[0]


def _sparsitylab_vmap(X, y, alphas):
    from sparsitylab.equivalence.path import path_vmap

    return path_vmap(X, y, alphas)[0]


def _sklearn(X, y, alphas):
    from sklearn.linear_model import lasso_path

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lasso_path(X, y, alphas=alphas, tol=TOL, max_iter=10000)[1].T


def _celer(X, y, alphas):
    import celer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return celer.celer_path(X, y, "lasso", alphas=alphas, tol=TOL)[1].T


def _skglm(X, y, alphas):
    from skglm import Lasso

    model = Lasso(alpha=alphas[0], fit_intercept=False, warm_start=True, tol=TOL)
    coefs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for a in alphas:
            model.alpha = a
            coefs.append(model.fit(X, y).coef_.copy())
    return np.array(coefs)


def _cv_seconds(X, y):
    from sklearn.linear_model import LassoCV

    from sparsitylab import HadamardLassoCV

    out = {}
    for name, make in {
        "sparsitylab_warm": lambda: HadamardLassoCV(cv=5, strategy="warm"),
        "sparsitylab_vmap": lambda: HadamardLassoCV(cv=5, strategy="vmap"),
        "sklearn_LassoCV": lambda: LassoCV(cv=5, tol=TOL, max_iter=10000),
    }.items():
        make().fit(X, y)  # compile
        with timer() as t:
            alpha = make().fit(X, y).alpha_
        out[name] = {"seconds": round(t(), 4), "alpha": float(alpha)}
    return out


def _measure(fn, X, y, alphas):
    with timer() as t:
        coefs = fn(X, y, alphas)
    gaps = _gaps(X, y, alphas, coefs)
    return {
        "seconds": round(t(), 4),
        "max_rel_gap": float(gaps.max()),
        "alphas_at_1e-6": int(np.sum(gaps <= TOL)),
        "nnz_at_smallest_alpha": int(np.count_nonzero(coefs[-1])),
    }


def main(synthetic_p=5000):
    from sparsitylab.equivalence.path import alpha_grid

    solvers = {"sparsitylab": _sparsitylab, "sklearn": _sklearn, "skglm": _skglm}
    try:
        import celer  # noqa: F401

        solvers["celer"] = _celer
        celer_note = "installed"
    except ImportError:
        celer_note = "not installed: `pip install celer` to include it"
    payload = {"tol": TOL, "n_alphas": 100, "eps": 1e-3, "celer": celer_note, "problems": {}}
    problems = _problems(synthetic_p)
    # compile once so the timings below are of solving, not of JAX/numba compilation
    Xd, yd = problems["diabetes"]
    for fn in solvers.values():
        fn(Xd, yd, alpha_grid(Xd, yd, 5, 1e-1))
    for name, (X, y) in problems.items():
        alphas = alpha_grid(X, y, 100, 1e-3)
        rows = {}
        for sname, fn in solvers.items():
            rows[sname] = _measure(fn, X, y, alphas)
            print(name, sname, rows[sname], flush=True)
        ours = rows["sparsitylab"]["seconds"]
        summary = {
            "every_alpha_reaches_1e-6": rows["sparsitylab"]["alphas_at_1e-6"] == alphas.size,
            "time_ratio_to_sklearn": ours / rows["sklearn"]["seconds"],
            "at_most_sklearn_time": ours <= rows["sklearn"]["seconds"],
        }
        if "celer" in rows:
            summary["time_ratio_to_celer"] = ours / rows["celer"]["seconds"]
        if X.shape[1] <= 100:  # the batched strategy trains every alpha on all features
            _sparsitylab_vmap(X, y, alphas)  # compile
            rows["sparsitylab_vmap"] = _measure(_sparsitylab_vmap, X, y, alphas)
            summary["vmap_over_warm_time"] = rows["sparsitylab_vmap"]["seconds"] / ours
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                summary["cv_5_folds"] = _cv_seconds(X, y)
        payload["problems"][name] = {"shape": list(X.shape), "solvers": rows, "summary": summary}
    return write_result("lasso_path", payload)


if __name__ == "__main__":
    print(main())
