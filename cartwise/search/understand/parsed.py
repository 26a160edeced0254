"""What query understanding reads out of a query: a :class:`ParsedQuery` and its :class:`Chip` s."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Chip:
    """One removable constraint read from the query.

    ``kind`` is ``"price"``, ``"category"``, ``"brand"``, ``"colour"`` or ``"size"``; ``text`` is
    the exact substring of the original query it came from; ``value`` is the machine form, e.g.
    ``{"max": 200.0}``, ``{"category": "Home > Kitchen"}``, ``{"colour": "red"}``.
    """

    kind: str
    label: str
    text: str
    value: dict[str, Any] = field(hash=False)


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """A query split into free text and structured constraints.

    ``text`` is the query without its price phrases, whitespace collapsed; brand, category,
    colour and size words are kept in it. Price bounds are inclusive; ``None`` means unbounded.
    """

    original: str
    text: str
    price_min: float | None
    price_max: float | None
    categories: tuple[str, ...]
    brands: tuple[str, ...]
    colours: tuple[str, ...]
    sizes: tuple[str, ...]
    chips: tuple[Chip, ...]
    price_currency: str | None = None
    """ISO 4217 code written with the price ("$", "元", "pounds"); None for a bare number,
    which means the catalog's own currency."""
