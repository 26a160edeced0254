"""Rate limits: parsing, and token buckets driven by a fake clock (no sleeping)."""

from __future__ import annotations

import pytest

from cartwise.access import Rate, RateLimited, RateLimiter
from cartwise.access.rates import TokenBuckets
from cartwise.errors import ValidationError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("text", "per_s", "burst"), [
    ("50/s", 50.0, 50), ("50", 50.0, 50), ("600/min", 10.0, 10), ("3600/h", 1.0, 1), ("30/m", 0.5, 1),
    (" 2.5 / s ", 2.5, 3),
])
def test_rates_parse_with_a_burst_of_one_second(text, per_s, burst):
    rate = Rate.parse(text)
    assert (rate.per_s, rate.burst) == (pytest.approx(per_s), burst)
    assert Rate.parse(text, burst=7).burst == 7


@pytest.mark.parametrize("text", ["", "fast", "10/fortnight", "0/s", "-5/s", "nan", "inf/s", "5e9/s"])
def test_bad_rates_are_refused_with_a_hint(text):
    with pytest.raises(ValidationError) as caught:
        Rate.parse(text)
    assert caught.value.field == "rate" and "50/s" in (caught.value.hint or "")


@pytest.mark.parametrize("burst", [0, -1, 2.5, True])
def test_bad_bursts_are_refused(burst):
    with pytest.raises(ValidationError) as caught:
        Rate(10.0, burst)
    assert caught.value.field == "burst"


def test_scoped_rates_parse():
    assert Rate.parse_scoped("search=50/s:100") == ("search", Rate(50.0, 100))
    assert Rate.parse_scoped("events=10/s") == ("events", Rate(10.0, 10))
    for bad in ("search", "=5/s", "search=", "search=5/s:x"):
        with pytest.raises(ValidationError):
            Rate.parse_scoped(bad)


def test_a_bucket_lets_a_burst_through_then_refills_at_the_rate():
    clock = FakeClock()
    buckets = TokenBuckets(clock=clock)
    rate = Rate(2.0, 5)
    assert [buckets.take("k", rate) for _ in range(5)] == [0.0] * 5
    assert buckets.take("k", rate) == pytest.approx(0.5)  # one token comes in 1/2 s
    clock.now += 0.25
    assert buckets.take("k", rate) == pytest.approx(0.25)  # half a token so far: nothing taken
    clock.now += 0.25
    assert buckets.take("k", rate) == 0.0
    assert buckets.take("k", rate) > 0
    clock.now += 100.0  # a long quiet spell fills the bucket to the burst, no further
    assert [buckets.take("k", rate) for _ in range(6)].count(0.0) == 5


def test_buckets_are_per_key_and_sustain_the_rate():
    clock = FakeClock()
    buckets = TokenBuckets(clock=clock)
    rate = Rate(8.0, 1)
    assert buckets.take("a", rate) == 0.0 and buckets.take("b", rate) == 0.0
    allowed = 0
    for _ in range(1280):  # 10 s of a client trying every 1/128 s (exact in binary): 80 get through
        clock.now += 1 / 128
        allowed += buckets.take("a", rate) == 0.0
    assert allowed == 80


def test_the_limiter_uses_the_keys_own_rate_else_its_scopes_default():
    clock = FakeClock()
    limiter = RateLimiter(defaults={"search": Rate(1.0, 2)}, clock=clock)
    for _ in range(2):
        limiter.check("s", scope="search", own=None, name="cw_search_aaaa")
    with pytest.raises(RateLimited) as caught:
        limiter.check("s", scope="search", own=None, name="cw_search_aaaa")
    assert caught.value.http_status == 429 and caught.value.retry_after_s == pytest.approx(1.0)
    assert "cw_search_aaaa" in caught.value.message and "1 requests/s (burst 2)" in caught.value.message
    assert "default for search keys" in caught.value.message
    for _ in range(50):  # its own, higher rate wins over the scope's default
        limiter.check("own", scope="search", own=Rate(100.0, 50), name="cw_search_bbbb")
    for _ in range(500):  # events keys have no default: no limit
        limiter.check("e", scope="events", own=None, name="cw_events_cccc")
