"""Maps Cartwise's errors and request-validation failures to 4xx JSON bodies."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cartwise.access.rates import RateLimited
from cartwise.api.limits import BodyTooLarge, too_large_body
from cartwise.errors import BusUnavailable, CartwiseError, StoreError, StoreFull, Unauthorized

# Seconds a client is told to wait before retrying when the store does not answer (as /v1/ready).
STORE_RETRY_AFTER_S = 5


def _field(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


async def _cartwise_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CartwiseError)
    status = 503 if isinstance(exc, StoreError) and not isinstance(exc, StoreFull) else exc.http_status
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    if isinstance(exc, RateLimited):  # whole seconds, at least 1 (RFC 9110)
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    elif isinstance(exc, BusUnavailable):  # nothing was acknowledged: the client may send it again
        headers = {"Retry-After": "1"}
    elif isinstance(exc, StoreError) and not isinstance(exc, StoreFull):  # down: nothing was stored
        headers = {"Retry-After": str(STORE_RETRY_AFTER_S)}
    return JSONResponse(status_code=status, content=exc.to_dict(), headers=headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    detail = [
        {"field": _field(e.get("loc", ())), "problem": e.get("msg", "invalid"), "type": e.get("type")}
        for e in errors[:50]
    ]
    first = detail[0] if detail else {"field": "body", "problem": "invalid request"}
    message = f"{first['field']}: {first['problem']}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problems)"
    return JSONResponse(
        status_code=422,
        content={"error": "ValidationError", "message": message, "field": first["field"], "hint": None,
                 "detail": detail},
    )


def _unreadable_body(exc: StarletteHTTPException) -> str | None:
    """Why FastAPI could not parse a body it answers 400 for (it keeps the cause), or None."""
    cause = exc.__cause__
    if exc.status_code != 400 or cause is None:
        return None
    if isinstance(cause, UnicodeDecodeError):
        return f"the body is not UTF-8 text (byte {cause.start} is invalid)"
    if isinstance(cause, RecursionError):
        return "the body's JSON is nested too deeply"
    return f"the body could not be read as JSON ({type(cause).__name__})"


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    problem = _unreadable_body(exc)
    if problem is not None:  # documented as 422, like every other bad input
        return JSONResponse(
            status_code=422,
            content={"error": "ValidationError", "message": problem, "field": "body",
                     "hint": "send a UTF-8 JSON body of the documented shape"},
        )
    if isinstance(exc, BodyTooLarge):
        return JSONResponse(status_code=413, content=too_large_body(exc.limit, upload=exc.upload))
    return JSONResponse(
        status_code=exc.status_code,
        content={"error": "HTTPError", "message": str(exc.detail), "field": None, "hint": None},
        headers=getattr(exc, "headers", None),
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CartwiseError, _cartwise_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
