# ruff: noqa: B008  (typer declares options as argument defaults)
"""The ``sparsitylab`` command line: run the studies, fit a table of your own, check a saved model.

    sparsitylab studies
    sparsitylab study NAME [--seeds N] [--quick] [--out DIR] [--scheduler ADDRESS | --processes N]
                           [--resume]
    sparsitylab fit data.csv --target COL [--model lasso|hadamard|mlp] [--alpha A | --path]
                    [--test-size F] [--random-state N] [--seeds N] [--save model.pkl]
    sparsitylab certify MODEL [--tol T]
    sparsitylab --version

Errors in the input (a missing file, a missing or non-numeric column, an unknown study) and usage
errors (a bad option value, a missing option or argument, an unknown command) are reported on one
line with a non-zero exit status, never as a traceback or a boxed panel. Text that comes from the
user (column names, paths, study names) is printed as it is: never read as Rich markup, never
folded.
"""

from __future__ import annotations

import math
import os
import pickle
import reprlib
import sys
import warnings
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

import typer
import typer.core
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

# typer >= 0.2x carries its own copy of click (``typer._click``); older typer uses click itself
_click = getattr(typer.core, "_click", None) or typer.core.click
_CLICK_EXCEPTION = _click.exceptions.ClickException


class _FlagsWithoutType:
    """Flags (``--quick``, ``--help``) take no value: show no type after them (typer 0.29's help
    panels print ``<bool>`` there)."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


class _Command(_FlagsWithoutType, typer.core.TyperCommand):
    """A command whose usage line names its arguments as the docs do (``study [OPTIONS] NAME``,
    where typer 0.29 writes ``{name}``)."""

    def collect_usage_pieces(self, ctx):
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = (param.metavar or param.name).upper()
                pieces.append(name if param.required else f"[{name}]")
        return pieces


@contextmanager
def _one_line_usage_errors():
    """A usage error of click/typer (bad value, missing option or argument, unknown command or
    option) as one ``error:`` line on standard error, exit status 2; ``sparsitylab`` alone still
    shows the help."""
    try:
        yield
    except _CLICK_EXCEPTION as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            raise
        ctx = getattr(exc, "ctx", None)
        see = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        _fail(" ".join(exc.format_message().split()) + see, exc.exit_code)


class _Group(_FlagsWithoutType, typer.core.TyperGroup):
    def make_context(self, info_name, args, parent=None, **extra):
        with _one_line_usage_errors():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx):
        with _one_line_usage_errors():  # the subcommand's own options are parsed in here
            return super().invoke(ctx)


app = typer.Typer(
    name="sparsitylab",
    help="Sparse, regularized neural networks: studies, fits and certificates.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=_Group,
)
console = Console()
err_console = Console(stderr=True)

MODEL_FORMAT = "sparsitylab-model-1"
CV_FOLDS = 5  # --path: K-fold cross-validation
N_ALPHAS = 100  # --path (lasso, hadamard): the same grid, alpha_max down to 1e-3 alpha_max
TOL_FLOOR = 1e-14  # certify: smaller relative duality gaps are float64 rounding
ROUNDING_GAP = 1e-12  # certify: a failing gap this small is rounding, not a wrong model
EXTREME_SD = 10.0  # fit: warn for target values this many robust sds from the median


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


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A Python warning (e.g. scikit-learn's ``ConvergenceWarning``) as one ``warning:`` line."""
    _warn(f"{' '.join(str(message).split())} ({category.__name__})")


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
        with warnings.catch_warnings():  # restores showwarning on the way out
            warnings.showwarning = _show_warning
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


def _print_version(value: bool) -> None:
    if value:
        from sparsitylab import __version__

        _print(f"sparsitylab {__version__}")
        raise typer.Exit()


@app.callback()
def _main_options(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True,
        help="Print the version of sparsitylab and exit.",
    ),
):  # fmt: skip
    """Sparse, regularized neural networks: studies, fits and certificates."""


