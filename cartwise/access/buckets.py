"""Where a server keeps its rate-limit buckets, chosen by URL: none given, in the process;
``redis://``, in a Redis shared by every process (:mod:`cartwise.access.redis_rates`)."""

from __future__ import annotations

from cartwise.access.rates import Buckets, TokenBuckets


def open_buckets(url: str | None) -> Buckets:
    """Buckets in this process (`url` None), or in the Redis a ``redis://`` URL names."""
    if url is None:
        return TokenBuckets()
    from cartwise.access.redis_rates import (
        RedisTokenBuckets,  # only servers that ask for Redis load it
    )

    return RedisTokenBuckets(url)


__all__ = ["open_buckets"]
