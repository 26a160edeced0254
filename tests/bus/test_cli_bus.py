"""`cartwise consume --once`, `cartwise bus dead-letters` and `bus backlog` on a real bus."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cartwise.bus import open_bus
from cartwise.bus.publish import EventPublisher
from cartwise.cli.main import app as cli_app


def test_consume_once_then_dead_letters_list_the_parked(store, bus_url):
    bus = open_bus(bus_url, store_id=store.store_id)
    publisher = EventPublisher(bus)
    publisher.add_events([{"user_id": "cli", "item_id": "x", "event_type": "view", "timestamp": 1_700_000_000}])
    bus.append(b'{"v": 1, "unknown_items": "keep", "rows": []}')
    where = ["--store", str(store.path), "--bus", bus_url]
    runner = CliRunner()
    assert runner.invoke(cli_app, ["bus", "backlog", *where]).output.strip() == "2"
    consumed = runner.invoke(cli_app, ["consume", *where, "--once"])
    assert consumed.exit_code == 0, consumed.output
    assert "1 events stored" in consumed.output and "1 parked" in consumed.output
    assert store.stats().events == 1
    listed = runner.invoke(cli_app, ["bus", "dead-letters", *where, "--json"])
    assert listed.exit_code == 0, listed.output
    letters = json.loads(listed.output)
    assert len(letters) == 1 and "non-empty list" in letters[0]["reason"]
    assert runner.invoke(cli_app, ["bus", "backlog", *where]).output.strip() == "0"
    refused = runner.invoke(cli_app, ["consume", "--store", str(store.path), "--bus", "kafka://x:1", "--once"])
    assert refused.exit_code != 0 and "not an event bus URL" in str(refused.exception)
    bus.close()
