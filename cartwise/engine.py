"""The Engine: Cartwise's Python API and the one facade the CLI and HTTP API call.

It owns no algorithm of its own: it opens a store, routes data in through the ingest
pipeline, trains through :mod:`cartwise.training`, and answers by combining the live
model version with the live catalog and each user's latest events. Reading the user's
events at request time is what makes a new event count at once, without retraining.
What it answers from is one published snapshot (:mod:`cartwise.live`); recommendations,
similar items and search pages are built by the configured stages of :mod:`cartwise.serving`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import polars as pl
from numpy.typing import NDArray

from cartwise.access import ApiKey, KeyRing, NewKey, Rate, Scope
from cartwise.access.audit import AuditLog
from cartwise.encode import DEFAULT_ENCODER
from cartwise.errors import NotFound, NotTrained, ValidationError
from cartwise.events.event import now_ms
from cartwise.experiments import Experiments, Resources, Serving
from cartwise.feedback import (
    AttributionWindows,
    FeedbackReport,
    Impression,
    ImpressionLog,
    ShownItem,
    new_request_id,
)
from cartwise.feedback import feedback_report as _feedback_report
from cartwise.feedback.client import read_impressions
from cartwise.feedback.impression import PLACEMENT_PATTERN
from cartwise.graph.answers import (
    ALTERNATIVES_PLACEMENT,
    BUNDLE_PLACEMENT,
    RelationAnswers,
)
from cartwise.graph.graph import RelationGraph
from cartwise.graph.results import AlternativesResponse, BundleResponse, RelatedResponse
from cartwise.ingest import (
    ColumnMapping,
    IngestReport,
    ingest_event_records,
    ingest_events,
    ingest_item_records,
    ingest_items,
)
from cartwise.insights import Insights
from cartwise.limits import (
    HISTORY_LENGTH,
    MAX_ID_LENGTH,
    MAX_PREFIX_LENGTH,
    MAX_RATED_ITEMS,
    MAX_SUGGESTIONS,
)
from cartwise.live import LiveState, StatePublisher, open_feed
from cartwise.live.feed import StoreVersion
from cartwise.live.state import Reindex
from cartwise.logbook import Logbook
from cartwise.recommend import Interaction
from cartwise.recommend.base import history_of
from cartwise.results import (
    AutocompleteResponse,
    ClickPrediction,
    ItemResult,
    RatingBasis,
    RatingPrediction,
    RecommendationResponse,
    SearchResponse,
    SimilarResponse,
    TrainReport,
)
from cartwise.rules import RuleBook
from cartwise.rules.touch import touched
from cartwise.rules.trial import on_trial
from cartwise.search import SearchFilters, parse_filters
from cartwise.search.autocomplete import Autocomplete, build_autocomplete
from cartwise.search.currency import ExchangeRates
from cartwise.search.request import SearchRequest, check_page, clean_text
from cartwise.serving import (
    PIPELINES,
    Cascade,
    Pipeline,
    Request,
    SearchPages,
    is_personal,
)
from cartwise.serving.relations import screen
from cartwise.store import Store, StoreStats, open_store
from cartwise.training import train
from cartwise.versions import ModelVersions

ResponseT = TypeVar("ResponseT", SearchResponse, RecommendationResponse, SimilarResponse)

# A directory of the embedded SQLite store; any store URL can be passed instead.
DEFAULT_STORE = "cartwise-data"
AUTOCOMPLETE_REFRESH_S = 600


_check_k = check_page


def _check_id(value: str, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} must be a non-empty string", field=field)
    if len(value) > MAX_ID_LENGTH:
        raise ValidationError(f"{field} is longer than {MAX_ID_LENGTH} characters", field=field)
    return value.strip()


class Engine:
    """One store and its trained models, ready to answer."""

    def __init__(
        self,
        store: Store,
        *,
        feed: str = "polling",
        pipelines: Mapping[str, Cascade] | None = None,
        log_impressions: bool = True,
    ) -> None:
        """`feed`: the registered change feed (:mod:`cartwise.live.feed`) that tells the
        engine when the store's models or catalog changed. `pipelines`: cascades of
        serving stages by answer ("recommend", "similar", "search", "browse") replacing the defaults of
        :mod:`cartwise.serving.config`. `log_impressions`: record every answer given as an
        impression (:mod:`cartwise.feedback`); off for tools whose answers no shopper sees."""
        self.store = store
        # The store's files (models, embeddings, checkpoints, reports, runs).
        self.workspace = store.workspace
        self._versions = ModelVersions(models_dir=self.workspace.models_dir, store_id=store.store_id)
        # Price phrases in another currency than the catalog's are converted with these.
        self._live = StatePublisher(
            store, versions=self._versions, feed=open_feed(feed, store, self._versions), workspace=self.workspace,
            rates=ExchangeRates.from_environment(),
        )
        # The shop's merchandising rules and synonyms (cartwise.rules), applied by every pipeline.
        self.rules = RuleBook(self.workspace.rules_dir)
        cascades = {**PIPELINES, **(pipelines or {})}
        self._pipelines = {name: Pipeline(cascade, rules=self.rules) for name, cascade in cascades.items()}
        self._search = SearchPages(self._pipelines["search"], self._pipelines["browse"])
        # A/B tests and interleaving: which users of which placements a variant answers.
        self.experiments = Experiments(
            store, resources=Resources(rulebook=self.rules, versions=self._versions, cascades=cascades),
            base=self._pipelines, load_models=self._versions.load,
        )
        self._autocomplete: tuple[tuple[str, int, int, int], Autocomplete] | None = None
        self._stats: tuple[float, StoreStats] | None = None
        self.keys = KeyRing(store)
        self.audit = AuditLog(store)
        self.impressions = ImpressionLog(store) if log_impressions else None
        self._relations = RelationAnswers(models_dir=self.workspace.models_dir, impressions=self.impressions)
        # The baskets stored events change (this process's or another's) reach the live
        # relation graph's counts as the events log is followed.
        self._live.on_events(self._learn_relations)
        # The operations dashboard's reports (cartwise.insights), kept while the data stands still.
        self.insights = Insights(store=store, reports_dir=self.workspace.reports_dir)
        # The team's shared record of training and evaluation runs, with notes (cartwise.logbook).
        self.logbook = Logbook(runs_dir=self.workspace.runs_dir, versions=self._versions)

    @classmethod
    def open(
        cls, path: Path | str = DEFAULT_STORE, *, create: bool = True, log_impressions: bool = True,
        feed: str = "polling",
    ) -> Engine:
        """Open (or create) the store at `path`: a directory of the embedded SQLite store
        or a store URL such as ``sqlite:///srv/shop`` (see :func:`cartwise.store.open_store`)."""
        return cls(open_store(path, create=create), log_impressions=log_impressions, feed=feed)

    def close(self) -> None:
        if self.impressions is not None:
            self.impressions.close()
        self._live.feed.close()
        self._live.close()
        self.store.close()

    # live state ----------------------------------------------------------------------

    @property
    def state(self) -> LiveState | None:
        """The published live state (models, catalog, indexes, text profile) that answers
        read, as it stands: None before the first answer or :meth:`refresh` of a trained
        store. Read it once and keep the object: it never changes, it is replaced."""
        return self._live.state

    def refresh(self) -> bool:
        """Publish a new live state now if the store changed (a new model version, catalog
        changes: answers otherwise look at most once a second), and let autocomplete read
        the latest past queries. Whether a new state was published."""
        self._autocomplete = None
        return self._live.refresh()

    def published_version(self) -> StoreVersion | None:
        """The store version (models, catalog, events) the published live state was last
        brought up to; None before the first answer of a trained store."""
        return self._live.published

    def on_publish(self, listener: Callable[[StoreVersion], None]) -> None:
        """Call `listener(version)` whenever the live state is brought up to a store version
        (metrics time the lag from an event's acknowledgement to it)."""
        self._live.on_advance(listener)

    @property
    def last_reindex(self) -> Reindex | None:
        """How the live indexes last took in catalog changes: "incremental" (only the new
        and edited items tokenised and embedded) or "full", how many items, how long."""
        return self._live.last_reindex

    @property
    def exchange_rates(self) -> ExchangeRates:
        return self._live.rates

    # data in -------------------------------------------------------------------------

    def ingest_items(self, source: Path | str, *, mapping: ColumnMapping | None = None, **options: Any) -> IngestReport:
        """Load a catalog file (CSV, JSON Lines, Parquet; optionally gzip-compressed)."""
        return ingest_items(self.store, source, mapping=mapping, **options)

    def ingest_events(self, source: Path | str, *, mapping: ColumnMapping | None = None, **options: Any) -> IngestReport:
        """Load a behaviour-event file (CSV, JSON Lines, Parquet or `sequences`)."""
        return ingest_events(self.store, source, mapping=mapping, **options)

    def upsert_items(self, records: Sequence[Mapping[str, Any]], *, source: str = "api") -> IngestReport:
        """Add or edit items; they are searchable and recommendable moments later: the
        live indexes take them in the background, incrementally (:mod:`cartwise.live`)."""
        report = ingest_item_records(self.store, records, source=source)
        if report.rows_written:
            self._live.refresh()
        return report

    def add_events(
        self, records: Sequence[Mapping[str, Any]], *, source: str = "api", unknown_items: str = "keep"
    ) -> IngestReport:
        return ingest_event_records(self.store, records, source=source, unknown_items=unknown_items)

    def delete_item(self, item_id: str) -> None:
        item_id = _check_id(item_id, "item_id")
        if not self.store.delete_items([item_id]):
            raise NotFound(f"item {item_id!r} is not in the catalog", field="item_id")
        self.refresh()

    def train(
        self,
        *,
        recommender: str = "itemknn",
        encoder: str | None = DEFAULT_ENCODER,
        on_step: Callable[[str], None] | None = None,
        on_encode: Callable[[int, int], None] | None = None,
        on_epoch: Callable[[Any], None] | None = None,
        threads: int | None = None,
        seed: int | None = None,
        budget_s: float | None = None,
        graph_features: bool = False,
        wait_s: float = 0.0,
        clicks: bool = True,
    ) -> TrainReport:
        """Fit all models; `recommender` picks the personalised model (itemknn, als, bpr,
        sequential, blend, ..., or "auto": the best the data and `budget_s` allow, with the
        reasons in the report), `encoder` the text encoder for semantic search (None:
        lexical search only). `budget_s` caps the neural models' training time. Answers
        switch to the new version once it is complete. `graph_features`: the fused
        recommender's ranker also reads the product relation graph (off by default). One
        trainer per store: another one training is waited for up to `wait_s` seconds, then
        TrainerBusy is raised. `clicks=False`: no click model in this version."""
        report = train(
            self.store,
            recommender=recommender,
            budget_s=budget_s,
            encoder=encoder,
            on_step=on_step,
            on_encode=on_encode,
            on_epoch=on_epoch,
            threads=threads,
            seed=seed,
            graph_features=graph_features,
            wait_s=wait_s,
            clicks=clicks,
        )
        self.refresh()
        return report

    # answers -------------------------------------------------------------------------

    def search(
        self,
        query: str = "",
        *,
        k: int = 10,
        offset: int = 0,
        filters: SearchFilters | Sequence[str] | None = None,
        mode: str = "hybrid",
        understand: bool = True,
        fallback: bool = True,
        facets: bool = True,
        request: SearchRequest | None = None,
        user_id: str | None = None,
    ) -> SearchResponse:
        """Products matching `query`, best first, within `filters`.

        mode: "hybrid" (BM25 and semantic, fused; the default), "lexical" or "semantic".
        A store trained without an encoder answers every mode lexically, and says so.
        understand: read prices, brands, categories, colours and sizes out of the query
        (prices become filters, the rest boosts; all reported as `chips`).
        fallback: when nothing matches, relax filters and then search by meaning only,
        reporting what was relaxed. An empty query with filters lists the filtered items
        by popularity (browsing). `filters` may be given as ``price<=20`` strings.
        request: the whole request, typed (:class:`~cartwise.search.SearchRequest`);
        the other arguments are then ignored. Built by the "search" and "browse"
        pipelines of :mod:`cartwise.serving.config`.
        user_id: the shopper searching, when known: credits their later clicks to this answer.
        """
        started = time.perf_counter()
        if user_id is not None:
            user_id = _check_id(user_id, "user_id")
        if request is None:
            request = SearchRequest(
                query, k=k, offset=offset, mode=mode, understand=understand, fallback=fallback, facets=facets
            )
            if filters is not None:
                typed = filters if isinstance(filters, SearchFilters) else parse_filters(filters)
                request = replace(request, filters=typed)
        state = self._current()
        history = history_of(self.store.user_events(user_id, limit=HISTORY_LENGTH)) if user_id is not None else []
        asked = request
        return self._answer(
            state, "search", lambda s: s.search.answer(s.state, asked, started=started, history=history),
            user_id=user_id,
        )

    def set_exchange_rates(self, rates: ExchangeRates) -> None:
        """Rates for price phrases in another currency than the catalog's ("under $10" on a
        GBP catalog); without a rate such a phrase is not applied and its chip says so.
        The default comes from ``CARTWISE_RATES`` (``USD:GBP=0.79,CNY:GBP=0.11``)."""
        self._live.set_rates(rates)

    def autocomplete(self, prefix: str, *, k: int = 8) -> AutocompleteResponse:
        """Suggestions for a half-typed query: popular past searches, categories, brands, titles."""
        started = time.perf_counter()
        if not isinstance(prefix, str):
            raise ValidationError("q must be text", field="q")
        if len(prefix) > MAX_PREFIX_LENGTH:
            raise ValidationError(f"q is {len(prefix)} characters long; the limit is {MAX_PREFIX_LENGTH}", field="q")
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_SUGGESTIONS:
            raise ValidationError(f"k must be an integer from 1 to {MAX_SUGGESTIONS}, got {k!r}", field="k")
        prefix = clean_text(prefix)
        state = self._current()
        suggestions = self._suggester(state).suggest(prefix, k=k) if prefix else []
        return AutocompleteResponse(
            q=prefix, suggestions=suggestions, took_ms=round((time.perf_counter() - started) * 1000, 3)
        )

    def recommend(self, user_id: str, *, k: int = 10, exclude_seen: bool = True) -> RecommendationResponse:
        """Personalised recommendations from the user's latest events, topped up with
        popular items; a user with no history gets popular items."""
        started = time.perf_counter()
        user_id = _check_id(user_id, "user_id")
        _check_k(k)
        state = self._current()
        history = history_of(self.store.user_events(user_id, limit=HISTORY_LENGTH))
        return self._answer(
            state, "recommend", lambda s: self._recommendation(s, user_id, history, k, exclude_seen, started),
            user_id=user_id,
        )

    def recommend_batch(
        self, user_ids: Sequence[str], *, k: int = 10, exclude_seen: bool = True, placement: str | None = None
    ) -> list[RecommendationResponse]:
        """Recommendations for many users at once (offline evaluation, e-mail campaigns).

        Each user's history is one indexed read, exactly as in :meth:`recommend`, so a
        batch answer is always the answer a single request would get. `placement`: the
        name under which the answers are shown to shoppers (an e-mail campaign), to log
        them as impressions with a request_id each; None (offline work): not logged.
        """
        _check_k(k)
        if placement is not None:
            placement = _check_placement(placement)
        ids = [_check_id(u, "user_id") for u in user_ids]
        state = self._current()
        by_user = {u: history_of(self.store.user_events(u, limit=HISTORY_LENGTH)) for u in dict.fromkeys(ids)}
        responses = []
        base = Serving(state=state, pipelines=self._pipelines, search=self._search)
        for user_id in ids:
            started = time.perf_counter()
            history = by_user.get(user_id, [])

            def answer(s: Serving, user_id: str = user_id, history: list[Interaction] = history,
                       started: float = started) -> RecommendationResponse:
                return self._recommendation(s, user_id, history, k, exclude_seen, started)

            responses.append(answer(base) if placement is None else self._answer(state, placement, answer,
                                                                                  user_id=user_id))
        return responses

    def similar(self, item_id: str, *, k: int = 10, user_id: str | None = None) -> SimilarResponse:
        """Items often bought or viewed with `item_id`, blended with items whose text is
        closest to it (so a new item with no interactions has similar items too), then
        popular items of its category. `user_id`: the shopper looking, when known (credits
        their later clicks to this answer)."""
        started = time.perf_counter()
        item_id = _check_id(item_id, "item_id")
        if user_id is not None:
            user_id = _check_id(user_id, "user_id")
        _check_k(k)
        state = self._current()
        card = state.catalog.get(item_id)
        if card is None:
            raise NotFound(f"item {item_id!r} is not in the catalog", field="item_id")

        def answer(s: Serving) -> SimilarResponse:
            request = Request(state=s.state, k=k, item_id=item_id, card=card, taken={item_id})
            chosen = s.pipelines["similar"].answer(request)
            return SimilarResponse(
                item_id=item_id, k=k, items=chosen, took_ms=round((time.perf_counter() - started) * 1000, 3),
                rules=touched(request.notes),
            )

        return self._answer(state, "similar", answer, user_id=user_id)

    def related(self, item_id: str, *, type: str = "complements", k: int = 10) -> RelatedResponse:
        """Items related to `item_id` by the relation kind `type` (:mod:`cartwise.graph.kinds`:
        complements, substitutes, co_bought, variants, ...), each with its evidence."""
        state = self._current()
        return self._relations.related(state.catalog, state.models.version, item_id, type=type, k=k)

    def relation_graph(self) -> RelationGraph:
        """The product relation graph of the live model version, with the baskets counted
        since it was built (NotTrained before the first `train`)."""
        return self._relations.live.graph(self._current().models.version)

    def bundle(self, item_id: str, *, k: int = 2, user_id: str | None = None) -> BundleResponse:
        """"Frequently bought together": `item_id` and up to `k` in-stock items bought with
        it (complements first), with the bundle's total price; logged as an impression."""
        state = self._current()
        return self._relations.bundle(
            state.catalog, state.models.version, item_id, k=k, user_id=user_id,
            screen=screen(self._pipelines["bundle"], state, placement=BUNDLE_PLACEMENT),
            log=on_trial() is None,  # a dry run's answers are never shown
        )

    def alternatives(self, item_id: str, *, k: int = 5, user_id: str | None = None) -> AlternativesResponse:
        """Substitutes of `item_id` (described alike, viewed together, rarely bought
        together), in stock first; logged as an impression."""
        state = self._current()
        return self._relations.alternatives(
            state.catalog, state.models.version, item_id, k=k, user_id=user_id,
            screen=screen(self._pipelines["alternatives"], state, placement=ALTERNATIVES_PLACEMENT),
            log=on_trial() is None,  # a dry run's answers are never shown
        )

    def predict_ratings(self, user_id: str, item_ids: Sequence[str]) -> list[RatingPrediction]:
        """The rating `user_id` would give each of `item_ids`, in order, from the rating
        predictor of the live model version. A user or item without ratings in training
        falls back to the item's or the user's bias, or to the mean rating (see `basis`)."""
        user_id = _check_id(user_id, "user_id")
        if isinstance(item_ids, str) or not isinstance(item_ids, Sequence):
            raise ValidationError("item_ids must be a list of item ids", field="item_ids")
        if not 1 <= len(item_ids) <= MAX_RATED_ITEMS:
            raise ValidationError(
                f"item_ids must hold 1 to {MAX_RATED_ITEMS} item ids, got {len(item_ids)}", field="item_ids"
            )
        items = [_check_id(item_id, "item_ids") for item_id in item_ids]
        models = self._current().models
        predictor = models.ratings
        if predictor is None:
            raise NotTrained(
                f"model version {models.version} has no rating predictor: the store held too few rating events "
                "when it was trained",
                hint="send events with event_type=rating and the stars in value, then re-train with `cartwise train`",
            )
        ratings = predictor.predict([user_id] * len(items), items)
        user_known = user_id in predictor.user_ids_
        item_known = predictor.item_ids_.indices(items) >= 0
        return [
            RatingPrediction(item_id=item_id, rating=round(float(rating), 4), basis=_rating_basis(user_known, known))
            for item_id, rating, known in zip(items, ratings.tolist(), item_known.tolist(), strict=True)
        ]

    # the feedback loop ---------------------------------------------------------------

    def add_impressions(self, records: Sequence[Mapping[str, Any]]) -> list[str]:
        """Record lists a front end rendered itself (fields as in
        :class:`cartwise.feedback.client.ClientImpression`), written before returning;
        their request ids in order (a record without one gets a new id). Raises
        ValidationError naming the record and field of the first problem, writing nothing."""
        impressions = read_impressions(records, now=now_ms())
        heads, shown = impressions
        self.store.insert_impressions(heads, shown)
        return heads["request_id"].to_list()

    def feedback(
        self,
        *,
        since_ms: int | None = None,
        by: Sequence[str] = ("placement", "model_version"),
        windows: AttributionWindows | None = None,
    ) -> FeedbackReport:
        """Click-through, add-to-cart and conversion rates of the answers shown (with 95%
        intervals), per placement and model version (or variant), after attributing each
        click, add-to-cart and purchase to the answer that showed the item."""
        if self.impressions is not None:
            self.impressions.flush()
        return _feedback_report(self.store, since_ms=since_ms, by=by, windows=windows)

    def predict_clicks(
        self, user_id: str, item_ids: Sequence[str], *, placement: str = "recommend"
    ) -> ClickPrediction:
        """The probability that `user_id` clicks each of `item_ids` if shown now in
        `placement`, from the live click model (as if each were shown in the same place) and its
        online layer, which learns from the answers shoppers act on between two trainings."""
        user_id = _check_id(user_id, "user_id")
        placement = _check_placement(placement)
        if isinstance(item_ids, str) or not isinstance(item_ids, Sequence):
            raise ValidationError("item_ids must be a list of item ids", field="item_ids")
        if not 1 <= len(item_ids) <= MAX_RATED_ITEMS:
            raise ValidationError(
                f"item_ids must hold 1 to {MAX_RATED_ITEMS} item ids, got {len(item_ids)}", field="item_ids"
            )
        items = [_check_id(item_id, "item_ids") for item_id in item_ids]
        state = self._current()
        models = state.models
        if models.clicks is None:
            raise NotTrained(
                f"model version {models.version} has no click model: the store held fewer than 2,000 item events, or "
                "too few of them were a shopper's next step among the candidates, when it was trained",
                hint="ingest more events (or impressions with clicks), then re-train with `cartwise train`",
            )
        history = history_of(self.store.user_events(user_id, limit=HISTORY_LENGTH))
        probabilities = models.clicks.predict(history, items, placement=placement)
        layer = state.online_clicks
        if layer is not None and layer.updates_:
            probabilities = layer.predict(items, probabilities)
        return ClickPrediction(
            user_id=user_id,
            placement=placement,
            model_version=models.version,
            source=models.clicks.report.source,
            online_updates=layer.updates_ if layer is not None else 0,
            items=[{"item_id": i, "probability": round(float(p), 6)} for i, p in zip(items, probabilities, strict=True)],
        )

    # access keys (checked by the HTTP API; the Python API itself is not guarded) -----

    def create_key(self, scope: Scope | str, *, name: str | None = None, rate: Rate | None = None) -> NewKey:
        """A new API key; its secret is in the result and nowhere else. `rate`: its own
        rate limit over HTTP (None: the server's default for its scope)."""
        return self.keys.create(scope, name=name, rate=rate)

    def list_keys(self) -> list[ApiKey]:
        return self.keys.all_keys()

    def revoke_key(self, prefix_or_id: str) -> ApiKey:
        return self.keys.revoke(prefix_or_id)

    def verify_key(self, secret: str) -> ApiKey | None:
        """The active key with this secret, or None; answered from memory."""
        return self.keys.verify(secret)

    def stats(self, *, max_age_s: float = 0.0) -> StoreStats:
        """What the store holds. Counting a large event log takes a while, so callers that
        ask often (the health check) may accept numbers up to `max_age_s` seconds old."""
        cached = self._stats
        if cached is not None and time.monotonic() - cached[0] <= max_age_s:
            return cached[1]
        stats = self.store.stats()
        self._stats = (time.monotonic(), stats)
        return stats

    def warm_up(self) -> None:
        """Load the live models and the text encoder now, so the first request does not pay
        for it (servers call this before accepting traffic). A store not trained yet is fine."""
        try:
            service = self._current().search
        except NotTrained:
            return
        if service.searcher.semantic:
            service.searcher.encoder.encode_queries(["warm up"])  # type: ignore[union-attr]

    def _learn_relations(self, events: pl.DataFrame, state: LiveState | None) -> None:
        self._relations.learn(self.store, events, version=state.models.version if state is not None else None,
                              flagged=self._live.online.flagged)

    def follow(self) -> None:
        """Learn the events other processes store (servers sharing this store) within a
        fraction of a second, in a background thread that `close` stops. Servers call this;
        a process's own writes are learned as they commit either way."""
        self._live.follow()

    def model_info(self) -> dict[str, Any] | None:
        """The live model version's manifest, or None before the first `train`."""
        try:
            models = self._current().models
        except NotTrained:
            return None
        return {"version": models.version, **models.manifest}

    @property
    def versions(self) -> ModelVersions:
        """The store's saved model versions: `list_versions()`, `history()`."""
        return self._versions

    def promote(self, version: str, *, reason: str = "promoted by hand") -> str:
        """Make a kept model version live now (answers switch at once); returns it."""
        promoted = self._versions.promote(version, reason=reason)
        self.refresh()
        return promoted

    def rollback(self, *, reason: str = "rolled back by hand") -> str:
        """Return to the model version that was live before the current one; returns it."""
        version = self._versions.rollback(reason=reason)
        self.refresh()
        return version

    def item_text_vectors(self) -> tuple[list[str], NDArray[np.float32]] | None:
        """The catalog's text embeddings as ``(item ids, matrix)``, including items added
        since training once the background re-index has embedded them; None when the
        store was trained without a text encoder."""
        vectors = self._current().search.searcher.vectors
        return vectors.id_vectors() if vectors is not None else None

    # internals -----------------------------------------------------------------------

    def _answer(
        self,
        state: LiveState,
        placement: str,
        answer: Callable[[Serving], ResponseT],
        *,
        user_id: str | None,
    ) -> ResponseT:
        """`answer` built from the engine's own serving, or from the variant of the
        experiment running in `placement` that `user_id` is assigned to (never in a dry
        run), logged as an impression (with the variant)."""
        base = Serving(state=state, pipelines=self._pipelines, search=self._search)
        route = self.experiments.route(user_id, placement) if on_trial() is None else None
        if route is None:
            response = answer(base)
            return self._shown(state, placement, response, user_id=user_id, query=_query(response))
        request_id = new_request_id()
        response, used, teams = route.serve(base, answer, request_id=request_id)
        return self._shown(used.state, placement, response, user_id=user_id, query=_query(response),
                           request_id=request_id, variant=route.label, teams=teams)

    def _shown(
        self,
        state: LiveState,
        placement: str,
        response: ResponseT,
        *,
        user_id: str | None = None,
        query: str | None = None,
        request_id: str | None = None,
        variant: str | None = None,
        teams: Sequence[str] | None = None,
    ) -> ResponseT:
        """`response` with a request_id (a new one unless given), logged as an impression
        when logging is on; `variant` and `teams`: an experiment's label and, interleaved,
        each item's team."""
        response.request_id = request_id or new_request_id()
        if self.impressions is not None and on_trial() is None:  # a dry run's answers are never shown
            self.impressions.record(
                Impression(
                    request_id=response.request_id,
                    ts=now_ms(),
                    placement=placement,
                    items=tuple(
                        ShownItem(i.item_id, i.stage, i.score, i.lexical_score, i.semantic_score,
                                  teams[n] if teams is not None else None)
                        for n, i in enumerate(response.items)
                    ),
                    user_id=user_id,
                    model_version=state.models.version,
                    query=query,
                    variant=variant,
                )
            )
        return response

    def _recommendation(
        self, serving: Serving, user_id: str, history: list[Interaction], k: int, exclude_seen: bool, started: float
    ) -> RecommendationResponse:
        items, strategy, request = self._recommend_one(serving, history, k=k, exclude_seen=exclude_seen)
        return RecommendationResponse(
            user_id=user_id,
            k=k,
            strategy=strategy,
            items=items,
            took_ms=round((time.perf_counter() - started) * 1000, 3),
            rules=touched(request.notes),
        )

    def _recommend_one(
        self, serving: Serving, history: list[Interaction], *, k: int, exclude_seen: bool
    ) -> tuple[list[ItemResult], str, Request]:
        seen = {event.item_id for event in history} if exclude_seen else set()
        request = Request(state=serving.state, k=k, history=history, exclude_seen=exclude_seen, taken=seen)
        pipeline = serving.pipelines["recommend"]
        chosen = pipeline.answer(request)
        personal = sum(1 for candidate in request.chosen if is_personal(candidate.stage))
        strategy = "personalised" if personal == len(chosen) and personal else "popular" if not personal else "mixed"
        return chosen, strategy, request

    def _suggester(self, state: LiveState) -> Autocomplete:
        """The autocomplete index for the live model, catalog and index versions, built on
        first use and again every :data:`AUTOCOMPLETE_REFRESH_S` seconds to pick up new past
        queries."""
        models, catalog, lexical = state.models, state.catalog, state.lexical
        key = (models.version, catalog.version, state.generation, int(time.monotonic() // AUTOCOMPLETE_REFRESH_S))
        cached = self._autocomplete
        if cached is not None and cached[0] == key:
            return cached[1]
        index = build_autocomplete(
            lexical, catalog, models.popularity, brand_names=state.search.brand_names,
            queries=self.store.popular_queries(limit=5000),
        )
        self._autocomplete = (key, index)
        return index

    def _current(self) -> LiveState:
        """The published live state, after picking up store changes the feed reports."""
        return self._live.current()


def _check_placement(placement: str) -> str:
    if not isinstance(placement, str) or not PLACEMENT_PATTERN.match(placement):
        raise ValidationError(
            f"placement must be 1 to 40 lower-case letters, digits, '_', '.' or '-', got {placement!r}",
            field="placement",
        )
    return placement


def _query(response: object) -> str | None:
    return response.query if isinstance(response, SearchResponse) else None


def _rating_basis(user_known: bool, item_known: bool) -> RatingBasis:
    if user_known and item_known:
        return "user and item"
    if item_known:
        return "item only"
    return "user only" if user_known else "global mean"


__all__ = ["DEFAULT_STORE", "Engine"]
