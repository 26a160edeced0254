"""`cartwise keys`: create, list and revoke the API keys of a store.

A key's secret is printed once, when it is created; the store keeps only its hash.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from cartwise.access import ApiKey, NewKey, Rate, Scope
from cartwise.access.audit import AuditAction, cli_actor
from cartwise.cli.output import console, err
from cartwise.engine import DEFAULT_STORE, Engine
from cartwise.errors import StoreError, ValidationError

keys_app = typer.Typer(help="API keys for the HTTP API: create, list, revoke.", no_args_is_help=True)

StoreOption = Annotated[
    str,
    typer.Option("--store", "-s", envvar="CARTWISE_STORE", help="store directory or URL (sqlite:///DIR)",
                 show_default=True),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON for machines instead of a table")]
DEMO_KEY_NAMES = {Scope.SEARCH: "demo search", Scope.EVENTS: "demo events", Scope.ADMIN: "demo admin"}


def _when(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ms else "-"


def _as_dict(key: ApiKey) -> dict[str, object]:
    return {"key_id": key.key_id, "prefix": key.prefix, "scope": key.scope.value, "name": key.name,
            "created": _when(key.created_ms), "revoked": _when(key.revoked_ms) if key.revoked_ms else None,
            "rate_per_s": key.rate.per_s if key.rate else None, "burst": key.rate.burst if key.rate else None}


RateOption = Annotated[
    str | None,
    typer.Option(help="this key's rate limit over HTTP, e.g. 50/s, 600/min (default: the server's --scope-rate "
                      "for its scope, else none)"),
]
BurstOption = Annotated[
    int | None, typer.Option(min=1, help="requests it may send at once after a quiet spell (default: one second's worth)")
]


def _rate(rate: str | None, burst: int | None) -> Rate | None:
    if rate is None:
        if burst is not None:
            raise ValidationError("--burst needs --rate", field="burst", hint="e.g. --rate 50/s --burst 100")
        return None
    return Rate.parse(rate, burst=burst)


@keys_app.command("create")
def create(
    scope: Annotated[str, typer.Option(help="search (read answers; fine in browser code), events (write events) "
                                            "or admin (everything)")],
    store: StoreOption = DEFAULT_STORE,
    name: Annotated[str | None, typer.Option(help="a label to recognise the key by, e.g. storefront")] = None,
    rate: RateOption = None,
    burst: BurstOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a key and print its secret: the only time it is shown."""
    wanted = Scope.parse(scope)
    limit = _rate(rate, burst)
    try:
        engine = Engine.open(store, create=False)
    except StoreError:
        # Keys may come before the catalog (it can be sent over HTTP with an admin key), but
        # a mistyped --store must not pass unnoticed: say that a new store was made.
        engine = Engine.open(store, create=True)
        err.print(f"note: there was no store at {store}; created an empty one for this key "
                  "(pass --store or set CARTWISE_STORE if you meant another)", markup=False)
    new = engine.create_key(wanted, name=name, rate=limit)
    engine.audit.record(AuditAction.KEYS_CREATE, actor=cli_actor(), target=new.key.prefix,
                        detail=f"scope {wanted.value}" + (f", {limit}" if limit else ""))
    if as_json:
        console.print_json(json.dumps({"secret": new.secret, **_as_dict(new.key)}))
        return
    console.print(new.secret, markup=False, soft_wrap=True)
    err.print(f"created {new.key.scope.value} key {new.key.prefix}; store the secret above now, it is not shown "
              "again. Send it as `Authorization: Bearer <key>` or `X-API-Key: <key>`.", markup=False)


@keys_app.command("list")
def list_keys(store: StoreOption = DEFAULT_STORE, as_json: JsonOption = False) -> None:
    """Every key of the store with its prefix, scope, name and dates (never the secret)."""
    keys = Engine.open(store, create=False).list_keys()
    if as_json:
        console.print_json(json.dumps([_as_dict(k) for k in keys]))
        return
    table = Table(title=f"API keys of {store}")
    for column in ("id", "prefix", "scope", "name", "rate", "created", "revoked"):
        table.add_column(column)
    for key in keys:
        table.add_row(str(key.key_id), key.prefix, key.scope.value, key.name or "", str(key.rate) if key.rate else "",
                      _when(key.created_ms), _when(key.revoked_ms) if key.revoked_ms else "")
    console.print(table)
    if not keys:
        console.print("no keys yet: create one with `cartwise keys create --scope admin`", markup=False)


