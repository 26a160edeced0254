"""A store in one schema of a PostgreSQL database, for several processes and hosts.

Opened by :func:`cartwise.store.open_store` for ``postgresql://`` (or ``postgres://``) URLs::

    postgresql://[user[:password]@]host[:port]/database?schema=shop1&workspace=/srv/cartwise/shop1

``schema`` (default ``cartwise``) holds the store's tables, so one server keeps several
stores that never see each other's rows. ``workspace`` is the local directory of the files
that are not rows (models, embeddings, reports; :class:`cartwise.workspace.Workspace`);
without it the directory is ``$CARTWISE_WORKSPACE_ROOT/postgresql/<host>-<port>/<database>/<schema>``
(the root defaults to ``$XDG_DATA_HOME/cartwise``, i.e. ``~/.local/share/cartwise``), and
its ``store.json`` names the store it belongs to, so a workspace is never shared by two
stores. ``pool_size`` (default 8) bounds the connections one process holds; every other
query parameter goes to libpq unchanged (``sslmode``, ``connect_timeout``, ...).

The schema comes from the same migration history as the SQLite store. Items and events
arrive by COPY into a session's staging table (a batch of up to 500 rows, such as one
event from the HTTP API, as arrays in the statement instead) and move into place with one
``INSERT ... SELECT ... ON CONFLICT``, inside the caller's transaction, so a crash mid-ingest
leaves no partial batch; large reads leave the server by COPY as CSV, parsed by polars.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import polars as pl
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from cartwise.errors import StoreError, ValidationError
from cartwise.events.event import now_ms
from cartwise.store import assistant_rows
from cartwise.store.base import (
    AuditEntry,
    IngestRun,
    StoredExperiment,
    StoredKey,
    StoreStats,
)
from cartwise.store.connections import ConnectionPool
from cartwise.store.frames import (
    EVENT_SCHEMA,
    IMPRESSION_ITEM_SCHEMA,
    IMPRESSION_SCHEMA,
    ITEM_SCHEMA,
    LOGGED_EVENT_SCHEMA,
    SHOWN_SCHEMA,
    conform,
)
from cartwise.store.migrations import (
    POSTGRESQL,
    SCHEMA_VERSION,
    initial_meta,
    migration_statements,
)
from cartwise.store.registry import register_store
from cartwise.workspace import Workspace

DEFAULT_SCHEMA = "cartwise"
DEFAULT_POOL_SIZE = 8
WORKSPACE_ROOT_ENV = "CARTWISE_WORKSPACE_ROOT"
# The server the contract suite makes its scratch schemas on ("" turns it off).
TEST_SERVER_ENV = "CARTWISE_TEST_POSTGRESQL"
DEFAULT_TEST_SERVER = "postgresql://127.0.0.1:5432/test"
# Lower case only, so the name needs no quoting anywhere (search_path, pg_dump -n, psql).
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# Rows per COPY chunk: bounds the CSV text held in memory for a large ingest.
_COPY_ROWS = 100_000
# Up to this many rows go in the INSERT itself as arrays: for one event (an HTTP write)
# a COPY into a staging table costs several round trips more than the write.
_SMALL_BATCH = 500
_PG_TYPES = {pl.Utf8(): "TEXT", pl.Int64(): "BIGINT", pl.Float64(): "DOUBLE PRECISION"}
# Text sorts byte-wise as in SQLite, whatever the database's collation.
_BYTES = 'COLLATE "C"'

_ITEM_COLUMNS = list(ITEM_SCHEMA)
_EVENT_COLUMNS = list(EVENT_SCHEMA)
# in_stock is stored as 0/1, as in SQLite, so both back ends share the migrations.
_STORED_ITEM_SCHEMA = {**ITEM_SCHEMA, "in_stock": pl.Int64()}
_STAGED_ITEM_SCHEMA = {"seq": pl.Int64(), **_STORED_ITEM_SCHEMA}
_FLAG_SCHEMA = {"user_id": pl.Utf8(), "reason": pl.Utf8(), "peak_per_minute": pl.Int64(), "flagged_ms": pl.Int64()}


@dataclass(frozen=True)
class PostgresLocation:
    """A ``postgresql://`` URL taken apart: what libpq gets, and what Cartwise keeps."""

    conninfo: str
    schema: str
    workspace: Path
    pool_size: int
    # host:port/database, for messages: never the password.
    server: str

    @classmethod
    def parse(cls, url: str) -> PostgresLocation:
        parts = urlsplit(url)
        params = parse_qsl(parts.query, keep_blank_values=True)
        ours = {k: v for k, v in params if k in ("schema", "workspace", "pool_size")}
        libpq = [(k, v) for k, v in params if k not in ours]
        conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(libpq), ""))
        try:
            fields = conninfo_to_dict(conninfo)
        except psycopg.ProgrammingError as exc:
            raise StoreError(f"not a valid PostgreSQL URL: {_without_password(str(exc))}",
                             hint="postgresql://user@host:5432/database?schema=NAME") from exc
        host = str(fields.get("host") or "localhost")
        port = str(fields.get("port") or "5432")
        database = str(fields.get("dbname") or fields.get("user") or os.environ.get("USER", "postgres"))
        schema = ours.get("schema", DEFAULT_SCHEMA)
        if not _SCHEMA_NAME.match(schema) or schema.startswith("pg_"):
            raise ValidationError(
                f"schema={schema!r} is not a schema name Cartwise uses",
                field="schema",
                hint="lower-case letters, digits and _, starting with a letter or _, at most 63, not pg_...",
            )
        try:
            pool_size = int(ours.get("pool_size", DEFAULT_POOL_SIZE))
        except ValueError:
            pool_size = 0
        if not 1 <= pool_size <= 1000:
            raise ValidationError(f"pool_size={ours['pool_size']!r} is not a number of connections from 1 to 1000",
                                  field="pool_size", hint="e.g. pool_size=8")
        if "workspace" in ours:
            if not ours["workspace"]:
                raise ValidationError("workspace= names no directory", field="workspace", hint="workspace=/srv/cw")
            workspace = Path(ours["workspace"]).expanduser().absolute()
        else:
            workspace = default_workspace(host, port, database, schema)
        return cls(conninfo, schema, workspace, pool_size, f"{host}:{port}/{database}")


