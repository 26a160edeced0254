"""POST /v1/events through an event bus: append, then answer 202 (see :mod:`cartwise.bus`)."""

from __future__ import annotations

from fastapi import Request, Response

from cartwise.api.metrics import metrics_of
from cartwise.api.schemas import AcceptedResponse, EventBatch, RejectedRow
from cartwise.bus.publish import EventPublisher
from cartwise.ingest import IngestReport


def bus_of(request: Request) -> EventPublisher | None:
    """The app's event bus publisher, None when events are stored directly."""
    bus: EventPublisher | None = getattr(request.app.state, "bus", None)
    return bus


def publish_events(bus: EventPublisher, batch: EventBatch, request: Request, response: Response) -> AcceptedResponse:
    accepted = bus.add_events(batch.events, unknown_items=batch.unknown_items)
    if (metrics := metrics_of(request)) is not None:
        metrics.observe_events(batch.events, IngestReport(
            kind="events", source="api", rows_read=accepted.received, rows_written=accepted.accepted,
            rows_rejected=len(accepted.rejects), rejects=accepted.rejects,
        ))
    response.status_code = 422 if accepted.received and not accepted.accepted else 202
    return AcceptedResponse(
        received=accepted.received,
        accepted=accepted.accepted,
        rejected=[RejectedRow(index=int(r.line), field=r.field, reason=r.reason) for r in accepted.rejects],
        messages=accepted.message_ids,
    )
