"""/v1/audit: the store's log of admin actions (admin), and how routes add to it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from cartwise.access import Scope
from cartwise.access.audit import MAX_ENTRIES, AuditAction, key_actor, parse_since
from cartwise.api.auth import KeyFirstRoute, require
from cartwise.api.deps import get_engine
from cartwise.api.schemas import ErrorBody
from cartwise.engine import Engine

router = APIRouter(prefix="/v1/audit", tags=["audit"], route_class=KeyFirstRoute, dependencies=[require(Scope.ADMIN)])


class AuditEntryOut(BaseModel):
    audit_id: int
    ts: int = Field(description="epoch milliseconds")
    actor: str = Field(description="the API key's prefix (never its secret), or cli:<user>")
    action: str
    target: str | None = None
    detail: str | None = None


class AuditEntries(BaseModel):
    entries: list[AuditEntryOut] = Field(description="oldest first")


@router.get("", response_model=AuditEntries, responses={422: {"model": ErrorBody}})
def audit_log(
    engine: Annotated[Engine, Depends(get_engine)],
    since: Annotated[str | None, Query(max_length=40, description="15m, 2h, 7d, an ISO time or epoch ms")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ENTRIES)] = 1000,
) -> AuditEntries:
    """Admin actions on this store (catalog writes and deletes, keys, model swaps), the
    newest `limit` at or after `since`."""
    entries = engine.audit.entries(since_ms=parse_since(since) if since else None, limit=limit)
    return AuditEntries(entries=[AuditEntryOut(**e.__dict__) for e in entries])


def record_admin(request: Request, engine: Engine, action: AuditAction, *, target: str | None = None,
                 detail: str | None = None) -> None:
    """Note an admin action done by the request's key in its store's audit log."""
    engine.audit.record(action, actor=key_actor(getattr(request.state, "key", None)), target=target, detail=detail)
