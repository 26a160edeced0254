"""Column layouts of the data frames that move items and events between layers.

Ingest produces them, the store persists and returns them, and the models train on
them. Keeping one definition here is what lets a PostgreSQL store replace SQLite
without any caller noticing.
"""

from __future__ import annotations

import polars as pl

# attributes: JSON object as text; created_at / ts: epoch milliseconds (UTC).
ITEM_SCHEMA: dict[str, pl.DataType] = {
    "item_id": pl.Utf8(),
    "title": pl.Utf8(),
    "description": pl.Utf8(),
    "category": pl.Utf8(),
    "brand": pl.Utf8(),
    "price": pl.Float64(),
    "currency": pl.Utf8(),
    "in_stock": pl.Boolean(),
    "attributes": pl.Utf8(),
    "created_at": pl.Int64(),
}

# event_key: signed 64-bit content hash (or hash of event_id) that makes re-sends idempotent.
EVENT_SCHEMA: dict[str, pl.DataType] = {
    "event_key": pl.Int64(),
    "user_id": pl.Utf8(),
    "item_id": pl.Utf8(),
    "event_type": pl.Utf8(),
    "ts": pl.Int64(),
    "session_id": pl.Utf8(),
    "value": pl.Float64(),
    "query": pl.Utf8(),
    "context": pl.Utf8(),
    "request_id": pl.Utf8(),
    "position": pl.Int64(),
}

# An event as the events log hands it on (Store.events_since): with the events version its
# commit left the store at.
LOGGED_EVENT_SCHEMA: dict[str, pl.DataType] = {**EVENT_SCHEMA, "committed": pl.Int64()}

# One answer shown to a shopper (ts: epoch milliseconds; source: "engine" for answers
# Cartwise gave, "client" for lists a front end rendered and reported).
IMPRESSION_SCHEMA: dict[str, pl.DataType] = {
    "request_id": pl.Utf8(),
    "ts": pl.Int64(),
    "placement": pl.Utf8(),
    "user_id": pl.Utf8(),
    "model_version": pl.Utf8(),
    "query": pl.Utf8(),
    "variant": pl.Utf8(),
    "source": pl.Utf8(),
}

# The items of an impression in the order shown (position 1 first), with the serving stage
# that proposed each and its score when Cartwise answered (and, for a search, the query's
# BM25 score and cosine with the item: features of the click model); in an interleaved
# answer, the variant (team) that put it there.
IMPRESSION_ITEM_SCHEMA: dict[str, pl.DataType] = {
    "request_id": pl.Utf8(),
    "position": pl.Int64(),
    "item_id": pl.Utf8(),
    "stage": pl.Utf8(),
    "score": pl.Float64(),
    "lexical_score": pl.Float64(),
    "semantic_score": pl.Float64(),
    "team": pl.Utf8(),
}


# The items of some impressions, with who saw them where (Store.impressions_of).
SHOWN_SCHEMA: dict[str, pl.DataType] = {
    "request_id": pl.Utf8(),
    "ts": pl.Int64(),
    "placement": pl.Utf8(),
    "user_id": pl.Utf8(),
    "position": pl.Int64(),
    "item_id": pl.Utf8(),
}


def empty_items() -> pl.DataFrame:
    return pl.DataFrame(schema=ITEM_SCHEMA)


def empty_events() -> pl.DataFrame:
    return pl.DataFrame(schema=EVENT_SCHEMA)


def conform(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Select and cast the schema's columns, adding missing optional ones as nulls."""
    columns = []
    for name, dtype in schema.items():
        if name in frame.columns:
            columns.append(pl.col(name).cast(dtype))
        else:
            columns.append(pl.lit(None, dtype=dtype).alias(name))
    return frame.select(columns)
