"""Filter rules: only items matching `keep`, none matching `exclude` (stock, price range,
category or brand exclusions, attribute conditions)::

    - {id: in-stock-only, kind: filter, keep: {in_stock: true}}
    - {id: no-cheap-socks, kind: filter, exclude: {category: Outdoor > Socks, price: {below: 5}}}
"""

from __future__ import annotations

from typing import Any, ClassVar

from cartwise.rules.conditions import read_condition
from cartwise.rules.document import Fields
from cartwise.rules.kinds.registry import RuleKind, register_kind
from cartwise.rules.probes import Probes


@register_kind
class Filter(RuleKind):
    name: ClassVar[str] = "filter"
    phase: ClassVar[str] = "remove"
    fields: ClassVar[tuple[str, ...]] = ("keep", "exclude")

    def __init__(self, fields: Fields, probes: Probes) -> None:
        keep = fields.mapping("keep", what="the items to keep")
        exclude = fields.mapping("exclude", what="the items to leave out")
        if keep is None and exclude is None:
            fields.problem(None, "a filter needs `keep` (a condition the items must meet) or `exclude` (one they "
                                 "must not)")
        self.keep = read_condition(keep) if keep is not None else None
        self.exclude = read_condition(exclude) if exclude is not None else None
        self._keep = probes.add(self.keep) if self.keep is not None else None
        self._exclude = probes.add(self.exclude) if self.exclude is not None else None

    def removes(self, item_id: str, facts: tuple[Any, ...]) -> bool:
        if self._keep is not None and not facts[self._keep]:
            return True
        return self._exclude is not None and bool(facts[self._exclude])

    def describe(self) -> str:
        parts = []
        if self.keep is not None:
            parts.append(f"keeps {self.keep.text}")
        if self.exclude is not None:
            parts.append(f"leaves out {self.exclude.text}")
        return "; ".join(parts)


__all__ = ["Filter"]
