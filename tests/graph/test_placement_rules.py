"""The relation placements ("frequently bought together", alternatives) obey the shop's
merchandising rules like every other answer, scoped by their placement names, and say
which rule shaped them; remove the rule and its mark disappears."""

from __future__ import annotations

import pytest

from cartwise.errors import ValidationError
from tests.rules.helpers import ids, touched, use


def companions(response) -> list[str]:
    return ids(response)[1:]  # the bundle's own item comes first


def test_a_hidden_item_leaves_the_bundle_and_comes_back_with_the_rule_gone(graph_engine):
    assert companions(graph_engine.bundle("tent", k=2)) == ["pegs"]
    use(graph_engine, "rules: [{id: recall, kind: hide, items: [pegs]}]")
    hidden = graph_engine.bundle("tent", k=2)
    assert "pegs" not in ids(hidden) and touched(hidden)["recall"] == ["removed"]
    assert hidden.note and "no item" in hidden.note and hidden.total_price == 120.0
    use(graph_engine, "rules: []")
    back = graph_engine.bundle("tent", k=2)
    assert companions(back) == ["pegs"] and back.rules == [] and back.items[1].rules == []


def test_a_brand_filter_applies_to_alternatives(graph_engine):
    before = ids(graph_engine.alternatives("kettle-steel", k=2))
    assert before == ["kettle-mini", "kettle-glass"]
    use(graph_engine, "rules: [{id: no-hot, kind: filter, exclude: {brand: Hot}}]")
    after = graph_engine.alternatives("kettle-steel", k=2)
    assert not {"kettle-mini", "kettle-glass"} & set(ids(after))
    assert "no-hot" in touched(after)


def test_placement_scopes_tell_bundle_alternatives_and_the_rest_apart(graph_engine):
    use(graph_engine, "rules: [{id: no-pegs-here, kind: hide, items: [pegs], scope: {placements: [alternatives]}}]")
    assert companions(graph_engine.bundle("tent", k=2)) == ["pegs"]  # out of the rule's scope
    assert graph_engine.bundle("tent", k=2).rules == []
    use(graph_engine, "rules: [{id: bundle-only, kind: hide, items: [pegs], scope: {placements: [bundle]}}]")
    assert companions(graph_engine.bundle("tent", k=2)) == []
    assert "pegs" in ids(graph_engine.similar("tent", k=10))  # similar items are another placement


def test_a_pin_puts_a_shop_chosen_item_into_alternatives(graph_engine):
    use(graph_engine, "rules: [{id: hero, kind: pin, item: polo, position: 1, scope: {placements: [alternatives]}}]")
    answer = graph_engine.alternatives("kettle-steel", k=2)
    first = answer.items[0]
    assert first.item_id == "polo" and first.relation == "pinned" and first.rules == ["hero"]
    assert ids(answer)[1:] == ["kettle-mini"] and "hero" in touched(answer)


def test_the_bundle_stays_in_stock_whatever_the_rules(graph_engine):
    graph_engine.upsert_items([{"item_id": "pegs", "title": "Aluminium tent pegs, pack of 12",
                                "category": "Outdoor > Accessories", "brand": "Trail", "price": 9.5,
                                "currency": "EUR", "in_stock": False}])
    graph_engine.refresh()
    use(graph_engine, "rules: [{id: pegs-up, kind: boost, when: {item_id: pegs}, weight: 5}]")
    assert "pegs" not in ids(graph_engine.bundle("tent", k=2))


def test_an_unknown_placement_names_the_new_ones(graph_engine):
    with pytest.raises(ValidationError) as caught:
        use(graph_engine, "rules: [{id: x, kind: hide, items: [pegs], scope: {placements: [basket]}}]")
    assert "bundle" in str(caught.value) and "alternatives" in str(caught.value)


def test_a_dry_run_shows_a_rule_on_the_bundle_without_logging_it(graph_engine):
    from cartwise.rules.dryrun import dry_run

    graph_engine.impressions.flush()
    logged = graph_engine.store.impressions().height
    result = dry_run(graph_engine, rule={"id": "recall", "kind": "hide", "items": ["pegs"]}, item_id="tent",
                     placement="bundle", k=2)
    assert result.answer == "bundle of tent" and result.removed == ["pegs"]
    assert [s.item_id for s in result.before] == ["tent", "pegs"]
    assert graph_engine.rules.current().document.get("rules", []) == []  # nothing saved
    graph_engine.impressions.flush()
    assert graph_engine.store.impressions().height == logged  # nothing logged
    with pytest.raises(ValidationError, match="item_id"):
        dry_run(graph_engine, rule={"id": "r", "kind": "hide", "items": ["pegs"]}, user_id="u", placement="bundle")
    with pytest.raises(ValidationError, match="placement"):
        dry_run(graph_engine, rule={"id": "r", "kind": "hide", "items": ["pegs"]}, item_id="tent", placement="cart")


def test_the_dry_run_route_takes_a_placement(graph_engine):
    from fastapi.testclient import TestClient

    from cartwise.api import create_app

    client = TestClient(create_app(graph_engine),
                        headers={"Authorization": f"Bearer {graph_engine.create_key('admin').secret}"})
    body = {"rule": {"id": "recall", "kind": "hide", "items": ["kettle-mini"]}, "item_id": "kettle-steel",
            "placement": "alternatives", "k": 2}
    result = client.post("/v1/rules/dry-run", json=body).json()
    assert result["answer"] == "alternatives to kettle-steel" and result["removed"] == ["kettle-mini"]
    wrong = client.post("/v1/rules/dry-run", json={**body, "placement": "basket"})
    assert wrong.status_code == 422 and "placement" in wrong.text
