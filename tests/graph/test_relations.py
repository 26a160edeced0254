"""Relations mined from the planted store: a complement pair, a substitute pair, a variant
family, a series, and a bag in every basket that is nobody's complement."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cartwise.errors import ValidationError
from cartwise.graph import RelationGraph, kinds
from cartwise.graph.baskets import Signal, basket_items
from cartwise.graph.cooccurrence import Cooccurrence
from cartwise.graph.variants import families, family_key
from cartwise.recommend.base import IdMap
from tests.graph.planted import frames


@pytest.fixture(scope="module")
def graph() -> RelationGraph:
    items, events = frames()
    return RelationGraph().fit(events, items)


def ids(graph: RelationGraph, kind: str, item: str, k: int = 10) -> list[str]:
    return [edge.item_id for edge in kinds.get(kind).find(graph, item, k)]


def test_complement_pair(graph):
    assert ids(graph, "complements", "tent") == ["pegs"]
    assert ids(graph, "complements", "pegs") == ["tent"]
    edge = kinds.get("complements").find(graph, "tent", 1)[0]
    assert edge.evidence["count"] == 20 and edge.evidence["lift"] > 5
    assert edge.evidence["category"] == "Outdoor > Tents" and edge.evidence["other_category"] == "Outdoor > Accessories"


def test_substitute_pair_is_viewed_together_never_bought_together(graph):
    assert ids(graph, "substitutes", "kettle-steel")[0] == "kettle-glass"
    edge = kinds.get("substitutes").find(graph, "kettle-steel", 1)[0]
    assert edge.evidence["co_viewed"] == 30 and edge.evidence["co_bought"] == 0
    assert "kettle-glass" not in ids(graph, "complements", "kettle-steel")
    assert "kettle-glass" in ids(graph, "co_viewed", "kettle-steel")
    # The complement pair is bought together, so neither is the other's substitute.
    assert "pegs" not in ids(graph, "substitutes", "tent")


def test_variant_family(graph):
    assert set(ids(graph, "variants", "tee-red")) == {"tee-blue", "tee-black-xl"}
    assert set(ids(graph, "variants", "tee-black-xl")) == {"tee-red", "tee-blue"}
    edge = next(e for e in kinds.get("variants").find(graph, "tee-red", 5) if e.item_id == "tee-black-xl")
    assert edge.evidence["differs_in"] == ["black", "red", "xl"]
    # The polo shares brand, category and material but is another product.
    assert "polo" not in ids(graph, "variants", "tee-red")
    assert ids(graph, "variants", "polo") == []


def test_catalog_edges(graph):
    assert ids(graph, "same_series", "polo") == ["shorts"]
    assert set(ids(graph, "same_brand", "tent")) == {"pegs"}
    assert set(ids(graph, "same_category", "kettle-mini")) == {"kettle-steel", "kettle-glass"}
    shared = {e.item_id: e.evidence["shared"] for e in kinds.get("attributes").find(graph, "polo", 10)}
    assert shared["tee-red"] == ["material=cotton"] and "shorts" not in shared


def test_bought_after_is_directed(graph):
    assert ids(graph, "bought_after", "book-1")[0] == "book-2"
    edge = kinds.get("bought_after").find(graph, "book-1", 1)[0]
    assert edge.evidence["count"] == 6 and "transitions" in edge.evidence
    assert "book-1" not in ids(graph, "bought_after", "book-2")


def test_popular_item_is_not_everyones_complement(graph):
    """The bag is in every order: by raw count it is the tent's top companion (tied with the
    pegs), by lift it is no relation at all."""
    table = graph.co_bought.table("tent")
    counts = dict(zip(table.ids.tolist(), table.counts.tolist(), strict=True))
    assert counts["bag"] == counts["pegs"] == 20
    lift = dict(zip(table.ids.tolist(), table.lift.tolist(), strict=True))
    assert lift["bag"] == pytest.approx(1.0) and lift["pegs"] > 5
    for item in ("tent", "pegs", "kettle-steel", "tee-red", "book-3"):
        assert "bag" not in ids(graph, "co_bought", item) and "bag" not in ids(graph, "complements", item)
    assert ids(graph, "co_bought", "bag") == []
    # Ranked by raw counts (beta 0, no lift floor) the bag would be everyone's companion.
    raw = RelationGraph(beta=0.0, min_lift=0.0)
    raw.__dict__.update({k: v for k, v in graph.__dict__.items() if k.endswith("_")})
    assert "bag" in ids(raw, "co_bought", "tee-red")


def test_lift_and_raw_counts_rank_differently():
    """A pair seen together in 5 of 5 baskets outranks a bestseller seen with the item in
    more baskets, because the bestseller is in every basket anyway."""
    rows = []
    for b in range(100):
        rows.append((f"b{b}", "best"))
        if b < 10:
            rows.append((f"b{b}", "anchor"))
        if b < 5:
            rows.append((f"b{b}", "partner"))
    baskets = pl.DataFrame(rows, schema=["basket", "item_id"], orient="row")
    co = Cooccurrence().fit(baskets, IdMap(["anchor", "best", "partner"]))
    table = co.table("anchor")
    by = dict(zip(table.ids.tolist(), range(len(table)), strict=True))
    assert table.counts[by["best"]] == 10 > table.counts[by["partner"]] == 5
    assert table.lift[by["partner"]] == pytest.approx(10.0) and table.lift[by["best"]] == pytest.approx(1.0)
    scores = table.scores(0.5)
    assert scores[by["partner"]] > scores[by["best"]]
    assert table.scores(0.0)[by["best"]] > table.scores(0.0)[by["partner"]]


def test_basket_is_session_or_day():
    events = pl.DataFrame({
        "user_id": ["u", "u", "u", "u", "v"],
        "item_id": ["a", "b", "c", "a", "a"],
        "event_type": ["purchase"] * 5,
        "ts": [0, 1000, 2 * 86_400_000, 3000, 0],
        "session_id": ["o1", "o1", None, None, "o1"],
    })
    baskets = basket_items(events, Signal.BUY)
    sizes = sorted(baskets.group_by("basket").len()["len"].to_list())
    assert sizes == [1, 1, 1, 2]  # u's order o1 {a, b}; u's day-0 {a}; u's day-2 {c}; v's o1 {a}


def test_family_keys():
    assert family_key("Red ceramic mug", "Acme") == family_key("Blue ceramic mug", "acme")
    assert family_key("Red ceramic mug", "Acme") != family_key("Blue ceramic mug", "Other")
    assert family_key("Set of 3 cake tins", None) == family_key("Set of 6 cake tins", None)
    assert family_key("Cotton tee", None, {"size": "XXL"}) == family_key("Cotton tee XXL", None, {"size": "XXL"})
    assert family_key("Paperback novel volume 1", None) != family_key("Paperback novel volume 2", None)
    assert family_key("红色 连衣裙 夏季", "Moda") == family_key("蓝色连衣裙 夏季", "Moda")
    assert family_key("Red mug", None) is None  # one product word says too little
    assert family_key("Anything", None, {"parent_id": "P1"}) == family_key("Else", None, {"parent_id": "P1"})
    items = pl.DataFrame({"item_id": ["a", "b", "c"], "title": ["Wool scarf grey", "Wool scarf navy", "Wool hat"]})
    assert list(families(items).values()) == [["a", "b"]]


def test_save_and_load_answer_the_same(graph, tmp_path):
    graph.save(tmp_path / "graph")
    assert not list((tmp_path / "graph").glob(".*.tmp"))
    loaded = RelationGraph.load(tmp_path / "graph")
    assert loaded.get_params() == graph.get_params() and loaded.summary() == graph.summary()
    for kind in kinds.names():
        for item in ("tent", "kettle-steel", "tee-red", "polo", "book-1", "bag"):
            assert kinds.get(kind).find(loaded, item, 5) == kinds.get(kind).find(graph, item, 5), (kind, item)


def test_invalid_input():
    items, events = frames()
    with pytest.raises(ValidationError) as err:
        RelationGraph(min_count=0).fit(events, items)
    assert err.value.field == "min_count"
    with pytest.raises(ValidationError) as err:
        RelationGraph(beta=float("nan")).fit(events, items)
    assert err.value.field == "beta"
    with pytest.raises(ValidationError) as err:
        RelationGraph().fit(events.drop("ts"), items)
    assert err.value.field == "events" and "ts" in err.value.message
    with pytest.raises(ValidationError) as err:
        kinds.get("friends")
    assert err.value.field == "type" and "complements" in (err.value.hint or "")


def test_unknown_item_has_no_edges(graph):
    for kind in kinds.names():
        assert kinds.get(kind).find(graph, "no-such-item", 5) == []


def test_substitutes_from_item_embeddings():
    """With the store's embeddings, text similarity is their cosine judged against the
    catalog's baseline: the kettles point the same way, the tent and the pegs elsewhere."""
    from cartwise.vectors import VectorIndex

    items, events = frames()
    rng = np.random.default_rng(0)
    base = {"kettle": rng.normal(size=16), "tee": rng.normal(size=16)}
    vectors = {}
    for item_id in items["item_id"].to_list():
        family = next((name for name in base if item_id.startswith(name)), None)
        own = rng.normal(size=16)
        vectors[item_id] = base[family] * 3 + own * 0.3 if family else own
    index = VectorIndex().add(list(vectors), np.array(list(vectors.values()), dtype=np.float32))
    graph = RelationGraph().fit(events, items, vectors=index)
    assert graph.summary()["text_source"] == "embeddings"
    assert set(ids(graph, "substitutes", "kettle-steel")) == {"kettle-glass", "kettle-mini"}
    assert ids(graph, "substitutes", "kettle-steel")[0] == "kettle-glass"  # viewed with it 30 times
    assert ids(graph, "substitutes", "tent") == []
    edge = kinds.get("substitutes").find(graph, "kettle-steel", 1)[0]
    assert edge.evidence["text_similarity"] > 0.9


def test_shade_words_are_colours_only_before_a_colour():
    assert family_key("Light blue linen shirt", None) == family_key("Dark red linen shirt", None)
    assert family_key("Fairy light garland", None) != family_key("Fairy garland", None)


def test_a_damaged_graph_asks_for_a_retrain(graph, tmp_path):
    from cartwise.errors import NotTrained

    graph.save(tmp_path / "graph")
    with np.load(tmp_path / "graph" / "graph.npz") as data:
        arrays = {key: data[key] for key in data.files if key != "sequence_totals"}
    np.savez(tmp_path / "graph" / "graph.npz", **arrays)
    with pytest.raises(NotTrained) as err:
        RelationGraph.load(tmp_path / "graph")
    assert "damaged" in err.value.message and "cartwise train" in (err.value.hint or "")
    with pytest.raises(NotTrained):
        RelationGraph.load(tmp_path / "nothing-here")
