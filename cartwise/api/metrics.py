"""What a running server counts, in Prometheus' text format at ``GET /metrics``.

One :class:`ServerMetrics` per app holds its own registry (two apps in one process, as in
the tests, never mix their numbers). Requests are counted and timed per route template
(``/v1/items/{item_id}/similar``, never the raw path, so item ids cannot multiply the
series) by :class:`cartwise.api.observe.RequestObserver`; accepted events are counted
by type as the events route acknowledges them; the rest is read when scraped: the
model version answering, the store's, snapshot's and model's versions, the impression
log's queue, and the event-to-snapshot lag (:class:`EventLag`).

Who may scrape: an ``admin`` key by default; ``cartwise serve --metrics-open`` (loopback
only) lets a scraper on the same host in without one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from cartwise.access import Scope
from cartwise.api.auth import KeyFirstRoute, require
from cartwise.bus.publish import EventPublisher
from cartwise.engine import Engine
from cartwise.errors import Forbidden
from cartwise.events.event import EventType
from cartwise.ingest import IngestReport
from cartwise.live.feed import StoreVersion
from cartwise.store.commits import on_commit

_log = logging.getLogger("cartwise")

# Seconds; from a cached health check (~0.1 ms) to a slow cold search.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Seconds from an event's acknowledgement to the published state that includes it: this
# process learns its own writes before the 2xx (milliseconds); a backlog shows seconds.
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0)
EVENT_TYPES = frozenset(t.value for t in EventType)
# Acknowledged event writes kept while waiting for a snapshot to include them; beyond it the
# oldest are counted as lag observations at their age now (a server with no requests at all).
MAX_WAITING = 10_000


class EventLag:
    """Time from acknowledging an event write to publishing a live snapshot that includes it.

    Each events commit in this process is noted with the events version it produced; when
    the engine's published state moves to that version or past it, the wait is observed.
    The state learns the store's events log (:mod:`cartwise.live`) as each commit of this
    process lands, before its acknowledgement, so the lag is what online learning took; a
    shopper's own next recommendation reads their history from the store directly and does
    not wait for it.
    """

    def __init__(self, histogram: Histogram) -> None:
        self.histogram = histogram
        self._waiting: deque[tuple[int, float]] = deque()
        self._lock = threading.Lock()

    def acknowledged(
        self, events_version: int, published: Callable[[], StoreVersion | None], at: float | None = None
    ) -> None:
        """Note a write that made the store's events version `events_version`. `published`
        reads the engine's snapshot version; it is read under this lock, after which a
        publish can only come through :meth:`published`, so none is missed."""
        at = time.monotonic() if at is None else at
        with self._lock:
            seen = published()
            if seen is not None and seen.events >= events_version:
                self.histogram.observe(max(0.0, time.monotonic() - at))
                return
            self._waiting.append((events_version, at))
            while len(self._waiting) > MAX_WAITING:
                _, since = self._waiting.popleft()
                self.histogram.observe(time.monotonic() - since)

    def published(self, version: StoreVersion, at: float | None = None) -> None:
        now = time.monotonic() if at is None else at
        with self._lock:
            while self._waiting and self._waiting[0][0] <= version.events:
                _, since = self._waiting.popleft()
                self.histogram.observe(max(0.0, now - since))

    def summary(self) -> dict[str, float | int | None]:
        """Writes observed so far and the bucket bounds their median and 99th percentile fall
        in (seconds; Prometheus buckets, so an upper bound), plus the oldest still waiting."""
        buckets = [(float(s.labels["le"]), s.value) for s in self.histogram.collect()[0].samples
                   if s.name.endswith("_bucket")]
        count = int(buckets[-1][1]) if buckets else 0

        def quantile(q: float) -> float | None:
            if count == 0:
                return None
            return next(bound for bound, seen in buckets if seen >= q * count)

        return {"writes": count, "p50_s": quantile(0.5), "p99_s": quantile(0.99),
                "oldest_waiting_s": round(self.oldest_waiting_s(), 3)}

    def oldest_waiting_s(self) -> float:
        """Age of the oldest acknowledged write no published snapshot includes yet (0: none)."""
        with self._lock:
            return time.monotonic() - self._waiting[0][1] if self._waiting else 0.0


class ServerMetrics:
    """The metrics of one app (see the module docstring)."""

    def __init__(self, engine: Engine, *, process: bool = True, bus: EventPublisher | None = None) -> None:
        self.engine = engine
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("cartwise_http_requests", "HTTP requests answered, by route template and status",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("cartwise_http_request_duration_seconds",
                                 "time to answer an HTTP request, by route template", ["method", "route"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("cartwise_http_requests_in_flight", "HTTP requests being answered now", registry=r)
        self.events = Counter("cartwise_events_accepted", "events acknowledged by POST /v1/events, by type "
                              "(re-sent duplicates included; see cartwise_events_duplicate_total)", ["event_type"],
                              registry=r)
        self.duplicates = Counter("cartwise_events_duplicate", "acknowledged events already stored (not written again)",
                                  registry=r)
        self.rejected = Counter("cartwise_events_rejected", "events refused by POST /v1/events, by the field at fault",
                                ["field"], registry=r)
        self.clicks = Counter("cartwise_clicks", "click events acknowledged; attributed: they name the request_id of "
                              "the answer clicked", ["attributed"], registry=r)
        self.reported = Counter("cartwise_impressions_reported", "impressions a front end reported (POST "
                                "/v1/impressions)", registry=r)
        self.lag = EventLag(Histogram(
            "cartwise_event_to_snapshot_seconds", "from acknowledging an event write to publishing a live snapshot "
            "that includes it (this process's writes)", buckets=LAG_BUCKETS, registry=r,
        ))
        r.register(_StateCollector(engine, self.lag, bus))
        if process:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)
        self._unsubscribe = on_commit(self._on_commit)
        engine.on_publish(self.lag.published)

    def close(self) -> None:
        self._unsubscribe()

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_events(self, records: Sequence[Mapping[str, Any]], report: IngestReport) -> None:
        """Count the events of one acknowledged batch: by type, the duplicates, the rejects."""
        refused = {int(r.line) for r in report.rejects}
        for index, record in enumerate(records):
            if index in refused:
                continue
            kind = str(record.get("event_type", "")).strip().lower()
            self.events.labels(kind if kind in EVENT_TYPES else "other").inc()
            if kind == EventType.CLICK:
                self.clicks.labels("true" if record.get("request_id") else "false").inc()
        if report.rows_duplicate:
            self.duplicates.inc(report.rows_duplicate)
        for reject in report.rejects:  # only the first 10,000 are kept; a batch holds at most that many
            self.rejected.labels(reject.field or "row").inc()

    def observe_impressions(self, count: int) -> None:
        self.reported.inc(count)

    def scrape(self) -> bytes:
        return generate_latest(self.registry)

    def _on_commit(self, store_id: str, what: str) -> None:
        if what != "events" or store_id != self.engine.store.store_id:
            return
        at = time.monotonic()
        try:
            _, events_version = self.engine.store.versions()
        except Exception:  # noqa: BLE001 - a commit listener must not fail the write that committed
            _log.exception("reading the events version after a commit failed")
            return
        self.lag.acknowledged(events_version, self.engine.published_version, at)


class _StateCollector(Collector):
    """Numbers read when scraped: the model answering, versions, the impression queue."""

    def __init__(self, engine: Engine, lag: EventLag, bus: EventPublisher | None = None) -> None:
        self.engine = engine
        self.lag = lag
        self.bus = bus

    def collect(self) -> Iterable[Metric]:
        engine = self.engine
        state = engine.state
        up = GaugeMetricFamily("cartwise_store_up", "1 when the store answered this scrape")
        events = GaugeMetricFamily("cartwise_events_version", "events version: the store's now, the live snapshot's, "
                                   "and the one the live model was trained on", labels=["view"])
        catalog = GaugeMetricFamily("cartwise_catalog_version", "catalog version: the store's now, the live "
                                    "snapshot's, and the one the search indexes were built from", labels=["view"])
        try:
            catalog_now, events_now = engine.store.versions()
        except Exception:  # noqa: BLE001 - the scrape must still answer, saying the store is down
            up.add_metric([], 0)
        else:
            up.add_metric([], 1)
            events.add_metric(["store"], events_now)
            catalog.add_metric(["store"], catalog_now)
        model = GaugeMetricFamily("cartwise_model_info", "the model version answering (value 1)",
                                  labels=["version", "recommender", "encoder"])
        trained = GaugeMetricFamily("cartwise_model_trained_timestamp_seconds", "when the live model was trained")
        if state is not None:
            manifest = state.models.manifest
            model.add_metric([state.models.version, str(manifest.get("recommender", "itemknn")),
                              str(manifest.get("encoder") or "")], 1)
            if manifest.get("trained_ms"):
                trained.add_metric([], int(manifest["trained_ms"]) / 1000)
            if manifest.get("events_version") is not None:
                events.add_metric(["model"], int(manifest["events_version"]))
            cursor = engine.published_version()
            if cursor is not None:
                events.add_metric(["snapshot"], cursor.events)
            catalog.add_metric(["snapshot"], state.catalog.version)
            catalog.add_metric(["indexed"], state.indexed_version)
        waiting = GaugeMetricFamily("cartwise_event_snapshot_lag_seconds", "age of the oldest event write this "
                                    "process acknowledged that no published snapshot includes yet (0: none)")
        waiting.add_metric([], self.lag.oldest_waiting_s())
        yield from (up, events, catalog, model, trained, waiting)
        if self.bus is not None:
            yield from _bus_metrics(self.bus)
        log = engine.impressions
        if log is not None:
            pending = GaugeMetricFamily("cartwise_impression_log_pending", "impressions of answers given, queued in "
                                        "memory for the store (the impression log's queue depth)")
            pending.add_metric([], log.pending)
            written = CounterMetricFamily("cartwise_impressions_written", "impressions of answers given, written to "
                                          "the store")
            written.add_metric([], log.written)
            dropped = CounterMetricFamily("cartwise_impressions_dropped", "impressions dropped because the queue was "
                                          "full (the store refused writes for too long)")
            dropped.add_metric([], log.dropped)
            yield from (pending, written, dropped)


def _bus_metrics(publisher: EventPublisher) -> Iterable[Metric]:
    """The event bus's queue depth: messages appended and not yet acknowledged by a consumer
    (delivered or not), read from the bus itself, so every node reports the same number."""
    bus_up = GaugeMetricFamily("cartwise_bus_up", "1 when the event bus answered this scrape")
    backlog = GaugeMetricFamily("cartwise_bus_backlog_messages", "event bus queue depth: messages (event "
                                "batches) appended and not yet stored and acknowledged by a consumer")
    try:
        depth = publisher.bus.backlog()
    except Exception as exc:  # noqa: BLE001 - the scrape must still answer, saying the bus is down
        _log.warning("metrics: the event bus does not answer: %s", exc)
        bus_up.add_metric([], 0)
    else:
        bus_up.add_metric([], 1)
        backlog.add_metric([], depth)
    yield from (bus_up, backlog)


def metrics_of(request: Request) -> ServerMetrics | None:
    metrics: ServerMetrics | None = getattr(request.app.state, "metrics", None)
    return metrics


def metrics_router(*, open_access: bool) -> APIRouter:
    """``GET /metrics``: an admin key, or none with `open_access` (see the module docstring)."""
    router = APIRouter(tags=["operations"], route_class=KeyFirstRoute)
    dependencies = [] if open_access else [require(Scope.ADMIN)]

    # A plain `def`: reading the store's versions must not hold up the event loop.
    @router.get("/metrics", dependencies=dependencies, response_class=Response,
                responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}})
    def metrics(request: Request) -> Response:
        """Request rates and latency per route, events by type, impressions and clicks, the
        model version, versions and event-to-snapshot lag, the impression queue (Prometheus text)."""
        found = metrics_of(request)
        assert found is not None, "the metrics route is installed with its ServerMetrics"
        served = getattr(request.state, "engine", None)
        if served is not None and served is not request.app.state.engine:
            # Several stores on one server: the numbers describe the first store (its model,
            # its versions), so they are for its admins only.
            raise Forbidden("/metrics describes this server's first store; this key belongs to another store",
                            hint="scrape with an admin key of the first store named by `cartwise serve --store`")
        return Response(found.scrape(), media_type=CONTENT_TYPE_LATEST)

    return router


def install_metrics(app: FastAPI, engine: Engine, *, open_access: bool) -> ServerMetrics:
    metrics = ServerMetrics(engine, bus=getattr(app.state, "bus", None))
    app.state.metrics = metrics
    app.include_router(metrics_router(open_access=open_access))
    return metrics


__all__ = ["EventLag", "ServerMetrics", "install_metrics", "metrics_of", "metrics_router"]
