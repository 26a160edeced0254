"""Change feeds are chosen by name; the polling feed reads the store's versions and wakes
at once on a commit made in the same process."""

from __future__ import annotations

import threading
import time

import pytest

from cartwise import Engine, ValidationError
from cartwise.live import (
    ChangeFeed,
    PollingFeed,
    StoreVersion,
    feed_names,
    open_feed,
    register_feed,
)
from cartwise.live.feed import _FEEDS
from cartwise.store.commits import committed, on_commit
from cartwise.versions import ModelVersions


def _polling(engine: Engine) -> PollingFeed:
    versions = ModelVersions(models_dir=engine.workspace.models_dir, store_id=engine.store.store_id)
    feed = open_feed("polling", engine.store, versions)
    assert isinstance(feed, PollingFeed)
    return feed


def test_polling_is_a_registered_feed_and_satisfies_the_protocol(engine):
    assert "polling" in feed_names()
    feed = _polling(engine)
    assert isinstance(feed, ChangeFeed)
    feed.close()


def test_an_unknown_feed_lists_the_known_ones(tmp_path):
    with pytest.raises(ValidationError, match="unknown change feed") as error:
        Engine(Engine.open(tmp_path / "store").store, feed="carrier-pigeon")
    assert "polling" in (error.value.hint or "")


def test_a_registered_feed_is_used_by_name(engine):
    opened = []

    class Manual(PollingFeed):
        """Reports changes only when told to (a message bus would tell it)."""

        def __init__(self, store, versions):
            super().__init__(store, versions)
            self.told: StoreVersion | None = None
            opened.append(self)

        def changes_since(self, cursor):
            told, self.told = self.told, None
            return told if told != cursor else None

    register_feed("manual", Manual)
    try:
        reader = Engine(Engine.open(engine.store.path).store, feed="manual")
        assert opened and reader.search("teapot").items
        engine.upsert_items([{"item_id": "kettle", "title": "Whistling stovetop kettle"}])
        time.sleep(1.1)  # a polling feed would report it by now; this one waits to be told
        reader.search("kettle")
        assert "kettle" not in reader.state.catalog
        opened[0].told = opened[0].current()
        reader.search("kettle")
        assert "kettle" in reader.state.catalog
    finally:
        _FEEDS.pop("manual", None)


def test_polling_feed_reports_a_commit_and_wakes_on_it(engine):
    feed = _polling(engine)
    feed.interval = 3600.0  # the request path would not look again for an hour
    try:
        cursor = feed.current()
        assert feed.changes_since(cursor) is None
        assert feed.wait(cursor, timeout=0.05) is None
        woke: list[StoreVersion | None] = []
        waiter = threading.Thread(target=lambda: woke.append(feed.wait(cursor, timeout=30)))
        started = time.monotonic()
        waiter.start()
        time.sleep(0.1)
        engine.add_events([{"user_id": "u-new", "item_id": "teapot", "event_type": "view", "timestamp": 1_700_300_000}])
        waiter.join()
        assert woke[0] is not None and woke[0].events > cursor.events
        assert time.monotonic() - started < 10  # woken by the commit, not by a poll an hour away
    finally:
        feed.close()


def test_ingest_announces_its_commit_after_the_transaction(engine):
    heard: list[tuple[str, str, int]] = []
    unsubscribe = on_commit(lambda store_id, what: heard.append((store_id, what, engine.store.versions()[0])))
    try:
        before = engine.store.versions()[0]
        engine.upsert_items([{"item_id": "kettle", "title": "Whistling stovetop kettle"}])
    finally:
        unsubscribe()
    assert heard == [(engine.store.store_id, "items", heard[0][2])] and heard[0][2] > before
    committed(engine.store.store_id, "items")  # no listener left: nothing to call


def test_a_feed_nobody_closed_does_not_stay_alive_for_its_commit_listener(engine):
    import gc
    import weakref

    feed = _polling(engine)
    gone = weakref.ref(feed)
    del feed
    gc.collect()
    assert gone() is None
    engine.upsert_items([{"item_id": "kettle", "title": "Whistling stovetop kettle"}])  # no dead listener called
