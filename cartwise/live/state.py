"""What the engine answers from, as one immutable snapshot swapped by reference.

A :class:`LiveState` bundles the live model version, the catalog snapshot, the search
indexes and service, and the text profile built over them. Requests read the published
state once (``state = publisher.state``) and use only it, so they take no lock and never
see half an update; :class:`StatePublisher` builds each new state off to the side and
publishes it with a single assignment (writers serialise among themselves with a lock).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import polars as pl

from cartwise.catalog import CatalogSnapshot
from cartwise.encode import EncoderUnavailable, TextEncoder, item_texts, load_encoder
from cartwise.errors import NotTrained
from cartwise.live.feed import ChangeFeed, StoreVersion
from cartwise.online import (
    ImpressionLearner,
    OnlineClickLayer,
    OnlineDeltas,
    OnlineLayer,
)
from cartwise.recommend.base import follow_catalog
from cartwise.recommend.textknn import TextKNN
from cartwise.search import LexicalIndex
from cartwise.search.currency import ExchangeRates
from cartwise.search.hybrid import HybridSearcher
from cartwise.search.semantic import embed_catalog
from cartwise.search.service import CatalogSearch
from cartwise.store import Store
from cartwise.store.commits import on_events_stored
from cartwise.vectors import VectorIndex
from cartwise.versions import ModelSet, ModelVersions
from cartwise.workspace import Workspace

_log = logging.getLogger("cartwise")


@dataclass(frozen=True, slots=True)
class LiveState:
    """One consistent view of everything an answer reads (see the module docstring)."""

    models: ModelSet
    catalog: CatalogSnapshot
    lexical: LexicalIndex
    """The search index: the trained one, or a background re-index of a newer catalog,
    with the items this catalog lacks hidden."""
    vectors: VectorIndex | None
    search: CatalogSearch
    text_profile: TextKNN | None
    """Items described like a user's recent ones (:class:`TextKNN` over `vectors`)."""
    encoder: TextEncoder | None
    indexed_version: int
    """The catalog version the indexes were built from; behind `catalog.version` until a
    background re-index catches up."""
    generation: int
    """Counts index installs (a new model version or a finished re-index), so caches
    built from the indexes (autocomplete) know when to rebuild."""
    online: OnlineDeltas | None = None
    """What the answers learned from events stored since `models` was trained
    (:mod:`cartwise.online`); replaced with every batch this process stores."""
    online_clicks: OnlineClickLayer | None = None
    """The click model's online layer over `models.clicks` (None without a click model),
    taught in place, under the writers' lock, by the impressions shoppers act on."""


def _installed(
    models: ModelSet,
    catalog: CatalogSnapshot,
    lexical: LexicalIndex,
    vectors: VectorIndex | None,
    *,
    encoder: TextEncoder | None,
    rates: ExchangeRates,
    indexed_version: int,
    generation: int,
    online: OnlineDeltas | None,
    online_clicks: OnlineClickLayer | None,
) -> LiveState:
    """A state answering from `lexical` and `vectors` (new indexes: a new search service)."""
    searcher = HybridSearcher(lexical=lexical, vectors=vectors, encoder=encoder)
    spelled = catalog.brand_spellings()
    brands = [spelled.get(name, name) for name in lexical.filter_columns_.brands]
    search = CatalogSearch.for_catalog(
        searcher, categories=lexical.filter_columns_.categories, brands=brands, currency=catalog.main_currency(),
        rates=rates,
    )
    return LiveState(
        models=models,
        catalog=catalog,
        lexical=lexical,
        vectors=vectors,
        search=search,
        text_profile=TextKNN.over(vectors) if vectors is not None and len(vectors) else None,
        encoder=encoder,
        indexed_version=indexed_version,
        generation=generation,
        online=online,
        online_clicks=online_clicks,
    )


def _with_catalog(state: LiveState, catalog: CatalogSnapshot) -> LiveState:
    """`state` answering over a newer catalog: its indexes stay, items the catalog no
    longer holds are hidden in a copy of the lexical index (the old state is untouched)."""
    gone = [i for i in state.lexical.item_ids_ if i not in catalog]
    lexical = state.lexical
    search = state.search
    if gone:
        lexical = copy.copy(state.lexical)
        lexical.remove(gone)
        searcher = copy.copy(search.searcher)
        searcher.lexical = lexical
        search = copy.copy(search)
        search.searcher = searcher
    return replace(state, catalog=catalog, lexical=lexical, search=search)


# A catalog change of at most this many new or edited items is added to the live indexes
# (LexicalIndex.appended, VectorIndex.upserted) instead of re-indexing the catalog; past it,
# or for indexes that cannot be appended to, the whole catalog is re-indexed.
MAX_INCREMENTAL_ITEMS = 5_000


