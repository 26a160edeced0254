"""/v1/insights: the operations dashboard's reports (admin keys only). The analyses live in
:mod:`cartwise.insights`; this layer reads the query and picks the store of the key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from cartwise.access import Scope
from cartwise.api.auth import KeyFirstRoute, require
from cartwise.api.deps import get_engine
from cartwise.api.metrics import metrics_of
from cartwise.api.schemas import ErrorBody
from cartwise.engine import Engine
from cartwise.insights import BusinessReport, InventoryReport, OperationsReport

router = APIRouter(
    prefix="/v1/insights", tags=["insights"], route_class=KeyFirstRoute, dependencies=[require(Scope.ADMIN)]
)
ERRORS = {422: {"model": ErrorBody}}
Days = Annotated[int, Query(ge=1, le=3650, description="the window: this many days up to `end_ms`")]
EndMs = Annotated[
    int | None, Query(ge=0, description="end of the window (epoch ms); default: the newest event or answer")
]
Limit = Annotated[int, Query(ge=1, le=100, description="rows per list")]


@router.get("/business", response_model=BusinessReport, responses=ERRORS)
def business(
    engine: Annotated[Engine, Depends(get_engine)], days: Days = 30, end_ms: EndMs = None, limit: Limit = 15
) -> BusinessReport:
    """Per day and placement, and per model version: answers, items shown, clicks, add-to-carts
    and purchases credited to them, with their rates; revenue credited to each placement; top,
    zero-result and clicked-but-not-bought queries; top and rising products."""
    return engine.insights.business(days=days, end_ms=end_ms, limit=limit)


@router.get("/inventory", response_model=InventoryReport, responses=ERRORS)
def inventory(
    engine: Annotated[Engine, Depends(get_engine)], days: Days = 30, end_ms: EndMs = None, limit: Limit = 15
) -> InventoryReport:
    """Interest, purchases and revenue per price band and department; items looked at but not
    bought; stock-outs with the demand they lost; slow movers; each department's demand trend
    with its 95% interval."""
    return engine.insights.inventory(days=days, end_ms=end_ms, limit=limit)


@router.get("/operations", response_model=OperationsReport, responses=ERRORS)
def operations(request: Request, engine: Annotated[Engine, Depends(get_engine)]) -> OperationsReport:
    """Events per minute by type (last hour), ingest runs and rejects by reason, bot-flagged
    shoppers, model freshness and serving lag, and the alerts raised: events stopped, CTR
    dropped, reject rate jumped, model stale."""
    published = engine.published_version()
    serving = (published.catalog, published.events) if published is not None else None
    report = engine.insights.operations(model=engine.model_info(), serving_versions=serving)
    metrics = metrics_of(request)
    return report.model_copy(update={"event_lag": metrics.lag.summary()}) if metrics is not None else report
