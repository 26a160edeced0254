"""`cartwise train` with no options chooses a recommender that fits the data and the
budget, and says why."""

from __future__ import annotations

import pytest

from cartwise import Engine
from cartwise.recommend.plan import StoreShape, plan_training, sequential_seconds

EVERY = ("itemknn", "als", "sequential", "blend", "fused")


def _shape(events: int, shoppers: int) -> StoreShape:
    return StoreShape(events=events, users=shoppers, items=1000, shoppers_with_history=shoppers, has_text=True, cpus=2)


def test_little_data_gets_item_knn():
    plan = plan_training(_shape(800, 400), available=EVERY)
    assert plan.recommender == "itemknn" and plan.max_seconds is None and "too little" in plan.reasons[0]
    assert plan_training(_shape(50_000, 120), available=EVERY).recommender == "itemknn"


def test_enough_data_gets_the_ranking_stage_or_the_blend_within_the_budget():
    shape = _shape(200_000, 20_000)
    plan = plan_training(shape, budget_s=900, available=EVERY)
    assert plan.recommender == "fused" and plan.max_seconds == pytest.approx(720)
    assert any("ranking stage" in reason for reason in plan.reasons)
    assert plan_training(shape, budget_s=900, available=EVERY[:-1]).recommender == "blend"


def test_a_budget_too_short_for_the_sequential_model_falls_back_and_says_how_to_get_it():
    shape = _shape(2_000_000, 100_000)
    assert sequential_seconds(shape) > 900
    plan = plan_training(shape, budget_s=900, available=EVERY)
    assert plan.recommender == "itemknn" and "raise --budget" in plan.reasons[0]
    assert plan_training(shape, budget_s=sequential_seconds(shape) * 2, available=EVERY).recommender == "fused"
    with pytest.raises(ValueError, match="positive"):
        plan_training(shape, budget_s=0, available=EVERY)


def test_train_auto_reports_its_choice(engine: Engine):
    report = engine.train(recommender="auto", encoder=None)
    assert report.recommender == "itemknn" and report.chosen_because
    assert engine.model_info()["plan"] == report.chosen_because
    fixed = engine.train(recommender="itemknn", encoder=None)
    assert fixed.chosen_because == []
