"""Items known only from events, registered in the catalog.

Research data sets and some stores send behaviour without a catalog (the
``user item1 item2 ...`` sequence format, or events for items the catalog export missed).
Training registers every item that events name and the catalog never held, with its id as
its title, so the models can learn from them and answers can show them; the training
report says how many. An item the catalog deleted stays deleted.
"""

from __future__ import annotations

import polars as pl

from cartwise.store import Store

# Marks a catalog entry made from events, in the item's attributes.
FROM_EVENTS = {"registered_from": "events"}


def register_event_items(store: Store, events: pl.DataFrame | None = None) -> int:
    """Register the items of `events` (all of the store's when None) that the catalog
    never held; returns how many were added."""
    events = store.events(exclude_flagged=True) if events is None else events
    seen = events.filter(pl.col("item_id").is_not_null()).get_column("item_id").unique()
    if seen.is_empty():
        return 0
    known = store.item_ids(include_deleted=True)
    new = sorted(set(seen.to_list()) - known)
    if not new:
        return 0
    first_seen = (
        events.filter(pl.col("item_id").is_in(new)).group_by("item_id").agg(pl.col("ts").min().alias("created_at"))
    )
    items = (
        pl.DataFrame({"item_id": new})
        .join(first_seen, on="item_id", how="left")
        .with_columns(
            pl.col("item_id").alias("title"),
            pl.lit('{"registered_from": "events"}').alias("attributes"),
            pl.lit(True).alias("in_stock"),
        )
    )
    with store.transaction():
        store.upsert_items(items)
    return len(new)


__all__ = ["FROM_EVENTS", "register_event_items"]
