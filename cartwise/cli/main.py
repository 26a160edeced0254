"""The `cartwise` command line: a thin face of :class:`cartwise.Engine`."""

from __future__ import annotations

import json
import logging
import logging.config
import os
import sys
from collections.abc import Mapping, Sequence
from contextlib import ExitStack, nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from cartwise.access import Rate, Scope
from cartwise.access.audit import AuditAction, cli_actor
from cartwise.bus.publish import EventPublisher
from cartwise.bus.serve import serving_bus
from cartwise.cli.assist import install_demo_knowledge
from cartwise.cli.assist import register as register_assist
from cartwise.cli.audit import audit as audit_command
from cartwise.cli.bus import bus_app, consume
from cartwise.cli.evaluate import evaluate_app
from cartwise.cli.experiments import experiments_app
from cartwise.cli.keys import (
    check_serving,
    create_demo_keys,
    keys_app,
    parse_scope_rates,
    print_demo_keys,
    serving_stores,
)
from cartwise.cli.models import models_app, worker, worker_process
from cartwise.cli.ops import backup, check_log_level, restore
from cartwise.cli.output import (
    ProgressLines,
    console,
    duration,
    err,
    feedback_table,
    print_error,
    print_ingest_report,
    print_items,
    show_progress,
)
from cartwise.cli.related import related
from cartwise.cli.rules import rules_app
from cartwise.demo import (
    EVENT_MAPPING,
    EXAMPLE_ITEM,
    EXAMPLE_USER,
    build_catalog,
    build_purchases,
    packaged_slice,
)
from cartwise.encode import DEFAULT_ENCODER
from cartwise.engine import DEFAULT_STORE, Engine
from cartwise.errors import CartwiseError, ValidationError
from cartwise.ingest import ColumnMapping
from cartwise.ingest.report import default_report_path, rejects_from_rows, write_rejects
from cartwise.limits import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_UPLOAD_BYTES,
    MAX_K,
    MAX_SUGGESTIONS,
)
from cartwise.recommend import registry as recommenders
from cartwise.search.currency import ExchangeRates
from cartwise.search.filters import parse_filters
from cartwise.search.request import SearchRequest

app = typer.Typer(
    name="cartwise",
    help="Search and recommendations for online stores. Start with `cartwise demo`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
ingest_app = typer.Typer(help="Load a catalog or behaviour events into the store.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")

StoreOption = Annotated[
    str,
    typer.Option("--store", "-s", envvar="CARTWISE_STORE", help="store directory or URL (sqlite:///DIR)",
                 show_default=True),
]
KOption = Annotated[int, typer.Option("--k", "-k", min=1, max=MAX_K, help="number of results")]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON for machines instead of a table")]
MapOption = Annotated[
    list[str] | None,
    typer.Option("--map", "-m", help="FIELD=COLUMN, e.g. --map item_id=StockCode (repeatable)"),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="FIELD=VALUE constant for every row, e.g. --set event_type=purchase (repeatable)"),
]
FormatOption = Annotated[
    str, typer.Option("--format", "-f", help="auto, csv, jsonl, parquet or sequences (events only)")
]
ReportOption = Annotated[
    Path | None, typer.Option("--report", help="also write the rejected-rows report (JSON Lines) here")
]


def _open(store: Path | str, *, create: bool = False, serving: bool = False, feed: str = "polling") -> Engine:
    """`serving`: answers go to shoppers, so each is logged as an impression; a command
    a developer runs (search, recommend, similar) logs nothing."""
    return Engine.open(store, create=create, log_impressions=serving, feed=feed)


def _mapping(maps: list[str] | None, constants: list[str] | None) -> ColumnMapping | None:
    if not maps and not constants:
        return None
    return ColumnMapping.parse(maps or [], constants or [])


@ingest_app.command("items")
def ingest_items_command(
    path: Annotated[Path, typer.Argument(help="catalog file: CSV, JSON Lines or Parquet (optionally .gz)")],
    store: StoreOption = DEFAULT_STORE,
    format: FormatOption = "auto",
    map: MapOption = None,
    set: SetOption = None,
    report: ReportOption = None,
    as_json: JsonOption = False,
) -> None:
    """Load or update the catalog. Re-running with the same file changes nothing."""
    engine = _open(store, create=True)
    with show_progress("ingesting items") as update:
        result = engine.ingest_items(
            path, format=format, mapping=_mapping(map, set), report_path=report, on_progress=update
        )
    if result.rows_written:
        engine.audit.record(AuditAction.ITEMS_UPSERT, actor=cli_actor(), target=str(path),
                            detail=f"{result.rows_written} written, {result.rows_rejected} rejected")
    print_ingest_report(result, as_json)


