"""End to end on PostgreSQL: the Online Retail slice ingested and trained through the CLI
into a PostgreSQL schema answers exactly as the same data in the embedded SQLite store.

Marked slow (run with ``-m slow``); skipped when no PostgreSQL server answers (``$CARTWISE_TEST_POSTGRESQL``, default
``postgresql://127.0.0.1:5432/test``)."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from cartwise.cli.main import app
from cartwise.demo import build_catalog
from cartwise.store.postgres import DEFAULT_TEST_SERVER, TEST_SERVER_ENV, _scratch_url, drop_store
from tests.cli.test_cli_e2e import USER, _maps
from tests.conftest import RETAIL_SLICE

pytestmark = pytest.mark.slow  # about a minute: ingests and trains the slice twice

runner = CliRunner()


def cli(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """(SQLite directory, PostgreSQL URL): the same slice ingested and trained into each."""
    work = tmp_path_factory.mktemp("pg-e2e")
    url = _scratch_url(work)
    if url is None:
        pytest.skip(f"no PostgreSQL server answered at ${TEST_SERVER_ENV} (default {DEFAULT_TEST_SERVER})")
    catalog = build_catalog(RETAIL_SLICE, work / "catalog.parquet")
    reports = {}
    for store in (str(work / "sqlite"), url):
        items = cli("ingest", "items", str(catalog), "--store", store)
        events = cli("ingest", "events", str(RETAIL_SLICE), "--store", store, *_maps())
        if store == url:
            # The item text vectors are the same whatever holds the rows: the SQLite store's
            # cache spares embedding the catalog twice (most of a train's time here).
            shutil.copytree(work / "sqlite" / "embeddings", work / "workspace" / "embeddings")
        trained = cli("train", "--store", store, "--recommender", "itemknn", "--threads", "1", "--seed", "7")
        reports[store] = (items, events, trained)
    assert reports[url][2]["seconds"]["embeddings"] < reports[str(work / "sqlite")][2]["seconds"]["embeddings"]
    yield str(work / "sqlite"), url, reports
    drop_store(url)


def _items(answer: dict) -> list[tuple[str, float]]:
    return [(item["item_id"], round(float(item["score"]), 6)) for item in answer["items"]]


def test_ingest_writes_and_rejects_the_same_rows(stores):
    sqlite, url, reports = stores
    for (items_a, events_a, _), (items_b, events_b, _) in [(reports[sqlite], reports[url])]:
        for key in ("rows_read", "rows_written", "rows_rejected", "rows_duplicate"):
            assert items_a[key] == items_b[key] and events_a[key] == events_b[key], key
    assert events_a["rows_written"] > 15_000
    a, b = cli("stats", "--store", sqlite)["store"], cli("stats", "--store", url)["store"]
    for key in ("items", "deleted_items", "events", "users", "events_by_type", "first_event_ms", "last_event_ms"):
        assert a[key] == b[key], key


def test_search_recommend_and_similar_answer_the_same(stores):
    sqlite, url, _ = stores
    for query in ("heart t-light holder", "lunch bag", "red retrospot", "candle"):
        a = cli("search", query, "--store", sqlite, "--k", "10")
        b = cli("search", query, "--store", url, "--k", "10")
        assert a["items"] and _items(a) == _items(b), query
    for user in (USER, "12748", "never-seen"):
        a, b = cli("recommend", user, "--store", sqlite), cli("recommend", user, "--store", url)
        assert a["items"] and _items(a) == _items(b) and a["strategy"] == b["strategy"], user
    item = cli("search", "heart t-light holder", "--store", sqlite, "--k", "1")["items"][0]["item_id"]
    a, b = cli("similar", item, "--store", sqlite), cli("similar", item, "--store", url)
    assert a["items"] and _items(a) == _items(b)