def default_workspace(host: str, port: str, database: str, schema: str) -> Path:
    """Where a store's files live when its URL names no ``workspace``."""
    root = os.environ.get(WORKSPACE_ROOT_ENV)
    if not root:
        root = str(Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "cartwise")

    def safe(part: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]", "_", part) or "_"

    return Path(root).expanduser().absolute() / "postgresql" / f"{safe(host)}-{safe(port)}" / safe(database) / schema


def _without_password(text: str) -> str:
    return re.sub(r"(password\s*=\s*)\S+|(//[^:/@]*:)[^@]*@", lambda m: (m[1] or m[2]) + "***" + ("@" if m[2] else ""),
                  text)


def _csv(frame: pl.DataFrame) -> Iterator[bytes]:
    """The frame as COPY's CSV: strings quoted (so "" is an empty string), nulls bare."""
    for start in range(0, frame.height, _COPY_ROWS):
        chunk = frame.slice(start, _COPY_ROWS)
        yield chunk.write_csv(include_header=False, quote_style="non_numeric").encode()


class PostgresStore(assistant_rows.AssistantTables):
    """A store in a PostgreSQL schema; safe to share between threads (each borrows a
    connection of the store's pool, or uses its own inside a transaction)."""

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        workspace: Path | str,
        create: bool = True,
        pool_size: int = DEFAULT_POOL_SIZE,
        server: str | None = None,
    ) -> None:
        self.schema = schema
        self.server = server or "the PostgreSQL server"
        self._conninfo = conninfo
        fields = conninfo_to_dict(conninfo)
        # A server that does not answer fails an open in 10 s unless the URL says otherwise.
        self._connect_timeout = {} if fields.get("connect_timeout") else {"connect_timeout": 10}
        self._local = threading.local()
        self._store_id = self._migrate(create=create)
        self.workspace = self._claim_workspace(Workspace(Path(workspace)))
        self.path = self.workspace.root
        # Unqualified names are the store's tables; public after them for extensions' types.
        options = f"{fields.get('options') or ''} -c search_path={schema},public".strip()
        # Each session names its store in pg_stat_activity, unless the URL names it otherwise.
        named = {} if fields.get("application_name") else {"application_name": f"cartwise/{schema}"}
        self._pool = ConnectionPool(
            conninfo, max_size=pool_size, autocommit=True, options=options, **self._connect_timeout, **named
        )

    # connections -----------------------------------------------------------------

    def _where(self) -> str:
        return f"schema {self.schema} of {self.server}"

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self._conninfo, autocommit=True, **self._connect_timeout)
        except psycopg.OperationalError as exc:
            raise StoreError(
                f"cannot connect to PostgreSQL at {self.server}: {_without_password(str(exc).strip())}",
                hint="is the server running and the URL right? postgresql://user@host:5432/database?schema=NAME",
            ) from exc

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        """The thread's transaction connection inside `transaction()`, else one from the pool."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            yield conn
            return
        with ExitStack() as stack:
            try:
                conn = stack.enter_context(self._pool.connection())
            except psycopg.OperationalError as exc:
                raise StoreError(
                    f"cannot connect to PostgreSQL at {self.server}: {_without_password(str(exc).strip())}",
                    hint="is the server up? retry shortly",
                ) from exc
            try:
                yield conn
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                if not conn.broken and not conn.closed:
                    raise  # a query's own failure (a lock timeout...): not the server going away
                # The server went away under the query (a restart, a crash, the network): the
                # pool drops this connection; the caller may retry on a new one.
                raise StoreError(
                    f"lost the connection to PostgreSQL at {self.server}: {_without_password(str(exc).strip())}",
                    hint="is the server up? retry shortly",
                ) from exc

    @contextmanager
    def advisory_lock(self, name: str, *, wait_s: float = 0.0) -> Iterator[None]:
        """Hold PostgreSQL's session advisory lock `name` for this schema for the block, on
        a connection of its own (the server lets go if this process dies); wait up to
        `wait_s` seconds for another holder, then raise :class:`~cartwise.trainlock.TrainerBusy`."""
        from cartwise.store.trainlock import busy

        key = f"cartwise.{name}:{self.schema}"
        # The holder names itself, so a refused trainer can say who holds the lock (max 63 bytes).
        me = f"cw {name} {self.schema} {os.getpid()} {socket.gethostname()}"[:63]
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True, application_name=me, **self._connect_timeout)
        except psycopg.OperationalError as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {self.server}: {_without_password(str(exc).strip())}",
                             hint="is the server up? retry shortly") from exc
        try:
            deadline = time.monotonic() + wait_s
            while not conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()[0]:  # type: ignore[index]
                if time.monotonic() >= deadline:
                    row = conn.execute(
                        "SELECT application_name, backend_start FROM pg_stat_activity WHERE application_name "
                        "LIKE %s AND pid <> pg_backend_pid() ORDER BY backend_start LIMIT 1",
                        (f"cw {name} {self.schema} %",),
                    ).fetchone()
                    holder = None
                    if row:
                        _, _, _, pid, host = (row[0].split(" ", 4) + ["?"] * 5)[:5]
                        holder = f"{host} pid {pid} since {row[1]:%Y-%m-%dT%H:%M:%S%z}"
                    raise busy(f"{self._where()}", holder, wait_s)
                time.sleep(0.2)
            try:
                yield
            finally:
                if not conn.broken:
                    conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        with self._connection() as conn:
            self._local.conn = conn
            self._local.bumps = set()
            self._local.staged = set()
            self._local.stamp = None
            try:
                with conn.transaction():
                    yield
                    # In a fixed order, so two writers never wait on each other's meta rows.
                    for key in sorted(self._local.bumps):
                        conn.execute(
                            "UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) WHERE key = %s", (key,)
                        )
            finally:
                self._local.conn = None
                self._local.bumps = set()
                self._local.staged = set()
                self._local.stamp = None

    def _bump(self, key: str) -> None:
        self._local.bumps.add(key)

    def _events_stamp(self, conn: psycopg.Connection) -> int:
        """The events version this transaction will leave the store at, taking the events
        writers' turn first (held to commit): so stamps follow commit order, and a reader
        that sees events version V sees every event stamped V or less."""
        stamp = self._local.stamp
        if stamp is None:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"cartwise.events:{self.schema}",))
            row = conn.execute("SELECT value FROM meta WHERE key = 'events_version'").fetchone()
            stamp = self._local.stamp = int(row[0]) + 1  # type: ignore[index]
        return stamp

    def close(self) -> None:
        self._pool.close()

    # schema ------------------------------------------------------------------------

    def _migrate(self, *, create: bool) -> str:
        conn = self._connect()
        try:
            with conn.transaction():
                # Processes opening one store at once migrate it one after the other.
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"cartwise.store:{self.schema}",))
                exists = conn.execute("SELECT to_regclass(%s)", (f"{self.schema}.meta",)).fetchone()
                version = 0
                if exists is not None and exists[0] is not None:
                    row = conn.execute(
                        sql.SQL("SELECT value FROM {}.meta WHERE key = 'schema_version'").format(
                            sql.Identifier(self.schema)
                        )
                    ).fetchone()
                    version = int(row[0]) if row else 0
                elif not create:
                    raise StoreError(
                        f"no Cartwise store in {self._where()}",
                        hint="create one with `cartwise ingest items ... --store URL`, or check ?schema=",
                    )
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"the store in {self._where()} has schema version {version}, "
                        f"this Cartwise knows up to {SCHEMA_VERSION}",
                        hint="upgrade Cartwise to open this store",
                    )
                schema = sql.Identifier(self.schema)
                if version < SCHEMA_VERSION:
                    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
                    conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(schema))
                    for step in range(version, SCHEMA_VERSION):
                        for statement in migration_statements(step, POSTGRESQL):
                            conn.execute(statement)  # type: ignore[arg-type]  # our own SQL, no parameters
                    for key, value in initial_meta().items():
                        conn.execute(
                            "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING", (key, value)
                        )
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (str(SCHEMA_VERSION),),
                    )
                row = conn.execute(
                    sql.SQL("SELECT value FROM {}.meta WHERE key = 'store_id'").format(schema)
                ).fetchone()
        except psycopg.Error as exc:
            raise StoreError(f"cannot open the store in {self._where()}: {exc}".strip(),
                             hint="does this role may create schemas and tables in that database?") from exc
        finally:
            conn.close()
        assert row is not None
        return str(row[0])

    def _claim_workspace(self, workspace: Workspace) -> Workspace:
        """Make the workspace, or check that it is this store's (never a SQLite store's
        directory, nor the workspace of a store since dropped and made again)."""
        root = workspace.root
        if root.exists() and not root.is_dir():
            raise StoreError(f"the workspace {root} exists and is not a directory", hint="pass ?workspace=DIR")
        if (root / "cartwise.db").exists():
            raise StoreError(f"the workspace {root} is a SQLite store's directory",
                             hint="pass ?workspace= a directory of its own")
        identity = {"store_id": self.store_id, "backend": "postgresql", "server": self.server, "schema": self.schema}
        path = workspace.identity_path
        if path.exists():
            try:
                found = json.loads(path.read_text())["store_id"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise StoreError(f"{path} is unreadable: {exc}",
                                 hint="remove it if the workspace is this store's") from exc
            if found != self.store_id:
                raise StoreError(
                    f"the workspace {root} belongs to another store (id {found}; this one is {self.store_id})",
                    hint="pass ?workspace= another directory, or remove the old one if its store is gone",
                )
            return workspace.create()
        workspace.create()
        staging = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        staging.write_text(json.dumps(identity, indent=2) + "\n")
        staging.replace(path)
        return workspace

    def _meta(self, key: str) -> str | None:
        with self._connection() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        return str(row[0]) if row else None

    @property
    def store_id(self) -> str:
        return self._store_id

    def versions(self) -> tuple[int, int]:
        with self._connection() as conn:
            rows = dict(
                conn.execute(
                    "SELECT key, value FROM meta WHERE key IN ('catalog_version', 'events_version')"
                ).fetchall()
            )
        return int(rows.get("catalog_version", 0)), int(rows.get("events_version", 0))

    # writes ------------------------------------------------------------------------

    def _stage(self, conn: psycopg.Connection, name: str, frame: pl.DataFrame) -> tuple[sql.Composable, list[object]]:
        """Where an INSERT ... SELECT reads `frame` from, with that source's parameters: a
        batch of up to _SMALL_BATCH rows as arrays unnested in the statement itself, a larger
        one COPYed into the session's temporary table `name` (emptied at commit)."""
        table = sql.Identifier(name)
        if frame.height <= _SMALL_BATCH:
            arrays = sql.SQL(", ").join(
                sql.SQL("%s::{}[]").format(sql.SQL(_PG_TYPES[dtype])) for dtype in frame.schema.values()
            )
            names = sql.SQL(", ").join(map(sql.Identifier, frame.columns))
            source = sql.SQL("unnest({}) AS {} ({})").format(arrays, table, names)
            return source, [column.to_list() for column in frame.iter_columns()]
        if name in self._local.staged:
            conn.execute(sql.SQL("DELETE FROM {}").format(table))
        else:
            columns = sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(_PG_TYPES[dtype]))
                for c, dtype in frame.schema.items()
            )
            conn.execute(
                sql.SQL("CREATE TEMPORARY TABLE IF NOT EXISTS {} ({}) ON COMMIT DELETE ROWS").format(table, columns)
            )
            conn.execute(sql.SQL("DELETE FROM {}").format(table))
            self._local.staged.add(name)
        names = sql.SQL(", ").join(map(sql.Identifier, frame.columns))
        with conn.cursor() as cursor, cursor.copy(
            sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(table, names)
        ) as copy:
            for chunk in _csv(frame):
                copy.write(chunk)
        return table, []

    def upsert_items(self, items: pl.DataFrame) -> int:
        if items.is_empty():
            return 0
        frame = (
            conform(items, ITEM_SCHEMA)
            .with_columns(pl.col("in_stock").fill_null(True).cast(pl.Int64))
            .with_row_index("seq")
            .with_columns(pl.col("seq").cast(pl.Int64))
        )
        updated = [sql.Identifier(c) for c in _ITEM_COLUMNS[1:]]
        # The last row of an id wins, as when SQLite applies the rows one after another.
        statement = sql.SQL(
            "INSERT INTO items ({columns}, updated_ms) "
            "SELECT DISTINCT ON (item_id) {columns}, %s::bigint FROM {source} ORDER BY item_id, seq DESC "
            "ON CONFLICT (item_id) DO UPDATE SET {sets}, updated_ms = excluded.updated_ms, deleted = 0 "
            "WHERE items.deleted = 1 OR {changed}"
        )
        with self.transaction(), self._connection() as conn:
            source, params = self._stage(conn, "_items_in", frame.select(list(_STAGED_ITEM_SCHEMA)))
            query = statement.format(
                columns=sql.SQL(", ").join(map(sql.Identifier, _ITEM_COLUMNS)),
                source=source,
                sets=sql.SQL(", ").join(sql.SQL("{0} = excluded.{0}").format(c) for c in updated),
                changed=sql.SQL(" OR ").join(
                    sql.SQL("items.{0} IS DISTINCT FROM excluded.{0}").format(c) for c in updated
                ),
            )
            written = conn.execute(query, (now_ms(), *params)).rowcount
            if written:
                self._bump("catalog_version")
        return max(written, 0)

    def delete_items(self, item_ids: Sequence[str]) -> int:
        ids = list(dict.fromkeys(item_ids))
        if not ids:
            return 0
        with self.transaction(), self._connection() as conn:
            deleted = conn.execute(
                "UPDATE items SET deleted = 1, updated_ms = %s WHERE item_id = ANY(%s::text[]) AND deleted = 0",
                (now_ms(), ids),
            ).rowcount
            if deleted:
                self._bump("catalog_version")
        return max(deleted, 0)

    def insert_events(self, events: pl.DataFrame) -> int:
        if events.is_empty():
            return 0
        frame = conform(events, EVENT_SCHEMA)
        columns = sql.SQL(", ").join(map(sql.Identifier, _EVENT_COLUMNS))
        with self.transaction(), self._connection() as conn:
            stamp = self._events_stamp(conn)
            source, params = self._stage(conn, "_events_in", frame)
            added = conn.execute(
                sql.SQL(
                    "INSERT INTO events ({c}, committed) SELECT {c}, %s::bigint FROM {source} ORDER BY event_key "
                    "ON CONFLICT (event_key) DO NOTHING"
                ).format(c=columns, source=source),
                [stamp, *params],
            ).rowcount
            if added:
                self._bump("events_version")
        return max(added, 0)

    def insert_impressions(self, impressions: pl.DataFrame, items: pl.DataFrame) -> int:
        if impressions.is_empty():
            return 0
        head = conform(impressions, IMPRESSION_SCHEMA)
        shown = conform(items, IMPRESSION_ITEM_SCHEMA)
        head_columns = sql.SQL(", ").join(map(sql.Identifier, IMPRESSION_SCHEMA))
        item_columns = sql.SQL(", ").join(map(sql.Identifier, IMPRESSION_ITEM_SCHEMA))
        with self.transaction(), self._connection() as conn:
            source, params = self._stage(conn, "_impressions_in", head)
            added = conn.execute(
                sql.SQL(
                    "INSERT INTO impressions ({c}) SELECT {c} FROM {source} ON CONFLICT (request_id) DO NOTHING"
                ).format(c=head_columns, source=source),
                params,
            ).rowcount
            if not shown.is_empty():
                source, params = self._stage(conn, "_impression_items_in", shown)
                conn.execute(
                    sql.SQL(
                        "INSERT INTO impression_items ({c}) SELECT {c} FROM {source} "
                        "ON CONFLICT (request_id, position) DO NOTHING"
                    ).format(c=item_columns, source=source),
                    params,
                )
        return max(added, 0)

    def impressions_of(self, request_ids: Sequence[str]) -> pl.DataFrame:
        ids = list(dict.fromkeys(request_ids))
        if not ids:
            return pl.DataFrame(schema=SHOWN_SCHEMA)
        return self._frame(
            "SELECT i.request_id, i.ts, i.placement, i.user_id, s.position, s.item_id FROM impressions i "
            "JOIN impression_items s ON s.request_id = i.request_id WHERE i.request_id = ANY(%s::text[]) "
            f"ORDER BY i.request_id {_BYTES}, s.position",
            (ids,),
            SHOWN_SCHEMA,
        )

    def flag_users(self, flags: pl.DataFrame) -> int:
        if flags.is_empty():
            return 0
        # One row per user (its highest peak), as SQLite's row-by-row upsert would leave it.
        rows = (
            flags.select(
                pl.col("user_id").cast(pl.Utf8),
                pl.col("reason").cast(pl.Utf8),
                pl.col("peak_per_minute").cast(pl.Int64),
            )
            .sort("peak_per_minute", descending=True, nulls_last=True, maintain_order=True)
            .unique("user_id", keep="first", maintain_order=True)
        )
        with self.transaction(), self._connection() as conn:
            self._events_stamp(conn)  # it bumps the events version: in turn with the events' writers
            changed = conn.execute(
                "INSERT INTO flagged_users (user_id, reason, peak_per_minute, flagged_ms) "
                "SELECT u, r, p, %s::bigint FROM unnest(%s::text[], %s::text[], %s::bigint[]) AS f (u, r, p) "
                "ON CONFLICT (user_id) DO UPDATE SET reason = excluded.reason, "
                "peak_per_minute = GREATEST(COALESCE(flagged_users.peak_per_minute, 0), excluded.peak_per_minute) "
                "WHERE excluded.peak_per_minute > COALESCE(flagged_users.peak_per_minute, 0)",
                (now_ms(), rows["user_id"].to_list(), rows["reason"].to_list(), rows["peak_per_minute"].to_list()),
            ).rowcount
            if changed:
                self._bump("events_version")
        return max(changed, 0)

    def record_ingest(self, run: IngestRun) -> int:
        with self.transaction(), self._connection() as conn:
            row = conn.execute(
                "INSERT INTO ingest_runs (kind, source, started_ms, finished_ms, rows_read, rows_written, "
                "rows_rejected, rows_duplicate, report_path) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "RETURNING run_id",
                (
                    run.kind,
                    run.source,
                    run.started_ms,
                    run.finished_ms,
                    run.rows_read,
                    run.rows_written,
                    run.rows_rejected,
                    run.rows_duplicate,
                    run.report_path,
                ),
            ).fetchone()
        assert row is not None
        return int(row[0])

    # reads -------------------------------------------------------------------------

    def _frame(
        self, query: sql.Composable | str, params: Sequence[object], schema: dict[str, pl.DataType]
    ) -> pl.DataFrame:
        """A small result, fetched as rows."""
        with self._connection() as conn:
            rows = conn.execute(query, tuple(params)).fetchall()  # type: ignore[arg-type]
        return pl.DataFrame(rows, schema=schema, orient="row")

    def _copy_frame(self, query: sql.Composable, schema: dict[str, pl.DataType]) -> pl.DataFrame:
        """A large result (a table), sent by COPY as CSV and parsed by polars: several
        times faster than fetching rows into Python objects."""
        buffer = io.BytesIO()
        with self._connection() as conn, conn.cursor() as cursor, cursor.copy(
            sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(query)
        ) as copy:
            for chunk in copy:
                buffer.write(chunk)
        if not buffer.tell():
            return pl.DataFrame(schema=schema)
        buffer.seek(0)
        return pl.read_csv(buffer, has_header=False, schema=schema, infer_schema=False)

    def _select(self, columns: Sequence[str], table: str, rest: str = "") -> sql.Composed:
        return sql.SQL("SELECT {} FROM {} " + rest).format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(table)
        )

    def items(self, *, include_deleted: bool = False) -> pl.DataFrame:
        where = "" if include_deleted else "WHERE deleted = 0"
        frame = self._copy_frame(
            self._select(_ITEM_COLUMNS, "items", f"{where} ORDER BY item_id {_BYTES}"), _STORED_ITEM_SCHEMA
        )
        return frame.with_columns(pl.col("in_stock").cast(pl.Boolean))

    def get_items(self, item_ids: Sequence[str]) -> pl.DataFrame:
        ids = list(dict.fromkeys(item_ids))
        if not ids:
            return pl.DataFrame(schema=ITEM_SCHEMA)
        frame = self._frame(
            self._select(
                _ITEM_COLUMNS, "items", f"WHERE deleted = 0 AND item_id = ANY(%s::text[]) ORDER BY item_id {_BYTES}"
            ),
            (ids,),
            _STORED_ITEM_SCHEMA,
        )
        return frame.with_columns(pl.col("in_stock").cast(pl.Boolean))

    def item_ids(self, *, include_deleted: bool = False) -> set[str]:
        where = "" if include_deleted else "WHERE deleted = 0"
        with self._connection() as conn:
            return {row[0] for row in conn.execute(f"SELECT item_id FROM items {where}")}  # type: ignore[arg-type]

    def events(self, *, exclude_flagged: bool = True) -> pl.DataFrame:
        where = "WHERE user_id NOT IN (SELECT user_id FROM flagged_users)" if exclude_flagged else ""
        # By key, the order SQLite keeps them in (its rowid), so both back ends train alike.
        return self._copy_frame(self._select(_EVENT_COLUMNS, "events", f"{where} ORDER BY event_key"), EVENT_SCHEMA)

    def user_events(self, user_id: str, *, limit: int = 100) -> pl.DataFrame:
        return self._frame(
            self._select(_EVENT_COLUMNS, "events", "WHERE user_id = %s ORDER BY ts DESC, event_key DESC LIMIT %s"),
            (user_id, int(limit)),
            EVENT_SCHEMA,
        )

    def commits_since(self, version: int, *, limit: int = 1000) -> list[tuple[int, int]]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT committed, COUNT(*) FROM events WHERE committed > %s GROUP BY committed "
                "ORDER BY committed LIMIT %s",
                (int(version), int(limit)),
            ).fetchall()
        return [(int(v), int(n)) for v, n in rows]

    def events_since(self, version: int, *, through: int) -> pl.DataFrame:
        return self._frame(
            self._select(
                [*_EVENT_COLUMNS, "committed"], "events",
                "WHERE committed > %s AND committed <= %s ORDER BY committed, event_key",
            ),
            (int(version), int(through)),
            LOGGED_EVENT_SCHEMA,
        )

    def recent_events(self, user_ids: Sequence[str], *, limit: int = 100) -> pl.DataFrame:
        users = list(dict.fromkeys(user_ids))
        if not users:
            return pl.DataFrame(schema=EVENT_SCHEMA)
        columns = sql.SQL(", ").join(map(sql.Identifier, _EVENT_COLUMNS))
        return self._frame(
            sql.SQL(
                "SELECT {c} FROM (SELECT {c}, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY ts DESC, event_key DESC) "
                "AS newest FROM events WHERE user_id = ANY(%s::text[])) AS recent WHERE newest <= %s "
                "ORDER BY user_id {b}, ts DESC, event_key DESC"
            ).format(c=columns, b=sql.SQL(_BYTES)),
            (users, int(limit)),
            EVENT_SCHEMA,
        )

    def impressions(self, *, since_ms: int | None = None) -> pl.DataFrame:
        since = since_ms if since_ms is not None else -(2**62)
        return self._copy_frame(
            sql.SQL("SELECT {} FROM impressions WHERE ts >= {} ORDER BY ts, request_id {}").format(
                sql.SQL(", ").join(map(sql.Identifier, IMPRESSION_SCHEMA)), sql.Literal(int(since)), sql.SQL(_BYTES)
            ),
            IMPRESSION_SCHEMA,
        )

    def impression_items(self, *, since_ms: int | None = None) -> pl.DataFrame:
        since = since_ms if since_ms is not None else -(2**62)
        return self._copy_frame(
            sql.SQL(
                "SELECT {} FROM impression_items s JOIN impressions i ON i.request_id = s.request_id "
                "WHERE i.ts >= {} ORDER BY i.ts, s.request_id {}, s.position"
            ).format(
                sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(c)) for c in IMPRESSION_ITEM_SCHEMA),
                sql.Literal(int(since)),
                sql.SQL(_BYTES),
            ),
            IMPRESSION_ITEM_SCHEMA,
        )

    def popular_queries(self, *, limit: int = 1000) -> list[tuple[str, float]]:
        # SQLite's lower() folds ASCII letters only; translate() does the same here, so
        # both back ends count the same queries as one.
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT q, n FROM (SELECT translate(btrim(query, ' '), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', "
                "'abcdefghijklmnopqrstuvwxyz') AS q, COUNT(*) AS n FROM events "
                "WHERE event_type = 'search' AND query IS NOT NULL AND btrim(query, ' ') != '' "
                "AND user_id NOT IN (SELECT user_id FROM flagged_users) GROUP BY 1) AS counted "
                f"ORDER BY n DESC, q {_BYTES} LIMIT %s",
                (int(limit),),
            ).fetchall()
        return [(str(q), float(n)) for q, n in rows]

    def flagged_users(self) -> pl.DataFrame:
        return self._frame(
            f"SELECT user_id, reason, peak_per_minute, flagged_ms FROM flagged_users ORDER BY user_id {_BYTES}",
            (),
            _FLAG_SCHEMA,
        )

    def ingest_runs(self, *, limit: int = 20) -> list[IngestRun]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT run_id, kind, source, started_ms, finished_ms, rows_read, rows_written, rows_rejected, "
                "rows_duplicate, report_path FROM ingest_runs ORDER BY run_id DESC LIMIT %s",
                (int(limit),),
            ).fetchall()
        return [IngestRun(*row) for row in rows]

    def stats(self) -> StoreStats:
        with self._connection() as conn:
            items, deleted = conn.execute(
                "SELECT COUNT(*) FILTER (WHERE deleted = 0), COUNT(*) FILTER (WHERE deleted = 1) FROM items"
            ).fetchone() or (0, 0)
            events, first, last, users = conn.execute(
                "SELECT COUNT(*), MIN(ts), MAX(ts), COUNT(DISTINCT user_id) FROM events"
            ).fetchone() or (0, None, None, 0)
            by_type = dict(conn.execute("SELECT event_type, COUNT(*) FROM events GROUP BY event_type").fetchall())
            flagged = (conn.execute("SELECT COUNT(*) FROM flagged_users").fetchone() or (0,))[0]
            impressions = (conn.execute("SELECT COUNT(*) FROM impressions").fetchone() or (0,))[0]
        catalog_version, events_version = self.versions()
        return StoreStats(
            items=int(items),
            deleted_items=int(deleted),
            events=int(events),
            users=int(users),
            events_by_type={str(k): int(v) for k, v in by_type.items()},
            first_event_ms=first,
            last_event_ms=last,
            flagged_users=int(flagged),
            schema_version=int(self._meta("schema_version") or 0),
            catalog_version=catalog_version,
            events_version=events_version,
            impressions=int(impressions),
        )

    # API keys ----------------------------------------------------------------------

    _KEY_COLUMNS = "key_id, prefix, secret_sha256, scope, name, created_ms, revoked_ms, rate_per_s, burst"

    def add_key(self, key: StoredKey) -> StoredKey:
        with self.transaction(), self._connection() as conn:
            row = conn.execute(
                "INSERT INTO api_keys (prefix, secret_sha256, scope, name, created_ms, revoked_ms, rate_per_s, burst) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING key_id",
                (key.prefix, key.secret_sha256, key.scope, key.name, key.created_ms, key.revoked_ms, key.rate_per_s,
                 key.burst),
            ).fetchone()
            self._bump("keys_version")
        assert row is not None
        return replace(key, key_id=int(row[0]))

    def keys(self) -> list[StoredKey]:
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {self._KEY_COLUMNS} FROM api_keys ORDER BY key_id"  # type: ignore[arg-type]
            ).fetchall()
        return [StoredKey(*row) for row in rows]

    def revoke_key(self, key_id: int, revoked_ms: int) -> bool:
        with self.transaction(), self._connection() as conn:
            revoked = conn.execute(
                "UPDATE api_keys SET revoked_ms = %s WHERE key_id = %s AND revoked_ms IS NULL", (revoked_ms, key_id)
            ).rowcount > 0
            if revoked:
                self._bump("keys_version")
        return revoked

    def set_key_rate(self, key_id: int, rate_per_s: float | None, burst: int | None) -> bool:
        with self.transaction(), self._connection() as conn:
            changed = conn.execute(
                "UPDATE api_keys SET rate_per_s = %s, burst = %s WHERE key_id = %s", (rate_per_s, burst, key_id)
            ).rowcount > 0
            if changed:
                self._bump("keys_version")
        return changed

    def keys_version(self) -> int:
        return int(self._meta("keys_version") or 0)

    # audit log ---------------------------------------------------------------------

    _AUDIT_COLUMNS = "audit_id, ts, actor, action, target, detail"

    def add_audit(self, entry: AuditEntry) -> AuditEntry:
        with self._connection() as conn:
            row = conn.execute(
                "INSERT INTO audit_log (ts, actor, action, target, detail) VALUES (%s, %s, %s, %s, %s) "
                "RETURNING audit_id",
                (entry.ts, entry.actor, entry.action, entry.target, entry.detail),
            ).fetchone()
        assert row is not None
        return replace(entry, audit_id=int(row[0]))

    def audit(self, *, since_ms: int | None = None, limit: int = 1000) -> list[AuditEntry]:
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {self._AUDIT_COLUMNS} FROM audit_log WHERE ts >= %s "  # type: ignore[arg-type]
                "ORDER BY audit_id DESC LIMIT %s",
                (since_ms if since_ms is not None else -(2**62), limit),
            ).fetchall()
        return [AuditEntry(*row) for row in reversed(rows)]

    # experiments -------------------------------------------------------------------

    _EXPERIMENT_COLUMNS = "experiment_id, name, status, created_ms, updated_ms, definition"

    def put_experiment(self, experiment: StoredExperiment) -> None:
        with self.transaction(), self._connection() as conn:
            conn.execute(
                f"INSERT INTO experiments ({self._EXPERIMENT_COLUMNS}) "  # type: ignore[arg-type]
                "VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (experiment_id) DO UPDATE SET name = excluded.name, status = excluded.status, "
                "updated_ms = excluded.updated_ms, definition = excluded.definition",
                (experiment.experiment_id, experiment.name, experiment.status, experiment.created_ms,
                 experiment.updated_ms, experiment.definition),
            )
            self._bump("experiments_version")

    def experiments(self) -> list[StoredExperiment]:
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {self._EXPERIMENT_COLUMNS} FROM experiments "  # type: ignore[arg-type]
                "ORDER BY created_ms, experiment_id"
            ).fetchall()
        return [StoredExperiment(*row) for row in rows]

    def experiments_version(self) -> int:
        return int(self._meta("experiments_version") or 0)

    # the assistant's turns and ratings ------------------------------------------------

    _ASSISTANT = assistant_rows.queries("%s")
    _MARKER = "%s"

    def _insert_each(self, statement: str, rows: list[tuple[Any, ...]]) -> int:
        """Run an INSERT for each row in one transaction (pipelined); returns rows added."""
        if not rows:
            return 0
        with self.transaction(), self._connection() as conn, conn.cursor() as cursor:
            cursor.executemany(statement, rows)  # type: ignore[arg-type]
            return cursor.rowcount

    def _fetch(self, statement: str, params: Sequence[object]) -> list[Any]:
        with self._connection() as conn:
            return conn.execute(statement, tuple(params)).fetchall()  # type: ignore[arg-type]


