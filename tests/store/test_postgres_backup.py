"""`cartwise backup` / `restore` of a PostgreSQL store: pg_dump of its schema and its
workspace, restored into another schema (beside the original, on the same database),
answering the same. Skipped when no PostgreSQL server answers."""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest
from typer.testing import CliRunner

from cartwise import Engine
from cartwise.access import Rate
from cartwise.cli.main import app as cli_app
from cartwise.errors import StoreError, ValidationError
from cartwise.store import PostgresStore
from cartwise.store.backup import backup_store, read_manifest, restore_store
from cartwise.store.postgres import (
    DEFAULT_TEST_SERVER,
    TEST_SERVER_ENV,
    PostgresLocation,
    _scratch_url,
    drop_store,
)
from tests.conftest import CATALOG, planted_events
from tests.store.test_backup import answers

runner = CliRunner()


@pytest.fixture(scope="module")
def trained_url(tmp_path_factory):
    url = _scratch_url(tmp_path_factory.mktemp("pg-backup"))
    if url is None:
        pytest.skip(f"no PostgreSQL server answered at ${TEST_SERVER_ENV} (default {DEFAULT_TEST_SERVER})")
    engine = Engine.open(url, log_impressions=False)
    assert isinstance(engine.store, PostgresStore)
    assert engine.upsert_items(CATALOG).rows_rejected == 0
    assert engine.add_events(planted_events()).rows_rejected == 0
    engine.train()
    engine.close()
    yield url
    drop_store(url)


@pytest.fixture
def fresh_url(tmp_path):
    url = _scratch_url(tmp_path)
    yield url
    drop_store(url)


def _schema(url: str) -> str:
    return PostgresLocation.parse(url).schema


