"""`cartwise audit`: the store's log of admin actions (who, what, when, on what)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from cartwise.access.audit import MAX_ENTRIES, parse_since
from cartwise.cli.keys import JsonOption, StoreOption
from cartwise.cli.output import console
from cartwise.engine import DEFAULT_STORE, Engine


def audit(
    store: StoreOption = DEFAULT_STORE,
    since: Annotated[str | None, typer.Option(help="only actions since: 15m, 2h, 7d, 2026-12-05, an ISO time "
                                                   "(UTC unless it says) or epoch ms")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_ENTRIES, help="at most this many, the newest")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Admin actions on the store, oldest first: catalog writes and deletes over HTTP, keys
    created, limited and revoked, model versions promoted and rolled back."""
    engine = Engine.open(store, create=False, log_impressions=False)
    entries = engine.audit.entries(since_ms=parse_since(since) if since else None, limit=limit)
    if as_json:
        console.print_json(json.dumps([e.__dict__ for e in entries]))
        return
    table = Table(title=f"audit log of {store}")
    for column in ("when (UTC)", "who", "action", "target", "detail"):
        table.add_column(column)
    for entry in entries:
        when = datetime.fromtimestamp(entry.ts / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(when, entry.actor, entry.action, entry.target or "", entry.detail or "")
    console.print(table)
    if not entries:
        console.print("no admin actions recorded" + (f" since {since}" if since else ""), markup=False)
