"""A product in a store's catalog.

Only `item_id` and `title` are required. Categories are paths such as
``Home > Kitchen > Mugs``; :func:`category_levels` splits them so filters and
per-category popularity can match any prefix.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cartwise.events.event import ID_PATTERN, parse_timestamp_ms
from cartwise.limits import MAX_DESCRIPTION_LENGTH, MAX_ID_LENGTH, MAX_TITLE_LENGTH

CATEGORY_SEPARATOR = ">"


def split_category(path: str | None) -> list[str]:
    """``"Home > Kitchen > Mugs"`` -> ``["Home", "Kitchen", "Mugs"]``."""
    if not path:
        return []
    return [part.strip() for part in path.split(CATEGORY_SEPARATOR) if part.strip()]


def normalise_category(path: str | None) -> str | None:
    parts = split_category(path)
    return " > ".join(parts) if parts else None


def category_levels(path: str | None) -> list[str]:
    """Every prefix of a category path: ``["Home", "Home > Kitchen", "Home > Kitchen > Mugs"]``."""
    parts = split_category(path)
    return [" > ".join(parts[: i + 1]) for i in range(len(parts))]


class Item(BaseModel):
    """One catalog entry, as accepted by the HTTP API and the Python API."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    item_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)
    title: str = Field(min_length=1, max_length=MAX_TITLE_LENGTH)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_LENGTH)
    category: str | None = Field(default=None, max_length=MAX_TITLE_LENGTH)
    brand: str | None = Field(default=None, max_length=MAX_ID_LENGTH)
    price: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    in_stock: bool = True
    attributes: dict[str, Any] = Field(default_factory=dict)
    created_at: int | None = Field(default=None, description="epoch milliseconds")

    @field_validator("category")
    @classmethod
    def _category(cls, value: str | None) -> str | None:
        return normalise_category(value)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return value.upper() if value else value

    @field_validator("created_at", mode="before")
    @classmethod
    def _created_at(cls, value: Any) -> int | None:
        if value is None or value == "":
            return None
        return parse_timestamp_ms(value)
