"""Training: fit every model on the store's current data and publish a new version."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from cartwise.encode import DEFAULT_ENCODER, load_encoder
from cartwise.errors import NotTrained, ValidationError
from cartwise.evaluate.metrics import rmse
from cartwise.evaluate.splits import leave_last_out
from cartwise.events.event import EventType
from cartwise.feedback.click_model import train_click_model
from cartwise.graph import GRAPH_DIR, RelationGraph
from cartwise.graph.signals import GraphRelations, GraphSignals
from cartwise.ingest.event_items import register_event_items
from cartwise.recommend import ItemKNN, Popularity, RatingPredictor
from cartwise.recommend import registry as recommenders
from cartwise.recommend.plan import (
    DEFAULT_BUDGET_S,
    StoreShape,
    TrainingPlan,
    plan_training,
)
from cartwise.results import RatingModelReport, TrainReport
from cartwise.search import LexicalIndex
from cartwise.search.semantic import embed_catalog
from cartwise.store import Store
from cartwise.store.trainlock import trainer_lock
from cartwise.vectors import VectorIndex
from cartwise.versions import ModelSet, ModelVersions, recommender_class
from cartwise.workspace import Workspace

Progress = Callable[[str], None]
# (items encoded so far, items to encode) while item embeddings are computed.
EncodeProgress = Callable[[int, int], None]

# Settings that differ from a model's class defaults when `train` fits it on a store:
# the sequential model's benchmark settings (bench/sequential.py) and a time budget so
# that training on a large store ends.
TRAIN_SETTINGS: dict[str, dict[str, float]] = {
    "sequential": {"lr": 2e-3, "max_seconds": 900.0},
    "twotower": {"lr": 5e-3, "max_seconds": 900.0},
}
# A neural epoch should make at least this many optimiser steps: at the default batch of
# 256 shoppers an epoch of the demo store (1,900 shoppers) was 8 steps, so the blend's
# Transformer needed ~40 epochs (7 minutes on 2 cores, 95% of the blend's time). Halving
# the batch (down to 32) until there are this many steps costs the same per epoch and
# converges in fewer: 17 epochs at batch 64, same blend validation NDCG@10. Stores of
# 4,096 shoppers or more keep the default batch.
# The recommender name that lets `train` choose (cartwise.recommend.plan).
AUTO = "auto"
# A click model is trained from this many item events on (below, too few positives).
MIN_EVENTS_FOR_CLICKS = 2_000
MIN_STEPS_PER_EPOCH = 16
MIN_BATCH_SIZE = 32
# The rating predictor is fitted only on at least this many ratings from at least this
# many users and items: fewer cannot tell a user's bias from an item's.
MIN_RATINGS = 20
MIN_RATING_USERS = 2
MIN_RATING_ITEMS = 2


def _new_recommender(
    name: str,
    *,
    vectors: VectorIndex | None,
    runtime: dict[str, object],
    on_epoch: Callable[[object], None] | None,
    workspace: Workspace | None = None,
    users: int | None = None,
) -> Any:
    """An unfitted personalised recommender with the settings `train` uses on a store.

    Neural models save their training state in the workspace's checkpoints after every
    epoch, so a `train` that crashed or was stopped resumes where it was. With the
    store's number of `users`, their batch is sized by :func:`batch_size_for`."""
    spec = recommenders.get(name)
    text = vectors.id_vectors() if vectors is not None and len(vectors) else None
    if spec.composite:
        members = recommenders.build_members(
            spec,
            lambda member: _new_recommender(member.name, vectors=vectors, runtime=runtime, on_epoch=on_epoch,
                                            workspace=workspace, users=users),
            text=text is not None,
        )
        return spec.build(members=members, **spec.settings_from(runtime))
    if spec.needs_text and text is None:
        raise NotTrained(
            f"the {name} recommender needs item text embeddings",
            hint=f"train with a text encoder: `cartwise train --recommender {name}` without --encoder none",
        )
    offered: dict[str, object] = {
        **runtime,
        "on_epoch": on_epoch,
        "checkpoint_dir": workspace.checkpoints_dir(name) if workspace is not None else None,
        # Text vectors let the model score items that had no events in training.
        "item_text_vectors": text,
    }
    if users is not None and "batch_size" in spec.settings:
        default = inspect.signature(spec.model_class()).parameters["batch_size"].default
        offered["batch_size"] = batch_size_for(users, default)
    return spec.build(**{**TRAIN_SETTINGS.get(name, {}), **spec.settings_from(offered)})


