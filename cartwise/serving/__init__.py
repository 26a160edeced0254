"""The serving pipeline: answers built by small stages (candidates, rank, rules, explain)
named in configuration (:mod:`cartwise.serving.config`)."""

# Importing the stage modules registers their stages.
from cartwise.serving import candidates, explain, merge, rank, retrieval, rules, sponsored  # noqa: F401
from cartwise.serving import merchandise, online, relations  # noqa: F401  (after the stages they build on)
from cartwise.serving.config import BROWSE, PIPELINES, RECOMMEND, SEARCH, SIMILAR
from cartwise.serving.pipeline import Cascade, Pipeline, Tier, is_personal, item_results
from cartwise.serving.search import SearchPages
from cartwise.serving.stage import (
    Candidate,
    CandidateStage,
    Request,
    SearchTask,
    Stage,
    make_stage,
    register_stage,
    stage_names,
)

__all__ = [
    "BROWSE",
    "PIPELINES",
    "RECOMMEND",
    "SEARCH",
    "SIMILAR",
    "Candidate",
    "CandidateStage",
    "Cascade",
    "Pipeline",
    "Request",
    "SearchPages",
    "SearchTask",
    "Stage",
    "Tier",
    "is_personal",
    "item_results",
    "make_stage",
    "register_stage",
    "stage_names",
]
