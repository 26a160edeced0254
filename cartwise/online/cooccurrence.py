"""Item co-occurrence counted since training, one shopper at a time, on item-kNN's scale.

Item-kNN (:class:`~cartwise.recommend.itemknn.ItemKNN`) links items chosen by the same
shoppers: each shopper's evidence for an item is ``x = log1p(event weight) / sqrt(items
the shopper chose)`` (a wholesaler's thousand items say little about any one pair), and
two items' similarity is their co-occurrence ``sum over shoppers of x_a * x_b`` over the
columns' norms, shrunk by support. Between trainings, a shopper who chooses an item new to
them adds ``x_new * x_other`` to its co-occurrence with every item in their recent history
(:data:`~cartwise.limits.HISTORY_LENGTH` events) and ``x_new ** 2`` to its squared norm.
The online similarity of a pair is that added co-occurrence over the norms (the model's,
grown by the online squares), shrunk by the online support ``s / (s + shrinkage)``: what
the pair's cosine gains from the new shoppers, added to the model's similarity. One
co-purchase of two bestsellers barely moves them; three shoppers pairing a new item with
an established one make them neighbours.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# (shopper, the item new to them, its evidence, (other item, its evidence) for each item
# of the shopper's history it pairs with)
Contribution = tuple[str, str, float, Sequence[tuple[str, float]]]
# The model's column norm of an item (0 for an item it does not know).
NormOf = Callable[[str], float]


@dataclass(frozen=True, slots=True)
class CoCounts:
    """Co-occurrence added since training (see the module docstring). Immutable: :meth:`add`
    copies only the rows it changes, so older objects stay as they were."""

    shrinkage: float = 10.0
    pairs: Mapping[str, Mapping[str, tuple[int, float]]] = field(default_factory=dict)
    """item -> other item -> (shoppers who chose both since training, added co-occurrence)."""
    squares: Mapping[str, float] = field(default_factory=dict)
    """item -> added squared norm (new shoppers' evidence squared)."""
    users: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """shopper -> the items counted for them since training."""

    def add(self, contributions: Iterable[Contribution]) -> CoCounts:
        """These counts plus `contributions`; a (shopper, item) already counted is skipped."""
        pairs, squares, users = dict(self.pairs), dict(self.squares), dict(self.users)
        copied: set[str] = set()

        def row(item: str) -> dict[str, tuple[int, float]]:
            if item not in copied:
                pairs[item] = dict(pairs.get(item, {}))
                copied.add(item)
            return pairs[item]  # type: ignore[return-value]

        changed = False
        for user, item, evidence, partners in contributions:
            counted = users.get(user, frozenset())
            if item in counted:
                continue
            changed = True
            users[user] = counted | {item}
            squares[item] = squares.get(item, 0.0) + evidence * evidence
            mine = row(item)
            for other, theirs_evidence in partners:
                if other == item:
                    continue
                value = evidence * theirs_evidence
                support, co = mine.get(other, (0, 0.0))
                mine[other] = (support + 1, co + value)
                theirs = row(other)
                support, co = theirs.get(item, (0, 0.0))
                theirs[item] = (support + 1, co + value)
        if not changed:
            return self
        return CoCounts(self.shrinkage, pairs, squares, users)

    def counted(self, user: str) -> frozenset[str]:
        return self.users.get(user, frozenset())

    def similarity(self, item_id: str, norm_of: NormOf) -> dict[str, float]:
        """The online similarity of `item_id` to every item it co-occurred with since
        training; `norm_of` gives the model's column norms."""
        row = self.pairs.get(item_id)
        if not row:
            return {}
        mine = self._norm(item_id, norm_of)
        out = {}
        for other, (support, co) in row.items():
            scale = mine * self._norm(other, norm_of)
            if scale > 0:
                out[other] = co / scale * support / (support + self.shrinkage)
        return out

    def _norm(self, item_id: str, norm_of: NormOf) -> float:
        return math.sqrt(norm_of(item_id) ** 2 + self.squares.get(item_id, 0.0))

    def __len__(self) -> int:
        return sum(len(items) for items in self.users.values())


__all__ = ["CoCounts", "Contribution", "NormOf"]
