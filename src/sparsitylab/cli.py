# ruff: noqa: B008  (typer declares options as argument defaults)
"""The ``sparsitylab`` command line: run the studies, fit a table of your own, check a saved model.

    sparsitylab studies
    sparsitylab study NAME [--seeds N] [--quick] [--out DIR] [--scheduler ADDRESS | --processes N]
                           [--resume]
    sparsitylab fit data.csv --target COL [--model lasso|hadamard|mlp] [--alpha A | --path]
                    [--test-size F] [--random-state N] [--seeds N] [--save model.pkl]
    sparsitylab certify MODEL [--tol T]

Errors in the input (a missing file, a missing or non-numeric column, an unknown study) are
reported on one line with a non-zero exit status, never as a traceback. Text that comes from the
user (column names, paths, study names) is printed as it is: never read as Rich markup, never
folded.
"""

from __future__ import annotations

import math
import os
import pickle
import reprlib
import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

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


def _print(text: str | Text, *, style: str | None = None, err: bool = False) -> None:
    """Print ``text`` as it is: never read as Rich markup (column names, paths and study names
    are the user's data), never folded at the terminal's width (a path stays whole when piped)."""
    (err_console if err else console).print(
        text, style=style, markup=False, highlight=False, soft_wrap=True
    )


def _is_nan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _fail(message: str, code: int = 2):
    _print(Text.assemble(("error:", "bold red"), " ", message), err=True)
    raise typer.Exit(code)


def _warn(message: str) -> None:
    _print(Text.assemble(("warning:", "bold yellow"), " ", message), err=True)


def _describe(exc: BaseException) -> str:
    """``"OverflowError: math range error"``: an unexpected failure's type and message, on one
    line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _guard(fn, *args, interrupted: str = "interrupted"):
    """Run ``fn(*args)``; turn the expected failures into a one-line error (``interrupted`` is
    the line for Ctrl-C)."""
    from sparsitylab._errors import DivergenceError
    from sparsitylab.studies import StudyError

    try:
        return fn(*args)
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        _fail(interrupted, 130)
    except (
        UserError, StudyError, DivergenceError, FileNotFoundError, IsADirectoryError,
        PermissionError,
    ) as exc:  # fmt: skip
        _fail(str(exc))
    except (ValueError, TypeError, OSError, ArithmeticError, MemoryError) as exc:
        _fail(_describe(exc))


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
        table.add_row(Text(study.name), Text(study.source), Text(study.summary))
    console.print(table)


@app.command("study")
def study_command(
    name: str = typer.Argument(..., help="Study name (see `sparsitylab studies`)."),
    seeds: int = typer.Option(
        None, "--seeds", help="Seeds per configuration, 1 to 10000 (default: the study's)."
    ),
    quick: bool = typer.Option(False, "--quick", help="Small settings: under a minute on 2 cores."),
    out: Path = typer.Option(Path("reports"), "--out", help="Reports go to OUT/NAME/."),
    scheduler: str = typer.Option(None, "--scheduler", help="Dask scheduler address (tcp://...)."),
    processes: int = typer.Option(
        None, "--processes", help="Run tasks in N local worker processes (default: in-process)."
    ),
    resume: bool = typer.Option(False, "--resume", help="Keep finished runs in OUT/NAME/."),
):
    """Run one study and write its report (HTML, Markdown, metrics, figures, configuration)."""
    _guard(
        _run_study, name, seeds, quick, out, scheduler, processes, resume,
        interrupted="interrupted (run again with --resume to continue)",
    )  # fmt: skip


def _run_study(name, seeds, quick, out, scheduler, processes, resume):
    from sparsitylab.studies import (
        check_executor_options,
        get_study,
        make_executor,
        open_run,
        study_config,
    )

    check_executor_options(scheduler, processes)
    study = get_study(name)
    study_config(study, quick=quick, seeds=seeds)  # --seeds checked before connecting anywhere
    _check_out(out)
    executor = make_executor(scheduler, processes)
    try:
        with open_run(study, out, quick=quick, seeds=seeds, resume=resume) as run:
            paths = _execute_with_bar(run, executor, f"{name} ({executor.name})")
    finally:
        executor.close()
    _print(f"report: {paths['html']}")
    _print(f"metrics: {paths['metrics']}")


def _check_out(out: Path) -> None:
    try:
        Path(out).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"--out {out} is not a writable folder: {err.strerror}") from None
    if not os.access(out, os.W_OK):
        raise UserError(f"--out {out} is not a writable folder")


def _execute_with_bar(run, executor, label: str) -> dict:
    """``run.execute`` under a progress bar on standard error; a failed run removes the bar, so
    its one-line error is all that standard error shows."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}", markup=False),
        console=err_console,
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=None, last="")

        def progress(done, total, key):
            bar.update(task, completed=done, total=total, last=key)

        try:
            return run.execute(executor, progress)
        except BaseException:
            bar.live.transient = True
            raise


