"""Access to the HTTP API: API keys with scopes."""

from cartwise.access.keys import ApiKey, KeyRing, NewKey, Scope, grants, hash_secret

__all__ = ["ApiKey", "KeyRing", "NewKey", "Scope", "grants", "hash_secret"]
