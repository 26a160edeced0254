"""Which API key each endpoint needs: routers declare a scope with :func:`require`.

A key travels as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. No key, or an
unknown or revoked one: 401. A key without the scope: 403, naming the scope needed.
``anonymous_reads`` (loopback serving only, enforced by `cartwise serve`) lets requests
without a key read answers; a wrong key is still refused. Keys are never logged.

FastAPI reads and parses a body before it runs any dependency, so routers that take a
key use :class:`KeyFirstRoute`: it checks the key first, and a caller without one never
gets the server to read (up to the body limit) and parse a body. The key's rate limit
(:mod:`cartwise.access.rates`) is charged there too, once per request: a client over its
limit gets 429 with ``Retry-After`` before its body is read. With several stores
(:class:`cartwise.api.stores.StoreRouter`) the key also picks the store that serves the
request (``request.state.engine``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Response, Security
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from cartwise.access import ApiKey, RateLimiter, Scope, grants
from cartwise.api.stores import StoreRouter
from cartwise.errors import Forbidden, Unauthorized

KEY_HEADER = "X-API-Key"
_HOW = f"send it as `Authorization: Bearer <key>` or `{KEY_HEADER}: <key>`"

_header_key = APIKeyHeader(name=KEY_HEADER, auto_error=False, description="an API key")
_bearer_key = HTTPBearer(auto_error=False, description="an API key as a bearer token")


@dataclass(frozen=True)
class AccessPolicy:
    """How one app checks keys; kept on `app.state.access`."""

    anonymous_reads: bool = False


def _needs(scope: Scope) -> str:
    return f"scope '{scope.value}'" + ("" if scope is Scope.ADMIN else " (or 'admin')")


def _secret(request: Request) -> str | None:
    """The key a request carries: a bearer token, else the `X-API-Key` header."""
    scheme, credentials = get_authorization_scheme_param(request.headers.get("Authorization"))
    if scheme.lower() == "bearer" and credentials:
        return credentials
    return request.headers.get(KEY_HEADER) or None


def authorize(request: Request, scope: Scope) -> ApiKey | None:
    """The key of `request` if it grants `scope` (None for an allowed anonymous read);
    Unauthorized or Forbidden otherwise."""
    secret = _secret(request)
    policy: AccessPolicy = request.app.state.access
    if not secret:
        if scope is Scope.SEARCH and policy.anonymous_reads:
            return None
        raise Unauthorized(
            f"{request.method} {request.url.path} needs an API key with {_needs(scope)}",
            hint=f"{_HOW}; create one with `cartwise keys create --scope {scope.value}`",
        )
    stores: StoreRouter = request.app.state.stores
    found = stores.verify(secret.strip())
    if found is None:
        raise Unauthorized("unknown or revoked API key", hint=f"{_HOW}; `cartwise keys list` shows the keys")
    engine, key = found
    if not grants(key.scope, scope):
        raise Forbidden(
            f"this key has scope '{key.scope.value}'; {request.method} {request.url.path} needs {_needs(scope)}",
            hint=f"use a key with {_needs(scope)}: `cartwise keys create --scope {scope.value}`",
        )
    request.state.engine = engine
    request.state.key = key
    return key


async def admit(request: Request, scope: Scope) -> ApiKey | None:
    """:func:`authorize`, then charge the key's rate limit: once per request, however
    many times its key is checked; RateLimited (429) when it is over."""
    key = authorize(request, scope)
    if key is not None and not getattr(request.state, "rate_charged", False):
        request.state.rate_charged = True
        limiter: RateLimiter = request.app.state.rates
        engine = request.state.engine
        await limiter.acheck((engine.store.store_id, key.key_id), scope=key.scope.value, own=key.rate,
                             name=key.prefix)
    return key


def require(scope: Scope) -> Any:
    """A dependency that lets a request through only with a key granting `scope`; it
    also documents the key headers in the OpenAPI schema."""

    async def check_key(
        request: Request,
        header: Annotated[str | None, Security(_header_key)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer_key)],
    ) -> ApiKey | None:
        return await admit(request, scope)

    check_key.needed_scope = scope  # type: ignore[attr-defined]  # read by KeyFirstRoute
    return Depends(check_key)


class KeyFirstRoute(APIRoute):
    """A route that checks the key its :func:`require` dependencies ask for before the
    request's body is read (the dependencies check again, at no cost worth saving)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        scopes = [s for d in self.dependencies if (s := getattr(d.dependency, "needed_scope", None)) is not None]
        if not scopes:
            return handler

        async def key_first(request: Request) -> Response:
            for scope in scopes:
                await admit(request, scope)
            return await handler(request)

        return key_first
