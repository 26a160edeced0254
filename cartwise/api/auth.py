"""Which API key each endpoint needs: routers declare a scope with :func:`require`.

A key travels as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. No key, or an
unknown or revoked one: 401. A key without the scope: 403, naming the scope needed.
``anonymous_reads`` (loopback serving only, enforced by `cartwise serve`) lets requests
without a key read answers; a wrong key is still refused. Keys are never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from cartwise.access import ApiKey, Scope, grants
from cartwise.engine import Engine
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


def require(scope: Scope) -> Any:
    """A dependency that lets a request through only with a key granting `scope`."""

    async def check_key(
        request: Request,
        header: Annotated[str | None, Security(_header_key)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer_key)],
    ) -> ApiKey | None:
        secret = (bearer.credentials if bearer else None) or header
        policy: AccessPolicy = request.app.state.access
        if not secret:
            if scope is Scope.SEARCH and policy.anonymous_reads:
                return None
            raise Unauthorized(
                f"{request.method} {request.url.path} needs an API key with {_needs(scope)}",
                hint=f"{_HOW}; create one with `cartwise keys create --scope {scope.value}`",
            )
        engine: Engine = request.app.state.engine
        key = engine.verify_key(secret.strip())
        if key is None:
            raise Unauthorized("unknown or revoked API key", hint=f"{_HOW}; `cartwise keys list` shows the keys")
        if not grants(key.scope, scope):
            raise Forbidden(
                f"this key has scope '{key.scope.value}'; {request.method} {request.url.path} needs {_needs(scope)}",
                hint=f"use a key with {_needs(scope)}: `cartwise keys create --scope {scope.value}`",
            )
        return key

    return Depends(check_key)
