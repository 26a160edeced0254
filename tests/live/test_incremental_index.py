"""New and edited items become searchable and recommendable on arrival: the live indexes
take them in incrementally (the catalog is not re-indexed), the old state answering until
the new one is published."""

from __future__ import annotations

import time

from cartwise import Engine


def _wait(check, timeout: float = 10.0) -> float:
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        if check():
            return time.perf_counter() - began
        time.sleep(0.01)
    raise AssertionError("not within the timeout")


def test_a_new_item_is_searchable_and_similar_items_find_it(engine: Engine):
    engine.upsert_items([{"item_id": "owl-lamp", "title": "Glowing owl night lamp", "category": "Home > Lighting",
                          "price": 19.0}])
    _wait(lambda: [i.item_id for i in engine.search("owl lamp", k=3, mode="lexical").items][:1] == ["owl-lamp"])
    reindex = engine.last_reindex
    assert reindex is not None and reindex.how == "incremental" and reindex.items == 1
    state = engine.state
    assert state.indexed_version == state.catalog.version
    # Embedded on arrival: found by meaning, and similar items of its own by text.
    assert "owl-lamp" in state.vectors
    assert engine.similar("owl-lamp", k=3).items


def test_an_edited_item_is_found_by_its_new_text_only(engine: Engine):
    assert "teapot" in [i.item_id for i in engine.search("teapot", k=3, mode="lexical").items]
    engine.upsert_items([{"item_id": "teapot", "title": "Cast iron kettle", "category": "Home > Kitchen > Tea",
                          "brand": "Brew", "price": 24.0, "currency": "EUR"}])
    _wait(lambda: engine.state.indexed_version == engine.state.catalog.version and engine.last_reindex is not None)
    assert engine.last_reindex.how == "incremental"
    assert "teapot" in [i.item_id for i in engine.search("cast iron kettle", k=3, mode="lexical").items]
    assert "teapot" not in [i.item_id for i in engine.search("infuser", k=5, mode="lexical", fallback=False).items]
