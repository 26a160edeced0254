"""`cartwise backup` / `restore`: a store copied while events are written answers the same."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cartwise import Engine
from cartwise.cli.main import app as cli_app
from cartwise.errors import StoreError, ValidationError
from cartwise.store.backup import _BACKUPS as BACKUPS
from cartwise.store.backup import BackupBackend, backup_store, read_manifest, register_backup, restore_store

QUERIES = ("tea", "mug", "hiking socks", "red dress")
USERS = ("tea-1", "mug-3", "sock-7")


def answers(engine: Engine) -> dict:
    """What shoppers would be shown, without the per-answer request ids and timings."""
    out: dict = {}
    for query in QUERIES:
        page = engine.search(query, k=5)
        out[f"search {query}"] = [(i.item_id, round(i.score, 6)) for i in page.items]
    for user in USERS:
        out[f"recommend {user}"] = [(i.item_id, round(i.score, 6)) for i in engine.recommend(user, k=5).items]
    out["similar teapot"] = [(i.item_id, round(i.score, 6)) for i in engine.similar("teapot", k=5).items]
    out["model"] = engine.model_info()["version"]
    return out


def event_keys(store: Path) -> set[int]:
    with sqlite3.connect(store / "cartwise.db") as conn:
        return {row[0] for row in conn.execute("SELECT event_key FROM events")}


@pytest.fixture
def live_store(trained_store: Path, tmp_path: Path) -> Path:
    path = tmp_path / "live"
    shutil.copytree(trained_store, path)
    return path


def _write_events_until(path: Path, stop: threading.Event, written: list[int]) -> None:
    """Another writer on the store, as the server's event route is: one batch per commit."""
    engine = Engine.open(path, create=False, log_impressions=False)
    n = 0
    while not stop.is_set():
        batch = [{"user_id": f"writer-{n}-{j}", "item_id": "socks", "event_type": "view",
                  "timestamp": 1_700_100_000 + n * 10 + j} for j in range(20)]
        written.append(engine.add_events(batch).rows_written)
        n += 1
    engine.close()


@pytest.mark.parametrize("name", ["backup", "backup.tar.gz"])
def test_backup_while_events_are_written_restores_to_the_same_answers(live_store, tmp_path, name):
    source = Engine.open(live_store, create=False, log_impressions=False)
    expected = answers(source)
    admin = source.create_key("admin", name="ops").secret
    before = event_keys(live_store)
    stop, written = threading.Event(), []
    writer = threading.Thread(target=_write_events_until, args=(live_store, stop, written))
    writer.start()
    try:
        while len(written) < 3:  # the writer is well under way
            time.sleep(0.01)
        report = backup_store(live_store, tmp_path / name)
        during = len(written)
        while len(written) < during + 3:  # and goes on after the backup
            time.sleep(0.01)
    finally:
        stop.set()
        writer.join()
    after = event_keys(live_store)
    assert report.model_version == expected["model"] and report.files > 5
    restored_path = tmp_path / "restored"
    manifest = restore_store(tmp_path / name, restored_path)
    assert manifest["store_id"] == source.store.store_id

    restored_keys = event_keys(restored_path)
    # A consistent snapshot: everything there before, a prefix of what came during, never more.
    assert before < restored_keys < after
    assert len(restored_keys - before) % 20 == 0  # whole batches only: each was one transaction
    assert manifest["counts"]["events"] == len(restored_keys)
    with sqlite3.connect(restored_path / "cartwise.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    restored = Engine.open(restored_path, create=False, log_impressions=False)
    assert restored.store.store_id == source.store.store_id
    assert answers(restored) == expected
    assert restored.verify_key(admin) is not None  # keys travel with the store
    restored.close()
    source.close()


def test_backup_skips_a_train_in_progress_and_keeps_the_live_version(live_store, tmp_path):
    models = live_store / "models"
    live = (models / "CURRENT").read_text().strip()
    (models / ".staging-v99999999-000000-1-000001").mkdir()  # a train writing its version now
    (models / ".staging-v99999999-000000-1-000001" / "half-written").write_text("...")
    (live_store / "checkpoints" / "sasrec").mkdir(parents=True)
    (live_store / "checkpoints" / "sasrec" / "epoch-3.pt").write_bytes(b"state")
    report = backup_store(live_store, tmp_path / "backup")
    copied = tmp_path / "backup" / "workspace" / "models"
    assert (copied / "CURRENT").read_text() == live and (copied / live / "manifest.json").exists()
    assert not any(p.name.startswith(".staging") for p in copied.iterdir())
    assert not (tmp_path / "backup" / "workspace" / "checkpoints").exists()
    assert not (tmp_path / "backup" / "workspace" / "cartwise.db").exists()  # the database is under database/
    caches = [p.parent.name for p in (live_store / "embeddings").glob("*/meta.json")]
    assert caches  # the session store was trained with a text encoder
    for name in caches:
        meta = json.loads((tmp_path / "backup" / "workspace" / "embeddings" / name / "meta.json").read_text())
        assert all((tmp_path / "backup" / "workspace" / "embeddings" / name / f).exists() for f in meta["files"].values())
    manifest = read_manifest(tmp_path / "backup")
    assert manifest["backend"] == "sqlite" and manifest["model_version"] == live == report.model_version
    assert manifest["counts"]["items"] == 8


def test_restore_refuses_a_store_that_holds_anything_without_force(live_store, tmp_path):
    backup_store(live_store, tmp_path / "backup")
    other = tmp_path / "other"
    engine = Engine.open(other)
    engine.upsert_items([{"item_id": "lamp", "title": "Desk lamp"}])
    engine.close()
    with pytest.raises(ValidationError, match="not empty") as refused:
        restore_store(tmp_path / "backup", other)
    assert "--force" in refused.value.hint
    assert Engine.open(other, create=False).store.stats().items == 1  # untouched
    restore_store(tmp_path / "backup", other, force=True)
    replaced = Engine.open(other, create=False, log_impressions=False)
    assert replaced.store.stats().items == 8 and replaced.search("teapot", k=1).items[0].item_id == "teapot"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".other.")]  # no leftovers beside it
    empty = tmp_path / "empty"
    empty.mkdir()
    restore_store(tmp_path / "backup", empty)  # an empty directory is fine
    assert (empty / "cartwise.db").exists()