def batch_size_for(users: int, default: int) -> int:
    """The `default` batch halved (not below :data:`MIN_BATCH_SIZE`) until an epoch over
    `users` shoppers makes :data:`MIN_STEPS_PER_EPOCH` optimiser steps."""
    size = default
    while size > MIN_BATCH_SIZE and users / size < MIN_STEPS_PER_EPOCH:
        size //= 2
    return size


def train(
    store: Store,
    *,
    recommender: str = "itemknn",
    encoder: str | None = DEFAULT_ENCODER,
    on_step: Progress | None = None,
    on_encode: EncodeProgress | None = None,
    on_epoch: Callable[[object], None] | None = None,
    threads: int | None = None,
    seed: int | None = None,
    budget_s: float | None = None,
    until_ms: int | None = None,
    promote: bool = True,
    graph_features: bool = False,
    wait_s: float = 0.0,
    clicks: bool = True,
) -> TrainReport:
    """Fit the lexical index, item embeddings for semantic search (unless `encoder` is
    None), popularity, item-kNN and the chosen personalised recommender on the store;
    publish them atomically as one new version.

    The sequential model holds out each user's last event to stop training early; the
    held-out events still reach it as input at answer time, read from the store.

    `until_ms` trains on the events up to that time only (the retraining gate holds the
    newest back to judge the result); `promote=False` saves the version without making it
    live (a candidate: see :mod:`cartwise.retrain`).

    `graph_features` gives the fused recommender's ranker the product relation graph's
    features (a graph mined from its training events; the version's graph answers). Off by
    default (BENCHMARKS.md, "Relation graph features in the fused ranking"); recommenders
    without a ranking stage ignore it.

    One trainer per store: the whole train holds the store's training lock
    (:mod:`cartwise.store.trainlock`); another trainer holding it is waited for up to
    `wait_s` seconds, then :class:`~cartwise.errors.TrainerBusy` is raised.

    `clicks=False` leaves the click model out (the version answers click predictions and
    prices the sponsored slot without one): most of a retrain's time on a store without an
    impression log, for a retrain whose answers do not read it (bench/online.py's nightly
    retraining).
    """
    with trainer_lock(store, wait_s=wait_s):
        return _train(store, recommender=recommender, encoder=encoder, on_step=on_step, on_encode=on_encode,
                      on_epoch=on_epoch, threads=threads, seed=seed, budget_s=budget_s, until_ms=until_ms,
                      promote=promote, graph_features=graph_features, clicks=clicks)


