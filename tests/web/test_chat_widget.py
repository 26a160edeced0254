"""The storefront's chat widget in a browser: a shopping request with product cards, a
product question on a product page with its quoted evidence, a follow-up in the same
conversation, a hand-off, "was this helpful?" stored for the dashboard, the keyboard, the
phone width, escaping, and clear errors."""

from __future__ import annotations

import json

import httpx
import pytest

from cartwise.access import Scope
from tests.assistant.test_assistant import DOCUMENTS
from tests.web.conftest import ARTIFACTS, DESKTOP, PHONE

pytestmark = pytest.mark.browser

FAQ = [
    {"faq_id": "returns", "question": "How do I return an item?",
     "answer": "Start a return from your orders page within 30 days.", "language": "en"},
    {"faq_id": "delivery", "question": "How long does delivery take?",
     "answer": "Orders arrive in 2 to 4 working days.", "language": "en"},
]


@pytest.fixture
def store(served):
    """The served store with the assistant's knowledge, added as an operator would (admin API)."""
    admin = {"Authorization": f"Bearer {served.keys[Scope.ADMIN]}"}
    for path, rows in (("/v1/assist/faq", FAQ), ("/v1/assist/documents", DOCUMENTS)):
        response = httpx.post(served.url + path, json={"rows": rows}, headers=admin, timeout=120)
        assert response.status_code == 200 and response.json()["rows_rejected"] == 0, response.text
    return served


def _ready(page) -> None:
    page.wait_for_function("document.body.dataset.ready === 'true'")


def _open_page(page, url: str, hash_: str) -> None:
    page.evaluate("document.body.dataset.ready = ''")
    page.evaluate(f"location.hash = {json.dumps(hash_)}")
    _ready(page)


def _ask(page, message: str):
    """Type a message, send it with Enter, and return the new answer's bubble."""
    before = page.locator("#chat-log .msg.bot[data-answer-id]").count()
    page.fill("#chat-input", message)
    page.press("#chat-input", "Enter")
    page.wait_for_function(f"document.querySelectorAll('#chat-log .msg.bot[data-answer-id]').length > {before}",
                           timeout=60_000)
    return page.locator("#chat-log .msg.bot[data-answer-id]").nth(before)


