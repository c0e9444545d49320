"""Reports a person can read: self-contained HTML, Markdown, metrics and configuration as JSON.

A :class:`Report` is a title, a one-line summary, a header line on the run that made it (quick or
full, seeds, sparsitylab version) and a list of :class:`Section` s; a section holds
paragraphs of text (a small Markdown subset: ``**bold**``, ``*italic*``, ```code``` shown as
written, and lines starting with ``- `` as bullets) and items, each a :class:`Table` (a pandas
DataFrame with a caption) or a :class:`Figure` (a matplotlib figure, rendered once to PNG).

:func:`write_report` writes into one directory::

    report.html    every figure embedded as a base64 PNG: opens from disk, no server, no network
    report.md      the same text and tables; figures linked as the PNG files beside it
    metrics.json   the numbers the report states (what tests and other tools read)
    config.json    the exact configuration that produced them
    <figure>.png   each figure

Every file is written atomically (a temporary file in the same directory, then ``os.replace``),
so a reader never sees half a report.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "Figure",
    "Table",
    "Section",
    "Report",
    "atomic_write",
    "write_json",
    "to_jsonable",
    "render_html",
    "render_markdown",
    "write_report",
]


# --- files --------------------------------------------------------------------------------------
def atomic_write(path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    # not mkstemp (mode 0600): os.open with 0666 lets the kernel apply the umask, as open() does
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def to_jsonable(value):
    """Plain JSON types from numpy scalars/arrays, tuples, paths and DataFrames (NaN -> None)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, pd.DataFrame):
        return to_jsonable(value.to_dict(orient="records"))
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer | int):
        return int(value)
    if isinstance(value, np.floating | float):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def write_json(path, value) -> Path:
    text = json.dumps(to_jsonable(value), indent=2, sort_keys=True, allow_nan=False)
    return atomic_write(path, text + "\n")


# --- content ------------------------------------------------------------------------------------
@dataclass
class Figure:
    """A figure: ``name`` (file stem), a matplotlib figure (rendered to PNG once), a caption."""

    name: str
    figure: object = None
    caption: str = ""
    png: bytes = b""

    def __post_init__(self):
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.name):
            raise ValueError(
                f"figure names are file stems of letters, digits, '_-.': {self.name!r}"
            )
        if self.figure is not None and not self.png:
            import matplotlib.pyplot as plt

            buf = io.BytesIO()
            self.figure.savefig(
                buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None}
            )
            plt.close(self.figure)
            self.png = buf.getvalue()
            self.figure = None


@dataclass
class Table:
    """A titled table with an optional caption; floats shown to ``digits`` significant digits."""

    title: str
    frame: pd.DataFrame
    caption: str = ""
    digits: int = 4

    def formatted(self) -> pd.DataFrame:
        def fmt(v):
            if isinstance(v, float | np.floating):
                if not math.isfinite(v):
                    return "—"
                if v == 0:  # -0.0 (e.g. a Lasso coefficient) prints as "0", not "-0"
                    v = 0.0
                return f"{v:.{self.digits}g}" if abs(v) < 1e5 else f"{v:.3e}"
            return "—" if v is None else str(v)

        return self.frame.map(fmt)


@dataclass
class Section:
    title: str
    text: list[str] = field(default_factory=list)
    items: list[Table | Figure] = field(default_factory=list)


@dataclass
class Report:
    """``header``: one line on the run that made the report, shown under the summary (a study
    run's: quick or full, seeds, sparsitylab version; nothing that differs between a resumed
    and an uninterrupted run, such as a date)."""

    title: str
    summary: str
    sections: list[Section] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    header: str = ""

    @property
    def figures(self) -> list[Figure]:
        return [it for s in self.sections for it in s.items if isinstance(it, Figure)]


# --- rendering ----------------------------------------------------------------------------------
_CODE = re.compile(r"`([^`]+)`")
_EMPHASIS = [
    (re.compile(r"\*\*([^*]+)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![*\w])\*([^*\s][^*]*)\*(?![*\w])"), r"<em>\1</em>"),
]


def _emphasis_html(text: str) -> str:
    out = html.escape(text, quote=False)
    for pattern, repl in _EMPHASIS:
        out = pattern.sub(repl, out)
    return out