def _train(
    store: Store,
    *,
    recommender: str,
    encoder: str | None,
    on_step: Progress | None,
    on_encode: EncodeProgress | None,
    on_epoch: Callable[[object], None] | None,
    threads: int | None,
    seed: int | None,
    budget_s: float | None,
    until_ms: int | None,
    promote: bool,
    clicks: bool = True,
    graph_features: bool,
) -> TrainReport:
    if recommender != AUTO:
        recommender_class(recommender)  # an unknown name fails before any work
    if budget_s is not None and not (isinstance(budget_s, (int, float)) and budget_s > 0):
        raise ValidationError(f"budget must be a positive number of seconds, got {budget_s!r}", field="budget")
    # CPU threads and seed for the models that take them (neural models, ALS, BPR).
    runtime: dict[str, object] = {}
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValidationError(f"threads must be a positive integer, got {threads!r}", field="threads")
        runtime["threads"] = threads
    if seed is not None:
        runtime["seed"] = seed
    text_encoder = load_encoder(encoder) if encoder is not None else None
    step = on_step or (lambda _name: None)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    catalog_version, events_version = store.versions()

    step("loading catalog and events")
    store_events = store.stats().events
    events = store.events(exclude_flagged=True)
    if until_ms is not None:
        events = events.filter(pl.col("ts") <= until_ms)
    # Items that events name and the catalog never held (a store without a catalog, an
    # export that missed some) are registered with their id as title.
    registered = register_event_items(store, events)
    if registered:
        catalog_version, events_version = store.versions()
    items = store.items()
    if items.is_empty():
        raise NotTrained(
            "the catalog is empty and no event names an item: there is nothing to train on",
            hint="ingest a catalog (`cartwise ingest items catalog.csv`) or events (`cartwise ingest events ...`)",
        )
    flagged = store.flagged_users().height
    item_events = events.filter(pl.col("item_id").is_not_null() & (pl.col("event_type") != EventType.SEARCH.value))
    seconds["load"] = time.perf_counter() - started
    plan = None
    if recommender == AUTO:
        plan = _plan(item_events, items=items.height, has_text=text_encoder is not None, budget_s=budget_s)
        recommender = plan.recommender
        if plan.max_seconds is not None:
            runtime.setdefault("max_seconds", plan.max_seconds)
        step(f"chose the {recommender} recommender")
    elif budget_s is not None:
        runtime.setdefault("max_seconds", budget_s)

    versions = ModelVersions(models_dir=store.workspace.models_dir, store_id=store.store_id)
    version, staging = versions.new_staging_dir()
    try:
        mark = time.perf_counter()
        step("building the search index")
        lexical = LexicalIndex().fit(items)
        seconds["lexical"] = time.perf_counter() - mark

        vectors = None
        encoded = reused = 0
        if text_encoder is not None:
            mark = time.perf_counter()
            step(f"embedding item texts with {text_encoder.name}")
            vectors, figures = embed_catalog(
                items,
                encoder=text_encoder,
                directory=store.workspace.embeddings_dir(text_encoder.name),
                on_progress=on_encode,
            )
            encoded, reused = int(figures["encoded"]), int(figures["reused"])
            seconds["embeddings"] = time.perf_counter() - mark

        mark = time.perf_counter()
        step("counting popularity")
        popularity = Popularity().fit(item_events, items)
        seconds["popularity"] = time.perf_counter() - mark

        mark = time.perf_counter()
        step("computing item-to-item co-occurrence")
        itemknn = ItemKNN().fit(item_events)
        seconds["itemknn"] = time.perf_counter() - mark

        mark = time.perf_counter()
        step("mining the product relation graph")
        graph = RelationGraph().fit(item_events, items, vectors=vectors)
        graph.save(staging / GRAPH_DIR)  # goes live with the version's other models
        seconds["graph"] = time.perf_counter() - mark

        personal: object = itemknn
        if graph_features and "relations" in recommenders.get(recommender).settings:
            # The ranker learns on a graph of its own training events (the held-out items
            # are not in it); the version's graph, of every event, answers.
            runtime["relations"] = GraphRelations(vectors=vectors)
        if recommender != "itemknn":
            mark = time.perf_counter()
            step(f"training the {recommender} recommender")
            model = _new_recommender(recommender, vectors=vectors, runtime=runtime, on_epoch=on_epoch,
                                     workspace=store.workspace,
                                     users=item_events["user_id"].n_unique())
            if recommenders.get(recommender).needs_validation:
                # Each user's last event is held out to stop early (and, for the blend, to
                # choose weights); everything before it trains.
                try:
                    split = leave_last_out(item_events, min_events=2)
                except ValidationError as exc:
                    raise ValidationError(
                        f"the {recommender} recommender holds out each shopper's last event to stop "
                        f"training early, but no shopper has 2 or more events yet",
                        field="recommender",
                        hint="ingest more events, or train the default item-kNN (`cartwise train`)",
                    ) from exc
                personal = recommenders.get(recommender).fit(
                    model, pl.concat([split.train, split.validation]), items=items, validation=split.test
                )
                if recommenders.get(recommender).composite and "itemknn" in personal.members:  # type: ignore[attr-defined]
                    # A composite's weights are chosen; item-kNN, cheap to fit, then serves
                    # from every event.
                    personal.members["itemknn"] = itemknn
            else:
                personal = model.fit(item_events)
            seconds[recommender] = time.perf_counter() - mark
        if getattr(personal, "uses_relations", False):
            personal.attach_relations(GraphSignals(graph=graph))  # type: ignore[attr-defined]

        mark = time.perf_counter()
        step("fitting the rating predictor")
        fitted_ratings = _fit_ratings(item_events, seed=seed)
        ratings, rating_report = fitted_ratings if fitted_ratings is not None else (None, None)
        if ratings is not None:
            seconds["ratings"] = time.perf_counter() - mark

        mark = time.perf_counter()
        click_model = None
        if clicks and item_events.height >= MIN_EVENTS_FOR_CLICKS:
            step("training the click model")
            click_model = train_click_model(
                events=events, items=items, impressions=store.impressions(),
                impression_items=store.impression_items(), seed=seed or 0, threads=threads,
            )
            seconds["clicks"] = time.perf_counter() - mark

        mark = time.perf_counter()
        step("saving models")
        manifest = {
            "trained_ms": int(time.time() * 1000),
            "catalog_version": catalog_version,
            "events_version": events_version,
            "items": items.height,
            "events": item_events.height,
            "users": item_events["user_id"].n_unique(),
            "recommender": recommender,
            "encoder": text_encoder.name if text_encoder is not None else None,
            "items_encoded": encoded,
            "items_sharing_an_encoded_text": reused,
            "items_registered_from_events": registered,
            "plan": list(plan.reasons) if plan is not None else None,
            "clicks": click_model.report.model_dump() if click_model is not None else None,
            "validation": _validation_summary(personal),
            "ratings": rating_report.model_dump() if rating_report is not None else None,
            # What trust discounted: low-history shoppers, bursts of new ids (recommend.trust).
            "trust": {**popularity.trust_report_, "cooccurrence": itemknn.trust_report_},
            # The newest event time trained on: later events are new to this version.
            "events_until_ms": int(item_events["ts"].max()) if item_events.height else None,
            # Events in the store when training read it (the retraining policy counts new ones).
            "store_events": store_events,
            "graph": graph.summary(),
            "graph_features": bool(getattr(personal, "uses_relations", False)),
        }
        versions.save(
            ModelSet(
                version=version,
                manifest=manifest,
                lexical=lexical,
                vectors=vectors,
                popularity=popularity,
                itemknn=itemknn,
                recommender=personal,  # type: ignore[arg-type]
                ratings=ratings,
                clicks=click_model,
            ),
            staging,
            promote=promote,
        )
        seconds["save"] = time.perf_counter() - mark
    finally:
        versions.discard_staging(staging)
    seconds["total"] = time.perf_counter() - started
    return TrainReport(
        version=version,
        recommender=recommender,
        items=items.height,
        items_registered_from_events=registered,
        chosen_because=list(plan.reasons) if plan is not None else [],
        clicks=click_model.report if click_model is not None else None,
        events=item_events.height,
        users=int(manifest["users"]),
        excluded_flagged_users=flagged,
        seconds={k: round(v, 3) for k, v in seconds.items()},
        catalog_version=catalog_version,
        events_version=events_version,
        ratings=rating_report,
        validation=manifest.get("validation", {}),
        trust=manifest["trust"],
    )


