"""Attribution: which answer a click, add-to-cart or purchase came from.

An event that names a ``request_id`` is attributed to that answer when the answer showed
the event's item. Any other (no ``request_id``, or one that did not show the item) goes
to the last impression that showed the item to the same user before the event, within the
event type's window. An event before the answer it names, or later than its window after
it, is not attributed. Each event is attributed to at most one impression.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from cartwise.events.event import EventType

ATTRIBUTED_TYPES: tuple[str, ...] = (EventType.CLICK.value, EventType.ADD_TO_CART.value, EventType.PURCHASE.value)
# A client's clock and the server's disagree by a little; an event up to this much
# "before" the answer it names is still taken as after it.
CLOCK_SKEW_MS = 5_000

ATTRIBUTION_SCHEMA: dict[str, pl.DataType] = {
    "event_key": pl.Int64(),
    "event_type": pl.Utf8(),
    "ts": pl.Int64(),
    "user_id": pl.Utf8(),
    "item_id": pl.Utf8(),
    "request_id": pl.Utf8(),
    "position": pl.Int64(),
    "placement": pl.Utf8(),
    "model_version": pl.Utf8(),
    "variant": pl.Utf8(),
    "impression_ts": pl.Int64(),
    "how": pl.Utf8(),
}


@dataclass(frozen=True)
class AttributionWindows:
    """How long after an answer an event may still be credited to it, in seconds."""

    click_s: float = 3600.0
    add_to_cart_s: float = 24 * 3600.0
    purchase_s: float = 24 * 3600.0

    def __post_init__(self) -> None:
        for name in ("click_s", "add_to_cart_s", "purchase_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number of seconds")

    def milliseconds(self) -> dict[str, int]:
        return {
            EventType.CLICK.value: int(self.click_s * 1000),
            EventType.ADD_TO_CART.value: int(self.add_to_cart_s * 1000),
            EventType.PURCHASE.value: int(self.purchase_s * 1000),
        }


def shown_items(impressions: pl.DataFrame, items: pl.DataFrame) -> pl.DataFrame:
    """One row per item shown: the impression's columns with the item's position."""
    return items.select("request_id", "position", "item_id").join(
        impressions.select("request_id", "ts", "placement", "user_id", "model_version", "variant"),
        on="request_id",
        how="inner",
    )


def attribute(
    events: pl.DataFrame,
    impressions: pl.DataFrame,
    items: pl.DataFrame,
    *,
    windows: AttributionWindows | None = None,
) -> pl.DataFrame:
    """The attributed events (ATTRIBUTION_SCHEMA), `how` = "request_id" or "window".

    `events`: EVENT_SCHEMA rows (others are ignored); `impressions`, `items`: the store's
    impression layouts."""
    window_ms = (windows or AttributionWindows()).milliseconds()
    window = pl.col("event_type").replace_strict(window_ms, default=None, return_dtype=pl.Int64)
    actions = (
        events.filter(pl.col("event_type").is_in(ATTRIBUTED_TYPES) & pl.col("item_id").is_not_null())
        .select("event_key", "event_type", "ts", "user_id", "item_id", "request_id")
        .with_columns(window.alias("__window"))
    )
    if actions.is_empty() or impressions.is_empty():
        return pl.DataFrame(schema=ATTRIBUTION_SCHEMA)
    shown = shown_items(impressions, items).rename({"ts": "impression_ts", "user_id": "shown_to"})
    in_window = (pl.col("ts") >= pl.col("impression_ts") - CLOCK_SKEW_MS) & (
        pl.col("ts") <= pl.col("impression_ts") + pl.col("__window")
    )
    # 1. The answer the event names, if it showed the item (an item shown twice in one
    # answer counts at its first position).
    named = (
        actions.filter(pl.col("request_id").is_not_null())
        .join(
            shown.group_by("request_id", "item_id").agg(pl.all().sort_by("position").first()),
            on=["request_id", "item_id"],
            how="inner",
        )
        .filter(in_window)
        .with_columns(pl.lit("request_id").alias("how"))
    )
    # 2. The rest: the last answer that showed the item to this user before the event.
    rest = actions.join(named.select("event_key"), on="event_key", how="anti").drop("request_id")
    candidates = shown.filter(pl.col("shown_to").is_not_null()).rename({"shown_to": "user_id"})
    by_window = (
        rest.sort("ts")
        .join_asof(
            candidates.sort("impression_ts"),
            left_on="ts",
            right_on="impression_ts",
            by=["user_id", "item_id"],
            strategy="backward",
            check_sortedness=False,  # both sides are sorted on the time column just above
        )
        .filter(pl.col("request_id").is_not_null() & in_window)
        .with_columns(pl.lit("window").alias("how"))
    )
    named = named.rename({"shown_to": "__shown_to"}).drop("__shown_to")
    columns = list(ATTRIBUTION_SCHEMA)
    return pl.concat(
        [named.select(columns).cast(ATTRIBUTION_SCHEMA), by_window.select(columns).cast(ATTRIBUTION_SCHEMA)]
    ).sort("ts", "event_key")


__all__ = ["ATTRIBUTED_TYPES", "ATTRIBUTION_SCHEMA", "AttributionWindows", "attribute", "shown_items"]
