"""The relation graph a running engine answers from, kept up to date as events arrive.

The graph of the live model version is loaded on first use. When events come in through
any process (the HTTP or Python API, `cartwise ingest events`, another server), the engine
hands on what it learns from the store's events log (:mod:`cartwise.live`): each touched
shopper's baskets are read with and without the new events; the items a basket gained are
added to the co-view and co-purchase counts (:class:`~cartwise.graph.cooccurrence.CountDelta`),
as a rebuild would count them (duplicates and rejected events are never in the log). A new
model version brings a rebuilt graph and starts the counts afresh. Bought-after links, bulk
commits and baskets of shoppers past the batch limit below reach the graph at the next `train`.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from pathlib import Path

import polars as pl

from cartwise.errors import NotTrained
from cartwise.graph.baskets import SIGNAL_EVENTS, Signal, basket_key, signal_of
from cartwise.graph.cooccurrence import CountDelta
from cartwise.graph.graph import GRAPH_DIR, RelationGraph
from cartwise.limits import HISTORY_LENGTH
from cartwise.store import Store

# A batch of events touching more shoppers than this is left to the next `train` (reading
# all their baskets would hold the log's followers up).
MAX_LIVE_USERS = 1000

Baskets = dict[tuple[Signal, str], set[str]]


class LiveGraph:
    """The relation graph of the live model version plus the baskets counted since."""

    def __init__(self, *, models_dir: Path) -> None:
        self.models_dir = models_dir
        self._lock = threading.Lock()
        self._version: str | None = None
        self._base: RelationGraph | None = None
        self._viewed = CountDelta()
        self._bought = CountDelta()
        # (version, graph with the live counts), replaced as one reference: readers take no lock.
        self._published: tuple[str, RelationGraph] | None = None

    def graph(self, version: str) -> RelationGraph:
        """The graph of model `version` with the live counts (NotTrained when that version
        was trained before relation graphs existed)."""
        published = self._published
        if published is not None and published[0] == version:
            return published[1]
        with self._lock:
            self._load(version)
            assert self._published is not None
            return self._published[1]

    def _load(self, version: str) -> None:
        """Make `version`'s graph the base (caller holds the lock)."""
        if self._version == version and self._published is not None:
            return
        path = self.models_dir / version / GRAPH_DIR
        if not path.exists():
            raise NotTrained(
                f"model version {version} has no product relation graph (it was trained before the graph existed)",
                hint="retrain with `cartwise train`",
            )
        self._base = RelationGraph.load(path)
        self._version = version
        self._viewed = self._bought = CountDelta()
        self._published = (version, self._base)

    @property
    def deltas(self) -> tuple[CountDelta, CountDelta]:
        """The (co-viewed, co-bought) counts added since the graph was built."""
        return self._viewed, self._bought

    def learn(
        self, store: Store, events: pl.DataFrame, *, version: str | None, flagged: Collection[str] | None = None
    ) -> None:
        """Count the baskets that `events` (just stored, EVENT_SCHEMA columns: what the
        store's events log hands on) changed into the graph of model `version` (nothing
        when None: the store is not trained yet)."""
        chosen = events.filter(
            pl.col("item_id").is_not_null() & pl.col("event_type").is_in([kind for kinds in SIGNAL_EVENTS.values() for kind in kinds])
        )
        users = chosen["user_id"].unique(maintain_order=True).to_list()
        if version is None or not users or len(users) > MAX_LIVE_USERS:
            return
        try:
            with self._lock:
                self._load(version)
        except NotTrained:
            return
        if flagged is None:  # the caller's set, when it keeps one (the events log's follower does)
            flagged = set(store.flagged_users()["user_id"].to_list())
        users = [u for u in users if u not in flagged]
        recent = store.recent_events(users, limit=HISTORY_LENGTH)
        new_keys = set(events["event_key"].to_list())
        after = _baskets(recent)
        before = _baskets(recent.filter(~pl.col("event_key").is_in(list(new_keys))))
        with self._lock:
            if self._version != version or self._base is None:
                return  # a new version was loaded meanwhile: its graph counted these events
            changes: dict[Signal, list[tuple[set[str], set[str]]]] = {Signal.VIEW: [], Signal.BUY: []}
            for (signal, key), items in after.items():
                changes[signal].append((before.get((signal, key), set()), items))
            viewed = self._viewed.add_many(changes[Signal.VIEW])
            bought = self._bought.add_many(changes[Signal.BUY])
            if viewed is not self._viewed or bought is not self._bought:
                self._viewed, self._bought = viewed, bought
                self._published = (version, self._base.with_counts(viewed=viewed, bought=bought))


def _baskets(events: pl.DataFrame) -> Baskets:
    """The baskets of shoppers' `events` (their latest, as Store.recent_events reads them),
    by signal and basket key."""
    out: Baskets = {}
    for user, item, kind, ts, session in events.select("user_id", "item_id", "event_type", "ts", "session_id").iter_rows():
        signal = signal_of(kind) if item is not None else None
        if signal is not None:
            out.setdefault((signal, basket_key(user, session, ts)), set()).add(item)
    return out


__all__ = ["MAX_LIVE_USERS", "LiveGraph"]
