"""/v1/events: the behaviour stream. An accepted event changes that user's
recommendations on their next request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from cartwise.access import Scope
from cartwise.api.auth import KeyFirstRoute, require
from cartwise.api.deps import get_engine
from cartwise.api.metrics import metrics_of
from cartwise.api.routes.accepted import bus_of, publish_events
from cartwise.api.routes.ingest_response import to_response
from cartwise.api.schemas import AcceptedResponse, ErrorBody, EventBatch, IngestResponse
from cartwise.engine import Engine

router = APIRouter(
    prefix="/v1/events", tags=["events"], route_class=KeyFirstRoute, dependencies=[require(Scope.EVENTS)]
)


@router.post("", response_model=IngestResponse | AcceptedResponse,
             responses={202: {"model": AcceptedResponse}, 422: {"model": ErrorBody}, 503: {"model": ErrorBody}})
def add_events(
    batch: EventBatch, request: Request, response: Response, engine: Annotated[Engine, Depends(get_engine)]
) -> IngestResponse | AcceptedResponse:
    """Record a batch of events. Re-sending an event (same `event_id`, or same content)
    is counted as a duplicate and changes nothing. With an event bus (`serve --bus`) the
    answer is 202 once the bus holds the events, which reach the store moments later."""
    if (bus := bus_of(request)) is not None:
        return publish_events(bus, batch, request, response)
    report = engine.add_events(batch.events, unknown_items=batch.unknown_items)
    if (metrics := metrics_of(request)) is not None:
        metrics.observe_events(batch.events, report)
    return to_response(report, response)
