"""The store's click model: trained by `cartwise train` from the impression log (or, without
logged clicks, from the events), judged against logistic regression on a later slice of
time, and used by answers (the sponsored slot, click predictions).

The model reads the point-in-time features of :mod:`cartwise.feedback.features`. At
serving, a shopper's features come from their latest events and an item's from its counts
when the model was trained; the position is set to one constant (the model learnt each
position's bias from the logs, and candidates are compared as if shown in the same place).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from cartwise.clicks import FeatureSpec
from cartwise.clicks import registry as click_models
from cartwise.clicks.calibration import auc, expected_calibration_error, log_loss, reliability_curve
from cartwise.events.event import EventType
from cartwise.feedback.examples import event_examples, impression_examples
from cartwise.feedback.features import CATEGORICAL, DAY_MS, HISTORY, NUMERIC, item_table, point_in_time
from cartwise.recommend import Interaction

# Below this many clicks in the log, the events teach the model instead.
MIN_LOGGED_CLICKS = 200
MIN_POSITIVES = 30
TEST_FRACTION = 0.2
MODEL = "gbdt"
BASELINE = "logistic"
SPEC = FeatureSpec(numeric=NUMERIC, categorical=CATEGORICAL, position="position", history="history", item="item_id")
_ITEM_COLUMNS = ("item_events", "item_recent", "item_trend", "item_age_days")


class ModelScores(BaseModel):
    auc: float
    log_loss: float
    ece: float
    reliability: list[dict[str, float]] = Field(
        default_factory=list,
        description="the reliability curve on the held-out rows: per bin of about as many rows (quantiles of the "
        "predicted probability), its edges, rows, mean predicted probability and observed click rate")


class ClickModelReport(BaseModel):
    """How the click model was trained and how well it predicts a later slice of time."""

    source: str = Field(description="impressions (logged clicks) or events (next interactions among candidates)")
    model: str
    rows: int
    positives: int
    test_rows: int
    test_positives: int
    model_scores: ModelScores
    baseline: str
    baseline_scores: ModelScores
    seconds: float


class ClickPredictor:
    """The trained click model with what it needs to score candidates at answer time."""

    def __init__(self, model: Any, *, item_stats: pl.DataFrame, catalog: pl.DataFrame, now_ms: int,
                 report: ClickModelReport) -> None:
        self.model = model
        self.item_stats = item_stats
        self.catalog = catalog
        self.now_ms = now_ms
        self.report = report

    def predict(
        self,
        history: Sequence[Interaction],
        item_ids: Sequence[str],
        *,
        placement: str,
        stages: Sequence[str | None] | None = None,
        scores: Sequence[float | None] | None = None,
        lexical_scores: Sequence[float | None] | None = None,
        semantic_scores: Sequence[float | None] | None = None,
    ) -> NDArray[np.float64]:
        """Click probability of each item if shown now to the shopper whose latest events
        are `history`, in `placement` (as if in the same position)."""
        if not item_ids:
            return np.zeros(0)
        now = max([self.now_ms, *(e.ts for e in history)]) + 1
        n = len(item_ids)
        items = self._items(item_ids)
        # The shopper's features, from their latest events (as point_in_time computes them).
        acts = sorted((e for e in history if e.event_type != EventType.SEARCH.value), key=lambda e: e.ts)
        categories = self._categories
        in_category: dict[str, int] = {}
        for event in acts:
            key = categories.get(event.item_id, "")
            in_category[key] = in_category.get(key, 0) + 1
        count = len(acts)
        recency = (now - acts[-1].ts) / 3_600_000 if acts else None
        recent = [e.item_id for e in acts[-HISTORY:]]
        frame = items.with_columns(
            pl.lit("shopper").alias("user_id"),
            pl.lit(now).alias("ts"),
            pl.lit(placement).alias("placement"),
            pl.Series("stage", list(stages) if stages is not None else [""] * n, dtype=pl.Utf8),
            pl.Series("score", list(scores) if scores is not None else [None] * n, dtype=pl.Float64),
            pl.Series("lexical_score", list(lexical_scores) if lexical_scores is not None else [None] * n,
                      dtype=pl.Float64),
            pl.Series("semantic_score", list(semantic_scores) if semantic_scores is not None else [None] * n,
                      dtype=pl.Float64),
            pl.lit(count).cast(pl.Int64).alias("user_events"),
            pl.lit(recency, dtype=pl.Float64).alias("user_recency_h"),
            (pl.col("category").replace_strict(in_category, default=0, return_dtype=pl.Float64) / max(count, 1))
            .alias("user_category_share"),
            pl.lit(None, dtype=pl.Float64).alias("text_similarity"),
            pl.lit(str((now // 3_600_000) % 24)).alias("hour"),
            pl.Series("history", [recent] * n, dtype=pl.List(pl.Utf8)),
        )
        return np.asarray(self.model.predict(frame), dtype=np.float64)

    def _items(self, item_ids: Sequence[str]) -> pl.DataFrame:
        """Catalog features and counts at training of `item_ids`, in order (zeros for
        items the model never saw)."""
        table = getattr(self, "_table", None)
        if table is None:
            table = self.item_stats.join(item_table(self.catalog), on="item_id", how="full", coalesce=True)
            table = table.with_columns([pl.col(c).fill_null(0) for c in _ITEM_COLUMNS]).with_columns(
                pl.col("category").fill_null(""), pl.col("brand").fill_null(""), pl.col("price_band").fill_null("none")
            )
            self._table = table
            self._row = {item_id: n for n, item_id in enumerate(table["item_id"].to_list())}
            self._categories = dict(zip(table["item_id"].to_list(), table["category"].to_list(), strict=True))
        missing = [i for i in item_ids if i not in self._row]
        known = table[[self._row[i] for i in item_ids if i in self._row]]
        if missing:
            unseen = pl.DataFrame({"item_id": missing}).with_columns(
                [pl.lit(0).alias(c) for c in _ITEM_COLUMNS],
                pl.lit("").alias("category"), pl.lit("").alias("brand"), pl.lit("none").alias("price_band"),
            )
            known = pl.concat([known, unseen], how="diagonal_relaxed")
            order = {item_id: n for n, item_id in enumerate(item_ids)}
            known = known.sort(pl.col("item_id").replace_strict(order, return_dtype=pl.Int64))
        return known

    def predict_candidates(self, request: Any, item_ids: Sequence[str], *, position: int) -> NDArray[np.float64]:
        """For the sponsored slot: candidates of a serving request (position is a
        training-only feature, so `position` does not change the answer)."""
        placement = "similar" if getattr(request, "item_id", None) else "recommend"
        return self.predict(getattr(request, "history", []) or [], item_ids, placement=placement)

    def save(self, directory: Path | str) -> None:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        self.model.save(path / "model")
        self.item_stats.write_parquet(path / "item_stats.parquet")
        self.catalog.write_parquet(path / "catalog.parquet")
        (path / "click_model.json").write_text(
            json.dumps({"now_ms": self.now_ms, "model": self.report.model, "report": self.report.model_dump()})
        )

    @classmethod
    def load(cls, directory: Path | str) -> ClickPredictor:
        path = Path(directory)
        meta = json.loads((path / "click_model.json").read_text())
        return cls(
            click_models.get(meta["model"]).load(path / "model"),
            item_stats=pl.read_parquet(path / "item_stats.parquet"),
            catalog=pl.read_parquet(path / "catalog.parquet"),
            now_ms=int(meta["now_ms"]),
            report=ClickModelReport.model_validate(meta["report"]),
        )


def _usable(frame: pl.DataFrame, test: pl.Expr) -> bool:
    clicked = frame.group_by(test.alias("__test")).agg(pl.col("clicked").sum())
    counts = dict(clicked.iter_rows())
    return counts.get(False, 0) >= MIN_POSITIVES // 2 and counts.get(True, 0) >= 5


def item_stats(events: pl.DataFrame, items: pl.DataFrame, *, now_ms: int) -> pl.DataFrame:
    """Each item's counts as of `now_ms`, as the model saw them in training."""
    acts = events.filter(pl.col("item_id").is_not_null() & (pl.col("event_type") != EventType.SEARCH.value))
    counts = acts.group_by("item_id").agg(
        pl.len().alias("item_events"),
        (pl.col("ts") > now_ms - 7 * DAY_MS).sum().alias("item_recent"),
        ((pl.col("ts") > now_ms - 35 * DAY_MS) & (pl.col("ts") <= now_ms - 7 * DAY_MS)).sum().alias("__older"),
        pl.col("ts").min().alias("__first"),
    )
    created = items.select("item_id", pl.col("created_at").cast(pl.Int64))
    return (
        counts.join(created, on="item_id", how="full", coalesce=True)
        .with_columns(
            pl.col("item_events").fill_null(0),
            pl.col("item_recent").fill_null(0),
            (pl.col("item_recent").fill_null(0) / (pl.col("__older").fill_null(0) / 4 + 1)).alias("item_trend"),
            ((now_ms - pl.coalesce("created_at", "__first", pl.lit(now_ms))).clip(lower_bound=0) / DAY_MS).alias(
                "item_age_days"
            ),
        )
        .select("item_id", *_ITEM_COLUMNS)
    )


