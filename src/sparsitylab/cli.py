# ruff: noqa: B008  (typer declares options as argument defaults)
"""The ``sparsitylab`` command line: run the studies, fit a table of your own, check a saved model.

    sparsitylab studies
    sparsitylab study NAME [--seeds N] [--quick] [--out DIR] [--scheduler ADDRESS] [--resume]
    sparsitylab fit data.csv --target COL [--model lasso|hadamard|mlp] [--alpha A | --path]
    sparsitylab certify MODEL

Errors in the input (a missing file, a missing or non-numeric column, an unknown study) are
reported on one line with a non-zero exit status, never as a traceback.
"""

from __future__ import annotations

import os
import pickle
import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table as RichTable

app = typer.Typer(
    name="sparsitylab",
    help="Sparse, regularized neural networks: studies, fits and certificates.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

MODEL_FORMAT = "sparsitylab-model-1"


class UserError(Exception):
    """Bad input: reported on one line."""


def _fail(message: str, code: int = 2):
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _guard(fn, *args, **kwargs):
    """Run ``fn``; turn the expected failures into a one-line error."""
    from sparsitylab._errors import DivergenceError
    from sparsitylab.studies import StudyError

    try:
        return fn(*args, **kwargs)
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        _fail("interrupted (run again with --resume to continue)", 130)
    except (
        UserError, StudyError, DivergenceError, FileNotFoundError, IsADirectoryError,
        PermissionError,
    ) as exc:  # fmt: skip
        _fail(str(exc))
    except (ValueError, TypeError, OSError) as exc:
        _fail(f"{type(exc).__name__}: {' '.join(str(exc).split())}")


# --- studies ------------------------------------------------------------------------------------
@app.command("studies")
def studies_command():
    """List the studies, one line each."""
    from sparsitylab.studies import STUDIES

    table = RichTable(show_header=True, header_style="bold")
    table.add_column("study")
    table.add_column("source")
    table.add_column("what it shows")
    for study in STUDIES.values():
        table.add_row(study.name, study.source, study.summary)
    console.print(table)


@app.command("study")
def study_command(
    name: str = typer.Argument(..., help="Study name (see `sparsitylab studies`)."),
    seeds: int = typer.Option(
        None, "--seeds", help="Seeds per configuration (default: the study's)."
    ),
    quick: bool = typer.Option(False, "--quick", help="Small settings: under a minute on 2 cores."),
    out: Path = typer.Option(Path("reports"), "--out", help="Reports go to OUT/NAME/."),
    scheduler: str = typer.Option(None, "--scheduler", help="Dask scheduler address (tcp://...)."),
    processes: int = typer.Option(None, "--processes", help="Run tasks in N local processes."),
    resume: bool = typer.Option(False, "--resume", help="Keep finished runs in OUT/NAME/."),
):
    """Run one study and write its report (HTML, Markdown, metrics, figures, configuration)."""
    _guard(_run_study, name, seeds, quick, out, scheduler, processes, resume)


def _run_study(name, seeds, quick, out, scheduler, processes, resume):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sparsitylab.studies import get_study, make_executor, run_study

    if processes is not None and processes < 1:
        raise UserError(f"--processes must be at least 1, got {processes}")
    if processes is not None and scheduler:
        raise UserError("give --scheduler (a Dask cluster) or --processes (local), not both")
    if seeds is not None and seeds < 1:
        raise UserError(f"--seeds must be at least 1, got {seeds}")
    study = get_study(name)
    try:
        Path(out).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"--out {out} is not a writable folder: {err.strerror}") from None
    if not os.access(out, os.W_OK):
        raise UserError(f"--out {out} is not a writable folder")
    executor = make_executor(scheduler, processes)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"),
        console=err_console,
        transient=False,
    ) as bar:
        task = bar.add_task(f"{name} ({executor.name})", total=None, last="")

        def progress(done, total, key):
            bar.update(task, completed=done, total=total, last=key)

        try:
            paths = run_study(
                study,
                out,
                quick=quick,
                seeds=seeds,
                executor=executor,
                resume=resume,
                progress=progress,
            )
        finally:
            executor.close()
    console.print(f"report: {paths['html']}")
    console.print(f"metrics: {paths['metrics']}")


# --- fit and certify ----------------------------------------------------------------------------
class ModelKind(StrEnum):
    lasso = "lasso"
    hadamard = "hadamard"
    mlp = "mlp"


def _rows(n: int) -> str:
    return f"{n} row{'' if n == 1 else 's'}"