def _plan(item_events: pl.DataFrame, *, items: int, has_text: bool, budget_s: float | None) -> TrainingPlan:
    """The recommender `train` fits when asked for "auto" (:mod:`cartwise.recommend.plan`)."""
    per_user = item_events.group_by("user_id").len()
    shape = StoreShape(
        events=item_events.height,
        users=per_user.height,
        items=items,
        shoppers_with_history=int((per_user["len"] >= 2).sum()),
        has_text=has_text,
    )
    return plan_training(shape, budget_s=budget_s or DEFAULT_BUDGET_S, available=recommenders.names(personal=True))


def _validation_summary(model: object) -> dict[str, Any]:
    """Best epoch and validation NDCG@10 of neural models (the blend's sequential member
    too), the weights a blend chose and the ranker a fused model trained, for the report
    and the manifest."""
    out: dict[str, Any] = {}
    if getattr(model, "best_validation_ndcg10_", None) is not None:
        out["best_epoch"] = int(model.best_epoch_)  # type: ignore[attr-defined]
        out["epochs_run"] = len(model.history_)  # type: ignore[attr-defined]
        out["validation_ndcg10"] = round(float(model.best_validation_ndcg10_), 6)  # type: ignore[attr-defined]
    training = getattr(model, "training_", None)
    if isinstance(training, dict) and hasattr(model, "ranker_"):
        # The fused recommender: which ranker answers, learned or the fallback, and why.
        out["ranker"] = {key: value for key, value in training.items() if key != "top_features"}
        for name, member in getattr(model, "members", {}).items():
            inner = _validation_summary(member)
            if inner:
                out[name] = inner
    if isinstance(getattr(model, "weights_", None), dict):
        out["weights"] = dict(model.weights_)  # type: ignore[attr-defined]
        tuning = getattr(model, "tuning_", {}) or {}
        if "validation_ndcg10" in tuning:
            out["validation_ndcg10"] = tuning["validation_ndcg10"]
            out["member_validation_ndcg10"] = tuning.get("member_validation_ndcg10", {})
        for name, member in getattr(model, "members", {}).items():
            inner = _validation_summary(member)
            if inner:
                out[name] = inner
    return out


