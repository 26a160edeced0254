"""The search page end to end through the engine: modes, query understanding, facets,
pagination, typos, autocomplete, the zero-result fallback, and index persistence."""

from __future__ import annotations

import time

import pytest

from cartwise import Engine
from cartwise.errors import ValidationError
from tests.conftest import CATALOG, planted_events


def ids(response) -> list[str]:
    return [item.item_id for item in response.items]


def test_semantic_mode_finds_items_without_shared_words(engine):
    # No catalog word in the query: lexical finds nothing, meaning does.
    assert ids(engine.search("thermal jacket for a kettle", mode="lexical", fallback=False)) == []
    found = ids(engine.search("thermal jacket for a kettle", mode="semantic"))
    assert found[0] in {"tea-cosy", "teapot"}
    hybrid = engine.search("thermal jacket for a kettle")
    assert hybrid.mode == "hybrid" and ids(hybrid)[0] in {"tea-cosy", "teapot"}


def test_hybrid_reports_both_scores_and_explains(engine):
    result = engine.search("red mug", mode="hybrid")
    top = result.items[0]
    assert top.item_id == "mug-red"
    assert top.lexical_score is not None and top.lexical_score > 0
    assert top.semantic_score is not None and 0 < top.semantic_score <= 1
    assert "matches" in top.reason and "meaning" in top.reason


def test_chinese_queries(engine):
    assert ids(engine.search("红色连衣裙"))[0] == "dress-zh"
    # Cross-language by meaning: an English query finds the Chinese-titled dress among dresses.
    assert "dress-zh" in ids(engine.search("red summer dress", mode="semantic"))[:3]


@pytest.mark.parametrize(
    ("query", "price_max", "price_min"),
    # The catalog is priced in euros: "元" and "dollars" would need a rate (tests/search/test_search_currency.py).
    [("mug under 10", 10.0, None), ("连衣裙 200以下", 200.0, None), ("boots over 50 euros", None, 50.0)],
)
def test_prices_in_the_query_become_filters_and_chips(engine, query, price_max, price_min):
    result = engine.search(query)
    chip = next(c for c in result.chips if c.kind == "price")
    assert chip.applied == "filter" and chip.text in query
    assert result.filters.get("price_max") == price_max and result.filters.get("price_min") == price_min
    for item in result.items:
        assert item.price is not None
        assert price_max is None or item.price <= price_max
        assert price_min is None or item.price >= price_min


def test_explicit_price_filter_wins_over_the_query(engine):
    result = engine.search("mug under 5", filters=["price<=20"])
    chip = next(c for c in result.chips if c.kind == "price")
    assert chip.applied.startswith("ignored") and result.filters["price_max"] == 20


def test_brand_and_colour_mentions_boost_and_are_reported(engine):
    result = engine.search("acme mug red")
    kinds = {c.kind: c for c in result.chips}
    assert kinds["brand"].value == {"brand": "Acme"} and kinds["brand"].applied == "boost"
    assert kinds["colour"].value == {"colour": "red"}
    assert ids(result)[0] == "mug-red"


def test_understanding_can_be_switched_off(engine):
    result = engine.search("mug under 10", understand=False)
    assert result.chips == [] and "price_max" not in result.filters


def test_price_only_query_browses_within_the_price(engine):
    result = engine.search("under 10")
    assert result.mode == "browse" and result.items
    assert all(item.price is not None and item.price <= 10 for item in result.items)


def test_facets_count_the_matching_items(engine):
    result = engine.search("mug", mode="lexical")
    assert result.total == 2
    assert {(v.value, v.count) for v in result.facets.category} == {("Home > Kitchen > Mugs", 2)}
    assert [(v.value, v.count) for v in result.facets.brand] == [("Acme", 2)]
    assert [(b.label, b.count) for b in result.facets.price] == [("5–10", 2)]
    assert result.facets.in_stock == {"true": 2, "false": 0}
    hiking = engine.search("hiking", mode="lexical")
    assert hiking.facets.in_stock == {"true": 1, "false": 1}


def test_pagination_pages_do_not_overlap(engine):
    full = ids(engine.search("tea mug dress", k=6, mode="hybrid"))
    first = ids(engine.search("tea mug dress", k=3, mode="hybrid"))
    second = ids(engine.search("tea mug dress", k=3, offset=3, mode="hybrid"))
    assert first + second == full[: len(first) + len(second)]
    assert not set(first) & set(second)


