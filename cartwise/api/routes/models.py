"""/v1/models: the kept model versions, promote one, roll back (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request
from pydantic import BaseModel, Field

from cartwise.access import Scope
from cartwise.access.audit import AuditAction
from cartwise.api.auth import KeyFirstRoute, require
from cartwise.api.deps import get_engine
from cartwise.api.routes.audit import record_admin
from cartwise.api.schemas import ErrorBody
from cartwise.engine import Engine

router = APIRouter(prefix="/v1/models", tags=["models"], route_class=KeyFirstRoute,
                   dependencies=[require(Scope.ADMIN)])


class ModelVersionOut(BaseModel):
    version: str
    live: bool
    trained_ms: int | None = None
    recommender: str | None = None
    events: int | None = None
    promoted_ms: int | None = Field(default=None, description="when it last went live; null: never")
    gate: dict[str, Any] | None = Field(
        default=None, description="the retraining gate's verdict, for versions a worker made"
    )


class ModelVersions(BaseModel):
    versions: list[ModelVersionOut] = Field(description="newest first")
    history: list[dict[str, Any]] = Field(description="promotions and rollbacks, oldest first")


class Swap(BaseModel):
    reason: str = Field(default="", max_length=500, description="why, kept in the history")


class Live(BaseModel):
    version: str = Field(description="the version now live")


@router.get("", response_model=ModelVersions)
def list_models(engine: Annotated[Engine, Depends(get_engine)]) -> ModelVersions:
    """Every kept version, which is live, and the promotion history."""
    versions = [ModelVersionOut(**info.__dict__) for info in engine.versions.list_versions()]
    return ModelVersions(versions=versions, history=engine.versions.history())


@router.post("/{version}/promote", response_model=Live, responses={404: {"model": ErrorBody}})
def promote(
    request: Request,
    engine: Annotated[Engine, Depends(get_engine)],
    version: Annotated[str, Path(max_length=100)],
    swap: Annotated[Swap | None, Body()] = None,
) -> Live:
    """Make a kept version live; this server answers from it at once, others within a second."""
    reason = (swap.reason if swap else "") or "promoted over HTTP"
    live = engine.promote(version, reason=reason)
    record_admin(request, engine, AuditAction.MODELS_PROMOTE, target=live, detail=reason)
    return Live(version=live)


@router.post("/rollback", response_model=Live, responses={404: {"model": ErrorBody}})
def rollback(
    request: Request, engine: Annotated[Engine, Depends(get_engine)], swap: Annotated[Swap | None, Body()] = None
) -> Live:
    """Return to the version that was live before the current one."""
    reason = (swap.reason if swap else "") or "rolled back over HTTP"
    live = engine.rollback(reason=reason)
    record_admin(request, engine, AuditAction.MODELS_ROLLBACK, target=live, detail=reason)
    return Live(version=live)
