import polars as pl
import pytest

from cartwise.errors import ValidationError
from cartwise.evaluate.splits import cold_items, leave_last_out, time_split


def log():
    rows = []
    for user, items in {"u1": ["a", "b", "c", "d"], "u2": ["b", "c", "e"], "u3": ["a", "f"]}.items():
        rows += [{"user_id": user, "item_id": item, "ts": 100 * i} for i, item in enumerate(items)]
    return pl.DataFrame(rows)


def test_leave_last_out():
    split = leave_last_out(log())
    assert dict(split.test.select("user_id", "item_id").iter_rows()) == {"u1": "d", "u2": "e"}
    assert dict(split.validation.select("user_id", "item_id").iter_rows()) == {"u1": "c", "u2": "c"}
    assert sorted(split.train.filter(pl.col("user_id") == "u1")["item_id"]) == ["a", "b"]
    assert split.train.filter(pl.col("user_id") == "u3").height == 2
    total = split.train.height + split.validation.height + split.test.height
    assert total == log().height


def test_leave_last_out_on_tiny_data_explains():
    with pytest.raises(ValidationError, match="nothing to test"):
        leave_last_out(log(), min_events=10)


def test_time_split_is_ordered_in_time():
    split = time_split(log(), test_fraction=0.2, validation_fraction=0.3)
    assert min(split.train.height, split.validation.height, split.test.height) > 0
    assert split.train["ts"].max() < split.validation["ts"].min() <= split.test["ts"].min()


def test_cold_items_keeps_only_unseen_targets():
    split = cold_items(leave_last_out(log()))
    assert sorted(split.test["item_id"].to_list()) == ["d", "e"]
    assert split.validation["item_id"].to_list() == ["c", "c"]
