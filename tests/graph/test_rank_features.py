"""`train --graph-features`: the fused ranker of a model version reads that version's
relation graph once loaded; without the setting nothing changes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from cartwise import Engine
from cartwise.graph.signals import GraphSignals
from cartwise.retrain import RetrainPolicy, RetrainWorker


def test_a_version_trained_with_graph_features_answers_from_its_graph(graph_store: Path, tmp_path: Path) -> None:
    path = tmp_path / "store"
    shutil.copytree(graph_store, path)
    engine = Engine.open(path, create=False)
    try:
        report = engine.train(recommender="fused", encoder=None, graph_features=True, budget_s=5, threads=1, seed=0)
        assert report.recommender == "fused"
        version = report.version
        manifest = json.loads((path / "models" / version / "manifest.json").read_text())
        assert manifest["graph_features"] is True
    finally:
        engine.close()
    reader = Engine.open(path, create=False)
    try:
        reader.refresh()
        fused = reader.state.models.recommender
        assert fused.uses_relations
        assert "graph_co_bought_lift" in fused.features_.names
        # Attached on load to the version's own graph (mined from every event).
        assert isinstance(fused.relations_, GraphSignals)
        assert "pegs" in fused.relations_.graph
        assert fused.relations_.graph.summary()["co_bought_pairs"] == manifest["graph"]["co_bought_pairs"]
        assert reader.recommend("camper-0", k=3).items
        # A scheduled retrain of this store keeps the features.
        worker = RetrainWorker(store=reader.store, policy=RetrainPolicy(), recommender="fused", encoder=None,
                               budget_s=5)
        verdict = worker.run_once(force=True)
        assert verdict is not None
        retrained = json.loads((path / "models" / verdict.candidate / "manifest.json").read_text())
        assert retrained["graph_features"] is True
    finally:
        reader.close()


def test_signals_read_every_kind_of_relation() -> None:
    from cartwise.graph.graph import RelationGraph
    from cartwise.rank.relations import RELATION_FEATURES
    from tests.graph.planted import frames

    items, events = frames()
    signals = GraphSignals(graph=RelationGraph().fit(events, items))
    column = {name: i for i, name in enumerate(RELATION_FEATURES)}
    rows = signals.features([["tent"], ["kettle-steel"], ["tee-red"], ["book-0"]],
                            [["pegs", "book-3"], ["kettle-glass"], ["tee-blue"], ["book-1"]])
    assert rows[0, column["graph_complement"]] == 1 and rows[0, column["graph_co_bought_lift"]] > 1
    assert rows[1].sum() == 0  # no relation between a tent and a novel
    assert rows[2, column["graph_substitute"]] == 1 and rows[2, column["graph_co_viewed"]] > 0
    assert rows[3, column["graph_variant"]] == 1
    assert rows[4, column["graph_bought_after"]] > 0
    assert signals.cite(["tent"], "pegs").kind == "complement"
    assert signals.cite(["tee-red"], "tee-blue").kind == "variant"
    assert signals.cite(["kettle-steel"], "kettle-glass").kind == "substitute"
    assert signals.cite(["book-0"], "book-1").kind == "bought_after"
