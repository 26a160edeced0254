"""Rate-limit buckets shared in Redis: several processes (here: several limiters, each
with its own connection) spend one bucket per key. Skipped without a Redis server."""

from __future__ import annotations

import os
import uuid

import pytest
import redis
from fastapi.testclient import TestClient

from cartwise.access import Rate, RateLimited, RateLimiter, Scope
from cartwise.access.redis_rates import RedisTokenBuckets
from cartwise.api import create_app
from cartwise.errors import StoreError

REDIS = os.environ.get("CARTWISE_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture
def prefix():
    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis answered at {REDIS} ($CARTWISE_TEST_REDIS)")
    name = f"cartwise-test:{uuid.uuid4().hex}:"
    yield name
    client = redis.Redis.from_url(REDIS)
    for key in client.scan_iter(f"{name}*"):
        client.delete(key)


def test_processes_sharing_redis_spend_one_bucket_per_key(prefix):
    nodes = [RateLimiter(buckets=RedisTokenBuckets(REDIS, prefix=prefix)) for _ in range(3)]
    rate = Rate.parse("1/min", burst=4)
    for node in (*nodes, nodes[0]):  # four requests spread over three processes: the burst
        node.check(("store", 1), scope="search", own=rate, name="cw_search_aaaa")
    for node in nodes:  # the fifth is refused wherever it arrives, with about a minute to wait
        with pytest.raises(RateLimited) as caught:
            node.check(("store", 1), scope="search", own=rate, name="cw_search_aaaa")
        assert 55 < caught.value.retry_after_s <= 60
    nodes[1].check(("store", 2), scope="search", own=rate, name="cw_search_bbbb")  # another key: its own bucket
    nodes[1].check(("other-store", 1), scope="search", own=rate, name="cw_search_cccc")  # another store's key 1
    assert redis.Redis.from_url(REDIS).pttl(f"{prefix}store:1") > 0  # buckets expire once full again


def test_two_servers_with_a_shared_rate_store_limit_a_key_together(engine, prefix):
    # The default prefix: buckets are named by store id (new for every test session) and key id.
    client = redis.Redis.from_url(REDIS)
    for key in client.scan_iter(f"cartwise:rate:{engine.store.store_id}:*"):
        client.delete(key)
    secret = engine.create_key(Scope.SEARCH, rate=Rate.parse("1/min", burst=2)).secret
    one = TestClient(create_app(engine, rate_store=REDIS))
    two = TestClient(create_app(engine, rate_store=REDIS))
    headers = {"X-API-Key": secret}
    assert one.get("/v1/search", params={"q": "tea"}, headers=headers).status_code == 200
    assert two.get("/v1/search", params={"q": "tea"}, headers=headers).status_code == 200
    refused = one.get("/v1/search", params={"q": "tea"}, headers=headers)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 55
    assert two.get("/v1/search", params={"q": "tea"}, headers=headers).status_code == 429


def test_an_unreachable_redis_is_refused_at_start_and_falls_back_to_local_buckets_later():
    with pytest.raises(StoreError, match="does not answer"):
        RedisTokenBuckets("redis://127.0.0.1:1/0")
    with pytest.raises(StoreError, match="not a Redis URL"):
        RedisTokenBuckets("http://127.0.0.1:6379")
    gone = RedisTokenBuckets("redis://127.0.0.1:1/0", verify=False)
    rate = Rate(1.0, 2)
    assert [gone.take("k", rate) for _ in range(3)][:2] == [0.0, 0.0]
    assert gone.take("k", rate) > 0 and gone.fallbacks == 4  # still limited, by this process alone
