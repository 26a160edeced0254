"""The demo page at `/`: a minimal storefront proving the search and recommendation path."""

from __future__ import annotations

import html
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> HTMLResponse:
    page = resources.files("cartwise.web").joinpath("index.html").read_text(encoding="utf-8")
    # The page's browser code sends this `search` key with each request; such a key is
    # meant to be public (it only reads answers). Without one, the page asks for a key.
    key: str | None = request.app.state.page_key
    if key:
        page = page.replace("<head>", f'<head>\n<meta name="cartwise-key" content="{html.escape(key)}">', 1)
    return HTMLResponse(page)
