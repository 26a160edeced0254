"""Large batches over HTTP: a file upload (POST /v1/ingest/events) against the same events
as JSON batches (POST /v1/events, 10,000 a request), each into a fresh store behind a
fresh `cartwise serve` process. Reports the server's peak resident memory above its
idle size (VmHWM - VmRSS before), the wall time and events per second.

    python bench/uploads.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import save  # noqa: E402
from cartwise import Engine  # noqa: E402

BATCH = 10_000
T0 = 1_700_000_000


def _rows(n: int) -> list[tuple[str, str, str, int]]:
    kinds = ("view", "view", "view", "click", "add_to_cart", "purchase")
    return [(f"u{i % 50_000}", f"i{(i * 7919) % 20_000}", kinds[i % len(kinds)], T0 + i) for i in range(n)]


def _memory(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(store: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    engine = Engine.open(store, log_impressions=False)
    engine.upsert_items([{"item_id": f"i{n}", "title": f"Item {n}"} for n in range(20_000)])
    secret = engine.create_key("admin").secret
    engine.close()
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "cartwise.cli.main", "serve", "--store", str(store), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                return server, url, secret
        except httpx.HTTPError:
            time.sleep(0.3)
    server.kill()
    raise RuntimeError("the server did not start")


def _run(kind: str, rows: list[tuple[str, str, str, int]], csv_path: Path, work: Path) -> dict[str, Any]:
    server, url, secret = _serve(work / kind)
    headers = {"Authorization": f"Bearer {secret}"}
    try:
        time.sleep(1)
        idle = _memory(server.pid)["VmRSS"]
        started = time.perf_counter()
        with httpx.Client(base_url=url, headers=headers, timeout=600) as client:
            if kind == "upload":
                with csv_path.open("rb") as body:
                    response = client.post("/v1/ingest/events", content=body, params={"format": "csv"},
                                           headers={"Content-Type": "text/csv"})
                response.raise_for_status()
                written = response.json()["written"]
            else:
                written = 0
                for start in range(0, len(rows), BATCH):
                    events = [{"user_id": u, "item_id": i, "event_type": k, "timestamp": t}
                              for u, i, k, t in rows[start:start + BATCH]]
                    response = client.post("/v1/events", json={"events": events})
                    response.raise_for_status()
                    written += response.json()["written"]
        took = time.perf_counter() - started
        peak = _memory(server.pid)["VmHWM"]
    finally:
        server.terminate()
        server.wait(30)
    return {"how": kind, "events_written": written, "seconds": round(took, 2),
            "events_per_s": round(written / took), "idle_rss_mb": round(idle, 1),
            "peak_rss_mb": round(peak, 1), "peak_above_idle_mb": round(peak - idle, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    work = Path(tempfile.mkdtemp(prefix="cartwise-uploads-"))
    rows = _rows(args.events)
    csv_path = work / "events.csv"
    with csv_path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["user_id", "item_id", "event_type", "timestamp"])
        writer.writerows(rows)
    size_mb = csv_path.stat().st_size / 2**20
    json_mb = sum(len(json.dumps({"events": [{"user_id": u, "item_id": i, "event_type": k, "timestamp": t}
                                             for u, i, k, t in rows[s:s + BATCH]]}))
                  for s in range(0, len(rows), BATCH)) / 2**20
    results = [_run("upload", rows, csv_path, work), _run("json-batches", rows, csv_path, work)]
    for r in results:
        print(f"{r['how']:13s} {r['events_written']:>9,} events  {r['seconds']:7.1f} s  {r['events_per_s']:>7,}/s  "
              f"peak RSS +{r['peak_above_idle_mb']:.0f} MB above idle {r['idle_rss_mb']:.0f} MB")
    ratio = results[1]["seconds"] / results[0]["seconds"]
    print(f"CSV {size_mb:.0f} MB; the same as JSON {json_mb:.0f} MB in {len(rows) // BATCH} requests; "
          f"the upload is {ratio:.2f}x as fast")
    saved = save("uploads", {"events": args.events, "csv_mb": round(size_mb, 1), "json_mb": round(json_mb, 1),
                             "runs": results})
    print(f"saved {saved}")


if __name__ == "__main__":
    main()
