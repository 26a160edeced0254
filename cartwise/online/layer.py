"""The writer of the online deltas: learns from each batch of stored events and starts
afresh, keeping what the new model did not see, when a model version goes live.

Each commit's events are one batch of the journal, tagged with the events version the
commit left the store at (their stamp in the store's events log). A model trained at events version ``V`` has read every event committed up to
``V``; :meth:`OnlineLayer.rebase` replays only the journal's batches tagged after ``V``.
(A batch that commits between training's version read and its event read is in both: a
window of milliseconds, the price of not locking the store while training reads it.)
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from cartwise.events.event import EVENT_WEIGHTS
from cartwise.limits import HISTORY_LENGTH
from cartwise.online.cooccurrence import Contribution
from cartwise.online.deltas import TRENDING_HALF_LIFE_DAYS, OnlineDeltas
from cartwise.recommend.base import DAY_MS
from cartwise.store import Store

_log = logging.getLogger("cartwise")
# Events kept in the journal for the next rebase; past it the oldest batches go (they then
# count only once the next `train` has read them).
MAX_JOURNAL_EVENTS = 2_000_000


# A batch touching more shoppers than this (a bulk upload) adds to the counters only: reading
# every shopper's history for co-occurrence would hold the write up; the next `train` counts
# those pairs (the relation graph's live counts draw the same line).
MAX_LIVE_USERS = 1000


@dataclass(frozen=True, slots=True)
class _Batch:
    tag: int
    counts: list[tuple[str, float, int]]
    contributions: list[Contribution]
    events: int


class OnlineLayer:
    """Builds :class:`OnlineDeltas` from stored events (see the module docstring).

    Parameters
    ----------
    store:
        Where each touched shopper's recent history is read (pairs for co-occurrence).
    trending_half_life_days, shrinkage:
        The trending counter's half-life; the support at which an online pair's similarity
        is halved (item-kNN's default).
    weights:
        Weight of each event type (default ``EVENT_WEIGHTS``); a type of weight 0 (search)
        teaches nothing.

    A shopper counts each (item, event type) at most once per day in the counters, so a
    page reloaded a hundred times is one view; shoppers flagged as bots count nothing.
    Not thread-safe: its owner (:class:`cartwise.live.StatePublisher`) calls it under its
    writers' lock; readers only ever see the published :class:`OnlineDeltas`.
    """

    def __init__(
        self,
        store: Store,
        *,
        trending_half_life_days: float = TRENDING_HALF_LIFE_DAYS,
        shrinkage: float = 10.0,
        weights: dict[str, float] | None = None,
    ) -> None:
        self.store = store
        self.trending_half_life_days = trending_half_life_days
        self.shrinkage = shrinkage
        self.weights = dict(EVENT_WEIGHTS if weights is None else weights)
        self.deltas: OnlineDeltas | None = None
        self._journal: deque[_Batch] = deque()
        self._journal_events = 0
        self._seen: set[tuple[str, str, str, int]] = set()
        self._flagged: set[str] = set()

    def rebase(
        self, *, model_version: str | None, events_version: int, anchor_ms: int, half_life_days: float
    ) -> OnlineDeltas:
        """Deltas over a model trained at `events_version`: the journal's later batches
        replayed on empty counters anchored at the model's popularity reference time."""
        kept = [batch for batch in self._journal if batch.tag > events_version]
        self._journal = deque(kept)
        self._journal_events = sum(batch.events for batch in kept)
        self._flagged = set(self.store.flagged_users()["user_id"].to_list())
        deltas = OnlineDeltas.empty(
            model_version=model_version, events_version=events_version, anchor_ms=anchor_ms,
            half_life_days=half_life_days, trending_half_life_days=self.trending_half_life_days,
            shrinkage=self.shrinkage,
        )
        for batch in kept:
            deltas = deltas.learned(counts=batch.counts, contributions=batch.contributions, events=batch.events)
        self.deltas = deltas
        return deltas

    @property
    def flagged(self) -> frozenset[str]:
        """Shoppers flagged as bots, as this layer knows them (refreshed by its owner)."""
        return frozenset(self._flagged)

    def flag(self, users: Sequence[str]) -> None:
        """Shoppers flagged as bots: their events learned from now on count nothing."""
        self._flagged.update(users)

    def learn(
        self, events: pl.DataFrame, *, flagged: Sequence[str] = (), tag: int | None = None
    ) -> OnlineDeltas | None:
        """The deltas after learning `events` (EVENT_SCHEMA columns, already stored), each
        tagged with the events version its commit left the store at: its `committed` column
        (the events log's, :meth:`Store.events_since`), or `tag` for all of them. Each
        commit is one batch of the journal. None before the first rebase."""
        self._flagged.update(flagged)
        weights = self.weights
        tags = events["committed"] if tag is None else pl.Series("committed", [tag] * events.height, pl.Int64)
        rows = [
            (user, item, kind, int(ts), key, int(committed))
            for key, user, item, kind, ts, committed in events.select(
                "event_key", "user_id", "item_id", "event_type", "ts"
            ).with_columns(tags).sort("ts").iter_rows()
            if item is not None and weights.get(kind, 0.0) > 0 and user not in self._flagged
        ]
        if not rows:
            return self.deltas
        counts: dict[int, list[tuple[str, float, int]]] = {}
        for user, item, kind, ts, _, committed in rows:
            seen = (user, item, kind, ts // DAY_MS)
            if seen not in self._seen:
                self._seen.add(seen)
                counts.setdefault(committed, []).append((item, weights[kind], ts))
        together = self.deltas.together if self.deltas is not None else None
        contributions: dict[int, list[Contribution]] = {}
        if len({user for user, *_ in rows}) <= MAX_LIVE_USERS:
            contributions = self._contributions(rows, counted=together.counted if together is not None else None)
        sizes: dict[int, int] = {}
        for *_, committed in rows:
            sizes[committed] = sizes.get(committed, 0) + 1
        for committed in sorted(sizes):
            batch = _Batch(tag=committed, counts=counts.get(committed, []),
                           contributions=contributions.get(committed, []), events=sizes[committed])
            self._journal.append(batch)
            self._journal_events += batch.events
        while self._journal_events > MAX_JOURNAL_EVENTS and len(self._journal) > 1:
            self._journal_events -= self._journal.popleft().events
        if self.deltas is None:
            return None
        self.deltas = self.deltas.learned(
            counts=[c for batch in counts.values() for c in batch],
            contributions=[c for batch in contributions.values() for c in batch],
            events=len(rows),
        )
        return self.deltas

    def _contributions(
        self, rows: list[tuple[str, str, str, int, int, int]], *, counted: Callable[[str], frozenset[str]] | None
    ) -> dict[int, list[Contribution]]:
        """For each shopper of the batch, the items new to them, each paired with their
        history before it (read from the store: the events before this batch's), with
        item-kNN's evidence ``log1p(weight) / sqrt(distinct items)`` for both sides; by the
        commit (events version) of the event that brought the item."""
        by_user: dict[str, list[tuple[str, str, int, int]]] = {}
        for user, item, kind, _, key, committed in rows:
            by_user.setdefault(user, []).append((item, kind, key, committed))
        out: dict[int, list[Contribution]] = {}
        weights = self.weights
        histories: dict[str, list[tuple[int, str | None, str]]] = {}
        recent = self.store.recent_events(list(by_user), limit=HISTORY_LENGTH)  # one read for the batch
        for user, key, item, kind in recent.select("user_id", "event_key", "item_id", "event_type").iter_rows():
            histories.setdefault(user, []).append((key, item, kind))
        for user, chosen in by_user.items():
            new_keys = {key for _, _, key, _ in chosen}
            strongest: dict[str, float] = {}
            before: set[str] = set()
            for key, item, kind in histories.get(user, ()):
                weight = weights.get(kind, 0.0)
                if item is None or weight <= 0:
                    continue
                strongest[item] = max(strongest.get(item, 0.0), weight)
                if key not in new_keys:
                    before.add(item)
            for item, kind, _, _ in chosen:
                strongest[item] = max(strongest.get(item, 0.0), weights[kind])
            scale = 1.0 / math.sqrt(max(len(strongest), 1))
            partners = set(before) | (counted(user) if counted is not None else frozenset())
            for item, _, _, committed in chosen:
                if item in partners:
                    continue
                evidence = math.log1p(strongest[item]) * scale
                paired = tuple((other, math.log1p(strongest.get(other, 1.0)) * scale) for other in sorted(partners))
                out.setdefault(committed, []).append((user, item, evidence, paired))
                partners.add(item)
        return out


__all__ = ["MAX_JOURNAL_EVENTS", "MAX_LIVE_USERS", "OnlineLayer"]
