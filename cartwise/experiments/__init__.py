"""A/B tests and interleaving: experiments whose variants are rule sets, ranking
configurations or model versions (:mod:`cartwise.experiments.kinds`), users assigned by a
salted hash (:mod:`~cartwise.experiments.assignment`), exposures logged as impressions with
the variant, and results over users with always-valid sequential tests, a sample ratio
mismatch check and a plain-language verdict (:mod:`~cartwise.experiments.results`)."""

from cartwise.experiments.assignment import Assigner, unit_hash
from cartwise.experiments.definition import (
    METRICS,
    MODES,
    Experiment,
    Variant,
    check_experiment,
)
from cartwise.experiments.interleave import preference, team_draft
from cartwise.experiments.kinds import Resources, kind_names, register_kind
from cartwise.experiments.results import ExperimentResults, experiment_results
from cartwise.experiments.service import Experiments
from cartwise.experiments.serving import Route, Serving

__all__ = [
    "METRICS",
    "MODES",
    "Assigner",
    "Experiment",
    "ExperimentResults",
    "Experiments",
    "Resources",
    "Route",
    "Serving",
    "Variant",
    "check_experiment",
    "experiment_results",
    "kind_names",
    "preference",
    "register_kind",
    "team_draft",
    "unit_hash",
]
