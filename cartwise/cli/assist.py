"""`cartwise ask` (a question to the shopping assistant) and `cartwise assist` (its FAQ and
documents, and the report of its log)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cartwise.cli.keys import JsonOption, StoreOption
from cartwise.cli.output import console, err
from cartwise.engine import DEFAULT_STORE, Engine

assist_app = typer.Typer(help="The shopping assistant's knowledge (FAQ, documents) and its log.",
                         no_args_is_help=True)
FormatOption = Annotated[str, typer.Option("--format", "-f", help="auto, csv, tsv or jsonl")]


def _assistant(store: str, *, log: bool = True):
    from cartwise.assistant.assistant import Assistant

    return Assistant(Engine.open(store, create=False, log_impressions=False), log=log)


def install_demo_knowledge(engine: Engine) -> None:
    """Give the demo shop's assistant its sample FAQ and policies (cartwise.demo.knowledge);
    entries are replaced by id, so a second run changes nothing."""
    from cartwise.assistant.assistant import Assistant
    from cartwise.demo import FAQ_PATH, POLICIES_PATH

    assistant = Assistant(engine, log=False, reranker=False)
    faq = assistant.ingest_faq(FAQ_PATH)
    policies = assistant.ingest_documents(POLICIES_PATH)
    err.print(f"assistant: {faq.rows_written} FAQ entries and {policies.rows_written} policies "
              f"({policies.passages} passages) of the demo shop", markup=False, soft_wrap=True)


def ask(
    message: Annotated[str, typer.Argument(help="a question or a shopping request, in English or Chinese")],
    item: Annotated[str | None, typer.Option("--item", "-i", help="the product the question is about")] = None,
    store: StoreOption = DEFAULT_STORE,
    as_json: JsonOption = False,
) -> None:
    """Ask the shopping assistant: product questions are answered from the product's passages,
    store questions from the FAQ and policies, shopping requests with a search. Not logged."""
    answer = _assistant(store, log=False).answer(message, item_id=item)
    if as_json:
        console.print_json(answer.model_dump_json())
        return
    status = "answered" if answer.answered else "hand-off" if answer.handoff else "not answered"
    console.print(f"[bold]{answer.route}[/] ({answer.confidence:.2f}) · {status} · {answer.took_ms:.0f} ms")
    console.print(answer.reply, markup=False)
    for evidence in answer.evidence:
        console.print(f"  {evidence.score:.3f}  {evidence.text}  [dim]({evidence.source})[/]", highlight=False)
    for item_result in answer.items:
        price = f"{item_result.price:g} {item_result.currency or ''}" if item_result.price is not None else ""
        console.print(f"  {item_result.item_id}  {item_result.title}  {price}", markup=False)


def _print_report(report: dict, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(report, ensure_ascii=False))
        return
    console.print(f"{report['rows_written']:,} of {report['rows_read']:,} rows kept, {report['passages']:,} "
                  f"passages; {report['rows_rejected']:,} rejected", markup=False)
    for reject in report["rejects"][:20]:
        console.print(f"  line {reject['line']}: {reject['field'] or 'row'}: {reject['reason']}", markup=False)
    for note in report["notes"]:
        console.print(f"  note: {note}", markup=False)


@assist_app.command("faq")
def ingest_faq(
    path: Annotated[Path, typer.Argument(help="FAQ file: question, answer, [faq_id, category, language]")],
    store: StoreOption = DEFAULT_STORE,
    format: FormatOption = "auto",
    as_json: JsonOption = False,
) -> None:
    """Add or replace FAQ entries; bad rows are reported by line and reason."""
    _print_report(_assistant(store).ingest_faq(path, format=format).to_dict(), as_json)


@assist_app.command("documents")
def ingest_documents(
    path: Annotated[Path, typer.Argument(help="documents: doc_id, kind, text, [item_id, title]")],
    store: StoreOption = DEFAULT_STORE,
    format: FormatOption = "auto",
    as_json: JsonOption = False,
) -> None:
    """Add or replace documents (policies; bullets, specs, reviews, Q&A of products), split into passages."""
    _print_report(_assistant(store).ingest_documents(path, format=format).to_dict(), as_json)


@assist_app.command("report")
def report(
    store: StoreOption = DEFAULT_STORE,
    as_json: JsonOption = False,
    days: Annotated[float | None, typer.Option(min=0, help="only the last DAYS days (default: the whole log)")] = None,
) -> None:
    """Questions by route, answered and handed off, feedback, and the unanswered questions."""
    from cartwise.assistant.log import AssistLog
    from cartwise.events.event import now_ms

    since_ms = None if days is None else now_ms() - int(days * 86_400_000)
    summary = AssistLog(Engine.open(store, create=False, log_impressions=False).store).report(since_ms=since_ms)
    if as_json:
        console.print_json(summary.model_dump_json())
        return
    rate = f"{summary.helpful_rate:.0%}" if summary.helpful_rate is not None else "-"
    plural = "" if summary.questions == 1 else "s"
    console.print(f"{summary.questions:,} question{plural} {summary.by_route}; {summary.answered:,} answered, "
                  f"{summary.handed_off:,} handed off; {summary.feedback:,} feedback, helpful {rate}", markup=False)
    if not summary.unanswered:
        console.print("no question was handed off", markup=False)
        return
    table = Table(title="unanswered questions, most asked first (the FAQ's to-do list)")
    for column in ("times", "route", "message", "products"):
        table.add_column(column)
    for question in summary.unanswered:
        table.add_row(str(question.times), question.route, question.message, ", ".join(question.item_ids))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add `ask` and `assist` to the main CLI."""
    app.command("ask")(ask)
    app.add_typer(assist_app, name="assist")
