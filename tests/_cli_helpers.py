"""Helpers shared by the CLI tests: invoke the app, and check a one-line error."""

import re

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from sparsitylab.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result, *fragments):
    """The command failed with one line starting 'error:' that holds every fragment."""
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    text = result.output.strip()
    assert "Traceback" not in text
    assert text.startswith("error:") and len(text.splitlines()) == 1, text
    for f in fragments:
        assert f in text, text


def toy_frame(target):
    """40 rows of three standard normal columns a, b, c and ``target = 2a - b + noise``."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = 2 * X[:, 0] - X[:, 1] + 0.1 * rng.standard_normal(40)
    return pd.DataFrame(X, columns=["a", "b", "c"]).assign(**{target: y})


def write_csv(folder, frame, name="d.csv"):
    """``frame`` written to ``folder/name`` without its index; returns the path."""
    path = folder / name
    frame.to_csv(path, index=False)
    return path


def one_line_usage_error(result, command, message):
    """A usage error of click/typer: exit status 2 and exactly one line on standard error,
    ``error: <message> (see <command> --help)``, where ``message`` is a regular expression."""
    assert result.exit_code == 2, result.output
    assert result.stdout == "", result.stdout
    pattern = rf"error: {message} \(see {re.escape(command)} --help\)\n"
    assert re.fullmatch(pattern, result.stderr), result.stderr