def open_postgres(location: str, *, create: bool) -> PostgresStore:
    """The opener of ``postgresql://`` and ``postgres://`` URLs (`location`: after ``://``)."""
    where = PostgresLocation.parse(f"postgresql://{location}")
    return PostgresStore(
        where.conninfo,
        schema=where.schema,
        workspace=where.workspace,
        create=create,
        pool_size=where.pool_size,
        server=where.server,
    )


def scratch_server() -> str | None:
    """The server tests and benchmarks make scratch stores on (``$CARTWISE_TEST_POSTGRESQL``,
    default ``postgresql://127.0.0.1:5432/test``), or None when it does not answer."""
    server = os.environ.get(TEST_SERVER_ENV, DEFAULT_TEST_SERVER)
    if not server:
        return None
    try:
        psycopg.connect(server, connect_timeout=3).close()
    except psycopg.Error:
        return None
    return server


def _scratch_url(tmp: Path) -> str | None:
    """A new schema on the test server, its workspace under `tmp`."""
    server = scratch_server()
    if server is None:
        return None
    joiner = "&" if "?" in server else "?"
    return f"{server}{joiner}schema=cw_scratch_{uuid.uuid4().hex[:16]}&workspace={quote(str(tmp / 'workspace'))}"


def drop_store(url: str) -> None:
    """Drop the schema of the store a ``postgresql://`` URL names, with all its rows
    (its workspace directory stays: remove it yourself)."""
    where = PostgresLocation.parse(url)
    with psycopg.connect(where.conninfo, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(where.schema)))


register_store(
    ["postgresql", "postgres"],
    open_postgres,
    scratch_url=_scratch_url,
    name="postgresql",
    discard_scratch=drop_store,
    scratch_needs=f"no PostgreSQL server answered at ${TEST_SERVER_ENV} (default {DEFAULT_TEST_SERVER})",
)


__all__ = ["PostgresLocation", "PostgresStore", "default_workspace", "drop_store", "open_postgres", "scratch_server"]
