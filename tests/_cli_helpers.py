"""Helpers shared by the CLI tests: invoke the app, and check a one-line error."""

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
