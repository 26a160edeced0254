"""The HTTP API (FastAPI)."""

from cartwise.api.app import create_app

__all__ = ["create_app"]
