"""Search and browse pages are built by the "search" and "browse" cascades: retrieval
stages, the fusion merge, a rank stage (the seam for a learned ranker), rules, reasons."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import pytest

from cartwise import Engine
from cartwise.search import SearchFilters
from cartwise.search.request import SearchRequest
from cartwise.serving import BROWSE, SEARCH, Tier, register_stage
from cartwise.serving.stage import _STAGES


def test_search_and_browse_are_configured_by_stage_name():
    assert SEARCH.tiers == (Tier(("semantic", "lexical"), rank="personal", merge="fusion", rerank=("sponsored",)),)
    assert SEARCH.rules == ("in_catalog",) and SEARCH.explain == "search_reasons"
    assert BROWSE.tiers == (Tier(("filtered_popularity",)),) and BROWSE.rules == ("available", "unique")


@pytest.fixture
def cheapest_first():
    seen: list[list[dict[str, float]]] = []

    @register_stage
    class CheapestFirst:
        """A rank stage as a learned ranker will be one: it reads every fused candidate
        with its per-source scores and reorders them."""

        name: ClassVar[str] = "cheapest_first"
        kind: ClassVar[str] = "rank"

        def apply(self, request, candidates):
            pool = list(candidates)
            seen.append([dict(c.features) for c in pool])
            catalog = request.state.catalog
            return iter(sorted(pool, key=lambda c: (catalog.get(c.scored.item_id).price or 0.0, c.scored.item_id)))

    yield seen
    _STAGES.pop("cheapest_first", None)


def test_a_rank_stage_reorders_the_fused_candidates_before_the_page(engine, cheapest_first):
    tier = replace(SEARCH.tiers[0], rank="cheapest_first")
    shop = Engine(engine.store, pipelines={"search": replace(SEARCH, tiers=(tier,))})
    usual = engine.search("tea", k=10, mode="hybrid", understand=False)
    ranked = shop.search("tea", k=10, mode="hybrid", understand=False)
    # The stock policy (cartwise.rules, search_out_of_stock: sink) keeps the rank stage's
    # order among the items in stock and puts the out-of-stock ones after them.
    prices = [item.price for item in ranked.items if item.in_stock]
    assert prices == sorted(prices) and {i.item_id for i in ranked.items} == {i.item_id for i in usual.items}
    stocked = [item.in_stock for item in ranked.items]
    assert stocked == sorted(stocked, reverse=True)
    assert ranked.total == usual.total and ranked.facets == usual.facets
    # Every candidate reached the rank stage with its BM25 score when lexical retrieval ran.
    assert cheapest_first and all("lexical" in features for features in cheapest_first[-1])
    page = shop.search("tea", k=2, offset=1, mode="hybrid", understand=False)
    assert [i.item_id for i in page.items] == [i.item_id for i in ranked.items[1:3]]


def test_search_items_are_explained_by_their_sources(engine):
    answer = engine.search("teapot", k=3, mode="hybrid", understand=False)
    first = answer.items[0]
    assert first.item_id == "teapot" and first.stage == "hybrid"
    assert first.reason.startswith("matches teapot; close in meaning (similarity ")
    assert first.lexical_score and first.semantic_score
    lexical = engine.search("teapot", k=3, mode="lexical", understand=False).items[0]
    assert lexical.reason == "matches teapot" and lexical.semantic_score is None


def test_browse_lists_the_filtered_items_in_stock_by_popularity(engine):
    answer = engine.search(request=SearchRequest("", k=5, filters=SearchFilters(category="Outdoor")))
    assert answer.mode == "browse" and answer.total == 2  # socks and the boots, counted
    assert [i.item_id for i in answer.items] == ["socks"]  # the boots are out of stock
    assert answer.items[0].stage == "browse" and "ordered by popularity" in answer.items[0].reason


def test_a_typed_request_answers_as_the_keyword_arguments(engine):
    typed = engine.search(request=SearchRequest(" red\tmug ", k=3, filters=SearchFilters(price_max=10.0)))
    keywords = engine.search(" red\tmug ", k=3, filters=["price<=10"])
    assert typed.model_dump(exclude={"took_ms", "request_id"}) == keywords.model_dump(exclude={"took_ms", "request_id"})
    assert typed.query == "red mug"
