"""Event keys are persisted: their hash is pinned and must never change."""

import struct

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from cartwise.ingest.keys import MULTIPLIER, SEED, event_keys, hash_texts

MASK = (1 << 64) - 1


def reference_hash(text: str) -> int:
    """hash_texts written out for one string, as the module docstring defines it."""
    data = text.encode("utf-8")
    padded = data + b"\x00" * (-len(data) % 8)

    def step(h: int, word: int) -> int:
        h = ((h ^ word) * int(MULTIPLIER)) & MASK
        return h ^ (h >> 32)

    h = int(SEED)
    for (word,) in struct.iter_unpack("<Q", padded):
        h = step(h, word)
    z = step(h, len(data))
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=30))
def test_vectorised_hash_matches_the_definition(texts):
    assert hash_texts(pl.Series(texts, dtype=pl.Utf8)).tolist() == [reference_hash(t) for t in texts]


def test_hash_values_are_pinned():
    got = hash_texts(pl.Series(["", "a", "purchase", "红色 连衣裙", "x" * 100, None])).tolist()
    assert got == [reference_hash(t) for t in ["", "a", "purchase", "红色 连衣裙", "x" * 100, ""]]
    assert got[:3] == PINNED_HASHES


def event(**fields):
    base = {"user_id": "u1", "item_id": "i1", "event_type": "view", "ts": 1_700_000_000_000, "session_id": None,
            "value": None, "query": None, "event_id": None}
    return base | fields


def keys(*events):
    return event_keys(pl.DataFrame(list(events), schema={
        "user_id": pl.Utf8, "item_id": pl.Utf8, "event_type": pl.Utf8, "ts": pl.Int64, "session_id": pl.Utf8,
        "value": pl.Float64, "query": pl.Utf8, "event_id": pl.Utf8})).to_list()


def test_event_keys_are_pinned_and_distinguish_fields():
    assert keys(event(), event(event_id="e-1")) == PINNED_KEYS
    variants = [
        event(),
        event(user_id="u1i1", item_id=""),  # the same bytes split differently
        event(user_id="u", item_id="1i1"),
        event(session_id=""),
        event(session_id="s"),
        event(value=0.0),
        event(value=1.0),
        event(ts=1_700_000_000_001),
        event(query="i1"),
        event(event_type="click"),
    ]
    got = keys(*variants)
    assert len(set(got)) == len(variants)
    assert keys(event(value=-0.0)) == keys(event(value=0.0))
    assert keys(event(event_id="e-1", ts=1), event(event_id="e-1", user_id="other"))[0] == PINNED_KEYS[1]


PINNED_HASHES = [17957945085701497102, 2239599076822233748, 14565303630363712393]
PINNED_KEYS = [-2013875759022252001, -7070210027619171866]
