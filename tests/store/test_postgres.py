"""What only the PostgreSQL back end does: its URL, schemas, workspace and COPY.
The behaviour every back end shares is in test_contract.py; the tests that need a server
are skipped when none answers at ``$CARTWISE_TEST_POSTGRESQL``."""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from pathlib import Path

import polars as pl
import psycopg
import pytest

from cartwise.errors import StoreError, ValidationError
from cartwise.store import PostgresStore, SQLiteStore, open_store
from cartwise.store.migrations import POSTGRESQL, SCHEMA_VERSION, SQLITE, migration_statements
from cartwise.store.postgres import (
    DEFAULT_TEST_SERVER,
    TEST_SERVER_ENV,
    WORKSPACE_ROOT_ENV,
    PostgresLocation,
    drop_store,
    scratch_server,
)
from tests.store import test_contract as contract

# URLs -------------------------------------------------------------------------------------


def test_the_url_names_schema_workspace_and_pool_and_passes_the_rest_to_libpq(tmp_path):
    where = PostgresLocation.parse(
        f"postgresql://shop:s3cret@db.example:6543/sales?schema=shop1&workspace={tmp_path}&pool_size=3"
        "&sslmode=disable&application_name=cw"
    )
    assert (where.schema, where.workspace, where.pool_size) == ("shop1", tmp_path, 3)
    assert where.server == "db.example:6543/sales" and "s3cret" not in where.server
    fields = psycopg.conninfo.conninfo_to_dict(where.conninfo)
    assert fields["sslmode"] == "disable" and fields["application_name"] == "cw" and fields["password"] == "s3cret"
    assert "schema" not in fields and "workspace" not in fields


def test_without_a_workspace_it_lives_under_the_configurable_root(tmp_path, monkeypatch):
    monkeypatch.setenv(WORKSPACE_ROOT_ENV, str(tmp_path))
    where = PostgresLocation.parse("postgresql://127.0.0.1/test")
    assert where.schema == "cartwise" and where.pool_size == 8
    assert where.workspace == tmp_path / "postgresql" / "127.0.0.1-5432" / "test" / "cartwise"
    other = PostgresLocation.parse("postgres://127.0.0.1:5433/test?schema=shop2")
    assert other.workspace == tmp_path / "postgresql" / "127.0.0.1-5433" / "test" / "shop2"


@pytest.mark.parametrize("schema", ["Shop", "pg_catalog", "1shop", "shop-1", "a;drop", ""])
def test_schema_names_that_need_quoting_are_refused(schema):
    with pytest.raises(ValidationError) as raised:
        PostgresLocation.parse(f"postgresql://127.0.0.1/test?schema={schema}")
    assert raised.value.field == "schema"


@pytest.mark.parametrize("size", ["0", "many", "5000"])
def test_a_pool_size_must_be_a_sensible_number(size):
    with pytest.raises(ValidationError, match="pool_size"):
        PostgresLocation.parse(f"postgresql://127.0.0.1/test?pool_size={size}")


def test_an_unreachable_server_is_a_store_error_without_the_password(tmp_path):
    with pytest.raises(StoreError) as raised:
        open_store(f"postgresql://shop:s3cret@127.0.0.1:1/test?connect_timeout=2&workspace={tmp_path}")
    assert "cannot connect to PostgreSQL at 127.0.0.1:1/test" in raised.value.message
    assert "s3cret" not in str(raised.value)


# against a server ----------------------------------------------------------------------


@pytest.fixture
def server() -> str:
    answering = scratch_server()
    if answering is None:
        pytest.skip(f"no PostgreSQL server answered at ${TEST_SERVER_ENV} (default {DEFAULT_TEST_SERVER})")
    return answering


@pytest.fixture
def schemas(server):
    """Names for new schemas, dropped after the test."""
    made: list[str] = []

    def new() -> str:
        made.append(f"cw_test_{uuid.uuid4().hex[:12]}")
        return made[-1]

    yield new
    for name in made:
        drop_store(_url(server, name, Path("unused")))


