"""`cartwise consume` and `cartwise bus`: the event bus's consumer and its dead letters."""

from __future__ import annotations

import json
import signal
import threading
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from cartwise.bus import open_bus
from cartwise.bus.consumer import DEFAULT_BATCH, EventConsumer
from cartwise.cli.output import console, err
from cartwise.engine import DEFAULT_STORE
from cartwise.store import open_store

bus_app = typer.Typer(help="The event bus (serve --bus): dead letters and backlog.", no_args_is_help=True)

StoreOption = Annotated[
    str,
    typer.Option("--store", "-s", envvar="CARTWISE_STORE", help="store directory or URL (postgresql://…)",
                 show_default=True),
]
BusOption = Annotated[
    str,
    typer.Option("--bus", envvar="CARTWISE_BUS", help="event bus URL: redis://127.0.0.1:6379/0 or "
                 "nats://127.0.0.1:4222 (query option: reclaim_after=SECONDS)"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON for machines instead of a table")]


def consume(
    store: StoreOption = DEFAULT_STORE,
    bus: BusOption = "",
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="messages read and stored together")] = DEFAULT_BATCH,
    name: Annotated[str | None, typer.Option(help="consumer name (default: host-pid); a restarted consumer "
                                             "with the same name first takes back what it held")] = None,
    once: Annotated[bool, typer.Option("--once", help="stop when the bus has nothing left")] = False,
) -> None:
    """Move events from the bus into the store, acknowledging each batch after its commit."""
    opened = open_store(store, create=False)
    consumer = EventConsumer(opened, open_bus(bus, store_id=opened.store_id), name=name, batch=batch)
    try:
        if once:
            totals = consumer.drain()
        else:
            stop = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            err.print(f"consuming as {consumer.name} (Ctrl-C stops)")
            consumer.run(stop)
            totals = consumer.totals
        err.print(f"{totals.messages} messages: {totals.stored} events stored, {totals.duplicates} duplicates, "
                  f"{totals.parked} parked")
    finally:
        consumer.bus.close()
        opened.close()


@bus_app.command("dead-letters")
def dead_letters(
    store: StoreOption = DEFAULT_STORE,
    bus: BusOption = "",
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    as_json: JsonOption = False,
) -> None:
    """Parked messages (never stored), newest first, with why."""
    opened = open_store(store, create=False)
    connection = open_bus(bus, store_id=opened.store_id)
    try:
        letters = connection.dead_letters(limit=limit)
    finally:
        connection.close()
        opened.close()
    rows = [{"id": d.id, "source": d.source_id, "reason": d.reason,
             "parked": datetime.fromtimestamp(d.parked_ms / 1000, UTC).isoformat(timespec="seconds"),
             "payload": d.payload[:200].decode("utf-8", "replace")} for d in letters]
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table("id", "source", "parked", "reason", "payload")
    for row in rows:
        table.add_row(row["id"], row["source"], row["parked"], row["reason"], row["payload"][:60])
    console.print(table)


@bus_app.command("backlog")
def backlog(store: StoreOption = DEFAULT_STORE, bus: BusOption = "") -> None:
    """Messages on the bus not yet stored and acknowledged."""
    opened = open_store(store, create=False)
    connection = open_bus(bus, store_id=opened.store_id)
    try:
        console.print(connection.backlog())
    finally:
        connection.close()
        opened.close()
