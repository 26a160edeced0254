"""The retraining gate: is a candidate version at least as good as the serving one on the
newest events, which neither was trained on?"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import polars as pl

from cartwise.evaluate.significance import compare
from cartwise.events import EventType
from cartwise.limits import HISTORY_LENGTH
from cartwise.recommend import HistoryRecommender, Interaction
from cartwise.retrain.policy import RetrainPolicy

K = 10


@dataclass(frozen=True)
class Verdict:
    """What the gate decided about one candidate, and on what evidence."""

    promote: bool
    reason: str
    candidate: str | None = None
    serving: str | None = None
    cutoff_ms: int | None = None
    shoppers: int = 0
    candidate_ndcg: float | None = None
    serving_ndcg: float | None = None
    difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def holdout_cutoff(item_events: pl.DataFrame, *, since_ms: int | None, share: float) -> int | None:
    """The time after which the newest `share` of the events newer than `since_ms` lie
    (None when there are no new events, or too few to split)."""
    new = item_events["ts"] if since_ms is None else item_events.filter(pl.col("ts") > since_ms)["ts"]
    if new.len() < 2:
        return None
    ordered = new.sort()
    cutoff = int(ordered[int(np.floor((1 - share) * (ordered.len() - 1)))])
    if cutoff >= int(ordered[-1]):
        return None  # every new event has the same time: nothing newer to judge on
    return cutoff


def judgement_tasks(item_events: pl.DataFrame, *, cutoff_ms: int, limit: int) -> list[tuple[list[Interaction], str]]:
    """For each shopper with events up to `cutoff_ms` and after it: their history up to
    the cutoff (newest first) and the first item they chose after it that is not in it."""
    before = item_events.filter(pl.col("ts") <= cutoff_ms).sort("ts", descending=True)
    after = item_events.filter(pl.col("ts") > cutoff_ms).sort("ts")
    histories: dict[str, list[Interaction]] = {}
    for user, item, kind, ts in before.select("user_id", "item_id", "event_type", "ts").iter_rows():
        kept = histories.setdefault(user, [])
        if len(kept) < HISTORY_LENGTH:
            kept.append(Interaction(item_id=item, event_type=kind, ts=ts))
    tasks: list[tuple[list[Interaction], str]] = []
    done: set[str] = set()
    for user, item in after.select("user_id", "item_id").iter_rows():
        history = histories.get(user)
        if history is None or user in done or any(i.item_id == item for i in history):
            continue
        done.add(user)
        tasks.append((history, item))
        if len(tasks) >= limit:
            break
    return tasks


def ndcg_per_task(model: HistoryRecommender, tasks: list[tuple[list[Interaction], str]]) -> np.ndarray:
    answers = model.recommend([history for history, _ in tasks], k=K, exclude_seen=True)
    gains = np.zeros(len(tasks))
    for n, ((_, target), answer) in enumerate(zip(tasks, answers, strict=True)):
        ids = [scored.item_id for scored in answer]
        if target in ids:
            gains[n] = 1.0 / np.log2(ids.index(target) + 2.0)
    return gains


def judge(
    *,
    item_events: pl.DataFrame,
    candidate: HistoryRecommender,
    serving: HistoryRecommender | None,
    cutoff_ms: int | None,
    policy: RetrainPolicy,
    candidate_version: str | None = None,
    serving_version: str | None = None,
) -> Verdict:
    """Compare the two recommenders on the events after `cutoff_ms` (the candidate was
    trained on the events up to it, the serving version on fewer)."""
    names = {"candidate": candidate_version, "serving": serving_version, "cutoff_ms": cutoff_ms}
    if serving is None:
        return Verdict(promote=True, reason="no version serves yet", **names)
    if cutoff_ms is None:
        return Verdict(promote=policy.promote_unjudged, reason="no new events to judge on", **names)
    events = item_events.filter(
        pl.col("item_id").is_not_null() & (pl.col("event_type") != EventType.SEARCH.value)
    )
    tasks = judgement_tasks(events, cutoff_ms=cutoff_ms, limit=policy.max_shoppers)
    if len(tasks) < policy.min_shoppers:
        return Verdict(
            promote=policy.promote_unjudged, shoppers=len(tasks),
            reason=f"only {len(tasks)} shoppers chose a new item after the cutoff (at least "
                   f"{policy.min_shoppers} are needed to judge)", **names,
        )
    new, old = ndcg_per_task(candidate, tasks), ndcg_per_task(serving, tasks)
    result = compare(old, new)
    worse = result.ci_high < 0
    drop = 1.0 - result.mean_b / result.mean_a if result.mean_a > 0 else 0.0
    reason = f"candidate NDCG@{K} {result.mean_b:.4f} vs serving {result.mean_a:.4f} on {len(tasks)} shoppers: "
    if worse:
        reason += "significantly worse, not promoted"
    elif drop > policy.max_drop:
        reason += f"{drop:.0%} lower (more than the {policy.max_drop:.0%} allowed), not promoted"
    else:
        reason += "not worse, promoted"
    return Verdict(
        promote=not worse and drop <= policy.max_drop, reason=reason, shoppers=len(tasks), candidate_ndcg=result.mean_b,
        serving_ndcg=result.mean_a, difference=result.difference, ci_low=result.ci_low,
        ci_high=result.ci_high, p_value=result.p_bootstrap, **names,
    )


__all__ = ["Verdict", "holdout_cutoff", "judge", "judgement_tasks"]
