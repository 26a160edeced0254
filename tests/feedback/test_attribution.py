"""Attribution of clicks, carts and purchases to the answer that showed the item."""

from __future__ import annotations

import polars as pl

from cartwise.feedback import AttributionWindows, Impression, ShownItem, attribute
from cartwise.feedback.impression import to_frames
from cartwise.store.frames import EVENT_SCHEMA, conform

T = 1_750_000_000_000
MINUTE = 60_000


def _shown(request_id: str, ts: int, items: list[str], *, user: str | None = "u1", placement: str = "search"):
    return Impression(
        request_id=request_id, ts=ts, placement=placement, items=tuple(ShownItem(i) for i in items), user_id=user,
        model_version="v1",
    )


def _events(rows: list[dict]) -> pl.DataFrame:
    frame = pl.DataFrame(
        [{"event_key": n, "user_id": "u1", "request_id": None, **row} for n, row in enumerate(rows)],
        infer_schema_length=None,
    )
    return conform(frame, EVENT_SCHEMA)


def _attribute(impressions, rows, **windows):
    heads, items = to_frames(impressions)
    return attribute(_events(rows), heads, items, windows=AttributionWindows(**windows) if windows else None)


def test_event_naming_the_answer_is_credited_to_it_at_the_items_position():
    out = _attribute(
        [_shown("r1", T, ["a", "b", "c"]), _shown("r2", T + MINUTE, ["b"])],
        [{"item_id": "b", "event_type": "click", "ts": T + 2 * MINUTE, "request_id": "r1"}],
    )
    assert out.select("request_id", "position", "how").rows() == [("r1", 2, "request_id")]


def test_without_request_id_the_last_answer_that_showed_the_item_to_the_user_wins():
    out = _attribute(
        [_shown("r1", T, ["a", "b"]), _shown("r2", T + MINUTE, ["c", "b"]), _shown("r3", T + 2 * MINUTE, ["c"])],
        [{"item_id": "b", "event_type": "click", "ts": T + 3 * MINUTE}],
    )
    assert out.select("request_id", "position", "how").rows() == [("r2", 2, "window")]


def test_another_users_answer_is_not_credited():
    out = _attribute(
        [_shown("r1", T, ["a"], user="someone-else")],
        [{"item_id": "a", "event_type": "click", "ts": T + MINUTE}],
    )
    assert out.is_empty()


def test_events_out_of_their_window_or_before_the_answer_are_not_attributed():
    impressions = [_shown("r1", T, ["a", "b"])]
    rows = [
        {"item_id": "a", "event_type": "click", "ts": T + 2 * 60 * MINUTE},  # 2 h: past the 1 h click window
        {"item_id": "a", "event_type": "click", "ts": T + 2 * 60 * MINUTE, "request_id": "r1"},  # named, still late
        {"item_id": "b", "event_type": "click", "ts": T - 10 * MINUTE, "request_id": "r1"},  # before the answer
        {"item_id": "b", "event_type": "purchase", "ts": T + 2 * 60 * MINUTE},  # within the 24 h purchase window
        {"item_id": "b", "event_type": "view", "ts": T + MINUTE},  # views are not outcomes
    ]
    out = _attribute(impressions, rows)
    assert out.select("event_type", "item_id", "how").rows() == [("purchase", "b", "window")]
    # A wider click window takes the late click (once: each event is credited at most once).
    wide = _attribute(impressions, rows, click_s=3 * 3600)
    assert sorted(wide.select("event_key", "how").rows()) == [(0, "window"), (1, "request_id"), (3, "window")]


def test_a_request_id_that_did_not_show_the_item_falls_back_to_the_window():
    out = _attribute(
        [_shown("r1", T, ["a"]), _shown("r2", T + MINUTE, ["b"])],
        [{"item_id": "b", "event_type": "add_to_cart", "ts": T + 2 * MINUTE, "request_id": "r1"}],
    )
    assert out.select("request_id", "how").rows() == [("r2", "window")]


def test_anonymous_answers_are_credited_only_by_request_id():
    impressions = [_shown("r1", T, ["a"], user=None)]
    named = _attribute(impressions, [{"item_id": "a", "event_type": "click", "ts": T + MINUTE, "request_id": "r1"}])
    unnamed = _attribute(impressions, [{"item_id": "a", "event_type": "click", "ts": T + MINUTE}])
    assert named.height == 1 and unnamed.is_empty()
