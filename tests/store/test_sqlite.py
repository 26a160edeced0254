import sqlite3
import threading

import polars as pl
import pytest

from cartwise.errors import StoreError
from cartwise.store import IngestRun, open_store
from cartwise.store.migrations import SCHEMA_VERSION


def items(*ids: str, title: str = "Mug") -> pl.DataFrame:
    return pl.DataFrame({"item_id": list(ids), "title": [f"{title} {i}" for i in ids], "price": [1.5] * len(ids)})


def events(n: int, *, start_key: int = 1, user: str = "u1") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "event_key": list(range(start_key, start_key + n)),
            "user_id": [user] * n,
            "item_id": [f"i{k % 3}" for k in range(n)],
            "event_type": ["view"] * n,
            "ts": [1_600_000_000_000 + k for k in range(n)],
        }
    )


def test_new_store_has_schema_and_identity(tmp_path):
    store = open_store(tmp_path / "s")
    stats = store.stats()
    assert stats.schema_version == SCHEMA_VERSION
    assert len(store.store_id) == 32
    assert store.models_dir.is_dir() and store.reports_dir.is_dir()
    assert open_store(tmp_path / "s").store_id == store.store_id


def test_open_missing_store_without_create_explains(tmp_path):
    with pytest.raises(StoreError, match="no Cartwise store"):
        open_store(tmp_path / "nope", create=False)


def test_newer_schema_is_refused(tmp_path):
    store = open_store(tmp_path)
    store.close()
    conn = sqlite3.connect(tmp_path / "cartwise.db")
    conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="schema version 999"):
        open_store(tmp_path)


def test_not_a_database_is_a_store_error(tmp_path):
    (tmp_path / "cartwise.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        open_store(tmp_path)


def test_upsert_is_idempotent_and_versions_move_only_on_change(tmp_path):
    store = open_store(tmp_path)
    assert store.upsert_items(items("a", "b")) == 2
    version = store.versions()
    assert store.upsert_items(items("a", "b")) == 0
    assert store.versions() == version
    assert store.upsert_items(items("a", title="Cup")) == 1
    assert store.versions()[0] == version[0] + 1
    assert store.get_items(["a"])["title"].to_list() == ["Cup a"]


def test_delete_hides_item_and_upsert_brings_it_back(tmp_path):
    store = open_store(tmp_path)
    store.upsert_items(items("a", "b"))
    assert store.delete_items(["a", "missing"]) == 1
    assert store.item_ids() == {"b"}
    assert store.item_ids(include_deleted=True) == {"a", "b"}
    assert store.stats().deleted_items == 1
    assert store.upsert_items(items("a")) == 1
    assert store.item_ids() == {"a", "b"}


def test_events_are_deduplicated_by_key(tmp_path):
    store = open_store(tmp_path)
    assert store.insert_events(events(10)) == 10
    assert store.insert_events(events(10)) == 0
    assert store.insert_events(events(10, start_key=5)) == 4
    assert store.stats().events == 14
    assert store.existing_event_keys([1, 14, 99]) == {1, 14}


def test_user_events_newest_first(tmp_path):
    store = open_store(tmp_path)
    store.insert_events(events(5))
    recent = store.user_events("u1", limit=2)
    assert recent["ts"].to_list() == [1_600_000_000_004, 1_600_000_000_003]
    assert store.user_events("nobody").is_empty()


def test_transaction_rolls_back_everything(tmp_path):
    store = open_store(tmp_path)
    store.upsert_items(items("a"))
    before = (store.stats(), store.versions())
    with pytest.raises(KeyboardInterrupt):
        with store.transaction():
            store.upsert_items(items("b", "c"))
            store.insert_events(events(50))
            raise KeyboardInterrupt
    assert (store.stats(), store.versions()) == before
    assert store.item_ids() == {"a"}


def test_flagged_users_are_excluded_from_training_events(tmp_path):
    store = open_store(tmp_path)
    store.insert_events(events(5, user="bot"))
    store.insert_events(events(3, start_key=100, user="human"))
    store.flag_users(pl.DataFrame({"user_id": ["bot"], "reason": ["too fast"], "peak_per_minute": [500]}))
    assert set(store.events()["user_id"].to_list()) == {"human"}
    assert store.events(exclude_flagged=False).height == 8
    assert store.stats().flagged_users == 1


def test_ingest_runs_are_recorded(tmp_path):
    store = open_store(tmp_path)
    run_id = store.record_ingest(IngestRun(0, "events", "f.csv", 1, 2, 10, 8, 1, 1, None))
    [run] = store.ingest_runs()
    assert run.run_id == run_id and run.rows_written == 8


def test_readers_in_other_threads_see_committed_writes(tmp_path):
    store = open_store(tmp_path)
    store.upsert_items(items("a"))
    seen: list[set[str]] = []
    thread = threading.Thread(target=lambda: seen.append(store.item_ids()))
    thread.start()
    thread.join()
    assert seen == [{"a"}]