def train_click_model(
    *,
    events: pl.DataFrame,
    items: pl.DataFrame,
    impressions: pl.DataFrame,
    impression_items: pl.DataFrame,
    vectors: Mapping[str, NDArray[np.float32]] | None = None,
    seed: int = 0,
    threads: int | None = None,
) -> ClickPredictor | None:
    """The click model of a store, or None when its data holds too few positives."""
    started = time.perf_counter()
    examples = impression_examples(impressions, impression_items, events) if impressions.height else None
    source = "impressions"
    if examples is None or int(examples["clicked"].sum()) < MIN_LOGGED_CLICKS:
        examples, _ = event_examples(events, items, seed=seed)
        source = "events"
    positives = int(examples["clicked"].sum()) if examples.height else 0
    if positives < MIN_POSITIVES:
        return None
    frame = point_in_time(examples, events, items, vectors=vectors)
    # Judged on the latest fifth of the time; when the rows hardly span any time (one
    # import of impressions), on a fifth of the shoppers instead; never on rows trained on.
    cut = frame["ts"].quantile(1 - TEST_FRACTION, interpolation="lower")
    later = pl.col("ts") >= cut
    if not _usable(frame, later):
        later = (pl.col("user_id").hash(seed=seed) % 5) == 0
    train, test = frame.filter(~later), frame.filter(later)
    if not _usable(frame, later):
        train, test = frame, frame.head(0)
    settings = {"seed": seed, "threads": threads}
    model = click_models.get(MODEL)
    baseline = click_models.get(BASELINE)
    fitted = model.build(SPEC, **model.settings_from(settings)).fit(train, label="clicked")
    reference = baseline.build(SPEC, **baseline.settings_from(settings)).fit(train, label="clicked")

    def scores(predictor: Any) -> ModelScores:
        if not test.height:
            return ModelScores(auc=float("nan"), log_loss=float("nan"), ece=float("nan"))
        labels = test["clicked"].to_numpy()
        p = predictor.predict(test, logged_position=True)
        curve = [asdict(b) for b in reliability_curve(labels, p, bins=10, strategy="quantile")]
        return ModelScores(auc=auc(labels, p), log_loss=log_loss(labels, p), ece=expected_calibration_error(labels, p),
                           reliability=curve)

    now = int(events["ts"].max() or 0)
    report = ClickModelReport(
        source=source,
        model=MODEL,
        rows=frame.height,
        positives=positives,
        test_rows=test.height,
        test_positives=int(test["clicked"].sum()) if test.height else 0,
        model_scores=scores(fitted),
        baseline=BASELINE,
        baseline_scores=scores(reference),
        seconds=round(time.perf_counter() - started, 3),
    )
    return ClickPredictor(
        fitted,
        item_stats=item_stats(events, items, now_ms=now),
        catalog=items.select("item_id", "category", "brand", "price", "created_at"),
        now_ms=now,
        report=report,
    )


__all__ = ["ClickModelReport", "ClickPredictor", "item_stats", "train_click_model"]
