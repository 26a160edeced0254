"""Train/validation/test splits of an event log for offline evaluation.

- leave-last-out: per user, the last item is the test target and the second last the
  validation target (the protocol of SASRec, S3-Rec, ICLRec, DuoRec);
- time split: everything before a cut-off trains, each user's items after it are tested;
- cold items: test targets are items that never occur in training, to measure
  recommendations of new products from their text.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from cartwise.errors import ValidationError


@dataclass(frozen=True)
class Split:
    """Training events plus held-out targets (one row per user and target item)."""

    name: str
    train: pl.DataFrame
    validation: pl.DataFrame
    test: pl.DataFrame


def _ordered(events: pl.DataFrame) -> pl.DataFrame:
    missing = {"user_id", "item_id", "ts"} - set(events.columns)
    if missing:
        raise ValidationError(f"events need the columns {sorted(missing)} to be split", field=", ".join(missing))
    with_order = events.filter(pl.col("item_id").is_not_null()).with_row_index("_order")
    return with_order.sort(["user_id", "ts", "_order"])


def leave_last_out(events: pl.DataFrame, *, min_events: int = 3) -> Split:
    """Last event of each user is test, second last validation, the rest trains.

    Users with fewer than `min_events` events only contribute to training.
    """
    ordered = _ordered(events).with_columns(
        pl.len().over("user_id").alias("_n"),
        pl.int_range(pl.len()).over("user_id").alias("_pos"),
    )
    eligible = pl.col("_n") >= min_events
    test = ordered.filter(eligible & (pl.col("_pos") == pl.col("_n") - 1))
    validation = ordered.filter(eligible & (pl.col("_pos") == pl.col("_n") - 2))
    train = ordered.filter(~eligible | (pl.col("_pos") < pl.col("_n") - 2))
    if test.is_empty():
        raise ValidationError(
            f"no user has {min_events} or more events, so leave-last-out has nothing to test",
            hint="ingest more events or lower min_events",
        )
    drop = ["_order", "_n", "_pos"]
    return Split("leave-last-out", train.drop(drop), validation.drop(drop), test.drop(drop))


def time_split(events: pl.DataFrame, *, test_fraction: float = 0.1, validation_fraction: float = 0.1) -> Split:
    """Cut the log at global time quantiles: the last `test_fraction` of events is test."""
    if not 0 < test_fraction < 1 or not 0 <= validation_fraction < 1 or test_fraction + validation_fraction >= 1:
        raise ValidationError("fractions must be in (0, 1) and sum to less than 1", field="test_fraction")
    ordered = _ordered(events).drop("_order")
    ts = ordered["ts"]
    test_cut = ts.quantile(1 - test_fraction, interpolation="lower")
    validation_cut = ts.quantile(1 - test_fraction - validation_fraction, interpolation="lower")
    train = ordered.filter(pl.col("ts") < validation_cut)
    validation = ordered.filter((pl.col("ts") >= validation_cut) & (pl.col("ts") < test_cut))
    test = ordered.filter(pl.col("ts") >= test_cut)
    return Split("time", train, validation, test)


def cold_items(split: Split) -> Split:
    """Keep only test targets whose item never appears in training."""
    seen = split.train.select("item_id").unique()
    test = split.test.join(seen, on="item_id", how="anti")
    validation = split.validation.join(seen, on="item_id", how="anti")
    return Split(f"{split.name}, cold items", split.train, validation, test)
