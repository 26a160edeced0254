"""Latency of a running Cartwise server at a fixed request rate, measured with wrk or Locust.

Starts `cartwise serve` on a trained store, then drives each endpoint in turn at
--rate requests/s for --seconds with a load generator in a separate process (`wrk`,
paced by bench/paced.lua, default; or Locust with --driver locust), and reports
p50/p90/p99. wrk is written in C and adds far less client-side time than Locust.
Baseline in the same run: /v1/health, which does no search or model work — the floor of
the HTTP stack on this machine. Build a store first, e.g.
    cartwise demo --data ../shared/data/online_retail/online_retail.csv.gz --store /tmp/cw --no-serve
then:  .venv/bin/python bench/serve_latency.py --store /tmp/cw
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from bench.common import save
from cartwise.store import open_store

ENDPOINTS = ["health", "search", "recommend", "similar"]
CHOICES = [*ENDPOINTS, "search-lexical", "search-semantic"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def targets(store_path: Path | str, *, seed: int = 0) -> dict[str, list[str]]:
    """Realistic requests: title fragments as queries, active users, sold items."""
    rng = random.Random(seed)
    store = open_store(store_path, create=False)
    items = store.items()
    events = store.events()
    titles = items["title"].to_list()
    queries = []
    for title in rng.sample(titles, min(500, len(titles))):
        words = title.lower().split()
        queries.append(" ".join(rng.sample(words, min(len(words), rng.randint(1, 3)))))
    users = events["user_id"].unique().sort().to_list()
    sold = events.group_by("item_id").len().filter(pl.col("len") >= 1)["item_id"].to_list()
    return {
        "queries": queries,
        "users": rng.sample(users, min(1000, len(users))) + [f"new-visitor-{i}" for i in range(50)],
        "items": rng.sample(sold, min(1000, len(sold))),
    }


def wait_until_up(url: str, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"server did not come up at {url}")


def paths_for(endpoint: str, targets: dict[str, list[str]]) -> list[str]:
    if endpoint == "search":
        return [f"/v1/search?k=10&q={quote(q)}" for q in targets["queries"]]
    if endpoint.startswith("search-"):
        mode = endpoint.split("-", 1)[1]
        return [f"/v1/search?k=10&mode={mode}&q={quote(q)}" for q in targets["queries"]]
    if endpoint == "recommend":
        return [f"/v1/users/{quote(u, safe='')}/recommendations?k=10" for u in targets["users"]]
    if endpoint == "similar":
        return [f"/v1/items/{quote(i, safe='')}/similar?k=10" for i in targets["items"]]
    return ["/v1/health"]


def drive_wrk(endpoint: str, host: str, rate: float, seconds: int, workdir: Path, targets: dict[str, list[str]]) -> dict:
    connections = max(1, int(rate // 10))
    paths_file = workdir / f"{endpoint}.paths"
    paths_file.write_text("\n".join(paths_for(endpoint, targets)) + "\n")
    env = {**os.environ, "CARTWISE_PATHS": str(paths_file), "CARTWISE_DELAY_MS": str(int(1000 * connections / rate))}
    result = subprocess.run(
        ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "-s",
         str(Path(__file__).with_name("paced.lua")), host],
        env=env, capture_output=True, text=True, check=True,
    )
    line = next(l for l in result.stdout.splitlines() if l.startswith("RESULT "))
    requests, errors, p50, p90, p99, top = line.split()[1:]
    return {
        "requests": int(requests),
        "errors": int(errors),
        "achieved_rps": round(int(requests) / seconds, 1),
        "p50_ms": float(p50),
        "p90_ms": float(p90),
        "p99_ms": float(p99),
        "max_ms": float(top),
    }


def drive(endpoint: str, host: str, rate: float, seconds: int, workdir: Path, targets_file: Path) -> list[float]:
    users = max(1, int(rate // 5))
    timings_file = workdir / f"{endpoint}.json"
    env = {
        **os.environ,
        "CARTWISE_BENCH_TARGETS": str(targets_file),
        "CARTWISE_BENCH_ENDPOINT": endpoint,
        "CARTWISE_BENCH_PER_USER_RATE": str(rate / users),
        "CARTWISE_BENCH_TIMINGS": str(timings_file),
    }
    subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(Path(__file__).with_name("locustfile.py")), "--headless",
         "-u", str(users), "-r", str(users), "--run-time", f"{seconds}s", "--host", host, "--only-summary",
         "--loglevel", "WARNING", "--stop-timeout", "5"],
        env=env,
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    data = json.loads(timings_file.read_text())
    bad = [status for _, status in data if status != 200]
    if bad:
        print(f"warning: {endpoint}: {len(bad)} non-200 responses, e.g. {bad[:5]}", file=sys.stderr)
    return [ms for ms, _ in data]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="a trained store (directory or store URL)")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second per endpoint")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--driver", choices=["wrk", "locust"], default="wrk")
    parser.add_argument(
        "--endpoints", default=",".join(ENDPOINTS),
        help=f"comma-separated, from {', '.join(CHOICES)} (search = the default hybrid mode)",
    )
    parser.add_argument("--name", default="serve_latency", help="results file name under bench/results/")
    args = parser.parse_args()
    endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    unknown = sorted(set(endpoints) - set(CHOICES))
    if unknown:
        parser.error(f"unknown endpoints {unknown}; choose from {CHOICES}")
    if "health" not in endpoints:
        endpoints.insert(0, "health")
    console = Console()
    port = free_port()
    host = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        # Reads only, on loopback: measured without keys (a key check is one dictionary lookup).
        [sys.executable, "-m", "cartwise.cli.main", "serve", "--store", str(args.store), "--port", str(port),
         "--allow-anonymous-reads"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Spinning OpenMP threads (torch, the e5 engine) inflate latency on shared cores.
        env={**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")},
    )
    rows = {}
    try:
        wait_until_up(f"{host}/v1/health")
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            chosen = targets(args.store)
            targets_file = workdir / "targets.json"
            targets_file.write_text(json.dumps(chosen))
            for endpoint in endpoints:
                if args.driver == "wrk":
                    rows[endpoint] = drive_wrk(endpoint, host, args.rate, args.seconds, workdir, chosen)
                    continue
                timings = np.array(drive(endpoint, host, args.rate, args.seconds, workdir, targets_file))
                rows[endpoint] = {
                    "requests": int(timings.size),
                    "achieved_rps": round(timings.size / args.seconds, 1),
                    "p50_ms": round(float(np.percentile(timings, 50)), 2),
                    "p90_ms": round(float(np.percentile(timings, 90)), 2),
                    "p99_ms": round(float(np.percentile(timings, 99)), 2),
                    "max_ms": round(float(timings.max()), 2),
                }
    finally:
        server.terminate()
        server.wait(timeout=10)
    floor = rows["health"]["p99_ms"]
    table = Table(title=f"latency at {args.rate:g} req/s per endpoint, {args.seconds} s each ({args.driver})")
    for column in ["endpoint", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "p99 / health p99"]:
        table.add_column(column, justify="right")
    for endpoint, row in rows.items():
        row["p99_vs_health"] = round(row["p99_ms"] / floor, 2) if floor else None
        table.add_row(endpoint, str(row["requests"]), str(row["achieved_rps"]), str(row["p50_ms"]),
                      str(row["p90_ms"]), str(row["p99_ms"]), str(row["max_ms"]), str(row["p99_vs_health"]))
    console.print(table)
    result = {"store": str(args.store), "rate": args.rate, "driver": args.driver, "endpoints": rows}
    console.print(f"saved {save(args.name, result)}")


if __name__ == "__main__":
    main()
