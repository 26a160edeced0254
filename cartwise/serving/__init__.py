"""The serving pipeline: answers built by small stages (candidates, rank, rules, explain)
named in configuration (:mod:`cartwise.serving.config`)."""

from cartwise.serving import candidates, explain, rank, rules, sponsored  # noqa: F401 - registers the stages
from cartwise.serving.config import PIPELINES, RECOMMEND, SIMILAR
from cartwise.serving.pipeline import Cascade, Pipeline, Tier, is_personal
from cartwise.serving.stage import (
    Candidate,
    CandidateStage,
    Request,
    Stage,
    make_stage,
    register_stage,
    stage_names,
)

__all__ = [
    "PIPELINES",
    "RECOMMEND",
    "SIMILAR",
    "Candidate",
    "CandidateStage",
    "Cascade",
    "Pipeline",
    "Request",
    "Stage",
    "Tier",
    "is_personal",
    "make_stage",
    "register_stage",
    "stage_names",
]