# --- studies ------------------------------------------------------------------------------------
@app.command("studies", cls=_Command, help="List the studies, one line each.")
def studies_command():
    from sparsitylab.studies import STUDIES

    width = max(len(name) for name in STUDIES)
    for study in STUDIES.values():
        line = f"{study.name:<{width}}  {study.summary} [source: {study.source}]"
        # a terminal gets each line cut to its width; a pipe or file gets the whole line
        if console.is_terminal and len(line) > console.width:
            line = line[: max(console.width - 1, width)] + "…"
        _print(line)


@app.command(
    "study",
    cls=_Command,
    help="Run one study and write its report (HTML, Markdown, metrics, figures, configuration).",
)
def study_command(
    name: str = typer.Argument(..., metavar="NAME", help="Study name (see `sparsitylab studies`)."),
    seeds: int = typer.Option(
        None, "--seeds", help="Seeds per configuration, 1 to 10000 (default: the study's)."
    ),
    quick: bool = typer.Option(
        False, "--quick", help="Small settings, compiled fast: under a minute on 2 cores."
    ),
    out: Path = typer.Option(Path("reports"), "--out", help="Reports go to OUT/NAME/."),
    scheduler: str = typer.Option(None, "--scheduler", help="Dask scheduler address (tcp://...)."),
    processes: int = typer.Option(
        None, "--processes", help="Run tasks in N local worker processes (default: in-process)."
    ),
    resume: bool = typer.Option(False, "--resume", help="Keep finished runs in OUT/NAME/."),
):
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
    out = Path(out)
    for folder in (out, *out.parents):  # the nearest part of the path that exists
        if folder.exists() or folder.is_symlink():
            if not folder.is_dir():
                what = "a file" if folder.is_file() else "not a folder"
                where = "it is" if folder == out else f"{folder} is"
                raise UserError(
                    f"--out {out} is not a writable folder: {where} {what}; give a folder "
                    "(a missing one is created)"
                )
            break
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"--out {out} is not a writable folder: {err.strerror}") from None
    if not os.access(out, os.W_OK):
        raise UserError(f"--out {out} is not a writable folder")