@dataclass(frozen=True, slots=True)
class Reindex:
    """How the last background index update went: "incremental" or "full", the items
    (re)indexed, and the seconds from reading the catalog to the new indexes."""

    how: str
    items: int
    seconds: float


def _incremental(
    state: LiveState, items: pl.DataFrame, encoder: TextEncoder | None
) -> tuple[LexicalIndex, VectorIndex | None, int] | None:
    """`state`'s indexes with the new and edited `items` added, or None where the whole
    catalog must be re-indexed (too many changes; an index that cannot be appended to; a
    store with semantic search whose vectors are missing)."""
    lexical = state.lexical
    if getattr(lexical, "content_", None) is None or lexical.retriever_ is None:
        return None
    changed = lexical.changed(items)
    if changed.height > MAX_INCREMENTAL_ITEMS:
        return None
    if changed.is_empty():
        return copy.copy(lexical), state.vectors, 0  # a copy: deleted items are hidden in it
    vectors = state.vectors
    if encoder is not None:
        if vectors is None:
            return None
        # Only the new and edited texts are embedded (on arrival; the next `train` caches them).
        texts = item_texts(changed.iter_rows(named=True))
        vectors = vectors.upserted(changed.get_column("item_id").to_list(), encoder.encode_items(texts))
    return lexical.appended(changed), vectors, changed.height


# Following the store's events log (every process learns every stored event online): a
# commit of more events than MAX_FOLLOWED_COMMIT (a bulk file) is left to the next `train`,
# as is a backlog of more than MAX_CATCH_UP_EVENTS events (or MAX_CATCH_UP_COMMITS commits)
# when a server starts; events are read about FOLLOW_CHUNK at a time; a server's follower
# thread looks for new commits every FOLLOW_INTERVAL seconds.
MAX_FOLLOWED_COMMIT = 50_000
MAX_CATCH_UP_EVENTS = 200_000
MAX_CATCH_UP_COMMITS = 20_000
FOLLOW_CHUNK = 2_000
FOLLOW_INTERVAL = 0.2
# Bots flagged by other processes are read again at most this often (seconds).
FLAGGED_REFRESH_S = 1.0


