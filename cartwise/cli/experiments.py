"""`cartwise experiments`: A/B tests and interleaving (create, list, show, stop, ship)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cartwise.access.audit import AuditAction, cli_actor
from cartwise.cli.keys import JsonOption, StoreOption
from cartwise.cli.output import console, err
from cartwise.engine import DEFAULT_STORE, Engine
from cartwise.errors import ValidationError
from cartwise.experiments import Experiment, ExperimentResults

experiments_app = typer.Typer(help="A/B tests and interleaving: create, list, show, stop, ship.",
                              no_args_is_help=True)
IdArgument = Annotated[str, typer.Argument(help="an experiment id from `cartwise experiments list`")]


def _when(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M") if ms else "-"


def _variant(text: str) -> dict[str, Any]:
    """NAME[:WEIGHT][=CONFIG], CONFIG a JSON object or @file.json."""
    head, _, config = text.partition("=")
    name, _, weight = head.partition(":")
    variant: dict[str, Any] = {"name": name}
    if weight:
        try:
            variant["weight"] = float(weight)
        except ValueError:
            raise ValidationError(f"the weight of variant {name!r} is not a number: {weight!r}",
                                  field="variant") from None
    if config:
        raw = Path(config[1:]).read_text(encoding="utf-8") if config.startswith("@") else config
        try:
            variant["config"] = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"the config of variant {name!r} is not JSON: {exc}", field="variant") from None
    return variant


@experiments_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="what it tests, in a few words")],
    placement: Annotated[list[str], typer.Option("--placement", "-p", help="search, recommend, similar or your own")],
    variant: Annotated[list[str], typer.Option(
        "--variant", "-v",
        help="NAME[:WEIGHT][=CONFIG], the control first; CONFIG is JSON or @file.json, e.g. "
        "'plain={\"kind\":\"ranking\",\"answers\":{\"search\":{\"rank\":\"identity\"}}}', "
        "'new={\"kind\":\"rules\",\"version\":3}', 'v2={\"kind\":\"model\",\"version\":\"v...\"}'")],
    store: StoreOption = DEFAULT_STORE,
    mode: Annotated[str, typer.Option(help="ab, or interleave (two variants, team draft)")] = "ab",
    metric: Annotated[str, typer.Option(help="conversion, ctr, add_to_cart or revenue_per_user")] = "conversion",
    horizon: Annotated[int | None, typer.Option(help="a fixed horizon in users (default: sequential test)")] = None,
    salt: Annotated[str | None, typer.Option(help="assignment salt (default: the experiment id)")] = None,
    alpha: Annotated[float, typer.Option(help="the tests' false-positive rate")] = 0.05,
    as_json: JsonOption = False,
) -> None:
    """Start an experiment now; running servers route its placements within a second."""
    engine = Engine.open(store, create=False, log_impressions=False)
    experiment = engine.experiments.create(
        name=name, placements=placement, variants=[_variant(v) for v in variant], mode=mode, metric=metric,
        horizon_users=horizon, salt=salt, alpha=alpha,
    )
    engine.audit.record(AuditAction.EXPERIMENTS_CREATE, actor=cli_actor(), target=experiment.experiment_id,
                        detail=f"{experiment.name} in {', '.join(experiment.placements)}")
    if as_json:
        console.print_json(experiment.to_json())
        return
    err.print(f"experiment {experiment.experiment_id} is running", markup=False)


@experiments_app.command("list")
def list_experiments(store: StoreOption = DEFAULT_STORE, as_json: JsonOption = False) -> None:
    """Every experiment, oldest first."""
    engine = Engine.open(store, create=False, log_impressions=False)
    experiments = engine.experiments.all()
    if as_json:
        console.print_json(json.dumps([json.loads(e.to_json()) for e in experiments]))
        return
    table = Table(title=f"experiments of {store}")
    for column in ("id", "name", "status", "mode", "placements", "variants", "metric", "test", "started (UTC)"):
        table.add_column(column)
    for e in experiments:
        status = f"shipped {e.shipped}" if e.status == "shipped" else e.status
        table.add_row(e.experiment_id, e.name, status, e.mode, ", ".join(e.placements),
                      ", ".join(f"{v.name} ({v.kind})" for v in e.variants), e.metric,
                      f"fixed, {e.horizon_users:,} users" if e.horizon_users else "sequential", _when(e.started_ms))
    console.print(table)
    if not experiments:
        console.print("no experiments yet: `cartwise experiments create`", markup=False)


def _interval(value: float, low: float, high: float, *, percent: bool) -> str:
    if percent:
        return f"{value:.2%} ({low:.2%} to {high:.2%})"
    return f"{value:,.2f} ({low:,.2f} to {high:,.2f})"


def print_results(experiment: Experiment, results: ExperimentResults) -> None:
    console.print(f"[bold]{experiment.name}[/bold] ({experiment.experiment_id}, {experiment.status}, "
                  f"{experiment.mode}, {', '.join(experiment.placements)})", highlight=False)
    arms = Table(title="per arm (95% intervals over users)" if experiment.alpha == 0.05 else "per arm")
    for column in ("variant", "serves", "users", "answers", "items shown", "clicks", "CTR", "add-to-cart",
                   "conversion", "revenue / user"):
        arms.add_column(column, justify="left" if column in ("variant", "serves") else "right")
    for arm in results.arms:
        arms.add_row(arm.variant, arm.description, f"{arm.users:,}", f"{arm.exposures:,}", f"{arm.items_shown:,}",
                     f"{arm.clicks:,}", _interval(arm.ctr.value, arm.ctr.low, arm.ctr.high, percent=True),
                     _interval(arm.add_to_cart.value, arm.add_to_cart.low, arm.add_to_cart.high, percent=True),
                     _interval(arm.conversion.value, arm.conversion.low, arm.conversion.high, percent=True),
                     _interval(arm.revenue_per_user.value, arm.revenue_per_user.low, arm.revenue_per_user.high,
                               percent=False))
    console.print(arms)
    if results.comparisons:
        diffs = Table(title=f"against {experiment.control.name} ({results.test} test)")
        for column in ("variant", "metric", "difference", "interval", "p", "significant"):
            diffs.add_column(column)
        for c in results.comparisons:
            percent = c.metric != "revenue_per_user"
            show = (lambda x: f"{x * 100:+.2f} pt") if percent else (lambda x: f"{x:+,.2f}")
            interval = f"{show(c.low)} to {show(c.high)}" if c.low is not None and c.high is not None else "-"
            diffs.add_row(c.variant, c.metric + (" *" if c.metric == experiment.metric else ""), show(c.difference),
                          interval, f"{c.p_value:.3g}", "yes" if c.significant else "no")
        console.print(diffs)
    if results.srm is not None:
        split = ", ".join(f"{k} {v:,}" for k, v in results.srm.users.items())
        console.print(f"sample ratio: {split}; p = {results.srm.p_value:.3g}"
                      + (" MISMATCH" if results.srm.mismatch else " (fine)"), markup=False)
    if results.interleaving is not None:
        found = results.interleaving
        wins = ", ".join(f"{k} {v:,}" for k, v in found.wins.items())
        console.print(f"interleaving: users won by {wins}, ties {found.ties:,}; sign test p = {found.p_value:.3g}, "
                      f"always-valid p = {found.sequential_p_value:.3g}", markup=False)
    console.print(f"[bold]verdict:[/bold] {results.verdict}", highlight=False)


@experiments_app.command("show")
def show(experiment_id: IdArgument, store: StoreOption = DEFAULT_STORE, as_json: JsonOption = False) -> None:
    """Per-arm numbers with intervals, the differences, the sample ratio check and the verdict."""
    engine = Engine.open(store, create=False, log_impressions=False)
    experiment = engine.experiments.get(experiment_id)
    results = engine.experiments.results(experiment_id)
    if as_json:
        console.print_json(json.dumps({"experiment": json.loads(experiment.to_json()),
                                       "results": results.model_dump(mode="json")}))
        return
    print_results(experiment, results)


@experiments_app.command("stop")
def stop(
    experiment_id: IdArgument,
    store: StoreOption = DEFAULT_STORE,
    reason: Annotated[str, typer.Option(help="why, kept with the experiment")] = "",
) -> None:
    """Stop it: everyone gets the store's own answers again; the results stay readable."""
    engine = Engine.open(store, create=False, log_impressions=False)
    engine.experiments.stop(experiment_id, reason=reason)
    engine.audit.record(AuditAction.EXPERIMENTS_STOP, actor=cli_actor(), target=experiment_id, detail=reason or None)
    err.print(f"experiment {experiment_id} stopped", markup=False)


@experiments_app.command("ship")
def ship(
    experiment_id: IdArgument,
    store: StoreOption = DEFAULT_STORE,
    variant: Annotated[str | None, typer.Option(help="the variant to ship (default: the verdict's winner)")] = None,
    reason: Annotated[str, typer.Option(help="why, kept with the experiment")] = "",
) -> None:
    """End it with a variant made the store's own (rules published, model promoted, a
    ranking served to everyone)."""
    engine = Engine.open(store, create=False, log_impressions=False)
    shipped, done = engine.experiments.ship(experiment_id, shipyard=engine, variant=variant, reason=reason)
    engine.audit.record(AuditAction.EXPERIMENTS_SHIP, actor=cli_actor(), target=experiment_id,
                        detail=f"{shipped.shipped}: {done}")
    err.print(f"shipped {shipped.shipped}: {done}", markup=False)


__all__ = ["experiments_app", "print_results"]