def _inline_html(text: str) -> str:
    """``**bold**``, ``*italic*`` and ```code```; a code span is shown as written (``x**2``)."""
    parts = _CODE.split(text)  # text, code, text, code, ..., text
    return "".join(
        f"<code>{html.escape(part, quote=False)}</code>" if i % 2 else _emphasis_html(part)
        for i, part in enumerate(parts)
    )


def _paragraph_html(text: str) -> str:
    lines = text.strip().splitlines()
    if lines and all(line.startswith("- ") for line in lines):
        items = "".join(f"<li>{_inline_html(line[2:])}</li>" for line in lines)
        return f"<ul>{items}</ul>"
    return f"<p>{_inline_html(' '.join(lines))}</p>"


def _table_html(table: Table) -> str:
    frame = table.formatted()
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    caption = f"<p class='caption'>{_inline_html(table.caption)}</p>" if table.caption else ""
    return (
        f"<div class='table'><h3>{_inline_html(table.title)}</h3><table><thead><tr>{head}"
        f"</tr></thead><tbody>{rows}</tbody></table>{caption}</div>"
    )


def _figure_html(fig: Figure) -> str:
    data = base64.b64encode(fig.png).decode("ascii")
    alt = html.escape(fig.caption or fig.name)
    return (
        f'<figure id=\'fig-{fig.name}\'><img alt="{alt}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_inline_html(fig.caption)}</figcaption></figure>"
    )


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#1a1a1a;line-height:1.5}
h1{margin-bottom:.2rem}.summary{color:#555;font-size:1.1rem;margin-top:0}
.run{color:#555;font-size:.9rem;border-left:3px solid #ccc;padding-left:.5rem}
h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}h3{font-size:1rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
figure{margin:1rem 0}img{max-width:100%}figcaption,.caption{color:#555;font-size:.9rem}
code{background:#f3f3f3;padding:0 .2rem;border-radius:3px}
"""


def render_html(report: Report) -> str:
    body = [
        f"<h1>{_inline_html(report.title)}</h1>",
        f"<p class='summary'>{_inline_html(report.summary)}</p>",
    ]
    if report.header:
        body.append(f"<p class='run'>{_inline_html(report.header)}</p>")
    for section in report.sections:
        body.append(f"<section><h2>{_inline_html(section.title)}</h2>")
        body.extend(_paragraph_html(t) for t in section.text)
        for item in section.items:
            body.append(_table_html(item) if isinstance(item, Table) else _figure_html(item))
        body.append("</section>")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(report.title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _md_cell(text) -> str:
    """A Markdown table cell: HTML escaped, ``|`` escaped (so it does not end the cell) and line
    breaks as ``<br>`` (a newline would end the row)."""
    cell = html.escape(str(text), quote=False).replace("|", "\\|")
    return re.sub(r"\r\n|\r|\n", "<br>", cell)


def _table_markdown(table: Table) -> str:
    frame = table.formatted()
    cols = [_md_cell(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(["---"] * len(cols)) + "|"]
    lines += [
        "| " + " | ".join(_md_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)
    ]
    out = f"**{table.title}**\n\n" + "\n".join(lines)
    return out + (f"\n\n{table.caption}" if table.caption else "")


def render_markdown(report: Report) -> str:
    parts = [f"# {report.title}", f"*{report.summary}*"]
    if report.header:
        parts.append(report.header)
    for section in report.sections:
        parts.append(f"## {section.title}")
        parts.extend(t.strip() for t in section.text)
        for item in section.items:
            if isinstance(item, Table):
                parts.append(_table_markdown(item))
            else:
                parts.append(f"![{item.caption or item.name}]({item.name}.png)\n\n{item.caption}")
    return "\n\n".join(parts) + "\n"


def write_report(report: Report, directory) -> dict[str, Path]:
    """Write the report's files into ``directory`` (atomically); returns their paths by kind."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for fig in report.figures:
        paths[fig.name] = atomic_write(directory / f"{fig.name}.png", fig.png)
    paths["metrics"] = write_json(directory / "metrics.json", report.metrics)
    paths["config"] = write_json(directory / "config.json", report.config)
    paths["markdown"] = atomic_write(directory / "report.md", render_markdown(report))
    paths["html"] = atomic_write(directory / "report.html", render_html(report))
    return paths
