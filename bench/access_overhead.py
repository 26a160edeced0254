"""What access at scale adds to a request: rate limits (in-process and Redis buckets) and
routing among several stores.

Builds the demo store (lexical only) unless --store names one, then answers the same
autocomplete requests (a cheap route that needs a key, so the access path is a visible
share of it) from apps over one engine, interleaved in random order so load on the machine
hits all alike:

* ``baseline``: a key without a rate limit, one store (the access path as before);
* ``limit``: a key with its own rate limit (never reached), in-process token bucket;
* ``limit-redis``: the same with the buckets in Redis (``--rate-store``; skipped without one);
* ``second-store``: a key of the second of two stores on the server (two key rings asked);
* ``baseline-again``: a second baseline app, a control: its difference from ``baseline``
  is the noise of the measurement itself.

    python bench/access_overhead.py [--requests 2000] [--store DIR] [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine, save  # noqa: E402
from bench.metrics_overhead import build, call, scope_for, summary  # noqa: E402
from cartwise import Engine  # noqa: E402
from cartwise.access import Rate, Scope  # noqa: E402
from cartwise.api import create_app  # noqa: E402


async def run(engine: Engine, other: Engine, prefixes: list[str], *, requests: int, seed: int,
              redis_url: str | None) -> dict[str, Any]:
    plain = engine.create_key(Scope.SEARCH, name="bench plain").secret
    limited = engine.create_key(Scope.SEARCH, name="bench limited", rate=Rate(1_000_000.0, 1_000_000)).secret
    apps: dict[str, tuple[Any, str]] = {
        "baseline": (create_app(engine, metrics=False), plain),
        "limit": (create_app(engine, metrics=False), limited),
        "second-store": (create_app(other, more_stores=[engine], metrics=False), plain),
        "baseline-again": (create_app(engine, metrics=False), plain),
    }
    if redis_url is not None:
        apps["limit-redis"] = (create_app(engine, metrics=False, rate_store=redis_url), limited)
    variants = list(apps)
    rng = random.Random(seed)
    times: dict[str, list[float]] = {v: [] for v in variants}
    for warm in range(50):
        for variant, (app, secret) in apps.items():
            await call(app, scope_for("/v1/autocomplete", urlencode({"q": prefixes[warm % len(prefixes)]}), secret))
    for _ in range(requests):
        query = urlencode({"q": prefixes[rng.randrange(len(prefixes))]})
        order = list(variants)
        rng.shuffle(order)
        for variant in order:
            app, secret = apps[variant]
            status, seconds = await call(app, scope_for("/v1/autocomplete", query, secret))
            assert status == 200, (variant, status)
            times[variant].append(seconds)
    stats = {v: summary(t) for v, t in times.items()}
    base = stats["baseline"]
    for variant in variants[1:]:
        stats[variant]["p50_added_ms"] = round(stats[variant]["p50_ms"] - base["p50_ms"], 4)
        stats[variant]["p99_added_ms"] = round(stats[variant]["p99_ms"] - base["p99_ms"], 4)
        stats[variant]["p50_ratio"] = round(stats[variant]["p50_ms"] / base["p50_ms"], 4)
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per variant")
    parser.add_argument("--store", type=Path, default=None, help="a trained store (default: build the demo slice)")
    parser.add_argument("--work", type=Path, default=None, help="where to build the stores (default: a temp dir)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="Redis for the shared buckets ('' : skip)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="cartwise-access-"))
    folder = args.store
    if folder is None:
        folder = work / "store"
        if not (folder / "models" / "CURRENT").exists():
            print(f"building the demo store in {folder} ...", flush=True)
            build(folder)
    redis_url = args.redis or None
    if redis_url is not None:
        try:
            redis.Redis.from_url(redis_url, socket_connect_timeout=1).ping()
        except redis.RedisError:
            print(f"no Redis at {redis_url}: limit-redis skipped", flush=True)
            redis_url = None
    engine = Engine.open(folder, create=False, log_impressions=False)
    engine.warm_up()
    other = Engine.open(work / "other-store", log_impressions=False)
    rng = random.Random(args.seed)
    titles = engine.store.items()["title"].to_list()
    prefixes = [t.lower()[: rng.randint(2, 5)] for t in rng.sample(titles, 300)]
    load_before = os.getloadavg()[0]
    stats = asyncio.run(run(engine, other, prefixes, requests=args.requests, seed=args.seed, redis_url=redis_url))
    out = {"store": str(folder), "requests_per_variant": args.requests, "redis": redis_url,
           "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)], "results": stats}
    path = save("access_overhead", out)
    print(f"{'variant':<15} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'+p50':>8} {'+p99':>8}")
    for variant, s in stats.items():
        print(f"{variant:<15} {s['p50_ms']:>8.3f} {s['p99_ms']:>8.3f} {s['mean_ms']:>8.3f} "
              f"{s.get('p50_added_ms', 0):>8.3f} {s.get('p99_added_ms', 0):>8.3f}")
    print(f"machine: {machine()['platform']}, load {out['load_average']}; saved {path}")


if __name__ == "__main__":
    main()
