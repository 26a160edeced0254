"""Maps Cartwise's errors and request-validation failures to 4xx JSON bodies."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cartwise.errors import CartwiseError, StoreError


def _field(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


async def _cartwise_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CartwiseError)
    status = 503 if isinstance(exc, StoreError) else exc.http_status
    return JSONResponse(status_code=status, content=exc.to_dict())


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


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(
        status_code=exc.status_code,
        content={"error": "HTTPError", "message": str(exc.detail), "field": None, "hint": None},
        headers=getattr(exc, "headers", None),
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CartwiseError, _cartwise_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
