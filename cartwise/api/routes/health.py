"""/v1/health: a cheap liveness check, open to all; /v1/stats: what the store holds (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from cartwise.access import Scope
from cartwise.api.auth import KeyFirstRoute, require
from cartwise.api.deps import get_engine
from cartwise.api.schemas import Health
from cartwise.engine import Engine

router = APIRouter(prefix="/v1", tags=["health"], route_class=KeyFirstRoute)


@router.get("/health", response_model=Health)
async def health(engine: Annotated[Engine, Depends(get_engine)]) -> Health:
    """Liveness for load balancers: no table scans, answers in well under a millisecond."""
    info = engine.model_info()
    catalog_version, events_version = engine.store.versions()
    return Health(
        status="ok" if info else "untrained",
        catalog_version=catalog_version,
        events_version=events_version,
        model_version=info["version"] if info else None,
        trained_ms=info.get("trained_ms") if info else None,
    )


# A plain `def` on purpose: counting a large event log takes a few hundred milliseconds,
# which must not stall the event loop that answers searches.
@router.get("/stats", dependencies=[require(Scope.ADMIN)])
def stats(engine: Annotated[Engine, Depends(get_engine)]) -> dict[str, Any]:
    """Counts of items, events by type, users and flagged users (cached for 10 s)."""
    numbers = engine.stats(max_age_s=10.0)
    return {**numbers.__dict__, "store": str(engine.store.path), "model": engine.model_info()}