def _url(server: str, schema: str, workspace: Path) -> str:
    return f"{server}{'&' if '?' in server else '?'}schema={schema}&workspace={workspace}"


def test_stores_in_two_schemas_of_one_server_never_see_each_other(server, schemas, tmp_path):
    shop1 = open_store(_url(server, schemas(), tmp_path / "one"))
    shop2 = open_store(_url(server, schemas(), tmp_path / "two"))
    assert isinstance(shop1, PostgresStore) and shop1.store_id != shop2.store_id
    shop1.upsert_items(pl.DataFrame({"item_id": ["a"], "title": ["A"]}))
    shop2.upsert_items(pl.DataFrame({"item_id": ["b"], "title": ["B"]}))
    shop1.insert_events(pl.DataFrame({"event_key": [1], "user_id": ["u"], "event_type": ["view"], "ts": [5]}))
    assert shop1.item_ids() == {"a"} and shop2.item_ids() == {"b"}
    assert shop1.stats().events == 1 and shop2.stats().events == 0
    assert shop2.commits_since(0) == [] and shop1.commits_since(0) != []
    shop1.close()
    shop2.close()


def test_a_workspace_belongs_to_one_store(server, schemas, tmp_path):
    first = open_store(_url(server, schemas(), tmp_path / "ws"))
    first.close()
    with pytest.raises(StoreError, match="belongs to another store"):
        open_store(_url(server, schemas(), tmp_path / "ws"))
    SQLiteStore(tmp_path / "sqlite").close()
    with pytest.raises(StoreError, match="SQLite store's directory"):
        open_store(_url(server, schemas(), tmp_path / "sqlite"))


def test_a_missing_schema_without_create_names_it(server, tmp_path):
    with pytest.raises(StoreError, match="no Cartwise store in schema cw_absent_"):
        open_store(_url(server, f"cw_absent_{uuid.uuid4().hex[:8]}", tmp_path), create=False)


def test_a_newer_schema_version_is_refused(server, schemas, tmp_path):
    name = schemas()
    open_store(_url(server, name, tmp_path)).close()
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"UPDATE {name}.meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 999"):
        open_store(_url(server, name, tmp_path))


def test_one_migration_history_makes_the_same_tables_on_both_back_ends(server, schemas, tmp_path):
    name = schemas()
    open_store(_url(server, name, tmp_path / "pg")).close()
    with psycopg.connect(server) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s", (name,)
        ).fetchall()
    postgres = {(t, c) for t, c in rows}
    SQLiteStore(tmp_path / "lite").close()
    lite = sqlite3.connect(tmp_path / "lite" / "cartwise.db")
    listed = lite.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'sqlite_sequence'")
    tables = [row[0] for row in listed]
    sqlite = {(t, r[1]) for t in tables for r in lite.execute(f"PRAGMA table_info({t})")}
    lite.close()
    assert postgres == sqlite and ("events", "request_id") in postgres
    for step in range(SCHEMA_VERSION):
        assert len(migration_statements(step, POSTGRESQL)) == len(migration_statements(step, SQLITE))
        assert not any("{" in s for s in migration_statements(step, POSTGRESQL))


def test_processes_opening_a_new_store_at_once_agree_on_it(server, schemas, tmp_path):
    url = _url(server, schemas(), tmp_path)
    ids: list[str] = []
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            store = open_store(url)
            ids.append(store.store_id)
            store.close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(ids) == 4 and len(set(ids)) == 1


def test_large_batches_are_copied_in_chunks_within_one_transaction(server, schemas, tmp_path, monkeypatch):
    monkeypatch.setattr("cartwise.store.postgres._COPY_ROWS", 7)
    monkeypatch.setattr("cartwise.store.postgres._SMALL_BATCH", 20)
    store = open_store(_url(server, schemas(), tmp_path))
    n = 100
    added = store.insert_events(
        pl.DataFrame({"event_key": [*range(n), 5, 6], "user_id": ["u"] * (n + 2), "event_type": ["view"] * (n + 2),
                      "ts": [*range(n), 5, 6]})
    )
    assert added == n and store.versions()[1] == 1
    ids = [f"i{k:03d}" for k in range(50)]
    assert store.upsert_items(pl.DataFrame({"item_id": ids + ["i000"], "title": ["x"] * 50 + ["last wins"]})) == 50
    assert store.get_items(["i000"])["title"].to_list() == ["last wins"]
    store.close()


