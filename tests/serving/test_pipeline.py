"""Answers are built by configured stages: each answered item names the stage that
produced it, and a new stage is a class plus its name in the configuration."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cartwise import Engine, ValidationError
from cartwise.recommend import Scored
from cartwise.serving import (
    RECOMMEND,
    SIMILAR,
    CandidateStage,
    Cascade,
    Tier,
    register_stage,
    stage_names,
)
from cartwise.serving.stage import _STAGES


def test_the_cascades_are_configured_by_stage_name():
    assert [tier.candidates for tier in RECOMMEND.tiers] == [
        ("history", "recent_together"), ("text_profile",), ("popularity",)
    ]
    assert RECOMMEND.tiers[0].rank == "online_blend"
    assert SIMILAR.tiers[0] == Tier(("together", "alike"), rank="blend_similar", rerank=("sponsored",))
    assert all(tier.rerank == ("sponsored",) for tier in RECOMMEND.tiers)
    assert RECOMMEND.rules == ("available", "unique") and RECOMMEND.explain == "reasons"
    for name in ("history", "text_profile", "popularity", "together", "alike", "category_popularity",
                 "identity", "blend_similar", "sponsored", "available", "unique", "reasons",
                 "recent_together", "online_blend", "trending"):
        assert name in stage_names()


def test_each_recommended_item_names_its_stage(engine):
    cold = engine.recommend("nobody-at-all", k=5)
    assert cold.strategy == "popular" and {i.stage for i in cold.items} == {"popularity"}
    warm = engine.recommend("tea-3", k=8)
    stages = [i.stage for i in warm.items]
    assert set(stages) <= {"history", "text_profile", "popularity"} and "popularity" != stages[0]
    # Tiers are fallbacks: a later tier's items only follow an earlier one's.
    order = {"history": 0, "text_profile": 1, "popularity": 2}
    assert [order[s] for s in stages] == sorted(order[s] for s in stages)
    assert warm.strategy == ("personalised" if "popularity" not in stages else "mixed")
    for item in warm.items:
        if item.stage == "popularity":
            assert item.reason == "popular with shoppers right now"
        elif item.stage == "text_profile":
            assert item.reason.startswith("described like")
        else:
            assert item.reason.startswith("because you")


def test_each_similar_item_names_its_stage(engine):
    answer = engine.similar("mug-red", k=8)
    assert answer.items
    for item in answer.items:
        assert item.stage in {"together", "alike", "together+alike", "category_popularity"}
        if item.stage == "together+alike":
            assert item.reason.endswith(", and alike")
        elif item.stage == "category_popularity":
            assert item.reason.startswith("popular in")


def test_each_search_item_names_its_stage(engine):
    for mode in ("lexical", "semantic", "hybrid"):
        answer = engine.search("mug", mode=mode)
        assert answer.items and {i.stage for i in answer.items} == {answer.mode}
    browse = engine.search("", filters=["category=Home > Kitchen > Mugs"])
    assert browse.mode == "browse" and {i.stage for i in browse.items} == {"browse"}


@pytest.fixture
def staff_picks():
    @register_stage
    class StaffPicks(CandidateStage):
        """Items the shop's staff chose, before anything personal."""

        name = "staff_picks"
        personal = False

        def propose(self, request):
            return [Scored(item_id=i, score=1.0, reason="") for i in ("socks", "missing-item", "socks", "boots", "teapot")]

        def explain(self, scored, request):
            return "picked by our staff"

    yield StaffPicks
    _STAGES.pop("staff_picks", None)


def test_a_custom_stage_is_a_class_and_a_line_of_configuration(engine, staff_picks):
    with_picks = replace(RECOMMEND, tiers=(Tier(("staff_picks",)), *RECOMMEND.tiers))
    shop = Engine(engine.store, pipelines={"recommend": with_picks})
    answer = shop.recommend("nobody-at-all", k=4)
    # The rules still apply: an unknown item, a repeat and the boots (out of stock) are dropped.
    assert [i.item_id for i in answer.items[:2]] == ["socks", "teapot"]
    assert [i.stage for i in answer.items] == ["staff_picks", "staff_picks", "popularity", "popularity"]
    assert answer.items[0].reason == "picked by our staff"
    assert engine.recommend("nobody-at-all", k=4).items[0].stage == "popularity"  # other engines unchanged


def test_an_unknown_stage_name_is_refused_with_the_known_ones(engine):
    with pytest.raises(ValidationError, match="unknown serving stage 'nope'") as error:
        Engine(engine.store, pipelines={"similar": Cascade(tiers=(Tier(("nope",)),))})
    assert "popularity" in (error.value.hint or "")
