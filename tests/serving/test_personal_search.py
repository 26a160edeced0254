"""Search leans towards the shopper's own items when they have a history, and not at all
when they have none."""

from __future__ import annotations

from cartwise import Engine


def _ids(engine: Engine, **options) -> list[str]:
    return [i.item_id for i in engine.search("mug tea", k=5, mode="lexical", **options).items]


def test_a_tea_buyer_sees_the_tea_things_higher_and_a_newcomer_sees_the_plain_ranking(engine: Engine):
    anonymous = _ids(engine)
    assert anonymous[:2] == ["mug-blue", "mug-red"] and set(anonymous[2:4]) == {"tea-cosy", "teapot"}
    tea_buyer = engine.search("mug tea", k=5, mode="lexical", user_id="tea-1")
    assert [i.item_id for i in tea_buyer.items][0] in {"tea-cosy", "teapot"}
    assert any("goes with items you chose before" in i.reason for i in tea_buyer.items)
    assert sorted(i.item_id for i in tea_buyer.items) == sorted(anonymous)  # the same matches, re-ordered
    assert _ids(engine, user_id="never-seen-before") == anonymous
    plain = engine.search("mug tea", k=5, mode="lexical").model_dump(exclude={"took_ms", "request_id"})
    newcomer = engine.search("mug tea", k=5, mode="lexical", user_id="nobody").model_dump(
        exclude={"took_ms", "request_id"}
    )
    assert newcomer == plain
