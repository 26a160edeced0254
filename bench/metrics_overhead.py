"""What the request observer (metrics, access log, request id) adds to an answer.

Builds the demo store (the Online Retail slice shipped in the package; lexical search, so
no text model is needed) unless --store names one, then answers the same searches from
three apps over one engine, interleaved in random order so load on the machine hits all
three alike:

* ``bare``: the API without :class:`cartwise.api.observe.RequestObserver` (the baseline);
* ``metrics``: the API as served (counts and latency histograms per route, request id);
* ``metrics+json``: the same with the JSON access log on (written to /dev/null);
* ``bare-again``: a second bare app, a control: its difference from ``bare`` is the noise
  of the measurement itself.

Each request is one ASGI call in-process (no sockets: the network would only add noise
both ways). Reports p50 / p99 / mean per variant, for /v1/search and /v1/live (the floor
of the stack), and the differences against the bare app.

    python bench/metrics_overhead.py [--requests 2000] [--store DIR] [--work DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine, save  # noqa: E402
from cartwise import Engine  # noqa: E402
from cartwise.api import create_app  # noqa: E402
from cartwise.api.logs import JsonFormatter  # noqa: E402
from cartwise.api.observe import RequestObserver, access_log  # noqa: E402
from cartwise.demo import EVENT_MAPPING, build_catalog, build_purchases, packaged_slice  # noqa: E402

VARIANTS = ("bare", "metrics", "metrics+json", "bare-again")


def build(folder: Path) -> None:
    engine = Engine.open(folder, log_impressions=False)
    data = packaged_slice()
    engine.ingest_items(build_catalog(data, folder / "catalog.parquet"))
    engine.ingest_events(build_purchases(data, folder / "purchases.csv"), mapping=EVENT_MAPPING)
    engine.train(encoder=None)
    engine.close()


def bare_app(engine: Engine, secret: str) -> Any:
    """The served app less its request observer (the middleware stack is built on the
    first request, so removing it from the list before then removes it)."""
    app = create_app(engine, metrics=False)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not RequestObserver]
    return app


def scope_for(path: str, query: str, secret: str) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": query.encode(),
        "server": ("bench", 80), "client": ("127.0.0.1", 1),
        "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {secret}".encode())],
    }


async def call(app: Any, scope: dict[str, Any]) -> tuple[int, float]:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    started = time.perf_counter()
    await app(dict(scope), receive, send)
    return status, time.perf_counter() - started


def summary(samples: list[float]) -> dict[str, float]:
    values = np.asarray(samples) * 1000
    return {"p50_ms": round(float(np.percentile(values, 50)), 4), "p99_ms": round(float(np.percentile(values, 99)), 4),
            "mean_ms": round(float(values.mean()), 4), "n": int(values.size)}


async def run(engine: Engine, queries: list[str], *, requests: int, seed: int, sink: Any) -> dict[str, Any]:
    secret = engine.create_key("search", name="bench metrics").secret
    apps = {"bare": bare_app(engine, secret), "metrics": create_app(engine), "metrics+json": create_app(engine),
            "bare-again": bare_app(engine, secret)}
    handler = logging.StreamHandler(sink)
    handler.setFormatter(JsonFormatter())
    access_log.addHandler(handler)
    access_log.propagate = False
    rng = random.Random(seed)
    results: dict[str, Any] = {}
    for endpoint, path in (("search", "/v1/search"), ("live", "/v1/live")):
        times: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for warm in range(50):  # first-request costs (middleware stacks, caches) out of the figures
            for variant in VARIANTS:
                await call(apps[variant], scope_for(path, urlencode({"q": queries[warm % len(queries)]}), secret))
        for i in range(requests):
            query = urlencode({"q": queries[rng.randrange(len(queries))], "k": 10}) if endpoint == "search" else ""
            order = list(VARIANTS)
            rng.shuffle(order)
            for variant in order:
                access_log.setLevel(logging.INFO if variant == "metrics+json" else logging.WARNING)
                status, seconds = await call(apps[variant], scope_for(path, query, secret))
                assert status == 200, (variant, path, status)
                times[variant].append(seconds)
        stats = {v: summary(t) for v, t in times.items()}
        base = stats["bare"]
        for variant in VARIANTS[1:]:
            stats[variant]["p50_added_ms"] = round(stats[variant]["p50_ms"] - base["p50_ms"], 4)
            stats[variant]["p99_added_ms"] = round(stats[variant]["p99_ms"] - base["p99_ms"], 4)
            stats[variant]["mean_added_ms"] = round(stats[variant]["mean_ms"] - base["mean_ms"], 4)
            stats[variant]["p50_ratio"] = round(stats[variant]["p50_ms"] / base["p50_ms"], 4)
            stats[variant]["p99_ratio"] = round(stats[variant]["p99_ms"] / base["p99_ms"], 4)
        results[endpoint] = stats
    access_log.removeHandler(handler)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per variant and endpoint")
    parser.add_argument("--store", type=Path, default=None, help="a trained store (default: build the demo slice)")
    parser.add_argument("--work", type=Path, default=None, help="where to build the store (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    folder = args.store
    if folder is None:
        folder = (args.work or Path(tempfile.mkdtemp(prefix="cartwise-metrics-"))) / "store"
        if not (folder / "models" / "CURRENT").exists():
            print(f"building the demo store in {folder} ...", flush=True)
            build(folder)
    engine = Engine.open(folder, create=False, log_impressions=False)
    engine.warm_up()
    rng = random.Random(args.seed)
    titles = engine.store.items()["title"].to_list()
    queries = [" ".join(rng.sample(t.lower().split(), min(2, len(t.split())))) for t in rng.sample(titles, 300)]
    load_before = os.getloadavg()[0]
    with open(os.devnull, "w") as sink:
        results = asyncio.run(run(engine, queries, requests=args.requests, seed=args.seed, sink=sink))
    out = {"store": str(folder), "items": len(titles), "requests_per_variant": args.requests,
           "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)], "results": results}
    path = save("metrics_overhead", out)
    print(f"{'endpoint':<8} {'variant':<14} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'+p50':>8} {'+p99':>8}")
    for endpoint, stats in results.items():
        for variant, s in stats.items():
            print(f"{endpoint:<8} {variant:<14} {s['p50_ms']:>8.3f} {s['p99_ms']:>8.3f} {s['mean_ms']:>8.3f} "
                  f"{s.get('p50_added_ms', 0):>8.3f} {s.get('p99_added_ms', 0):>8.3f}")
    print(f"machine: {machine()['platform']}, load {out['load_average']}; saved {path}")


if __name__ == "__main__":
    main()
