"""Relation-graph features in the fused ranking: a planted complement relation carries the
right candidate to the top (and only with the graph), the explanation cites it only while
the relation is there, and models save, load and attach; old models still load."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from cartwise.graph.signals import GraphRelations, GraphSignals
from cartwise.rank.features import CandidateFeatures
from cartwise.rank.relations import RELATION_FEATURES, RelationSignals
from cartwise.recommend import Interaction, Popularity
from cartwise.recommend import registry as recommenders
from cartwise.recommend.fused import FusedRecommender

T0 = 1_700_000_000_000
DAY = 24 * 3600 * 1000
PAIRS = 20


def catalog() -> pl.DataFrame:
    rows = [{"item_id": f"tent-{i}", "title": f"Dome tent model {i}", "category": "Outdoor > Tents"}
            for i in range(PAIRS)]
    rows += [{"item_id": f"pegs-{i}", "title": f"Peg set for tent model {i}", "category": "Outdoor > Pegs"}
             for i in range(PAIRS)]
    rows.append({"item_id": "bag", "title": "Shopping bag", "category": "Home > Bags"})
    return pl.DataFrame(rows)


def planted() -> tuple[pl.DataFrame, pl.DataFrame, list[tuple[list[Interaction], str]]]:
    """(training events, validation next items, test (history, next item) pairs).

    Ten shoppers per tent buy it with its own pegs in one order, the bag between them, so
    no sequence feature links tent i to pegs i (they never directly follow each other);
    only the co-purchase relation (a complement: another category) does. Every pegs set is
    as popular as the others. Validation and test shoppers bought a tent alone and come
    back for its pegs."""
    events, validation = [], []
    day = 0
    for i in range(PAIRS):
        for s in range(10):
            day += 1
            for n, item in enumerate((f"pegs-{i}", "bag", f"tent-{i}")):
                events.append((f"buyer-{i}-{s}", item, T0 + day * DAY + n * 1000))
        for s in range(10):
            day += 1
            events.append((f"val-{i}-{s}", f"tent-{i}", T0 + day * DAY))
            validation.append((f"val-{i}-{s}", f"pegs-{i}"))
    frame = pl.DataFrame(events, schema=["user_id", "item_id", "ts"], orient="row").with_columns(
        pl.lit("purchase").alias("event_type")
    )
    held = pl.DataFrame(validation, schema=["user_id", "item_id"], orient="row")
    tests = [([Interaction(f"tent-{i}", "purchase", T0 + (day + 1) * DAY)], f"pegs-{i}") for i in range(PAIRS)]
    return frame, held, tests


def fused(relations: GraphRelations | None) -> FusedRecommender:
    events, validation, _ = planted()
    model = FusedRecommender(members={"popularity": Popularity()}, threads=1, relations=relations)
    return model.fit(events, validation=validation, items=catalog())


def hits_at_1(model: FusedRecommender, tests) -> float:
    answers = model.recommend([h for h, _ in tests], k=10)
    return float(np.mean([a[0].item_id == want for a, (_, want) in zip(answers, tests)]))


@pytest.fixture(scope="module")
def with_graph() -> FusedRecommender:
    return fused(GraphRelations())


def test_complement_relation_lifts_the_right_candidate(with_graph: FusedRecommender) -> None:
    _, _, tests = planted()
    without = fused(None)
    assert not without.uses_relations and with_graph.uses_relations
    assert with_graph.training_["ranker"] == "lambdarank"
    assert "graph_co_bought_lift" in with_graph.training_["top_features"] or \
        "graph_complement" in with_graph.training_["top_features"]
    # Twenty pegs sets alike in every other feature: without the graph the right one is a
    # guess; with it, first.
    assert hits_at_1(with_graph, tests) >= 0.9
    assert hits_at_1(without, tests) <= 0.3
    history, want = tests[3]
    top = with_graph.recommend([history], k=5)[0][0]
    assert top.item_id == want
    assert "often bought with 'tent-3'" in top.reason and top.because == ("tent-3",)


def test_explanation_cites_the_relation_only_while_it_is_there(with_graph: FusedRecommender) -> None:
    _, _, tests = planted()
    history, want = tests[5]
    events, _, _ = planted()
    # The same graph less the tent-5 / pegs-5 orders: no relation, no mention.
    cut = events.filter(~pl.col("user_id").str.starts_with("buyer-5-"))
    try:
        with_graph.attach_relations(GraphRelations().fit(cut, catalog()))
        answer = with_graph.recommend([history], k=10)[0]
        assert all("tent-5" not in s.reason for s in answer)
        assert answer[0].item_id != want
    finally:
        with_graph.attach_relations(GraphRelations().fit(events, catalog()))
    answer = with_graph.recommend([history], k=10)[0]
    assert answer[0].item_id == want and "tent-5" in answer[0].reason


def test_signals_are_the_graph_relations() -> None:
    events, _, _ = planted()
    signals = GraphRelations().fit(events, catalog())
    assert isinstance(signals, RelationSignals)
    rows = signals.features([["tent-2"], []], [["pegs-2", "pegs-3", "bag"], ["pegs-2"]])
    assert rows.shape == (4, len(RELATION_FEATURES))
    column = {name: i for i, name in enumerate(RELATION_FEATURES)}
    assert rows[0, column["graph_co_bought"]] == 10
    assert rows[0, column["graph_co_bought_lift"]] > 1
    assert rows[0, column["graph_complement"]] == 1
    assert rows[1].sum() == 0  # pegs-3 has nothing to do with tent-2
    assert rows[2, column["graph_co_bought"]] == 10 and rows[2, column["graph_co_bought_lift"]] == 0  # lift 1
    assert rows[3].sum() == 0  # no recent items
    cited = signals.cite(["bag", "tent-2"], "pegs-2")
    assert cited is not None and cited.kind == "complement" and cited.item_id == "tent-2"
    assert signals.cite(["tent-2"], "pegs-3") is None


def test_save_load_attach_round_trip(with_graph: FusedRecommender, tmp_path) -> None:
    _, _, tests = planted()
    histories = [h for h, _ in tests]
    before = with_graph.recommend(histories, k=5)
    with_graph.save(tmp_path / "fused")
    loaded = recommenders.get("fused").load(tmp_path / "fused")
    assert loaded.uses_relations and loaded.features_.names == with_graph.features_.names
    # Loaded without its graph: the relation features are missing, and it still answers.
    unattached = loaded.recommend(histories, k=5)
    assert all(len(a) == 5 for a in unattached)
    assert all("often bought with" not in s.reason for a in unattached for s in a)
    loaded.attach_relations(with_graph.relations_)
    after = loaded.recommend(histories, k=5)
    assert [[s.item_id for s in a] for a in after] == [[s.item_id for s in a] for a in before]
    np.testing.assert_allclose([s.score for a in after for s in a], [s.score for a in before for s in a],
                               rtol=1e-6)
    with pytest.raises(Exception):
        loaded.attach_relations(object())  # type: ignore[arg-type]


def test_a_model_saved_before_relation_features_still_loads(tmp_path) -> None:
    _, _, tests = planted()
    old = fused(None)
    old.save(tmp_path / "old")
    # As written before relation features existed: no "relations" among the parameters.
    meta_path = tmp_path / "old" / "_features" / "candidate_features.json"
    meta = json.loads(meta_path.read_text())
    del meta["params"]["relations"]
    meta_path.write_text(json.dumps(meta))
    loaded = recommenders.get("fused").load(tmp_path / "old")
    assert not loaded.uses_relations
    assert loaded.features_.names == CandidateFeatures(members=["popularity"]).names
    # Attaching a graph to a model that never learned relation features changes nothing.
    events, _, _ = planted()
    loaded.attach_relations(GraphSignals(graph=GraphRelations().fit(events, catalog()).graph))
    answers = loaded.recommend([h for h, _ in tests], k=5)
    assert [[s.item_id for s in a] for a in answers] == [
        [s.item_id for s in a] for a in old.recommend([h for h, _ in tests], k=5)
    ]
