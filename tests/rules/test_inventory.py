"""Stock and price in decisions: out-of-stock items are never recommended and sink in
search (configurable), and a price or stock change counts on the next answer."""

from __future__ import annotations

from tests.conftest import CATALOG
from tests.rules.helpers import ids, touched, use

TEAPOT = next(item for item in CATALOG if item["item_id"] == "teapot")
SOCKS = next(item for item in CATALOG if item["item_id"] == "socks")


def test_out_of_stock_items_are_never_recommended_even_pinned(engine):
    use(engine, "rules: [{id: hero, kind: pin, item: boots, position: 1}]")
    for answer in (engine.recommend("nobody", k=10), engine.similar("socks", k=10)):
        assert "boots" not in ids(answer)
        assert touched(answer)["hero"] == ["not pinned: boots is out of stock"]


def test_out_of_stock_search_policy(engine):
    ranked = [i.item_id for i in engine.search("waterproof hiking boots", k=10).items]
    assert ranked[-1] == "boots"  # sinks by default, though it matches best
    use(engine, "inventory: {search_out_of_stock: keep}")
    assert ids(engine.search("waterproof hiking boots", k=10))[0] == "boots"
    use(engine, "inventory: {search_out_of_stock: hide}")
    hidden = engine.search("waterproof hiking boots", k=10)
    assert "boots" not in ids(hidden) and touched(hidden)["inventory"] == ["left out: out of stock"]


def test_a_price_change_counts_on_the_next_answer(engine):
    use(engine, "rules: [{id: under-20, kind: filter, keep: {price: {max: 20}}}]")
    assert "teapot" not in ids(engine.recommend("nobody", k=10))
    engine.upsert_items([{**TEAPOT, "price": 15.0}])
    engine.refresh()
    assert "teapot" in ids(engine.recommend("nobody", k=10))


def test_a_stock_change_counts_on_the_next_answer(engine):
    assert ids(engine.recommend("nobody", k=10))[0] == "socks"
    engine.upsert_items([{**SOCKS, "in_stock": False}])
    engine.refresh()
    assert "socks" not in ids(engine.recommend("nobody", k=10))
    found = engine.search("wool hiking socks", k=10).items
    assert [i.in_stock for i in found] == sorted((i.in_stock for i in found), reverse=True)
    assert "socks" in ids(engine.search("wool hiking socks", k=10))[-2:]  # with boots, after the items in stock
    engine.upsert_items([{**SOCKS, "in_stock": True, "attributes": {"stock": 2}}])
    engine.refresh()
    use(engine, "rules: [{id: low, kind: bury, when: {stock: {below: 5}}, weight: 9}]")
    answer = engine.recommend("nobody", k=10)
    assert ids(answer)[-1] == "socks" and answer.items[-1].rules == ["low"]
