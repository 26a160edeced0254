"""The storefront and dashboard: page load times in headless Chromium, and the dashboard's
report queries on the full Online Retail store.

1. Demo store (the Online Retail slice shipped in the package, lexical search): a real
   server (uvicorn, in this process) and headless Chromium (Playwright, a fresh browser
   context per load, so nothing is cached). A load is timed from navigation until the page
   has drawn its data (`body[data-ready]`): the storefront's home ("for you" feed), a search,
   a product page, and the dashboard's business, inventory and operations sections.
2. Full Online Retail (541,909 invoice lines; catalog and purchases ingested, not trained;
   20,000 answers logged as impressions replayed from the purchase log: each purchase of a
   sample was shown one minute before in a list of 10): each /v1/insights report over HTTP
   with an admin key, cold (the first call after new events: the store is read again) and
   warm (the data unchanged, so the report is kept), median and p99.

    python bench/web_pages.py [--loads 20] [--queries 200] [--cold 5] [--work DIR] [--skip-full | --only-full]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RETAIL, machine, peak_rss_mb, save, serve_app  # noqa: E402
from cartwise import Engine  # noqa: E402
from cartwise.access import Scope  # noqa: E402
from cartwise.demo import EVENT_MAPPING, build_catalog, build_purchases, packaged_slice  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def stats(samples: list[float]) -> dict[str, float]:
    values = np.asarray(samples) * 1000
    return {"n": len(samples), "median_ms": round(float(np.median(values)), 1),
            "p99_ms": round(float(np.percentile(values, 99)), 1), "max_ms": round(float(values.max()), 1)}


def build(folder: Path, source: Path, *, train: bool) -> Engine:
    engine = Engine.open(folder)
    engine.ingest_items(build_catalog(source, folder / "catalog.parquet"))
    engine.ingest_events(build_purchases(source, folder / "purchases.csv"), mapping=EVENT_MAPPING,
                         unknown_items="reject")
    if train:
        engine.train(encoder=None)
        engine.refresh()
    return engine


def serve(engine: Engine, **keys: str):
    from cartwise.api import create_app

    return serve_app(create_app(engine, **keys))


def page_loads(url: str, admin: str, loads: int, pages: dict[str, str]) -> dict[str, dict[str, float]]:
    from playwright.sync_api import sync_playwright

    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        for name, path in pages.items():
            ready = "section" if "/admin" in path else "true"
            want = path.split("#")[-1] if ready == "section" else "true"
            samples = []
            for i in range(loads + 1):
                context = browser.new_context(viewport={"width": 1366, "height": 900})
                context.add_init_script(f"sessionStorage.setItem('cartwise-admin-key', {admin!r})")
                page = context.new_page()
                started = time.perf_counter()
                page.goto(url + path)
                page.wait_for_function(f"document.body.dataset.ready === {want!r}", timeout=60_000)
                if i:  # the first load warms the server's caches
                    samples.append(time.perf_counter() - started)
                context.close()
            out[name] = stats(samples)
            print(f"  {name:<24} {out[name]}", flush=True)
        browser.close()
    return out


def replay_impressions(engine: Engine, answers: int, seed: int = 7) -> int:
    """Each of `answers` sampled purchases shown one minute before in a list of 10 (the
    bought item at a random position among 9 random catalog items)."""
    import polars as pl

    rng = random.Random(seed)
    bought = engine.store.events().filter(pl.col("event_type") == "purchase").select("user_id", "item_id", "ts")
    rows = bought.sample(n=min(answers, bought.height), seed=seed).rows()
    catalog = engine.store.items()["item_id"].to_list()
    placements = ["recommend", "similar", "search"]
    batch = []
    for user, item, ts in rows:
        shown = rng.sample(catalog, 9)
        shown.insert(rng.randrange(10), item)
        placement = rng.choice(placements)
        batch.append({"placement": placement, "user_id": user, "items": shown, "timestamp": ts - 60_000,
                      "model_version": "replay", **({"query": rng.choice(["heart", "lantern", "bag", "mug"])}
                                                    if placement == "search" else {})})
        if len(batch) == 500:
            engine.add_impressions(batch)
            batch = []
    if batch:
        engine.add_impressions(batch)
    return len(rows)


def report_queries(engine: Engine, queries: int, cold: int) -> dict[str, dict[str, dict[str, float]]]:
    """Per report: the first call (no snapshot yet: the store is read while the caller
    waits); calls right after a new event (answered from the snapshot at hand while a
    thread reads the store again, as the server does); how long until the report shows the
    event (the refresh); warm calls."""
    from fastapi.testclient import TestClient

    from cartwise.api import create_app

    admin = engine.create_key(Scope.ADMIN, name="bench").secret
    client = TestClient(create_app(engine), headers={"X-API-Key": admin})
    out: dict[str, dict[str, dict[str, float]]] = {}
    # What shows that a report has the new event: the window's end, or the newest event.
    marks = {"business": "as_of_ms", "inventory": "as_of_ms", "operations": "last_event_ms"}
    for report, mark in marks.items():
        started = time.perf_counter()
        body = client.get(f"/v1/insights/{report}").json()[mark]
        first = [time.perf_counter() - started]
        after_event, refresh, warm = [], [], []
        for i in range(cold):
            event_at = time.perf_counter()
            engine.add_events([{"user_id": f"bench-{report}-{i}", "item_id": "85123A", "event_type": "view",
                                "timestamp": int(time.time() * 1000)}])
            started = time.perf_counter()
            seen = client.get(f"/v1/insights/{report}").json()[mark]
            after_event.append(time.perf_counter() - started)
            while seen == body:
                time.sleep(0.05)
                seen = client.get(f"/v1/insights/{report}").json()[mark]
            refresh.append(time.perf_counter() - event_at)
            body = seen
        for _ in range(queries):
            started = time.perf_counter()
            assert client.get(f"/v1/insights/{report}").status_code == 200
            warm.append(time.perf_counter() - started)
        out[report] = {"first_call": stats(first), "right_after_new_events": stats(after_event),
                       "until_the_report_shows_the_event": stats(refresh), "warm": stats(warm)}
        print(f"  {report:<12} {out[report]}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=20, help="timed loads of each page")
    parser.add_argument("--queries", type=int, default=200, help="warm calls of each report")
    parser.add_argument("--cold", type=int, default=5, help="cold calls of each report")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--skip-full", action="store_true", help="only the demo store's page loads")
    parser.add_argument("--only-full", action="store_true", help="only the full Online Retail store")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="cartwise-web-"))
    shutil.rmtree(work, ignore_errors=True)
    result: dict = {"command": " ".join(sys.argv)}

    if args.only_full:
        result["demo"] = {"skipped": True}
    else:
        demo_pages(work, args.loads, result)
    full_store(work, args, result)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result["machine_run"] = machine()
    print(save("web_pages_full" if args.only_full else "web_pages", result))


def demo_pages(work: Path, loads: int, result: dict) -> None:
    print("demo store: building (lexical search, item-kNN)", flush=True)
    demo = build(work / "demo", packaged_slice(), train=True)
    keys = {scope: demo.create_key(scope, name=f"bench {scope.value}").secret for scope in Scope}
    server, url = serve(demo, page_key=keys[Scope.SEARCH], page_events_key=keys[Scope.EVENTS])
    demo.search("heart")  # one answer logged, so the dashboard has something to show
    pages = {"storefront home": "/", "storefront search": "/#/search?q=heart", "product page": "/#/item/85123A",
             "dashboard business": "/admin#business", "dashboard inventory": "/admin#inventory",
             "dashboard operations": "/admin#operations"}
    result["demo"] = {"items": demo.stats().items, "events": demo.stats().events,
                      "page_loads": page_loads(url, keys[Scope.ADMIN], loads, pages)}
    server.should_exit = True


def full_store(work: Path, args: argparse.Namespace, result: dict) -> None:
    if not args.skip_full:
        print("full Online Retail: ingesting (no training)", flush=True)
        started = time.perf_counter()
        full = build(work / "full", RETAIL, train=False)
        shown = replay_impressions(full, 20_000)
        full.impressions.flush()
        numbers = full.stats()
        result["full"] = {"items": numbers.items, "events": numbers.events, "impressions": numbers.impressions,
                          "answers_replayed": shown, "build_s": round(time.perf_counter() - started, 1)}
        print(f"  {result['full']}", flush=True)
        result["full"]["reports"] = report_queries(full, args.queries, args.cold)
        admin = full.create_key(Scope.ADMIN, name="bench pages").secret
        server, url = serve(full)
        result["full"]["page_loads"] = page_loads(url, admin, max(5, args.loads // 4), {
            "dashboard business": "/admin#business", "dashboard inventory": "/admin#inventory",
            "dashboard operations": "/admin#operations"})
        server.should_exit = True


if __name__ == "__main__":
    main()