def _check_header(path: Path, names) -> None:
    """Refuse a header pandas would silently repair: another separator, duplicate or empty names."""
    from collections import Counter

    names = [str(n) for n in names]
    for sep, label in ((";", "';'"), ("\t", "tab")):
        if len(names) == 1 and sep in names[0]:  # one column whose name holds the separators
            raise UserError(
                f"{path.name} looks like a {label}-separated file; `sparsitylab fit` reads "
                f"comma-separated CSV: convert it first (e.g. pandas.read_csv(path, "
                f"sep={sep!r}).to_csv(new_path, index=False))"
            )
    dup = sorted(n for n, c in Counter(names).items() if c > 1)
    if dup:
        raise UserError(f"duplicate column name(s) in {path.name}: {', '.join(dup)}; rename them")
    empty = [i for i, n in enumerate(names) if not n.strip()]
    if empty:
        raise UserError(
            f"column {empty[0] + 1} of {path.name} has no name (pandas calls it "
            f"'Unnamed: {empty[0]}'): if it is an index written by DataFrame.to_csv(), drop it or "
            "write the file with index=False (read it with index_col=0)"
        )


def read_table(path: Path, target: str):
    """Features and target from a CSV or Parquet file; every column must be numeric."""
    import numpy as np
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise UserError(f"no such file: {path}")
    if path.is_dir():
        raise UserError(f"{path} is a directory, expected a CSV or Parquet file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path)
    except ImportError as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    except Exception as exc:  # parser errors of every kind
        raise UserError(f"cannot read {path}: {' '.join(str(exc).split())}") from None
    if suffix in (".parquet", ".pq"):
        _check_header(path, frame.columns)
    else:  # the header as written: pandas renames duplicates (x, x.1) and empty names (Unnamed: 0)
        _check_header(path, pd.read_csv(path, header=None, nrows=1, dtype=str,
                                        keep_default_na=False).iloc[0].tolist())  # fmt: skip
    if target not in frame.columns:
        raise UserError(
            f"target column {target!r} is not in {path.name} "
            f"(columns: {', '.join(map(str, frame.columns))})"
        )
    if len(frame) < 10:
        raise UserError(f"{path.name} has {_rows(len(frame))}; need at least 10 to fit and test")
    for col in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[col]) or pd.api.types.is_bool_dtype(frame[col]):
            if pd.api.types.is_bool_dtype(frame[col]):
                frame[col] = frame[col].astype(float)
                continue
            raise UserError(
                f"column {col!r} is not numeric; encode it first (e.g. one-hot columns) or drop it"
            )
    if frame.isna().any().any():
        bad = [str(c) for c in frame.columns if frame[c].isna().any()]
        raise UserError(f"missing values in column(s) {', '.join(bad)}; impute or drop them first")
    bad = [str(c) for c in frame.columns if np.isinf(frame[c].to_numpy(float)).any()]
    if bad:
        raise UserError(
            f"infinite values in column(s) {', '.join(bad)}; replace or drop them first"
        )
    y = frame[target].to_numpy(float)
    X = frame.drop(columns=[target])
    if X.shape[1] == 0:
        raise UserError("no feature columns besides the target")
    return X.to_numpy(float), y, [str(c) for c in X.columns]


def lasso_certificate(Xs, y, coef, alpha) -> dict:
    """Duality gap and KKT violation of ``coef`` for the Lasso on standardized ``Xs``, ``y``."""
    import numpy as np

    from sparsitylab.equivalence.certificates import lasso_duality_gap

    Xc, yc = Xs - Xs.mean(0), y - y.mean()
    n = len(y)
    grad = Xc.T @ (yc - Xc @ coef) / n  # minus the gradient of the loss
    on = np.abs(coef) > 0
    kkt = np.concatenate(
        [np.abs(grad[on] - alpha * np.sign(coef[on])), np.maximum(np.abs(grad[~on]) - alpha, 0.0)]
    )
    objective = 0.5 * np.mean((yc - Xc @ coef) ** 2) + alpha * np.abs(coef).sum()
    return {
        "problem": f"lasso, {alpha:g} ||beta||_1 (standardized features)",
        "objective": float(objective),
        "duality_gap": lasso_duality_gap(Xc, yc, coef, alpha),
        "kkt_violation": float(kkt.max(initial=0.0)),
    }


