"""Users who act faster than a person can: flagged, so training leaves them out.

The measure is a user's most actions within any 60-second window. A checkout writes
one purchase line per product, all at one time, so purchases of one user at the same
time in the same session count as one action: a 200-line wholesale order is one click,
not a bot. Their events stay in the store; only the flag excludes them.
"""

from __future__ import annotations

import polars as pl

from cartwise.events.event import EventType

WINDOW_MS = 60_000
FLAG_SCHEMA: dict[str, pl.DataType] = {"user_id": pl.Utf8(), "reason": pl.Utf8(), "peak_per_minute": pl.Int64()}


def find_bots(events: pl.DataFrame, *, events_per_minute: int) -> pl.DataFrame:
    """Users with more than `events_per_minute` actions in some 60-second window, with
    their peak (columns user_id, reason, peak_per_minute)."""
    if events.is_empty():
        return pl.DataFrame(schema=FLAG_SCHEMA)
    actions = events.select("user_id", "ts", "event_type", "session_id")
    is_purchase = pl.col("event_type") == EventType.PURCHASE.value
    actions = pl.concat(
        [
            actions.filter(~is_purchase),
            actions.filter(is_purchase).unique(["user_id", "ts", "session_id"]),
        ]
    )
    # Nobody with fewer actions in all than the limit can exceed it in one minute.
    busy = actions.group_by("user_id").len().filter(pl.col("len") > events_per_minute).select("user_id")
    if busy.is_empty():
        return pl.DataFrame(schema=FLAG_SCHEMA)
    peaks = (
        actions.join(busy, on="user_id")
        .sort("user_id", "ts")
        .with_columns(pl.lit(1, dtype=pl.Int64).alias("one"))
        .with_columns(pl.col("one").rolling_sum_by("ts", window_size=f"{WINDOW_MS}i").over("user_id").alias("peak"))
        .group_by("user_id")
        .agg(pl.col("peak").max().alias("peak_per_minute"))
        .filter(pl.col("peak_per_minute") > events_per_minute)
        .sort("user_id")
    )
    return peaks.select(
        "user_id",
        pl.format("{} events within 60 seconds (limit {})", "peak_per_minute", pl.lit(events_per_minute)).alias(
            "reason"
        ),
        pl.col("peak_per_minute").cast(pl.Int64),
    )
