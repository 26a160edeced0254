"""A store with events but no catalog trains: the items events name are registered."""

from __future__ import annotations

from pathlib import Path

from cartwise import Engine


def test_events_without_a_catalog_train_and_the_report_says_so(tmp_path: Path):
    sequences = tmp_path / "seq.txt"
    sequences.write_text("".join(f"u{n} a b c{n % 3}\n" for n in range(30)))
    engine = Engine.open(tmp_path / "store", log_impressions=False)
    report = engine.ingest_events(sequences, format="sequences")
    assert report.rows_written == 90 and engine.store.stats().items == 0
    trained = engine.train(encoder=None)
    assert trained.items_registered_from_events == 5 and trained.items == 5
    card = engine.store.get_items(["c1"]).row(0, named=True)
    assert card["title"] == "c1" and '"registered_from": "events"' in card["attributes"]
    assert {i.item_id for i in engine.recommend("someone-new", k=5).items} == {"a", "b", "c0", "c1", "c2"}
    assert engine.search("c2", k=1).items[0].item_id == "c2"
    # Nothing new the second time; a deleted item stays deleted.
    engine.delete_item("c0")
    again = engine.train(encoder=None)
    assert again.items_registered_from_events == 0 and again.items == 4
