"""The text an item is embedded from, and the hash that says when it changed.

Title first (it carries most of the signal for product search), then brand, category,
a few short attributes and the start of the description. Small encoders read 256-512
tokens and mean-pool them, so a long description would both be cut off and dilute
the title; :data:`DESCRIPTION_CHARS` keeps the whole text well inside that window.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from cartwise.errors import ValidationError

DESCRIPTION_CHARS = 300
MAX_ATTRIBUTES = 8
ATTRIBUTE_VALUE_CHARS = 40

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def _clean(value: Any) -> str:
    if value is None:
        return ""
    text = html.unescape(_TAG.sub(" ", str(value)))
    return _SPACE.sub(" ", text).strip()


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary when one is near the end.

    Text without spaces (Chinese, Japanese) is cut at the character limit.
    """
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space >= limit * 0.8:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"


def _attribute_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_clean(v) for v in value if not isinstance(v, (dict, list)) and _clean(v))
    if isinstance(value, dict):
        return ""
    return _clean(value)


def key_attributes(attributes: str | Mapping[str, Any] | None, *, item_id: Any = None) -> list[str]:
    """``["color: red", "size: M"]`` from the attributes JSON text (or an already parsed dict).

    Keeps the first :data:`MAX_ATTRIBUTES` attributes with short scalar values: long values
    are free text that belongs in the description, nested objects are rarely searchable.
    """
    if attributes is None or attributes == "":
        return []
    if isinstance(attributes, str):
        try:
            attributes = json.loads(attributes)
        except ValueError as exc:
            raise ValidationError(
                f"item {item_id!r}: attributes is not valid JSON ({exc})", field="attributes"
            ) from exc
    if not isinstance(attributes, Mapping):
        raise ValidationError(
            f"item {item_id!r}: attributes must be a JSON object, got {type(attributes).__name__}",
            field="attributes",
        )
    pairs = []
    for key, value in attributes.items():
        text = _attribute_value(value)
        if text and len(text) <= ATTRIBUTE_VALUE_CHARS:
            pairs.append(f"{_clean(key)}: {text}")
        if len(pairs) == MAX_ATTRIBUTES:
            break
    return pairs


def item_text(row: Mapping[str, Any]) -> str:
    """One line per part: title, brand, category, attributes, description start.

    `row` follows ``ITEM_SCHEMA`` (a polars row or an ``Item.model_dump()``); missing or
    empty fields are skipped. The brand is left out when the title already names it.
    """
    title = _clean(row.get("title"))
    brand = _clean(row.get("brand"))
    category = _clean(row.get("category"))
    description = truncate(_clean(row.get("description")), DESCRIPTION_CHARS)
    parts = [title] if title else []
    if brand and brand.casefold() not in title.casefold():
        parts.append(f"brand: {brand}")
    if category:
        parts.append(f"category: {category}")
    attributes = key_attributes(row.get("attributes"), item_id=row.get("item_id"))
    if attributes:
        parts.append("; ".join(attributes))
    if description and description != title:
        parts.append(description)
    return "\n".join(parts)


def item_texts(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """:func:`item_text` of each row, e.g. ``item_texts(items.iter_rows(named=True))``."""
    return [item_text(row) for row in rows]


def text_hash(text: str) -> str:
    """Stable 128-bit content hash (hex) of an item text: equal text, equal hash, any process."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()
