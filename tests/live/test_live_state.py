"""Live state is one snapshot published by reference: answers read it without a lock and
never see half an update, and `Engine.refresh()` picks up what the store committed."""

from __future__ import annotations

import threading

import numpy as np

from cartwise import Engine
from cartwise.live import LiveState


def _consistent(state: LiveState) -> str | None:
    """Why `state` mixes two updates, or None: its search service answers from its own
    lexical index, which hides exactly the items its catalog lacks."""
    if state.search.searcher.lexical is not state.lexical:
        return "the search service reads another lexical index"
    searchable = {str(i) for i, gone in zip(state.lexical.item_ids_, state.lexical.removed_, strict=True) if not gone}
    if not searchable <= state.catalog.ids():
        return f"searchable but not in the catalog: {sorted(searchable - state.catalog.ids())}"
    if state.indexed_version == state.catalog.version and searchable != state.catalog.ids():
        return f"in the catalog but not searchable: {sorted(state.catalog.ids() - searchable)}"
    return None


def test_a_reader_during_refreshes_sees_the_old_or_the_new_state_never_a_mix(engine):
    stop = threading.Event()
    seen: list[LiveState] = []
    problems: list[str] = []

    def read() -> None:
        while not stop.is_set():
            state = engine.state
            assert state is not None
            problem = _consistent(state)
            if problem is not None:
                problems.append(problem)
            if not seen or seen[-1] is not state:
                seen.append(state)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for round_ in range(6):
            engine.upsert_items([{"item_id": f"extra-{round_}", "title": f"Spare part {round_}"}])
            engine.refresh()
            engine.delete_item(f"extra-{round_}")  # publishes at once
    finally:
        stop.set()
        reader.join()
    assert not problems, problems[:3]
    assert len(seen) > 1, "the reader never saw a new state"


def test_a_published_state_is_never_changed_by_a_later_one(engine):
    before = engine.state
    assert before is not None and "tea-cosy" in before.catalog
    hits_before = before.search.searcher.search("tea cosy", mode="lexical").hits
    engine.delete_item("tea-cosy")
    after = engine.state
    assert after is not before
    assert "tea-cosy" not in after.catalog and "tea-cosy" in before.catalog
    assert "tea-cosy" not in [h.item_id for h in after.search.searcher.search("tea cosy", mode="lexical").hits]
    # The old snapshot answers as it did: a request that read it finishes on it.
    assert [h.item_id for h in before.search.searcher.search("tea cosy", mode="lexical").hits] == [h.item_id for h in hits_before]
    assert not before.lexical.removed_[np.flatnonzero(before.lexical.item_ids_ == "tea-cosy")].any()


def test_refresh_picks_up_what_another_engine_ingested(engine):
    reader = Engine.open(engine.store.path)
    assert reader.search("teapot").items  # publishes its first state
    first = reader.state
    engine.upsert_items([{"item_id": "kettle", "title": "Whistling stovetop kettle", "category": "Home > Kitchen"}])
    engine.delete_item("teapot")
    assert reader.refresh() is True
    assert reader.state is not first
    assert "kettle" in reader.state.catalog and "teapot" not in reader.state.catalog
    assert "teapot" not in [i.item_id for i in reader.search("teapot", mode="lexical").items]
    assert reader.refresh() is False  # nothing new: the same state stays published


def test_refresh_picks_up_a_new_model_version(engine):
    reader = Engine.open(engine.store.path)
    reader.refresh()
    version = reader.state.models.version
    engine.train(encoder=None)
    assert reader.refresh() is True
    assert reader.state.models.version != version
    assert reader.state.models.version == engine.model_info()["version"]


def test_exchange_rates_publish_a_new_state(engine):
    from cartwise.search.currency import ExchangeRates

    before = engine.state
    rates = ExchangeRates.parse(["USD:EUR=0.9"])
    engine.set_exchange_rates(rates)
    assert engine.state is not before and engine.state.search.rates is rates
    assert before.search.rates is not rates
    assert engine.exchange_rates is rates
