"""/docs and /redoc load every script and style from this server, none from a CDN."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from cartwise.api import create_app


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_use_only_local_assets(engine, page):
    client = TestClient(create_app(engine))
    html = client.get(page).text
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html) + re.findall(r"""url:\s*'([^']+)'""", html)
    assert any(u.endswith(".js") for u in urls) and "openapi.json" in html
    assert "cdn" not in html.lower() and "fonts.googleapis" not in html
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        response = client.get(url)
        assert response.status_code == 200 and len(response.content) > 100, url
