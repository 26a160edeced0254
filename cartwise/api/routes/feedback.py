"""/v1/impressions: lists a front end showed; /v1/feedback: what the answers shown led to."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from cartwise.access import Scope
from cartwise.api.auth import KeyFirstRoute, require
from cartwise.api.deps import get_engine
from cartwise.api.metrics import metrics_of
from cartwise.api.schemas import ErrorBody
from cartwise.engine import Engine
from cartwise.feedback import FeedbackReport
from cartwise.feedback.client import MAX_IMPRESSIONS, ClientImpression

router = APIRouter(prefix="/v1", tags=["feedback"], route_class=KeyFirstRoute)


class ImpressionBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    impressions: list[dict[str, Any]] = Field(
        max_length=MAX_IMPRESSIONS,
        description=f"up to {MAX_IMPRESSIONS} lists shown; fields as in the ClientImpression schema",
        json_schema_extra={"items": ClientImpression.model_json_schema()},
    )


class ImpressionsAccepted(BaseModel):
    request_ids: list[str] = Field(description="each impression's request_id, in order (new ones where none was sent)")


@router.post(
    "/impressions",
    response_model=ImpressionsAccepted,
    responses={422: {"model": ErrorBody}},
    dependencies=[require(Scope.EVENTS)],
)
def add_impressions(
    batch: ImpressionBatch, request: Request, engine: Annotated[Engine, Depends(get_engine)]
) -> ImpressionsAccepted:
    """Report lists the front end rendered itself, or re-ordered: they are written before
    the answer returns. Cartwise's own answers are logged without this call. Send the
    request_id with the clicks, add-to-carts and purchases they lead to. A request_id
    already stored is kept as first sent. One invalid impression rejects the batch (422,
    naming its index and field)."""
    request_ids = engine.add_impressions(batch.impressions)
    if (metrics := metrics_of(request)) is not None:
        metrics.observe_impressions(len(request_ids))
    return ImpressionsAccepted(request_ids=request_ids)


@router.get(
    "/feedback", response_model=FeedbackReport, responses={422: {"model": ErrorBody}},
    dependencies=[require(Scope.ADMIN)],
)
def feedback(
    engine: Annotated[Engine, Depends(get_engine)],
    since_ms: Annotated[int | None, Query(ge=0, description="answers shown at or after (epoch ms)")] = None,
    by: Annotated[
        list[Literal["placement", "model_version", "variant"]] | None,
        Query(description="repeatable; default placement and model_version"),
    ] = None,
) -> FeedbackReport:
    """Click-through, add-to-cart and conversion rates (95% Wilson intervals) of the answers
    shown, per placement and model version, after attributing each click, add-to-cart and
    purchase to the answer that showed the item (by request_id, else the last answer that
    showed it to the same shopper within the window: 1 h for clicks, 24 h otherwise)."""
    return engine.feedback(since_ms=since_ms, by=tuple(by or ("placement", "model_version")))