def test_typos_are_corrected_for_lexical_matching(engine):
    result = engine.search("ceramik mugg", mode="lexical")
    assert set(ids(result)) == {"mug-red", "mug-blue"}
    assert set(result.corrections) == {"ceramik", "mugg"}


def test_zero_results_relax_filters_then_say_so(engine):
    result = engine.search("teapot", filters=["brand=Acme"], mode="lexical")
    assert ids(result)[0] == "teapot"
    assert result.relaxed and "brand=Acme" in result.relaxed[0]
    strict = engine.search("teapot", filters=["brand=Acme"], mode="lexical", fallback=False)
    assert ids(strict) == [] and strict.relaxed == []


def test_zero_results_fall_back_to_meaning(engine):
    result = engine.search("thermal jacket for a kettle", mode="lexical")
    assert result.mode == "semantic" and result.items
    assert any("meaning" in note for note in result.relaxed)


def test_autocomplete_from_titles_categories_brands_and_past_queries(engine):
    engine.add_events([{"user_id": f"s{i}", "event_type": "search", "query": "teapot glass", "timestamp": 1_700_000_000 + i}
                       for i in range(5)])
    engine.refresh()  # autocomplete reads the new past queries
    suggestions = engine.autocomplete("tea").suggestions
    texts = [s.text for s in suggestions]
    assert "teapot glass" in texts and suggestions[0].kind == "query"
    assert "Glass teapot with infuser" in texts  # a word inside the title starts with the prefix
    assert any(s.kind == "category" and s.text == "Home > Kitchen > Tea" for s in suggestions)
    assert engine.autocomplete("zzz").suggestions == []
    assert engine.autocomplete("").suggestions == []
    with pytest.raises(ValidationError):
        engine.autocomplete("x" * 201)


def test_similar_items_by_text_for_an_item_without_interactions(engine):
    engine.upsert_items([{"item_id": "mug-green", "title": "Green ceramic mug", "category": "Home > Kitchen > Mugs",
                          "brand": "Acme", "price": 8.5}])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        engine.refresh()
        result = engine.similar("mug-green", k=3)
        if any("described like" in item.reason for item in result.items):
            break
        time.sleep(0.2)
    assert ids(result)[0] in {"mug-red", "mug-blue"}
    assert "described like" in result.items[0].reason


def test_updates_and_deletes_reach_semantic_results(engine):
    engine.delete_item("tea-cosy")
    assert "tea-cosy" not in ids(engine.search("something to keep tea warm", mode="semantic", k=8))
    engine.upsert_items([{"item_id": "flask", "title": "Vacuum flask keeps drinks hot for hours", "price": 15.0}])
    deadline = time.monotonic() + 60
    while "flask" not in ids(engine.search("keep my coffee hot", mode="semantic", k=3)):
        assert time.monotonic() < deadline, "the new item never became searchable by meaning"
        time.sleep(0.2)
        engine.refresh()


def test_indexes_and_embeddings_persist_across_restarts(tmp_path):
    path = tmp_path / "store"
    engine = Engine.open(path)
    engine.upsert_items(CATALOG)
    engine.add_events(planted_events())
    first = engine.train()
    before = ids(engine.search("something to keep tea warm", mode="semantic"))
    engine.close()
    reopened = Engine.open(path, create=False)
    assert ids(reopened.search("something to keep tea warm", mode="semantic")) == before
    # A retrain re-encodes nothing: the embeddings are kept in the store by text hash.
    second = reopened.train()
    assert first.seconds.get("embeddings") is not None
    assert reopened.model_info()["items_encoded"] == 0 and second.version != first.version


def test_lexical_only_store_answers_every_mode_lexically(tmp_path):
    engine = Engine.open(tmp_path / "store")
    engine.upsert_items(CATALOG)
    engine.train(encoder=None)
    result = engine.search("red mug", mode="semantic")
    assert result.mode == "lexical" and ids(result)[0] == "mug-red"


def test_bad_mode_is_a_validation_error(engine):
    with pytest.raises(ValidationError, match="mode"):
        engine.search("mug", mode="fuzzy")
