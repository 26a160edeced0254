"""The storefront in a browser: search with autocomplete, a product page, the cart, and the
"for you" feed following what the shopper does."""

from __future__ import annotations

import time

import polars as pl
import pytest

from tests.web.conftest import DESKTOP, shot

pytestmark = pytest.mark.browser


def _ready(page) -> None:
    page.wait_for_function("document.body.dataset.ready === 'true'")


def _feed(page) -> list[str]:
    return page.eval_on_selector_all("#feed .card", "cards => cards.map(c => c.dataset.id)")


def _go(page, url: str) -> None:
    page.evaluate("document.body.dataset.ready = ''")
    page.goto(url)
    _ready(page)


def test_search_open_a_product_add_to_cart_and_the_feed_follows(served, new_page, page_errors):
    page = new_page(DESKTOP)
    page.goto(served.url + "/")
    _ready(page)
    page.wait_for_selector("#feed .card")
    before = _feed(page)
    assert before and page.inner_text("#who") == "a new visitor"
    visitor = page.get_attribute("#who", "data-user")
    assert visitor.startswith("visitor-")
    shot(page, "desktop-home")

    page.fill("#q", "tea")
    page.wait_for_selector("#suggestions li")  # autocomplete
    assert any("teapot" in s.lower() for s in page.eval_on_selector_all("#suggestions li", "l => l.map(x => x.textContent)"))
    page.press("#q", "Escape")
    page.press("#q", "Enter")
    page.wait_for_selector("#results .card")
    results = page.eval_on_selector_all("#results .card", "cards => cards.map(c => c.dataset.id)")
    assert {"teapot", "tea-cosy"} <= set(results[:3])
    assert page.locator(".chip").count() >= 1  # the query read as the Tea category
    shot(page, "desktop-search")

    page.click('#results .card[data-id="teapot"]')
    page.wait_for_selector("#product-title")
    assert page.inner_text("#product-title") == "Glass teapot with infuser"
    page.wait_for_selector("#bundle .card")
    assert "tea-cosy" in page.eval_on_selector_all("#bundle .card", "c => c.map(x => x.dataset.id)")
    assert "bought together by" in page.inner_text("#bundle")
    page.wait_for_selector("#similar .card")
    page.click("#add")
    page.wait_for_selector("#toast:not([hidden])")
    assert "Added" in page.inner_text("#toast") and "not recorded" not in page.inner_text("#toast")
    assert page.inner_text("#cart-count") == "1"
    shot(page, "desktop-product")

    # The click, the view and the add-to-cart reached the store, credited to the search answer.
    events = served.engine.store.events(exclude_flagged=False).filter(pl.col("user_id") == visitor)
    kinds = dict(zip(events["event_type"], events["request_id"], strict=True))
    assert {"click", "view", "add_to_cart"} <= set(kinds)
    searched = served.engine.store.impressions().filter(pl.col("placement") == "search")
    assert kinds["add_to_cart"] in set(searched["request_id"])

    # The feed follows: a teapot in the cart brings its tea cosy to the top.
    deadline = time.monotonic() + 15
    while True:
        _go(page, served.url + "/#/")
        page.wait_for_selector("#feed .card")
        after = _feed(page)
        if after != before or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert after != before and after[0] == "tea-cosy" and "teapot" not in after
    assert "cart" in page.inner_text("#feed .card >> nth=0").lower()
    shot(page, "desktop-home-after-cart")

    page.click("#cart-link")
    page.wait_for_selector("#checkout")
    shot(page, "desktop-cart")
    page.click("#checkout")
    page.wait_for_selector("text=Your cart is empty")
    bought = served.engine.store.events(exclude_flagged=False).filter(
        (pl.col("user_id") == visitor) & (pl.col("event_type") == "purchase"))
    assert bought["item_id"].to_list() == ["teapot"] and bought["request_id"][0] == kinds["add_to_cart"]
    assert page_errors == []
