"""Back up a store while it serves, and restore it elsewhere: `cartwise backup` / `restore`.

A backup is a directory (or the same directory as a ``.tar``/``.tar.gz``)::

    backup.json     what it holds: the back end, store id, schema and data versions, the files
    database/       the back end's copy of its database (SQLite: ``cartwise.db``)
    workspace/      the store's files: model versions and ``CURRENT``, embeddings, reports, runs

The database copy is the back end's business, chosen by the store's back end name from
:func:`register_backup` (as stores are by URL scheme): SQLite's online backup API copies a
consistent snapshot while writers go on (WAL readers never block them); PostgreSQL's
``pg_dump`` plugs in the same way (:mod:`cartwise.store.postgres_backup`). The workspace is copied first and the database last, so
every model version in a backup was trained on data the backup's database holds. Model
versions are copied only once complete (never a ``.staging-*`` directory) and ``CURRENT``
names one that was copied; an embedding cache is copied under its writers' lock. Training
checkpoints (the state of an interrupted train) are left out.

Restoring builds the whole store beside the target, checks it opens, and only then puts it
in place; it refuses a target that holds anything unless `force` is given.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from cartwise.errors import StoreError, ValidationError
from cartwise.store.base import Store
from cartwise.store.registry import DEFAULT_SCHEME, open_store, split_store_url, store_backends
from cartwise.workspace import CHECKPOINTS, EMBEDDINGS, MODELS, Workspace

MANIFEST = "backup.json"
DATABASE = "database"
WORKSPACE = "workspace"
FORMAT_VERSION = 1
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
# Workspace entries never copied: a train's scratch state, and lock files.
_SKIPPED = {CHECKPOINTS}
_CURRENT = "CURRENT"


@dataclass(frozen=True)
class BackupBackend:
    """How one store back end copies and restores its database.

    `dump(store, location, into)` writes a consistent copy of the database into the
    directory `into` (the server may be writing meanwhile) and returns facts for the
    manifest; `restore(backup, location, force)` makes the store at `location` the one in
    the backup directory `backup` (its ``database/`` and ``workspace/``); `database_files`
    are names in the workspace's root that belong to the database, not copied as files.
    """

    name: str
    dump: Callable[[Store, str, Path], dict[str, Any]]
    restore: Callable[[Path, str, bool], None]
    database_files: frozenset[str] = frozenset()


_BACKUPS: dict[str, BackupBackend] = {}


def register_backup(backend: BackupBackend) -> None:
    """Make `backend` the way stores of the back end called `backend.name` are backed up."""
    _BACKUPS[backend.name] = backend


def _backend_name(url_or_path: Path | str) -> tuple[str, str]:
    scheme, location = split_store_url(url_or_path)
    scheme = scheme or DEFAULT_SCHEME
    for backend in store_backends():
        if scheme in backend.schemes:
            return backend.name, location
    raise StoreError(f"{scheme}:// stores are not available", hint="pass a store directory or a known store URL")


def _backup_backend(name: str) -> BackupBackend:
    found = _BACKUPS.get(name)
    if found is None:
        raise StoreError(f"backing up {name} stores is not supported yet",
                         hint=f"supported back ends: {', '.join(sorted(_BACKUPS))}")
    return found


@dataclass(frozen=True)
class BackupReport:
    path: Path
    backend: str
    store_id: str
    model_version: str | None
    files: int
    bytes: int
    seconds: float
    manifest: dict[str, Any]


def backup_store(store: Path | str, destination: Path | str) -> BackupReport:
    """Back up the store at `store` (a directory or URL) into `destination`: a new
    directory, or a tar file when it ends in ``.tar``, ``.tar.gz`` or ``.tgz``."""
    started = time.monotonic()
    destination = Path(destination)
    if destination.exists():
        raise ValidationError(f"{destination} already exists; a backup never overwrites anything",
                              field="destination", hint="name a new directory or tar file")
    name, location = _backend_name(store)
    backend = _backup_backend(name)
    opened = open_store(store, create=False)
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix=".cartwise-backup-", dir=destination.parent) as scratch:
            staging = Path(scratch) / "backup"
            staging.mkdir()
            # Files first, the database last: every model copied was trained on data it holds.
            model_version = _copy_workspace(opened.workspace, staging / WORKSPACE, skip=backend.database_files)
            (staging / DATABASE).mkdir()
            facts = backend.dump(opened, location, staging / DATABASE)
            manifest = {
                "format_version": FORMAT_VERSION,
                "backend": name,
                "store_id": opened.store_id,
                "model_version": model_version,
                "created_ms": int(time.time() * 1000),
                "cartwise_version": _cartwise_version(),
                **facts,
            }
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
            files, size = _count(staging)
            if destination.name.endswith(_TAR_SUFFIXES):
                _write_tar(staging, destination)
            else:
                os.replace(staging, destination)
    finally:
        opened.close()
    return BackupReport(destination, name, manifest["store_id"], model_version, files, size,
                        time.monotonic() - started, manifest)


def restore_store(source: Path | str, store: Path | str, *, force: bool = False) -> dict[str, Any]:
    """Make the store at `store` a copy of the backup at `source` (a directory or tar
    file); a store that holds anything is replaced only with `force`. Returns the backup's
    manifest."""
    source = Path(source)
    if not source.exists():
        raise ValidationError(f"no backup at {source}", field="source")
    name, location = _backend_name(store)
    with _unpacked(source) as backup:
        manifest = read_manifest(backup)
        if manifest["backend"] != name:
            raise ValidationError(
                f"{source} is a backup of a {manifest['backend']} store; {store} is a {name} store",
                field="store", hint="restore into a store of the same back end")
        _backup_backend(name).restore(backup, location, force)
    return manifest


def _cartwise_version() -> str | None:
    try:
        return metadata.version("cartwise")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return None


def read_manifest(backup: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((backup / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise ValidationError(f"{backup} is not a Cartwise backup: {exc}", field="source",
                              hint="pass a directory or tar file written by `cartwise backup`") from exc
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValidationError(f"backup format {manifest.get('format_version')} is not one this Cartwise reads "
                              f"({FORMAT_VERSION})", field="source")
    return dict(manifest)


# the workspace ----------------------------------------------------------------------


def _copy_workspace(workspace: Workspace, into: Path, *, skip: frozenset[str]) -> str | None:
    """Copy the workspace's files into `into`; returns the live model version copied."""
    into.mkdir(parents=True)
    root = workspace.root
    for entry in sorted(root.iterdir()) if root.exists() else []:
        if entry.name in skip or entry.name in _SKIPPED or entry.name.endswith(".lock"):
            continue
        if entry.name == MODELS:
            continue
        if entry.name == EMBEDDINGS and entry.is_dir():
            _copy_embeddings(entry, into / EMBEDDINGS)
        else:
            _copy_tolerant(entry, into / entry.name)
    return _copy_models(workspace.models_dir, into / MODELS)


