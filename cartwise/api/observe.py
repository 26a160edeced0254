"""Every request, timed once: its metrics, its access-log line and its request id.

:class:`RequestObserver` is plain ASGI middleware (no per-request task or body copy, as
Starlette's ``BaseHTTPMiddleware`` would add). It names a request by its route template,
read from the route FastAPI matched (``/v1/items/{item_id}``; ``unmatched`` for a 404),
never by its raw path or query string: a key sent as ``?api_key=...`` or an item id never
reaches a label or a log line. Each response carries an ``X-Request-ID``: the caller's
own, when it sends a short one of safe characters, else a new one, also in the access log.
"""

from __future__ import annotations

import logging
import re
import time

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cartwise.api.metrics import ServerMetrics
from cartwise.feedback.impression import new_request_id

REQUEST_ID_HEADER = "X-Request-ID"
# What a caller's request id may be: it goes into logs, so nothing that could break a line.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
UNMATCHED = "unmatched"

access_log = logging.getLogger("cartwise.access")


_CONVERTER = re.compile(r"\{(\w+):\w+\}")
_templates: dict[str, str] = {}


def route_template(scope: Scope) -> str:
    """The path template of the route that answered, as documented (``{item_id}``, not
    ``{item_id:path}``); ``unmatched`` when no route did."""
    path = getattr(scope.get("route"), "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    template = _templates.get(path)
    if template is None:  # a handful of routes: computed once each
        template = _templates[path] = _CONVERTER.sub(r"{\1}", path)
    return template


class RequestObserver:
    """Times each HTTP request; records it in `metrics` (when given) and the access log."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics | None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        offered = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        request_id = offered if _SAFE_ID.match(offered) else new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        header = (REQUEST_ID_HEADER.lower().encode(), request_id.encode())

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        metrics = self.metrics
        if metrics is not None:
            metrics.in_flight.inc()
        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            method = scope["method"]
            if metrics is not None:
                metrics.in_flight.dec()
                metrics.observe_request(method, route, status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                latency_ms = round(seconds * 1000, 3)
                access_log.info(
                    "%s %s %d %.1fms", method, route, status, latency_ms,
                    extra={"method": method, "route": route, "status": status, "latency_ms": latency_ms,
                           "request_id": request_id},
                )


__all__ = ["REQUEST_ID_HEADER", "RequestObserver", "access_log", "route_template"]
