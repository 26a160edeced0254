"""New baskets reach the co-view and co-purchase counts without a rebuild, and the counts
equal what a rebuild on all events gives."""

from __future__ import annotations

import numpy as np
import polars as pl

from cartwise.graph import kinds
from cartwise.graph.baskets import Signal, basket_items
from cartwise.graph.cooccurrence import Cooccurrence, CountDelta, LiveCooccurrence
from cartwise.recommend.base import IdMap
from tests.graph.planted import DAY, T0, frames


def _as_dict(table) -> dict[str, tuple[int, int]]:
    return {i: (int(c), int(o)) for i, c, o in zip(table.ids.tolist(), table.counts, table.other_counts, strict=True)}


def test_delta_counts_a_growing_basket_once():
    delta = CountDelta().add(set(), {"a", "b"})
    assert delta.baskets == 1 and delta.items == {"a": 1, "b": 1} and delta.pairs["a"] == {"b": 1}
    grown = delta.add({"a", "b"}, {"a", "b", "c"})
    assert grown.baskets == 1 and grown.items == {"a": 1, "b": 1, "c": 1}
    assert grown.pairs["c"] == {"a": 1, "b": 1} and grown.pairs["a"] == {"b": 1, "c": 1}
    assert grown.add({"a", "b", "c"}, {"a", "b", "c"}) is grown  # nothing new: unchanged
    assert delta.pairs["a"] == {"b": 1}  # the older delta is untouched


def test_live_counts_equal_a_rebuild():
    """Fit on the first half of the planted purchases, add the second half's baskets as
    deltas: every item's table equals a fit on all of them."""
    items, events = frames()
    cut = T0 + 12 * DAY
    baskets = basket_items(events, Signal.BUY)
    ids = IdMap.from_series(items["item_id"])
    early_keys = set(baskets.filter(pl.col("ts") < cut)["basket"].unique().to_list())
    early = baskets.filter(pl.col("basket").is_in(list(early_keys)))
    late = baskets.filter(~pl.col("basket").is_in(list(early_keys)))
    base = Cooccurrence().fit(early, ids)
    delta = CountDelta()
    for _, rows in late.group_by("basket"):
        members = rows["item_id"].to_list()
        # The basket arrives in two writes: first item, then the rest.
        delta = delta.add(set(), set(members[:1])).add(set(members[:1]), set(members))
    live = LiveCooccurrence(base, delta)
    full = Cooccurrence().fit(baskets, ids)
    assert live.baskets_ == full.baskets_
    for item in ids.ids:
        assert live.item_count(item) == full.item_count(item)
        assert _as_dict(live.table(item)) == _as_dict(full.table(item)), item
        np.testing.assert_allclose(sorted(live.table(item).lift), sorted(full.table(item).lift))


def test_engine_counts_new_events_at_once(graph_engine):
    """A new pair bought together by three shoppers becomes co-bought (and complements:
    different categories) before any retrain; a retrain on the same events agrees."""
    assert "shorts" not in [i.item_id for i in graph_engine.related("tent", type="co_bought").items]
    before = {i.item_id: i.evidence["count"] for i in graph_engine.related("tent", type="co_bought").items}
    events = []
    for u in range(3):
        for n, item in enumerate(["tent", "shorts"]):
            events.append({"user_id": f"hiker-{u}", "item_id": item, "event_type": "purchase",
                           "timestamp": T0 // 1000 + 40 * 86_400 + n, "session_id": f"o-hike-{u}"})
    report = graph_engine.add_events(events)
    assert report.rows_rejected == 0
    live = {i.item_id: i.evidence for i in graph_engine.related("tent", type="co_bought").items}
    assert live["shorts"]["count"] == 3 and live["pegs"]["count"] == before["pegs"]
    assert "shorts" in [i.item_id for i in graph_engine.related("tent", type="complements").items]
    # Every kind and both placements answer from the graph with live counts.
    for kind in kinds.names():
        graph_engine.related("tee-red", type=kind)
    assert [i.item_id for i in graph_engine.bundle("tent", k=2).items] == ["tent", "pegs", "shorts"]
    assert graph_engine.alternatives("kettle-steel").items
    # Re-sending the same events changes nothing (the store skips duplicates).
    graph_engine.add_events(events)
    again = {i.item_id: i.evidence for i in graph_engine.related("tent", type="co_bought").items}
    assert again == live
    graph_engine.train(encoder=None)
    rebuilt = {i.item_id: i.evidence for i in graph_engine.related("tent", type="co_bought").items}
    assert rebuilt == live


def test_a_basket_growing_over_two_requests(graph_engine):
    first = [{"user_id": "late", "item_id": "kettle-mini", "event_type": "purchase",
              "timestamp": T0 // 1000 + 60 * 86_400, "session_id": "o-late"}]
    second = [{**first[0], "item_id": "polo", "timestamp": first[0]["timestamp"] + 5}]
    graph_engine.add_events(first)
    graph_engine.add_events(second)
    graph_engine.add_events([{**second[0], "user_id": "late-2", "session_id": "o-late-2"},
                             {**first[0], "user_id": "late-2", "session_id": "o-late-2"}])
    live = {i.item_id: i.evidence for i in graph_engine.related("polo", type="co_bought").items}
    assert live["kettle-mini"]["count"] == 2
    graph_engine.train(encoder=None)
    assert {i.item_id: i.evidence for i in graph_engine.related("polo", type="co_bought").items} == live



def test_events_another_process_stores_reach_the_live_counts(graph_engine, tmp_path):
    """The counts follow the store's events log: a file ingested by another process (as
    `cartwise ingest events` does) reaches this server's co-bought counts within a second."""
    import json
    import subprocess
    import sys
    import time

    graph_engine.refresh()
    graph_engine.follow()
    assert "shorts" not in [i.item_id for i in graph_engine.related("tent", type="co_bought").items]
    path = tmp_path / "orders.jsonl"
    path.write_text("".join(
        json.dumps({"user_id": f"camper-{u}", "item_id": item, "event_type": "purchase",
                    "timestamp": T0 // 1000 + 50 * 86_400 + n, "session_id": f"o-camp-{u}"}) + "\n"
        for u in range(3) for n, item in enumerate(["tent", "shorts"])))
    script = ("import sys\nfrom cartwise.ingest import ingest_events\nfrom cartwise.store import open_store\n"
              "print(ingest_events(open_store(sys.argv[1], create=False), sys.argv[2]).rows_written)\n")
    done = subprocess.run([sys.executable, "-c", script, str(graph_engine.store.path), str(path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "6", done.stderr
    deadline = time.monotonic() + 1.0
    while "shorts" not in [i.item_id for i in graph_engine.related("tent", type="co_bought").items]:
        assert time.monotonic() < deadline, "another process's events did not reach the graph in 1 s"
        time.sleep(0.05)
    live = {i.item_id: i.evidence for i in graph_engine.related("tent", type="co_bought").items}
    assert live["shorts"]["count"] == 3
