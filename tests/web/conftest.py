"""Browser tests: the storefront and the dashboard in headless Chromium (Playwright) against
a real server on a free port, serving a copy of the planted store.

They are marked `browser` and skip, saying why, where Playwright or Chromium is missing.
Screenshots of every page land in tests/web/artifacts/ (ignored by git).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cartwise import Engine
from cartwise.access import Scope

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = os.environ.get("CARTWISE_CHROMIUM", "/usr/bin/chromium")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


@dataclass
class Served:
    url: str
    engine: Engine
    keys: dict[Scope, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(trained_store: Path, tmp_path: Path) -> Iterator[Served]:
    """`cartwise serve` as the demo runs it (a search and an events key in the storefront),
    on a copy of the planted store, in a thread of this process."""
    import uvicorn

    from cartwise.api import create_app

    path = tmp_path / "store"
    shutil.copytree(trained_store, path)
    engine = Engine.open(path, create=False)
    engine.refresh()
    keys = {scope: engine.create_key(scope, name=f"web {scope.value}").secret for scope in Scope}
    app = create_app(engine, page_key=keys[Scope.SEARCH], page_events_key=keys[Scope.EVENTS])
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield Served(url=f"http://127.0.0.1:{port}", engine=engine, keys=keys)
    server.should_exit = True
    thread.join(timeout=10)
    engine.close()


@pytest.fixture(scope="module")
def chromium():
    """Headless Chromium driven by Playwright; skips the test where either is missing.

    Per module, not per session: Playwright's sync API keeps an asyncio loop running in
    this thread while it is started, which would break later tests that start their own
    (anyio.run)."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install 'cartwise[test]' (playwright==1.65.2)")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (set CARTWISE_CHROMIUM to its path)")
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
    except PlaywrightError as error:  # a Chromium that cannot start here (sandbox, libraries)
        playwright.stop()
        pytest.skip(f"Chromium at {CHROMIUM} does not start: {error}")
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def page_errors():
    """Errors the pages' scripts raised or logged; each test asserts there were none."""
    return []


@pytest.fixture
def new_page(chromium, page_errors):
    """A new page (its own browser context: storage starts empty) at a viewport size."""
    contexts = []

    def make(viewport: dict[str, int] = DESKTOP):
        context = chromium.new_context(viewport=viewport)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: page_errors.append(f"pageerror: {error}"))
        page.on("console", lambda m: page_errors.append(f"console: {m.text} ({m.location.get('url')})")
                if m.type == "error" else None)
        return page

    yield make
    for context in contexts:
        context.close()


def unexpected(errors: list[str]) -> list[str]:
    """The errors but the dashboard's probe of /v1/experiments, absent (404) on a server
    without the experiments API: that is how the page learns to hide the tab."""
    return [e for e in errors if not ("404" in e and "/v1/experiments" in e)]


def shot(page, name: str) -> Path:
    """A full-page screenshot saved as a test artefact."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
