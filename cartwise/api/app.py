"""The FastAPI application: routers per domain over one Engine."""

from __future__ import annotations

from fastapi import FastAPI

from cartwise import __version__
from cartwise.api.errors import install_error_handlers
from cartwise.api.routes import answers, catalog, events, health, web
from cartwise.engine import Engine


def create_app(engine: Engine) -> FastAPI:
    """Build the HTTP API for `engine`; OpenAPI docs are served at /docs."""
    app = FastAPI(
        title="Cartwise",
        version=__version__,
        description="Search and recommendations for online stores. Errors are JSON bodies with "
        "`error`, `message`, `field` and `hint`.",
    )
    app.state.engine = engine
    install_error_handlers(app)
    for module in (health, catalog, events, answers, web):
        app.include_router(module.router)
    return app
