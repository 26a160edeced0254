"""The audit log of admin actions: over HTTP (GET /v1/audit) and from the CLI."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cartwise import Engine
from cartwise.access import Scope
from cartwise.access.audit import parse_since
from cartwise.api import create_app
from cartwise.cli.main import app as cli_app

runner = CliRunner()


def test_admin_actions_over_http_are_audited_with_the_key_prefix_never_the_secret(engine):
    admin = engine.create_key(Scope.ADMIN, name="ops")
    search = engine.create_key(Scope.SEARCH)
    client = TestClient(create_app(engine))
    headers = {"Authorization": f"Bearer {admin.secret}"}
    assert client.post("/v1/items", json={"items": [{"item_id": "lamp", "title": "Desk lamp"},
                                                    {"item_id": "", "title": "rejected"}]},
                       headers=headers).status_code == 200
    assert client.delete("/v1/items/teapot", headers=headers).status_code == 204
    assert client.delete("/v1/items/no-such-item", headers=headers).status_code == 404  # nothing done: no entry
    client.get("/v1/search", params={"q": "tea"}, headers={"X-API-Key": search.secret})  # a read: no entry
    versions = client.get("/v1/models", headers=headers).json()["versions"]
    live = next(v["version"] for v in versions if v["live"])
    assert client.post(f"/v1/models/{live}/promote", json={"reason": "pin it"}, headers=headers).status_code == 200

    entries = client.get("/v1/audit", headers=headers).json()["entries"]
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        (admin.key.prefix, "items.upsert", "lamp, "),
        (admin.key.prefix, "items.delete", "teapot"),
        (admin.key.prefix, "models.promote", live),
    ]
    assert entries[0]["detail"] == "1 written, 1 rejected" and entries[2]["detail"] == "pin it"
    text = json.dumps(entries)
    assert admin.secret not in text and admin.secret[len(admin.key.prefix):] not in text
    assert engine.audit.entries() and [e.action for e in engine.audit.entries()][-1] == "models.promote"

    later = client.get("/v1/audit", params={"since": str(entries[-1]["ts"] + 1)}, headers=headers).json()
    assert later["entries"] == []
    assert client.get("/v1/audit", params={"limit": 1}, headers=headers).json()["entries"] == entries[-1:]
    bad = client.get("/v1/audit", params={"since": "yesterday-ish"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["field"] == "since"
    assert client.get("/v1/audit", headers={"X-API-Key": search.secret}).status_code == 403


def test_a_long_batch_is_summarised_in_the_target(engine):
    admin = engine.create_key(Scope.ADMIN)
    client = TestClient(create_app(engine))
    items = [{"item_id": f"item-{i:03d}", "title": f"Thing {i}"} for i in range(40)]
    client.post("/v1/items", json={"items": items}, headers={"X-API-Key": admin.secret})
    entry = engine.audit.entries()[-1]
    assert entry.target.startswith("item-000, item-001") and entry.target.endswith("and 30 more")


def test_parse_since_reads_durations_dates_and_epoch_ms():
    now = 1_800_000_000_000
    assert parse_since("15m", now=now) == now - 900_000
    assert parse_since("2h", now=now) == now - 7_200_000
    assert parse_since("7d", now=now) == now - 7 * 86_400_000
    assert parse_since("2026-12-05") == 1_796_428_800_000
    assert parse_since("2026-12-05T01:00:00+01:00") == 1_796_428_800_000
    assert parse_since("1700000000000") == 1_700_000_000_000


def test_cli_key_and_model_actions_are_audited_and_listed(engine):
    store = str(engine.store.path)
    created = runner.invoke(cli_app, ["keys", "create", "--scope", "search", "--rate", "50/s", "--burst", "100",
                                      "--store", store, "--json"], catch_exceptions=False)
    assert created.exit_code == 0, created.output
    made = json.loads(created.stdout)
    assert (made["rate_per_s"], made["burst"]) == (50.0, 100)
    assert runner.invoke(cli_app, ["keys", "limit", made["prefix"], "--rate", "10/s", "--store", store],
                         catch_exceptions=False).exit_code == 0
    assert Engine.open(store).list_keys()[-1].rate.per_s == 10.0
    both = runner.invoke(cli_app, ["keys", "limit", made["prefix"], "--rate", "10/s", "--default", "--store", store])
    assert both.exit_code != 0
    assert runner.invoke(cli_app, ["keys", "revoke", made["prefix"], "--store", store]).exit_code == 0
    assert runner.invoke(cli_app, ["models", "rollback", "--store", store]).exit_code != 0  # no earlier version
    listed = runner.invoke(cli_app, ["audit", "--store", store, "--json"], catch_exceptions=False)
    entries = json.loads(listed.stdout)
    assert [(e["action"], e["target"]) for e in entries] == [
        ("keys.create", made["prefix"]), ("keys.limit", made["prefix"]), ("keys.revoke", made["prefix"]),
    ]
    assert all(e["actor"].startswith("cli:") for e in entries)
    assert "50 requests/s (burst 100)" in entries[0]["detail"]
    assert made["secret"] not in listed.stdout
    recent = runner.invoke(cli_app, ["audit", "--store", store, "--since", "1h"], catch_exceptions=False)
    assert "keys.revoke" in recent.stdout
    none = runner.invoke(cli_app, ["audit", "--store", store, "--since", "2099-01-01"], catch_exceptions=False)
    assert "no admin actions recorded" in none.stdout


def test_a_catalog_ingested_by_the_cli_is_audited(tmp_path):
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text('{"item_id": "lamp", "title": "Desk lamp"}\n{"item_id": "mug", "title": "Mug"}\n')
    store = str(tmp_path / "store")
    done = runner.invoke(cli_app, ["ingest", "items", str(catalog), "--store", store], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    runner.invoke(cli_app, ["ingest", "items", str(catalog), "--store", store], catch_exceptions=False)
    entries = Engine.open(store, create=False).audit.entries()
    assert [(e.action, e.target, e.detail) for e in entries] == [
        ("items.upsert", str(catalog), "2 written, 0 rejected")]  # the second run wrote nothing: no entry
    assert entries[0].actor.startswith("cli:")
