"""/v1/health: liveness plus what the store holds and which model version answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from cartwise.api.deps import get_engine
from cartwise.api.schemas import Health
from cartwise.engine import Engine

router = APIRouter(prefix="/v1", tags=["health"])


@router.get("/health", response_model=Health)
async def health(engine: Annotated[Engine, Depends(get_engine)]) -> Health:
    stats = engine.stats(max_age_s=10.0)
    info = engine.model_info()
    return Health(
        status="ok" if info else "untrained",
        store=str(engine.store.path),
        items=stats.items,
        events=stats.events,
        model_version=info["version"] if info else None,
        trained_ms=info.get("trained_ms") if info else None,
    )
