"""What relation answers return: related items with their evidence, a bundle, alternatives."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


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
    request_id: str | None = None
    took_ms: float


class AlternativesResponse(BaseModel):
    """Substitutes of an item, those in stock first."""

    item_id: str
    k: int
    items: list[RelatedItem]
    request_id: str | None = None
    took_ms: float


__all__ = ["AlternativesResponse", "BundleResponse", "RelatedItem", "RelatedResponse", "RelationKindInfo"]
