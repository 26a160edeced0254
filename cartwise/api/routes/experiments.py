"""/v1/experiments: A/B tests and interleaving (admin), and a user's assignment (search).

A front end that renders its own pages asks ``GET /v1/experiments/assignment`` which
variant a user sees in a placement, renders it, and reports what it showed with
``POST /v1/impressions`` carrying the `impression_variant` it was given; answers Cartwise
builds itself (search, recommendations, similar items) are served by the variant and
logged with it already.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from cartwise.access import Scope
from cartwise.access.audit import AuditAction
from cartwise.api.auth import KeyFirstRoute, require
from cartwise.api.deps import get_engine
from cartwise.api.routes.audit import record_admin
from cartwise.api.schemas import ErrorBody
from cartwise.engine import Engine
from cartwise.experiments import Experiment, ExperimentResults
from cartwise.experiments.definition import MAX_VARIANTS
from cartwise.limits import MAX_ID_LENGTH

router = APIRouter(prefix="/v1/experiments", tags=["experiments"], route_class=KeyFirstRoute)
_ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}, 422: {"model": ErrorBody}}
ExperimentId = Annotated[str, Path(max_length=64, description="the experiment's id (exp-...)")]


class ExperimentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)
    placements: list[str] = Field(max_length=10, description="search, recommend, similar or a front end's own names")
    variants: list[dict[str, Any]] = Field(
        max_length=MAX_VARIANTS,
        description="the control first; each {name, weight, config}; config.kind: control, rules (version or "
        "document), ranking (answers: {search|browse|recommend|similar: cascade settings}) or model (version)",
    )
    mode: str = Field(default="ab", description="ab, or interleave (two variants, team draft)")
    salt: str | None = Field(default=None, description="assignment salt; default: the experiment id")
    metric: str = Field(default="conversion", description="conversion, ctr, add_to_cart or revenue_per_user")
    alpha: float = 0.05
    horizon_users: int | None = Field(
        default=None, description="a fixed horizon in users: the verdict waits for it; null: always-valid "
        "sequential test, safe to read at any time")
    experiment_id: str | None = Field(default=None, max_length=64)


class VariantOut(BaseModel):
    name: str
    weight: float
    config: dict[str, Any]


class ExperimentOut(BaseModel):
    experiment_id: str
    name: str
    status: str = Field(description="running, stopped or shipped")
    mode: str
    placements: list[str]
    variants: list[VariantOut]
    salt: str
    metric: str
    alpha: float
    horizon_users: int | None
    created_ms: int
    started_ms: int
    stopped_ms: int | None
    shipped: str | None
    note: str

    @classmethod
    def of(cls, experiment: Experiment) -> ExperimentOut:
        body = {**experiment.__dict__, "placements": list(experiment.placements),
                "variants": [VariantOut(**v.__dict__) for v in experiment.variants]}
        return cls(**body)


class ExperimentList(BaseModel):
    experiments: list[ExperimentOut] = Field(description="oldest first")


class ExperimentDetail(BaseModel):
    experiment: ExperimentOut
    results: ExperimentResults


class Stop(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=500)


class Ship(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variant: str | None = Field(default=None, max_length=40, description="null: the one the verdict says to ship")
    reason: str = Field(default="", max_length=500)


class Shipped(BaseModel):
    experiment: ExperimentOut
    done: str = Field(description="what shipping changed in the store")


class Assignment(BaseModel):
    user_id: str
    placement: str
    experiment_id: str | None = Field(description="null: no experiment runs in this placement")
    variant: str | None = Field(description="the user's variant (null for interleaving: both)")
    impression_variant: str | None = Field(description="send this as `variant` with the impressions you report")
    mode: str | None
    config: dict[str, Any] | None = Field(description="the variant's config, for a front end that applies it itself")


@router.post("", response_model=ExperimentOut, responses=_ERRORS, dependencies=[require(Scope.ADMIN)])
def create_experiment(request: Request, engine: Annotated[Engine, Depends(get_engine)],
                      body: Annotated[ExperimentIn, Body()]) -> ExperimentOut:
    """Start an experiment now: its placements' requests are served by each user's variant."""
    experiment = engine.experiments.create(**body.model_dump())
    record_admin(request, engine, AuditAction.EXPERIMENTS_CREATE, target=experiment.experiment_id,
                 detail=f"{experiment.name}: {', '.join(v.name for v in experiment.variants)} "
                 f"in {', '.join(experiment.placements)}")
    return ExperimentOut.of(experiment)


@router.get("", response_model=ExperimentList, dependencies=[require(Scope.ADMIN)])
def list_experiments(engine: Annotated[Engine, Depends(get_engine)]) -> ExperimentList:
    return ExperimentList(experiments=[ExperimentOut.of(e) for e in engine.experiments.all()])


@router.get("/assignment", response_model=Assignment, responses={422: {"model": ErrorBody}},
            dependencies=[require(Scope.SEARCH)])
def assignment(
    engine: Annotated[Engine, Depends(get_engine)],
    user_id: Annotated[str, Query(min_length=1, max_length=MAX_ID_LENGTH)],
    placement: Annotated[str, Query(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_.-]{0,39}$")],
) -> Assignment:
    """The experiment and variant `user_id` is in for `placement` (nulls when none runs there)."""
    return Assignment(**engine.experiments.assignment(user_id, placement))


@router.get("/{experiment_id}", response_model=ExperimentDetail, responses=_ERRORS,
            dependencies=[require(Scope.ADMIN)])
def show_experiment(engine: Annotated[Engine, Depends(get_engine)], experiment_id: ExperimentId) -> ExperimentDetail:
    """The definition, per-arm numbers with intervals, the sample ratio check, the test and the verdict."""
    if engine.impressions is not None:
        engine.impressions.flush()
    experiment = engine.experiments.get(experiment_id)
    return ExperimentDetail(experiment=ExperimentOut.of(experiment), results=engine.experiments.results(experiment_id))


@router.post("/{experiment_id}/stop", response_model=ExperimentOut, responses=_ERRORS,
             dependencies=[require(Scope.ADMIN)])
def stop_experiment(request: Request, engine: Annotated[Engine, Depends(get_engine)], experiment_id: ExperimentId,
                    body: Annotated[Stop | None, Body()] = None) -> ExperimentOut:
    """Stop it: every user gets the store's own answers again; the results stay readable."""
    reason = body.reason if body else ""
    stopped = engine.experiments.stop(experiment_id, reason=reason)
    record_admin(request, engine, AuditAction.EXPERIMENTS_STOP, target=experiment_id, detail=reason or None)
    return ExperimentOut.of(stopped)


@router.post("/{experiment_id}/ship", response_model=Shipped, responses=_ERRORS,
             dependencies=[require(Scope.ADMIN)])
def ship_experiment(request: Request, engine: Annotated[Engine, Depends(get_engine)], experiment_id: ExperimentId,
                    body: Annotated[Ship | None, Body()] = None) -> Shipped:
    """End it with a variant made the store's own (rules published, model promoted, a
    ranking served to everyone); without `variant`, the one the verdict says to ship."""
    if engine.impressions is not None:
        engine.impressions.flush()
    ship = body or Ship()
    shipped, done = engine.experiments.ship(experiment_id, shipyard=engine, variant=ship.variant,
                                            reason=ship.reason)
    record_admin(request, engine, AuditAction.EXPERIMENTS_SHIP, target=experiment_id,
                 detail=f"{shipped.shipped}: {done}")
    return Shipped(experiment=ExperimentOut.of(shipped), done=done)
