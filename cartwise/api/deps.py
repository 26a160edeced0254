"""How route handlers get the engine: the store the request's key belongs to (set by
:func:`cartwise.api.auth.authorize`), else the app's default store on `app.state`.

Async so that FastAPI does not send this trivial lookup to a worker thread.
"""

from __future__ import annotations

from fastapi import Request

from cartwise.engine import Engine


async def get_engine(request: Request) -> Engine:
    engine: Engine = getattr(request.state, "engine", None) or request.app.state.engine
    return engine
