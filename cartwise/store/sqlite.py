"""The embedded default store: one directory with a SQLite database in WAL mode.

Layout of the directory::

    cartwise.db      items, events, flagged users, ingest runs, API keys (hashed), schema version
    models/          trained models, one sub-directory each, swapped atomically
    reports/         machine-readable ingest reports (rejected rows)
    ...              the other files of :class:`cartwise.workspace.Workspace`

Opened by :func:`cartwise.store.open_store` for ``sqlite://DIRECTORY`` URLs and plain
directory paths.

WAL lets the server keep answering while an ingest or a training run writes; every
ingest is one transaction, so a crash or Ctrl-C leaves the store as it was.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

from cartwise.errors import StoreError, StoreFull
from cartwise.events.event import now_ms
from cartwise.store import assistant_rows
from cartwise.store.base import (
    AuditEntry,
    IngestRun,
    StoredExperiment,
    StoredKey,
    StoreStats,
)
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
    SCHEMA_VERSION,
    SQLITE,
    initial_meta,
    migration_statements,
)
from cartwise.store.registry import register_store
from cartwise.workspace import Workspace

DB_NAME = "cartwise.db"
_ITEM_COLUMNS = list(ITEM_SCHEMA)
_EVENT_COLUMNS = list(EVENT_SCHEMA)
# SQLite limits the number of host parameters per statement; stay well below it.
_IN_BATCH = 900


def _rows(frame: pl.DataFrame) -> Iterator[tuple[object, ...]]:
    """Row tuples for executemany; zipping column lists is faster than iter_rows."""
    return zip(*(column.to_list() for column in frame.iter_columns()), strict=True)


class SQLiteStore(assistant_rows.AssistantTables):
    """A store directory backed by SQLite; safe to share between threads."""

    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        self.path = Path(path)
        db = self.path / DB_NAME
        if not db.exists():
            if not create:
                raise StoreError(
                    f"no Cartwise store at {self.path}",
                    hint="create one with `cartwise ingest items ...` or `cartwise demo`, or pass --store",
                )
            if self.path.exists() and not self.path.is_dir():
                raise StoreError(f"{self.path} exists and is not a directory", hint="pass another --store")
            self.path.mkdir(parents=True, exist_ok=True)
        self._db_path = db
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self.workspace = Workspace(self.path).create()
        self._migrate()
        self._store_id = self._meta("store_id")

    # connections -----------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self._db_path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA cache_size=-65536")
            conn.execute("PRAGMA temp_store=MEMORY")
        except sqlite3.DatabaseError as exc:
            if self._db_path.exists() and not os.access(self._db_path.parent, os.W_OK):
                # WAL needs its -wal and -shm files beside the database, even to read.
                raise StoreFull(f"cannot open {self._db_path}: its directory is read-only ({exc})",
                                hint=f"make {self._db_path.parent} writable (remount it read-write), "
                                "or copy the store somewhere writable") from exc
            raise StoreError(f"cannot open {self._db_path}: {exc}", hint="is it a Cartwise store?") from exc
        return conn

    @property
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            self._local.depth = 0
        return conn

    @contextmanager
    def transaction(self) -> Iterator[None]:
        conn = self._conn
        if self._local.depth:
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        with self._write_lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                full = self._unwritable(exc)
                if full is not None:
                    raise full from exc
                raise
            self._local.depth = 1
            self._local.bumps = set()
            try:
                yield
                for key in sorted(self._local.bumps):
                    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = ?", (key,))
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:  # SQLite may have rolled back by itself (a full disk)
                    conn.execute("ROLLBACK")
                full = self._unwritable(exc) if isinstance(exc, sqlite3.OperationalError) else None
                if full is not None:
                    raise full from exc
                raise
            finally:
                self._local.depth = 0
                self._local.bumps = set()

    def _unwritable(self, exc: sqlite3.OperationalError) -> StoreFull | None:
        """A clear error for a write the filesystem refused (full, read-only), else None."""
        code = getattr(exc, "sqlite_errorcode", None)
        text = str(exc).lower()
        where = self._db_path.parent
        if code == sqlite3.SQLITE_FULL or "disk is full" in text:
            return StoreFull(f"the disk holding {self._db_path} is full: nothing of this write was stored",
                             hint=f"free space on the filesystem of {where} (or move the store), then retry; "
                             "what was stored before is intact")
        if (code is not None and code & 0xFF == sqlite3.SQLITE_READONLY) or "readonly database" in text:
            return StoreFull(f"{self._db_path} cannot be written (a read-only file or filesystem): nothing of "
                             "this write was stored",
                             hint=f"make {where} and its files writable (remount it read-write), then retry")
        return None

    def _bump(self, key: str) -> None:
        self._local.bumps.add(key)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # schema ------------------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _migrate(self) -> None:
        conn = self._conn
        try:
            has_meta = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self._db_path} is not a SQLite database: {exc}") from exc
        version = int(self._meta("schema_version") or 0) if has_meta else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"store {self.path} has schema version {version}, this Cartwise knows up to {SCHEMA_VERSION}",
                hint="upgrade Cartwise to open this store",
            )
        if version == SCHEMA_VERSION:
            return
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for step in range(version, SCHEMA_VERSION):
                    for statement in migration_statements(step, SQLITE):
                        conn.execute(statement)
                for key, value in initial_meta().items():
                    conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value))
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    @property
    def store_id(self) -> str:
        assert self._store_id is not None
        return self._store_id

    def versions(self) -> tuple[int, int]:
        rows = dict(
            self._conn.execute(
                "SELECT key, value FROM meta WHERE key IN ('catalog_version', 'events_version')"
            ).fetchall()
        )
        return int(rows.get("catalog_version", 0)), int(rows.get("events_version", 0))

    # writes ------------------------------------------------------------------------

    def upsert_items(self, items: pl.DataFrame) -> int:
        if items.is_empty():
            return 0
        frame = conform(items, ITEM_SCHEMA).with_columns(pl.col("in_stock").fill_null(True).cast(pl.Int64))
        now = now_ms()
        placeholders = ", ".join("?" for _ in range(len(_ITEM_COLUMNS) + 1))
        changed = " OR ".join(f"items.{c} IS NOT excluded.{c}" for c in _ITEM_COLUMNS[1:])
        sql = (
            f"INSERT INTO items ({', '.join(_ITEM_COLUMNS)}, updated_ms) VALUES ({placeholders}) "
            f"ON CONFLICT (item_id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in _ITEM_COLUMNS[1:])
            + f", updated_ms = excluded.updated_ms, deleted = 0 WHERE items.deleted = 1 OR {changed}"
        )
        with self.transaction():
            conn = self._conn
            before = conn.total_changes
            conn.executemany(sql, (row + (now,) for row in _rows(frame)))
            written = conn.total_changes - before
            if written:
                self._bump("catalog_version")
        return written

    def delete_items(self, item_ids: Sequence[str]) -> int:
        ids = list(dict.fromkeys(item_ids))
        if not ids:
            return 0
        with self.transaction():
            conn = self._conn
            before = conn.total_changes
            conn.executemany(
                "UPDATE items SET deleted = 1, updated_ms = ? WHERE item_id = ? AND deleted = 0",
                ((now_ms(), i) for i in ids),
            )
            deleted = conn.total_changes - before
            if deleted:
                self._bump("catalog_version")
        return deleted

    def insert_events(self, events: pl.DataFrame) -> int:
        if events.is_empty():
            return 0
        # Key order turns random B-tree inserts into near-appends: about 1.5x faster.
        frame = conform(events, EVENT_SCHEMA).sort("event_key")
        sql = (
            f"INSERT OR IGNORE INTO events ({', '.join(_EVENT_COLUMNS)}, committed) "
            f"VALUES ({', '.join('?' for _ in _EVENT_COLUMNS)}, ?)"
        )
        with self.transaction():
            conn = self._conn
            # BEGIN IMMEDIATE makes writers take turns: the version this commit will leave
            # the store at is the one read now plus one (bumped once, at commit).
            stamp = int(conn.execute("SELECT value FROM meta WHERE key = 'events_version'").fetchone()[0]) + 1
            before = conn.total_changes
            conn.executemany(sql, _rows(frame.with_columns(committed=pl.lit(stamp, dtype=pl.Int64))))
            added = conn.total_changes - before
            if added:
                self._bump("events_version")
        return added

    def insert_impressions(self, impressions: pl.DataFrame, items: pl.DataFrame) -> int:
        if impressions.is_empty():
            return 0
        head = conform(impressions, IMPRESSION_SCHEMA)
        shown = conform(items, IMPRESSION_ITEM_SCHEMA)
        with self.transaction():
            conn = self._conn
            before = conn.total_changes
            conn.executemany(
                f"INSERT OR IGNORE INTO impressions ({', '.join(IMPRESSION_SCHEMA)}) "
                f"VALUES ({', '.join('?' for _ in IMPRESSION_SCHEMA)})",
                _rows(head),
            )
            added = conn.total_changes - before
            conn.executemany(
                f"INSERT OR IGNORE INTO impression_items ({', '.join(IMPRESSION_ITEM_SCHEMA)}) "
                f"VALUES ({', '.join('?' for _ in IMPRESSION_ITEM_SCHEMA)})",
                _rows(shown),
            )
        return added

    def impressions(self, *, since_ms: int | None = None) -> pl.DataFrame:
        return self._frame(
            f"SELECT {', '.join(IMPRESSION_SCHEMA)} FROM impressions WHERE ts >= ? ORDER BY ts, request_id",
            (since_ms if since_ms is not None else -(2**62),),
            IMPRESSION_SCHEMA,
        )

    def impression_items(self, *, since_ms: int | None = None) -> pl.DataFrame:
        columns = ", ".join(f"s.{c}" for c in IMPRESSION_ITEM_SCHEMA)
        return self._frame(
            f"SELECT {columns} FROM impression_items s JOIN impressions i ON i.request_id = s.request_id "
            "WHERE i.ts >= ? ORDER BY i.ts, s.request_id, s.position",
            (since_ms if since_ms is not None else -(2**62),),
            IMPRESSION_ITEM_SCHEMA,
        )

    def impressions_of(self, request_ids: Sequence[str]) -> pl.DataFrame:
        ids = list(dict.fromkeys(request_ids))
        frames = [
            self._frame(
                "SELECT i.request_id, i.ts, i.placement, i.user_id, s.position, s.item_id FROM impressions i "
                f"JOIN impression_items s ON s.request_id = i.request_id WHERE i.request_id IN "
                f"({', '.join('?' for _ in chunk)}) ORDER BY i.request_id, s.position",
                chunk,
                SHOWN_SCHEMA,
            )
            for chunk in (ids[start : start + _IN_BATCH] for start in range(0, len(ids), _IN_BATCH))
        ]
        return pl.concat(frames) if frames else pl.DataFrame(schema=SHOWN_SCHEMA)

    def flag_users(self, flags: pl.DataFrame) -> int:
        if flags.is_empty():
            return 0
        now = now_ms()
        rows = (
            (r["user_id"], r["reason"], r.get("peak_per_minute"), now)
            for r in flags.select("user_id", "reason", "peak_per_minute").iter_rows(named=True)
        )
        with self.transaction():
            conn = self._conn
            before = conn.total_changes
            conn.executemany(
                "INSERT INTO flagged_users (user_id, reason, peak_per_minute, flagged_ms) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET reason = excluded.reason, "
                "peak_per_minute = MAX(COALESCE(flagged_users.peak_per_minute, 0), excluded.peak_per_minute) "
                "WHERE excluded.peak_per_minute > COALESCE(flagged_users.peak_per_minute, 0)",
                rows,
            )
            changed = conn.total_changes - before
            if changed:
                self._bump("events_version")
        return changed

    def record_ingest(self, run: IngestRun) -> int:
        with self.transaction():
            cursor = self._conn.execute(
                "INSERT INTO ingest_runs (kind, source, started_ms, finished_ms, rows_read, rows_written, "
                "rows_rejected, rows_duplicate, report_path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            )
            return int(cursor.lastrowid or 0)

    # reads -------------------------------------------------------------------------

    def _frame(self, sql: str, params: Sequence[object], schema: dict[str, pl.DataType]) -> pl.DataFrame:
        rows = self._conn.execute(sql, tuple(params)).fetchall()
        return pl.DataFrame(rows, schema=schema, orient="row")

    def items(self, *, include_deleted: bool = False) -> pl.DataFrame:
        where = "" if include_deleted else "WHERE deleted = 0"
        frame = self._frame(
            f"SELECT {', '.join(_ITEM_COLUMNS)} FROM items {where} ORDER BY item_id",
            (),
            {**ITEM_SCHEMA, "in_stock": pl.Int64()},
        )
        return frame.with_columns(pl.col("in_stock").cast(pl.Boolean))

    def get_items(self, item_ids: Sequence[str]) -> pl.DataFrame:
        ids = list(dict.fromkeys(item_ids))
        parts = []
        schema = {**ITEM_SCHEMA, "in_stock": pl.Int64()}
        for start in range(0, len(ids), _IN_BATCH):
            chunk = ids[start : start + _IN_BATCH]
            parts.append(
                self._frame(
                    f"SELECT {', '.join(_ITEM_COLUMNS)} FROM items WHERE deleted = 0 AND item_id IN "
                    f"({', '.join('?' for _ in chunk)})",
                    chunk,
                    schema,
                )
            )
        frame = pl.concat(parts) if parts else pl.DataFrame(schema=schema)
        return frame.with_columns(pl.col("in_stock").cast(pl.Boolean))

    def item_ids(self, *, include_deleted: bool = False) -> set[str]:
        where = "" if include_deleted else "WHERE deleted = 0"
        return {row[0] for row in self._conn.execute(f"SELECT item_id FROM items {where}")}

    def events(self, *, exclude_flagged: bool = True) -> pl.DataFrame:
        where = "WHERE user_id NOT IN (SELECT user_id FROM flagged_users)" if exclude_flagged else ""
        return self._frame(f"SELECT {', '.join(_EVENT_COLUMNS)} FROM events {where}", (), EVENT_SCHEMA)

    def user_events(self, user_id: str, *, limit: int = 100) -> pl.DataFrame:
        return self._frame(
            f"SELECT {', '.join(_EVENT_COLUMNS)} FROM events WHERE user_id = ? ORDER BY ts DESC LIMIT ?",
            (user_id, int(limit)),
            EVENT_SCHEMA,
        )

    def recent_events(self, user_ids: Sequence[str], *, limit: int = 100) -> pl.DataFrame:
        users = list(dict.fromkeys(user_ids))
        columns = ", ".join(_EVENT_COLUMNS)
        frames = [
            self._frame(
                f"SELECT {columns} FROM (SELECT {columns}, ROW_NUMBER() OVER (PARTITION BY user_id "
                f"ORDER BY ts DESC, event_key DESC) AS newest FROM events WHERE user_id IN "
                f"({', '.join('?' for _ in chunk)})) WHERE newest <= ? ORDER BY user_id, ts DESC, event_key DESC",
                (*chunk, int(limit)),
                EVENT_SCHEMA,
            )
            for chunk in (users[start : start + _IN_BATCH] for start in range(0, len(users), _IN_BATCH))
        ]
        return pl.concat(frames) if frames else pl.DataFrame(schema=EVENT_SCHEMA)

    def popular_queries(self, *, limit: int = 1000) -> list[tuple[str, float]]:
        rows = self._conn.execute(
            "SELECT lower(trim(query)) AS q, COUNT(*) AS n FROM events "
            "WHERE event_type = 'search' AND query IS NOT NULL AND trim(query) != '' "
            "AND user_id NOT IN (SELECT user_id FROM flagged_users) "
            "GROUP BY q ORDER BY n DESC, q LIMIT ?",
            (int(limit),),
        ).fetchall()
        return [(str(q), float(n)) for q, n in rows]

    def commits_since(self, version: int, *, limit: int = 1000) -> list[tuple[int, int]]:
        rows = self._conn.execute(
            "SELECT committed, COUNT(*) FROM events WHERE committed > ? GROUP BY committed ORDER BY committed LIMIT ?",
            (int(version), int(limit)),
        ).fetchall()
        return [(int(v), int(n)) for v, n in rows]

    def events_since(self, version: int, *, through: int) -> pl.DataFrame:
        return self._frame(
            f"SELECT {', '.join(_EVENT_COLUMNS)}, committed FROM events WHERE committed > ? AND committed <= ? "
            "ORDER BY committed, event_key",
            (int(version), int(through)),
            LOGGED_EVENT_SCHEMA,
        )

    def flagged_users(self) -> pl.DataFrame:
        return self._frame(
            "SELECT user_id, reason, peak_per_minute, flagged_ms FROM flagged_users ORDER BY user_id",
            (),
            {"user_id": pl.Utf8(), "reason": pl.Utf8(), "peak_per_minute": pl.Int64(), "flagged_ms": pl.Int64()},
        )

    def ingest_runs(self, *, limit: int = 20) -> list[IngestRun]:
        rows = self._conn.execute(
            "SELECT run_id, kind, source, started_ms, finished_ms, rows_read, rows_written, rows_rejected, "
            "rows_duplicate, report_path FROM ingest_runs ORDER BY run_id DESC LIMIT ?",
            (int(limit),),
        ).fetchall()
        return [IngestRun(*row) for row in rows]

    def stats(self) -> StoreStats:
        conn = self._conn
        items, deleted = conn.execute(
            "SELECT COALESCE(SUM(deleted = 0), 0), COALESCE(SUM(deleted = 1), 0) FROM items"
        ).fetchone()
        events, first, last = conn.execute("SELECT COUNT(*), MIN(ts), MAX(ts) FROM events").fetchone()
        users = conn.execute("SELECT COUNT(DISTINCT user_id) FROM events").fetchone()[0]
        by_type = dict(conn.execute("SELECT event_type, COUNT(*) FROM events GROUP BY event_type").fetchall())
        flagged = conn.execute("SELECT COUNT(*) FROM flagged_users").fetchone()[0]
        impressions = conn.execute("SELECT COUNT(*) FROM impressions").fetchone()[0]
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
        with self.transaction():
            cursor = self._conn.execute(
                "INSERT INTO api_keys (prefix, secret_sha256, scope, name, created_ms, revoked_ms, rate_per_s, burst) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key.prefix, key.secret_sha256, key.scope, key.name, key.created_ms, key.revoked_ms, key.rate_per_s,
                 key.burst),
            )
            self._bump("keys_version")
        return replace(key, key_id=int(cursor.lastrowid or 0))

    def keys(self) -> list[StoredKey]:
        rows = self._conn.execute(f"SELECT {self._KEY_COLUMNS} FROM api_keys ORDER BY key_id").fetchall()
        return [StoredKey(*row) for row in rows]

    def revoke_key(self, key_id: int, revoked_ms: int) -> bool:
        with self.transaction():
            conn = self._conn
            before = conn.total_changes
            conn.execute(
                "UPDATE api_keys SET revoked_ms = ? WHERE key_id = ? AND revoked_ms IS NULL", (revoked_ms, key_id)
            )
            revoked = conn.total_changes > before
            if revoked:
                self._bump("keys_version")
        return revoked

    def set_key_rate(self, key_id: int, rate_per_s: float | None, burst: int | None) -> bool:
        with self.transaction():
            conn = self._conn
            before = conn.total_changes
            conn.execute("UPDATE api_keys SET rate_per_s = ?, burst = ? WHERE key_id = ?", (rate_per_s, burst, key_id))
            changed = conn.total_changes > before
            if changed:
                self._bump("keys_version")
        return changed

    def keys_version(self) -> int:
        return int(self._meta("keys_version") or 0)

    # audit log ---------------------------------------------------------------------

    _AUDIT_COLUMNS = "audit_id, ts, actor, action, target, detail"

    def add_audit(self, entry: AuditEntry) -> AuditEntry:
        with self.transaction():
            cursor = self._conn.execute(
                "INSERT INTO audit_log (ts, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                (entry.ts, entry.actor, entry.action, entry.target, entry.detail),
            )
        return replace(entry, audit_id=int(cursor.lastrowid or 0))

    def audit(self, *, since_ms: int | None = None, limit: int = 1000) -> list[AuditEntry]:
        rows = self._conn.execute(
            f"SELECT {self._AUDIT_COLUMNS} FROM audit_log WHERE ts >= ? ORDER BY audit_id DESC LIMIT ?",
            (since_ms if since_ms is not None else -(2**62), limit),
        ).fetchall()
        return [AuditEntry(*row) for row in reversed(rows)]

    # experiments -------------------------------------------------------------------

    _EXPERIMENT_COLUMNS = "experiment_id, name, status, created_ms, updated_ms, definition"

    def put_experiment(self, experiment: StoredExperiment) -> None:
        with self.transaction():
            self._conn.execute(
                f"INSERT INTO experiments ({self._EXPERIMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (experiment_id) DO UPDATE SET name = excluded.name, status = excluded.status, "
                "updated_ms = excluded.updated_ms, definition = excluded.definition",
                (experiment.experiment_id, experiment.name, experiment.status, experiment.created_ms,
                 experiment.updated_ms, experiment.definition),
            )
            self._bump("experiments_version")

    def experiments(self) -> list[StoredExperiment]:
        rows = self._conn.execute(
            f"SELECT {self._EXPERIMENT_COLUMNS} FROM experiments ORDER BY created_ms, experiment_id"
        ).fetchall()
        return [StoredExperiment(*row) for row in rows]

    def experiments_version(self) -> int:
        return int(self._meta("experiments_version") or 0)

    # the assistant's turns and ratings ------------------------------------------------

    _ASSISTANT = assistant_rows.queries("?")
    _MARKER = "?"

    def _fetch(self, statement: str, params: Sequence[object]) -> list[Any]:
        return self._conn.execute(statement, tuple(params)).fetchall()

    def _insert_each(self, statement: str, rows: list[tuple[Any, ...]]) -> int:
        """Run an INSERT for each row in one transaction; returns rows added."""
        if not rows:
            return 0
        with self.transaction():
            before = self._conn.total_changes
            self._conn.executemany(statement, rows)
            return self._conn.total_changes - before


def _open(location: str, *, create: bool) -> SQLiteStore:
    return SQLiteStore(location, create=create)


register_store(["sqlite"], _open, scratch_url=lambda tmp: f"sqlite://{tmp / 'store'}")