@pytest.mark.parametrize("small_batch", [0, 1000], ids=["copy", "arrays"])
def test_both_write_paths_keep_awkward_values_exactly(server, schemas, tmp_path, monkeypatch, small_batch):
    """The contract's round trip through the COPY path and through the array path."""
    monkeypatch.setattr("cartwise.store.postgres._SMALL_BATCH", small_batch)
    store = open_store(_url(server, schemas(), tmp_path))
    contract.test_awkward_text_and_numbers_come_back_exactly(store)
    impressions = pl.DataFrame({"request_id": ["r1", "r2"], "ts": [5, 6], "placement": ["home", "search"],
                                "query": [None, 'a "b"\n'], "source": ["engine", "client"]})
    shown = pl.DataFrame({"request_id": ["r1", "r1", "r2"], "position": [1, 2, 1], "item_id": ["x0", "x1", "x2"],
                          "score": [0.5, None, 1e-9]})
    assert store.insert_impressions(impressions, shown) == 2
    assert store.insert_impressions(impressions, shown) == 0
    assert store.impressions()["query"].to_list() == [None, 'a "b"\n']
    assert store.impression_items()["score"].to_list() == [0.5, None, 1e-9]
    assert store.impressions(since_ms=6)["request_id"].to_list() == ["r2"]
    store.close()


def test_the_postgres_scheme_is_the_same_back_end(server, schemas, tmp_path):
    name = schemas()
    url = _url(server, name, tmp_path)
    first = open_store(url)
    again = open_store(url.replace("postgresql://", "postgres://", 1), create=False)
    assert isinstance(again, PostgresStore) and again.store_id == first.store_id
    assert again.path == tmp_path and again.workspace.identity_path.is_file()
    first.close()
    again.close()


def test_connections_broken_by_a_server_restart_are_replaced(server, schemas, tmp_path, monkeypatch):
    monkeypatch.setattr("cartwise.store.connections.PING_AFTER_S", 0.0)
    name = schemas()
    store = open_store(_url(server, name, tmp_path))
    store.upsert_items(pl.DataFrame({"item_id": ["a"], "title": ["A"]}))
    with psycopg.connect(server, autocommit=True) as admin:  # what a restart does to the store's sessions
        ended = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
            (f"cartwise/{name}",),
        ).fetchone()
    assert ended is not None and ended[0] >= 1
    assert store.item_ids() == {"a"}
    store.close()


def test_a_pool_with_no_free_connection_says_so(server, schemas, tmp_path, monkeypatch):
    store = open_store(_url(server, schemas(), tmp_path) + "&pool_size=1")
    store._pool._timeout_s = 0.2
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.transaction():
            entered.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    entered.wait(10)
    with pytest.raises(StoreError, match="no PostgreSQL connection came free"):
        store.item_ids()
    release.set()
    holder.join()
    assert store.item_ids() == set()
    store.close()


def test_a_forked_child_makes_its_own_connections(server, schemas, tmp_path):
    """A uvicorn worker forked from a process that opened the store: both query at once,
    each on its own session (sharing the parent's socket would interleave their messages)."""
    store = open_store(_url(server, schemas(), tmp_path))
    store.upsert_items(pl.DataFrame({"item_id": ["a"], "title": ["A"]}))
    assert store.item_ids() == {"a"}  # leaves an idle connection in the pool

    def busy() -> bool:
        return all(store.get_items(["a"])["title"].to_list() == ["A"] for _ in range(300))

    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if busy() else 1
        finally:
            os._exit(code)
    assert busy()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    store.close()
