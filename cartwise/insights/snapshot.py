"""The store's data as the analyses read it: read once per store version and shared.

Every analysis is computed in polars over the Store protocol's reads (events, impressions,
catalog), so it works the same on every back end. A :class:`Snapshot` is kept while the
store's catalog and event versions stand still, for at most `max_age_s` (impressions do not
move those versions), so a dashboard refreshing every few seconds reads the store once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import cached_property
from typing import Any

import polars as pl

from cartwise.feedback.attribution import attribute
from cartwise.store import Store

DAY_MS = 86_400_000
MINUTE_MS = 60_000
# Interest in an item short of buying it.
INTEREST_TYPES = ("view", "click", "add_to_cart")
# The most reports (by parameters) a background refresh recomputes.
MAX_KEPT = 8


class Snapshot:
    """The frames the analyses share, each computed on first use."""

    def __init__(self, *, store: Store) -> None:
        self.store = store
        self.versions = store.versions()

    @cached_property
    def items(self) -> pl.DataFrame:
        """The live catalog with its top-level category (`department`)."""
        return self.store.items().select(
            "item_id", "title", "category", "price", "currency", "in_stock",
            pl.col("category").str.split(" > ").list.first().fill_null("(none)").alias("department"),
        )

    @cached_property
    def events(self) -> pl.DataFrame:
        """Events of shoppers not flagged as bots, with their day and the revenue of a
        purchase (list price times quantity, a missing or odd quantity counting 1)."""
        events = self.store.events(exclude_flagged=True).select(
            "event_key", "user_id", "item_id", "event_type", "ts", "value", "request_id", "query"
        )
        price = self.items.select("item_id", "price")
        quantity = pl.when(pl.col("value") > 0).then(pl.col("value")).otherwise(1.0)
        return events.join(price, on="item_id", how="left").with_columns(
            (pl.col("ts") // DAY_MS).alias("day"),
            pl.when(pl.col("event_type") == "purchase")
            .then(pl.col("price").fill_null(0.0) * quantity)
            .otherwise(0.0)
            .alias("revenue"),
        ).drop("price")

    @cached_property
    def impressions(self) -> pl.DataFrame:
        return self.store.impressions()

    @cached_property
    def impression_items(self) -> pl.DataFrame:
        return self.store.impression_items()

    @cached_property
    def answers(self) -> pl.DataFrame:
        """One row per answer shown, with how many items it held."""
        counts = self.impression_items.group_by("request_id").agg(pl.len().cast(pl.Int64).alias("shown"))
        return (
            self.impressions.join(counts, on="request_id", how="left")
            .with_columns(pl.col("shown").fill_null(0), (pl.col("ts") // DAY_MS).alias("day"))
        )

    @cached_property
    def attributed(self) -> pl.DataFrame:
        """Clicks, add-to-carts and purchases credited to the answer that showed the item."""
        return attribute(self.events, self.impressions, self.impression_items)

    def since(self, start_ms: int) -> pl.DataFrame:
        """The events at or after `start_ms`."""
        return self.events.filter(pl.col("ts") >= start_ms)

    @cached_property
    def as_of_ms(self) -> int:
        """The newest event or answer: the "now" of the data (a replayed log ends in the past)."""
        newest = [self.events["ts"].max(), self.impressions["ts"].max()]
        known = [int(v) for v in newest if v is not None]  # type: ignore[arg-type]
        return max(known) if known else int(time.time() * 1000)


class SnapshotCache:
    """The latest :class:`Snapshot` and the results computed from it, per store.

    A snapshot is replaced when the store's versions move or it is `max_age_s` old. With
    `background` on (the server's setting), a request never waits for that: it is answered
    from the snapshot it has while one thread reads the store again and recomputes every
    result asked for so far, then swaps them in (so reports lag the data by the time one
    refresh takes). Without a snapshot yet, or with `background` off, the caller computes it.
    """

    def __init__(self, *, store: Store, max_age_s: float = 30.0, background: bool = False) -> None:
        self._store = store
        self._max_age_s = max_age_s
        self.background = background
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._made = 0.0
        self._results: dict[tuple[Any, ...], Any] = {}
        self._computes: dict[tuple[Any, ...], Callable[[Snapshot], Any]] = {}
        self._refreshing = False

    def _stale(self) -> bool:
        return (self._snapshot is None or self._snapshot.versions != self._store.versions()
                or time.monotonic() - self._made > self._max_age_s)

    def snapshot(self) -> Snapshot:
        with self._lock:
            if not self._stale():
                return self._snapshot  # type: ignore[return-value]
            if self._snapshot is not None and self.background:
                if not self._refreshing:
                    self._refreshing = True
                    threading.Thread(target=self._refresh, name="insights-refresh", daemon=True).start()
                return self._snapshot
            self._snapshot = Snapshot(store=self._store)
            self._made = time.monotonic()
            self._results = {}
            return self._snapshot

    def _refresh(self) -> None:
        try:
            fresh = Snapshot(store=self._store)
            with self._lock:
                computes = dict(self._computes)
            results = {key: compute(fresh) for key, compute in computes.items()}
            with self._lock:
                self._snapshot, self._made, self._results = fresh, time.monotonic(), results
        finally:
            with self._lock:
                self._refreshing = False

    def result(self, key: tuple[Any, ...], compute: Callable[[Snapshot], Any]) -> Any:
        """`compute(snapshot)`, kept until the snapshot changes (and recomputed with the next)."""
        snapshot = self.snapshot()
        with self._lock:
            self._computes.pop(key, None)
            self._computes[key] = compute
            while len(self._computes) > MAX_KEPT:  # recompute only the reports asked for lately
                self._computes.pop(next(iter(self._computes)))
            if key in self._results and self._snapshot is snapshot:
                return self._results[key]
        value = compute(snapshot)
        with self._lock:
            if self._snapshot is snapshot:
                self._results[key] = value
        return value
