"""Counters with exponential decay, kept relative to one anchor time so that ranking them
needs no per-item arithmetic.

An event of weight ``w`` at time ``ts`` is stored as ``w * 2 ** ((ts - anchor) / half_life)``;
an item's count at any time ``t`` is its stored value times ``2 ** (-(t - anchor) / half_life)``,
one factor shared by every item, so the order of the stored values is the order of the
counts at every moment. With the anchor at the trained popularity model's reference time
and the same half-life, a stored value adds straight onto the model's score
(:func:`cartwise.online.answers.popular`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cartwise.recommend.base import DAY_MS

# Past this many half-lives after the anchor, the anchor moves forward (float range).
_MAX_EXPONENT = 300.0


@dataclass(frozen=True, slots=True)
class DecayedCounts:
    """Decayed sums of event weights per item (see the module docstring). Immutable:
    :meth:`add` returns a new object, so a reader holding this one never sees it change."""

    half_life_days: float
    anchor_ms: int
    values: Mapping[str, float] = field(default_factory=dict)
    """Per item, the decayed sum at the anchor time."""

    def add(self, entries: Iterable[tuple[str, float, int]]) -> DecayedCounts:
        """These counts plus `entries` of ``(item_id, weight, ts_ms)``."""
        values = dict(self.values)
        anchor = self.anchor_ms
        span = self.half_life_days * DAY_MS
        for item_id, weight, ts in entries:
            exponent = (ts - anchor) / span
            if exponent > _MAX_EXPONENT:
                shrink = 2.0 ** (-exponent)
                values = {i: v * shrink for i, v in values.items()}
                anchor, exponent = int(ts), 0.0
            values[item_id] = values.get(item_id, 0.0) + weight * 2.0**exponent
        return DecayedCounts(self.half_life_days, anchor, values)

    def factor(self, anchor_ms: int) -> float:
        """What multiplies a value stored at `anchor_ms` to put it on this object's scale."""
        return 2.0 ** ((anchor_ms - self.anchor_ms) / (self.half_life_days * DAY_MS))

    def at(self, item_id: str, now_ms: int) -> float:
        """The item's decayed count at `now_ms`."""
        return self.values.get(item_id, 0.0) / self.factor(now_ms)

    def top(self, k: int, *, exclude: Iterable[str] = ()) -> list[tuple[str, float]]:
        """The `k` largest stored values, biggest first (ties by id), skipping `exclude`."""
        skip = set(exclude)
        ranked = sorted(((v, i) for i, v in self.values.items() if i not in skip), key=lambda p: (-p[0], p[1]))
        return [(i, v) for v, i in ranked[:k]]

    def __len__(self) -> int:
        return len(self.values)


__all__ = ["DecayedCounts"]
