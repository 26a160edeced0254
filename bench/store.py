"""Store back ends side by side: bulk ingest (COPY on PostgreSQL), single-event writes and
read latency, for the embedded SQLite store (the baseline) and PostgreSQL in the same run.

Synthetic events in the store's frame layout (seeded): N events over U users and I items,
written in batches as an ingest does, then sent again (all duplicates, the idempotent
re-send), then single events one transaction each (as the HTTP event endpoint writes).
Reads: a user's recent events (what recommendations read per request), 20 items by id,
the store versions (what change feeds poll), and the whole event log (what training
loads). Run:  .venv/bin/python bench/store.py [--events 200000]
PostgreSQL: $CARTWISE_TEST_POSTGRESQL (default postgresql://127.0.0.1:5432/test), in a
scratch schema dropped afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from bench.common import save
from cartwise.store import Store, open_store
from cartwise.store.postgres import DEFAULT_TEST_SERVER, TEST_SERVER_ENV, drop_store, scratch_server

EVENT_TYPES = ["view", "view", "view", "add_to_cart", "purchase", "search"]


def synthetic(n_events: int, n_users: int, n_items: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    items = pl.DataFrame(
        {
            "item_id": [f"item-{i:06d}" for i in range(n_items)],
            "title": [f"Product {i} in colour {i % 17}" for i in range(n_items)],
            "category": [f"Home > Kitchen > C{i % 40}" for i in range(n_items)],
            "price": rng.uniform(1, 200, n_items).round(2),
            "attributes": [f'{{"size": "{i % 5}"}}' for i in range(n_items)],
        }
    )
    # Popular items and busy users, roughly Zipf-like, as real logs are.
    item = np.minimum(rng.zipf(1.3, n_events) - 1, n_items - 1)
    user = rng.integers(0, n_users, n_events)
    kind = rng.integers(0, len(EVENT_TYPES), n_events)
    events = pl.DataFrame(
        {
            "event_key": rng.permutation(np.arange(1, n_events + 1, dtype=np.int64) * 7919),
            "user_id": [f"user-{u}" for u in user],
            "item_id": [f"item-{i:06d}" for i in item],
            "event_type": [EVENT_TYPES[k] for k in kind],
            "ts": 1_700_000_000_000 + np.sort(rng.integers(0, 90 * 86_400_000, n_events)),
            "session_id": [f"s-{u}-{t % 9}" for u, t in zip(user, range(n_events), strict=True)],
            "query": [("red mug" if k == 5 else None) for k in kind],
        }
    )
    return items, events


def latency_ms(calls: Callable[[int], object], repeats: int) -> dict[str, float]:
    times = []
    for n in range(repeats):
        started = time.perf_counter()
        calls(n)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 3),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 3),
    }


def measure(store: Store, items: pl.DataFrame, events: pl.DataFrame, *, batch: int, singles: int, reads: int) -> dict:
    result: dict = {}
    started = time.perf_counter()
    result["items_written"] = store.upsert_items(items)
    result["items_per_s"] = round(items.height / (time.perf_counter() - started))

    started = time.perf_counter()
    written = sum(store.insert_events(events.slice(s, batch)) for s in range(0, events.height, batch))
    seconds = time.perf_counter() - started
    result.update(
        events_written=written, ingest_s=round(seconds, 3), ingest_events_per_s=round(events.height / seconds)
    )

    started = time.perf_counter()
    again = sum(store.insert_events(events.slice(s, batch)) for s in range(0, events.height, batch))
    seconds = time.perf_counter() - started
    result.update(resend_written=again, resend_events_per_s=round(events.height / seconds))

    base_key = int(events["event_key"].max()) + 1
    single = events.head(1)

    def one_event(n: int) -> None:
        store.insert_events(single.with_columns(pl.lit(base_key + n, dtype=pl.Int64).alias("event_key")))

    result["single_event_write"] = latency_ms(one_event, singles)

    rng = np.random.default_rng(1)
    users = events["user_id"].unique().sort().to_list()
    picks = [users[i] for i in rng.integers(0, len(users), reads)]
    result["user_events_read"] = latency_ms(lambda n: store.user_events(picks[n], limit=100), reads)
    ids = items["item_id"].to_list()
    batches = [[ids[i] for i in rng.integers(0, len(ids), 20)] for _ in range(reads)]
    result["get_20_items_read"] = latency_ms(lambda n: store.get_items(batches[n]), reads)
    result["versions_read"] = latency_ms(lambda n: store.versions(), reads)
    started = time.perf_counter()
    loaded = store.events()
    result["full_events_read_s"] = round(time.perf_counter() - started, 3)
    result["full_events_rows"] = loaded.height
    started = time.perf_counter()
    store.items()
    result["full_items_read_s"] = round(time.perf_counter() - started, 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=50_000, help="events per insert (one transaction each)")
    parser.add_argument("--singles", type=int, default=300, help="single-event transactions timed")
    parser.add_argument("--reads", type=int, default=500, help="timed calls per read kind")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    console = Console()
    items, events = synthetic(args.events, args.users, args.items, args.seed)
    server = scratch_server()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        backends = {"sqlite": f"sqlite://{Path(tmp) / 'sqlite'}"}
        if server is not None:
            joiner = "&" if "?" in server else "?"
            backends["postgresql"] = (
                f"{server}{joiner}schema=cw_bench_{uuid.uuid4().hex[:10]}&workspace={Path(tmp) / 'pg'}"
            )
        else:
            console.print(f"no PostgreSQL at ${TEST_SERVER_ENV} (default {DEFAULT_TEST_SERVER}): SQLite only")
        for name, url in backends.items():
            store = open_store(url)
            try:
                console.print(f"{name} ...")
                results[name] = measure(store, items, events, batch=args.batch, singles=args.singles, reads=args.reads)
            finally:
                store.close()
                if name == "postgresql":
                    drop_store(url)
    rows = [
        ("ingest events/s (COPY on pg)", "ingest_events_per_s", None),
        ("re-send (all duplicates) events/s", "resend_events_per_s", None),
        ("items upserted/s", "items_per_s", None),
        ("single-event write p50 ms", "single_event_write", "p50_ms"),
        ("single-event write p99 ms", "single_event_write", "p99_ms"),
        ("user's recent events p50 ms", "user_events_read", "p50_ms"),
        ("user's recent events p99 ms", "user_events_read", "p99_ms"),
        ("20 items by id p50 ms", "get_20_items_read", "p50_ms"),
        ("20 items by id p99 ms", "get_20_items_read", "p99_ms"),
        ("versions p50 ms", "versions_read", "p50_ms"),
        ("whole event log read s", "full_events_read_s", None),
        ("whole catalog read s", "full_items_read_s", None),
    ]

    def value(name: str, key: str, sub: str | None) -> float:
        return results[name][key][sub] if sub else results[name][key]

    # PostgreSQL over SQLite for every measure (above 1: a larger rate or a longer time).
    ratios = {
        f"{key}_{sub}" if sub else key: round(value("postgresql", key, sub) / max(value("sqlite", key, sub), 1e-9), 2)
        for _, key, sub in rows
    } if "postgresql" in results else {}
    table = Table(title=f"store back ends, {args.events:,} events in batches of {args.batch:,}")
    table.add_column("measure")
    for name in results:
        table.add_column(name, justify="right")
    if ratios:
        table.add_column("pg / sqlite", justify="right")
    for label, key, sub in rows:
        cells = [f"{value(name, key, sub):,}" for name in results]
        ratio = [str(ratios[f"{key}_{sub}" if sub else key])] if ratios else []
        table.add_row(label, *cells, *ratio)
    console.print(table)
    config = {k: getattr(args, k) for k in ("events", "users", "items", "batch", "singles", "reads", "seed")}
    console.print(f"saved {save('store', {'config': config, 'results': results, 'pg_over_sqlite': ratios})}")


if __name__ == "__main__":
    main()
