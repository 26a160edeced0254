"""Builders of tiny event and item frames (EVENT_SCHEMA, ITEM_SCHEMA) for the recommender tests."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from cartwise.store.frames import EVENT_SCHEMA, ITEM_SCHEMA, conform

DAY = 24 * 3600 * 1000
T0 = 1_700_000_000_000


def make_events(rows: Iterable[tuple]) -> pl.DataFrame:
    """Rows of (user_id, item_id, event_type, ts[, session_id])."""
    records = []
    for row in rows:
        user, item, kind, ts, *rest = row
        records.append(
            {"user_id": user, "item_id": item, "event_type": kind, "ts": ts, "session_id": rest[0] if rest else None}
        )
    frame = pl.DataFrame(records, schema={"user_id": pl.Utf8, "item_id": pl.Utf8, "event_type": pl.Utf8,
                                          "ts": pl.Int64, "session_id": pl.Utf8})
    return conform(frame, EVENT_SCHEMA)


def make_items(rows: Iterable[tuple[str, str | None]]) -> pl.DataFrame:
    frame = pl.DataFrame([{"item_id": i, "title": i, "category": c} for i, c in rows],
                         schema={"item_id": pl.Utf8, "title": pl.Utf8, "category": pl.Utf8})
    return conform(frame, ITEM_SCHEMA)
