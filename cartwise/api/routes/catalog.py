"""/v1/items: catalog upserts and deletes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from cartwise.access import Scope
from cartwise.access.audit import AuditAction, summarise
from cartwise.api.auth import KeyFirstRoute, require
from cartwise.api.deps import get_engine
from cartwise.api.routes.audit import record_admin
from cartwise.api.routes.ingest_response import to_response
from cartwise.api.schemas import ErrorBody, IngestResponse, ItemBatch
from cartwise.engine import Engine
from cartwise.limits import MAX_ID_LENGTH

router = APIRouter(
    prefix="/v1/items", tags=["catalog"], route_class=KeyFirstRoute, dependencies=[require(Scope.ADMIN)]
)


@router.post("", response_model=IngestResponse, responses={422: {"model": ErrorBody}})
def upsert_items(
    batch: ItemBatch, request: Request, response: Response, engine: Annotated[Engine, Depends(get_engine)]
) -> IngestResponse:
    """Insert or update items. Valid rows are stored even when others are rejected;
    every rejected row is listed with its index and reason. All rejected -> 422."""
    report = engine.upsert_items(batch.items)
    if report.rows_written:
        record_admin(request, engine, AuditAction.ITEMS_UPSERT,
                     target=summarise([str(item.get("item_id")) for item in batch.items]),
                     detail=f"{report.rows_written} written, {report.rows_rejected} rejected")
    return to_response(report, response)


# `:path`, so that ids with a slash (SKU/123, sent as SKU/123 or SKU%2F123) work here too.
@router.delete("/{item_id:path}", status_code=204, responses={404: {"model": ErrorBody}})
def delete_item(
    item_id: Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)],
    request: Request,
    engine: Annotated[Engine, Depends(get_engine)],
) -> Response:
    """Remove an item from the catalog (its events are kept); it vanishes from answers at once."""
    engine.delete_item(item_id)
    record_admin(request, engine, AuditAction.ITEMS_DELETE, target=item_id)
    return Response(status_code=204)
