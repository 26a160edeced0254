"""Request and response bodies of the HTTP API that are not shared with the Python API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from cartwise.catalog.item import Item
from cartwise.events.event import Event

MAX_BATCH = 10_000


class ItemBatch(BaseModel):
    items: list[dict[str, Any]] = Field(
        max_length=MAX_BATCH,
        description=f"up to {MAX_BATCH} items; fields as in the Item schema",
        json_schema_extra={"items": Item.model_json_schema()},
    )


class EventBatch(BaseModel):
    events: list[dict[str, Any]] = Field(
        max_length=MAX_BATCH,
        description=f"up to {MAX_BATCH} events; fields as in the Event schema",
        json_schema_extra={"items": Event.model_json_schema()},
    )
    unknown_items: str = Field(default="keep", pattern="^(keep|reject)$")


class RejectedRow(BaseModel):
    index: int = Field(description="position of the row in the request's list (0-based)")
    field: str | None
    reason: str


class IngestResponse(BaseModel):
    received: int
    written: int
    duplicates: int
    rejected: list[RejectedRow]
    warnings: int = Field(description="rows kept with a warning, e.g. events for items not in the catalog")
    flagged_users: list[str] = Field(default_factory=list)


class ErrorBody(BaseModel):
    error: str
    message: str
    field: str | None = None
    hint: str | None = None
    detail: list[dict[str, Any]] | None = None


class Health(BaseModel):
    status: str = Field(description="'ok', or 'untrained' before the first `cartwise train`")
    store: str
    catalog_version: int = Field(description="bumped by every catalog change")
    events_version: int = Field(description="bumped by every ingest that added events")
    model_version: str | None
    trained_ms: int | None
