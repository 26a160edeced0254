"""Boost and bury rules: move items up or down by a share of the best item's relevance.

An answer's scores are first made relevance shares (the best candidate 1.0); a boost of
`weight` adds `weight` to each matching item's share, a bury subtracts it, so
``weight: 0.2`` lifts an item past any candidate less than 0.2 more relevant. With `by`,
the amount follows a number of the item: ``by: margin`` (the attribute, divided by
`scale`, default 1), ``by: stock`` (units left over `scale`, default 100), ``by: newness``
(1 for an item created now, falling to 0 at `scale` days, default 30), or any numeric
attribute; each capped to [0, 1]::

    - {id: acme-up, kind: boost, when: {brand: Acme}, weight: 0.3}
    - {id: margin, kind: boost, by: margin, scale: 0.5, weight: 0.2}
    - {id: last-units, kind: bury, when: {stock: {below: 3}}, weight: 0.5}
"""

from __future__ import annotations

from typing import Any, ClassVar

from cartwise.rules.conditions import ItemView, read_condition
from cartwise.rules.document import Fields
from cartwise.rules.kinds.registry import RuleKind, register_kind
from cartwise.rules.probes import Probes

DEFAULT_SCALES = {"margin": 1.0, "stock": 100.0, "newness": 30.0}


@register_kind
class Boost(RuleKind):
    name: ClassVar[str] = "boost"
    phase: ClassVar[str] = "score"
    fields: ClassVar[tuple[str, ...]] = ("when", "weight", "by", "scale")
    sign: ClassVar[float] = 1.0

    def __init__(self, fields: Fields, probes: Probes) -> None:
        when = fields.mapping("when", what="the items to move")
        self.when = read_condition(when) if when is not None else None
        self.weight = fields.number("weight", 0.2, low=0.0, high=10.0)
        self.by = fields.text("by", None, max_length=100)
        if self.by is not None and self.by in ("brand", "category", "title", "item_id", "in_stock"):
            fields.problem("by", f"`by` names a number of the item (margin, stock, newness or a numeric "
                                 f"attribute), not {self.by!r}; use `when` to choose items")
        self.scale = fields.number("scale", DEFAULT_SCALES.get(self.by or "", 1.0), low=1e-9)
        self._when = probes.add(self.when) if self.when is not None else None
        self._by = probes.add(self._measure) if self.by is not None else None

    def _measure(self, item: ItemView) -> float:
        if self.by == "newness":
            created = item.created_ms
            if created is None:
                return 0.0
            age_days = max(item.now_ms - created, 0) / 86_400_000
            return min(max(1.0 - age_days / self.scale, 0.0), 1.0)
        value = item.number(self.by or "")
        if value is None:
            return 0.0
        return min(max(value / self.scale, 0.0), 1.0)

    def amount(self, facts: tuple[Any, ...]) -> float:
        """The change of the item's share (0: the rule does not touch it)."""
        if self._when is not None and not facts[self._when]:
            return 0.0
        share = facts[self._by] if self._by is not None else 1.0
        return self.sign * (self.weight or 0.0) * share

    def describe(self) -> str:
        what = self.when.text if self.when is not None else "every item"
        by = f" by {self.by}" if self.by else ""
        return f"{what}{by}, weight {self.weight:g}"


@register_kind
class Bury(Boost):
    name: ClassVar[str] = "bury"
    sign: ClassVar[float] = -1.0


__all__ = ["Boost", "Bury"]