def _copy_models(models: Path, into: Path, *, attempts: int = 5) -> str | None:
    """Copy every complete model version and a ``CURRENT`` naming one of them. A train
    may publish (and prune) meanwhile: a version gone mid-copy is dropped, and the copy
    is retried if it was the live one."""
    for _ in range(attempts):
        if into.exists():
            shutil.rmtree(into)
        into.mkdir(parents=True)
        live = _read_current(models)
        copied: set[str] = set()
        for entry in sorted(models.iterdir()) if models.exists() else []:
            # Versions are renamed into place complete; `.staging-*` ones are still being written.
            if entry.is_dir() and not entry.name.startswith("."):
                try:
                    shutil.copytree(entry, into / entry.name)
                    copied.add(entry.name)
                except (FileNotFoundError, shutil.Error):
                    shutil.rmtree(into / entry.name, ignore_errors=True)
        if live is None or live in copied:
            if live is not None:
                (into / _CURRENT).write_text(live)
            return live
    raise StoreError("the live model version kept changing during the backup", hint="run the backup again")


def _read_current(models: Path) -> str | None:
    try:
        return (models / _CURRENT).read_text().strip() or None
    except FileNotFoundError:
        return None


def _copy_embeddings(embeddings: Path, into: Path) -> None:
    """Each encoder's cache under its writers' lock: its meta.json and the files it names."""
    for cache in sorted(p for p in embeddings.iterdir() if p.is_dir()):
        try:
            lock = open(cache / ".lock", "a+b")  # noqa: SIM115 - closed below
        except OSError:  # a read-only store: no writer can be saving into it either
            lock = None
        try:
            if lock is not None:
                fcntl.flock(lock, fcntl.LOCK_SH)
            meta_path = cache / "meta.json"
            if not meta_path.exists():
                continue
            meta = json.loads(meta_path.read_text())
            (into / cache.name).mkdir(parents=True)
            for name in ["meta.json", *meta.get("files", {}).values()]:
                shutil.copy2(cache / name, into / cache.name / name)
        finally:
            if lock is not None:
                fcntl.flock(lock, fcntl.LOCK_UN)
                lock.close()


