"""Evaluation reports for people: Markdown for pull requests, HTML with a bar chart.

The chart is inline SVG, so a report is one self-contained file with no plotting
dependency. The HTML report renders the same Markdown with markdown-it-py (CommonMark plus
tables, raw HTML off), so both reports always say the same thing.
"""

from __future__ import annotations

import html
from pathlib import Path

from markdown_it import MarkdownIt

from cartwise.evaluate.runs import RunRecord

_COLOURS = ["#3b6df0", "#2f9e6b", "#e0883a", "#a34bd1", "#d14b6a", "#5b6475", "#1d8fb3"]


def to_markdown(run: RunRecord) -> str:
    models = list(run.metrics)
    columns = sorted({m for values in run.metrics.values() for m in values})
    lines = [
        f"# Evaluation {run.run_id}: {run.kind}, {run.split}",
        "",
        f"data fingerprint `{run.data_fingerprint}`, created {run.created}",
        "",
        "| model | " + " | ".join(columns) + " | fit s |",
        "|---|" + "---:|" * (len(columns) + 1),
    ]
    for model in models:
        values = run.metrics[model]
        cells = [f"{values[c]:.4f}" if c in values else "-" for c in columns]
        lines.append(f"| {model} | " + " | ".join(cells) + f" | {run.seconds.get(model, 0.0):.1f} |")
    if run.comparisons:
        lines += ["", "| comparison | difference | 95% interval | p (bootstrap) | significant |", "|---|---:|---|---:|---|"]
        for name, c in run.comparisons.items():
            lines.append(
                f"| {name} | {c['difference']:+.4f} | [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}] | "
                f"{c['p_bootstrap']:.4f} | {'yes' if c['significant'] else 'no'} |"
            )
    lines += ["", "configuration:", "", "```", *(f"{k}: {v}" for k, v in run.config.items()), "```", ""]
    return "\n".join(lines)


def _bar_chart(run: RunRecord, metric: str) -> str:
    models = [m for m in run.metrics if metric in run.metrics[m]]
    if not models:
        return ""
    top = max(run.metrics[m][metric] for m in models) or 1.0
    height, bar, gap, left = 22, 18, 6, 180
    width = 640
    rows = []
    for i, model in enumerate(models):
        value = run.metrics[model][metric]
        y = i * (bar + gap) + 10
        w = (width - left - 80) * value / top
        colour = _COLOURS[i % len(_COLOURS)]
        rows.append(
            f'<text x="{left - 8}" y="{y + 13}" text-anchor="end">{html.escape(model)}</text>'
            f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar}" fill="{colour}"/>'
            f'<text x="{left + w + 6:.1f}" y="{y + 13}">{value:.4f}</text>'
        )
    total = len(models) * (bar + gap) + 20
    return (
        f'<h3>{html.escape(metric)}</h3><svg width="{width}" height="{max(total, height)}" '
        f'font-family="system-ui" font-size="12">{"".join(rows)}</svg>'
    )


def to_html(run: RunRecord) -> str:
    charts = "".join(
        _bar_chart(run, metric) for metric in sorted({m for v in run.metrics.values() for m in v}) if "@10" in metric
    )
    # Raw HTML in the Markdown (a model name, a config value) stays text: "html" is off.
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(to_markdown(run))
    return (
        "<!doctype html><meta charset='utf-8'><title>Cartwise evaluation</title>"
        "<style>body{font-family:system-ui;max-width:900px;margin:24px auto}"
        "table{border-collapse:collapse;margin:12px 0}th,td{border:1px solid #c5cad3;padding:4px 10px}"
        "td[style*=right]{font-variant-numeric:tabular-nums}pre{background:#f6f7f9;padding:8px}</style>"
        f"<body>{body}{charts}</body>"
    )


def write_report(run: RunRecord, path: Path) -> Path:
    """Write Markdown (.md) or HTML (.html) depending on the suffix."""
    text = to_html(run) if path.suffix.lower() in (".html", ".htm") else to_markdown(run)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
