"""What the engine answers: the response contracts shared by the Python API, the CLI
(``--json``) and the HTTP API. Field names are part of the public contract."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ItemResult(BaseModel):
    """One product in an answer, with why it is there."""

    item_id: str
    title: str
    score: float
    reason: str = Field(description="human-readable explanation of why this item was returned")
    because: list[str] = Field(default_factory=list, description="item ids that led to this result")
    category: str | None = None
    brand: str | None = None
    price: float | None = None
    currency: str | None = None
    in_stock: bool = True


class SearchResponse(BaseModel):
    query: str
    mode: str = "lexical"
    k: int
    offset: int = 0
    filters: dict[str, Any] = Field(default_factory=dict)
    items: list[ItemResult]
    took_ms: float


class RecommendationResponse(BaseModel):
    user_id: str
    k: int
    strategy: str = Field(description="'personalised', 'popular' (cold user) or a mix of both")
    items: list[ItemResult]
    took_ms: float


class SimilarResponse(BaseModel):
    item_id: str
    k: int
    items: list[ItemResult]
    took_ms: float


class TrainReport(BaseModel):
    version: str
    recommender: str = "itemknn"
    items: int
    events: int
    users: int
    excluded_flagged_users: int
    seconds: dict[str, float]
    catalog_version: int
    events_version: int
