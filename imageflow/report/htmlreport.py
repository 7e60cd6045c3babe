"""A single self-contained HTML page: plots as data URIs, inline CSS, no scripts, no network."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path
from typing import Any

REPORT_HTML = "report.html"

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1100px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.lede { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border-bottom: 1px solid #ddd; padding: .25rem .7rem; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9rem; }
details { margin: 1rem 0; } summary { cursor: pointer; font-weight: 600; }
code { font-size: .9em; }
"""


def _png_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _cell(value: Any) -> str:
    if value is None:
        return '<td class="num">&ndash;</td>'
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"<td>{escape(str(value))}</td>"
    text = f"{value:,}" if isinstance(value, int) else f"{value:.3f}"
    return f'<td class="num">{text}</td>'


def _table(table_id: str, headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.1%}"


def render(summary: dict[str, Any], bins: list[dict[str, Any]], labels: list[dict[str, Any]], plots: list[Path]) -> str:
    """The report page as a string."""
    s = summary
    window = f"{s['window']['since'] or 'start of data'} to {s['window']['until'] or 'end of data'}"
    observed = f"{s['first_inference'] or 'n/a'} to {s['last_inference'] or 'n/a'}"
    under = _percent(s["under_threshold_share"])
    overview = [
        ["Inferences", s["inferences"]],
        ["Mean confidence", s["mean_confidence"]],
        [f"Under the {s['threshold']:g} threshold", f"{s['under_threshold']:,} ({under})"],
        ["Time window requested", window],
        ["Inferences observed", observed],
        ["Bin width", s["bin"]],
        ["Labels (output order)", ", ".join(s["labels"])],
        ["Files read", s["files"]],
        ["Lines read", s["lines"]],
        ["Valid records", s["records"]],
        ["Input-only records (no output captured)", s["input_only_records"]],
        ["Records outside the window", s["outside_window_records"]],
        ["Lines skipped", s["skipped_lines"]],
    ]  # fmt: skip
    skipped = [[reason, count] for reason, count in s["skipped_by_reason"].items()] or [["none", 0]]
    sources = "".join(f"<li><code>{escape(source)}</code></li>" for source in s["sources"])
    endpoints = "".join(
        f"<li><code>{escape(name)}</code>: {count:,} files</li>" for name, count in s["endpoints"].items()
    )
    captions = [
        f"Mean confidence per {s['bin']} bin, shaded 10th to 90th percentile, dashed threshold {s['threshold']:g}.",
        f"Share of inferences whose confidence is under {s['threshold']:g}, per {s['bin']} bin.",
        "Inferences per predicted label (the label with the highest probability).",
    ]
    figures = "\n".join(
        f'<figure><img src="{_png_uri(path)}" alt="{escape(caption)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
        for path, caption in zip(plots, captions, strict=True)
    )
    bin_headers = list(bins[0]) if bins else ["bin_start"]
    bin_table = _table("bins", bin_headers, [list(row.values()) for row in bins])
    label_table = _table(
        "labels",
        ["label", "inferences", "share"],
        [[r["label"], r["inferences"], _percent(r["share"])] for r in labels],
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Data capture report: {escape(observed)}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>Inference confidence report</h1>
<p class="lede">From SageMaker data capture, times in UTC.</p>
<h2>Summary</h2>
{_table("summary", ["", "value"], overview)}
<h2>Plots</h2>
{figures}
<h2>Predicted labels</h2>
{label_table}
<h2>Skipped lines</h2>
{_table("skipped", ["reason", "lines"], skipped)}
<h2>Sources</h2>
<ul id="sources">{sources}</ul>
<ul id="endpoints">{endpoints}</ul>
<details open><summary>Per-bin figures ({len(bins)} bins)</summary>
{bin_table}
</details>
</body>
</html>
"""


def write_html(
    out: Path, summary: dict[str, Any], bins: list[dict[str, Any]], labels: list[dict[str, Any]], plots: list[Path]
) -> Path:
    path = out / REPORT_HTML
    path.write_text(render(summary, bins, labels, plots), encoding="utf-8")
    return path
