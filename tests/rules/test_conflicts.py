"""The conflict order (removing rules, then collapse, boosts and buries, diversity, the
sponsored slot, pins last) and truthful explanations: a rule that touched an answer is
named on it and on the items it touched, and removing the rule removes its mention."""

from __future__ import annotations

from tests.rules.helpers import ids, touched, use


def test_a_filter_beats_a_pin_and_the_pin_reports_it(engine):
    use(engine, """
rules:
  - {id: hero, kind: pin, item: teapot, position: 1}
  - {id: cheap, kind: filter, keep: {price: {max: 20}}}
""")
    answer = engine.recommend("nobody", k=10)
    assert "teapot" not in ids(answer)
    assert touched(answer)["hero"] == ["not pinned: filter rule 'cheap' removes teapot"]
    assert answer.rules[0].rule_id == "cheap" or "cheap" in touched(answer)
    hero = next(t for t in answer.rules if t.rule_id == "hero")
    assert hero.conflicts and not hero.effects and not hero.items


def test_a_hidden_item_cannot_be_pinned(engine):
    use(engine, "rules: [{id: hero, kind: pin, item: mug-red, position: 1}, {id: gone, kind: hide, items: [mug-red]}]")
    answer = engine.search("mug", k=5)
    assert "mug-red" not in ids(answer) and touched(answer)["hero"] == ["not pinned: hide rule 'gone' removes mug-red"]


def test_pins_win_over_boosts_and_diversity(engine):
    use(engine, """
rules:
  - {id: socks-first, kind: boost, when: {item_id: socks}, weight: 9}
  - {id: mix, kind: diversity, by: brand, max: 1, top: 5}
  - {id: hero, kind: pin, item: mug-red, position: 1}
  - {id: second, kind: pin, item: mug-blue, position: 1}
""")
    answer = engine.recommend("nobody", k=6)
    # Both pins ask for position 1: the first listed gets it, the other the next free one;
    # diversity (one Acme item per top 5) never undoes a pin; the boosted item follows.
    assert ids(answer)[:3] == ["mug-red", "mug-blue", "socks"]
    assert answer.items[1].rules == ["second"] and "pinned at position 2" in answer.items[1].reason


def test_a_pin_keeps_its_position_on_later_pages(engine):
    use(engine, "rules: [{id: hero, kind: pin, item: socks, position: 3}]")
    whole = ids(engine.search("tea", k=6))
    assert whole[2] == "socks"
    assert ids(engine.search("tea", k=2, offset=2))[0] == "socks"


def test_out_of_stock_sinks_below_boosted_items_in_stock(engine):
    use(engine, "rules: [{id: boots-up, kind: boost, when: {item_id: boots}, weight: 5}]")
    answer = engine.search("hiking", k=10)
    assert ids(answer)[-1] == "boots" and not answer.items[-1].in_stock
    assert all(i.in_stock for i in answer.items[:-1]) and "boosted 5.00" in answer.items[-1].reason


def test_explanations_are_truthful(engine):
    plain = engine.recommend("nobody", k=10)
    assert plain.rules == [] and all(not i.rules for i in plain.items)
    use(engine, """
rules:
  - {id: acme-up, kind: boost, when: {brand: Acme}, weight: 5}
  - {id: never-socks, kind: hide, items: [socks]}
  - {id: unused, kind: hide, items: [no-such-item]}
""")
    ruled = engine.recommend("nobody", k=10)
    assert set(touched(ruled)) == {"acme-up", "never-socks"}  # a rule that did nothing is not named
    acme = [i for i in ruled.items if i.brand == "Acme"]
    assert acme and all(i.rules == ["acme-up"] and "(rule acme-up)" in i.reason for i in acme)
    assert all(not i.rules and "rule" not in i.reason for i in ruled.items if i.brand != "Acme")
    engine.rules.delete("acme-up")
    without = engine.recommend("nobody", k=10)
    assert "acme-up" not in touched(without) and all("acme-up" not in i.reason for i in without.items)
    assert [i.reason for i in without.items] == [i.reason for i in plain.items if i.item_id != "socks"]
    engine.rules.delete("never-socks")
    again = engine.recommend("nobody", k=10)
    assert ids(again) == ids(plain) and again.rules == []
