"""The dashboard's reports on the planted store, with behaviour whose numbers are known."""

from __future__ import annotations

import json
import time

import polars as pl
import pytest

from cartwise.insights.snapshot import DAY_MS, MINUTE_MS
from cartwise.search.request import SearchRequest


def _now() -> int:
    return int(time.time() * 1000)


@pytest.fixture
def shopped(engine):
    """Two searches (one empty), a click, an add-to-cart and a purchase credited to the
    first, and views of the out-of-stock boots."""
    found = engine.search("tea", user_id="s-1")
    engine.search(request=SearchRequest("qqqzzz", mode="lexical", fallback=False), user_id="s-2")
    now = _now()
    rid = found.request_id
    assert engine.add_events([
        {"user_id": "s-1", "item_id": "teapot", "event_type": "click", "timestamp": now, "request_id": rid},
        {"user_id": "s-1", "item_id": "teapot", "event_type": "add_to_cart", "timestamp": now + 1, "request_id": rid},
        {"user_id": "s-1", "item_id": "teapot", "event_type": "purchase", "timestamp": now + 2, "request_id": rid,
         "value": 2},
        *({"user_id": f"v-{i}", "item_id": "boots", "event_type": "view", "timestamp": now + i} for i in range(4)),
    ]).rows_rejected == 0
    engine.impressions.flush()
    return engine, rid


def test_business_credits_the_search_with_its_click_cart_purchase_and_revenue(shopped):
    engine, _ = shopped
    report = engine.insights.business(days=7)
    search = [r for r in report.daily if r["placement"] == "search"]
    assert sum(r["answers"] for r in search) == 2
    assert sum(r["clicks"] for r in search) == sum(r["add_to_carts"] for r in search) == 1
    assert sum(r["purchases"] for r in search) == 1
    assert report.revenue["total"] == 48.0  # 2 teapots at 24
    assert report.revenue["by_placement"] == [{"placement": "search", "revenue": 48.0, "purchases": 1}]
    assert report.revenue["credited_share"] == 1.0
    queries = {q["query"]: q for q in report.top_queries}
    assert queries["tea"]["clicks"] == 1 and queries["tea"]["purchases"] == 1
    assert [q["query"] for q in report.zero_result_queries] == ["qqqzzz"]
    assert report.clicked_not_bought_queries == []  # the click led to a purchase
    assert report.top_products[0]["item_id"] == "teapot"
    group = next(g for g in report.groups if g["placement"] == "search")
    assert group["answers"] == 2 and group["ctr"]["count"] == 1
    assert group["ctr"]["low"] < group["ctr"]["rate"] == 1 / group["items_shown"] < group["ctr"]["high"]
    assert sum(r.count for r in report.ctr_by_position.values()) == 1
    # The model version over time: the same answers, per day and version.
    live = engine.model_info()["version"]
    per_day = [r for r in report.daily_by_model_version if r["model_version"] == live]
    assert sum(r["answers"] for r in per_day) == sum(r["answers"] for r in report.daily) == 2
    assert sum(r["clicks"] for r in per_day) == 1 and all(r["day_ms"] % DAY_MS == 0 for r in per_day)


def test_inventory_counts_bands_lost_demand_and_slow_movers(shopped):
    engine, _ = shopped
    report = engine.insights.inventory(days=7)
    assert sum(b["items"] for b in report.price_bands) == 8
    band = {b["price_band"]: b for b in report.price_bands}
    assert band["50–100"]["interest"] == 4 and band["50–100"]["out_of_stock"] == 1  # the boots, 89
    assert band["20–50"]["purchases"] == 1
    assert report.stock_outs["items"] == 1 and report.stock_outs["with_demand"] == 1
    assert report.stock_outs["top"][0]["item_id"] == "boots"
    # Outdoor sold nothing in the window: its conversion is 0, so no purchase is counted lost.
    assert report.stock_outs["lost_purchases"] == 0.0
    slow = {s["item_id"] for s in report.slow_movers["top"]}
    assert "socks" in slow and "teapot" not in slow  # socks sold in 2023 only; the teapot sold now
    home = next(t for t in report.demand_trend if t["department"] == "Home")
    assert home["last_7_days"] == 1 and home["daily"][-1] == 1 and len(home["daily"]) == 28
    # One sale after none says little: the interval of the rate ratio spans 1.
    assert home["ratio"] is None and home["ratio_low"] < 1 < home["ratio_high"] and home["direction"] == "steady"


