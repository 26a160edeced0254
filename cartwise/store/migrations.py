"""Schema versions of the embedded SQLite store, applied in order at open time."""

from __future__ import annotations

SCHEMA_VERSION = 3

# Each entry upgrades the schema from version i to i + 1. Never edit a released entry:
# append a new one, so stores created by older releases upgrade in place.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE items (
        item_id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        description TEXT,
        category TEXT,
        brand TEXT,
        price REAL,
        currency TEXT,
        in_stock INTEGER NOT NULL DEFAULT 1,
        attributes TEXT,
        created_at INTEGER,
        updated_ms INTEGER NOT NULL,
        deleted INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE events (
        event_key INTEGER PRIMARY KEY,
        user_id TEXT NOT NULL,
        item_id TEXT,
        event_type TEXT NOT NULL,
        ts INTEGER NOT NULL,
        session_id TEXT,
        value REAL,
        query TEXT,
        context TEXT
    );
    CREATE INDEX events_by_user ON events (user_id, ts);
    CREATE TABLE flagged_users (
        user_id TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        peak_per_minute INTEGER,
        flagged_ms INTEGER NOT NULL
    );
    CREATE TABLE ingest_runs (
        run_id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        source TEXT NOT NULL,
        started_ms INTEGER NOT NULL,
        finished_ms INTEGER NOT NULL,
        rows_read INTEGER NOT NULL,
        rows_written INTEGER NOT NULL,
        rows_rejected INTEGER NOT NULL,
        rows_duplicate INTEGER NOT NULL,
        report_path TEXT
    );
    """,
    # 2: API keys. Only a SHA-256 hash of each secret is kept, with a short non-secret
    # prefix that names the key in listings and in `cartwise keys revoke`.
    """
    CREATE TABLE api_keys (
        key_id INTEGER PRIMARY KEY AUTOINCREMENT,
        prefix TEXT NOT NULL UNIQUE,
        secret_sha256 TEXT NOT NULL UNIQUE,
        scope TEXT NOT NULL,
        name TEXT,
        created_ms INTEGER NOT NULL,
        revoked_ms INTEGER
    );
    INSERT OR IGNORE INTO meta (key, value) VALUES ('keys_version', '0');
    """,
    # 3: the feedback loop. An event may name the answer (request_id) and the position it
    # acted on; every answer shown is one impression with its items in order.
    """
    ALTER TABLE events ADD COLUMN request_id TEXT;
    ALTER TABLE events ADD COLUMN position INTEGER;
    CREATE TABLE impressions (
        request_id TEXT PRIMARY KEY,
        ts INTEGER NOT NULL,
        placement TEXT NOT NULL,
        user_id TEXT,
        model_version TEXT,
        query TEXT,
        variant TEXT,
        source TEXT NOT NULL
    );
    CREATE INDEX impressions_by_ts ON impressions (ts);
    CREATE TABLE impression_items (
        request_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        item_id TEXT NOT NULL,
        stage TEXT,
        score REAL,
        lexical_score REAL,
        semantic_score REAL,
        PRIMARY KEY (request_id, position)
    );
    CREATE INDEX impression_items_by_item ON impression_items (item_id);
    """,
]

assert len(MIGRATIONS) == SCHEMA_VERSION