@keys_app.command("revoke")
def revoke(
    key: Annotated[str, typer.Argument(help="the key's prefix or id (see `cartwise keys list`)")],
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Revoke a key: a running server refuses it within a second."""
    engine = Engine.open(store, create=False)
    revoked = engine.revoke_key(key)
    engine.audit.record(AuditAction.KEYS_REVOKE, actor=cli_actor(), target=revoked.prefix)
    err.print(f"revoked {revoked.scope.value} key {revoked.prefix}", markup=False)


@keys_app.command("limit")
def limit(
    key: Annotated[str, typer.Argument(help="the key's prefix or id (see `cartwise keys list`)")],
    rate: RateOption = None,
    burst: BurstOption = None,
    default: Annotated[bool, typer.Option("--default", help="drop the key's own limit: its scope's default applies")]
    = False,
    store: StoreOption = DEFAULT_STORE,
) -> None:
    """Change a key's rate limit; running servers apply it within a second."""
    if default == (rate is not None):
        raise ValidationError("pass either --rate (with --burst if you like) or --default", field="rate",
                              hint="e.g. cartwise keys limit cw_search_abcd1234 --rate 50/s --burst 100")
    wanted = None if default else _rate(rate, burst)
    engine = Engine.open(store, create=False)
    changed = engine.keys.set_rate(key, wanted)
    engine.audit.record(AuditAction.KEYS_LIMIT, actor=cli_actor(), target=changed.prefix,
                        detail=str(wanted) if wanted else "the scope's default")
    err.print(f"{changed.prefix}: {wanted if wanted else 'its scope default rate limit'}", markup=False)


def _loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_serving(
    engine: Engine,
    host: str,
    *,
    anonymous_reads: bool,
    page_key: str | None,
    page_events_key: str | None = None,
    metrics_open: bool = False,
    notice: Callable[[str], object] | None = None,
) -> None:
    """Refuse unsafe `serve` options, and say how to make a key when the store has none
    (through `notice`: a log call when logs are JSON; printed otherwise)."""
    if metrics_open and not _loopback(host):
        raise ValidationError(
            f"--metrics-open is only accepted when serving on a loopback address, not on {host}",
            field="metrics_open",
            hint="scrape /metrics with an admin key instead (Prometheus: `authorization: {credentials_file: ...}`)",
        )
    if anonymous_reads and not _loopback(host):
        raise ValidationError(
            f"--allow-anonymous-reads is only accepted when serving on a loopback address, not on {host}",
            field="allow_anonymous_reads",
            hint="serve on 127.0.0.1, or give the storefront a search key: `cartwise keys create --scope search`",
        )
    if page_key is not None:
        key = engine.verify_key(page_key)
        if key is None:
            raise ValidationError("--page-key is not an active key of this store", field="page_key",
                                  hint="`cartwise keys list` shows the keys; create one with "
                                  "`cartwise keys create --scope search`")
        if key.scope is not Scope.SEARCH:
            raise ValidationError(
                f"--page-key must be a search key, not {key.scope.value}: the demo page hands it to every browser",
                field="page_key", hint="create one with `cartwise keys create --scope search --name demo-page`",
            )
    if page_events_key is not None:
        key = engine.verify_key(page_events_key)
        if key is None:
            raise ValidationError("--page-events-key is not an active key of this store", field="page_events_key",
                                  hint="create one with `cartwise keys create --scope events --name storefront`")
        if key.scope is not Scope.EVENTS:
            raise ValidationError(
                f"--page-events-key must be an events key, not {key.scope.value}: the storefront hands it to "
                "every browser", field="page_events_key",
                hint="create one with `cartwise keys create --scope events --name storefront`",
            )
    if not anonymous_reads and not engine.keys.has_active_keys():
        message = ("this store has no API keys yet, so every API request will be refused (401). Create one with "
                   "`cartwise keys create --scope admin` (and `--scope search` for a storefront).")
        if notice is not None:
            notice(message)
        else:
            err.print(message, markup=False)


def serving_stores(stores: list[str], *, anonymous_reads: bool, page_key: str | None) -> list[str]:
    """The stores `cartwise serve --store A --store B` names, checked: each once, and no
    anonymous reads when there are several (a request without a key names no store)."""
    named = [s.strip() for s in stores]
    if any(not s for s in named):
        raise ValidationError("--store names no store", field="store", hint="--store DIR or --store URL")
    repeated = sorted({s for s in named if named.count(s) > 1})
    if repeated:
        raise ValidationError(f"--store {repeated[0]} is named more than once", field="store")
    if len(named) > 1 and anonymous_reads:
        raise ValidationError("--allow-anonymous-reads cannot be used with several stores: a request without a key "
                              "names no store", field="allow_anonymous_reads",
                              hint="give each storefront a search key of its store")
    return named


def parse_scope_rates(texts: list[str]) -> dict[str, Rate]:
    """`--scope-rate search=50/s:100` options as a rate by scope."""
    rates: dict[str, Rate] = {}
    for text in texts:
        scope, rate = Rate.parse_scoped(text)
        wanted = Scope.parse(scope).value
        if wanted in rates:
            raise ValidationError(f"--scope-rate gives {wanted} twice", field="scope_rate")
        rates[wanted] = rate
    return rates


def create_demo_keys(engine: Engine) -> dict[Scope, NewKey]:
    """One key of each scope for the demo, replacing those of an earlier demo run (their
    secrets were shown then and cannot be shown again); keys made by hand are left alone."""
    for key in engine.list_keys():
        if key.active and key.name in DEMO_KEY_NAMES.values():
            engine.revoke_key(str(key.key_id))
    return {scope: engine.create_key(scope, name=name) for scope, name in DEMO_KEY_NAMES.items()}


def print_demo_keys(keys: dict[Scope, NewKey], url: str) -> None:
    err.print("API keys of this demo store (shown once; the demo page uses the search key):", markup=False)
    for scope, new in keys.items():
        err.print(f"  {scope.value:<7} {new.secret}", markup=False, soft_wrap=True)
    err.print(f'  e.g. curl -H "Authorization: Bearer <search key>" "{url}v1/search?q=heart"',
              markup=False, soft_wrap=True)
    err.print("  a later `cartwise serve` hands the page the search key with --page-key KEY (or CARTWISE_PAGE_KEY)",
              markup=False, soft_wrap=True)
