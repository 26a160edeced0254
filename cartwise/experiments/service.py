"""A store's experiments: create, list, read results, stop, ship, and route requests.

Experiments live in the store (one table, :class:`~cartwise.store.StoredExperiment`), so
every server and the CLI see the same ones; each server rebuilds its routes when the
store's `experiments_version` moves (checked at most every :data:`CHECK_INTERVAL_S`
seconds, so a request never waits on the store for it). A placement is in at most one
running experiment at a time: two would each bias the other's arms.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from cartwise.errors import NotFound, ValidationError
from cartwise.events.event import now_ms
from cartwise.experiments.assignment import Assigner
from cartwise.experiments.definition import Experiment, check_experiment
from cartwise.experiments.kinds import Resources, Shipyard, kind_of
from cartwise.experiments.results import ExperimentResults, experiment_results
from cartwise.experiments.serving import Arm, ModelCache, Route, build_arm
from cartwise.feedback.attribution import AttributionWindows
from cartwise.serving import Pipeline
from cartwise.store import Store, StoredExperiment
from cartwise.versions import ModelSet

CHECK_INTERVAL_S = 0.5


class _Placement:
    """The routes of one placement: its experiment, the assigner and the arms."""

    __slots__ = ("all_users", "assigner", "experiment", "routes")

    def __init__(self, experiment: Experiment, arms: list[Arm]) -> None:
        self.experiment = experiment
        if experiment.status == "shipped":
            winner = next(arm for arm in arms if arm.variant.name == experiment.shipped)
            self.routes = [Route(experiment, (winner,))]
            self.assigner = None
            self.all_users = True
        elif experiment.mode == "interleave":
            self.routes = [Route(experiment, (arms[0], arms[1]))]
            self.assigner = None
            self.all_users = False
        else:
            self.routes = [Route(experiment, (arm,)) for arm in arms]
            self.assigner = Assigner(salt=experiment.salt, weights=[v.weight for v in experiment.variants])
            self.all_users = False

    def route(self, user_id: str | None) -> Route | None:
        if user_id is None:
            return self.routes[0] if self.all_users else None
        if self.assigner is None:
            return self.routes[0]
        return self.routes[self.assigner.arm(user_id)]


class Experiments:
    """The experiments of one store (see the module docstring)."""

    def __init__(self, store: Store, *, resources: Resources, base: Mapping[str, Pipeline],
                 load_models: Callable[[str], ModelSet], check_interval: float = CHECK_INTERVAL_S) -> None:
        self.store = store
        self.resources = resources
        self.base = base
        self.check_interval = check_interval
        self._models = ModelCache(load_models)
        self._placements: dict[str, _Placement] = {}
        self._version: int | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()

    # routing -----------------------------------------------------------------------------

    def route(self, user_id: str | None, placement: str) -> Route | None:
        """The route of a request by `user_id` (None: anonymous) in `placement`, or None
        when no experiment runs there (or an anonymous user, who cannot be assigned)."""
        now = time.monotonic()
        if now - self._checked >= self.check_interval and self._lock.acquire(blocking=False):
            try:
                self._checked = now
                version = self.store.experiments_version()
                if version != self._version:
                    self._rebuild(version)
            finally:
                self._lock.release()
        found = self._placements.get(placement)
        return found.route(user_id) if found is not None else None

    def assignment(self, user_id: str, placement: str) -> dict[str, Any]:
        """What a front end rendering its own page needs: the experiment and variant the
        user is in for `placement` (nulls when none), and the label to send with impressions."""
        self._checked = float("-inf")
        route = self.route(user_id, placement)
        if route is None:
            return {"user_id": user_id, "placement": placement, "experiment_id": None, "variant": None,
                    "impression_variant": None, "mode": None, "config": None}
        experiment = route.experiment
        variant = route.arms[0].variant if not route.interleaved else None
        return {
            "user_id": user_id, "placement": placement, "experiment_id": experiment.experiment_id,
            "variant": variant.name if variant is not None else None, "impression_variant": route.label,
            "mode": experiment.mode, "config": variant.config if variant is not None else None,
        }

    def refresh(self) -> None:
        with self._lock:
            self._checked = time.monotonic()
            self._rebuild(self.store.experiments_version())

    def _rebuild(self, version: int) -> None:
        placements: dict[str, _Placement] = {}
        for experiment in self.all():
            serving = experiment.running or (experiment.status == "shipped" and self._serves_shipped(experiment))
            if not serving:
                continue
            try:
                arms = self._arms(experiment)
            except ValidationError:  # a rules or model version it names was deleted: serve as usual
                continue
            for placement in experiment.placements:
                placements[placement] = _Placement(experiment, arms)
        self._placements = placements
        self._version = version

    @staticmethod
    def _serves_shipped(experiment: Experiment) -> bool:
        """A shipped ranking variant keeps being served (the store cannot hold it otherwise)."""
        return experiment.shipped is not None and experiment.variant(experiment.shipped).kind == "ranking"

    def _arms(self, experiment: Experiment) -> list[Arm]:
        return [
            build_arm(experiment, variant, base=self.base, resources=self.resources, models=self._models,
                      field=f"variants.{n}.config")
            for n, variant in enumerate(experiment.variants)
        ]

    # the experiments --------------------------------------------------------------------

    def all(self) -> list[Experiment]:
        return [Experiment.from_json(row.definition) for row in self.store.experiments()]

    def get(self, experiment_id: str) -> Experiment:
        for experiment in self.all():
            if experiment.experiment_id == experiment_id:
                return experiment
        raise NotFound(f"there is no experiment {experiment_id!r}", field="experiment_id",
                       hint="`cartwise experiments list` shows them")

    def create(self, **fields: Any) -> Experiment:
        """A new running experiment (fields of :func:`~cartwise.experiments.definition.check_experiment`)."""
        experiment = check_experiment(**fields, now_ms=now_ms())
        self._arms(experiment)  # every rules version, model version and stage it names exists
        existing = self.all()
        if any(e.experiment_id == experiment.experiment_id for e in existing):
            raise ValidationError(f"experiment {experiment.experiment_id!r} exists", field="experiment_id")
        for other in existing:
            busy = set(other.placements) & set(experiment.placements)
            if busy and (other.running or (other.status == "shipped" and self._serves_shipped(other))):
                raise ValidationError(
                    f"placement {min(busy)!r} is in experiment {other.experiment_id} ({other.name})",
                    field="placements", hint="stop that experiment first; one experiment per placement at a time")
        self._save(experiment)
        return experiment

    def results(self, experiment_id: str, *, windows: AttributionWindows | None = None) -> ExperimentResults:
        return experiment_results(self.get(experiment_id), self.store, now=now_ms(), windows=windows)

    def stop(self, experiment_id: str, *, reason: str = "") -> Experiment:
        """Stop serving the variants (every user gets the store's own answers again)."""
        experiment = self.get(experiment_id)
        if experiment.status == "stopped":
            raise ValidationError(f"experiment {experiment_id} is already stopped", field="experiment_id")
        at = experiment.stopped_ms if experiment.status == "shipped" and experiment.stopped_ms else now_ms()
        stopped = experiment.with_status("stopped", at_ms=at, shipped=experiment.shipped, note=reason)
        self._save(stopped)
        return stopped

    def ship(self, experiment_id: str, *, shipyard: Shipyard, variant: str | None = None,
             reason: str = "") -> tuple[Experiment, str]:
        """End the experiment with `variant` (None: the one its verdict says to ship) made
        the store's own where its kind allows; (the experiment, what shipping did)."""
        experiment = self.get(experiment_id)
        if not experiment.running:
            raise ValidationError(f"experiment {experiment_id} is {experiment.status}; only a running one ships",
                                  field="experiment_id")
        if variant is None:
            results = self.results(experiment_id)
            if results.decision != "ship":
                raise ValidationError(f"no variant to ship: {results.verdict}", field="variant",
                                      hint="name the variant to ship it anyway")
            variant = self._winner(experiment, results)
        chosen = experiment.variant(variant)
        why = reason or f"shipped from experiment {experiment_id}"
        done = kind_of(chosen.config).ship(chosen.config, shipyard, reason=why)
        shipped = experiment.with_status("shipped", at_ms=now_ms(), shipped=chosen.name, note=reason)
        self._save(shipped)
        self.refresh()
        return shipped, done

    @staticmethod
    def _winner(experiment: Experiment, results: ExperimentResults) -> str:
        if experiment.mode == "interleave":
            assert results.interleaving is not None
            return experiment.variants[1 if results.interleaving.share > 0.5 else 0].name
        gains = [c for c in results.comparisons if c.metric == experiment.metric and c.significant and c.difference > 0]
        return max(gains, key=lambda c: c.difference).variant

    def _save(self, experiment: Experiment) -> None:
        self.store.put_experiment(StoredExperiment(
            experiment_id=experiment.experiment_id, name=experiment.name, status=experiment.status,
            created_ms=experiment.created_ms, updated_ms=now_ms(), definition=experiment.to_json(),
        ))
        self._checked = float("-inf")  # this process routes by it from the next request


__all__ = ["CHECK_INTERVAL_S", "Experiments"]
