"""The bytes of one bus message: a batch of validated events and how to store them.

JSON: ``{"v": 1, "unknown_items": "keep"|"reject", "source": "api", "rows": [...]}`` where
each row holds the validated event columns (``ts`` in epoch ms, resolved when the API
accepted the event, so every redelivery computes the same event key) and ``line``, the
event's index in the HTTP request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import polars as pl

from cartwise.events.event import EVENT_TYPES
from cartwise.ingest.report import LINE

FORMAT = 1
# The validated event columns and their types, as a message carries them.
ROW_SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.Utf8(),
    "item_id": pl.Utf8(),
    "event_type": pl.Utf8(),
    "ts": pl.Int64(),
    "session_id": pl.Utf8(),
    "value": pl.Float64(),
    "query": pl.Utf8(),
    "context": pl.Utf8(),
    "event_id": pl.Utf8(),
    "request_id": pl.Utf8(),
    "position": pl.Int64(),
    "line": pl.Int64(),
}
UNKNOWN_ITEMS = ("keep", "reject")


class PoisonMessage(ValueError):
    """A message that can never be stored: its reason goes to the dead-letter stream."""


@dataclass(frozen=True)
class EventBatch:
    rows: pl.DataFrame  # ROW_SCHEMA, LINE renamed to "line"
    unknown_items: str
    source: str


def encode(valid: pl.DataFrame, *, unknown_items: str, source: str) -> bytes:
    """One message from validated rows (columns of :data:`ROW_SCHEMA`, LINE for `line`)."""
    rows = valid.rename({LINE: "line"}).select(list(ROW_SCHEMA)).to_dicts()
    body = {"v": FORMAT, "unknown_items": unknown_items, "source": source, "rows": rows}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def decode(payload: bytes) -> EventBatch:
    """The batch a message holds; :class:`PoisonMessage` says why one is unusable."""
    try:
        body: Any = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PoisonMessage(f"not JSON: {error}") from error
    if not isinstance(body, dict) or body.get("v") != FORMAT:
        raise PoisonMessage(f"not a version {FORMAT} event batch")
    unknown_items = body.get("unknown_items")
    if unknown_items not in UNKNOWN_ITEMS:
        raise PoisonMessage(f"unknown_items is {unknown_items!r}, not keep or reject")
    rows = body.get("rows")
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise PoisonMessage("rows is not a non-empty list of objects")
    try:
        frame = pl.DataFrame(rows, schema=ROW_SCHEMA, strict=True)
    except (TypeError, ValueError, pl.exceptions.PolarsError) as error:
        raise PoisonMessage(f"rows do not have the event columns' types: {str(error)[:200]}") from error
    bad = frame.filter(
        pl.col("user_id").is_null() | pl.col("ts").is_null() | pl.col("line").is_null()
        | ~pl.col("event_type").is_in(list(EVENT_TYPES)).fill_null(False)
    )
    if bad.height:
        raise PoisonMessage(f"{bad.height} rows lack a user_id, a timestamp, a line or a known event_type")
    return EventBatch(rows=frame, unknown_items=str(unknown_items), source=str(body.get("source") or "bus"))


__all__ = ["FORMAT", "ROW_SCHEMA", "EventBatch", "PoisonMessage", "decode", "encode"]
