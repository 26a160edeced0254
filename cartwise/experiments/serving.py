"""How an experiment changes an answer: the seam between experiments and the serving pipeline.

The engine builds every answer from a :class:`Serving`: the live state, the pipelines by
answer and the search pages over them. For a request from a user in a running
experiment's placement, :class:`Route` hands the answer function the variant's own
serving instead (its cascades, its fixed rule set, its model version's models), and
tells the engine the label to log with the impression. An interleaving route runs the
answer for both variants and drafts one list from the two (:mod:`cartwise.experiments.interleave`),
each item naming its team. Nothing is built per request: arms are built once per
experiment change and the model version of a model variant is loaded once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from cartwise.experiments.definition import Experiment, Variant
from cartwise.experiments.interleave import draft_rng, team_draft
from cartwise.experiments.kinds import ArmSetup, Resources, kind_of
from cartwise.live import LiveState
from cartwise.results import ItemResult
from cartwise.rules.ruleset import RuleSet
from cartwise.serving import Pipeline, SearchPages
from cartwise.versions import ModelSet


class Answer(Protocol):
    items: list[ItemResult]
    k: int


AnswerT = TypeVar("AnswerT", bound=Answer)


@dataclass(frozen=True)
class Serving:
    """What one answer is built from."""

    state: LiveState
    pipelines: Mapping[str, Pipeline]
    search: SearchPages


class FixedRules:
    """A rule source that always answers one rule set (a variant's)."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules

    def current(self) -> RuleSet:
        return self.rules


class ModelCache:
    """Kept model versions loaded once each, for model variants (the newest few only)."""

    def __init__(self, load: Callable[[str], ModelSet], *, keep: int = 2) -> None:
        self._load = load
        self._keep = keep
        self._loaded: dict[str, ModelSet] = {}
        self._lock = threading.Lock()

    def get(self, version: str) -> ModelSet:
        found = self._loaded.get(version)
        if found is not None:
            return found
        with self._lock:
            found = self._loaded.get(version)
            if found is None:
                found = self._load(version)
                while len(self._loaded) >= self._keep:
                    self._loaded.pop(next(iter(self._loaded)))
                self._loaded[version] = found
        return found


class Arm:
    """One variant, ready to serve: its pipelines (None: the engine's own) and model version."""

    def __init__(self, experiment: Experiment, variant: Variant, setup: ArmSetup, *,
                 base: Mapping[str, Pipeline], resources: Resources, models: ModelCache) -> None:
        self.experiment = experiment
        self.variant = variant
        self.label = experiment.label(variant.name)
        self.model_version = setup.model_version
        self._models = models
        if setup.cascades or setup.rules is not None:
            rules = FixedRules(setup.rules) if setup.rules is not None else resources.rulebook
            cascades = {**resources.cascades, **setup.cascades}
            self.pipelines: Mapping[str, Pipeline] | None = {
                name: Pipeline(cascade, rules=rules) for name, cascade in cascades.items()
            }
            self.search: SearchPages | None = SearchPages(self.pipelines["search"], self.pipelines["browse"])
        else:
            self.pipelines = None
            self.search = None

    def serving(self, base: Serving) -> Serving:
        state = base.state
        if self.model_version is not None and state.models.version != self.model_version:
            state = replace(state, models=self._models.get(self.model_version))
        if self.pipelines is None and state is base.state:
            return base
        return Serving(state=state, pipelines=self.pipelines or base.pipelines, search=self.search or base.search)


def build_arm(experiment: Experiment, variant: Variant, *, base: Mapping[str, Pipeline], resources: Resources,
              models: ModelCache, field: str = "variants") -> Arm:
    """The variant ready to serve; ValidationError naming the variant's field when its
    config names something that does not exist."""
    setup = ArmSetup()
    kind_of(variant.config).setup(variant.config, setup, resources, field=field)
    return Arm(experiment, variant, setup, base=base, resources=resources, models=models)


class Route:
    """What an experiment decided for one request: the arm (A/B) or both (interleaving)."""

    def __init__(self, experiment: Experiment, arms: tuple[Arm, ...]) -> None:
        self.experiment = experiment
        self.arms = arms
        self.label = arms[0].label if len(arms) == 1 else f"{experiment.experiment_id}/interleave"

    @property
    def interleaved(self) -> bool:
        return len(self.arms) == 2

    def serve(self, base: Serving, answer: Callable[[Serving], AnswerT], *,
              request_id: str) -> tuple[AnswerT, Serving, list[str] | None]:
        """The answer, the serving that made it (its state's model version is logged) and,
        interleaved, the team of each item."""
        first = self.arms[0].serving(base)
        response = answer(first)
        if not self.interleaved:
            return response, first, None
        other = answer(self.arms[1].serving(base))
        by_id = [{item.item_id: item for item in response.items}, {item.item_id: item for item in other.items}]
        drafted = team_draft([i.item_id for i in response.items], [i.item_id for i in other.items],
                             k=max(len(response.items), len(other.items)), rng=draft_rng(request_id))
        names = [arm.variant.name for arm in self.arms]
        response.items = [by_id[team][item_id] for item_id, team in drafted]
        return response, first, [names[team] for _, team in drafted]


__all__ = ["Arm", "FixedRules", "ModelCache", "Route", "Serving", "build_arm"]
