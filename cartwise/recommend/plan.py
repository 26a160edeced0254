"""What `cartwise train` fits when nobody says: the best recommender the store's data and
the time budget allow, with the reasons, in words.

The choice rests on measured figures (BENCHMARKS.md, 2 CPU cores): the sequential
Transformer learns about 1e-4 s per event and epoch and usually stops improving within 10
to 20 epochs; item-kNN fits a million events in seconds; composites (the blend, the
ranking stage) beat their members once a few hundred shoppers have a held-out next event
to learn from, and need the sequential member's training time. Below the thresholds the
simpler model is as good and much faster, so it is chosen.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

# Sequential training cost: seconds per event and epoch on 2 cores (Beauty: 198,502
# events, 18 epochs in 369 s), and the epochs it needs to be worth training.
SECONDS_PER_EVENT_EPOCH = 1.05e-4
USEFUL_EPOCHS = 8
# Below these a learned model has too little to learn from: a composite learns its weights
# (or its ranker) from each shopper's held-out next event.
MIN_EVENTS = 1_000
MIN_SHOPPERS_FOR_RANKING = 300
DEFAULT_BUDGET_S = 900.0


@dataclass(frozen=True)
class StoreShape:
    """What the planner needs to know of a store's behaviour data."""

    events: int
    users: int
    items: int
    shoppers_with_history: int
    """Shoppers with two or more item events (the ones a held-out next event exists for)."""
    has_text: bool
    cpus: int = field(default_factory=lambda: os.cpu_count() or 1)


@dataclass(frozen=True)
class TrainingPlan:
    recommender: str
    max_seconds: float | None
    """The time budget handed to the neural models (None: none trained)."""
    reasons: tuple[str, ...]


def sequential_seconds(shape: StoreShape, *, epochs: int = USEFUL_EPOCHS) -> float:
    """About how long the sequential model needs for `epochs` epochs on this store."""
    return shape.events * epochs * SECONDS_PER_EVENT_EPOCH * 2 / max(min(shape.cpus, 8), 1)


def plan_training(shape: StoreShape, *, budget_s: float = DEFAULT_BUDGET_S, available: Sequence[str]) -> TrainingPlan:
    """The recommender to train (one of `available`, the registered names) and why."""
    if not budget_s > 0:
        raise ValueError(f"the time budget must be a positive number of seconds, got {budget_s!r}")
    need = sequential_seconds(shape)
    if shape.events < MIN_EVENTS or shape.shoppers_with_history < MIN_SHOPPERS_FOR_RANKING:
        return TrainingPlan(
            "itemknn",
            None,
            (
                f"{shape.events:,} events, {shape.shoppers_with_history:,} shoppers with two or more: too little for "
                f"a learned model to beat item-kNN (a composite needs {MIN_EVENTS:,} events and "
                f"{MIN_SHOPPERS_FOR_RANKING} shoppers with a next event to hold out), so item-kNN (items bought or "
                "viewed together), which needs no training",
            ),
        )
    # Leave room for the rest of training (indexes, embeddings, the ranker).
    neural_budget = budget_s * 0.8
    if need > neural_budget:
        return TrainingPlan(
            "itemknn",
            None,
            (
                f"the sequential model would need about {need:,.0f} s for {USEFUL_EPOCHS} epochs on {shape.events:,} "
                f"events, more than the {budget_s:,.0f} s budget allows; item-kNN instead (raise --budget to get it)",
            ),
        )
    reasons = [
        f"{shape.events:,} events from {shape.users:,} shoppers: the sequential model needs about {need:,.0f} s "
        f"for {USEFUL_EPOCHS} epochs, within the {budget_s:,.0f} s budget (it stops early or at {neural_budget:,.0f} s)"
    ]
    if "fused" in available:
        reasons.append(
            f"{shape.shoppers_with_history:,} shoppers have a next event to hold out, enough for the ranking stage to "
            "learn how far to trust each candidate generator: fused (learning-to-rank over all generators)"
        )
        return TrainingPlan("fused", neural_budget, tuple(reasons))
    reasons.append(
        f"{shape.shoppers_with_history:,} shoppers have a next event to hold out: blend (item-kNN, sequential"
        + (", TextKNN" if shape.has_text else "") + " with weights chosen on those events)"
    )
    return TrainingPlan("blend", neural_budget, tuple(reasons))


__all__ = ["DEFAULT_BUDGET_S", "StoreShape", "TrainingPlan", "plan_training", "sequential_seconds"]