def _execute_with_bar(run, executor, label: str) -> dict:
    """``run.execute`` under a progress bar on standard error; a failed run removes the bar, so
    its one-line error is all that standard error shows."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}", markup=False),
        console=err_console,
        transient=False,
    )
    bar.start()
    try:
        task = bar.add_task(label, total=None, last="")

        def progress(done, total, key):
            bar.update(task, completed=done, total=total, last=key)

        paths = run.execute(executor, progress)
    except BaseException:
        # not bar.stop(): on a console that is not interactive it ends with an empty line
        bar.live.transient = True
        bar.live.stop()
        raise
    bar.stop()
    return paths


# --- fit and certify ----------------------------------------------------------------------------
class ModelKind(StrEnum):
    lasso = "lasso"
    hadamard = "hadamard"
    mlp = "mlp"


CSV_SUFFIXES = (".csv", ".txt", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip")
PARQUET_SUFFIXES = (".parquet", ".pq")
# endings of data files --save refuses to overwrite with a model
DATA_SUFFIXES = CSV_SUFFIXES + PARQUET_SUFFIXES + (
    ".tsv", ".json", ".jsonl", ".xlsx", ".xls", ".feather", ".arrow", ".h5", ".hdf5", ".npy",
    ".npz", ".sav", ".dta", ".sas7bdat",
)  # fmt: skip
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


def _quoted(names) -> str:
    """``'a', 'b'``: column names for a message, quoted, the first 20 then how many more."""
    return _names([repr(str(n)) for n in names])


def _cell(value) -> str:
    return reprlib.repr(value if isinstance(value, str) else str(value))


def _data_rows(positions, limit: int = 5) -> str:
    """``data row 4`` or ``data rows 3, 17, ...``: 1-based rows after the header line."""
    rows = [str(i + 1) for i in positions]
    more = ", ..." if len(rows) > limit else ""
    return f"data row{'' if len(rows) == 1 else 's'} {', '.join(rows[:limit])}{more}"


def _check_columns(frame, target: str) -> None:
    """Every column numeric (booleans become 0/1, in place), finite, not missing, not huge.

    Raises one ``UserError`` naming every problem found: text columns, stray text in a column of
    numbers (with an example cell), missing values (rows to drop for the target), infinite and
    overflowing values."""
    import numpy as np
    import pandas as pd

    text, stray, numeric = [], [], []
    target_problem = None
    for col in frame.columns:
        values = frame[col]
        if pd.api.types.is_bool_dtype(values):
            frame[col] = values.astype(float)
        elif not pd.api.types.is_numeric_dtype(values):
            parsed = pd.to_numeric(values, errors="coerce")
            bad = np.flatnonzero((values.notna() & parsed.isna()).to_numpy())
            filled = int(values.notna().sum())
            if len(bad) == 0:  # numbers stored as objects
                frame[col] = parsed
            elif len(bad) <= filled / 2:  # mostly numbers: stray cells
                where = f"e.g. {_data_rows(bad[:1])}: {_cell(values.iloc[bad[0]])}"
                if len(bad) > 1:
                    where += f", {len(bad)} such cells"
                if col == target:
                    target_problem = (
                        f"the target {target!r} has cells that are not numbers ({where}); "
                        "correct them or drop those rows"
                    )
                else:
                    stray.append(f"{str(col)!r} ({where})")
                continue
            elif col == target:
                target_problem = (
                    f"the target {target!r} is not numeric: `fit` fits a regression, so the "
                    "target must be numbers (a class of two values may be coded 0/1 for a "
                    "linear-probability fit)"
                )
                continue
            else:
                text.append(col)
                continue
        numeric.append(col)

    problems = [target_problem] if target_problem else []
    if len(text) == 1:
        problems.append(
            f"column {str(text[0])!r} is not numeric; encode it first (e.g. one-hot columns) or "
            "drop it"
        )
    elif text:
        problems.append(
            f"columns {_quoted(text)} are not numeric; encode them first (e.g. one-hot columns) "
            "or drop them"
        )
    if stray:
        columns, have = ("columns", "have") if len(stray) > 1 else ("column", "has")
        problems.append(
            f"{columns} {', '.join(stray)} {have} cells that are not numbers; correct them or "
            "drop those rows"
        )
    checked = [c for c in numeric if c != target]
    if target in numeric:
        missing = np.flatnonzero(frame[target].isna().to_numpy())
        if len(missing):
            problems.append(
                f"the target {target!r} has missing values ({_data_rows(missing)}); drop those "
                "rows first (an imputed target would be fitted as if it were measured)"
            )
    bad = [c for c in checked if frame[c].isna().any()]
    if bad:
        problems.append(f"missing values in column(s) {_names(bad)}; impute or drop them first")
    values = {c: np.abs(frame[c].to_numpy(float)) for c in numeric}
    bad = [c for c, v in values.items() if np.isinf(v).any()]
    if bad:
        problems.append(f"infinite values in column(s) {_names(bad)}; replace or drop them first")
    bad = [  # finite values only: infinities and missing values are reported above
        c for c, v in values.items()
        if np.max(v, initial=0.0, where=np.isfinite(v)) > MAX_ABS_VALUE
    ]  # fmt: skip
    if bad:
        problems.append(
            f"column(s) {_names(bad)} hold values beyond {MAX_ABS_VALUE:g} in size, too large to "
            "fit (their squares overflow); rescale them first, e.g. divide by a power of ten"
        )
    if problems:
        raise UserError("; ".join(problems))


def _warn_extreme_target(y, target: str) -> None:
    """One line when some target values lie far out (robust z-score beyond ``EXTREME_SD``)."""
    import numpy as np

    median = float(np.median(y))
    sd = 1.4826 * float(np.median(np.abs(y - median)))  # the MAD, scaled to a normal's sd
    if not sd > 0:
        return
    z = np.abs(y - median) / sd
    far = np.flatnonzero(z > EXTREME_SD)
    if len(far) == 0:
        return
    i = int(far[np.argmax(z[far])])
    more = f"; {len(far)} rows beyond {EXTREME_SD:g}" if len(far) > 1 else ""
    _warn(
        f"the target {target!r} has extreme values ({_data_rows([i])}: {y[i]:.6g}, "
        f"{z[i]:.0f} robust sds from the median {median:.4g}{more}); the fit is least squares, "
        "so such rows weigh heavily: check them"
    )


def read_table(path: Path, target: str):
    """Features and target from a CSV or Parquet file; every column must be numeric. Warns (one
    line on standard error) when the target looks like a class label (``fit`` does regression)
    or has extreme values; refuses a constant target."""
    import numpy as np

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
    _check_columns(frame, target)
    y = frame[target].to_numpy(float)
    X = frame.drop(columns=[target])
    if X.shape[1] == 0:
        raise UserError("no feature columns besides the target")
    distinct = len(np.unique(y))
    if distinct == 1:
        raise UserError(
            f"the target {target!r} has a single value ({y[0]:.6g}) in all {_rows(len(y))}; "
            "there is nothing to fit"
        )
    if boolean or distinct == 2:
        kind = "is boolean" if boolean else "has only 2 distinct values"
        _warn(
            f"the target {target!r} {kind}: `fit` fits a regression to it (a linear-probability "
            "model for a 0/1 class), not a classifier"
        )
    else:
        _warn_extreme_target(y, target)
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
        "problem": f"lasso, {alpha:g} ||beta||_1",
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


def _objective(kind: str, n: int, alpha: float, target: str) -> str:
    """The objective a lasso or hadamard model minimizes (and ``certify`` checks), on one line."""
    lasso = "(1/2n) ||y - mean(y) - Xs b||^2 + alpha ||b||_1"
    where = (
        f"n = {n} training rows, alpha = {alpha:.6g}, Xs = the features standardized on those "
        f"rows, y = {target!r} in its own units"
    )
    if kind == ModelKind.hadamard:
        return (
            "objective: the network's (1/2n) ||y - mean(y) - Xs (u*v)||^2 + (alpha/2) "
            f"(||u||^2 + ||v||^2), whose minimum is the Lasso's {lasso} at b = u*v; {where}"
        )
    return f"objective: the Lasso's {lasso}; {where}"


def _data_stem(path: Path) -> str:
    """``data`` for ``data.csv``, ``data.csv.gz`` or ``data.parquet``."""
    lower = path.name.lower()
    for suffix in sorted(CSV_SUFFIXES + PARQUET_SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix) and len(lower) > len(suffix):
            return path.name[: -len(suffix)]
    return path.stem or path.name


def default_model_path(data: Path, model: str) -> Path:
    """``data.<model>.pkl`` beside ``data.csv`` (any CSV or Parquet ending is dropped)."""
    return Path(data).with_name(f"{_data_stem(Path(data))}.{model}.pkl")


def _check_save(out: Path, data: Path, model: str) -> None:
    """Refuse a --save path that cannot take the model, or that would overwrite the data."""
    if out.is_dir():
        raise UserError(f"{out} is a directory; give --save a file name, e.g. {out / 'model.pkl'}")
    if not out.parent.is_dir():
        raise UserError(f"cannot save the model: folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK):
        raise UserError(f"cannot save the model: folder {out.parent} is not writable")
    if not out.exists():
        return
    suggestion = out.with_name(default_model_path(data, model).name)
    if data.exists() and os.path.samefile(out, data):
        raise UserError(f"--save {out} is the input file; choose another name (e.g. {suggestion})")
    ending = next((x for x in DATA_SUFFIXES if out.name.lower().endswith(x)), None)
    if ending is not None:
        raise UserError(
            f"--save {out} would overwrite a data file ({ending}) with the model; choose "
            f"another name (e.g. {suggestion})"
        )


def _path_alphas(Xs, y):
    """The --path grid of lasso and hadamard: ``N_ALPHAS`` values from the smallest alpha that
    keeps every coefficient at zero down to 1e-3 of it (scikit-learn's ``LassoCV`` grid)."""
    from sparsitylab.equivalence.path import alpha_grid

    return alpha_grid(Xs - Xs.mean(0), y - y.mean(), n_alphas=N_ALPHAS, eps=1e-3)


def _input_norms(net, n_features: int):
    """Per feature, the L2 norm of its first-layer weights (the group the penalty acts on), on
    the standardized inputs; the mean over the members of an ensemble."""
    import numpy as np

    from sparsitylab.estimators.path import effective_first_layer
    from sparsitylab.sparse._model import unwrap

    first = effective_first_layer(net.params_)  # (members, rows, units)
    norms = np.sqrt((np.asarray(first, float) ** 2).sum(axis=2)).mean(axis=0)
    columns, _ = unwrap(net.network_)
    if columns is None:
        return norms
    full = np.zeros(n_features)
    full[np.asarray(columns)] = norms
    return full


def _fit(data, target, model, alpha, path, test_size, random_state, save, seeds):
    import numpy as np
    from sklearn.metrics import mean_squared_error, r2_score
    from sklearn.model_selection import KFold, train_test_split
    from sklearn.preprocessing import StandardScaler

    _check_fit_options(model, alpha, path, test_size, seeds)
    data = Path(data)
    out = Path(save) if save is not None else default_model_path(data, model.value)
    _check_save(out, data, model.value)
    X, y, names = read_table(data, target)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_size, random_state=random_state)
    if len(yte) < 2:
        raise UserError(
            f"--test-size {test_size:g} leaves {_rows(len(yte))} of {len(y)} for testing; R² needs "
            "at least 2: raise --test-size or add rows"
        )
    scaler = StandardScaler().fit(Xtr)
    Xtr_s, Xte_s = scaler.transform(Xtr), scaler.transform(Xte)
    given = "from --alpha" if alpha is not None else "the --alpha default"
    alpha = 0.1 if alpha is None and not path else alpha
    folds = KFold(CV_FOLDS)  # --path: lasso and hadamard share the folds and the alphas
    certificate = None
    if model == ModelKind.lasso:
        from sklearn.linear_model import Lasso, LassoCV

        if path:
            # only CV's choice of alpha; each fold solved as tightly as the final fit, so lasso
            # and hadamard choose the same alpha
            cv = LassoCV(alphas=_path_alphas(Xtr_s, ytr), cv=folds, tol=1e-10, max_iter=100_000)
            alpha = float(cv.fit(Xtr_s, ytr).alpha_)
        est = Lasso(alpha=alpha, tol=1e-10, max_iter=100_000).fit(Xtr_s, ytr)
        certificate = lasso_certificate(Xtr_s, ytr, est.coef_, alpha)
    elif model == ModelKind.hadamard:
        from sparsitylab.estimators.hadamard import HadamardLasso, HadamardLassoCV

        if path:
            est = HadamardLassoCV(alphas=_path_alphas(Xtr_s, ytr), cv=folds).fit(Xtr_s, ytr)
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
            net = SparseMLPRegressorCV(cv=CV_FOLDS, random_state=random_state)
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
        weights = _input_norms(est.regressor_, len(names))
    else:
        weights = np.asarray(est.coef_, float)
        keep = set(np.flatnonzero(np.abs(weights) > 0).tolist())
    selected = [n for j, n in enumerate(names) if j in keep]
    n_test = len(yte)
    # R² compares with the held-out mean: undefined when every held-out target is the same
    r2 = float(r2_score(yte, pred)) if np.ptp(yte) > 0 else None
    metrics = {
        "test_mse": float(mean_squared_error(yte, pred)),
        "test_r2": r2,
        "alpha": alpha,
        "n_train": len(ytr),
        "n_test": n_test,
    }
    chosen = f"chosen by {CV_FOLDS}-fold CV" if path else given
    meaning = {
        "test_mse": f"on the {n_test} held-out rows",
        "test_r2": (
            f"on the same {n_test} held-out rows" if r2 is not None
            else f"not defined: the {n_test} held-out targets are all equal"
        ),
        "alpha": (
            f"{chosen}, for the standardized target" if model == ModelKind.mlp
            else f"penalty strength, {chosen}"
        ),
        "n_train": "rows fitted (features standardized on them)",
        "n_test": f"rows held out (--test-size {test_size:g})",
    }  # fmt: skip

    _print(f"{model.value} on {data.name} → {target}", style="bold")
    table = RichTable(show_header=False)
    for k, v in metrics.items():
        value = "n/a" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v)
        table.add_row(k, value, meaning[k])
    console.print(table)
    if certificate is not None:
        _print(_objective(model, len(ytr), alpha, target))
        _print(f"certificate: {_numbers(certificate)}")
    label = (
        "features with non-zero input weights"
        if model == ModelKind.mlp and not path
        else "selected features"
    )
    _print(f"{label} ({len(selected)} of {len(names)}): {', '.join(selected) or 'none'}")
    if selected:
        if model == ModelKind.mlp:
            what = (
                "first-layer group norms (L2 norm of each feature's input weights, standardized "
                "inputs" + ("; mean over the members)" if seeds > 1 else ")")
            )
            shown = [f"{n} {weights[j]:.4g}" for j, n in enumerate(names) if j in keep]
        else:
            what = (
                f"coefficients (change in {target!r} per training standard deviation of the "
                "feature)"
            )
            shown = [f"{n} {weights[j]:+.4g}" for j, n in enumerate(names) if j in keep]
        _print(f"{what}: {', '.join(shown)}")

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

    if save is None and out.exists():
        _warn(
            f"replacing {out}, an earlier model (perhaps of another file named "
            f"{_data_stem(data)}.*); give --save to keep both"
        )
    atomic_write(out, pickle.dumps(bundle, protocol=pickle.HIGHEST_PROTOCOL))
    _print(f"model saved: {out}")