def test_the_demand_trend_interval_narrows_with_more_purchases(engine):
    end = 1_700_000_000_000 + 28 * DAY_MS
    events = []
    for day in range(28):  # 5 sock purchases a day, 10 a day in the last week
        for n in range(10 if day >= 21 else 5):
            events.append({"user_id": f"t-{day}-{n}", "item_id": "socks", "event_type": "purchase",
                           "timestamp": end - (27 - day) * DAY_MS - n * 1000})
    engine.add_events(events)
    trend = {t["department"]: t for t in engine.insights.inventory(end_ms=end).demand_trend}
    outdoor = trend["Outdoor"]
    assert outdoor["last_7_days"] == 70 and outdoor["prior_21_days"] == 105
    assert outdoor["ratio"] == 2.0 and outdoor["ratio_low"] < 2.0 < outdoor["ratio_high"]
    assert outdoor["ratio_low"] > 1.4 and outdoor["direction"] == "up"
    assert outdoor["next_7_days_low"] < 70 < outdoor["next_7_days_high"]


def test_operations_counts_minutes_and_raises_the_alerts(engine):
    now = _now()
    # A steady day of events that stops 20 minutes ago.
    engine.add_events([{"user_id": f"o-{i}", "item_id": "socks", "event_type": "view",
                        "timestamp": now - 20 * MINUTE_MS - i * 2 * MINUTE_MS} for i in range(700)])
    report = engine.insights.operations(model=engine.model_info(), now_ms=now)
    assert report.events_per_minute["total"] == 20  # 20, 22, ..., 58 minutes ago
    assert sum(report.events_per_minute["series"]["view"]) == 20
    assert len(report.events_per_minute["minute_ms"]) == 60
    alerts = {a.metric: a for a in report.alerts}
    assert "events_per_15_min" in alerts and alerts["events_per_15_min"].value == 0
    assert alerts["events_per_15_min"].band[0] > 0
    # Ten days later the model is stale; a fresh event makes the stream flow again.
    later = now + 10 * DAY_MS
    engine.add_events([{"user_id": "o-late", "item_id": "socks", "event_type": "view", "timestamp": later}])
    alerts = {a.metric for a in engine.insights.operations(model=engine.model_info(), now_ms=later).alerts}
    assert "model_age_days" in alerts and "events_per_15_min" not in alerts


def test_a_jump_in_rejected_rows_is_an_alert_with_its_reasons(engine, tmp_path):
    good = [{"user_id": "r", "item_id": "socks", "event_type": "view", "timestamp": 1_700_000_000 + i} for i in range(10)]
    for _ in range(3):
        engine.add_events(good)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(json.dumps(e) for e in [*good[:2], *({"user_id": "r", "item_id": "socks",
                   "event_type": "teleport", "timestamp": 1_700_000_000} for _ in range(8))]))
    engine.ingest_events(bad)
    report = engine.insights.operations(model=engine.model_info())
    assert report.ingest_runs[0]["rows_rejected"] == 8 and report.ingest_runs[0]["reject_rate"] == 0.8
    assert "reject_rate" in {a.metric for a in report.alerts}
    assert report.rejects_by_reason[0]["field"] == "event_type" and report.rejects_by_reason[0]["rows"] == 8


def test_reports_are_kept_until_the_data_changes(engine):
    first = engine.insights.business()
    assert engine.insights.business() is first
    engine.add_events([{"user_id": "k", "item_id": "socks", "event_type": "purchase", "timestamp": _now()}])
    assert engine.insights.business() is not first
    assert engine.store.events().filter(pl.col("user_id") == "k").height == 1


def test_with_background_refresh_a_report_is_answered_at_once_then_brought_up_to_date(engine):
    engine.insights.refresh_in_background()
    first = engine.insights.business()
    engine.add_events([{"user_id": "b", "item_id": "socks", "event_type": "purchase", "timestamp": _now()}])
    assert engine.insights.business() is first  # answered from the snapshot at hand
    deadline = time.monotonic() + 10
    while (latest := engine.insights.business()) is first and time.monotonic() < deadline:
        time.sleep(0.05)
    # The new purchase is the newest event: the window now ends at it and holds it alone.
    assert latest is not first and latest.as_of_ms > first.as_of_ms
    assert latest.revenue["purchases"] == 1 and latest.top_products[0]["item_id"] == "socks"


def test_warming_up_reads_the_store_once_so_the_first_visit_does_not(shopped, monkeypatch):
    engine, _ = shopped
    engine.insights.warm().join(timeout=60)
    reads = []
    original = engine.store.events
    monkeypatch.setattr(engine.store, "events", lambda *a, **k: reads.append(1) or original(*a, **k))
    first = engine.insights.business()
    assert reads == [] and first.top_queries  # answered from the warm snapshot and report
    engine.insights.inventory()
    assert reads == []