def _fit_ratings(events: pl.DataFrame, *, seed: int | None = None) -> tuple[RatingPredictor, RatingModelReport] | None:
    """The rating predictor fitted on the ``rating`` events of `events` (a user's latest
    rating of each item), or None with fewer than :data:`MIN_RATINGS` ratings or too few
    users or items.

    Each rater's last rating (of users with two or more) is held out to pick the number
    of ALS sweeps by early stopping and to measure RMSE next to the global mean's; the
    model is then refitted on every rating for that many sweeps.
    """
    rated = (
        events.filter(
            (pl.col("event_type") == EventType.RATING.value)
            & pl.col("user_id").is_not_null()
            & pl.col("item_id").is_not_null()
            & pl.col("value").is_finite()
        )
        .select("user_id", "item_id", "value", "ts")
        .with_row_index("_order")
        .sort("ts", "_order")
        .unique(["user_id", "item_id"], keep="last")
        .sort("ts", "_order")
    )
    users, items = rated["user_id"].n_unique(), rated["item_id"].n_unique()
    if rated.height < MIN_RATINGS or users < MIN_RATING_USERS or items < MIN_RATING_ITEMS:
        return None
    ranked = rated.with_columns(
        pl.len().over("user_id").alias("_n"), pl.int_range(pl.len()).over("user_id").alias("_pos")
    )
    last = (pl.col("_n") >= 2) & (pl.col("_pos") == pl.col("_n") - 1)
    columns = ("user_id", "item_id", "value", "ts")
    held, kept = ranked.filter(last).select(columns), ranked.filter(~last).select(columns)
    settings = {} if seed is None else {"seed": seed}
    iterations = RatingPredictor().iterations
    validation_rmse = baseline_rmse = None
    if held.height and kept.height >= MIN_RATINGS:
        probe = RatingPredictor(**settings).fit(kept, validation=held)
        iterations = probe.best_iteration_
        validation_rmse = probe.best_validation_rmse_
        truth = held["value"].to_numpy()
        baseline_rmse = rmse(truth, np.clip(np.full(truth.size, probe.global_mean_), *probe.rating_range_))
    model = RatingPredictor(iterations=iterations, **settings).fit(rated.select(columns))
    report = RatingModelReport(
        ratings=rated.height,
        users=users,
        items=items,
        iterations=iterations,
        validation_ratings=held.height if validation_rmse is not None else 0,
        validation_rmse=None if validation_rmse is None else round(float(validation_rmse), 6),
        global_mean_rmse=None if baseline_rmse is None else round(float(baseline_rmse), 6),
    )
    return model, report
