"""The README's Python example runs as written."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _python_blocks(path):
    return re.findall(r"^```python\n(.*?)^```$", path.read_text(), flags=re.S | re.M)


def test_readme_first_fit_runs(capsys):
    blocks = _python_blocks(ROOT / "README.md")
    assert len(blocks) == 1, "the README has one Python example"
    namespace = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    score = float(capsys.readouterr().out.split()[0])
    assert 0.5 < score <= 1.0  # R^2 of the regularized network on Boston's test rows
    assert namespace["net"].feature_importances_.shape == (13,)