def test_backup_never_overwrites_and_restore_checks_what_it_reads(live_store, tmp_path):
    backup_store(live_store, tmp_path / "backup")
    with pytest.raises(ValidationError, match="already exists"):
        backup_store(live_store, tmp_path / "backup")
    with pytest.raises(ValidationError, match="no backup"):
        restore_store(tmp_path / "nothing-here", tmp_path / "x")
    with pytest.raises(ValidationError, match="not a Cartwise backup"):
        restore_store(live_store / "models", tmp_path / "x")
    damaged = tmp_path / "damaged"
    shutil.copytree(tmp_path / "backup", damaged)
    database = damaged / "database" / "cartwise.db"
    data = bytearray(database.read_bytes())
    data[len(data) // 3 : 2 * len(data) // 3] = b"\xff" * (2 * len(data) // 3 - len(data) // 3)  # garble a third
    database.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="damaged"):
        restore_store(damaged, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_backup_goes_through_the_backend_registry(live_store, tmp_path):
    """A back end plugs its own database copy in by name (PostgreSQL: pg_dump)."""
    original = BACKUPS["sqlite"]
    calls = []

    def dump(store, location, into):
        calls.append(location)
        return original.dump(store, location, into)

    register_backup(BackupBackend("sqlite", dump=dump, restore=original.restore,
                                  database_files=original.database_files))
    try:
        backup_store(f"sqlite://{live_store}", tmp_path / "backup")
    finally:
        register_backup(original)
    assert calls == [str(live_store)]
    BACKUPS.pop("sqlite")
    try:
        with pytest.raises(StoreError, match="not supported"):
            backup_store(live_store, tmp_path / "again")
    finally:
        register_backup(original)


def test_cli_backup_and_restore(live_store, tmp_path):
    runner = CliRunner()
    done = runner.invoke(cli_app, ["backup", str(tmp_path / "b.tar"), "--store", str(live_store), "--json"],
                         catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["counts"]["items"] == 8
    target = tmp_path / "restored"
    done = runner.invoke(cli_app, ["restore", str(tmp_path / "b.tar"), "--store", str(target)],
                         catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert "restored store" in done.stderr
    with pytest.raises(ValidationError, match="not empty"):
        runner.invoke(cli_app, ["restore", str(tmp_path / "b.tar"), "--store", str(target)], catch_exceptions=False)
    done = runner.invoke(cli_app, ["restore", str(tmp_path / "b.tar"), "--store", str(target), "--force"],
                         catch_exceptions=False)
    assert done.exit_code == 0, done.output
