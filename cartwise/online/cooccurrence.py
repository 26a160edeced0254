"""Item co-occurrence counted since training, one shopper at a time.

Item-kNN (:class:`~cartwise.recommend.itemknn.ItemKNN`) links items chosen by the same
shoppers. Between trainings, a shopper who chooses an item new to them adds one to its
count of shoppers and one to its pair count with every item in their recent history (the
events the store keeps for them, :data:`~cartwise.limits.HISTORY_LENGTH`): exactly the
supports a refit would add for that shopper. A pair's online similarity is the cosine of
the new shoppers' binary columns, shrunk by support like the model's,
``s / (s + shrinkage) * s / sqrt(n_a * n_b)`` (a count below the pair's own support, an item
chosen before training, counts as that support), and adds to the model's similarity.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# (shopper, the item new to them, the items of their history it pairs with)
Contribution = tuple[str, str, Sequence[str]]


@dataclass(frozen=True, slots=True)
class CoCounts:
    """Supports counted since training (see the module docstring). Immutable: :meth:`add`
    copies only the rows it changes, so older objects stay as they were."""

    shrinkage: float = 10.0
    pairs: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """item -> other item -> shoppers who chose both since training."""
    shoppers: Mapping[str, int] = field(default_factory=dict)
    """item -> shoppers who chose it since training (new to them)."""
    users: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """shopper -> the items counted for them since training."""

    def add(self, contributions: Iterable[Contribution]) -> CoCounts:
        """These counts plus `contributions`; a (shopper, item) already counted is skipped."""
        pairs, shoppers, users = dict(self.pairs), dict(self.shoppers), dict(self.users)
        copied: set[str] = set()

        def row(item: str) -> dict[str, int]:
            if item not in copied:
                pairs[item] = dict(pairs.get(item, {}))
                copied.add(item)
            return pairs[item]  # type: ignore[return-value]

        changed = False
        for user, item, partners in contributions:
            counted = users.get(user, frozenset())
            if item in counted:
                continue
            changed = True
            users[user] = counted | {item}
            shoppers[item] = shoppers.get(item, 0) + 1
            mine = row(item)
            for other in set(partners) - {item}:
                mine[other] = mine.get(other, 0) + 1
                theirs = row(other)
                theirs[item] = theirs.get(item, 0) + 1
        if not changed:
            return self
        return CoCounts(self.shrinkage, pairs, shoppers, users)

    def counted(self, user: str) -> frozenset[str]:
        return self.users.get(user, frozenset())

    def similarity(self, item_id: str) -> dict[str, float]:
        """The online similarity of `item_id` to every item it co-occurred with since training."""
        row = self.pairs.get(item_id)
        if not row:
            return {}
        mine = self.shoppers.get(item_id, 0)
        return {
            other: support / (support + self.shrinkage)
            * support / math.sqrt(max(mine, support) * max(self.shoppers.get(other, 0), support))
            for other, support in row.items()
        }

    def __len__(self) -> int:
        return sum(self.shoppers.values())


__all__ = ["CoCounts", "Contribution"]
