"""The bus change feed: a commit in one process reaches another's feed within the same
second, where its polling alone (every 5 s here) would not; model switches too."""

from __future__ import annotations

import time

from cartwise import Engine
from cartwise.bus import open_bus
from cartwise.bus.feed import BusFeed, use_bus_feed
from cartwise.live.feed import feed_names
from cartwise.store import open_store
from cartwise.versions import ModelVersions
from tests.bus.conftest import bus_url_for, remove_streams


def _changed_within(feed: BusFeed, cursor, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen = feed.changes_since(cursor)
        if seen is not None:
            return seen
        time.sleep(0.01)
    return None


def test_a_commit_elsewhere_is_seen_within_a_second(engine, bus_kind):
    url = bus_url_for(bus_kind)
    writer = Engine(open_store(engine.store.path, create=False), feed=use_bus_feed(url))
    assert bus_kind in feed_names()
    reader_store = open_store(engine.store.path, create=False)
    versions = ModelVersions(models_dir=reader_store.workspace.models_dir, store_id=reader_store.store_id)
    feed = BusFeed(reader_store, versions, open_bus(url, store_id=reader_store.store_id), interval=5.0)
    try:
        cursor = feed.current()
        assert feed.changes_since(None) == cursor
        assert feed.changes_since(cursor) is None
        time.sleep(0.3)  # the listener is subscribed
        writer.add_events([{"user_id": "feed-1", "item_id": "socks", "event_type": "view",
                            "timestamp": 1_700_600_000}])
        seen = _changed_within(feed, cursor, 1.0)
        assert seen is not None and seen.events == cursor.events + 1
        # A model switch (a promotion, by hand or by the retraining worker) is announced too.
        heard = feed.notices
        writer.promote(versions.current_version(), reason="promoted again, to be announced")
        deadline = time.monotonic() + 1.0
        while feed.notices == heard and time.monotonic() < deadline:
            time.sleep(0.01)
        assert feed.notices > heard
    finally:
        feed.close()
        writer.close()
        reader_store.close()
        remove_streams(url, engine.store.store_id)
