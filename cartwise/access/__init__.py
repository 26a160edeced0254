"""Access to the HTTP API: API keys with scopes."""

from cartwise.access.keys import ApiKey, KeyRing, NewKey, Scope, grants, hash_secret
from cartwise.access.rates import Rate, RateLimited, RateLimiter

__all__ = ["ApiKey", "KeyRing", "NewKey", "Rate", "RateLimited", "RateLimiter", "Scope", "grants", "hash_secret"]
