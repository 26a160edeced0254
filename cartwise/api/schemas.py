"""Request and response bodies of the HTTP API that are not shared with the Python API."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from cartwise.catalog.item import Item
from cartwise.events.event import Event
from cartwise.limits import MAX_BATCH, MAX_ID_LENGTH, MAX_RATED_ITEMS
from cartwise.results import RatingPrediction


class ItemBatch(BaseModel):
    # A misspelt top-level field (`item`, `unknown_item`) would otherwise be ignored silently.
    model_config = ConfigDict(extra="forbid")

    items: list[dict[str, Any]] = Field(
        max_length=MAX_BATCH,
        description=f"up to {MAX_BATCH} items; fields as in the Item schema",
        json_schema_extra={"items": Item.model_json_schema()},
    )


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
    notes: list[str] = Field(default_factory=list, description="what the warnings were about, in words")


class AcceptedResponse(BaseModel):
    """The answer when an event bus carries events to the store (202): the bus holds the
    accepted events durably; the store has them once its consumer moved them there."""

    received: int
    accepted: int = Field(description="events the bus acknowledged; each is stored exactly once")
    rejected: list[RejectedRow]
    messages: list[str] = Field(default_factory=list, description="ids of the bus messages holding them")


class RatingPredictionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    item_ids: list[Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]] = Field(
        min_length=1, max_length=MAX_RATED_ITEMS, description=f"1 to {MAX_RATED_ITEMS} item ids to predict ratings of"
    )


class ClickPredictionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    item_ids: list[Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]] = Field(
        min_length=1, max_length=MAX_RATED_ITEMS, description=f"1 to {MAX_RATED_ITEMS} candidate item ids"
    )
    placement: str = Field(default="recommend", description="where the items would be shown")


class RatingPredictionResponse(BaseModel):
    user_id: str
    items: list[RatingPrediction] = Field(description="one prediction per requested item, in request order")


class ErrorBody(BaseModel):
    error: str
    message: str
    field: str | None = None
    hint: str | None = None
    detail: list[dict[str, Any]] | None = None


class Health(BaseModel):
    status: str = Field(description="'ok', or 'untrained' before the first `cartwise train`")
    catalog_version: int = Field(description="bumped by every catalog change")
    events_version: int = Field(description="bumped by every ingest that added events")
    model_version: str | None
    trained_ms: int | None
