"""The FastAPI application: routers per domain over one Engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from cartwise import __version__
from cartwise.access import Rate, RateLimiter
from cartwise.access.buckets import open_buckets
from cartwise.api.auth import KEY_HEADER, AccessPolicy
from cartwise.api.errors import install_error_handlers
from cartwise.api.limits import DEFAULT_MAX_BODY_BYTES, BodyLimit
from cartwise.api.metrics import install_metrics
from cartwise.api.observe import RequestObserver
from cartwise.api.routes import (
    answers,
    assist,
    audit,
    catalog,
    docs,
    events,
    experiments,
    feedback,
    health,
    insights,
    models,
    probes,
    relations,
    rules,
    runs,
    uploads,
    web,
)
from cartwise.api.stores import StoreRouter
from cartwise.bus.publish import EventPublisher
from cartwise.engine import Engine
from cartwise.errors import ValidationError
from cartwise.limits import DEFAULT_MAX_UPLOAD_BYTES


def create_app(
    engine: Engine,
    *,
    anonymous_reads: bool = False,
    cors_origins: Sequence[str] = (),
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    page_key: str | None = None,
    page_events_key: str | None = None,
    metrics: bool = True,
    metrics_open: bool = False,
    more_stores: Sequence[Engine] = (),
    scope_rates: Mapping[str, Rate] | None = None,
    rate_store: str | None = None,
    bus: EventPublisher | None = None,
) -> FastAPI:
    """Build the HTTP API for `engine`; OpenAPI docs are served at /docs.

    Every endpoint but the health check, the demo page and the docs needs an API key
    (see :mod:`cartwise.api.auth`); `anonymous_reads` lets reads through without one.
    Bodies over `max_body_bytes` are refused with 413 before they are read (file uploads
    to ``/v1/ingest/...``: over `max_upload_bytes`; they go to disk, not memory). `page_key`
    is a `search` key handed to the storefront's browser code, `page_events_key` an `events`
    key it reports views, clicks, carts and purchases with (see :mod:`cartwise.api.routes.web`).
    `metrics`: count requests
    and serve them at /metrics (to an admin key, or to anyone with `metrics_open`: the CLI
    allows that on loopback only); see :mod:`cartwise.api.metrics`. `more_stores`: further
    stores served beside `engine`'s, each request by the store its key belongs to
    (:mod:`cartwise.api.stores`). `scope_rates`: the rate limit of keys without their own,
    by scope (:mod:`cartwise.access.rates`); `rate_store`: a ``redis://`` URL to keep the
    buckets in, shared by every process (default: in this process). `bus`: events go to
    this event bus (:mod:`cartwise.bus`) and are answered 202, instead of being stored first.
    """
    if more_stores and anonymous_reads:
        raise ValidationError("anonymous reads cannot be allowed with several stores: a request without a key "
                              "names no store", field="allow_anonymous_reads", hint="give each storefront a search key")
    app = FastAPI(
        title="Cartwise",
        version=__version__,
        description="Search and recommendations for online stores. Errors are JSON bodies with "
        "`error`, `message`, `field` and `hint`. Send an API key as `Authorization: Bearer <key>` or "
        f"`{KEY_HEADER}: <key>` (scopes: `search` reads answers, `events` writes events, `admin` everything).",
        docs_url=None,
        redoc_url=None,
    )
    app.state.engine = engine
    for each in (engine, *more_stores):
        each.insights.refresh_in_background()  # a dashboard request never waits for a full read
    app.state.stores = StoreRouter([engine, *more_stores])
    app.state.rates = RateLimiter(defaults=scope_rates, buckets=open_buckets(rate_store))
    app.state.access = AccessPolicy(anonymous_reads=anonymous_reads)
    app.state.page_key = page_key
    app.state.page_events_key = page_events_key
    app.state.max_body_bytes = max_body_bytes
    app.state.bus = bus
    install_error_handlers(app)
    docs.install_docs(app)
    for module in (health, probes, catalog, events, uploads, feedback, answers, models, audit, assist, relations,
                   rules, experiments, insights, runs, web):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, upload_bytes=max_upload_bytes)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", KEY_HEADER, "Content-Type"],
        )
    # Outermost, so it times and counts everything, refusals by the layers above included.
    app.add_middleware(RequestObserver, metrics=install_metrics(app, engine, open_access=metrics_open) if metrics
                       else None)
    return app
