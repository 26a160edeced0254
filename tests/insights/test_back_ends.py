"""The reports read the store only through the Store protocol, so the same data gives the
same reports on the embedded SQLite store and on PostgreSQL (skipped without a server at
$CARTWISE_TEST_POSTGRESQL)."""

from __future__ import annotations

import uuid

import pytest

from cartwise import Engine
from cartwise.store import open_store
from cartwise.store.postgres import drop_store, scratch_server
from tests.conftest import CATALOG, planted_events

NOW = 1_750_000_000_000  # June 2025: impressions may not be in the future


def _fill(engine: Engine) -> None:
    assert engine.upsert_items(CATALOG).rows_rejected == 0
    assert engine.add_events(planted_events()).rows_rejected == 0
    request_ids = engine.add_impressions([
        {"placement": "search", "query": "tea", "user_id": "p-1", "items": ["teapot", "tea-cosy", "mug-red"],
         "timestamp": NOW, "model_version": "v1"},
        {"placement": "recommend", "user_id": "p-2", "items": ["socks", "boots"], "timestamp": NOW,
         "model_version": "v1"},
    ])
    assert engine.add_events([
        {"user_id": "p-1", "item_id": "teapot", "event_type": "click", "timestamp": NOW + 1_000,
         "request_id": request_ids[0]},
        {"user_id": "p-1", "item_id": "teapot", "event_type": "purchase", "timestamp": NOW + 2_000,
         "request_id": request_ids[0], "value": 3},
        {"user_id": "p-2", "item_id": "boots", "event_type": "view", "timestamp": NOW + 3_000},
    ]).rows_rejected == 0


def _reports(engine: Engine) -> dict:
    return {
        "business": engine.insights.business(days=3650).model_dump(),
        "inventory": engine.insights.inventory(days=3650).model_dump(),
        "operations": {k: v for k, v in engine.insights.operations(model=None, now_ms=NOW + 60_000).model_dump()
                       .items() if k in ("events_per_minute", "last_event_ms", "flagged_users", "alerts")},
    }


def test_sqlite_and_postgresql_give_the_same_reports(tmp_path):
    server = scratch_server()
    if server is None:
        pytest.skip("no PostgreSQL server answered at $CARTWISE_TEST_POSTGRESQL")
    url = f"{server}{'&' if '?' in server else '?'}schema=cw_test_{uuid.uuid4().hex[:12]}&workspace={tmp_path / 'pg'}"
    lite = Engine.open(tmp_path / "lite", log_impressions=False)
    pg = Engine(open_store(url), log_impressions=False)
    try:
        _fill(lite)
        _fill(pg)
        on_sqlite, on_postgres = _reports(lite), _reports(pg)
        assert on_sqlite["business"]["revenue"]["by_placement"] == [{"placement": "search", "revenue": 72.0, "purchases": 1}]
        assert on_sqlite["business"]["groups"][1]["ctr"]["count"] == 1
        assert on_postgres == on_sqlite
    finally:
        pg.close()
        lite.close()
        drop_store(url)
