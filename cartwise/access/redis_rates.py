"""Token buckets kept in Redis, shared by every process that serves one store.

With in-process buckets (:class:`cartwise.access.rates.TokenBuckets`) N processes let a
key through at up to N times its rate; these buckets live in Redis, so the limit holds
across processes and hosts. One Lua script reads, refills and takes a token atomically,
on Redis' own clock (so hosts' clocks may differ). Each request costs one round trip to
Redis. When Redis does not answer, the process falls back to its own buckets (each
process then enforces the rate on its own share again) and logs a warning at most every
10 s, rather than refusing every request or letting every request through.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable

import redis

from cartwise.access.rates import Rate, TokenBuckets
from cartwise.errors import StoreError

log = logging.getLogger(__name__)

# KEYS[1]: the bucket; ARGV: rate per second, burst. Returns the wait in seconds as text
# (Lua numbers come back from Redis as integers).
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""
_WARN_EVERY_S = 10.0


class RedisTokenBuckets:
    """Token buckets in the Redis at `url` (``redis://host:6379/0``), under `prefix`."""

    # Asked over the network: the server calls `take` from a worker thread.
    remote = True

    def __init__(self, url: str, *, prefix: str = "cartwise:rate:", timeout_s: float = 0.25,
                 verify: bool = True) -> None:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise StoreError(f"{url!r} is not a Redis URL", hint="e.g. redis://127.0.0.1:6379/0")
        self.prefix = prefix
        self._redis = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._take = self._redis.register_script(_TAKE)
        self._fallback = TokenBuckets()
        self._warned_at = float("-inf")
        self.fallbacks = 0
        if verify:
            try:
                self._redis.ping()
            except redis.RedisError as exc:
                raise StoreError(f"the rate-limit Redis at {_where(url)} does not answer: {exc}",
                                 hint="start it, or leave out --rate-store to keep buckets in each process") from exc

    def take(self, key: Hashable, rate: Rate) -> float:
        try:
            return float(self._take(keys=[f"{self.prefix}{_name(key)}"], args=[rate.per_s, rate.burst]))
        except redis.RedisError as exc:
            self.fallbacks += 1
            if time.monotonic() - self._warned_at >= _WARN_EVERY_S:
                self._warned_at = time.monotonic()
                log.warning("rate-limit Redis unavailable (%s); this process limits keys on its own meanwhile",
                            type(exc).__name__)
            return self._fallback.take(key, rate)

    def close(self) -> None:
        self._redis.close()


def _name(key: Hashable) -> str:
    return ":".join(str(part) for part in key) if isinstance(key, tuple) else str(key)


def _where(url: str) -> str:
    """The URL without a password."""
    head, at, tail = url.rpartition("@")
    return f"{head.split('//')[0]}//***@{tail}" if at else url


__all__ = ["RedisTokenBuckets"]
