"""What query understanding reads out of a query: a :class:`ParsedQuery` and its :class:`Chip` s."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import ConfigDict, Field


@dataclass(frozen=True, slots=True)
class Chip:
    """Something the engine read out of the query, for a front end to show as a removable chip."""

    # The one chip type: the parser fills the first four fields and leaves `applied` empty;
    # the search page (cartwise.search.service) says how it used the chip, and the answers
    # (cartwise.results.SearchResponse) carry it as is. In an answer `applied` is always set,
    # so the response schema marks it required.
    __pydantic_config__ = ConfigDict(json_schema_serialization_defaults_required=True)

    kind: Annotated[str, Field(description="price, category, brand, colour or size")]
    label: str
    text: Annotated[str, Field(description="the exact part of the query it came from")]
    # The machine form, e.g. {"max": 200.0}, {"category": "Home > Kitchen"}, {"colour": "red"}.
    value: dict[str, Any] = field(hash=False)
    applied: Annotated[
        str,
        Field(description="'filter' (or 'filter, converted to GBP at ...'), 'boost', or why it was not applied"),
    ] = ""


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
