"""What the answers learned since the live model version was trained, as one immutable
object published with the live state (:class:`cartwise.live.LiveState`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cartwise.online.cooccurrence import CoCounts, Contribution
from cartwise.online.counters import DecayedCounts

# The trending counter's half-life: what shoppers chose in the last day or so.
TRENDING_HALF_LIFE_DAYS = 1.0


@dataclass(frozen=True, slots=True)
class OnlineDeltas:
    """Deltas over one model version: popularity on the model's own decay (anchored at its
    reference time, so a value adds onto its score), a short-lived trending counter, and
    co-occurrence supports. Every event they hold was stored after `events_version`, the
    store's events version the model was trained at, so nothing is counted twice."""

    model_version: str | None
    events_version: int
    popularity: DecayedCounts
    trending: DecayedCounts
    together: CoCounts = field(default_factory=CoCounts)
    events: int = 0
    """Events learned from."""
    newest_ms: int | None = None
    """The newest learned event's time."""

    @classmethod
    def empty(
        cls,
        *,
        model_version: str | None,
        events_version: int,
        anchor_ms: int,
        half_life_days: float,
        trending_half_life_days: float = TRENDING_HALF_LIFE_DAYS,
        shrinkage: float = 10.0,
    ) -> OnlineDeltas:
        return cls(
            model_version=model_version,
            events_version=events_version,
            popularity=DecayedCounts(half_life_days, anchor_ms),
            trending=DecayedCounts(trending_half_life_days, anchor_ms),
            together=CoCounts(shrinkage),
        )

    def learned(
        self, *, counts: Iterable[tuple[str, float, int]], contributions: Iterable[Contribution], events: int
    ) -> OnlineDeltas:
        """These deltas plus a batch: weighted ``(item, weight, ts)`` counts and co-occurrence
        contributions from `events` stored events."""
        counts = list(counts)
        newest = max((ts for _, _, ts in counts), default=None)
        if self.newest_ms is not None and (newest is None or newest < self.newest_ms):
            newest = self.newest_ms
        return OnlineDeltas(
            model_version=self.model_version,
            events_version=self.events_version,
            popularity=self.popularity.add(counts),
            trending=self.trending.add(counts),
            together=self.together.add(contributions),
            events=self.events + events,
            newest_ms=newest,
        )

    @property
    def is_empty(self) -> bool:
        return self.events == 0


__all__ = ["TRENDING_HALF_LIFE_DAYS", "OnlineDeltas"]
