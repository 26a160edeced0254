"""Helpers shared by the benchmark scripts: where data lives, how results are saved."""

from __future__ import annotations

import json
import os
import platform
import resource
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("CARTWISE_DATA", ROOT.parent / "shared" / "data"))
RETAIL = SHARED_DATA / "online_retail" / "online_retail.csv.gz"
RESULTS = ROOT / "bench" / "results"


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def save(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **result}, indent=2, default=str))
    return path


def serve_app(app: Any) -> tuple[Any, str]:
    """Serve an ASGI `app` with uvicorn in a daemon thread of this process, on a free
    loopback port, as `cartwise serve` runs it; returns (server, base url). Set
    `server.should_exit = True` to stop it."""
    import socket
    import threading

    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def paired_purchases(pairs: int, *, start: int = 1_700_000_000, shoppers: int = 5) -> list[dict[str, Any]]:
    """Items p0..p(2*pairs-1) in pairs (p0 with p1, p2 with p3, ...), each pair bought
    together by `shoppers` shoppers of its own: the planted co-purchases the latency
    benchmarks change and time."""
    events: list[dict[str, Any]] = []
    for i in range(pairs):
        for u in range(shoppers):
            user = f"seed-{i}-{u}"
            events += [{"user_id": user, "item_id": f"p{2 * i}", "event_type": "purchase", "timestamp": start + u},
                       {"user_id": user, "item_id": f"p{2 * i + 1}", "event_type": "purchase",
                        "timestamp": start + u + 1}]
    return events
