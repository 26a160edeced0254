"""/v1/live and /v1/ready: the probes an orchestrator polls, open to all.

Liveness says only that the process answers (restart it when it does not); readiness says
whether it can answer shoppers now: the store answers and a model version is loaded. Not
ready is 503 with ``Retry-After`` and the reason, so a load balancer routes around the
node until it recovers by itself (a store back, a first `train` done). /v1/health stays
as it was: a status summary for people and scripts.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from cartwise.api.deps import get_engine
from cartwise.engine import Engine
from cartwise.errors import CartwiseError

router = APIRouter(prefix="/v1", tags=["health"])
_log = logging.getLogger("cartwise")

# Seconds a client should wait before asking again: a store outage is often short; a store
# without a model needs a `train`, which takes a while.
RETRY_STORE_S = 5
RETRY_MODEL_S = 30


class Liveness(BaseModel):
    status: Literal["alive"] = "alive"


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    store: Literal["ok", "unreachable"]
    model_version: str | None = Field(description="the model version answering, None when none is loaded")
    reason: str | None = Field(default=None, description="why not ready, in words")


@router.get("/live", response_model=Liveness)
async def live() -> Liveness:
    """The process is up and its event loop answers; touches nothing else."""
    return Liveness()


# A plain `def`: a store that hangs, or a first model load, must not hold up the event loop.
@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}})
def ready(engine: Annotated[Engine, Depends(get_engine)]) -> Readiness | JSONResponse:
    """200 when the store answers and a model version is loaded; else 503 with
    ``Retry-After`` and the reason."""
    try:
        engine.store.versions()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the store means not ready
        # The detail (which may name a host) goes to the log, not to an open endpoint.
        _log.warning("readiness: the store does not answer: %s", exc)
        return _not_ready(Readiness(status="not_ready", store="unreachable", model_version=None,
                                    reason=f"the store does not answer ({type(exc).__name__})"), RETRY_STORE_S)
    state = engine.state
    if state is None:
        try:
            info = engine.model_info()  # loads the live version if there is one
        except CartwiseError as exc:
            return _not_ready(Readiness(status="not_ready", store="ok", model_version=None,
                                        reason=f"the live model cannot be loaded: {exc.message}"), RETRY_MODEL_S)
        if info is None:
            return _not_ready(Readiness(status="not_ready", store="ok", model_version=None,
                                        reason="no model is trained yet: run `cartwise train`"), RETRY_MODEL_S)
        state = engine.state
    version = state.models.version if state is not None else None
    return Readiness(status="ready", store="ok", model_version=version)


def _not_ready(body: Readiness, retry_after_s: int) -> JSONResponse:
    return JSONResponse(status_code=503, content=body.model_dump(), headers={"Retry-After": str(retry_after_s)})