@ingest_app.command("events")
def ingest_events_command(
    path: Annotated[Path, typer.Argument(help="events file: CSV, JSON Lines, Parquet or sequences")],
    store: StoreOption = DEFAULT_STORE,
    format: FormatOption = "auto",
    map: MapOption = None,
    set: SetOption = None,
    unknown_items: Annotated[
        str, typer.Option(help="keep (and report) or reject events for items not in the catalog")
    ] = "keep",
    bot_rate: Annotated[
        int, typer.Option(min=1, help="flag users with more events than this in any 60-second window")
    ] = 60,
    report: ReportOption = None,
    as_json: JsonOption = False,
) -> None:
    """Load behaviour events. Duplicates are skipped, so re-sending a file is safe."""
    if unknown_items not in ("keep", "reject"):
        raise ValidationError("--unknown-items must be keep or reject", field="unknown_items")
    engine = _open(store, create=True)
    with show_progress("ingesting events") as update:
        result = engine.ingest_events(
            path,
            format=format,
            mapping=_mapping(map, set),
            unknown_items=unknown_items,
            bot_events_per_minute=bot_rate,
            report_path=report,
            on_progress=update,
        )
    print_ingest_report(result, as_json)


@app.command()
def train(
    store: StoreOption = DEFAULT_STORE,
    recommender: Annotated[
        str,
        typer.Option(
            help="personalised model: auto (the default: the best the data and --budget allow, and why) or one of "
            "the registered recommenders: "
            + recommenders.describe([recommenders.get(name) for name in recommenders.names(personal=True)])
        ),
    ] = "auto",
    budget: Annotated[
        float | None,
        typer.Option(
            min=1,
            help="training time budget in seconds for the neural models (auto: 900, and it picks a model that fits)",
        ),
    ] = None,
    encoder: Annotated[
        str,
        typer.Option(
            help="text encoder for semantic search: multilingual-e5-small-q4 (default, Chinese + English), "
            "all-minilm-l6-v2 (English), or 'none' for lexical search only"
        ),
    ] = DEFAULT_ENCODER,
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU threads for model training (default: the library's choice)")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="random seed: same data + seed + threads, same model")] = None,
    graph_features: Annotated[
        bool,
        typer.Option(
            "--graph-features",
            help="the fused recommender's ranker also reads the product relation graph (co-bought lift, "
            "complements, substitutes, ... of the shopper's recent items); off by default, see BENCHMARKS.md",
        ),
    ] = False,
    wait: Annotated[
        float, typer.Option(min=0, help="seconds to wait for another trainer of this store to finish (one trainer "
                            "per store); 0: refuse at once")
    ] = 0.0,
    as_json: JsonOption = False,
) -> None:
    """Fit the search indexes and the recommenders; a running server picks them up.

    Item embeddings are kept in the store: a retrain encodes only new or edited items.
    The neural models save their state after every epoch: a train that was stopped
    resumes there when run again on the same data.
    """
    engine = _open(store)
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task("training", total=None)
        # A log file or a pipe gets plain lines instead of the bar.
        lines = None if err.is_terminal else ProgressLines(err)
        step_name = ["training"]

        def on_step(step: str) -> None:
            step_name[0] = step
            progress.update(task, description=step, completed=0, total=None)
            if lines is not None:
                lines.stage(step)

        def on_encode(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total or None)
            if lines is not None:
                lines.count(step_name[0], done, total)

        last_epoch = [0]

        def on_epoch(log: Any) -> None:
            if log.epoch > last_epoch[0] + 1:
                err.print(f"resuming {recommender} training from its checkpoint after epoch {log.epoch - 1}")
            last_epoch[0] = log.epoch
            score = f", validation NDCG@10 {log.validation_ndcg10:.4f}" if log.validation_ndcg10 is not None else ""
            left = ""
            if log.likely_seconds_left is not None and log.most_seconds_left:
                likely, most = log.likely_seconds_left, log.most_seconds_left
                # Early stopping makes the end uncertain: the likely end (no further
                # improvement) and the cap (epochs or time budget), not one made-up figure.
                left = (f"; {duration(likely)} left if it stops improving, at most {duration(most)}"
                        if likely < most else f"; at most {duration(most)} left")
            text = (f"{step_name[0]}: epoch {log.epoch} of at most {log.epochs} ({log.seconds:.1f} s), "
                    f"loss {log.loss:.3f}{score}, best epoch {log.best_epoch}{left}")
            # The epoch cap is not the expected end (early stopping): no bar towards it.
            progress.update(task, description=text, completed=log.epoch, total=None)
            if lines is not None:
                lines.line(text)

        report = engine.train(
            recommender=recommender,
            encoder=None if encoder.lower() == "none" else encoder,
            on_step=on_step,
            on_encode=on_encode,
            on_epoch=on_epoch,
            threads=threads,
            seed=seed,
            budget_s=budget,
            graph_features=graph_features,
            wait_s=wait,
        )
    if as_json:
        console.print_json(report.model_dump_json())
        return
    for reason in report.chosen_because:
        err.print(f"chose {report.recommender}: {reason}", markup=False, soft_wrap=True)
    table = Table(title=f"trained model version {report.version} ({report.recommender})", show_header=False)
    table.add_row("items", f"{report.items:,}")
    if report.items_registered_from_events:
        table.add_row(
            "items registered from events",
            f"{report.items_registered_from_events:,}: named by events but not in the catalog; their id is their "
            "title until a catalog with their text is ingested",
        )
    table.add_row("events", f"{report.events:,}")
    table.add_row("users", f"{report.users:,}")
    table.add_row("users excluded as bots", f"{report.excluded_flagged_users:,}")
    if report.trust:
        trust = report.trust
        bursts = "; ".join(
            f"{b['item_id']} ({b['new_users']:,} new ids, score -{b['score_reduction']:.0%})"
            for b in trust.get("bursts", [])[:3]
        )
        table.add_row(
            "discounted by trust",
            f"{trust.get('low_history_users', 0):,} low-history shoppers, {trust.get('events_discounted', 0):,} events "
            f"({trust.get('score_discounted', 0):.2%} of popularity); "
            + (f"bursts of new ids on {trust.get('burst_items', 0):,} item(s): {bursts}" if bursts else "no bursts of new ids"),
        )
    if report.ratings is not None:
        fitted = report.ratings
        quality = (
            f"validation RMSE {fitted.validation_rmse:.3f} vs {fitted.global_mean_rmse:.3f} for the global mean "
            f"({fitted.validation_ratings:,} held-out ratings)"
            if fitted.validation_rmse is not None and fitted.global_mean_rmse is not None
            else "not validated: too few repeat raters"
        )
        table.add_row("rating model", f"trained on {fitted.ratings:,} ratings; {quality}")
    if report.clicks is not None:
        fitted, own, base = report.clicks, report.clicks.model_scores, report.clicks.baseline_scores
        table.add_row(
            "click model",
            f"{fitted.model} learnt from {fitted.source} ({fitted.rows:,} rows, {fitted.positives:,} positive); on "
            f"{fitted.test_rows:,} later rows AUC {own.auc:.3f}, log loss {own.log_loss:.4f}, ECE {own.ece:.4f} "
            f"(logistic regression: AUC {base.auc:.3f}, log loss {base.log_loss:.4f}, ECE {base.ece:.4f})",
        )
    checked = report.validation
    if "weights" in checked:
        weights = ", ".join(f"{name} {weight:.1f}" for name, weight in checked["weights"].items())
        members = ", ".join(f"{n} {v:.4f}" for n, v in checked.get("member_validation_ndcg10", {}).items())
        table.add_row("blend weights", f"{weights} (validation NDCG@10 {checked.get('validation_ndcg10', 0):.4f}; "
                      f"members alone: {members})")
    for source in (checked, *(v for v in checked.values() if isinstance(v, dict) and "best_epoch" in v)):
        if "best_epoch" in source:
            table.add_row("early stopping", f"best epoch {source['best_epoch']} of {source['epochs_run']}, "
                          f"validation NDCG@10 {source['validation_ndcg10']:.4f} (every item ranked)")
    for step, seconds in report.seconds.items():
        table.add_row(f"time: {step}", f"{seconds:.2f} s")
    console.print(table)


ModeOption = Annotated[
    str, typer.Option(help="hybrid (words + meaning, default), lexical (BM25) or semantic (meaning only)")
]


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="what a shopper would type")],
    store: StoreOption = DEFAULT_STORE,
    k: KOption = 10,
    offset: Annotated[int, typer.Option(min=0, help="skip this many results (pagination)")] = 0,
    filter: Annotated[
        list[str] | None,
        typer.Option("--filter", help="category=Home > Kitchen, brand=Acme, price<=20, in_stock=true (repeatable)"),
    ] = None,
    mode: ModeOption = "hybrid",
    understand: Annotated[
        bool, typer.Option(help="read prices, brands, categories, colours and sizes out of the query")
    ] = True,
    rate: Annotated[
        list[str] | None,
        typer.Option("--rate", help="exchange rate for prices typed in another currency, e.g. USD:GBP=0.79 "
                     "(repeatable; default: CARTWISE_RATES)"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Search the catalog."""
    engine = _open(store)
    if rate:
        engine.set_exchange_rates(ExchangeRates.parse(rate))
    request = SearchRequest(
        query, k=k, offset=offset, filters=parse_filters(filter) if filter else None, mode=mode, understand=understand
    )
    result = engine.search(request=request)
    if as_json:
        console.print_json(result.model_dump_json())
        return
    print_items(
        f"search: {result.query!r} · {result.mode} · {result.total:,} matching ({result.took_ms:.1f} ms)",
        result.items,
    )
    for chip in result.chips:
        console.print(f"[cyan]understood[/cyan] {chip.text!r} as {chip.label} ({chip.applied})")
    for typo, fixed in result.corrections.items():
        console.print(f"[cyan]corrected[/cyan] {typo!r} to {fixed!r}")
    for note in result.relaxed:
        console.print(f"[yellow]nothing matched as asked:[/yellow] {note}")
    if result.facets is not None and result.total:
        facets = result.facets
        for name, values in (("category", facets.category[:5]), ("brand", facets.brand[:5])):
            if values:
                console.print(f"[dim]{name}:[/dim] " + ", ".join(f"{v.value} ({v.count})" for v in values))
        if facets.price:
            console.print("[dim]price:[/dim] " + ", ".join(f"{b.label} ({b.count})" for b in facets.price))


@app.command()
def autocomplete(
    prefix: Annotated[str, typer.Argument(help="what the shopper has typed so far")],
    store: StoreOption = DEFAULT_STORE,
    k: Annotated[int, typer.Option(min=1, max=MAX_SUGGESTIONS, help="number of suggestions")] = 8,
    as_json: JsonOption = False,
) -> None:
    """Search-box suggestions: popular past searches, categories, brands and titles."""
    result = _open(store).autocomplete(prefix, k=k)
    if as_json:
        console.print_json(result.model_dump_json())
        return
    table = Table(title=f"suggestions for {prefix!r} ({result.took_ms:.1f} ms)")
    table.add_column("suggestion")
    table.add_column("from")
    for suggestion in result.suggestions:
        table.add_row(suggestion.text, suggestion.kind)
    console.print(table)


@app.command()
def recommend(
    user_id: Annotated[str, typer.Argument(help="the shopper's id")],
    store: StoreOption = DEFAULT_STORE,
    k: KOption = 10,
    include_seen: Annotated[bool, typer.Option(help="allow items the user already interacted with")] = False,
    as_json: JsonOption = False,
) -> None:
    """Personalised recommendations for one user."""
    result = _open(store).recommend(user_id, k=k, exclude_seen=not include_seen)
    if as_json:
        console.print_json(result.model_dump_json())
    else:
        print_items(f"for user {user_id} ({result.strategy}, {result.took_ms:.1f} ms)", result.items)


@app.command()
def similar(
    item_id: Annotated[str, typer.Argument(help="the item to find neighbours of")],
    store: StoreOption = DEFAULT_STORE,
    k: KOption = 10,
    as_json: JsonOption = False,
) -> None:
    """Items similar to one item (chosen together, then same category)."""
    engine = _open(store)
    result = engine.similar(item_id, k=k)
    if as_json:
        console.print_json(result.model_dump_json())
    else:
        print_items(f"similar to {item_id} ({result.took_ms:.1f} ms)", result.items)


@app.command("predict-rating")
def predict_rating(
    user_id: Annotated[str, typer.Argument(help="the shopper's id")],
    item_ids: Annotated[list[str], typer.Argument(help="one or more item ids")],
    store: StoreOption = DEFAULT_STORE,
    as_json: JsonOption = False,
) -> None:
    """Predicted star ratings of items by one user (needs `rating` events at training time)."""
    predictions = _open(store).predict_ratings(user_id, item_ids)
    if as_json:
        console.print_json(json.dumps({"user_id": user_id, "items": [p.model_dump() for p in predictions]}))
        return
    table = Table(title=f"predicted ratings for user {user_id}")
    table.add_column("item")
    table.add_column("predicted rating", justify="right")
    table.add_column("basis")
    for prediction in predictions:
        table.add_row(prediction.item_id, f"{prediction.rating:.2f}", prediction.basis)
    console.print(table)


def _read_lines(path: Path, what: str) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ValidationError(f"{what} file {path} does not exist", field=what) from None
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{what} file {path} is not UTF-8 text: {exc}", field=what) from None


@app.command("recommend-batch")
def recommend_batch(
    users: Annotated[Path, typer.Option(help="file with one user id per line")],
    out: Annotated[Path, typer.Option(help='output JSON Lines: {"user_id": ..., "items": [...]}')],
    store: StoreOption = DEFAULT_STORE,
    k: KOption = 10,
    exclude_seen: Annotated[bool, typer.Option(help="leave out items the user already interacted with")] = False,
) -> None:
    """Recommendations for many users, one JSON line each (evaluation, e-mail campaigns)."""
    user_ids = [line.strip() for line in _read_lines(users, "users") if line.strip()]
    engine = _open(store)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for start in range(0, len(user_ids), 1000):
            for result in engine.recommend_batch(user_ids[start : start + 1000], k=k, exclude_seen=exclude_seen):
                handle.write(json.dumps({"user_id": result.user_id, "items": [i.item_id for i in result.items]}))
                handle.write("\n")
    tmp.replace(out)
    err.print(f"wrote recommendations for {len(user_ids):,} users to {out}")


@app.command("search-batch")
def search_batch(
    queries: Annotated[Path, typer.Option(help="file of query_id<TAB>query lines")],
    out: Annotated[Path, typer.Option(help='output JSON Lines: {"query_id": ..., "items": [...]}')],
    store: StoreOption = DEFAULT_STORE,
    k: KOption = 10,
    mode: ModeOption = "hybrid",
    report: ReportOption = None,
) -> None:
    """Run many searches, one JSON line each (offline evaluation).

    A line without a tab is skipped and a query the search refuses (too long, say) gets
    no items; both are listed with their line numbers in a report under STORE/reports/,
    as ingest does, and the rest of the file still runs."""
    engine = _open(store)
    rows: list[tuple[int, str, str]] = []
    rejected: list[tuple[int, str | None, str, str | None]] = []
    for number, line in enumerate(_read_lines(queries, "queries"), 1):
        if not line.strip():
            continue
        query_id, tab, text = line.partition("\t")
        if not tab:
            rejected.append((number, "queries", "expected query_id<TAB>query, found no tab", line))
            continue
        rows.append((number, query_id, text))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for number, query_id, text in rows:
            try:
                items = [i.item_id for i in engine.search(text, k=k, mode=mode).items]
            except ValidationError as exc:
                items = []
                rejected.append((number, exc.field or "query", f"not searched: {exc.message}", text))
            handle.write(json.dumps({"query_id": query_id, "items": items}, ensure_ascii=False) + "\n")
    tmp.replace(out)
    err.print(f"wrote results for {len(rows):,} queries to {out}")
    if rejected:
        rejected.sort(key=lambda row: row[0])
        frame = rejects_from_rows(rejected)
        path = default_report_path(engine.workspace.reports_dir, "search-batch")
        for target in (path, *([report] if report is not None else [])):
            write_rejects(frame, str(queries), target)
        first = rejected[0]
        err.print(
            f"{len(rejected):,} lines had problems (first: line {first[0]}: {first[2]}); "
            f"every one is listed in {report or path}",
            markup=False,
            soft_wrap=True,
        )


@app.command()
def stats(store: StoreOption = DEFAULT_STORE, as_json: JsonOption = False) -> None:
    """What the store holds, recent ingests and the live model version."""
    engine = _open(store)
    numbers = engine.stats()
    info = engine.model_info()
    feedback = engine.feedback() if numbers.impressions else None
    if as_json:
        console.print_json(json.dumps(
            {"store": numbers.__dict__, "model": info, "feedback": feedback.model_dump() if feedback else None},
            default=str,
        ))
        return
    table = Table(title=f"store {engine.store.path}", show_header=False)
    table.add_row("items", f"{numbers.items:,} (+{numbers.deleted_items:,} deleted)")
    table.add_row("events", f"{numbers.events:,}")
    for kind, count in sorted(numbers.events_by_type.items()):
        table.add_row(f"  {kind}", f"{count:,}")
    table.add_row("users", f"{numbers.users:,} ({numbers.flagged_users:,} flagged as bots)")
    table.add_row("answers shown", f"{numbers.impressions:,}")
    table.add_row("model version", info["version"] if info else "[yellow]not trained: run `cartwise train`[/yellow]")
    table.add_row("schema version", str(numbers.schema_version))
    console.print(table)
    runs = engine.store.ingest_runs(limit=5)
    if runs:
        history = Table(title="recent ingests")
        for column in ("kind", "source", "read", "written", "duplicates", "rejected"):
            history.add_column(column)
        for run in runs:
            history.add_row(
                run.kind, run.source, f"{run.rows_read:,}", f"{run.rows_written:,}",
                f"{run.rows_duplicate:,}", f"{run.rows_rejected:,}",
            )
        console.print(history)
    if feedback is not None:
        console.print(feedback_table(feedback))


def _serve(
    engine: Engine,
    host: str,
    port: int,
    *,
    anonymous_reads: bool = False,
    cors_origins: list[str] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    page_key: str | None = None,
    page_events_key: str | None = None,
    log_format: str = "text",
    log_level: str | None = None,
    metrics_open: bool = False,
    more_stores: Sequence[Engine] = (),
    scope_rates: Mapping[str, Rate] | None = None,
    rate_store: str | None = None,
    bus: EventPublisher | None = None,
) -> None:
    # The web server's modules load only when serving: every other command starts faster.
    import uvicorn

    from cartwise.api import create_app
    from cartwise.api.logs import check_log_format, log_config
    from cartwise.api.routes.assist import warm_assistants

    form = check_log_format(log_format)
    # JSON logs are for a collector: access lines (INFO) by default. Text stays quiet.
    level = check_log_level(log_level or ("info" if form == "json" else "warning"))
    if form == "json":
        # Every line on stderr is then JSON, this command's own notices included.
        logging.config.dictConfig(log_config(form, level=level))
        said = logging.getLogger("cartwise.serve")
        check_serving(engine, host, anonymous_reads=anonymous_reads, page_key=page_key,
                      page_events_key=page_events_key, metrics_open=metrics_open, notice=said.warning)
        for each in (engine, *more_stores):
            each.warm_up()
        said.info("Cartwise on http://%s:%d/", host, port)
    else:
        check_serving(engine, host, anonymous_reads=anonymous_reads, page_key=page_key,
                      page_events_key=page_events_key, metrics_open=metrics_open)
        with err.status("loading models"):
            for each in (engine, *more_stores):
                each.warm_up()
        err.print(f"Cartwise on http://{host}:{port}/  (dashboard: http://{host}:{port}/admin, "
                  f"API docs: http://{host}:{port}/docs)")
    for each in (engine, *more_stores):
        each.insights.warm()  # the dashboard's first visit reads a snapshot made meanwhile
        each.follow()  # other servers' events reach this one's answers within a fraction of a second
    api = create_app(engine, anonymous_reads=anonymous_reads, cors_origins=cors_origins or [],
                     max_body_bytes=max_body_bytes, max_upload_bytes=max_upload_bytes, page_key=page_key,
                     page_events_key=page_events_key, metrics_open=metrics_open, more_stores=more_stores,
                     scope_rates=scope_rates, rate_store=rate_store, bus=bus)
    warm_assistants(api, [engine, *more_stores])  # the first question does not wait for its models to load
    # uvicorn's access log is off: its lines hold raw paths and query strings. Cartwise's own
    # (logger cartwise.access, at INFO) names the route template, never a key.
    uvicorn.run(api, host=host, port=port, log_config=log_config(form, level=level), log_level=level,
                access_log=False)


@app.command()
def serve(
    store: Annotated[
        list[str] | None,
        typer.Option("--store", "-s", envvar="CARTWISE_STORE",
                     help="store directory or URL; repeat it to serve several stores, each request from the store "
                          f"its key belongs to (default {DEFAULT_STORE})"),
    ] = None,
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    allow_anonymous_reads: Annotated[
        bool, typer.Option(help="answer search, recommendations and similar items without a key (loopback only)")
    ] = False,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option("--cors-origin", help="let browser code from this origin call the API, e.g. "
                     "https://shop.example.com (repeatable)"),
    ] = None,
    max_body_bytes: Annotated[
        int, typer.Option(min=1024, help="refuse request bodies larger than this (413)")
    ] = DEFAULT_MAX_BODY_BYTES,
    max_upload_bytes: Annotated[
        int, typer.Option(min=1024, help="refuse file uploads (POST /v1/ingest/events|items) larger than this "
                          "(413); they go to disk as they arrive, not to memory")
    ] = DEFAULT_MAX_UPLOAD_BYTES,
    page_key: Annotated[
        str | None,
        typer.Option(envvar="CARTWISE_PAGE_KEY", help="a search key for the storefront at / to use (without one, "
                     "the page asks for a key)"),
    ] = None,
    page_events_key: Annotated[
        str | None,
        typer.Option(envvar="CARTWISE_PAGE_EVENTS_KEY", help="an events key the storefront reports views, clicks, "
                     "add-to-carts and purchases with (without one, it shows answers but records nothing)"),
    ] = None,
    log_format: Annotated[
        str, typer.Option(help="text, or json: one JSON object per line (access lines included) for a log collector")
    ] = "text",
    log_level: Annotated[
        str | None, typer.Option(help="debug, info, warning or error (default: info for json, warning for text)")
    ] = None,
    metrics_open: Annotated[
        bool, typer.Option(help="serve /metrics without a key, for a scraper on this host (loopback only; "
                           "otherwise scrape with an admin key)")
    ] = False,
    worker: Annotated[
        bool, typer.Option("--worker", help="also run `cartwise worker` (background retraining with its default "
                           "policy) beside the server, stopped with it")
    ] = False,
    rules: Annotated[
        Path | None,
        typer.Option(envvar="CARTWISE_RULES_FILE", help="a rule document (YAML or JSON) to load and watch: an edit "
                     "answers within a second once valid (`cartwise rules validate` it first); with several "
                     "stores, the first store's rules"),
    ] = None,
    scope_rate: Annotated[
        list[str] | None,
        typer.Option("--scope-rate", help="SCOPE=RATE[:BURST], the rate limit of keys of that scope without their "
                     "own (`keys create --rate`), e.g. search=50/s:100 (repeatable)"),
    ] = None,
    rate_store: Annotated[
        str | None,
        typer.Option(envvar="CARTWISE_RATE_STORE", help="keep rate-limit buckets in this Redis (redis://host:6379/0), "
                     "shared by every process; default: each process keeps its own"),
    ] = None,
    bus: Annotated[
        str | None, typer.Option(envvar="CARTWISE_BUS", help="event bus: redis://127.0.0.1:6379/0 or "
                                 "nats://127.0.0.1:4222; events are acknowledged (202) once the bus holds them")
    ] = None,
    consume_events: Annotated[
        bool, typer.Option("--consume/--no-consume", help="with --bus: also move events from the bus into the "
                           "store in this process (else run `cartwise consume`)")
    ] = True,
) -> None:
    """Serve the HTTP API, the storefront (/) and the operations dashboard (/admin). Requests need an API key (`cartwise keys create`)."""
    stores = serving_stores(store or [str(DEFAULT_STORE)], anonymous_reads=allow_anonymous_reads,
                            page_key=page_key)
    if bus and len(stores) > 1:
        raise ValidationError("--bus serves one store: run one server per store with its bus", field="bus")
    rates = parse_scope_rates(scope_rate or [])
    with serving_bus(stores[0], bus, consume=consume_events) if bus else nullcontext() as on_bus:
        feed = on_bus.feed if on_bus else "polling"
        engines = [_open(each, serving=True, feed=feed) for each in stores]
        if rules is not None:
            engines[0].rules.watch(rules)
        with ExitStack() as workers:
            for each in stores if worker else []:
                workers.enter_context(worker_process(each))
            _serve(engines[0], host, port, anonymous_reads=allow_anonymous_reads, cors_origins=cors_origin,
                   max_body_bytes=max_body_bytes, max_upload_bytes=max_upload_bytes, page_key=page_key,
                   page_events_key=page_events_key,
                   log_format=log_format, log_level=log_level,
                   metrics_open=metrics_open, more_stores=engines[1:], scope_rates=rates, rate_store=rate_store,
                   bus=on_bus.publisher if on_bus else None)


def _print_next_steps(store: Path | str) -> None:
    default = str(store) in (str(DEFAULT_STORE), os.environ.get("CARTWISE_STORE"))
    where = "" if default else f" --store {store}"
    lines = [
        f'cartwise search "red heart t-light holder" --k 5{where}',
        f"cartwise recommend {EXAMPLE_USER}{where}      # a shopper with 15 orders in the demo data",
        f"cartwise similar {EXAMPLE_ITEM}{where}",
        f'cartwise ask "can I send back something I bought?"{where}   # the shopping assistant, from the demo FAQ',
        f"cartwise train --recommender blend --threads 2{where}   # item-kNN + Transformer + text, ~1 min",
        f"cartwise stats{where}",
    ]
    err.print(
        "Next, try (from another terminal with the virtual environment active, "
        "`source .venv/bin/activate`, or as .venv/bin/cartwise):",
        markup=False, soft_wrap=True,
    )
    for line in lines:
        err.print("  " + line, markup=False, soft_wrap=True)


@app.command()
def demo(
    store: StoreOption = DEFAULT_STORE,
    data: Annotated[
        Path | None, typer.Option(help="full Online Retail CSV(.gz); default: the slice shipped in the package")
    ] = None,
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    serve_api: Annotated[bool, typer.Option("--serve/--no-serve", help="start the server afterwards")] = True,
) -> None:
    """Build a demo store from Online Retail data, train it and serve it.

    It is built in the store every other command uses (./cartwise-data or CARTWISE_STORE),
    so they work on it next; a store holding another catalog is left alone, and a demo
    store already built is reused (re-ingesting changes nothing; it is retrained only if
    its data changed)."""
    source = data or packaged_slice()
    engine = _open(store, create=True, serving=True)
    # The demo's derived files in the workspace mark a store as the demo's.
    built = engine.workspace.demo_dir / "catalog.parquet"
    if not built.exists() and engine.store.stats().items:
        raise ValidationError(
            f"{store} already holds a catalog that is not the demo's; the demo will not mix its products in",
            field="store",
            hint="build the demo elsewhere: `cartwise demo --store cartwise-demo` (then pass --store cartwise-demo "
            "or set CARTWISE_STORE=cartwise-demo for the other commands)",
        )
    catalog = build_catalog(source, built)
    purchases = build_purchases(source, engine.workspace.demo_dir / "purchases.csv")
    with show_progress("catalog") as update:
        print_ingest_report(engine.ingest_items(catalog, on_progress=update), False)
    with show_progress("purchases") as update:
        print_ingest_report(
            engine.ingest_events(purchases, mapping=EVENT_MAPPING, unknown_items="reject", on_progress=update), False
        )
    info = engine.model_info()
    if info is not None and (info.get("catalog_version"), info.get("events_version")) == engine.store.versions():
        err.print(f"the demo store is already trained (model {info['version']}); not training again",
                  markup=False, soft_wrap=True)
    else:
        train(store=store, recommender="itemknn", as_json=False)
    install_demo_knowledge(engine)
    _print_next_steps(store)
    keys = create_demo_keys(engine)
    print_demo_keys(keys, f"http://{host}:{port}/")
    if serve_api:
        _serve(engine, host, port, page_key=keys[Scope.SEARCH].secret, page_events_key=keys[Scope.EVENTS].secret)


app.command()(backup)
app.command()(restore)
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(keys_app, name="keys")
app.command("audit")(audit_command)
app.add_typer(models_app, name="models")
register_assist(app)
app.add_typer(bus_app, name="bus")
app.command()(consume)
app.command()(worker)
app.add_typer(rules_app, name="rules")
app.add_typer(experiments_app, name="experiments")
app.command()(related)


def main() -> None:
    """Entry point: runs the app and turns Cartwise errors into one readable line."""
    # Set before torch loads OpenMP: idle OpenMP threads sleep instead of spinning. On two
    # cores shared with other work, spinning made the demo blend's Transformer epochs take
    # 17-122 s instead of 3 s (load average 7); `OMP_WAIT_POLICY=ACTIVE` restores spinning.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        app()
    except CartwiseError as exc:
        print_error(exc, err)
        sys.exit(2)


if __name__ == "__main__":
    main()
