"""Locust user for bench/serve_latency.py: one endpoint at a fixed request rate.

Targets (queries, user ids, item ids) come from the JSON file in $CARTWISE_BENCH_TARGETS;
every response time is appended to $CARTWISE_BENCH_TIMINGS so percentiles are exact,
not Locust's rounded buckets.
"""

from __future__ import annotations

import json
import os
import random
from urllib.parse import quote

from locust import HttpUser, constant_throughput, events, task

TARGETS = json.loads(open(os.environ["CARTWISE_BENCH_TARGETS"], encoding="utf-8").read())
ENDPOINT = os.environ["CARTWISE_BENCH_ENDPOINT"]
PER_USER_RATE = float(os.environ["CARTWISE_BENCH_PER_USER_RATE"])
_timings: list[tuple[float, int]] = []


@events.request.add_listener
def _record(response_time: float, response=None, exception=None, **_kwargs: object) -> None:
    status = getattr(response, "status_code", 0) if exception is None else 0
    _timings.append((response_time, status))


@events.quitting.add_listener
def _dump(**_kwargs: object) -> None:
    with open(os.environ["CARTWISE_BENCH_TIMINGS"], "w", encoding="utf-8") as handle:
        json.dump(_timings, handle)


class Shopper(HttpUser):
    wait_time = constant_throughput(PER_USER_RATE)

    @task
    def call(self) -> None:
        rng = random
        if ENDPOINT == "search":
            self.client.get("/v1/search", params={"q": rng.choice(TARGETS["queries"]), "k": 10}, name="search")
        elif ENDPOINT == "recommend":
            user = quote(rng.choice(TARGETS["users"]), safe="")
            self.client.get(f"/v1/users/{user}/recommendations?k=10", name="recommend")
        elif ENDPOINT == "similar":
            item = quote(rng.choice(TARGETS["items"]), safe="")
            self.client.get(f"/v1/items/{item}/similar?k=10", name="similar")
        else:
            self.client.get("/v1/health", name="health")