class StatePublisher:
    """Builds and publishes :class:`LiveState` snapshots as the change feed reports store
    changes: a new model version is loaded, a new catalog snapshot taken, and a catalog
    that moved past the indexes is re-indexed in the background (new and edited items
    become searchable without a `train`; the old indexes answer meanwhile)."""

    def __init__(
        self, store: Store, *, versions: ModelVersions, feed: ChangeFeed, workspace: Workspace, rates: ExchangeRates
    ) -> None:
        self.store = store
        self.versions = versions
        self.feed = feed
        self.workspace = workspace
        self.rates = rates
        self.state: LiveState | None = None
        """The published snapshot: read it once per request, never lock it."""
        self._cursor: StoreVersion | None = None
        self._lock = threading.RLock()  # writers only
        self._rebuilding = False
        self._generation = 0
        self.last_reindex: Reindex | None = None
        """How the last background index update went (incremental or full, how long)."""
        self._listeners: list[Callable[[StoreVersion], None]] = []
        self._learners: list[Callable[[pl.DataFrame, LiveState | None], None]] = []
        self._published: StoreVersion | None = None
        # Online learning from the store's events log: a commit of this process reaches the
        # published state's deltas before the write returns (held weakly by the notice
        # registry); other processes' commits when the follower thread (`follow`) or a
        # request that finds the store moved reads the log.
        self.online = OnlineLayer(store)
        self._impressions = ImpressionLearner(store)
        self._followed: int | None = None
        """The events version up to which the log was learned (None before the first rebase)."""
        self._flagged_read_at = float("-inf")
        self._unsubscribe = on_events_stored(self._learn)
        self._stop = threading.Event()
        self._follower: threading.Thread | None = None

    @property
    def published(self) -> StoreVersion | None:
        """The store version the published state was last brought up to (None before the
        first publish)."""
        return self._published

    def on_advance(self, listener: Callable[[StoreVersion], None]) -> None:
        """Call `listener(version)` each time the published state is brought up to a store
        version (from the thread that did it, holding the writers' lock: keep it short)."""
        self._listeners.append(listener)

    def on_events(self, learner: Callable[[pl.DataFrame, LiveState | None], None]) -> None:
        """Call `learner(events, state)` with each run of events read from the store's
        events log (any process's commits; EVENT_SCHEMA columns and `committed`) and the
        published state then, holding the writers' lock (keep it short): what else learns
        online (the relation graph's counts) follows the log through this."""
        self._learners.append(learner)

    def current(self) -> LiveState:
        """The published state, after publishing a newer one if the feed reports a change
        (a request never waits for another thread's refresh: it answers from the state
        published so far)."""
        state = self.state
        if state is None:
            self.refresh()
            state = self.state
            if state is None:
                raise NotTrained("this store has no trained models yet", hint="run `cartwise train`")
            return state
        moved = self.feed.changes_since(self._cursor)
        behind = state.indexed_version != state.catalog.version and not self._rebuilding
        if (moved is not None or behind) and self._lock.acquire(blocking=False):
            try:
                self._advance(moved or self._cursor)
            finally:
                self._lock.release()
        return self.state or state

    def refresh(self) -> bool:
        """Publish a new state now if the store changed; whether one was published."""
        with self._lock:
            before = self.state
            self._advance(self.feed.current())
            return self.state is not before

    def set_rates(self, rates: ExchangeRates) -> None:
        with self._lock:
            self.rates = rates
            state = self.state
            if state is not None:
                search = copy.copy(state.search)
                search.rates = rates
                self.state = replace(state, search=search)

    def _advance(self, seen: StoreVersion | None) -> None:
        """Publish the state for `seen` (caller holds the lock)."""
        if seen is None or seen.models is None:
            return
        self._cursor = seen
        state = self.state
        if state is None or state.models.version != seen.models:
            models = self.versions.load(seen.models)
            encoder = self._encoder(models)
            catalog = CatalogSnapshot(self.store.items(), version=seen.catalog)
            lexical = models.lexical
            lexical.remove([i for i in lexical.item_ids_ if i not in catalog])
            self._generation += 1
            state = _installed(
                models, catalog, lexical, models.vectors, encoder=encoder, rates=self.rates,
                indexed_version=int(models.manifest.get("catalog_version", -1)), generation=self._generation,
                online=self._rebase(models), online_clicks=OnlineClickLayer() if models.clicks is not None else None,
            )
        elif state.catalog.version != seen.catalog:
            state = _with_catalog(state, CatalogSnapshot(self.store.items(), version=seen.catalog))
        if state is not self.state:
            self.state = state
        self._published = seen
        self._tell(seen)
        if self._followed is not None and seen.events > self._followed:
            self._follow()
        # Checked on every refresh, not only when the snapshot changes: a change that
        # lands while a re-index runs must start another one when that one ends.
        if state.indexed_version != state.catalog.version:
            self._reindex(state)

    def _tell(self, seen: StoreVersion) -> None:
        for listener in self._listeners:
            try:
                listener(seen)
            except Exception:  # noqa: BLE001 - an observer must not stop answers from moving on
                _log.exception("a live-state listener failed")

    def _rebase(self, models: ModelSet) -> OnlineDeltas:
        """Online deltas for a newly loaded model version: the events it was not trained on
        (the journal's; a server just started catches up from the events log)."""
        popularity = models.popularity
        trained_at = int(models.manifest.get("events_version", -1))
        deltas = self.online.rebase(
            model_version=models.version, events_version=trained_at,
            anchor_ms=popularity.now_ms_, half_life_days=popularity.half_life_days,
        )
        if self._followed is None or self._followed < trained_at:
            self._followed = trained_at
            backlog = self.store.commits_since(trained_at, limit=MAX_CATCH_UP_COMMITS)
            waiting = sum(n for _, n in backlog)
            if waiting > MAX_CATCH_UP_EVENTS or len(backlog) == MAX_CATCH_UP_COMMITS:
                self._followed = self.store.versions()[1]
                _log.warning("online learning starts from events version %d: the %s events stored since the "
                             "model was trained are left to the next `train`", self._followed, f"{waiting:,}+")
        return deltas

    def _learn(self, store_id: str, flagged: Sequence[str]) -> None:
        """A commit of this process stored events: learn the log up to it (and any other
        process's commits before it), publish the new deltas."""
        if store_id != self.store.store_id:
            return
        with self._lock:
            self._follow(flagged)

    def _follow(self, flagged: Sequence[str] = ()) -> None:
        """Learn the events log past `_followed` and publish the deltas (caller holds the
        writers' lock). Bulk commits (over MAX_FOLLOWED_COMMIT events) are skipped."""
        moved = False
        if flagged:
            self.online.flag(flagged)
        elif time.monotonic() - self._flagged_read_at >= FLAGGED_REFRESH_S:
            self._flagged_read_at = time.monotonic()
            self.online.flag(self.store.flagged_users()["user_id"].to_list())
        while self._followed is not None:
            commits = self.store.commits_since(self._followed, limit=1000)
            if not commits:
                break
            start, through, size = self._followed, None, 0
            for version, events in commits:
                if events > MAX_FOLLOWED_COMMIT or (through is not None and size + events > FOLLOW_CHUNK):
                    break
                through, size = version, size + events
            if through is None:  # a bulk commit first: the next `train` learns it
                self._followed = commits[0][0]
                continue
            events = self.store.events_since(start, through=through)
            deltas = self.online.learn(events)
            self._followed = through
            moved = True
            state = self.state
            if deltas is not None and state is not None and state.models.version == deltas.model_version:
                self.state = replace(state, online=deltas)
            if state is not None and state.online_clicks is not None and state.models.clicks is not None:
                try:
                    self._impressions.learn(events, layer=state.online_clicks, model=state.models.clicks)
                except Exception:  # noqa: BLE001 - the counters above stand; the click layer waits for the next
                    _log.exception("the online click layer could not learn these events")
            for learner in self._learners:
                try:
                    learner(events, self.state)
                except Exception:  # noqa: BLE001 - one learner's failure must not stop the others or the log
                    _log.exception("an events-log learner failed")
        published = self._published
        if moved and published is not None and self._followed is not None and self._followed > published.events:
            self._published = replace(published, events=self._followed)
            self._tell(self._published)

    def follow(self, *, interval: float = FOLLOW_INTERVAL) -> None:
        """Start a background thread that learns the commits of other processes (servers
        sharing this store) within `interval` seconds of their acknowledgement; `close`
        stops it. Servers call this; a one-off command does not need it."""
        if self._follower is not None:
            return

        def run() -> None:
            while not self._stop.wait(interval):
                try:
                    if self._followed is not None and self.store.versions()[1] > self._followed:
                        with self._lock:
                            self._follow()
                except Exception:  # noqa: BLE001 - a background thread: log it, try again next time
                    _log.exception("following the events log failed; retrying")

        self._follower = threading.Thread(target=run, name="cartwise-follow", daemon=True)
        self._follower.start()

    def close(self) -> None:
        self._stop.set()
        self._unsubscribe()

    @staticmethod
    def _encoder(models: ModelSet) -> TextEncoder | None:
        name = models.manifest.get("encoder")
        if not name or models.vectors is None:
            return None
        try:
            return load_encoder(name)
        except EncoderUnavailable as exc:
            # Keep answering: every search mode falls back to lexical and says so.
            _log.warning("semantic search is off: %s (%s)", exc, exc.hint)
            return None

    def _reindex(self, state: LiveState) -> None:
        """Re-index the catalog in a background thread and publish the new indexes, unless
        a new model version (with newer indexes of its own) arrived meanwhile."""
        if self._rebuilding:
            return
        self._rebuilding = True
        encoder = state.encoder
        model_version = state.models.version
        catalog_version = state.catalog.version

        def work() -> None:
            try:
                began = time.perf_counter()
                items = self.store.items()
                found = _incremental(state, items, encoder)
                if found is not None:
                    index, vectors, changed = found
                    how = "incremental"
                else:
                    changed = items.height
                    how = "full"
                    index = LexicalIndex().fit(items)
                    vectors = None
                    if encoder is not None:
                        vectors, _ = embed_catalog(
                            items, encoder=encoder, directory=self.workspace.embeddings_dir(encoder.name)
                        )
                self.last_reindex = Reindex(how=how, items=changed, seconds=time.perf_counter() - began)
                with self._lock:
                    current = self.state
                    if current is None or current.models.version != model_version or current.encoder is not encoder:
                        return  # a new model version arrived meanwhile: its indexes are newer
                    # Items deleted while this ran are hidden at once, as deletes always are.
                    index.remove([i for i in index.item_ids_.tolist() if i not in current.catalog])
                    if vectors is not None:
                        follow_catalog(current.models.recommender, vectors)
                    self._generation += 1
                    self.state = _installed(
                        current.models, current.catalog, index, vectors, encoder=encoder, rates=self.rates,
                        indexed_version=catalog_version, generation=self._generation, online=current.online,
                        online_clicks=current.online_clicks,
                    )
            except Exception:  # noqa: BLE001 - a background thread: log it, keep serving the old indexes
                _log.exception("background re-index failed; the previous indexes keep answering")
            finally:
                self._rebuilding = False

        threading.Thread(target=work, name="cartwise-reindex", daemon=True).start()


__all__ = ["MAX_INCREMENTAL_ITEMS", "LiveState", "Reindex", "StatePublisher"]
