"""The rules a behaviour event must meet, applied to whole columns of text.

They mirror :class:`cartwise.events.event.Event` (the same limits and event types, an
item for every event but searches, no negative quantities for purchases, carts and
ratings) and add what a file can get wrong: unparseable numbers and JSON, impossible
timestamps.
"""

from __future__ import annotations

import polars as pl

from cartwise.events.event import EVENT_TYPES, EventType
from cartwise.ingest import parsers
from cartwise.ingest.items import control_characters
from cartwise.ingest.report import LINE
from cartwise.ingest.rules import Rule, split_rejects
from cartwise.limits import MAX_CONTEXT_LENGTH, MAX_ID_LENGTH, MAX_TEXT_LENGTH

EVENT_FIELDS: tuple[str, ...] = (
    "user_id",
    "item_id",
    "event_type",
    "timestamp",
    "session_id",
    "value",
    "query",
    "context",
    "event_id",
    "request_id",
    "position",
)
EVENT_REQUIRED: tuple[tuple[str, ...], ...] = (("user_id",), ("event_type",), ("timestamp",), ("item_id", "query"))
_NO_NEGATIVE = [EventType.PURCHASE.value, EventType.ADD_TO_CART.value, EventType.RATING.value]
VALID_EVENT_COLUMNS = (
    "user_id", "item_id", "event_type", "ts", "session_id", "value", "query", "context", "event_id", "request_id",
    "position",
)
# The highest position an event may name (answers hold at most a few hundred items).
MAX_POSITION = 10_000


def _too_long(name: str, limit: int) -> Rule:
    return Rule(name, pl.col(name).str.len_chars() > limit, f"{name} is longer than {limit:,} characters")


def validate_events(frame: pl.DataFrame, *, now_ms: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(valid rows with VALID_EVENT_COLUMNS plus LINE, rejected rows) from one text column
    per field."""
    work = frame.with_columns([parsers.text(name) for name in EVENT_FIELDS])
    work = work.with_columns(
        pl.col("event_type").str.to_lowercase().alias("__event_type"),
        parsers.number("value").alias("__value"),
        parsers.json_object_text("context").alias("__context"),
        parsers.number("position").alias("__position"),
    )
    stamps = parsers.timestamps(work["timestamp"], now_ms=now_ms)
    work = work.with_columns(stamps["ms"].alias("__ts"), stamps["problem"].alias("__ts_problem"))
    kind = pl.col("__event_type")
    is_search = kind == EventType.SEARCH.value
    rules = [
        Rule("user_id", pl.col("user_id").is_null(), "user_id is missing or empty"),
        _too_long("user_id", MAX_ID_LENGTH),
        control_characters("user_id"),
        Rule("event_type", pl.col("event_type").is_null(), "event_type is missing or empty"),
        Rule("event_type", ~kind.is_in(EVENT_TYPES), f"event_type is not one of {', '.join(EVENT_TYPES)}"),
        _too_long("item_id", MAX_ID_LENGTH),
        control_characters("item_id"),
        Rule("item_id", ~is_search & pl.col("item_id").is_null(), pl.format("a {} event needs an item_id", kind)),
        Rule("timestamp", pl.col("__ts_problem").is_not_null(), pl.col("__ts_problem")),
        _too_long("session_id", MAX_ID_LENGTH),
        control_characters("session_id"),
        Rule("value", pl.col("value").is_not_null() & pl.col("__value").is_null(), "value is not a number"),
        Rule("value", ~pl.col("__value").is_finite(), "value is not a finite number"),
        Rule(
            "value",
            (pl.col("__value") < 0) & kind.is_in(_NO_NEGATIVE),
            pl.format("value must not be negative for a {} event", kind),
        ),
        _too_long("query", MAX_TEXT_LENGTH),
        Rule(
            "query",
            is_search & pl.col("query").is_null() & pl.col("item_id").is_null(),
            "a search event needs a query",
        ),
        Rule(
            "context",
            pl.col("context").is_not_null() & pl.col("__context").is_null(),
            "context is not a JSON object",
        ),
        Rule(
            "context",
            pl.col("__context").str.len_chars() > MAX_CONTEXT_LENGTH,
            f"context is larger than {MAX_CONTEXT_LENGTH:,} characters of JSON",
        ),
        _too_long("event_id", MAX_ID_LENGTH),
        control_characters("event_id"),
        _too_long("request_id", MAX_ID_LENGTH),
        control_characters("request_id"),
        Rule(
            "position",
            pl.col("position").is_not_null()
            & (
                pl.col("__position").is_null()
                | (pl.col("__position") != pl.col("__position").floor())
                | (pl.col("__position") < 1)
                | (pl.col("__position") > MAX_POSITION)
            ).fill_null(True),
            f"position must be a whole number from 1 (the first item shown) to {MAX_POSITION:,}",
        ),
    ]
    valid, rejects = split_rejects(work, rules)
    valid = valid.select(
        pl.col(LINE),
        pl.col("user_id"),
        pl.col("item_id"),
        pl.col("__event_type").alias("event_type"),
        pl.col("__ts").alias("ts"),
        pl.col("session_id"),
        pl.col("__value").alias("value"),
        pl.col("query"),
        pl.col("__context").alias("context"),
        pl.col("event_id"),
        pl.col("request_id"),
        pl.col("__position").cast(pl.Int64).alias("position"),
    )
    return valid, rejects
