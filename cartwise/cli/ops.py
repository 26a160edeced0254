"""`cartwise backup` and `cartwise restore`: the store copied while it serves, and put back.

Thin faces of :mod:`cartwise.store.backup`; `serve`'s log options are checked here too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cartwise.cli.output import console, duration, err
from cartwise.engine import DEFAULT_STORE
from cartwise.errors import ValidationError
from cartwise.store.backup import backup_store, restore_store

LOG_LEVELS = ("debug", "info", "warning", "error")

StoreOption = Annotated[
    str,
    typer.Option("--store", "-s", envvar="CARTWISE_STORE", help="store directory or URL (sqlite:///DIR)",
                 show_default=True),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON for machines instead of a summary")]


def check_log_level(value: str) -> str:
    lowered = value.strip().lower()
    if lowered not in LOG_LEVELS:
        raise ValidationError(f"unknown log level {value!r}", field="log_level", hint=f"choose one of {LOG_LEVELS}")
    return lowered


def backup(
    destination: Annotated[Path, typer.Argument(help="a new directory, or a .tar / .tar.gz file")],
    store: StoreOption = DEFAULT_STORE,
    as_json: JsonOption = False,
) -> None:
    """Back up the store (database, model versions, embeddings, keys) while it may be serving."""
    report = backup_store(store, destination)
    if as_json:
        console.print_json(json.dumps({"path": str(report.path), "files": report.files, "bytes": report.bytes,
                                       "seconds": round(report.seconds, 3), **report.manifest}))
        return
    counts = report.manifest.get("counts", {})
    err.print(f"backed up {report.backend} store {report.store_id} to {report.path}: model "
              f"{report.model_version or '(none trained)'}, {counts.get('items', 0):,} items, "
              f"{counts.get('events', 0):,} events, {counts.get('api_keys', 0):,} keys; {report.files:,} files, "
              f"{report.bytes / 1e6:.1f} MB in {duration(report.seconds)}", markup=False, soft_wrap=True)


def restore(
    source: Annotated[Path, typer.Argument(help="a backup directory or tar file written by `cartwise backup`")],
    store: StoreOption = DEFAULT_STORE,
    force: Annotated[bool, typer.Option(help="replace a store that is not empty (stop its server first)")] = False,
) -> None:
    """Restore a backup into a store: a new or empty one, or any with --force."""
    manifest = restore_store(source, store, force=force)
    err.print(f"restored store {manifest['store_id']} (model {manifest.get('model_version') or 'none'}) into {store}",
              markup=False, soft_wrap=True)
