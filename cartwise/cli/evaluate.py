"""`cartwise evaluate`: offline evaluation from the command line."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.table import Table

from cartwise.access.audit import cli_actor
from cartwise.cli.output import console, err
from cartwise.engine import DEFAULT_STORE, Engine
from cartwise.errors import NotTrained, ValidationError
from cartwise.evaluate.recs import MODELS, evaluate_recommenders
from cartwise.evaluate.report import write_report
from cartwise.evaluate.runs import RunRecord, list_runs
from cartwise.recommend import registry as recommenders
from cartwise.workspace import Workspace

# Where `evaluate recs` records runs on the default store.
DEFAULT_RUNS = Workspace(Path(DEFAULT_STORE)).runs_dir
# The models that read the store's item text embeddings, from the recommender registry.
TEXT_MODELS = tuple(name for name in MODELS if recommenders.get(name).reads_text)


def _and(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)

evaluate_app = typer.Typer(help="Measure recommendation quality offline and compare runs.", no_args_is_help=True)


def _print_run(console: object, run: RunRecord) -> None:
    columns = sorted({m for values in run.metrics.values() for m in values})
    table = Table(title=f"{run.kind} · {run.split} · {run.config.get('test_users', '?')} test users")
    table.add_column("model")
    for column in columns:
        table.add_column(column, justify="right")
    table.add_column("fit s", justify="right")
    best = {c: max(v.get(c, float("-inf")) for v in run.metrics.values()) for c in columns}
    for model, values in run.metrics.items():
        cells = []
        for column in columns:
            value = values.get(column)
            text = "-" if value is None else f"{value:.4f}"
            cells.append(f"[bold green]{text}[/]" if value == best[column] and "novelty" not in column else text)
        table.add_row(model, *cells, f"{run.seconds.get(model, 0.0):.1f}")
    console.print(table)  # type: ignore[attr-defined]
    if run.comparisons:
        paired = Table(title="paired bootstrap over users (95% interval)")
        for column in ("comparison", "difference", "interval", "p", "significant"):
            paired.add_column(column)
        for name, c in run.comparisons.items():
            paired.add_row(
                name, f"{c['difference']:+.4f}", f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]",
                f"{c['p_bootstrap']:.4f}", "yes" if c["significant"] else "no",
            )
        console.print(paired)  # type: ignore[attr-defined]


@evaluate_app.command("recs")
def evaluate_recs(
    store: Annotated[
        str, typer.Option("--store", "-s", envvar="CARTWISE_STORE", help="store (directory or URL) to evaluate on")
    ] = DEFAULT_STORE,
    data: Annotated[
        Path | None, typer.Option(help="evaluate on this events file instead of the store (e.g. a benchmark)")
    ] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="format of --data: auto, csv, jsonl, parquet, sequences")] = "auto",
    models: Annotated[
        list[str] | None, typer.Option("--model", "-m", help=f"repeatable; one of {', '.join(MODELS)} ({_and(TEXT_MODELS)} read the store's item text embeddings)")
    ] = None,
    split: Annotated[str, typer.Option(help="leave-last-out, time or cold-items")] = "leave-last-out",
    k: Annotated[list[int] | None, typer.Option("--k", "-k", help="cut-offs (repeatable)")] = None,
    exclude_seen: Annotated[bool, typer.Option(help="never count items from the user's history")] = False,
    max_users: Annotated[int | None, typer.Option(min=1, help="evaluate a random sample of test users")] = None,
    report: Annotated[Path | None, typer.Option(help="also write a report: .md or .html (with charts)")] = None,
    runs_dir: Annotated[Path | None, typer.Option(help="where runs are recorded (default STORE/runs)")] = None,
) -> None:
    """Fit each model on a split and rank the full catalog for every test user."""
    chosen = models or ["popularity", "itemknn", "als"]
    text_vectors = None
    with tempfile.TemporaryDirectory() as tmp:
        if data is not None:
            engine = Engine.open(Path(tmp) / "store")
            engine.ingest_events(data, format=format)
            events = engine.store.events()
            items = pl.DataFrame({"item_id": events["item_id"].unique()}).with_columns(
                pl.lit(None, dtype=pl.Utf8).alias("category")
            )
        else:
            engine = Engine.open(store, create=False)
            events = engine.store.events()
            items = engine.store.items()
            text_models = set(TEXT_MODELS) & set(chosen)
            if text_models:
                try:
                    text_vectors = engine.item_text_vectors()
                except NotTrained:
                    text_vectors = None
                if text_vectors is None:
                    err.print(f"[yellow]{', '.join(sorted(text_models))}: no item text embeddings in this store "
                              "(train it with a text encoder); evaluating without text[/]")
        events = events.filter(pl.col("item_id").is_not_null() & (pl.col("event_type") != "search"))
        if events.is_empty():
            raise ValidationError("there are no events to evaluate on", hint="ingest events or pass --data")
        with err.status("evaluating") as status:
            run = evaluate_recommenders(
                events,
                items,
                models=chosen,
                split=split,
                ks=k or [10, 20],
                exclude_seen=exclude_seen,
                max_users=max_users,
                item_text_vectors=text_vectors,
                on_step=lambda step: status.update(step),
            )
    directory = runs_dir or (engine.workspace.runs_dir if data is None else Path("cartwise-runs"))
    saved = run.save(directory)
    _print_run(console, run)
    err.print(f"run recorded in {saved}")
    if report:
        err.print(f"report written to {write_report(run, report)}")


@evaluate_app.command("search")
def evaluate_search_command(
    judgments: Annotated[Path, typer.Option(help="CSV/TSV with query_id, query, item_id, relevance")],
    store: Annotated[
        str, typer.Option("--store", "-s", envvar="CARTWISE_STORE", help="a trained store (directory or URL)")
    ] = DEFAULT_STORE,
    depth: Annotated[int, typer.Option(min=10, max=1000, help="results fetched per query (recall depth)")] = 100,
    modes: Annotated[
        list[str] | None, typer.Option("--mode", help="lexical, semantic, hybrid (repeatable; default all three)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Search quality on judged queries: NDCG@10, recall@depth, MRR and latency."""
    import json

    from cartwise.evaluate.search import evaluate_search, read_judgments, searcher

    engine = Engine.open(store, create=False)
    judged = read_judgments(judgments)

    scores = {}
    with err.status("evaluating") as status:
        for mode in modes or ["lexical", "semantic", "hybrid"]:
            status.update(f"evaluating {mode} search on {len(judged.relevance):,} queries")
            scores[mode] = evaluate_search(judged, searcher(engine, mode), depth=depth)
    if as_json:
        console.print_json(json.dumps(scores))
        return
    table = Table(title=f"search quality on {judgments.name}")
    columns = list(next(iter(scores.values())))
    table.add_column("mode")
    for column in columns:
        table.add_column(column, justify="right")
    for mode, row in scores.items():
        table.add_row(mode, *(f"{row[c]:.4f}" if c != "queries" else f"{row[c]:.0f}" for c in columns))
    console.print(table)


