"""The retraining loop: retrain when the policy says so, judge the candidate against the
serving version on the newest events, promote it or keep it aside, and say why.

Serving processes never wait for it: a promoted version reaches them through their change
feed and is swapped in as one snapshot (:mod:`cartwise.live`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import polars as pl

from cartwise.encode import DEFAULT_ENCODER
from cartwise.errors import CartwiseError
from cartwise.events import EventType
from cartwise.retrain.gate import Verdict, holdout_cutoff, judge
from cartwise.retrain.policy import RetrainPolicy
from cartwise.store import Store
from cartwise.training import train
from cartwise.versions import ModelVersions


class RetrainWorker:
    """Retrains one store on a :class:`RetrainPolicy`.

    Only one worker should run per store (one trainer; any number of serving nodes)."""

    def __init__(
        self,
        *,
        store: Store,
        policy: RetrainPolicy,
        recommender: str = "auto",
        encoder: str | None = DEFAULT_ENCODER,
        budget_s: float | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.policy = policy
        self.recommender = recommender
        self.encoder = encoder
        self.budget_s = budget_s
        self.say = say or (lambda _line: None)
        self.versions = ModelVersions(models_dir=store.workspace.models_dir, store_id=store.store_id)

    def due(self) -> str | None:
        """Why a retrain is due now, or None."""
        live = self.versions.current_version()
        if live is None:
            return "no version serves yet"
        manifest = self.versions.load_manifest(live)
        if self.policy.every_minutes is not None:
            age_min = (time.time() * 1000 - int(manifest.get("trained_ms", 0))) / 60_000
            if age_min >= self.policy.every_minutes:
                return (f"the serving version is {age_min:.0f} minutes old "
                        f"(policy: every {self.policy.every_minutes:g})")
        if self.policy.every_events is not None:
            baseline = manifest.get("store_events")
            if baseline is not None:
                new = self.store.stats().events - int(baseline)
                if new >= self.policy.every_events:
                    return (f"{new:,} events arrived since the serving version "
                            f"(policy: every {self.policy.every_events:,})")
        return None

    def run_once(self, *, force: bool = False) -> Verdict | None:
        """Retrain and judge if due (or `force`); the verdict, or None when not due."""
        why = "asked to" if force else self.due()
        if why is None:
            return None
        self.say(f"retraining: {why}")
        live = self.versions.current_version()
        serving = self.versions.load(live) if live is not None else None
        events = self.store.events(exclude_flagged=True)
        item_events = events.filter(
            pl.col("item_id").is_not_null() & (pl.col("event_type") != EventType.SEARCH.value)
        )
        # A version saved before the manifest recorded the newest event it trained on
        # cannot be judged fairly (which events are new to it is unknown): it is replaced.
        comparable = serving is not None and serving.manifest.get("events_until_ms") is not None
        cutoff = None
        if comparable:
            cutoff = holdout_cutoff(item_events, since_ms=serving.manifest["events_until_ms"],  # type: ignore[union-attr]
                                    share=self.policy.holdout_share)
        report = train(
            self.store, recommender=self.recommender, encoder=self.encoder, budget_s=self.budget_s,
            until_ms=cutoff, promote=False, on_step=lambda step: self.say(f"  {step}"),
            # A store trained with the relation graph's ranking features keeps them.
            graph_features=bool(serving is not None and serving.manifest.get("graph_features")),
        )
        candidate = self.versions.load(report.version)
        if serving is not None and not comparable:
            verdict = Verdict(promote=True, candidate=report.version, serving=live,
                              reason="the serving version predates the retraining gate (its manifest does not say "
                                     "which events it trained on); replaced without judging")
        else:
            verdict = judge(
                item_events=item_events, candidate=candidate.recommender,
                serving=serving.recommender if serving is not None else None, cutoff_ms=cutoff,
                policy=self.policy, candidate_version=report.version, serving_version=live,
            )
        self.versions.annotate(report.version, gate=verdict.as_dict())
        if verdict.promote:
            self.versions.promote(report.version, reason=f"retrained: {verdict.reason}")
        self.say(f"{report.version}: {verdict.reason}")
        return verdict

    def run_forever(self, *, stop: threading.Event, poll_s: float = 30.0) -> None:
        """Check every `poll_s` seconds until `stop` is set; a failed retrain is reported
        and tried again at the next due check, the serving version left as it was."""
        while not stop.is_set():
            try:
                self.run_once()
            except CartwiseError as exc:
                self.say(f"retraining failed, the serving version stays: {exc}")
            stop.wait(poll_s)


__all__ = ["RetrainWorker"]
