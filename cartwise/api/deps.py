"""How route handlers get the engine: one per app, stored on `app.state`.

Async so that FastAPI does not send this trivial lookup to a worker thread.
"""

from __future__ import annotations

from fastapi import Request

from cartwise.engine import Engine


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine
