"""/v1/ingest/events and /v1/ingest/items: a whole file over HTTP (CSV, TSV, JSON Lines
or Parquet, optionally gzip-compressed), for batches too large for one JSON request.

The body goes to a file in the store's workspace as it arrives (never whole in memory)
and is ingested in pieces of :data:`~cartwise.ingest.chunks.CHUNK_ROWS` rows (only one
piece's rows in memory at a time), each validated exactly like `cartwise ingest` reads a
local file; the file is removed afterwards. Bad rows are reported with their line and reason; every valid row
is stored. The upload limit (``cartwise serve --max-upload-bytes``) is separate from the
JSON body limit.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from cartwise.access import Scope
from cartwise.access.audit import AuditAction
from cartwise.api.auth import KeyFirstRoute, require
from cartwise.api.deps import get_engine
from cartwise.api.routes.audit import record_admin
from cartwise.api.routes.ingest_response import to_response
from cartwise.api.schemas import ErrorBody, IngestResponse
from cartwise.engine import Engine
from cartwise.errors import CartwiseError, ValidationError
from cartwise.ingest import ColumnMapping, IngestReport
from cartwise.ingest.chunks import combine, pieces

router = APIRouter(prefix="/v1/ingest", tags=["ingest"], route_class=KeyFirstRoute)

Format = Literal["auto", "csv", "tsv", "jsonl", "parquet"]
# The body's format from its Content-Type, when `format` is "auto".
_MEDIA_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "text/tab-separated-values": "tsv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json-lines": "jsonl",
    "application/jsonlines": "jsonl",
    "application/x-jsonlines": "jsonl",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
}
_SUFFIX = {"csv": ".csv", "tsv": ".tsv", "jsonl": ".jsonl", "parquet": ".parquet"}
_ERRORS: dict[int | str, dict[str, type]] = {
    413: {"model": ErrorBody}, 415: {"model": ErrorBody}, 422: {"model": ErrorBody},
}
MapQuery = Annotated[list[str], Query(description="FIELD=COLUMN: read a field from another column "
                                                  "(as `cartwise ingest --map`)")]
SetQuery = Annotated[list[str], Query(alias="set", description="FIELD=VALUE: a constant for every row "
                                                               "(as `cartwise ingest --set`)")]
NameQuery = Annotated[str, Query(max_length=200, description="the file's name, used in messages")]


def _format_of(request: Request, format: str) -> str:
    if format != "auto":
        return format
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    found = _MEDIA_TYPES.get(media)
    if found is None:
        raise ValidationError(
            f"cannot tell the upload's format from its Content-Type {media or '(none)'!r}", field="format",
            hint="pass ?format=csv|tsv|jsonl|parquet, or send Content-Type text/csv, application/x-ndjson or "
                 "application/vnd.apache.parquet",
        )
    return found


def _mapping(maps: list[str], constants: list[str]) -> ColumnMapping:
    """The column mapping of `map` and `set`; a malformed entry names its query parameter."""
    for field, given, example in (("map", maps, "item_id=StockCode"), ("set", constants, "event_type=view")):
        try:
            ColumnMapping.parse(given) if field == "map" else ColumnMapping.parse([], given)
        except ValidationError as exc:
            message = exc.message.replace(f"--{field} ", f"{field}=")
            raise ValidationError(message, field=exc.field or field, hint=f"e.g. ?{field}={example}") from exc
    return ColumnMapping.parse(maps, constants)


async def _received(request: Request, engine: Engine, suffix: str) -> Path:
    """The request body, written to a new file in the store's uploads folder as it arrives."""
    folder = engine.workspace.uploads_dir
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="upload-", suffix=suffix, dir=folder)
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            async for chunk in request.stream():
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


async def _ingest(
    request: Request, engine: Engine, *, kind: str, format: str, name: str, maps: list[str], constants: list[str],
    unknown_items: str = "keep",
) -> IngestReport:
    found = _format_of(request, format)
    mapping = _mapping(maps, constants)  # a bad mapping fails before the body is read
    path = await _received(request, engine, _SUFFIX[found])
    ingest = engine.ingest_events if kind == "events" else engine.ingest_items
    options = {"unknown_items": unknown_items} if kind == "events" else {}

    def run() -> IngestReport:
        done = []
        piece = path
        try:
            # Piece by piece: only one piece's rows are in memory at a time.
            for piece, offset in pieces(path, found):
                done.append((ingest(piece, mapping=mapping, format=found, **options), offset))
        except CartwiseError as exc:
            # Name the file as the client knows it, not by the server's scratch path.
            exc.message = exc.message.replace(str(piece), name).replace(str(path), name)
            raise
        return combine(done, source=name)

    try:
        return await run_in_threadpool(run)
    finally:
        path.unlink(missing_ok=True)


@router.post("/events", response_model=IngestResponse, responses=_ERRORS, dependencies=[require(Scope.EVENTS)])
async def upload_events(
    request: Request,
    response: Response,
    engine: Annotated[Engine, Depends(get_engine)],
    format: Format = "auto",
    name: NameQuery = "upload",
    map: MapQuery = [],  # noqa: B006 - FastAPI copies query defaults
    constants: SetQuery = [],  # noqa: B006
    unknown_items: Literal["keep", "reject"] = "keep",
) -> IngestResponse:
    """Load a file of behaviour events sent as the body. A rejected row's `index` is its
    line in the file. Re-sent events are counted as duplicates and stored once."""
    report = await _ingest(request, engine, kind="events", format=format, name=name, maps=map, constants=constants,
                           unknown_items=unknown_items)
    return to_response(report, response)


@router.post("/items", response_model=IngestResponse, responses=_ERRORS, dependencies=[require(Scope.ADMIN)])
async def upload_items(
    request: Request,
    response: Response,
    engine: Annotated[Engine, Depends(get_engine)],
    format: Format = "auto",
    name: NameQuery = "upload",
    map: MapQuery = [],  # noqa: B006
    constants: SetQuery = [],  # noqa: B006
) -> IngestResponse:
    """Load a catalog file sent as the body (items are inserted or updated). A rejected
    row's `index` is its line in the file."""
    report = await _ingest(request, engine, kind="items", format=format, name=name, maps=map, constants=constants)
    if report.rows_written:
        record_admin(request, engine, AuditAction.ITEMS_UPSERT, target=f"file {name}",
                     detail=f"{report.rows_written} written, {report.rows_rejected} rejected")
    return to_response(report, response)
