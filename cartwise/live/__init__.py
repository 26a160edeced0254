"""Live state: what the engine answers from, published as one immutable snapshot, and the
change feeds that tell it when the store moved on."""

from cartwise.live.feed import (
    REFRESH_INTERVAL,
    ChangeFeed,
    PollingFeed,
    StoreVersion,
    feed_names,
    open_feed,
    register_feed,
)
from cartwise.live.state import LiveState, StatePublisher

__all__ = [
    "REFRESH_INTERVAL",
    "ChangeFeed",
    "LiveState",
    "PollingFeed",
    "StatePublisher",
    "StoreVersion",
    "feed_names",
    "open_feed",
    "register_feed",
]
