"""The dashboard in a browser: refused without an admin key; its reports; a rule edited,
previewed and saved there changes what the storefront shows."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from cartwise.access import Scope
from cartwise.search.request import SearchRequest
from tests.web.conftest import DESKTOP, PHONE, shot, unexpected

pytestmark = pytest.mark.browser

SECTIONS = ["business", "inventory", "operations", "models", "rules", "experiments", "assistant"]


def _sign_in(page, url: str, key: str) -> None:
    page.goto(url + "/admin")
    page.wait_for_function("document.body.dataset.ready === 'key'")
    page.fill("#admin-key", key)
    page.click("#key-form button")


def _open(page, section: str) -> None:
    page.evaluate("document.body.dataset.ready = ''")
    page.evaluate(f"location.hash = '#{section}'")
    page.wait_for_function(f"document.body.dataset.ready === '{section}'")


def test_dashboard_refuses_without_an_admin_key(served, new_page, page_errors):
    page = new_page(DESKTOP)
    page.goto(served.url + "/admin")
    page.wait_for_function("document.body.dataset.ready === 'key'")
    assert page.is_visible("#key-form") and not page.is_visible("#tabs")
    assert served.keys[Scope.ADMIN] not in page.content()
    shot(page, "desktop-admin-key")
    _sign_in(page, served.url, "cw_not_a_key")
    page.wait_for_selector("#key-error:has-text('unknown or revoked')")
    _sign_in(page, served.url, served.keys[Scope.SEARCH])  # the storefront's key is not enough
    page.wait_for_selector("#key-error:has-text('needs scope')")
    assert not page.is_visible("#tabs") and page.inner_text("#view") == ""
    # The pages' failed API calls (401, 403) are the only errors the browser logged.
    assert all("401" in e or "403" in e for e in unexpected(page_errors)), page_errors


def test_every_dashboard_section_renders_its_reports(served, new_page, page_errors):
    # Some behaviour to report on: a search with a click, one without results.
    engine = served.engine
    answer = engine.search("tea")
    engine.search(request=SearchRequest("qqqzzz nothing like it", mode="lexical", fallback=False))
    now = int(time.time() * 1000)
    engine.add_events([
        {"user_id": "d-1", "item_id": "teapot", "event_type": "click", "timestamp": now, "request_id": answer.request_id},
        {"user_id": "d-1", "item_id": "boots", "event_type": "view", "timestamp": now},
    ])
    page = new_page(DESKTOP)
    _sign_in(page, served.url, served.keys[Scope.ADMIN])
    page.wait_for_function("document.body.dataset.ready === 'business'")
    assert page.is_visible("#tabs") and page.is_visible("#experiments-tab")
    assert "qqqzzz nothing like it" in page.inner_text("#zero-queries")
    assert "tea" in page.inner_text("#top-queries")
    assert page.locator("#per-version svg, #per-version table").count() >= 1
    assert page.locator("#version-days svg polyline, #version-days svg circle").count() >= 1
    shot(page, "desktop-admin-business")
    _open(page, "inventory")
    assert page.locator("#price-bands svg rect").count() > 0
    assert "Waterproof hiking boots" in page.inner_text("#stock-outs")
    shot(page, "desktop-admin-inventory")
    request = urllib.request.Request(f"{served.url}/v1/items/tea-cosy", method="DELETE",
                                     headers={"Authorization": f"Bearer {served.keys[Scope.ADMIN]}"})
    assert urllib.request.urlopen(request).status == 204
    _open(page, "operations")
    assert page.locator("#events-chart svg polyline, #events-chart svg circle").count() > 0
    changes = page.inner_text("#catalog-changes")
    assert "deleted" in changes and "tea-cosy" in changes and "items written" in changes
    assert "No alert" in page.inner_text("#alerts") or page.locator(".alert").count() > 0
    shot(page, "desktop-admin-operations")
    _open(page, "models")
    assert page.locator("#model-versions .badge.live").count() == 1
    assert "no click model" in page.inner_text("#reliability")  # the planted store is too small for one
    shot(page, "desktop-admin-models")
    _open(page, "rules")
    shot(page, "desktop-admin-rules")
    assert unexpected(page_errors) == []


def test_a_rule_edited_in_the_dashboard_changes_the_storefront(served, new_page, page_errors):
    shop = new_page(DESKTOP)
    shop.goto(served.url + "/#/search?q=tea")
    shop.wait_for_selector("#results .card")
    assert "teapot" in shop.eval_on_selector_all("#results .card", "c => c.map(x => x.dataset.id)")

    page = new_page(DESKTOP)
    _sign_in(page, served.url, served.keys[Scope.ADMIN])
    page.wait_for_function("document.body.dataset.ready === 'business'")
    _open(page, "rules")
    # An invalid rule is refused with the reason, before anything is saved.
    page.fill("#rule-text", '{"id": "hide-teapot", "kind": "vanish", "items": ["teapot"]}')
    page.click("#preview")
    page.wait_for_selector("#rule-msg .error")
    assert "vanish" in page.inner_text("#rule-msg")
    page.fill("#rule-text", '{"id": "hide-teapot", "kind": "hide", "items": ["teapot"]}')
    page.fill("#preview-query", "tea")
    page.click("#preview")
    page.wait_for_selector(".diff li.removed")
    assert "Glass teapot with infuser" in page.inner_text(".diff li.removed")
    assert served.engine.rules.current().version == 0  # a preview saves nothing
    shot(page, "desktop-admin-rule-preview")
    page.click("#save")
    page.wait_for_selector("#rule-msg .ok:has-text('saved as version')")
    assert "hide-teapot" in page.inner_text("#rule-list")

    deadline = time.monotonic() + 10
    while True:
        shop.reload()
        shop.wait_for_selector("#results .card")
        shown = shop.eval_on_selector_all("#results .card", "c => c.map(x => x.dataset.id)")
        if "teapot" not in shown or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert "teapot" not in shown and "tea-cosy" in shown
    # The invalid rule's 422 is the one failed call.
    assert [e for e in unexpected(page_errors) if "422" not in e or "/v1/rules/dry-run" not in e] == []


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_pages_fit_phone_and_desktop(served, new_page, page_errors, viewport):
    name = "phone" if viewport is PHONE else "desktop"
    page = new_page(viewport)
    for path in ["/", "/#/search?q=tea", "/#/item/teapot", "/#/cart"]:
        page.goto(served.url + path)
        page.wait_for_function("document.body.dataset.ready === 'true'")
        page.wait_for_selector("#view .card, #view p")
        label = path.strip("/#").replace("/", "-").replace("?q=", "-") or "home"
        shot(page, f"{name}-shop-{label}")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} is wider than the {name} screen by {overflow}px"
    _sign_in(page, served.url, served.keys[Scope.ADMIN])
    page.wait_for_function("document.body.dataset.ready === 'business'")
    for section in SECTIONS:
        _open(page, section)
        shot(page, f"{name}-admin-{section}")
    assert unexpected(page_errors) == []


def test_an_experiment_started_in_the_dashboard_reads_out_its_arms_and_stops(served, new_page, page_errors):
    page = new_page(DESKTOP)
    _sign_in(page, served.url, served.keys[Scope.ADMIN])
    page.wait_for_function("document.body.dataset.ready === 'business'")
    _open(page, "experiments")
    assert "No experiment yet" in page.inner_text("#view")
    # Invalid variants are refused in words, and nothing is created.
    page.fill("#exp-variants", "[{")
    page.click("#exp-create")
    page.wait_for_selector("#exp-msg .error:has-text('not valid JSON')")
    page.fill("#exp-variants", '[{"name": "control"}]')
    page.click("#exp-create")
    page.wait_for_selector("#exp-msg .error")
    assert served.engine.store.experiments() == []
    # The example in the form: plain ranking against the fused one, on search.
    page.fill("#exp-variants", '[{"name": "control"}, {"name": "plain", "config": '
              '{"kind": "ranking", "answers": {"search": {"rank": "identity"}}}}]')
    page.fill("#exp-name", "plain vs fused")
    page.click("#exp-create")
    page.wait_for_selector("#experiment-panel #exp-verdict")
    [experiment] = served.engine.experiments.all()
    assert experiment.name == "plain vs fused" and list(experiment.placements) == ["search"]

    # Shoppers search as themselves; each is served and counted in their arm.
    for n in range(30):
        served.engine.search("tea", user_id=f"shopper-{n}")
    served.engine.impressions.flush()
    page.click(f"[data-experiment='{experiment.experiment_id}']")
    assert served.engine.experiments.results(experiment.experiment_id).users == 30
    page.wait_for_selector("#experiment-panel:has-text('30 users so far')")
    text = page.inner_text("#experiment-panel")
    assert "control" in text and "ranking search: rank=identity" in text
    shot(page, "desktop-admin-experiment")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#exp-stop")
    page.wait_for_selector("#experiment-panel p.muted:has-text('stopped')")
    assert served.engine.experiments.get(experiment.experiment_id).status == "stopped"
    # The 422 of the one-variant experiment is the one failed call.
    assert [e for e in unexpected(page_errors) if "422" not in e] == []


def test_two_runs_side_by_side_and_a_note_for_the_team(served, new_page, page_errors):
    served.engine.train(encoder=None, recommender="als")
    runs = [r.run_id for r in served.engine.logbook.runs(kind="training")]
    page = new_page(DESKTOP)
    _sign_in(page, served.url, served.keys[Scope.ADMIN])
    page.wait_for_function("document.body.dataset.ready === 'business'")
    _open(page, "models")
    assert page.is_disabled("#compare-runs")
    for run_id in runs:
        page.check(f"[data-pick='{run_id}']")
    page.click("#compare-runs")
    page.wait_for_selector("#run-compare")
    text = page.inner_text("#run-compare")
    assert "recommender" in text and "als" in text and "itemknn" in text
    shot(page, "desktop-admin-runs-compare")
    page.click(f"[data-run='{runs[0]}']")
    page.wait_for_selector("#run-panel")
    page.click("#note-add")  # an empty note is refused in words
    page.wait_for_selector("#note-msg .error")
    page.fill("#note-text", "ALS trained for the A/B test")
    page.click("#note-add")
    page.wait_for_selector("#run-panel li:has-text('ALS trained for the A/B test')")
    [note] = served.engine.logbook.get(runs[0]).notes
    assert note.text == "ALS trained for the A/B test" and note.author == "web admin"
    assert [e for e in unexpected(page_errors) if "422" not in e] == []


def test_the_assistant_tab_lists_unanswered_questions(served, new_page, page_errors):
    body = json.dumps({"message": "does it come in blue?", "item_id": "teapot"}).encode()
    request = urllib.request.Request(f"{served.url}/v1/assist", data=body, method="POST", headers={
        "Authorization": f"Bearer {served.keys[Scope.SEARCH]}", "Content-Type": "application/json"})
    assert json.loads(urllib.request.urlopen(request).read())["handoff"] is True
    page = new_page(DESKTOP)
    _sign_in(page, served.url, served.keys[Scope.ADMIN])
    page.wait_for_function("document.body.dataset.ready === 'business'")
    _open(page, "assistant")
    text = page.inner_text("#unanswered")
    assert "does it come in blue?" in text and "teapot" in text
    assert page.is_visible("#window-box") and "Window: the last 30 days" in page.inner_text("#view")
    shot(page, "desktop-admin-assistant")
    assert unexpected(page_errors) == []
