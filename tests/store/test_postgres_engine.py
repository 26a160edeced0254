"""The engine on a PostgreSQL store answers as on the embedded SQLite store: the planted
store of tests/conftest.py, loaded and trained into a scratch schema, gives the same
searches, recommendations and similar items as the session's SQLite copy. Skipped when no
PostgreSQL server answers (``$CARTWISE_TEST_POSTGRESQL``)."""

from __future__ import annotations

import pytest

from cartwise import Engine
from cartwise.store import PostgresStore
from cartwise.store.postgres import DEFAULT_TEST_SERVER, TEST_SERVER_ENV, _scratch_url, drop_store
from tests.conftest import CATALOG, planted_events


@pytest.fixture(scope="module")
def postgres_engine(tmp_path_factory):
    url = _scratch_url(tmp_path_factory.mktemp("pg-planted"))
    if url is None:
        pytest.skip(f"no PostgreSQL server answered at ${TEST_SERVER_ENV} (default {DEFAULT_TEST_SERVER})")
    engine = Engine.open(url)
    assert isinstance(engine.store, PostgresStore)
    assert engine.upsert_items(CATALOG).rows_rejected == 0
    assert engine.add_events(planted_events()).rows_rejected == 0
    engine.train()
    engine.url = url  # for the test that opens it again
    yield engine
    engine.close()
    drop_store(url)


def answer(response) -> list[tuple[str, float]]:
    return [(item.item_id, round(float(item.score), 6)) for item in response.items]


def test_the_same_data_answers_the_same_on_both_back_ends(engine, postgres_engine):
    assert engine.store.stats().events == postgres_engine.store.stats().events == len(planted_events())
    for query in ("red dresses", "红色连衣裙", "teapot", "hiking", "mug"):
        assert answer(engine.search(query)) == answer(postgres_engine.search(query)), query
    for user in ("tea-3", "mug-4", "sock-1", "never-seen"):
        sqlite, postgres = engine.recommend(user), postgres_engine.recommend(user)
        assert sqlite.items and answer(sqlite) == answer(postgres), user
    for item in ("teapot", "mug-red", "socks"):
        assert answer(engine.similar(item)) == answer(postgres_engine.similar(item)), item
    assert postgres_engine.similar("teapot").items[0].item_id == "tea-cosy"  # the planted pattern


def test_a_second_process_sees_the_trained_model_and_new_events(postgres_engine):
    """Another Engine on the same URL (another API node) loads the same model and sees
    a write made through the first at once."""
    other = Engine.open(postgres_engine.url, create=False)
    try:
        assert other.store.store_id == postgres_engine.store.store_id
        assert answer(other.recommend("tea-3")) == answer(postgres_engine.recommend("tea-3"))
        before = other.store.versions()[1]
        report = postgres_engine.add_events(
            [{"user_id": "new", "item_id": "socks", "event_type": "view", "timestamp": 1_700_100_000}]
        )
        assert report.rows_written == 1, report.rejects
        assert other.store.versions()[1] == before + 1
        assert other.store.user_events("new")["item_id"].to_list() == ["socks"]
    finally:
        other.close()