def shot(page, name: str) -> None:
    """A screenshot of the viewport (the panel floats over it) saved as a test artefact."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def _report(served) -> dict:
    response = httpx.get(served.url + "/v1/assist/report",
                         headers={"Authorization": f"Bearer {served.keys[Scope.ADMIN]}"})
    assert response.status_code == 200, response.text
    return response.json()


def test_chat_shopping_product_question_follow_up_hand_off_and_feedback(store, new_page, page_errors):
    page = new_page(DESKTOP)
    page.goto(store.url + "/")
    _ready(page)
    assert page.is_hidden("#chat") and page.get_attribute("#chat-open", "aria-expanded") == "false"
    page.click("#chat-open")
    assert page.is_visible("#chat") and page.evaluate("document.activeElement.id") == "chat-input"
    assert page.get_attribute("#chat-open", "aria-expanded") == "true"
    conversation = page.get_attribute("#chat-log", "data-conversation")

    # A shopping request: how it was read, and product cards linking to product pages.
    shopping = _ask(page, "red summer dress under 60")
    assert shopping.get_attribute("data-route") == "shopping"
    assert "Shopping request" in shopping.locator(".route").text_content()
    ids = shopping.locator(".chat-cards .card").evaluate_all("cards => cards.map(c => c.dataset.id)")
    assert ids[0] == "dress-red"
    assert shopping.locator(".chat-chips .chip").count() >= 1  # the price read from the words
    shot(page, "desktop-chat-shopping")
    shopping.locator('.chat-cards .card[data-id="dress-red"]').click()
    page.wait_for_selector("#product-title")
    assert page.inner_text("#product-title") == "Red summer dress" and page.is_visible("#chat")

    # A product question on a product page is about that product: evidence quoted with its source.
    _open_page(page, store.url, "#/item/teapot")
    assert "Glass teapot with infuser" in page.inner_text("#chat-about")
    product = _ask(page, "is the infuser dishwasher safe?")
    assert product.get_attribute("data-route") == "product"
    assert "Product question" in product.locator(".route").text_content()
    best = product.locator(".evidence.best")
    assert best.get_attribute("data-doc") == "teapot-qa"
    assert "dishwasher safe" in best.locator("blockquote").inner_text()
    assert best.locator("cite").inner_text() == "shoppers' questions and answers"
    assert best.locator(".source").inner_text() == "qa of item teapot (teapot-qa)"

    # The follow-ups, asked from the home page (no product id sent): the conversation keeps the teapot.
    _open_page(page, store.url, "#/")
    assert page.is_hidden("#chat-about")
    follow_up = _ask(page, "is the infuser stainless steel?")
    assert follow_up.get_attribute("data-route") == "product"
    assert follow_up.locator(".evidence.best").get_attribute("data-doc") == "teapot-qa"

    # Evidence not good enough (under the calibrated threshold): no answer is made up; the
    # question is handed to a person, and the closest evidence stays attached, marked as such.
    handed = _ask(page, "does it come in blue?")
    assert "handed-off" in handed.get_attribute("class") and handed.locator(".handoff").is_visible()
    assert "Handed to a person" in handed.locator(".handoff").inner_text()
    assert handed.locator(".evidence.best").count() == 0
    assert handed.locator(".closest .evidence").first.get_attribute("data-doc") == "teapot-colours"

    # "Was this helpful?": yes on the product answer, no on the hand-off, stored for the dashboard.
    product.locator('[data-helpful="true"]').click()
    page.wait_for_function("el => el.dataset.rated === 'true'", arg=product.element_handle())
    assert product.locator('[data-helpful="true"]').get_attribute("aria-pressed") == "true"
    assert product.locator(".thanks").inner_text() == "Thanks!"
    handed.locator('[data-helpful="false"]').click()
    page.wait_for_function("el => el.dataset.rated === 'false'", arg=handed.element_handle())
    product_answer, handed_answer = product.get_attribute("data-answer-id"), handed.get_attribute("data-answer-id")
    report = _report(store)  # the report writes the server's queued turns first
    rated = {f.answer_id: f.helpful for f in store.engine.store.assistant_feedback()}
    assert rated == {product_answer: True, handed_answer: False}
    asked = store.engine.store.assistant_turns()
    assert {t.conversation_id for t in asked} == {conversation} and len(asked) == 4
    assert [t.item_id for t in asked if t.answer_id == product_answer] == ["teapot"]
    assert report["feedback"] == 2 and report["helpful"] == 1
    assert [(u["message"], u["item_ids"]) for u in report["unanswered"]] == [("does it come in blue?", ["teapot"])]
    assert [u["answer_id"] for u in report["unhelpful"]] == [handed_answer]
    shot(page, "desktop-chat")

    # The keyboard: Esc closes and gives the focus back to the button; Enter on it reopens the
    # same conversation.
    page.press("#chat-input", "Escape")
    assert page.is_hidden("#chat") and page.evaluate("document.activeElement.id") == "chat-open"
    page.keyboard.press("Enter")
    assert page.is_visible("#chat") and page.get_attribute("#chat-log", "data-conversation") == conversation
    assert page.locator("#chat-log .msg.bot[data-answer-id]").count() == 4

    # Whatever the shopper types is shown as text, never run as markup.
    attack = '<img src=x onerror="window.pwned=1"><b>bold</b>'
    _ask(page, attack)
    assert page.locator("#chat-log .msg.me").last.inner_text() == attack
    assert page.locator("#chat-log img, #chat-log .msg b:text('bold')").count() == 0
    assert page.evaluate("window.pwned") is None

    # A new chat is a new conversation.
    page.click("#chat-new")
    assert page.get_attribute("#chat-log", "data-conversation") != conversation
    assert page.locator("#chat-log .msg.bot[data-answer-id]").count() == 0
    assert page_errors == []


def test_chat_fits_a_phone(store, new_page, page_errors):
    page = new_page(PHONE)
    page.goto(store.url + "/#/item/teapot")
    _ready(page)
    page.click("#chat-open")
    answer = _ask(page, "is the infuser dishwasher safe?")
    assert answer.locator(".evidence.best").get_attribute("data-doc") == "teapot-qa"
    box = page.locator("#chat").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] and box["height"] <= PHONE["height"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shopping = _ask(page, "wool hiking socks")
    assert "socks" in shopping.locator(".chat-cards .card").evaluate_all("cards => cards.map(c => c.dataset.id)")
    cards = shopping.locator(".chat-cards .card").first.bounding_box()
    assert cards["x"] + cards["width"] <= PHONE["width"]
    shot(page, "phone-chat")
    # On a phone, a product opened from the chat is shown with the panel closed.
    shopping.locator('.chat-cards .card[data-id="socks"]').click()
    page.wait_for_selector("#product-title")
    assert page.is_hidden("#chat") and page.is_visible("#chat-open")
    assert page_errors == []


def test_chat_says_clearly_what_went_wrong(store, new_page, page_errors):
    page = new_page(DESKTOP)
    page.goto(store.url + "/")
    _ready(page)
    page.click("#chat-open")
    # A 4xx from the server: its own message, with the status.
    page.evaluate("document.getElementById('chat-input').value = 'hello \\u0001 there'")
    page.press("#chat-input", "Enter")
    page.wait_for_selector("#chat-error:not([hidden])")
    error = page.inner_text("#chat-error")
    assert "HTTP 422" in error and "control or binary characters" in error
    # A 5xx: the assistant is not answering; the page says so and keeps working.
    page.route("**/v1/assist", lambda route: route.fulfill(status=503, content_type="application/json",
                                                           body='{"error": "Unavailable", "message": "down"}'))
    page.fill("#chat-input", "how do I return an item?")
    page.press("#chat-input", "Enter")
    page.wait_for_selector("#chat-error:has-text('HTTP 503')")
    assert "not answering right now" in page.inner_text("#chat-error")
    page.unroute("**/v1/assist")
    answer = _ask(page, "how do I return an item?")
    assert page.is_hidden("#chat-error") and answer.get_attribute("data-route") == "store"
    assert "Start a return from your orders page" in answer.locator(".reply").inner_text()
    assert answer.locator(".evidence.best cite").inner_text() == "our FAQ"
    assert answer.locator(".evidence.best .source").inner_text() == "FAQ (returns)"
    # A failed "was this helpful?" is reported beside its buttons.
    page.route("**/v1/assist/feedback", lambda route: route.fulfill(status=500, body="oops"))
    answer.locator('[data-helpful="true"]').click()
    page.wait_for_selector(".thanks.error:has-text('HTTP 500')")
    assert answer.locator('[data-helpful="true"]').get_attribute("aria-pressed") == "false"
    shot(page, "desktop-chat-error")
    # The browser logs each refused call; nothing else went wrong.
    assert all("status of 422" in e or "status of 503" in e or "status of 500" in e for e in page_errors), page_errors
