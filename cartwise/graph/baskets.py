"""Baskets: the sets of items one shopper chose together, the unit relations are counted in.

A basket is one shopper's items within one session or order (``session_id``: Online
Retail's invoice number, a web session) or, for events without one, within one UTC day.
Views, clicks and add-to-carts make browse baskets (co-viewed); purchases make purchase
baskets (co-bought). Each item counts once per basket, whatever its quantity or repeats.
"""

from __future__ import annotations

from enum import StrEnum

import polars as pl

from cartwise.events.event import EventType

DAY_MS = 24 * 3600 * 1000
# Separates the shopper from the session in a basket key (ids never hold control characters).
_SEP = "\x1f"


class Signal(StrEnum):
    """Which events make a basket."""

    VIEW = "view"
    BUY = "buy"


SIGNAL_EVENTS: dict[Signal, tuple[str, ...]] = {
    Signal.VIEW: (EventType.VIEW.value, EventType.CLICK.value, EventType.ADD_TO_CART.value),
    Signal.BUY: (EventType.PURCHASE.value,),
}


def signal_of(event_type: str) -> Signal | None:
    """The basket signal an event type feeds, or None (searches, ratings)."""
    for signal, types in SIGNAL_EVENTS.items():
        if event_type in types:
            return signal
    return None


def basket_key(user_id: str, session_id: str | None, ts: int) -> str:
    """The basket of one event (the same key :func:`basket_items` builds in bulk)."""
    session = f"s{session_id}" if session_id is not None else f"d{ts // DAY_MS}"
    return f"{user_id}{_SEP}{session}"


def _key_expr() -> pl.Expr:
    session = (
        pl.when(pl.col("session_id").is_not_null())
        .then(pl.concat_str(pl.lit("s"), pl.col("session_id").cast(pl.Utf8)))
        .otherwise(pl.concat_str(pl.lit("d"), (pl.col("ts") // DAY_MS).cast(pl.Utf8)))
    )
    return pl.concat_str(pl.col("user_id").cast(pl.Utf8), pl.lit(_SEP), session).alias("basket")


def basket_items(events: pl.DataFrame, signal: Signal) -> pl.DataFrame:
    """Columns ``basket``, ``user_id``, ``item_id``, ``ts`` (the item's first event in the
    basket): one row per distinct item of each basket of `signal`, in no set order."""
    if "session_id" not in events.columns:
        events = events.with_columns(pl.lit(None, dtype=pl.Utf8).alias("session_id"))
    chosen = events.filter(
        pl.col("item_id").is_not_null()
        & pl.col("user_id").is_not_null()
        & pl.col("event_type").is_in(list(SIGNAL_EVENTS[signal]))
    )
    return (
        chosen.select(_key_expr(), pl.col("user_id").cast(pl.Utf8), pl.col("item_id").cast(pl.Utf8), pl.col("ts"))
        .group_by("basket", "item_id")
        .agg(pl.col("user_id").first(), pl.col("ts").min())
        .select("basket", "user_id", "item_id", "ts")
    )


__all__ = ["DAY_MS", "SIGNAL_EVENTS", "Signal", "basket_items", "basket_key", "signal_of"]