def _fit(data, target, model, alpha, path, test_size, random_state, save, seeds):
    import numpy as np
    from sklearn.metrics import mean_squared_error, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    if path and alpha is not None:
        raise UserError("give either --alpha or --path, not both")
    if path and model == ModelKind.mlp and seeds != 1:
        raise UserError(
            "--path fits one network per fold and alpha; --seeds (ensemble members) applies to "
            "--model mlp with --alpha"
        )
    if alpha is not None and alpha <= 0:
        raise UserError(f"--alpha must be positive, got {alpha}")
    if not 0 < test_size < 1:
        raise UserError(f"--test-size must lie in (0, 1), got {test_size}")
    X, y, names = read_table(data, target)
    out = Path(save or Path(data).with_suffix(f".{model.value}.pkl"))
    if out.is_dir():
        raise UserError(f"{out} is a directory; give --save a file name, e.g. {out / 'model.pkl'}")
    if not out.parent.is_dir():
        raise UserError(f"cannot save the model: folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK):
        raise UserError(f"cannot save the model: folder {out.parent} is not writable")
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_size, random_state=random_state)
    if len(yte) < 2:
        raise UserError(
            f"--test-size {test_size:g} leaves {_rows(len(yte))} of {len(y)} for testing; R² needs "
            "at least 2: raise --test-size or add rows"
        )
    scaler = StandardScaler().fit(Xtr)
    Xtr_s, Xte_s = scaler.transform(Xtr), scaler.transform(Xte)
    alpha = 0.1 if alpha is None and not path else alpha
    certificate = None
    if model == ModelKind.lasso:
        from sklearn.linear_model import Lasso, LassoCV

        if path:
            # only CV's choice of alpha: LassoCV's own refit (tol 1e-4) would not certify
            cv = LassoCV(cv=5, random_state=random_state, max_iter=100_000).fit(Xtr_s, ytr)
            alpha = float(cv.alpha_)
        est = Lasso(alpha=alpha, tol=1e-10, max_iter=100_000).fit(Xtr_s, ytr)
        certificate = lasso_certificate(Xtr_s, ytr, est.coef_, alpha)
    elif model == ModelKind.hadamard:
        from sparsitylab.estimators.hadamard import HadamardLasso, HadamardLassoCV

        if path:
            est = HadamardLassoCV(cv=5, n_alphas=30).fit(Xtr_s, ytr)
            alpha = float(est.alpha_)
        else:
            est = HadamardLasso(alpha=alpha).fit(Xtr_s, ytr)
        certificate = {
            k: (v if not isinstance(v, float) else float(v))
            for k, v in est.certificate_.as_dict().items()
        }
    else:
        from sklearn.compose import TransformedTargetRegressor

        from sparsitylab import SparseMLPRegressor, SparseMLPRegressorCV

        if path:
            net = SparseMLPRegressorCV(cv=5, random_state=random_state)
        else:
            net = SparseMLPRegressor(
                hidden_layer_sizes=(64,),
                penalty="group_input",
                alpha=alpha,
                early_stopping=True,
                batch_size=32,
                max_epochs=300,
                n_estimators=seeds,
                random_state=random_state,
            )
        # the network sees the standardized target (its learning rates and alpha grid assume
        # unit scale); the saved model predicts in the target's own units
        est = TransformedTargetRegressor(regressor=net, transformer=StandardScaler())
        est.fit(Xtr_s, ytr)
        if path:
            alpha = float(est.regressor_.alpha_)
    pred = est.predict(Xte_s)
    if model == ModelKind.mlp:
        keep = set(np.asarray(est.regressor_.selected_features_).tolist())
        selected = [n for j, n in enumerate(names) if j in keep]
    else:
        selected = [n for n, c in zip(names, np.asarray(est.coef_), strict=True) if abs(c) > 0]
    metrics = {
        "test_mse": float(mean_squared_error(yte, pred)),
        "r2": float(r2_score(yte, pred)),
        "alpha": alpha,
        "n_train": len(ytr),
        "n_test": len(yte),
    }

    console.print(
        f"{model.value} on {Path(data).name} → {target}",
        style="bold",
        markup=False,
        highlight=False,
    )
    table = RichTable(show_header=False)
    for k, v in metrics.items():
        table.add_row(k, f"{v:.6g}" if isinstance(v, float) else str(v))
    console.print(table)
    if certificate is not None:
        console.print(
            "certificate: "
            + ", ".join(
                f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                for k, v in certificate.items()
            )
        )
    label = (
        "features with non-zero input weights"
        if model == ModelKind.mlp and not path
        else "selected features"
    )
    console.print(f"{label} ({len(selected)} of {len(names)}): {', '.join(selected) or 'none'}")

    bundle = {
        "format": MODEL_FORMAT,
        "kind": model.value,
        "estimator": est,
        "scaler": scaler,
        "features": names,
        "target": target,
        "alpha": alpha,
        "metrics": metrics,
        "certificate": certificate,
        "X_train": Xtr_s,
        "y_train": ytr,
    }
    from sparsitylab.report import atomic_write

    atomic_write(out, pickle.dumps(bundle, protocol=pickle.HIGHEST_PROTOCOL))
    console.print(f"model saved: {out}")


