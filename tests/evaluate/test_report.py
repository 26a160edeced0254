"""Evaluation reports: the HTML report renders the Markdown one, never shows its source."""

from cartwise.evaluate.report import to_html, to_markdown, write_report
from cartwise.evaluate.runs import RunRecord


def _run() -> RunRecord:
    return RunRecord(
        kind="recs", split="leave-last-out", data_fingerprint="abc123",
        config={"k": 10, "note": "<script>alert(1)</script>"},
        metrics={"popularity": {"NDCG@10": 0.05, "HR@10": 0.1}, "itemknn": {"NDCG@10": 0.12, "HR@10": 0.2}},
        seconds={"popularity": 0.1, "itemknn": 1.5},
        comparisons={"itemknn vs popularity": {"difference": 0.07, "ci_low": 0.05, "ci_high": 0.09,
                                               "p_bootstrap": 0.001, "significant": True}},
        run_id="r1", created="2026-01-01 00:00:00",
    )


def test_html_report_renders_markdown_tables_and_headings(tmp_path):
    page = to_html(_run())
    assert "<table>" in page and "<th>model</th>" in page and "<td>itemknn</td>" in page
    assert "<h1>Evaluation r1" in page and "<code>abc123</code>" in page
    # No Markdown source left as text, and raw HTML from the data stays escaped.
    assert "|---|" not in page and "# Evaluation" not in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<svg" in page  # the chart is still there
    path = write_report(_run(), tmp_path / "eval.html")
    assert path.read_text(encoding="utf-8") == page
    assert write_report(_run(), tmp_path / "eval.md").read_text(encoding="utf-8") == to_markdown(_run())
