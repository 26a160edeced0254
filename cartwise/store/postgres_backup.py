"""Backups of PostgreSQL stores: ``pg_dump`` of the store's schema, ``pg_restore`` into any schema.

The dump is ``pg_dump --format=custom --schema=<schema>`` taken in an exported snapshot
(``pg_export_snapshot``), in which the manifest's row counts and versions are read too, so
they describe exactly the rows dumped while the server goes on writing. A dump restores
its schema under the schema's own name, and the target is often beside the original (a
new ``?schema=`` on the same database), so restoring goes through a scratch database:
``pg_restore`` there, rename the schema to a temporary name, check the rows against the
manifest, dump and restore it into the target database, and only then swap it in place of
the target's schema in one transaction (the old one, with ``force``, is dropped). The
role needs ``CREATEDB`` for the scratch database; without it the restore says so. The
workspace (models, embeddings) is copied as for every back end, its ``store.json`` made
to name the target.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from cartwise.errors import StoreError, ValidationError
from cartwise.store.backup import (
    DATABASE,
    BackupBackend,
    install_workspace,
    read_manifest,
    register_backup,
)
from cartwise.store.base import Store
from cartwise.store.postgres import PostgresLocation, PostgresStore, _without_password
from cartwise.workspace import IDENTITY

DUMP_FILE = "cartwise.dump"
# The tables whose rows the manifest counts and a restore checks.
_COUNTED = ("items", "events", "api_keys", "audit_log", "impressions", "assistant_turns")
_TOOL_TIMEOUT_S = 3600


def _run(tool: str, args: list[str], *, what: str, conninfo: str) -> None:
    """Run a PostgreSQL client tool on the database of `conninfo`, its password (if any)
    passed in the environment, never on the command line where `ps` shows it."""
    fields = {k: v for k, v in conninfo_to_dict(conninfo).items() if v is not None}
    password = fields.pop("password", None)
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    if password is not None:
        env["PGPASSWORD"] = str(password)
    executable = shutil.which(tool)
    if executable is None:
        raise StoreError(f"{tool} is not installed, so PostgreSQL stores cannot be {what}",
                         hint="install the PostgreSQL client tools of the server's version (Debian: postgresql-client)")
    done = subprocess.run([executable, *args, f"--dbname={make_conninfo(**fields)}"], capture_output=True, text=True,
                          timeout=_TOOL_TIMEOUT_S, check=False, env=env)
    if done.returncode != 0:
        raise StoreError(f"{tool} failed: {_without_password(done.stderr.strip())[-2000:]}",
                         hint="is the server reachable, and pg_dump/pg_restore of a version at least the server's?")


def _facts(conn: psycopg.Connection, schema: str) -> dict[str, Any]:
    meta = dict(conn.execute(
        sql.SQL("SELECT key, value FROM {}.meta WHERE key IN ('schema_version', 'catalog_version', "
                "'events_version', 'store_id')").format(sql.Identifier(schema))).fetchall())
    counts = {}
    for table in _COUNTED:
        exists = conn.execute("SELECT to_regclass(%s)", (f"{schema}.{table}",)).fetchone()
        if exists is not None and exists[0] is not None:
            row = conn.execute(sql.SQL("SELECT COUNT(*) FROM {}.{}").format(sql.Identifier(schema),
                                                                             sql.Identifier(table))).fetchone()
            counts[table] = int(row[0]) if row else 0
    return {"schema_version": int(meta.get("schema_version", 0)), "catalog_version": int(meta.get("catalog_version", 0)),
            "events_version": int(meta.get("events_version", 0)), "counts": counts, "store_id": meta.get("store_id")}


def _postgres_dump(store: Store, location: str, into: Path) -> dict[str, Any]:
    where = PostgresLocation.parse(f"postgresql://{location}")
    with psycopg.connect(where.conninfo, connect_timeout=10) as conn:
        # One snapshot for the counts and the dump: pg_dump joins it with --snapshot.
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot_row = conn.execute("SELECT pg_export_snapshot()").fetchone()
        assert snapshot_row is not None
        facts = _facts(conn, where.schema)
        _run("pg_dump", ["--format=custom", f"--schema={where.schema}", "--no-owner", "--no-privileges",
                         f"--snapshot={snapshot_row[0]}", f"--file={into / DUMP_FILE}"],
             what="backed up", conninfo=where.conninfo)
        conn.execute("COMMIT")
    facts.pop("store_id", None)
    return {**facts, "schema": where.schema, "dump": DUMP_FILE}


def _scratch_database(conninfo: str) -> tuple[str, str]:
    """Make a scratch database on the target's server: (its name, its conninfo)."""
    name = f"cw_restore_{uuid.uuid4().hex[:16]}"
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.errors.InsufficientPrivilege as exc:
        raise StoreError("restoring a PostgreSQL backup needs a role that may create a scratch database "
                         f"(CREATEDB): {exc}".strip(),
                         hint="ALTER ROLE <role> CREATEDB, or restore as a role that has it") from exc
    fields = conninfo_to_dict(conninfo)
    fields["dbname"] = name
    return name, make_conninfo(**{k: v for k, v in fields.items() if v is not None})


