"""What relation answers return: related items with their evidence, a bundle, alternatives."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from cartwise.recommend import Scored
from cartwise.results import RuleTouch


class RelatedItem(BaseModel):
    """One item related to the asked one, and the evidence for it."""

    item_id: str
    title: str
    relation: str = Field(description="the relation kind that links it (see GET /v1/relations), or 'item' for "
                                      "the bundle's own item")
    score: float = Field(description="rank score within the relation (higher is closer)")
    evidence: dict[str, Any] = Field(
        default_factory=dict,
        description="why: basket counts, support, confidence and lift; text similarity; the shared brand, "
        "category, series, family or attribute values",
    )
    category: str | None = None
    brand: str | None = None
    price: float | None = None
    currency: str | None = None
    in_stock: bool = True
    rules: list[str] = Field(
        default_factory=list, description="ids of the merchandising rules that moved or pinned this item "
        "(bundle and alternatives)"
    )


class RelatedResponse(BaseModel):
    item_id: str
    type: str
    k: int
    model_version: str
    items: list[RelatedItem]
    took_ms: float


class RelationKindInfo(BaseModel):
    name: str
    description: str
    source: str


class BundleResponse(BaseModel):
    """Frequently bought together: the item and its companions, with the bundle's price."""

    item_id: str
    k: int
    items: list[RelatedItem] = Field(description="the item itself first, then its companions")
    total_price: float | None = Field(
        description="the sum of the items' prices; null when an item has no price or prices are in several currencies"
    )
    currency: str | None = None
    note: str | None = Field(default=None, description="why there is no total, or why the bundle is short")
    rules: list[RuleTouch] = Field(
        default_factory=list, description="the merchandising rules and stock policy that changed this answer"
    )
    request_id: str | None = None
    took_ms: float


class AlternativesResponse(BaseModel):
    """Substitutes of an item, those in stock first."""

    item_id: str
    k: int
    items: list[RelatedItem]
    rules: list[RuleTouch] = Field(
        default_factory=list, description="the merchandising rules and stock policy that changed this answer"
    )
    request_id: str | None = None
    took_ms: float


@dataclass(frozen=True)
class ScreenedItem:
    """One item a placement's rules kept (or pinned), with the ids of the rules that touched it."""

    item_id: str
    rules: tuple[str, ...] = ()


@dataclass(frozen=True)
class Screened:
    """What the shop's rules left of a relation placement's items, in order, and what they did."""

    items: list[ScreenedItem]
    rules: list[RuleTouch] = field(default_factory=list)


Screen = Callable[[str, Sequence[Scored], int], Screened]
"""The shop's rules for one placement: (asked item, proposed items best first, k) -> what to show."""


__all__ = [
    "AlternativesResponse", "BundleResponse", "RelatedItem", "RelatedResponse", "RelationKindInfo", "Screen",
    "Screened", "ScreenedItem",
]
