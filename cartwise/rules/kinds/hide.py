"""Hide rules: these items are never shown where the rule applies::

    - {id: recall-2026-07, kind: hide, items: [SKU-1, SKU-2]}
"""

from __future__ import annotations

from typing import Any, ClassVar

from cartwise.rules.document import Fields
from cartwise.rules.kinds.registry import RuleKind, register_kind
from cartwise.rules.probes import Probes


@register_kind
class Hide(RuleKind):
    name: ClassVar[str] = "hide"
    phase: ClassVar[str] = "remove"
    fields: ClassVar[tuple[str, ...]] = ("items",)

    def __init__(self, fields: Fields, probes: Probes) -> None:
        self.items = frozenset(fields.strings("items") or ())

    def removes(self, item_id: str, facts: tuple[Any, ...]) -> bool:
        return item_id in self.items

    def describe(self) -> str:
        shown = sorted(self.items)
        return "hides " + ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")


__all__ = ["Hide"]