def _copy_tolerant(source: Path, target: Path) -> None:
    """Copy a file or tree, skipping what vanishes meanwhile (a report rotated away)."""
    try:
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.lock"), dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
    except FileNotFoundError:
        pass
    except shutil.Error as exc:  # some files vanished mid-copy: keep the rest
        missing = [e for e in exc.args[0] if "No such file" not in str(e[2])]
        if missing:
            raise


def install_workspace(backup: Path, root: Path) -> None:
    """Copy a backup's workspace files into the store directory `root`."""
    shutil.copytree(backup / WORKSPACE, root, dirs_exist_ok=True)


def _count(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def _write_tar(staging: Path, destination: Path) -> None:
    mode = "w:gz" if destination.name.endswith((".gz", ".tgz")) else "w"
    partial = destination.with_name(f".{destination.name}.partial")
    with tarfile.open(partial, mode) as tar:
        tar.add(staging, arcname=".")
    os.replace(partial, destination)


@contextmanager
def _unpacked(source: Path) -> Iterator[Path]:
    if source.is_dir():
        yield source
        return
    if not tarfile.is_tarfile(source):
        raise ValidationError(f"{source} is neither a backup directory nor a tar file", field="source")
    with tempfile.TemporaryDirectory(prefix=".cartwise-restore-") as scratch, tarfile.open(source) as tar:
        tar.extractall(scratch, filter="data")  # "data": no absolute paths, links out or devices
        yield Path(scratch)


# the embedded SQLite store ------------------------------------------------------------

_SQLITE_DB = "cartwise.db"
_SQLITE_FILES = frozenset({_SQLITE_DB, f"{_SQLITE_DB}-wal", f"{_SQLITE_DB}-shm", f"{_SQLITE_DB}-journal"})


def _sqlite_dump(store: Store, location: str, into: Path) -> dict[str, Any]:
    """SQLite's online backup: one consistent snapshot, taken under a read transaction
    that writers in WAL mode do not wait for."""
    source = sqlite3.connect(Path(location) / _SQLITE_DB, timeout=30.0)
    target = sqlite3.connect(into / _SQLITE_DB)
    try:
        source.backup(target)
        facts = dict(target.execute(
            "SELECT key, value FROM meta WHERE key IN ('schema_version', 'catalog_version', 'events_version')"
        ).fetchall())
        counts = {table: target.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                  for table in ("items", "events", "api_keys")}
    finally:
        target.close()
        source.close()
    return {"schema_version": int(facts.get("schema_version", 0)),
            "catalog_version": int(facts.get("catalog_version", 0)),
            "events_version": int(facts.get("events_version", 0)), "counts": counts}


def _sqlite_restore(backup: Path, location: str, force: bool) -> None:
    from cartwise.store.sqlite import SQLiteStore

    target = Path(location)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        if not force:
            raise ValidationError(
                f"{target} is not empty; restoring would replace the store there",
                field="store", hint="restore into a new directory, or pass --force to replace it")
        if not target.is_dir():
            raise ValidationError(f"{target} exists and is not a directory", field="store")
    database = backup / DATABASE / _SQLITE_DB
    expected = read_manifest(backup).get("counts", {})
    check = sqlite3.connect(database)
    try:
        verdict = check.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict == "ok":
            found = {table: check.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                     for table in expected}
            if found != expected:
                verdict = f"it holds {found}, its manifest says {expected}"
    except sqlite3.DatabaseError as exc:
        verdict = str(exc)
    finally:
        check.close()
    if verdict != "ok":
        raise StoreError(f"the backup's database is damaged: {verdict}", hint="restore another backup")
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}.restoring-", dir=target.parent))
    try:
        install_workspace(backup, building)
        shutil.copy2(database, building / _SQLITE_DB)
        opened = SQLiteStore(building, create=False)  # migrates a backup of an older schema
        opened.close()
        if target.exists():
            replaced = target.with_name(f".{target.name}.replaced-{os.getpid()}")
            os.replace(target, replaced)
            os.replace(building, target)
            shutil.rmtree(replaced, ignore_errors=True)
        else:
            os.replace(building, target)
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)


register_backup(BackupBackend("sqlite", dump=_sqlite_dump, restore=_sqlite_restore, database_files=_SQLITE_FILES))


__all__ = [
    "BackupBackend",
    "BackupReport",
    "backup_store",
    "read_manifest",
    "register_backup",
    "restore_store",
]
