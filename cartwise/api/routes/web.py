"""The two web applications served with the API, with no build step and nothing fetched from
another site: the storefront at `/` and the operations dashboard at `/admin`.

Their scripts, styles and the small SVG plotting library are files of the `cartwise.web`
package, served at `/assets/<name>`. The storefront's browser code holds a `search` key (to
read answers) and an `events` key (to report views, clicks, add-to-carts and purchases),
both meant to be public; the server puts them in the page as meta tags. The dashboard page
holds no key: the operator types an admin key, which the browser keeps for the session, and
every report it shows is an admin API call refused without one.
"""

from __future__ import annotations

import html
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from cartwise.errors import NotFound

router = APIRouter(include_in_schema=False)

ASSET_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
               ".svg": "image/svg+xml"}
# The assets, by name: only these files are served (never a path the request makes up).
ASSETS = {
    entry.name: entry
    for entry in resources.files("cartwise.web").iterdir()
    if any(entry.name.endswith(ext) for ext in ASSET_TYPES)
}
CACHE = "no-cache"  # revalidate each load: a new version of Cartwise shows at once


def _page(name: str, metas: dict[str, str | None]) -> HTMLResponse:
    page = resources.files("cartwise.web").joinpath(name).read_text(encoding="utf-8")
    tags = "".join(f'\n<meta name="{n}" content="{html.escape(v)}">' for n, v in metas.items() if v)
    return HTMLResponse(page.replace("<head>", "<head>" + tags, 1), headers={"Cache-Control": CACHE})


@router.get("/", response_class=HTMLResponse)
def storefront(request: Request) -> HTMLResponse:
    """Without a search key in the page, the storefront asks for one."""
    return _page("shop.html", {"cartwise-key": request.app.state.page_key,
                               "cartwise-events-key": request.app.state.page_events_key})


@router.get("/admin", response_class=HTMLResponse)
def dashboard() -> HTMLResponse:
    return _page("admin.html", {})


@router.get("/assets/{name}")
def asset(name: str) -> Response:
    entry = ASSETS.get(name)
    if entry is None:
        raise NotFound(f"no asset named {name!r}", field="name")
    kind = ASSET_TYPES[name[name.rfind("."):]]
    return Response(entry.read_bytes(), media_type=kind, headers={"Cache-Control": CACHE})