@evaluate_app.command("runs")
def runs(
    runs_dir: Annotated[Path, typer.Option(help="directory of recorded runs")] = DEFAULT_RUNS,
    last: Annotated[int, typer.Option(min=1, help="how many runs to show")] = 10,
) -> None:
    """List recorded evaluation runs, newest first."""
    recorded = list_runs(runs_dir)[:last]
    if not recorded:
        console.print(f"[yellow]no runs in {runs_dir}[/yellow]")
        return
    table = Table(title=f"evaluation runs in {runs_dir}")
    for column in ("run", "split", "data", "best model", "NDCG@10", "HR@10"):
        table.add_column(column)
    for run in recorded:
        best = max(run.metrics, key=lambda m: run.metrics[m].get("NDCG@10", 0.0))
        table.add_row(
            run.run_id, run.split, run.data_fingerprint[:10], best,
            f"{run.metrics[best].get('NDCG@10', 0.0):.4f}", f"{run.metrics[best].get('HR@10', 0.0):.4f}",
        )
    console.print(table)


_STORE_OPTION = typer.Option("--store", "-s", envvar="CARTWISE_STORE", help="store (directory or URL)")


@evaluate_app.command("compare")
def compare(
    a: Annotated[str, typer.Argument(help="a run id: train:<model version> or eval:<run id> (see `evaluate log`)")],
    b: Annotated[str, typer.Argument(help="the run to compare with (deltas are b - a)")],
    store: Annotated[str, _STORE_OPTION] = DEFAULT_STORE,
) -> None:
    """Two runs side by side: what differs in their configuration and data, and every metric."""
    compared = Engine.open(store, create=False).logbook.compare(a, b)
    for title, rows in (("configuration", compared.config), ("data", compared.data), ("metrics", compared.metrics)):
        table = Table(title=f"{title}: a = {a}, b = {b}")
        for column in ("", "a", "b", "b - a"):
            table.add_column(column, justify="left" if not column else "right")
        for row in rows:
            same = row.a == row.b and title != "metrics"
            delta = "" if row.delta is None else f"{row.delta:+.4g}"
            table.add_row(row.name, *(("-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v))
                                      for v in (row.a, row.b)), delta, style="dim" if same else None)
        console.print(table)
    for run in (compared.a, compared.b):
        for note in run.notes:
            console.print(f"[bold]{run.run_id}[/] · {note.author}: {note.text}")


@evaluate_app.command("log")
def log(
    store: Annotated[str, _STORE_OPTION] = DEFAULT_STORE,
    last: Annotated[int, typer.Option(min=1, help="how many runs to show")] = 20,
) -> None:
    """The team's record: training runs (model versions) and evaluation runs, newest first, with notes."""
    found = Engine.open(store, create=False).logbook.runs(limit=last)
    if not found:
        console.print("[yellow]no runs yet: `cartwise train` or `cartwise evaluate recs` records one[/yellow]")
        return
    table = Table(title="runs, newest first")
    table.add_column("run", overflow="fold")  # whole: it is what `compare` and `note` take
    for column in ("when", "what", "notes"):
        table.add_column(column)
    for run in found:
        when = "-" if run.created_ms is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(run.created_ms / 1000))
        table.add_row(run.run_id + (" [green](live)[/]" if run.live else ""), when, run.title,
                      "\n".join(f"{n.author}: {n.text}" for n in run.notes[-2:]))
    console.print(table)


@evaluate_app.command("note")
def note(
    run_id: Annotated[str, typer.Argument(help="train:<model version> or eval:<run id> (see `evaluate log`)")],
    text: Annotated[str, typer.Argument(help="what was tried, what it showed")],
    store: Annotated[str, _STORE_OPTION] = DEFAULT_STORE,
) -> None:
    """Leave a note on a run for the team (the dashboard's Models tab shows it)."""
    written = Engine.open(store, create=False).logbook.add_note(run_id, text, author=cli_actor())
    err.print(f"note added to {run_id} by {written.author}")
