"""A limit on request bodies, so one request cannot take the server's memory.

A body announced larger than the limit (`Content-Length`) is refused with 413 before a
byte of it is read; a chunked body is counted as it arrives and refused once it passes
the limit. Either way the server holds at most the limit in memory before parsing.

File uploads (``POST /v1/ingest/...``, :mod:`cartwise.api.routes.uploads`) have their own,
larger limit: they go to disk as they arrive and are never held in memory whole.
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cartwise.limits import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_UPLOAD_BYTES, MAX_BATCH

UPLOAD_PREFIX = "/v1/ingest/"
"""Paths of the file uploads, which have the upload limit."""


class BodyTooLarge(HTTPException):
    """Raised while reading a chunked body that outgrew the limit; answered 413."""

    def __init__(self, limit: int, *, upload: bool = False) -> None:
        super().__init__(status_code=413, detail=f"the request body is larger than the limit of {limit:,} bytes")
        self.limit = limit
        self.upload = upload


def too_large_body(limit: int, *, upload: bool = False) -> dict[str, str]:
    return {
        "error": "PayloadTooLarge",
        "message": f"the request body is larger than the limit of {limit:,} bytes",
        "field": "body",
        "hint": "split the file, or raise `cartwise serve --max-upload-bytes`" if upload else
        f"send smaller batches (at most {MAX_BATCH:,} rows each), upload a file to POST /v1/ingest/events or "
        "/v1/ingest/items, or raise `cartwise serve --max-body-bytes`",
    }


class BodyLimit:
    """ASGI middleware refusing request bodies over `max_bytes` (file uploads: over
    `upload_bytes`) with a JSON 413."""

    def __init__(self, app: ASGIApp, max_bytes: int, upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = scope["path"].startswith(UPLOAD_PREFIX)
        limit = self.upload_bytes if upload else self.max_bytes
        announced = (Headers(scope=scope).get("content-length") or "").strip()
        # ASCII digits only: str.isdigit also accepts `²` and other digits int() refuses.
        if announced.isascii() and announced.isdigit() and int(announced) > limit:
            await self._refuse(send, limit, upload=upload)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit, upload=upload)
            return message

        await self.app(scope, counted, send)

    async def _refuse(self, send: Send, limit: int, *, upload: bool) -> None:
        body = json.dumps(too_large_body(limit, upload=upload)).encode()
        await send({
            "type": "http.response.start",
            "status": 413,
            # The rest of the body is not read: tell the client this connection is done.
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close")],
        })
        await send({"type": "http.response.body", "body": body})


# DEFAULT_MAX_BODY_BYTES is defined in cartwise.limits and re-exported here for the server.
__all__ = ["DEFAULT_MAX_BODY_BYTES", "UPLOAD_PREFIX", "BodyLimit", "BodyTooLarge", "too_large_body"]
