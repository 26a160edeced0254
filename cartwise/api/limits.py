"""A limit on request bodies, so one request cannot take the server's memory.

A body announced larger than the limit (`Content-Length`) is refused with 413 before a
byte of it is read; a chunked body is counted as it arrives and refused once it passes
the limit. Either way the server holds at most the limit in memory before parsing.
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cartwise.limits import DEFAULT_MAX_BODY_BYTES, MAX_BATCH


class BodyTooLarge(HTTPException):
    """Raised while reading a chunked body that outgrew the limit; answered 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"the request body is larger than the limit of {limit:,} bytes")


def too_large_body(limit: int) -> dict[str, str]:
    return {
        "error": "PayloadTooLarge",
        "message": f"the request body is larger than the limit of {limit:,} bytes",
        "field": "body",
        "hint": f"send smaller batches (at most {MAX_BATCH:,} rows each), or raise `cartwise serve --max-body-bytes`",
    }


class BodyLimit:
    """ASGI middleware refusing request bodies over `max_bytes` with a JSON 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        announced = (Headers(scope=scope).get("content-length") or "").strip()
        # ASCII digits only: str.isdigit also accepts `²` and other digits int() refuses.
        if announced.isascii() and announced.isdigit() and int(announced) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counted, send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(too_large_body(self.max_bytes)).encode()
        await send({
            "type": "http.response.start",
            "status": 413,
            # The rest of the body is not read: tell the client this connection is done.
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close")],
        })
        await send({"type": "http.response.body", "body": body})


# DEFAULT_MAX_BODY_BYTES is defined in cartwise.limits and re-exported here for the server.
__all__ = ["DEFAULT_MAX_BODY_BYTES", "BodyLimit", "BodyTooLarge", "too_large_body"]