def _drop_database(conninfo: str, name: str) -> None:
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _schema_holds_anything(conn: psycopg.Connection, schema: str) -> bool:
    row = conn.execute("SELECT COUNT(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                       "WHERE n.nspname = %s", (schema,)).fetchone()
    return bool(row and row[0])


def _postgres_restore(backup: Path, location: str, force: bool) -> None:
    manifest = read_manifest(backup)
    source_schema = str(manifest.get("schema") or "")
    dump = backup / DATABASE / str(manifest.get("dump") or DUMP_FILE)
    if not source_schema or not dump.is_file():
        raise ValidationError(f"{backup} holds no PostgreSQL dump", field="source",
                              hint="pass a backup written by `cartwise backup --store postgresql://...`")
    where = PostgresLocation.parse(f"postgresql://{location}")
    target = where.schema
    workspace = where.workspace
    with psycopg.connect(where.conninfo, autocommit=True, connect_timeout=10) as conn:
        occupied = _schema_holds_anything(conn, target)
    workspace_used = workspace.exists() and (not workspace.is_dir() or any(workspace.iterdir()))
    if (occupied or workspace_used) and not force:
        held = f"schema {target} of {where.server}" if occupied else f"the workspace {workspace}"
        raise ValidationError(f"{held} is not empty; restoring would replace the store there", field="store",
                              hint="restore into a new ?schema= (and workspace), or pass --force to replace it")
    if workspace.exists() and not workspace.is_dir():
        raise ValidationError(f"{workspace} exists and is not a directory", field="store")

    staged = f"cw_restoring_{uuid.uuid4().hex[:16]}"
    scratch_name, scratch = _scratch_database(where.conninfo)
    try:
        with tempfile.TemporaryDirectory(prefix=".cartwise-pg-restore-") as tmp:
            _run("pg_restore", ["--no-owner", "--no-privileges", "--exit-on-error", str(dump)],
                 what="restored", conninfo=scratch)
            with psycopg.connect(scratch, autocommit=True) as conn:
                conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(source_schema),
                                                                          sql.Identifier(staged)))
                found = _facts(conn, staged)["counts"]
            expected = manifest.get("counts", {})
            if {k: found.get(k) for k in expected} != expected:
                raise StoreError(f"the backup's dump holds {found}, its manifest says {expected}",
                                 hint="restore another backup")
            renamed = Path(tmp) / "renamed.dump"
            _run("pg_dump", ["--format=custom", f"--schema={staged}", "--no-owner", "--no-privileges",
                             f"--file={renamed}"], what="restored", conninfo=scratch)
            _run("pg_restore", ["--no-owner", "--no-privileges", "--exit-on-error", str(renamed)],
                 what="restored", conninfo=where.conninfo)
    except BaseException:
        _drop_schema(where.conninfo, staged)
        raise
    finally:
        _drop_database(where.conninfo, scratch_name)

    building = _build_workspace(backup, workspace, manifest, target, where.server)
    replaced = f"cw_replaced_{uuid.uuid4().hex[:16]}"
    try:
        with psycopg.connect(where.conninfo, autocommit=True) as conn, conn.transaction():
            exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (target,)).fetchone()
            if exists:
                conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(target),
                                                                          sql.Identifier(replaced)))
            conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(staged),
                                                                      sql.Identifier(target)))
            if exists:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(replaced)))
    except BaseException:
        _drop_schema(where.conninfo, staged)
        shutil.rmtree(building, ignore_errors=True)
        raise
    if workspace.exists():
        old = workspace.with_name(f".{workspace.name}.replaced-{os.getpid()}")
        os.replace(workspace, old)
        os.replace(building, workspace)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(building, workspace)
    # Opens (and migrates a backup of an older schema), checking the workspace is its own.
    PostgresStore(where.conninfo, schema=target, workspace=workspace, create=False, pool_size=1,
                  server=where.server).close()


def _build_workspace(backup: Path, workspace: Path, manifest: dict[str, Any], schema: str, server: str) -> Path:
    workspace.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{workspace.name}.restoring-", dir=workspace.parent))
    install_workspace(backup, building)
    identity = {"store_id": manifest["store_id"], "backend": "postgresql", "server": server, "schema": schema}
    (building / IDENTITY).write_text(json.dumps(identity, indent=2) + "\n")
    return building


def _drop_schema(conninfo: str, schema: str) -> None:
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    except psycopg.Error:
        pass  # the restore's own error is the one to report


register_backup(BackupBackend("postgresql", dump=_postgres_dump, restore=_postgres_restore))

__all__ = ["DUMP_FILE"]