# --- fit and certify ----------------------------------------------------------------------------
class ModelKind(StrEnum):
    lasso = "lasso"
    hadamard = "hadamard"
    mlp = "mlp"


CSV_SUFFIXES = (".csv", ".txt", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip")
PARQUET_SUFFIXES = (".parquet", ".pq")
MAX_ABS_VALUE = 1e100  # squares and products of larger values overflow in the fits


def _rows(n: int) -> str:
    return f"{n} row{'' if n == 1 else 's'}"


def _names(names, limit: int = 20) -> str:
    """Column names for a message: the first ``limit``, then how many more."""
    names = [str(n) for n in names]
    more = f", ... and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


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
        raise UserError(f"duplicate column name(s) in {path.name}: {_names(dup)}; rename them")
    empty = [i for i, n in enumerate(names) if not n.strip()]
    if empty:
        raise UserError(
            f"column {empty[0] + 1} of {path.name} has no name (pandas calls it "
            f"'Unnamed: {empty[0]}'): if it is an index written by DataFrame.to_csv(), drop it or "
            "write the file with index=False (read it with index_col=0)"
        )


def _read_frame(path: Path):
    """The table in ``path``, a CSV or Parquet file (told apart by the name's ending)."""
    import pandas as pd

    if not path.exists():
        raise UserError(f"no such file: {path}")
    if path.is_dir():
        raise UserError(f"{path} is a directory, expected a CSV or Parquet file")
    name = path.name.lower()
    if not name.endswith(CSV_SUFFIXES + PARQUET_SUFFIXES):
        raise UserError(
            f"{path.name}: `fit` reads CSV ({', '.join(CSV_SUFFIXES)}) and Parquet "
            f"({', '.join(PARQUET_SUFFIXES)}) files; convert it first"
        )
    parquet = name.endswith(PARQUET_SUFFIXES)
    try:
        frame = pd.read_parquet(path) if parquet else pd.read_csv(path)
    except ImportError as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    except Exception as exc:  # parser errors of every kind
        raise UserError(f"cannot read {path}: {' '.join(str(exc).split())}") from None
    if parquet:
        _check_header(path, frame.columns)
    else:  # the header as written: pandas renames duplicates (x, x.1) and empty names (Unnamed: 0)
        _check_header(path, pd.read_csv(path, header=None, nrows=1, dtype=str,
                                        keep_default_na=False).iloc[0].tolist())  # fmt: skip
    return frame


def _numeric(frame, target: str) -> None:
    """Every column numeric (booleans become 0/1, in place); the target has its own message."""
    import pandas as pd

    for col in frame.columns:
        if pd.api.types.is_bool_dtype(frame[col]):
            frame[col] = frame[col].astype(float)
        elif not pd.api.types.is_numeric_dtype(frame[col]) and col == target:
            raise UserError(
                f"the target {target!r} is not numeric: `fit` fits a regression, so the target "
                "must be numbers (a class of two values may be coded 0/1 for a linear-"
                "probability fit)"
            )
        elif not pd.api.types.is_numeric_dtype(frame[col]):
            raise UserError(
                f"column {col!r} is not numeric; encode it first (e.g. one-hot columns) or drop it"
            )


def _finite(frame) -> None:
    """No missing, infinite or overflowing values."""
    import numpy as np

    bad = [c for c in frame.columns if frame[c].isna().any()]
    if bad:
        raise UserError(f"missing values in column(s) {_names(bad)}; impute or drop them first")
    values = {c: np.abs(frame[c].to_numpy(float)) for c in frame.columns}
    bad = [c for c, v in values.items() if np.isinf(v).any()]
    if bad:
        raise UserError(f"infinite values in column(s) {_names(bad)}; replace or drop them first")
    bad = [c for c, v in values.items() if v.max(initial=0.0) > MAX_ABS_VALUE]
    if bad:
        raise UserError(
            f"column(s) {_names(bad)} hold values beyond {MAX_ABS_VALUE:g} in size, too large to "
            "fit (their squares overflow); rescale them first, e.g. divide by a power of ten"
        )


def read_table(path: Path, target: str):
    """Features and target from a CSV or Parquet file; every column must be numeric. Warns (one
    line on standard error) when the target looks like a class label: ``fit`` does regression."""
    path = Path(path)
    frame = _read_frame(path)
    if target not in frame.columns:
        raise UserError(
            f"target column {target!r} is not in {path.name} (columns: {_names(frame.columns)})"
        )
    if len(frame) < 10:
        raise UserError(f"{path.name} has {_rows(len(frame))}; need at least 10 to fit and test")
    import pandas as pd

    boolean = pd.api.types.is_bool_dtype(frame[target])
    _numeric(frame, target)
    _finite(frame)
    y = frame[target].to_numpy(float)
    X = frame.drop(columns=[target])
    if X.shape[1] == 0:
        raise UserError("no feature columns besides the target")
    if boolean or len(set(y.tolist())) == 2:
        kind = "is boolean" if boolean else "has only 2 distinct values"
        _warn(
            f"the target {target!r} {kind}: `fit` fits a regression to it (a linear-probability "
            "model for a 0/1 class), not a classifier"
        )
    return X.to_numpy(float), y, [str(c) for c in X.columns]


def _numbers(values: dict) -> str:
    """``"duality_gap 1.2e-13, kkt_violation 0"``: a certificate on one line."""
    return ", ".join(
        f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items()
    )


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


def _check_fit_options(model, alpha, path, test_size, seeds) -> None:
    if path and alpha is not None:
        raise UserError("give either --alpha or --path, not both")
    if alpha is not None and not _positive_finite(alpha):
        raise UserError(f"--alpha must be a positive finite number, got {alpha}")
    if not 0 < test_size < 1:
        raise UserError(f"--test-size must lie in (0, 1), got {test_size}")
    if seeds < 1:
        raise UserError(f"--seeds must be at least 1, got {seeds}")
    if seeds != 1 and model != ModelKind.mlp:
        raise UserError(
            f"--seeds (ensemble members) applies to --model mlp only; {model.value} has one "
            "solution, drop --seeds"
        )
    if seeds != 1 and path:
        raise UserError(
            "--path fits one network per fold and alpha; --seeds (ensemble members) applies to "
            "--model mlp with --alpha"
        )


def _fit(data, target, model, alpha, path, test_size, random_state, save, seeds):
    import numpy as np
    from sklearn.metrics import mean_squared_error, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    _check_fit_options(model, alpha, path, test_size, seeds)
    out = Path(save or Path(data).with_suffix(f".{model.value}.pkl"))
    if out.is_dir():
        raise UserError(f"{out} is a directory; give --save a file name, e.g. {out / 'model.pkl'}")
    if not out.parent.is_dir():
        raise UserError(f"cannot save the model: folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK):
        raise UserError(f"cannot save the model: folder {out.parent} is not writable")
    X, y, names = read_table(data, target)
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
        certificate = {  # NaN marks a field that does not apply (the bridge's curvature)
            k: v for k, v in est.certificate_.as_dict().items() if not _is_nan(v)
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

    _print(f"{model.value} on {Path(data).name} → {target}", style="bold")
    table = RichTable(show_header=False)
    for k, v in metrics.items():
        table.add_row(k, f"{v:.6g}" if isinstance(v, float) else str(v))
    console.print(table)
    if certificate is not None:
        _print(f"certificate: {_numbers(certificate)}")
    label = (
        "features with non-zero input weights"
        if model == ModelKind.mlp and not path
        else "selected features"
    )
    _print(f"{label} ({len(selected)} of {len(names)}): {', '.join(selected) or 'none'}")

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
    _print(f"model saved: {out}")


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
    seeds: int = typer.Option(
        1, "--seeds", help="Ensemble members (--model mlp, not with --path)."
    ),
    save: Path = typer.Option(None, "--save", help="Where to save the model (.pkl)."),
):
    """Fit a model to your table: metrics, certificate, selected features; saves the model."""
    _guard(_fit, data, target, model, alpha, path, test_size, random_state, save, seeds)


class _ModelUnpickler(pickle.Unpickler):
    """Unpickles only what a saved model holds: classes of numpy, SciPy, scikit-learn and
    sparsitylab, and numpy's array rebuilders. Any other name (``os.system``, ``builtins.eval``,
    a function of those packages) is refused before it is imported or called, so a file that is
    not a model fails early. This narrows what a hostile file can do; it does not make loading
    one safe (a model is a pickle): certify only files you trust."""

    PACKAGES = frozenset({"numpy", "scipy", "sklearn", "sparsitylab"})
    NUMPY_REBUILDERS = frozenset({"scalar", "_reconstruct", "_frombuffer"})

    def find_class(self, module, name):
        package = module.split(".")[0]
        if package in self.PACKAGES:
            found = super().find_class(module, name)
            if isinstance(found, type) or (package == "numpy" and name in self.NUMPY_REBUILDERS):
                return found
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a saved model")


def _unpickle_model(model_path: Path):
    import io

    not_model = f"{model_path} is not a model saved by `sparsitylab fit`"
    try:
        return _ModelUnpickler(io.BytesIO(model_path.read_bytes())).load()
    except pickle.UnpicklingError as exc:
        raise UserError(f"{not_model} ({exc})") from None
    except (IsADirectoryError, PermissionError):
        raise
    except Exception:
        raise UserError(not_model) from None


def _positive_finite(x) -> bool:
    """A real number (not a bool) in (0, inf); an int too large for a float is not."""
    import numbers

    if not isinstance(x, numbers.Real) or isinstance(x, bool):
        return False
    try:
        return math.isfinite(x) and x > 0
    except OverflowError:
        return False


def load_model(model_path: Path) -> dict:
    """The bundle ``fit`` saved, its structure checked: a ``UserError`` names what is wrong.

    A model file is a pickle, read through :class:`_ModelUnpickler`: only files you trust."""
    import numpy as np

    model_path = Path(model_path)
    if not model_path.exists():
        raise UserError(f"no such file: {model_path}")
    bundle = _unpickle_model(model_path)
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
    if not _positive_finite(alpha):
        raise bad(f"'alpha' is not a positive finite number ({reprlib.repr(alpha)})")
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
    _print(
        f"{bundle['kind']} model for {bundle['target']} ({len(bundle['features'])} "
        f"features), alpha {bundle['alpha']:.6g}"
    )
    _print(f"re-checked against the Lasso: {_numbers(cert)}")
    if not ok:
        _fail(
            f"relative duality gap {cert['duality_gap']:.3g} exceeds {tol:g}: the saved "
            f"coefficients are not the Lasso solution",
            1,
        )
    _print(
        Text.assemble(
            ("certified", "green"), f": relative duality gap {cert['duality_gap']:.2e} <= {tol:g}"
        )
    )


@app.command("certify")
def certify_command(
    model: Path = typer.Argument(
        ..., help="A model saved by `sparsitylab fit`: a pickle, so only a file you trust."
    ),
    tol: float = typer.Option(1e-6, "--tol", help="Largest relative duality gap accepted."),
):
    """Re-check a saved lasso/hadamard model against its sparse problem (duality gap, KKT).

    A model file is a pickle, and loading a pickle can run code: certify only files you trust
    (ones you saved with `sparsitylab fit`). Names from outside numpy, SciPy, scikit-learn and
    sparsitylab are refused before they load, which narrows but does not remove the risk."""
    _guard(_certify, model, tol)


def main():  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
