"""A bus message's bytes: what goes in comes out; anything else is poison, with a reason."""

from __future__ import annotations

import json

import pytest

from cartwise.bus.messages import PoisonMessage, decode, encode
from cartwise.ingest.pipeline import check_event_records

EVENTS = [
    {"user_id": "u1", "item_id": "socks", "event_type": "view", "timestamp": "2024-01-01T00:00:00Z",
     "context": {"page": "home"}, "value": 2},
    {"user_id": "u2", "event_type": "search", "query": "red mug", "timestamp": 1_700_000_000, "event_id": "e-7"},
]


def test_a_batch_round_trips_with_its_resolved_timestamps():
    checked = check_event_records(EVENTS + [{"user_id": "", "event_type": "view"}])
    assert checked.valid.height == 2 and checked.rejects.height == 1
    batch = decode(encode(checked.valid, unknown_items="reject", source="api"))
    assert batch.unknown_items == "reject"
    assert batch.rows["ts"].to_list() == [1_704_067_200_000, 1_700_000_000_000]
    assert batch.rows["line"].to_list() == [0, 1]
    assert batch.rows["event_id"].to_list() == [None, "e-7"]
    assert json.loads(batch.rows["context"][0]) == {"page": "home"}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a version 1 event batch"),
        (b'{"v": 1, "unknown_items": "maybe", "rows": [{}]}', "unknown_items"),
        (b'{"v": 1, "unknown_items": "keep", "rows": []}', "non-empty list"),
        ((b'{"v": 1, "unknown_items": "keep", "rows": [{"user_id": "u", "ts": "soon", "line": 0,'
         b' "event_type": "view"}]}'), "types"),
        ((b'{"v": 1, "unknown_items": "keep", "rows": [{"user_id": "u", "ts": 5, "line": 0,'
         b' "event_type": "teleport"}]}'), "known event_type"),
    ],
)
def test_poison_says_why(payload: bytes, reason: str):
    with pytest.raises(PoisonMessage, match=reason):
        decode(payload)