FIT_HELP = (
    "Fit a model to your table: held-out metrics, the certificate (lasso, hadamard), the selected "
    "features with their coefficients or weight norms; saves the model."
)


@app.command("fit", cls=_Command, help=FIT_HELP)
def fit_command(
    data: Path = typer.Argument(
        ..., metavar="DATA", help="A CSV or Parquet file; every column numeric."
    ),
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
    save: Path = typer.Option(
        None, "--save", help="Where to save the model (.pkl; default DATA.<model>.pkl)."
    ),
):
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
    if tol < TOL_FLOOR:
        raise UserError(
            f"--tol {tol:g} is below float64 rounding: relative duality gaps under about "
            f"{TOL_FLOOR:g} cannot be told apart from 0; give --tol {TOL_FLOOR:g} or more"
        )
    bundle = load_model(model_path)
    if bundle["kind"] == ModelKind.mlp:
        raise UserError(
            "an MLP is not equivalent to a convex sparse problem: nothing to certify "
            "(certify a lasso or hadamard model)"
        )
    cert = lasso_certificate(bundle["X_train"], bundle["y_train"], bundle["coef"], bundle["alpha"])
    gap = cert["duality_gap"]
    _print(
        f"{bundle['kind']} model for {bundle['target']} ({len(bundle['features'])} "
        f"features), alpha {bundle['alpha']:.6g}"
    )
    _print(_objective(ModelKind.lasso, len(bundle["y_train"]), bundle["alpha"], bundle["target"]))
    _print(f"re-checked against the Lasso: {_numbers(cert)}")
    if not gap <= tol:
        why = (
            "a gap this small is float64 rounding, so the coefficients are the Lasso solution "
            "to machine precision: raise --tol"
            if gap <= ROUNDING_GAP
            else "the saved coefficients are not the Lasso solution to this accuracy"
        )
        _fail(f"relative duality gap {gap:.3g} exceeds {tol:g}: not certified at this "
              f"tolerance; {why}", 1)  # fmt: skip
    _print(Text.assemble(("certified", "green"), f": relative duality gap {gap:.2e} <= {tol:g}"))


CERTIFY_HELP = (
    "Re-check a saved lasso/hadamard model against its sparse problem (duality gap, KKT)."
    "\n\n"
    "A model file is a pickle, and loading a pickle can run code: certify only files you trust "
    "(ones you saved with `sparsitylab fit`). Names from outside numpy, SciPy, scikit-learn and "
    "sparsitylab are refused before they load, which narrows but does not remove the risk."
)


@app.command("certify", cls=_Command, help=CERTIFY_HELP)
def certify_command(
    model: Path = typer.Argument(
        ..., metavar="MODEL",
        help="A model saved by `sparsitylab fit`: a pickle, so only a file you trust.",
    ),
    tol: float = typer.Option(
        1e-6, "--tol", help="Largest relative duality gap accepted (1e-14 or more)."
    ),
):  # fmt: skip
    _guard(_certify, model, tol)


def main():  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
