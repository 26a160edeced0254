"""The demo page at `/`: a minimal storefront proving the search and recommendation path."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def index() -> HTMLResponse:
    page = resources.files("cartwise.web").joinpath("index.html").read_text(encoding="utf-8")
    return HTMLResponse(page)