@app.command("fit")
def fit_command(
    data: Path = typer.Argument(..., help="A CSV or Parquet file; every column numeric."),
    target: str = typer.Option(..., "--target", help="The column to predict."),
    model: ModelKind = typer.Option(ModelKind.lasso, "--model", help="lasso, hadamard or mlp."),
    alpha: float = typer.Option(None, "--alpha", help="Penalty strength (default 0.1)."),
    path: bool = typer.Option(
        False, "--path", help="Choose alpha by 5-fold CV along a path (mlp: feature selection)."
    ),
    test_size: float = typer.Option(0.2, "--test-size", help="Held-out fraction for the metrics."),
    random_state: int = typer.Option(42, "--random-state", help="Seed of the split."),
    seeds: int = typer.Option(1, "--seeds", help="Ensemble members (mlp)."),
    save: Path = typer.Option(None, "--save", help="Where to save the model (.pkl)."),
):
    """Fit a model to your table: metrics, certificate, selected features; saves the model."""
    _guard(_fit, data, target, model, alpha, path, test_size, random_state, save, seeds)


def load_model(model_path: Path) -> dict:
    """The bundle ``fit`` saved, its structure checked: a ``UserError`` names what is wrong."""
    import numbers

    import numpy as np

    model_path = Path(model_path)
    if not model_path.exists():
        raise UserError(f"no such file: {model_path}")
    try:
        bundle = pickle.loads(model_path.read_bytes())
    except Exception:
        raise UserError(f"{model_path} is not a model saved by `sparsitylab fit`") from None
    if not isinstance(bundle, dict) or bundle.get("format") != MODEL_FORMAT:
        raise UserError(f"{model_path} is not a model saved by `sparsitylab fit`")

    def bad(what):
        return UserError(f"{model_path} is not a complete model saved by `sparsitylab fit`: {what}")

    missing = [k for k in ("kind", "estimator", "features", "target", "alpha", "X_train",
                           "y_train") if k not in bundle]  # fmt: skip
    if missing:
        raise bad(f"missing {', '.join(missing)}")
    if bundle["kind"] not in [k.value for k in ModelKind]:
        raise bad(f"unknown kind {bundle['kind']!r}")
    if not isinstance(bundle["target"], str):
        raise bad("'target' is not a column name")
    features = bundle["features"]
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise bad("'features' is not a list of column names")
    if bundle["kind"] == ModelKind.mlp:
        return bundle
    alpha = bundle["alpha"]
    if not isinstance(alpha, numbers.Real) or isinstance(alpha, bool) or not alpha > 0:
        raise bad(f"'alpha' is not a positive number ({alpha!r})")
    try:
        X = np.asarray(bundle["X_train"], dtype=float)
        y = np.asarray(bundle["y_train"], dtype=float)
        coef = np.asarray(getattr(bundle["estimator"], "coef_", None), dtype=float)
    except (TypeError, ValueError):
        raise bad("training data or coefficients are not numeric arrays") from None
    if X.ndim != 2 or X.shape[1] != len(features) or y.shape != (len(X),) or len(X) < 2:
        raise bad("the training data do not match the features")
    if coef.shape != (len(features),):
        raise bad("the estimator's coefficients do not match the features")
    if not (np.isfinite(X).all() and np.isfinite(y).all() and np.isfinite(coef).all()):
        raise bad("non-finite training data or coefficients")
    return {**bundle, "X_train": X, "y_train": y, "coef": coef, "alpha": float(alpha)}


def _certify(model_path: Path, tol: float):
    if not tol > 0:
        raise UserError(f"--tol must be positive, got {tol}")
    bundle = load_model(model_path)
    if bundle["kind"] == ModelKind.mlp:
        raise UserError(
            "an MLP is not equivalent to a convex sparse problem: nothing to certify "
            "(certify a lasso or hadamard model)"
        )
    cert = lasso_certificate(bundle["X_train"], bundle["y_train"], bundle["coef"], bundle["alpha"])
    ok = cert["duality_gap"] <= tol
    console.print(
        f"{bundle['kind']} model for {bundle['target']} ({len(bundle['features'])} "
        f"features), alpha {bundle['alpha']:.6g}"
    )
    console.print(
        "re-checked against the Lasso: "
        + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in cert.items())
    )
    if not ok:
        _fail(
            f"relative duality gap {cert['duality_gap']:.3g} exceeds {tol:g}: the saved "
            f"coefficients are not the Lasso solution",
            1,
        )
    console.print(f"[green]certified[/]: relative duality gap {cert['duality_gap']:.2e} <= {tol:g}")


@app.command("certify")
def certify_command(
    model: Path = typer.Argument(..., help="A model saved by `sparsitylab fit`."),
    tol: float = typer.Option(1e-6, "--tol", help="Largest relative duality gap accepted."),
):
    """Re-check a saved lasso/hadamard model against its sparse problem (duality gap, KKT)."""
    _guard(_certify, model, tol)


def main():  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
