"""`cartwise assist faq|documents|report` and `cartwise ask`."""

import json

from typer.testing import CliRunner

from cartwise.cli.main import app
from cartwise.errors import ValidationError

runner = CliRunner()


def test_ingest_faq_then_ask_in_both_languages(engine, tmp_path):
    store = str(engine.store.path)
    faq = tmp_path / "faq.csv"
    faq.write_text("question,answer\nHow do I return an item?,Within 30 days from your orders page.\n"
                   "怎么申请退货？,在订单页面申请退货。\n,no question\n", encoding="utf-8")
    result = runner.invoke(app, ["assist", "faq", str(faq), "--store", store], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "2 of 3 rows kept" in result.output and "line 4: question" in result.output
    asked = runner.invoke(app, ["ask", "how can I return something?", "--store", store, "--json"],
                          catch_exceptions=False)
    body = json.loads(asked.output)
    assert body["route"] == "store" and body["reply"] == "Within 30 days from your orders page."
    asked = runner.invoke(app, ["ask", "退货怎么弄？", "--store", store, "--json"], catch_exceptions=False)
    assert json.loads(asked.output)["reply"] == "在订单页面申请退货。"
    shopping = runner.invoke(app, ["ask", "red summer dress under 60", "--store", store], catch_exceptions=False)
    assert shopping.exit_code == 0 and "dress-red" in shopping.output


def test_ask_refuses_an_empty_message(engine):
    result = runner.invoke(app, ["ask", "  ", "--store", str(engine.store.path)])
    # `cartwise` (main) prints a CartwiseError as one line; the Typer app raises it.
    assert result.exit_code != 0 and isinstance(result.exception, ValidationError)
    assert "message is empty" in str(result.exception)


def test_the_report_lists_what_servers_handed_off_in_the_window_asked_for(engine):
    from cartwise.assistant.assistant import Assistant

    store = str(engine.store.path)
    empty = runner.invoke(app, ["assist", "report", "--store", store], catch_exceptions=False)
    assert empty.exit_code == 0 and "0 questions" in empty.output and "no question was handed off" in empty.output
    server = Assistant(engine, reranker=False)
    assert server.answer("does it fit a 65-inch TV?", item_id="teapot").handoff
    server.log.close()  # what a server does at shutdown: its queued turns are written
    listed = runner.invoke(app, ["assist", "report", "--store", store, "--days", "1"], catch_exceptions=False)
    assert "1 question " in listed.output and "does it fit a 65-inch TV?" in listed.output and "teapot" in listed.output
    body = json.loads(runner.invoke(app, ["assist", "report", "--store", store, "--json"]).output)
    assert body["handed_off"] == 1 and body["unanswered"][0]["item_ids"] == ["teapot"]
    bad = runner.invoke(app, ["assist", "report", "--store", store, "--days", "-1"])
    assert bad.exit_code != 0
