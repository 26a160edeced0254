"""Training: fit every model on the store's current data and publish a new version."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

import polars as pl

from cartwise.encode import DEFAULT_ENCODER, load_encoder
from cartwise.errors import NotTrained, ValidationError
from cartwise.evaluate.splits import leave_last_out
from cartwise.events.event import EventType
from cartwise.recommend import ItemKNN, Popularity
from cartwise.registry import ModelRegistry, ModelSet, recommender_class
from cartwise.results import TrainReport
from cartwise.search import LexicalIndex
from cartwise.search.semantic import embed_catalog, embeddings_dir
from cartwise.store import Store

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
# Models that hold out each user's last event to stop training early.
VALIDATED = ("sequential", "twotower")


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
) -> TrainReport:
    """Fit the lexical index, item embeddings for semantic search (unless `encoder` is
    None), popularity, item-kNN and the chosen personalised recommender on the store;
    publish them atomically as one new version.

    The sequential model holds out each user's last event to stop training early; the
    held-out events still reach it as input at answer time, read from the store.
    """
    model_class = recommender_class(recommender)
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
    items = store.items()
    if items.is_empty():
        raise NotTrained(
            "the catalog is empty: there is nothing to train on",
            hint="ingest a catalog first: `cartwise ingest items catalog.csv`",
        )
    events = store.events(exclude_flagged=True)
    flagged = store.flagged_users().height
    item_events = events.filter(pl.col("item_id").is_not_null() & (pl.col("event_type") != EventType.SEARCH.value))
    seconds["load"] = time.perf_counter() - started

    registry = ModelRegistry(models_dir=store.models_dir, store_id=store.store_id)
    version, staging = registry.new_staging_dir()
    try:
        mark = time.perf_counter()
        step("building the search index")
        lexical = LexicalIndex().fit(items)
        seconds["lexical"] = time.perf_counter() - mark

        vectors = None
        encoded = 0
        if text_encoder is not None:
            mark = time.perf_counter()
            step(f"embedding item texts with {text_encoder.name}")
            vectors, figures = embed_catalog(
                items,
                encoder=text_encoder,
                directory=embeddings_dir(store.models_dir.parent, text_encoder),
                on_progress=on_encode,
            )
            encoded = int(figures["encoded"])
            seconds["embeddings"] = time.perf_counter() - mark

        mark = time.perf_counter()
        step("counting popularity")
        popularity = Popularity().fit(item_events, items)
        seconds["popularity"] = time.perf_counter() - mark

        mark = time.perf_counter()
        step("computing item-to-item co-occurrence")
        itemknn = ItemKNN().fit(item_events)
        seconds["itemknn"] = time.perf_counter() - mark

        personal: object = itemknn
        if recommender != "itemknn":
            mark = time.perf_counter()
            step(f"training the {recommender} recommender")
            if recommender in VALIDATED:
                split = leave_last_out(item_events)
                settings: dict[str, object] = {**TRAIN_SETTINGS[recommender], **runtime}
                if on_epoch is not None:
                    settings["on_epoch"] = on_epoch
                if vectors is not None and len(vectors):
                    # Text vectors let the model score items that had no events in training.
                    settings["item_text_vectors"] = vectors.id_vectors()
                personal = model_class(**settings).fit(split.train, validation=split.test)
            elif recommender == "textknn":
                if vectors is None or not len(vectors):
                    raise NotTrained(
                        "the textknn recommender needs item text embeddings",
                        hint="train with a text encoder: `cartwise train --recommender textknn` without --encoder none",
                    )
                personal = model_class(item_text_vectors=vectors.id_vectors()).fit(item_events)
            else:
                settings = {**TRAIN_SETTINGS.get(recommender, {}), **runtime}
                personal = model_class(**settings).fit(item_events)
            seconds[recommender] = time.perf_counter() - mark

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
        }
        registry.save(
            ModelSet(
                version=version,
                manifest=manifest,
                lexical=lexical,
                vectors=vectors,
                popularity=popularity,
                itemknn=itemknn,
                recommender=personal,  # type: ignore[arg-type]
            ),
            staging,
        )
        seconds["save"] = time.perf_counter() - mark
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    seconds["total"] = time.perf_counter() - started
    return TrainReport(
        version=version,
        recommender=recommender,
        items=items.height,
        events=item_events.height,
        users=int(manifest["users"]),
        excluded_flagged_users=flagged,
        seconds={k: round(v, 3) for k, v in seconds.items()},
        catalog_version=catalog_version,
        events_version=events_version,
    )
