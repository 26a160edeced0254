"""/v1/runs: the team's shared record (:mod:`cartwise.logbook`): training and evaluation
runs with their configuration, data and metrics, two side by side, notes (admin)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from cartwise.access import Scope
from cartwise.access.audit import AuditAction
from cartwise.api.auth import KeyFirstRoute, require
from cartwise.api.deps import get_engine
from cartwise.api.routes.audit import record_admin
from cartwise.api.schemas import ErrorBody
from cartwise.engine import Engine
from cartwise.logbook import MAX_NOTE_CHARS, Comparison, Note, Run

router = APIRouter(prefix="/v1/runs", tags=["runs"], route_class=KeyFirstRoute, dependencies=[require(Scope.ADMIN)])
_ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}, 422: {"model": ErrorBody}}
RunId = Annotated[str, Path(max_length=120, description="train:<model version> or eval:<run id>")]


class Runs(BaseModel):
    runs: list[Run] = Field(description="newest first")


class NewNote(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_NOTE_CHARS, description="free text: what was tried, what it showed")


@router.get("", response_model=Runs)
def list_runs(
    engine: Annotated[Engine, Depends(get_engine)],
    kind: Annotated[Literal["training", "evaluation"] | None, Query(description="only this kind")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Runs:
    """Training runs (one per saved model version) and offline evaluation runs, newest first."""
    return Runs(runs=engine.logbook.runs(kind=kind, limit=limit))


@router.get("/compare", response_model=Comparison, responses=_ERRORS)
def compare_runs(
    engine: Annotated[Engine, Depends(get_engine)],
    a: Annotated[str, Query(max_length=120, description="the run to compare from")],
    b: Annotated[str, Query(max_length=120, description="the run to compare with (deltas are b - a)")],
) -> Comparison:
    """Two runs side by side: configuration (differences first), data, metrics with deltas."""
    return engine.logbook.compare(a, b)


@router.get("/{run_id}", response_model=Run, responses=_ERRORS)
def show_run(engine: Annotated[Engine, Depends(get_engine)], run_id: RunId) -> Run:
    return engine.logbook.get(run_id)


@router.post("/{run_id}/notes", response_model=Note, status_code=201, responses=_ERRORS)
def add_note(request: Request, engine: Annotated[Engine, Depends(get_engine)], run_id: RunId, note: NewNote) -> Note:
    """Leave a note on a run for the team; notes are kept in order and never rewritten."""
    key = getattr(request.state, "key", None)
    author = (key.name or key.prefix) if key is not None else "anonymous"
    written = engine.logbook.add_note(run_id, note.text, author=author)
    record_admin(request, engine, AuditAction.RUNS_NOTE, target=run_id, detail=note.text[:200])
    return written
