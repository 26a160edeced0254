"""Passages derived from a catalog item: its title (with brand, category and price), each
attribute, and its description split into passages. They stand beside the item's documents
(bullets, specs, reviews, Q&A) when a product question is answered."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from typing import Any

from cartwise.assistant.knowledge import Passage, split_passages

_TAG = re.compile(r"<[^>]+>")


def _clean(value: Any) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", str(value))).split()) if value is not None else ""


def _attributes(raw: Any) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, str) and raw.strip():
        try:
            value = json.loads(raw)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}
    return {}


def item_passages(item: Mapping[str, Any]) -> list[Passage]:
    """The passages of one catalog row (a mapping with the store's item columns)."""
    item_id = str(item["item_id"])
    doc = f"catalog:{item_id}"
    title = _clean(item.get("title"))
    passages: list[Passage] = []
    facts = [title]
    if item.get("brand"):
        facts.append(f"brand: {_clean(item['brand'])}")
    if item.get("category"):
        facts.append(f"category: {_clean(item['category'])}")
    if item.get("price") is not None:
        currency = f" {item['currency']}" if item.get("currency") else ""
        facts.append(f"price: {item['price']:g}{currency}")
    if item.get("in_stock") is not None:
        facts.append("in stock" if item["in_stock"] else "out of stock")
    passages.append(Passage(f"{doc}#title", "; ".join(f for f in facts if f), "title", doc, item_id, title))
    for name, value in _attributes(item.get("attributes")).items():
        if name == "bid" or value is None or value == "":
            continue
        shown = ", ".join(map(_clean, value)) if isinstance(value, list) else _clean(value)
        passages.append(Passage(f"{doc}#attr:{name}", f"{name}: {shown}", "attribute", doc, item_id, title))
    for n, piece in enumerate(split_passages(_clean(item.get("description")))):
        passages.append(Passage(f"{doc}#desc{n}", piece, "catalog_description", doc, item_id, title))
    return passages


__all__ = ["item_passages"]
