"""Pin rules: this item at this position (1 = first) where the rule applies. Pins run
after every other rule: a pinned item a filter or hide removes is not shown, and the
answer's rules say so::

    - {id: hero, kind: pin, item: SKU-42, position: 1, scope: {query: {contains: [lamp]}}}
"""

from __future__ import annotations

from typing import ClassVar

from cartwise.rules.document import Fields
from cartwise.rules.kinds.registry import RuleKind, register_kind
from cartwise.rules.probes import Probes

MAX_PIN_POSITION = 100


@register_kind
class Pin(RuleKind):
    name: ClassVar[str] = "pin"
    phase: ClassVar[str] = "pin"
    fields: ClassVar[tuple[str, ...]] = ("item", "position")

    def __init__(self, fields: Fields, probes: Probes) -> None:
        self.item_id = fields.text("item", max_length=200)
        self.position = fields.integer("position", 1, low=1, high=MAX_PIN_POSITION)

    def describe(self) -> str:
        return f"{self.item_id} at position {self.position}"


__all__ = ["MAX_PIN_POSITION", "Pin"]
