"""Durable event ingest over HTTP with and without an event bus, and event-to-effect latency.

For each back end — SQLite with no bus (the embedded default: stored before the answer),
PostgreSQL + Redis Streams and PostgreSQL + NATS JetStream (answered once the bus holds
the events, stored by the consumers inside the servers) — with 1 and 3 `cartwise serve`
processes, it posts batches of unique events for --seconds from --clients threads spread
over the processes and reports:
  * acknowledged events/s and the p50/p99 latency of the acknowledgement (2xx);
  * stored events/s: all acknowledged events in the store, timed from the first post;
  * event-to-effect latency: from the 2xx of a purchase posted to the first process to a
    changed recommendation for that shopper on the last one (another process when there
    are 3), p50/p99 over --effect-samples fresh shoppers, on an idle system;
  * co-purchase event-to-effect ("together"): from the 2xx of three shoppers' purchases of a
    new pair of items, posted to the first process, to the pair among the last process's
    similar items by its online co-occurrence (the counters every server learns from the
    store's events log).
The SQLite/no-bus run with 1 process is the baseline. The load generator runs on the same
machine as the servers (and the databases): the load average is reported with each run.

  .venv/bin/python bench/bus.py --seconds 10
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

from bench.common import ROOT, paired_purchases, save
from cartwise import Engine
from cartwise.bus import open_bus
from cartwise.store import open_store

POSTGRES = os.environ.get("CARTWISE_TEST_POSTGRESQL", "postgresql://127.0.0.1:5432/test")
BUSES = {"redis": "redis://127.0.0.1:6379/0", "nats": "nats://127.0.0.1:4222"}
CONFIGS = [("sqlite", None, 1), ("postgresql", "redis", 1), ("postgresql", "nats", 1), ("sqlite", None, 3),
           ("postgresql", "redis", 3), ("postgresql", "nats", 3)]
PAIRS = 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_store(url: str) -> None:
    """A small trained store: PAIRS item pairs always bought together, one very popular item."""
    engine = Engine.open(url, log_impressions=False)
    items = [{"item_id": f"p{i}", "title": f"Product {i}", "category": "Things", "price": 10 + i % 7}
             for i in range(2 * PAIRS)] + [{"item_id": "hit", "title": "The popular one", "category": "Things"}]
    engine.upsert_items(items)
    t = 1_700_000_000
    events = paired_purchases(PAIRS, start=t)
    events += [{"user_id": f"fan-{u}", "item_id": "hit", "event_type": "purchase", "timestamp": t + u} for u in range(300)]
    report = engine.add_events(events)
    assert report.rows_rejected == 0, report.rejects[:3]
    engine.train(recommender="itemknn", encoder=None)
    engine.close()


class Servers:
    def __init__(self, store: str, bus: str | None, count: int, workdir: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.ports = [free_port() for _ in range(count)]
        self.processes = []
        for port in self.ports:
            command = [sys.executable, "-m", "cartwise.cli.main", "serve", "--store", store, "--port", str(port)]
            if bus:
                command += ["--bus", bus]
            log = open(workdir / f"serve-{port}.log", "ab")  # noqa: SIM115 - lives as long as the server
            self.processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env))
        for port, process in zip(self.ports, self.processes, strict=True):
            deadline = time.monotonic() + 240
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/v1/live", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server on {port} did not start: {(workdir / f'serve-{port}.log').read_text()[-2000:]}")
                time.sleep(0.2)

    @property
    def bases(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.ports]

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGINT)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def ingest(bases: list[str], key: str, *, seconds: float, clients: int, batch: int, tag: str) -> dict[str, Any]:
    latencies: list[float] = []
    acknowledged = [0]
    errors = [0]
    lock = threading.Lock()
    stop = threading.Event()

    def client(index: int) -> None:
        base = bases[index % len(bases)]
        n = 0
        mine: list[float] = []
        count = 0
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
            while not stop.is_set():
                events = [{"user_id": f"{tag}-{index}-{n + j}", "item_id": f"p{(n + j) % (2 * PAIRS)}",
                           "event_type": "view", "timestamp": 1_701_000_000 + n + j} for j in range(batch)]
                n += batch
                started = time.perf_counter()
                response = http.post("/v1/events", json={"events": events})
                if response.status_code in (200, 202):
                    mine.append(time.perf_counter() - started)
                    count += batch
                else:
                    with lock:
                        errors[0] += 1
        with lock:
            latencies.extend(mine)
            acknowledged[0] += count

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {"acknowledged": acknowledged[0], "errors": errors[0], "seconds": round(elapsed, 2),
            "ack_events_per_s": round(acknowledged[0] / elapsed, 1),
            "ack_p50_ms": round(float(np.percentile(ms, 50)), 1) if len(ms) else None,
            "ack_p99_ms": round(float(np.percentile(ms, 99)), 1) if len(ms) else None,
            "requests": len(latencies), "started": started}


def wait_stored(store_url: str, expected: int, started: float, timeout: float = 300) -> float | None:
    """Seconds from the first post until the store holds `expected` events."""
    store = open_store(store_url, create=False)
    try:
        deadline = time.monotonic() + timeout
        while store.stats().events < expected:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)
        return time.perf_counter() - started
    finally:
        store.close()


def effect(bases: list[str], key: str, *, samples: int, tag: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    first, last = (httpx.Client(base_url=b, headers=headers, timeout=30) for b in (bases[0], bases[-1]))
    lags = []
    try:
        for i in range(samples):
            user = f"{tag}-shopper-{i}"
            before = first.get(f"/v1/users/{user}/recommendations", params={"k": 1}).json()["items"]
            item = f"p{2 * (i % PAIRS)}"
            posted = first.post("/v1/events", json={"events": [
                {"user_id": user, "item_id": item, "event_type": "purchase", "timestamp": 1_702_000_000 + i}]})
            acknowledged = time.perf_counter()
            assert posted.status_code in (200, 202), posted.text
            while True:
                now = last.get(f"/v1/users/{user}/recommendations", params={"k": 1}).json()["items"]
                if now != before:
                    lags.append(time.perf_counter() - acknowledged)
                    break
                if time.perf_counter() - acknowledged > 10:
                    lags.append(float("inf"))
                    break
            time.sleep(0.05)
    finally:
        first.close()
        last.close()
    ms = np.array(lags) * 1000
    return {"effect_p50_ms": round(float(np.percentile(ms, 50)), 1), "effect_p99_ms": round(float(np.percentile(ms, 99)), 1),
            "effect_samples": samples, "effect_on": "another process" if len(bases) > 1 else "the same process"}


def effect_together(bases: list[str], key: str, *, samples: int, tag: str, buyers: int = 3) -> dict[str, Any]:
    """From the 2xx of `buyers` shoppers' purchases of a new pair (a, b), posted to the first
    process, to `b` among the last process's similar items of `a` from co-occurrence (stage
    "together"; before, `b` is there at most as a popular item of the category): the
    counters that process learned from another's events."""
    headers = {"Authorization": f"Bearer {key}"}
    first, last = (httpx.Client(base_url=b, headers=headers, timeout=30) for b in (bases[0], bases[-1]))
    lags = []

    def learned(a: str, b: str) -> bool:
        items = last.get(f"/v1/items/{a}/similar", params={"k": 20}).json()["items"]
        return any(i["item_id"] == b and "together" in (i.get("stage") or "") for i in items)

    try:
        for i in range(samples):
            a, b = f"p{2 * (i % PAIRS)}", f"p{2 * ((i + 7) % PAIRS) + 1}"
            assert not learned(a, b)
            posted = first.post("/v1/events", json={"events": [
                {"user_id": f"{tag}-pair-{i}-{u}", "item_id": item, "event_type": "purchase",
                 "timestamp": 1_702_000_000 + 10 * i + n}
                for u in range(buyers) for n, item in enumerate((a, b))]})
            acknowledged = time.perf_counter()
            assert posted.status_code in (200, 202), posted.text
            while not learned(a, b):
                if time.perf_counter() - acknowledged > 10:
                    lags.append(float("inf"))
                    break
            else:
                lags.append(time.perf_counter() - acknowledged)
            time.sleep(0.05)
    finally:
        first.close()
        last.close()
    ms = np.array(lags) * 1000
    return {"together_p50_ms": round(float(np.percentile(ms, 50)), 1),
            "together_p99_ms": round(float(np.percentile(ms, 99)), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="sustained posting per configuration")
    parser.add_argument("--clients", type=int, default=8, help="posting threads")
    parser.add_argument("--batch", type=int, default=50, help="events per request")
    parser.add_argument("--effect-samples", type=int, default=30)
    parser.add_argument("--only", default=None, help="comma-separated config names, e.g. sqlite-none-1,postgresql-redis-3")
    args = parser.parse_args()
    console = Console()
    results = []
    workdir = Path(tempfile.mkdtemp(prefix="cw-bus-bench-"))
    chosen = [c for c in CONFIGS if args.only is None or f"{c[0]}-{c[1] or 'none'}-{c[2]}" in args.only.split(",")]
    try:
        for store_kind, bus_kind, count in chosen:
            name = f"{store_kind}-{bus_kind or 'none'}-{count}"
            if store_kind == "sqlite":
                store_url = str(workdir / name)
            else:
                store_url = f"{POSTGRES}?schema=cw_bench_{uuid.uuid4().hex[:12]}&workspace={workdir / name}"
            build_store(store_url)
            engine = Engine.open(store_url, create=False, log_impressions=False)
            key = engine.create_key("admin").secret
            base_events = engine.store.stats().events
            engine.close()
            console.print(f"[bold]{name}[/]: starting {count} server(s)")
            servers = Servers(store_url, BUSES[bus_kind] if bus_kind else None, count, workdir)
            try:
                load_before = os.getloadavg()[0]
                run = ingest(servers.bases, key, seconds=args.seconds, clients=args.clients, batch=args.batch, tag=name)
                load_after = os.getloadavg()[0]
                stored_s = wait_stored(store_url, base_events + run["acknowledged"], run.pop("started"))
                run["stored_events_per_s"] = round(run["acknowledged"] / stored_s, 1) if stored_s else None
                time.sleep(1.0)
                run.update(effect(servers.bases, key, samples=args.effect_samples, tag=name))
                run.update(effect_together(servers.bases, key, samples=min(args.effect_samples, PAIRS), tag=name))
            finally:
                servers.stop()
            if bus_kind:
                store = open_store(store_url, create=False)
                bus = open_bus(BUSES[bus_kind], store_id=store.store_id)
                run["bus_backlog_after"] = bus.backlog()
                bus.close()
                store.close()
            if store_kind == "postgresql":
                from cartwise.store.postgres import drop_store

                drop_store(store_url)
            results.append({"config": name, "store": store_kind, "bus": bus_kind, "processes": count,
                            "load_avg_1m": [round(load_before, 2), round(load_after, 2)], **run})
            console.print(results[-1])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    base = next((r for r in results if r["config"] == "sqlite-none-1"), None)
    for r in results:
        if base:
            r["ack_rate_vs_sqlite_1"] = round(r["ack_events_per_s"] / base["ack_events_per_s"], 2)
    table = Table("config", "ack ev/s", "stored ev/s", "ack p50 ms", "ack p99 ms", "effect p50 ms", "effect p99 ms",
                  "together p50 ms", "together p99 ms", "load 1m")
    for r in results:
        table.add_row(r["config"], str(r["ack_events_per_s"]), str(r["stored_events_per_s"]), str(r["ack_p50_ms"]),
                      str(r["ack_p99_ms"]), str(r["effect_p50_ms"]), str(r["effect_p99_ms"]), str(r["together_p50_ms"]),
                      str(r["together_p99_ms"]), str(r["load_avg_1m"]))
    console.print(table)
    path = save("bus", {"settings": vars(args), "cpus": os.cpu_count(), "results": results,
                        "note": "load generator, servers, PostgreSQL, Redis and NATS share this machine"})
    console.print(f"saved {path}")


if __name__ == "__main__":
    main()
