"""What only the embedded SQLite back end does: its file layout, schema versions and WAL.
The behaviour every back end shares is in test_contract.py."""

import sqlite3

import polars as pl
import pytest

from cartwise.errors import StoreError
from cartwise.store import SQLiteStore, open_store
from cartwise.store.migrations import SCHEMA_VERSION


def test_new_store_is_a_directory_with_its_database_models_and_reports(tmp_path):
    store = open_store(tmp_path / "s")
    assert isinstance(store, SQLiteStore)
    assert store.stats().schema_version == SCHEMA_VERSION
    assert (tmp_path / "s" / "cartwise.db").is_file()
    assert store.workspace.root == tmp_path / "s"
    assert (tmp_path / "s" / "models").is_dir() and (tmp_path / "s" / "reports").is_dir()


def test_a_sqlite_url_and_a_plain_path_open_the_same_store(tmp_path):
    by_path = open_store(tmp_path / "s")
    by_url = open_store(f"sqlite://{tmp_path / 's'}", create=False)
    assert isinstance(by_url, SQLiteStore) and by_url.path == tmp_path / "s"
    assert by_url.store_id == by_path.store_id


def test_open_missing_store_without_create_explains(tmp_path):
    with pytest.raises(StoreError, match="no Cartwise store"):
        open_store(tmp_path / "nope", create=False)


def test_a_file_in_the_way_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="not a directory"):
        open_store(tmp_path / "file")


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


def test_database_is_in_wal_mode(tmp_path):
    open_store(tmp_path).upsert_items(pl.DataFrame({"item_id": ["a"], "title": ["A"]}))
    conn = sqlite3.connect(tmp_path / "cartwise.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_a_store_of_schema_3_upgrades_its_keys_and_gains_the_audit_log(tmp_path):
    """A store made before per-key rate limits and the audit log (schema 3) opens: its keys
    keep working with no limit of their own, and admin actions can be recorded."""
    from cartwise.store.base import AuditEntry
    from cartwise.store.migrations import SQLITE, migration_statements

    (tmp_path / "old").mkdir()
    conn = sqlite3.connect(tmp_path / "old" / "cartwise.db")
    for step in range(3):
        for statement in migration_statements(step, SQLITE):
            conn.execute(statement)
    conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '3'), ('store_id', 'x' || hex(randomblob(15)))")
    conn.execute("INSERT INTO api_keys (prefix, secret_sha256, scope, name, created_ms) "
                 "VALUES ('cw_search_abcdefgh', 'sha', 'search', 'old', 1)")
    conn.commit()
    conn.close()
    store = open_store(tmp_path / "old", create=False)
    assert store.stats().schema_version == SCHEMA_VERSION >= 4
    [old] = store.keys()
    assert (old.prefix, old.rate_per_s, old.burst) == ("cw_search_abcdefgh", None, None)
    store.add_audit(AuditEntry(0, 5, "cli:op", "keys.create", old.prefix))
    assert [e.target for e in store.audit()] == [old.prefix]
