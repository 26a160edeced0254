"""How route handlers get the engine: one per app, stored on `app.state`."""

from __future__ import annotations

from fastapi import Request

from cartwise.engine import Engine


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine
