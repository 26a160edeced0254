"""The Engine: Cartwise's Python API and the one facade the CLI and HTTP API call.

It owns no algorithm of its own: it opens a store, routes data in through the ingest
pipeline, trains through :mod:`cartwise.training`, and answers by combining the live
model version with the live catalog and each user's latest events. Reading the user's
events at request time is what makes a new event count at once, without retraining.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from cartwise.catalog import CatalogSnapshot
from cartwise.errors import NotFound, NotTrained, ValidationError
from cartwise.events.event import EVENT_WEIGHTS, EventType
from cartwise.ingest import (
    ColumnMapping,
    IngestReport,
    ingest_event_records,
    ingest_events,
    ingest_item_records,
    ingest_items,
)
from cartwise.recommend import Interaction, Scored
from cartwise.registry import ModelRegistry, ModelSet
from cartwise.results import ItemResult, RecommendationResponse, SearchResponse, SimilarResponse, TrainReport
from cartwise.search import LexicalIndex, SearchFilters, SearchHit, parse_filters
from cartwise.store import Store, StoreStats, open_store
from cartwise.training import train

DEFAULT_STORE = Path("cartwise-data")
_BECAUSE = {
    EventType.VIEW: "because you viewed '{}'",
    EventType.CLICK: "because you clicked on '{}'",
    EventType.ADD_TO_CART: "because you put '{}' in your cart",
    EventType.PURCHASE: "because you bought '{}'",
    EventType.RATING: "because you rated '{}'",
}
MAX_K = 1000
MAX_QUERY_LENGTH = 1000
HISTORY_LENGTH = 50
# How often a request may look for a new model version or catalog change (seconds).
REFRESH_INTERVAL = 1.0


def _check_k(k: int, *, offset: int = 0) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise ValidationError(f"k must be an integer from 1 to {MAX_K}, got {k!r}", field="k")
    if not isinstance(offset, int) or offset < 0 or offset > 10 * MAX_K:
        raise ValidationError(f"offset must be an integer from 0 to {10 * MAX_K}, got {offset!r}", field="offset")


def _check_id(value: str, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} must be a non-empty string", field=field)
    if len(value) > 256:
        raise ValidationError(f"{field} is longer than 256 characters", field=field)
    return value.strip()


class Engine:
    """One store and its trained models, ready to answer."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._registry = ModelRegistry(models_dir=store.models_dir, store_id=store.store_id)
        self._lock = threading.RLock()
        self._models: ModelSet | None = None
        self._catalog: CatalogSnapshot | None = None
        self._lexical: LexicalIndex | None = None
        self._lexical_version = -1
        self._rebuilding = False
        self._checked_at = 0.0
        self._stats: tuple[float, StoreStats] | None = None

    @classmethod
    def open(cls, path: Path | str = DEFAULT_STORE, *, create: bool = True) -> "Engine":
        """Open (or create) the store directory at `path`."""
        return cls(open_store(path, create=create))

    def close(self) -> None:
        self.store.close()

    # data in -------------------------------------------------------------------------

    def ingest_items(self, source: Path | str, *, mapping: ColumnMapping | None = None, **options: Any) -> IngestReport:
        """Load a catalog file (CSV, JSON Lines, Parquet; optionally gzip-compressed)."""
        return ingest_items(self.store, source, mapping=mapping, **options)

    def ingest_events(self, source: Path | str, *, mapping: ColumnMapping | None = None, **options: Any) -> IngestReport:
        """Load a behaviour-event file (CSV, JSON Lines, Parquet or `sequences`)."""
        return ingest_events(self.store, source, mapping=mapping, **options)

    def upsert_items(self, records: Sequence[Mapping[str, Any]], *, source: str = "api") -> IngestReport:
        return ingest_item_records(self.store, records, source=source)

    def add_events(
        self, records: Sequence[Mapping[str, Any]], *, source: str = "api", unknown_items: str = "keep"
    ) -> IngestReport:
        return ingest_event_records(self.store, records, source=source, unknown_items=unknown_items)

    def delete_item(self, item_id: str) -> None:
        item_id = _check_id(item_id, "item_id")
        if not self.store.delete_items([item_id]):
            raise NotFound(f"item {item_id!r} is not in the catalog", field="item_id")
        self._refresh(force=True)

    def train(self, *, recommender: str = "itemknn", on_step: Callable[[str], None] | None = None) -> TrainReport:
        """Fit all models; `recommender` picks the personalised model (itemknn, als, bpr,
        sequential). Answers switch to the new version once it is complete."""
        report = train(self.store, recommender=recommender, on_step=on_step)
        self._refresh(force=True)
        return report

    # answers -------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        offset: int = 0,
        filters: SearchFilters | Sequence[str] | None = None,
    ) -> SearchResponse:
        """Products matching `query`, best first, within `filters`.

        An empty query with filters lists the filtered items by popularity (browsing).
        """
        started = time.perf_counter()
        _check_k(k, offset=offset)
        if not isinstance(query, str):
            raise ValidationError("query must be text", field="q")
        if len(query) > MAX_QUERY_LENGTH:
            raise ValidationError(
                f"query is {len(query)} characters long; the limit is {MAX_QUERY_LENGTH}", field="q"
            )
        query = "".join(ch if ch.isprintable() else " " for ch in query).strip()
        search_filters = filters if isinstance(filters, SearchFilters) or filters is None else parse_filters(filters)
        models, catalog, lexical = self._current()
        if not query:
            if search_filters is None or search_filters == SearchFilters():
                raise ValidationError("query is empty", field="q", hint="type some words or give a filter")
            results = self._browse(models, catalog, lexical, search_filters, k=k, offset=offset)
        else:
            hits = lexical.search(query, k=k, offset=offset, filters=search_filters)
            results = [self._search_result(hit, catalog) for hit in hits if hit.item_id in catalog]
        return SearchResponse(
            query=query,
            k=k,
            offset=offset,
            filters=_describe(search_filters),
            items=results,
            took_ms=round((time.perf_counter() - started) * 1000, 3),
        )

    def recommend(self, user_id: str, *, k: int = 10, exclude_seen: bool = True) -> RecommendationResponse:
        """Personalised recommendations from the user's latest events, topped up with
        popular items; a user with no history gets popular items."""
        started = time.perf_counter()
        user_id = _check_id(user_id, "user_id")
        _check_k(k)
        models, catalog, _ = self._current()
        history = _history(self.store.user_events(user_id, limit=HISTORY_LENGTH))
        items, strategy = self._recommend_one(models, catalog, history, k=k, exclude_seen=exclude_seen)
        return RecommendationResponse(
            user_id=user_id,
            k=k,
            strategy=strategy,
            items=items,
            took_ms=round((time.perf_counter() - started) * 1000, 3),
        )

    def recommend_batch(
        self, user_ids: Sequence[str], *, k: int = 10, exclude_seen: bool = True
    ) -> list[RecommendationResponse]:
        """Recommendations for many users at once (offline evaluation, e-mail campaigns).

        Each user's history is one indexed read, exactly as in :meth:`recommend`, so a
        batch answer is always the answer a single request would get.
        """
        _check_k(k)
        ids = [_check_id(u, "user_id") for u in user_ids]
        models, catalog, _ = self._current()
        by_user = {u: _history(self.store.user_events(u, limit=HISTORY_LENGTH)) for u in dict.fromkeys(ids)}
        responses = []
        for user_id in ids:
            started = time.perf_counter()
            items, strategy = self._recommend_one(
                models, catalog, by_user.get(user_id, []), k=k, exclude_seen=exclude_seen
            )
            responses.append(
                RecommendationResponse(
                    user_id=user_id,
                    k=k,
                    strategy=strategy,
                    items=items,
                    took_ms=round((time.perf_counter() - started) * 1000, 3),
                )
            )
        return responses

    def similar(self, item_id: str, *, k: int = 10) -> SimilarResponse:
        """Items often bought or viewed with `item_id`, then popular items of its category."""
        started = time.perf_counter()
        item_id = _check_id(item_id, "item_id")
        _check_k(k)
        models, catalog, _ = self._current()
        card = catalog.get(item_id)
        if card is None:
            raise NotFound(f"item {item_id!r} is not in the catalog", field="item_id")
        chosen: list[ItemResult] = []
        seen = {item_id}
        for scored in models.itemknn.similar([item_id], k=k * 2 + 10)[0]:
            if len(chosen) >= k:
                break
            self._take(chosen, seen, scored, catalog, reason=f"often chosen together with '{card.title}'")
        if len(chosen) < k and card.category:
            for scored in models.popularity.recommend(k * 2 + len(seen), category=card.category, exclude=seen):
                if len(chosen) >= k:
                    break
                self._take(chosen, seen, scored, catalog, reason=f"popular in {card.category}")
        return SimilarResponse(
            item_id=item_id, k=k, items=chosen, took_ms=round((time.perf_counter() - started) * 1000, 3)
        )

    def stats(self, *, max_age_s: float = 0.0) -> StoreStats:
        """What the store holds. Counting a large event log takes a while, so callers that
        ask often (the health check) may accept numbers up to `max_age_s` seconds old."""
        cached = self._stats
        if cached is not None and time.monotonic() - cached[0] <= max_age_s:
            return cached[1]
        stats = self.store.stats()
        self._stats = (time.monotonic(), stats)
        return stats

    def model_info(self) -> dict[str, Any] | None:
        """The live model version's manifest, or None before the first `train`."""
        try:
            models, _, _ = self._current()
        except NotTrained:
            return None
        return {"version": models.version, **models.manifest}

    # internals -----------------------------------------------------------------------

    def _recommend_one(
        self,
        models: ModelSet,
        catalog: CatalogSnapshot,
        history: list[Interaction],
        *,
        k: int,
        exclude_seen: bool,
    ) -> tuple[list[ItemResult], str]:
        seen = {event.item_id for event in history} if exclude_seen else set()
        chosen: list[ItemResult] = []
        taken = set(seen)
        if history:
            # The strongest event on each history item names what the user did with it.
            strongest: dict[str, str] = {}
            for event in history:
                current = strongest.get(event.item_id)
                if current is None or EVENT_WEIGHTS.get(event.event_type, 0) > EVENT_WEIGHTS.get(current, 0):
                    strongest[event.item_id] = event.event_type
            for scored in models.recommender.recommend([history], k=k * 2 + 10, exclude_seen=exclude_seen)[0]:
                if len(chosen) >= k:
                    break
                because = scored.because[0] if scored.because else None
                reason = (
                    _BECAUSE.get(strongest.get(because, ""), "because you looked at '{}'").format(
                        catalog.title(because)
                    )
                    if because
                    else scored.reason
                )
                self._take(chosen, taken, scored, catalog, reason=reason)
        personal = len(chosen)
        if len(chosen) < k:
            for scored in models.popularity.recommend(k * 2 + len(taken), exclude=taken):
                if len(chosen) >= k:
                    break
                self._take(chosen, taken, scored, catalog, reason="popular with shoppers right now")
        strategy = "personalised" if personal == len(chosen) and personal else "popular" if not personal else "mixed"
        return chosen, strategy

    @staticmethod
    def _take(
        chosen: list[ItemResult], taken: set[str], scored: Scored, catalog: CatalogSnapshot, *, reason: str
    ) -> None:
        card = catalog.get(scored.item_id)
        if card is None or not card.in_stock or scored.item_id in taken:
            return
        taken.add(scored.item_id)
        chosen.append(
            ItemResult(
                item_id=card.item_id,
                title=card.title,
                score=round(float(scored.score), 6),
                reason=reason,
                because=list(getattr(scored, "because", ()) or ()),
                category=card.category,
                brand=card.brand,
                price=card.price,
                currency=card.currency,
                in_stock=card.in_stock,
            )
        )

    def _search_result(self, hit: SearchHit, catalog: CatalogSnapshot) -> ItemResult:
        card = catalog.get(hit.item_id)
        assert card is not None
        terms = ", ".join(hit.matched_terms)
        return ItemResult(
            item_id=card.item_id,
            title=card.title,
            score=round(float(hit.score), 6),
            reason=f"matches {terms}" if terms else "matches your search",
            category=card.category,
            brand=card.brand,
            price=card.price,
            currency=card.currency,
            in_stock=card.in_stock,
        )

    def _browse(
        self,
        models: ModelSet,
        catalog: CatalogSnapshot,
        lexical: LexicalIndex,
        filters: SearchFilters,
        *,
        k: int,
        offset: int,
    ) -> list[ItemResult]:
        allowed = lexical.filter_ids(filters)
        order = models.popularity.score(allowed)
        ranked = sorted(zip(allowed, order, strict=True), key=lambda pair: (-pair[1], pair[0]))
        results: list[ItemResult] = []
        taken: set[str] = set()
        for item_id, score in ranked[offset : offset + k]:
            self._take(results, taken, Scored(item_id=item_id, score=float(score), reason=""), catalog,
                       reason="matches your filters; ordered by popularity")
        return results

    def _current(self) -> tuple[ModelSet, CatalogSnapshot, LexicalIndex]:
        self._refresh()
        models, catalog, lexical = self._models, self._catalog, self._lexical
        if models is None or catalog is None or lexical is None:
            raise NotTrained("this store has no trained models yet", hint="run `cartwise train`")
        return models, catalog, lexical

    def _refresh(self, *, force: bool = False) -> None:
        """Pick up a newly trained model version and catalog changes (at most once a second)."""
        now = time.monotonic()
        if not force and now - self._checked_at < REFRESH_INTERVAL and self._models is not None:
            return
        with self._lock:
            self._checked_at = now
            version = self._registry.current_version()
            if version is None:
                return
            if self._models is None or self._models.version != version:
                models = self._registry.load(version)
                self._models = models
                self._lexical = models.lexical
                self._lexical_version = int(models.manifest.get("catalog_version", -1))
                self._catalog = None
            catalog_version, _ = self.store.versions()
            if self._catalog is None or self._catalog.version != catalog_version:
                self._catalog = CatalogSnapshot(self.store.items(), version=catalog_version)
                assert self._lexical is not None
                self._lexical.remove([i for i in self._lexical.item_ids_ if i not in self._catalog])
            # Checked on every refresh, not only when the snapshot changes: a change that
            # lands while a re-index runs must start another one when that one ends.
            if self._lexical_version != catalog_version:
                self._rebuild_lexical(catalog_version)

    def _rebuild_lexical(self, catalog_version: int) -> None:
        """Re-index the catalog in the background so new and edited items become searchable
        without a full `train`; the old index keeps answering meanwhile."""
        if self._rebuilding:
            return
        self._rebuilding = True

        def work() -> None:
            try:
                index = LexicalIndex().fit(self.store.items())
                with self._lock:
                    self._lexical = index
                    self._lexical_version = catalog_version
            finally:
                self._rebuilding = False

        threading.Thread(target=work, name="cartwise-reindex", daemon=True).start()


def _history(events: pl.DataFrame) -> list[Interaction]:
    """A user's item events, newest first, as the recommenders take them."""
    rows = events.filter(
        pl.col("item_id").is_not_null() & (pl.col("event_type") != EventType.SEARCH.value)
    ).select("item_id", "event_type", "ts")
    return [Interaction(item_id=i, event_type=t, ts=ts) for i, t, ts in rows.iter_rows()]


def _describe(filters: SearchFilters | None) -> dict[str, Any]:
    if filters is None:
        return {}
    described: dict[str, Any] = {}
    for name in ("category", "brands", "price_min", "price_max", "in_stock"):
        value = getattr(filters, name, None)
        if value not in (None, (), []):
            described[name] = list(value) if isinstance(value, tuple) else value
    return described


__all__ = ["DEFAULT_STORE", "Engine"]
