"""Batch commands: a bad line is reported with its number, the rest of the file still runs."""

import json

from typer.testing import CliRunner

from cartwise.cli.main import app

runner = CliRunner()


def test_search_batch_skips_a_line_without_a_tab_and_reports_it(engine, tmp_path):
    queries = tmp_path / "queries.tsv"
    queries.write_text("q1\tmug\nno tab here\n\nq2\tteapot\nq3\t" + "x" * 1001 + "\n", encoding="utf-8")
    out, report = tmp_path / "results.jsonl", tmp_path / "rejects.jsonl"
    result = runner.invoke(
        app,
        ["search-batch", "--queries", str(queries), "--out", str(out), "--k", "3", "--mode", "lexical",
         "--store", str(engine.store.path), "--report", str(report)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["query_id"] for r in results] == ["q1", "q2", "q3"]
    assert results[0]["items"] and results[1]["items"] and results[2]["items"] == []
    rejects = [json.loads(line) for line in report.read_text().splitlines()]
    assert [(r["line"], r["field"]) for r in rejects] == [(2, "queries"), (5, "q")]
    assert "no tab" in rejects[0]["reason"] and rejects[0]["value"] == "no tab here"
    assert "2 lines had problems (first: line 2" in result.output
    assert list((engine.store.path / "reports").glob("search-batch-*.rejects.jsonl"))
