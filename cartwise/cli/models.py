"""`cartwise models` (the versions in service: list, promote, rollback, history) and
`cartwise worker` (background retraining with a promotion gate)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from cartwise.access.audit import AuditAction, cli_actor
from cartwise.cli.keys import JsonOption, StoreOption
from cartwise.cli.output import console, err
from cartwise.encode import DEFAULT_ENCODER
from cartwise.engine import DEFAULT_STORE, Engine
from cartwise.retrain import RetrainPolicy, RetrainWorker
from cartwise.versions import VersionInfo

models_app = typer.Typer(help="Model versions in service: list, promote, rollback, history.", no_args_is_help=True)


def _when(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S") if ms else "-"


def _gate(info: VersionInfo) -> str:
    if not info.gate:
        return ""
    verdict = "promoted" if info.gate.get("promote") else "refused"
    difference = info.gate.get("difference")
    return verdict if difference is None else f"{verdict} (NDCG@10 {difference:+.4f})"


@models_app.command("list")
def list_versions(store: StoreOption = DEFAULT_STORE, as_json: JsonOption = False) -> None:
    """The kept versions, newest first: which is live, when each was trained and promoted,
    and the retraining gate's verdict on those a worker made."""
    engine = Engine.open(store, create=False, log_impressions=False)
    versions = engine.versions.list_versions()
    if as_json:
        console.print_json(json.dumps([info.__dict__ for info in versions]))
        return
    table = Table(title=f"model versions of {store}")
    for column in ("version", "live", "trained (UTC)", "recommender", "events", "last promoted", "gate"):
        table.add_column(column)
    for info in versions:
        table.add_row(info.version, "●" if info.live else "", _when(info.trained_ms), info.recommender or "",
                      f"{info.events:,}" if info.events is not None else "", _when(info.promoted_ms), _gate(info))
    console.print(table)
    if not versions:
        console.print("no versions yet: run `cartwise train`", markup=False)


@models_app.command("promote")
def promote(
    version: Annotated[str, typer.Argument(help="a version from `cartwise models list`")],
    store: StoreOption = DEFAULT_STORE,
    reason: Annotated[str, typer.Option(help="why, kept in the history")] = "promoted by hand",
) -> None:
    """Make a kept version live; running servers switch within a second."""
    engine = Engine.open(store, create=False, log_impressions=False)
    live = engine.promote(version, reason=reason)
    engine.audit.record(AuditAction.MODELS_PROMOTE, actor=cli_actor(), target=live, detail=reason)
    err.print(f"{version} is live", markup=False)


@models_app.command("rollback")
def rollback(
    store: StoreOption = DEFAULT_STORE,
    reason: Annotated[str, typer.Option(help="why, kept in the history")] = "rolled back by hand",
) -> None:
    """Return to the version that was live before the current one."""
    engine = Engine.open(store, create=False, log_impressions=False)
    version = engine.rollback(reason=reason)
    engine.audit.record(AuditAction.MODELS_ROLLBACK, actor=cli_actor(), target=version, detail=reason)
    err.print(f"rolled back: {version} is live", markup=False)


@models_app.command("history")
def history(store: StoreOption = DEFAULT_STORE, as_json: JsonOption = False) -> None:
    """Every promotion and rollback, oldest first, with its reason."""
    entries = Engine.open(store, create=False, log_impressions=False).versions.history()
    if as_json:
        console.print_json(json.dumps(entries))
        return
    table = Table(title=f"promotions of {store}")
    for column in ("when (UTC)", "action", "version", "previous", "reason"):
        table.add_column(column)
    for entry in entries:
        table.add_row(_when(entry.get("ts_ms")), entry.get("action", ""), entry.get("version", ""),
                      entry.get("previous") or "", entry.get("reason", ""))
    console.print(table)


def worker(
    store: StoreOption = DEFAULT_STORE,
    every_events: Annotated[
        int, typer.Option(help="retrain after this many new events (0: never by count)")
    ] = 10_000,
    every_minutes: Annotated[
        float, typer.Option(help="retrain when the live version is this old (0: never by age)")
    ] = 60.0,
    recommender: Annotated[str, typer.Option(help="as `cartwise train --recommender`")] = "auto",
    encoder: Annotated[
        str, typer.Option(help="text encoder for semantic search ('none': lexical only)")
    ] = DEFAULT_ENCODER,
    budget: Annotated[float | None, typer.Option(help="seconds the neural models may train")] = None,
    holdout_share: Annotated[
        float, typer.Option(help="share of the new events held back to judge the candidate")
    ] = 0.3,
    min_shoppers: Annotated[int, typer.Option(help="shoppers needed to judge a candidate")] = 30,
    max_drop: Annotated[
        float, typer.Option(help="keep aside a candidate whose NDCG@10 is more than this share below the live "
                          "version's, significant or not")
    ] = 0.1,
    promote_unjudged: Annotated[bool, typer.Option(help="promote a candidate too little new data can judge")] = False,
    poll_seconds: Annotated[float, typer.Option(help="how often to check whether a retrain is due")] = 30.0,
    once: Annotated[bool, typer.Option("--once", help="retrain and judge once now, then exit")] = False,
) -> None:
    """Retrain in the background on a policy, judge each candidate against the live version
    on the newest events (which neither trained on), and promote it unless it is
    significantly worse or more than --max-drop below it. Run one worker per store; servers pick up promoted versions."""
    policy = RetrainPolicy(
        every_events=every_events or None, every_minutes=every_minutes or None, holdout_share=holdout_share,
        min_shoppers=min_shoppers, max_drop=max_drop, promote_unjudged=promote_unjudged,
    )
    engine = Engine.open(store, create=False, log_impressions=False)
    job = RetrainWorker(
        store=engine.store, policy=policy, recommender=recommender,
        encoder=None if encoder.lower() == "none" else encoder, budget_s=budget,
        say=lambda line: err.print(line, markup=False, soft_wrap=True),
    )
    if once:
        verdict = job.run_once(force=True)
        if verdict is not None:
            console.print_json(json.dumps(verdict.as_dict()))
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    err.print(f"worker for {store}: {policy}", markup=False, soft_wrap=True)
    try:
        job.run_forever(stop=stop, poll_s=poll_seconds)
    except KeyboardInterrupt:
        stop.set()


@contextmanager
def worker_process(store: str) -> Iterator[subprocess.Popen[bytes]]:
    """`cartwise worker --store STORE` in its own process for as long as the block runs
    (`cartwise serve --worker`): training never competes with answers for the GIL."""
    process = subprocess.Popen([sys.executable, "-m", "cartwise.cli.main", "worker", "--store", str(store)])
    err.print(f"retraining worker started (pid {process.pid}); `cartwise models list` shows what it promotes",
              markup=False)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
