"""Impression logging: what it adds to an answer, and whether it loses anything.

Builds the demo store (the Online Retail slice shipped in the package; lexical search, so
no text model is needed), then answers the same requests from two engines on that store,
interleaved: one logging every answer as an impression, one not. Reports per answer kind
the p50 / p99 latency of both and the p99 difference, the cost of `ImpressionLog.record`
alone, how fast the background flusher writes, and that every logged answer reached the
store after `close()`.

    python bench/feedback.py [--requests 3000] [--work DIR]
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

from bench.common import machine, save  # noqa: E402
from cartwise import Engine  # noqa: E402
from cartwise.demo import EVENT_MAPPING, build_catalog, build_purchases, packaged_slice  # noqa: E402
from cartwise.feedback import Impression, ImpressionLog, ShownItem  # noqa: E402


def build(folder: Path) -> None:
    engine = Engine.open(folder, log_impressions=False)
    data = packaged_slice()
    engine.ingest_items(build_catalog(data, folder / "catalog.parquet"))
    engine.ingest_events(build_purchases(data, folder / "purchases.csv"), mapping=EVENT_MAPPING)
    engine.train(encoder=None)
    engine.close()


def percentiles(samples: list[float]) -> dict[str, float]:
    values = np.asarray(samples) * 1000
    return {"p50_ms": float(np.percentile(values, 50)), "p99_ms": float(np.percentile(values, 99)),
            "mean_ms": float(values.mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="answers of each kind per engine")
    parser.add_argument("--work", type=Path, default=None, help="where to build the store (default: a temp dir)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="cartwise-feedback-"))
    folder = work / "store"
    if not (folder / "models").exists() or not any((folder / "models").iterdir()):
        print(f"building the demo store in {folder} ...", flush=True)
        build(folder)
    logging = Engine.open(folder)
    quiet = Engine(logging.store, log_impressions=False)
    rng = random.Random(0)
    users = logging.store.events()["user_id"].unique().sort().to_list()
    items = sorted(logging.store.item_ids())
    words = ["heart", "bag", "candle", "christmas", "vintage", "mug", "lantern", "set of 3", "red", "cake"]
    kinds = {
        "recommend": lambda e: e.recommend(rng.choice(users), k=10),
        "similar": lambda e: e.similar(rng.choice(items), k=10),
        "search": lambda e: e.search(rng.choice(words), k=10, user_id=rng.choice(users)),
    }
    for engine in (logging, quiet):  # warm caches and lazy loads
        for answer in kinds.values():
            for _ in range(50):
                answer(engine)
    logging.impressions.flush()
    before = logging.store.stats().impressions
    results: dict[str, dict] = {}
    logged = 0
    for kind, answer in kinds.items():
        times: dict[str, list[float]] = {"logging": [], "not logging": []}
        for n in range(args.requests * 2):
            engine, name = (logging, "logging") if n % 2 == 0 else (quiet, "not logging")
            started = time.perf_counter()
            answer(engine)
            times[name].append(time.perf_counter() - started)
        logged += args.requests
        results[kind] = {name: percentiles(samples) for name, samples in times.items()}
        results[kind]["p99_difference_ms"] = results[kind]["logging"]["p99_ms"] - results[kind]["not logging"]["p99_ms"]
        results[kind]["p50_difference_ms"] = results[kind]["logging"]["p50_ms"] - results[kind]["not logging"]["p50_ms"]
    logging.close()
    stored = logging.store.stats().impressions - before
    # The record call alone, and the flusher's write rate, on a scratch store.
    scratch = Engine.open(work / "scratch", log_impressions=False).store
    log = ImpressionLog(scratch, flush_interval_s=3600, max_pending=10**9)  # one flush, timed
    shown = tuple(ShownItem(f"item-{i}", "history", 1.0 / (i + 1)) for i in range(10))
    record_times = []
    for n in range(20_000):
        started = time.perf_counter()
        log.record(Impression(request_id=f"r{n}", ts=n, placement="recommend", items=shown, user_id="u"))
        record_times.append(time.perf_counter() - started)
    started = time.perf_counter()
    written = log.flush()
    flush_s = time.perf_counter() - started
    log.close()
    result = {
        "machine": machine(),
        "requests_per_kind_per_engine": args.requests,
        "answers": results,
        "record_call": {k.replace("_ms", "_us"): v * 1000 for k, v in percentiles(record_times).items()},
        "flush": {"impressions": written, "seconds": flush_s, "impressions_per_s": written / flush_s},
        "logged_answers": logged,
        "stored_after_close": stored,
    }
    print(f"{'answer':<10} {'p50 log':>9} {'p50 off':>9} {'p99 log':>9} {'p99 off':>9} {'p99 +ms':>8}")
    for kind, row in results.items():
        print(f"{kind:<10} {row['logging']['p50_ms']:9.3f} {row['not logging']['p50_ms']:9.3f} "
              f"{row['logging']['p99_ms']:9.3f} {row['not logging']['p99_ms']:9.3f} {row['p99_difference_ms']:8.3f}")
    rc = result["record_call"]
    print(f"ImpressionLog.record alone: p50 {rc['p50_us']:.1f} µs, p99 {rc['p99_us']:.1f} µs")
    print(f"flush: {written:,} impressions of 10 items in {flush_s:.2f} s ({written / flush_s:,.0f}/s)")
    print(f"logged answers {logged:,}; in the store after close: {stored:,}")
    print(f"saved {save('feedback', result)}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
