"""Collapse rules: near-identical variants (sizes and colours of one product) shown as one
result, the best-ranked. Variants are told apart by the first of `by` an item has: an
attribute naming the product family (default ``group_id``, then ``parent_id``), else its
title with colour, size and number words taken out ("Red summer dress M" and "Blue summer
dress L" are one product)::

    - {id: one-per-product, kind: collapse}
    - {id: by-model, kind: collapse, by: [model]}
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from cartwise.rules.conditions import ItemView
from cartwise.rules.document import Fields
from cartwise.rules.kinds.registry import RuleKind, register_kind
from cartwise.rules.probes import Probes

DEFAULT_KEYS = ("group_id", "parent_id", "title")
# Words that tell variants apart, not products (English and Chinese).
VARIANT_WORDS = frozenset(
    "red blue green black white grey gray pink purple yellow orange brown beige navy silver gold ivory cream "
    "xxs xs s m l xl xxl xxxl small medium large extra size colour color pack "
    "红色 蓝色 绿色 黑色 白色 灰色 粉色 紫色 黄色 橙色 棕色 金色 银色 大号 中号 小号 红 蓝 绿 黑 白".split()
)
_WORD = re.compile(r"[\w\u4e00-\u9fff]+")


def variant_title(title: str) -> str:
    """`title` without colour, size and number words: what variants of a product share."""
    words = [w for w in _WORD.findall(title.casefold()) if w not in VARIANT_WORDS and not any(c.isdigit() for c in w)]
    return " ".join(words)


@register_kind
class Collapse(RuleKind):
    name: ClassVar[str] = "collapse"
    phase: ClassVar[str] = "collapse"
    fields: ClassVar[tuple[str, ...]] = ("by",)

    def __init__(self, fields: Fields, probes: Probes) -> None:
        self.keys = fields.strings("by", DEFAULT_KEYS, max_items=10)
        self._key = probes.add(self._family)

    def _family(self, item: ItemView) -> Any:
        for key in self.keys or DEFAULT_KEYS:
            if key == "title":
                family = variant_title(item.card.title)
                return ("title", family) if family else None
            value = item.attributes.get(key)
            if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
                return (key, str(value).strip())
        return None

    def family(self, facts: tuple[Any, ...]) -> Any:
        return facts[self._key]

    def describe(self) -> str:
        return "variants by " + ", then ".join(self.keys or DEFAULT_KEYS)


__all__ = ["Collapse", "variant_title"]