def test_a_backup_restored_into_another_schema_answers_the_same(trained_url, fresh_url, tmp_path):
    source = Engine.open(trained_url, create=False, log_impressions=False)
    key = source.create_key("search", name="shop", rate=Rate(5.0, 10))
    source.audit.record("keys.create", actor="cli:test", target=key.key.prefix)
    expected = answers(source)
    report = backup_store(trained_url, tmp_path / "backup.tar.gz")
    manifest = report.manifest
    assert manifest["backend"] == "postgresql" and manifest["schema"] == _schema(trained_url)
    assert manifest["counts"]["events"] == len(planted_events()) and manifest["counts"]["audit_log"] >= 1
    assert manifest["model_version"] == expected["model"]

    restored_manifest = restore_store(tmp_path / "backup.tar.gz", fresh_url)
    assert restored_manifest["store_id"] == source.store.store_id
    restored = Engine.open(fresh_url, create=False, log_impressions=False)
    assert answers(restored) == expected
    assert restored.verify_key(key.secret).rate == Rate(5.0, 10)  # keys and their limits came along
    assert [e.target for e in restored.audit.entries()] == [e.target for e in source.audit.entries()]
    # both stand side by side: a write to the copy leaves the original alone
    restored.add_events([{"user_id": "new", "item_id": "socks", "event_type": "view", "timestamp": 1_700_100_000}])
    assert restored.store.stats().events == source.store.stats().events + 1
    identity = json.loads(restored.workspace.identity_path.read_text())
    assert identity["schema"] == _schema(fresh_url)
    restored.close()
    source.close()
    with psycopg.connect(PostgresLocation.parse(fresh_url).conninfo) as conn:  # no scratch schema or database left
        names = [r[0] for r in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'cw_re%'")]
        databases = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'cw_restore_%'")]
    assert names == [] and databases == []


def test_a_backup_taken_while_events_are_written_is_consistent(trained_url, fresh_url, tmp_path):
    writer = Engine.open(trained_url, create=False, log_impressions=False)
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set():
            writer.add_events([{"user_id": f"w-{n}-{j}", "item_id": "socks", "event_type": "view",
                                "timestamp": 1_700_200_000 + n * 10 + j} for j in range(10)])
            n += 1

    thread = threading.Thread(target=write)
    thread.start()
    try:
        time.sleep(0.3)
        report = backup_store(trained_url, tmp_path / "during")
    finally:
        stop.set()
        thread.join()
    restore_store(tmp_path / "during", fresh_url)  # checks the dumped rows against the manifest's counts
    restored = Engine.open(fresh_url, create=False, log_impressions=False)
    assert restored.store.stats().events == report.manifest["counts"]["events"]
    assert restored.store.versions()[1] == report.manifest["events_version"]
    restored.close()
    writer.close()


def test_restore_refuses_a_store_that_holds_anything_unless_forced(trained_url, fresh_url, tmp_path):
    backup_store(trained_url, tmp_path / "backup")
    other = Engine.open(fresh_url, log_impressions=False)
    other.upsert_items([{"item_id": "lamp", "title": "Desk lamp"}])
    other.close()
    with pytest.raises(ValidationError, match="not empty"):
        restore_store(tmp_path / "backup", fresh_url)
    assert Engine.open(fresh_url, create=False).store.item_ids() == {"lamp"}  # untouched
    restore_store(tmp_path / "backup", fresh_url, force=True)
    replaced = Engine.open(fresh_url, create=False, log_impressions=False)
    assert "lamp" not in replaced.store.item_ids() and "teapot" in replaced.store.item_ids()
    replaced.close()


def test_a_damaged_dump_is_refused_and_leaves_the_target_alone(trained_url, fresh_url, tmp_path):
    backup_store(trained_url, tmp_path / "backup")
    dump = tmp_path / "backup" / "database" / read_manifest(tmp_path / "backup")["dump"]
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    with pytest.raises(StoreError, match="pg_restore failed"):
        restore_store(tmp_path / "backup", fresh_url)
    with pytest.raises(StoreError, match="no Cartwise store"):
        Engine.open(fresh_url, create=False)


def test_cli_backup_and_restore_of_a_postgresql_store(trained_url, fresh_url, tmp_path):
    made = runner.invoke(cli_app, ["backup", str(tmp_path / "b"), "--store", trained_url, "--json"],
                         catch_exceptions=False)
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["backend"] == "postgresql"
    back = runner.invoke(cli_app, ["restore", str(tmp_path / "b"), "--store", fresh_url], catch_exceptions=False)
    assert back.exit_code == 0, back.output
    assert Engine.open(fresh_url, create=False).store.stats().events >= len(planted_events())


def test_a_backup_restored_over_its_own_schema_with_force(trained_url, tmp_path):
    """Back to a backup in place: same schema, same workspace, swapped in one transaction."""
    source = Engine.open(trained_url, create=False, log_impressions=False)
    expected = answers(source)
    events = source.store.stats().events
    source.close()
    backup_store(trained_url, tmp_path / "backup")
    later = Engine.open(trained_url, create=False, log_impressions=False)
    later.add_events([{"user_id": "after", "item_id": "socks", "event_type": "view", "timestamp": 1_700_300_000}])
    later.close()
    with pytest.raises(ValidationError, match="not empty"):
        restore_store(tmp_path / "backup", trained_url)
    restore_store(tmp_path / "backup", trained_url, force=True)
    back = Engine.open(trained_url, create=False, log_impressions=False)
    assert back.store.stats().events == events and answers(back) == expected
    back.close()


def test_a_role_without_createdb_is_told_what_restoring_needs(trained_url, tmp_path):
    backup_store(trained_url, tmp_path / "backup")
    where = PostgresLocation.parse(trained_url)
    role = "cw_test_no_createdb"
    with psycopg.connect(where.conninfo, autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")
        conn.execute(f"CREATE ROLE {role} LOGIN NOCREATEDB")
    try:
        server = trained_url.split("?")[0].replace("postgresql://", f"postgresql://{role}@", 1)
        url = f"{server}?schema=cw_scratch_nocreatedb&workspace={tmp_path / 'ws'}"
        with pytest.raises(StoreError, match="CREATEDB") as caught:
            restore_store(tmp_path / "backup", url)
        assert "ALTER ROLE" in caught.value.hint
    finally:
        with psycopg.connect(where.conninfo, autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")
