"""Reports: self-contained HTML with embedded figures, Markdown, atomic files, Chromium renders."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from sparsitylab.report import (  # noqa: E402
    Figure,
    Report,
    Section,
    Table,
    atomic_write,
    render_markdown,
    write_report,
)


def _report():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    table = Table("Numbers", pd.DataFrame({"model": ["a", "b"], "mse": [1.23456789, np.nan]}))
    return Report(
        "A <title>",
        "One **line**.",
        [
            Section(
                "First", ["Text with `code`.", "- one\n- two"], [table, Figure("line", fig, "cap")]
            ),
        ],
        metrics={"x": np.float32(1.5), "arr": np.arange(3), "nan": float("nan")},
    )


def test_write_report_files(tmp_path):
    paths = write_report(_report(), tmp_path)
    html = paths["html"].read_text()
    assert html.count("data:image/png;base64,") == 1
    assert "A &lt;title&gt;" in html and "<code>code</code>" in html and "<li>one</li>" in html
    assert "<strong>line</strong>" in html
    assert 'src="http' not in html and "<link" not in html  # nothing fetched from elsewhere
    assert (tmp_path / "line.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = paths["markdown"].read_text()
    assert "![cap](line.png)" in md and "| model | mse |" in md and "1.235" in md
    assert json.loads(paths["metrics"].read_text()) == {"x": 1.5, "arr": [0, 1, 2], "nan": None}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_markdown_has_every_section():
    md = render_markdown(_report())
    assert md.startswith("# A <title>") and "## First" in md


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "f.txt"
    atomic_write(target, "old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError):
        atomic_write(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_figure_names_are_file_stems():
    with pytest.raises(ValueError):
        Figure("../evil", None)


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_report_renders_in_headless_chromium(tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium binary on PATH (Debian: apt-get install chromium)")
    paths = write_report(_report(), tmp_path / "r")
    probe = tmp_path / "probe.html"
    # the report itself, plus a script that counts the images the browser decoded
    probe.write_text(
        paths["html"]
        .read_text()
        .replace(
            "</body>",
            (
                "<script>window.addEventListener('load',()=>{const ok=[...document.images].filter("
                "i=>i.complete&&i.naturalWidth>0).length;document.body.setAttribute('data-decoded',"
                "ok);});</script></body>"
            ),
        )
    )
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--virtual-time-budget=5000",
        "--dump-dom",
        probe.as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert "<h1>A &lt;title&gt;</h1>" in dom
    decoded = re.search(r'data-decoded="(\d+)"', dom)
    assert decoded and int(decoded.group(1)) == 1, dom[-500:]
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--screenshot={shot}",
            "--window-size=900,900",
            paths["html"].as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.exists() and shot.stat().st_size > 5000


def test_atomic_write_mode_follows_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "f.txt", "x")
        os.umask(0o027)
        other = atomic_write(tmp_path / "g.txt", "y")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(other.stat().st_mode) == 0o640
