"""Rate limits per API key: a token bucket per key, checked before a request is served.

A :class:`Rate` is a sustained number of requests per second and a burst (how many may
come at once after a quiet spell). A key carries its own rate (``cartwise keys create
--rate 50/s --burst 100``, stored with the key so every node applies the same one), else
the server's default for its scope, else none. The buckets live in the serving process:
with several processes each enforces the rate on the requests it sees, so N processes
behind a balancer let through up to N times the rate, unless they share buckets in Redis
(:mod:`cartwise.access.redis_rates`, ``cartwise serve --rate-store redis://...``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Protocol

import anyio.to_thread

from cartwise.errors import CartwiseError, ValidationError

# Beyond this a limit is no limit; it also keeps a typo (5e9/s) from passing unnoticed.
MAX_RATE_PER_S = 1_000_000.0
_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0, "h": 3600.0, "hour": 3600.0}
_HOW = "e.g. 50/s, 600/min or 1000/h, with --burst at least 1"


class RateLimited(CartwiseError):
    """A request over its key's rate limit; answered 429 with ``Retry-After``."""

    http_status = 429

    def __init__(self, message: str, *, retry_after_s: float, hint: str | None = None) -> None:
        super().__init__(message, field="rate", hint=hint)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Rate:
    """Requests per second sustained, and the burst a full bucket allows."""

    per_s: float
    burst: int

    def __post_init__(self) -> None:
        if not (isinstance(self.per_s, int | float) and math.isfinite(self.per_s) and 0 < self.per_s <= MAX_RATE_PER_S):
            raise ValidationError(f"a rate must be above 0 and at most {MAX_RATE_PER_S:,.0f} requests/s, "
                                  f"not {self.per_s!r}", field="rate", hint=_HOW)
        if isinstance(self.burst, bool) or not isinstance(self.burst, int) or not 1 <= self.burst <= MAX_RATE_PER_S:
            raise ValidationError(f"a burst must be a whole number of requests from 1 to {MAX_RATE_PER_S:,.0f}, "
                                  f"not {self.burst!r}", field="burst", hint=_HOW)

    @classmethod
    def parse(cls, rate: str, *, burst: int | None = None) -> Rate:
        """``"50/s"`` (also ``/min``, ``/h``; a bare number is per second); the burst
        defaults to one second's worth of requests (at least 1)."""
        text = rate.strip().lower()
        number, _, unit = text.partition("/")
        seconds = _UNITS.get(unit.strip() or "s")
        try:
            count = float(number)
        except ValueError:
            count = math.nan
        if seconds is None or not math.isfinite(count):
            raise ValidationError(f"{rate!r} is not a rate", field="rate", hint=_HOW)
        per_s = count / seconds
        return cls(per_s, burst if burst is not None else max(1, math.ceil(per_s)))

    @classmethod
    def parse_scoped(cls, text: str) -> tuple[str, Rate]:
        """``scope=RATE[:BURST]``, as `cartwise serve --scope-rate` takes it."""
        scope, sep, rest = text.partition("=")
        rate, _, burst = rest.partition(":")
        if not sep or not scope.strip() or not rate.strip():
            raise ValidationError(f"{text!r} is not SCOPE=RATE[:BURST]", field="scope_rate",
                                  hint="e.g. search=50/s:100")
        try:
            parsed_burst = int(burst) if burst.strip() else None
        except ValueError:
            raise ValidationError(f"the burst in {text!r} is not a whole number", field="burst", hint=_HOW) from None
        return scope.strip(), cls.parse(rate, burst=parsed_burst)

    def __str__(self) -> str:
        per_s = f"{self.per_s:g}" if self.per_s >= 1 else f"{self.per_s * 60:g}/min = {self.per_s:.3g}"
        return f"{per_s} requests/s (burst {self.burst})"


class TokenBuckets:
    """One token bucket per key: it holds up to `burst` tokens, refills at `per_s` a
    second, and each request takes one. `clock` (seconds, monotonic) is injectable so
    tests need not sleep."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (tokens, when they were counted)
        self._buckets: dict[Hashable, tuple[float, float]] = {}

    def take(self, key: Hashable, rate: Rate) -> float:
        """Take a token for `key`: 0.0 when one was there, else the seconds until one
        will be (nothing is taken then)."""
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.get(key, (float(rate.burst), now))
            tokens = min(float(rate.burst), tokens + max(0.0, now - then) * rate.per_s)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / rate.per_s


class Buckets(Protocol):
    """Where token buckets live: this process (:class:`TokenBuckets`) or a shared Redis
    (:class:`cartwise.access.redis_rates.RedisTokenBuckets`)."""

    def take(self, key: Hashable, rate: Rate) -> float: ...


class RateLimiter:
    """Which rate applies to a key (its own, else its scope's default) and whether a
    request may go now; raises :class:`RateLimited` when not."""

    def __init__(self, *, defaults: Mapping[str, Rate] | None = None,
                 clock: Callable[[], float] = time.monotonic, buckets: Buckets | None = None) -> None:
        self.defaults = dict(defaults or {})
        self._buckets = buckets if buckets is not None else TokenBuckets(clock=clock)

    def rate_for(self, scope: str, own: Rate | None) -> Rate | None:
        return own if own is not None else self.defaults.get(scope)

    def check(self, bucket: Hashable, *, scope: str, own: Rate | None, name: str) -> None:
        """Charge one request of the key `name` (its prefix) to `bucket`."""
        rate = self.rate_for(scope, own)
        if rate is not None:
            self._verdict(self._buckets.take(bucket, rate), rate, scope=scope, own=own, name=name)

    async def acheck(self, bucket: Hashable, *, scope: str, own: Rate | None, name: str) -> None:
        """:meth:`check` for the event loop: buckets that wait on the network (Redis) are
        asked from a worker thread, so a slow answer does not hold up other requests."""
        rate = self.rate_for(scope, own)
        if rate is None:
            return
        if getattr(self._buckets, "remote", False):
            wait = await anyio.to_thread.run_sync(self._buckets.take, bucket, rate)
        else:
            wait = self._buckets.take(bucket, rate)
        self._verdict(wait, rate, scope=scope, own=own, name=name)

    def _verdict(self, wait: float, rate: Rate, *, scope: str, own: Rate | None, name: str) -> None:
        if wait > 0:
            whose = "its own limit" if own is not None else f"the default for {scope} keys"
            raise RateLimited(
                f"key {name} is over its rate limit of {rate} ({whose}); retry in {wait:.2f} s",
                retry_after_s=wait,
                hint="slow down, or give this client a key with a higher limit: "
                     "`cartwise keys limit PREFIX --rate N/s --burst M`",
            )


__all__ = ["MAX_RATE_PER_S", "Buckets", "Rate", "RateLimited", "RateLimiter", "TokenBuckets"]
