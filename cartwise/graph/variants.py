"""Variant families and series: the size and colour variants of one product, told from text
and attributes.

Two items are variants of one product when they share a brand and their titles are the
same once colour and size words are taken out ("Red ceramic mug" and "Blue ceramic mug";
"Tee, M" and "Tee, XL"; "红色 连衣裙" and "蓝色 连衣裙"), or when the catalog says so
with a parent or group attribute. A series is a named collection (``series``,
``collection`` or ``line`` attribute) holding different products.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import polars as pl

from cartwise.graph.text import words

COLOURS = frozenset({
    "red", "blue", "green", "yellow", "black", "white", "pink", "purple", "orange", "brown", "grey", "gray",
    "beige", "navy", "ivory", "cream", "gold", "silver", "turquoise", "teal", "lilac", "khaki", "multicolour",
    "multicolor", "multi", "natural", "clear", "rose", "mint", "aqua", "coral", "charcoal", "burgundy", "maroon",
    "tan", "olive",
})
# Shade words are colour words only before a colour ("light blue"; a "fairy light" is a product).
SHADES = frozenset({"light", "dark", "pale", "bright", "deep"})
COLOURS_ZH = ("红色", "蓝色", "绿色", "黄色", "黑色", "白色", "粉色", "粉红色", "紫色", "橙色", "棕色", "灰色", "金色", "银色",
              "米色", "咖啡色", "卡其色", "藏青色", "深色", "浅色")
SIZES = frozenset({
    "xxs", "xs", "s", "m", "l", "xl", "xxl", "xxxl", "2xl", "3xl", "4xl", "small", "medium", "large", "regular",
    "petite", "tall", "size",
})
SIZES_ZH = ("大号", "中号", "小号", "特大号", "加大")
# A number with a unit ("500ml", "12pcs"), and a bare number after a pack word ("set of
# 6"): pack and bottle sizes. Other bare numbers name the product ("volume 2", "iPhone 15").
_MEASURE = re.compile(r"^\d+(?:[.,]\d+)?(?:ml|l|g|kg|cm|mm|m|oz|in|inch|pcs|pc|pack|x)$")
_NUMBER = re.compile(r"^\d+(?:[.,]\d+)?$")
_PACK_WORDS = frozenset({"of", "pack", "set", "x", "size"})
_CJK = re.compile(r"[\u3400-\u9fff]")
VARIANT_KEYS = frozenset({"color", "colour", "size", "颜色", "尺码", "尺寸", "规格"})
FAMILY_KEYS = ("parent_id", "item_group_id", "group_id", "model")
SERIES_KEYS = ("series", "collection", "line", "系列")


def attributes_of(value: Any) -> dict[str, Any]:
    """An item's attributes as a dict, whether stored as JSON text or given as a mapping."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def product_words(title: str, attributes: Mapping[str, Any] | None = None) -> list[str]:
    """The words of `title` that name the product: colour, size and measure words, and the
    item's own colour and size attribute values, taken out."""
    own = set()
    for key, value in (attributes or {}).items():
        if str(key).casefold() in VARIANT_KEYS and value is not None:
            own.update(words(str(value)))
    kept = []
    previous = ""
    title_words = words(title)
    for n, word in enumerate(title_words):
        after_pack_word, previous = previous in _PACK_WORDS, word
        if word in COLOURS or word in SIZES or word in own or _MEASURE.match(word):
            continue
        if word in SHADES and n + 1 < len(title_words) and title_words[n + 1] in COLOURS:
            continue
        if after_pack_word and _NUMBER.match(word):
            continue
        if _CJK.search(word):
            for variant in (*COLOURS_ZH, *SIZES_ZH, *own):
                word = word.replace(variant, "")
            if not word:
                continue
        kept.append(word)
    return kept


def family_key(title: str, brand: str | None, attributes: Mapping[str, Any] | None = None) -> str | None:
    """The key items of one variant family share, or None when the title says too little to
    tell (fewer than two product words, or one Chinese phrase)."""
    attributes = attributes or {}
    for key in FAMILY_KEYS:
        value = attributes.get(key)
        if value not in (None, ""):
            return f"attr:{key}={value}"
    kept = product_words(title, attributes)
    enough = len(kept) >= 2 or any(_CJK.search(w) and len(w) >= 2 for w in kept)
    if not enough:
        return None
    return f"text:{(brand or '').strip().casefold()}|{' '.join(kept)}"


def series_key(attributes: Mapping[str, Any]) -> str | None:
    for key in SERIES_KEYS:
        value = attributes.get(key)
        if value not in (None, ""):
            return str(value).strip()
    return None


def families(items: pl.DataFrame) -> dict[str, list[str]]:
    """Variant families of `items` (columns ``item_id``, ``title``, optional ``brand`` and
    ``attributes``) holding two or more items: key -> item ids, sorted."""
    groups: dict[str, list[str]] = {}
    brands = items["brand"].to_list() if "brand" in items.columns else [None] * items.height
    attrs = items["attributes"].to_list() if "attributes" in items.columns else [None] * items.height
    for item_id, title, brand, raw in zip(items["item_id"].to_list(), items["title"].to_list(), brands, attrs,
                                          strict=True):
        key = family_key(title or "", brand, attributes_of(raw))
        if key is not None:
            groups.setdefault(key, []).append(item_id)
    return {key: sorted(members) for key, members in groups.items() if len(members) >= 2}


__all__ = ["attributes_of", "families", "family_key", "product_words", "series_key"]
