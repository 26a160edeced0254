"""Opening a source file: format from the name, gzip, byte-order marks and the errors a
person can act on (missing file, wrong format, corrupt archive, empty file)."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from cartwise.errors import ValidationError

FORMATS = ("csv", "tsv", "jsonl", "parquet", "sequences")
_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "sequences",
}
_UTF8_BOM = b"\xef\xbb\xbf"


def check_path(path: Path) -> None:
    if not path.exists():
        raise ValidationError(f"{path} does not exist", hint="check the path and try again")
    if path.is_dir():
        raise ValidationError(f"{path} is a directory, not a file", hint="pass the data file inside it")


def detect_format(path: Path, format: str) -> str:
    """`format` unless it is "auto"; otherwise from the file name (`.gz` looked through)."""
    if format != "auto":
        if format not in FORMATS:
            raise ValidationError(
                f"unknown format {format!r}", field="format", hint=f"use auto or one of {', '.join(FORMATS)}"
            )
        return format
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    found = _SUFFIXES.get(suffixes[-1]) if suffixes else None
    if found is None:
        raise ValidationError(
            f"cannot tell the format of {path} from its name",
            field="format",
            hint=f"pass --format, one of {', '.join(FORMATS)}",
        )
    return found


def load_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed when it is gzip, without a UTF-8 byte-order mark."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationError(
            f"cannot read {path}: {exc.strerror or exc}", hint="check the file's permissions"
        ) from exc
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValidationError(
                f"{path} is a damaged gzip file: {exc}", hint="compress it again or pass the uncompressed file"
            ) from exc
    elif path.suffix.lower() == ".gz":
        raise ValidationError(f"{path} ends in .gz but is not gzip-compressed", hint="rename it without .gz")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise ValidationError(f"{path} is UTF-16 text", hint="save it as UTF-8 (e.g. 'CSV UTF-8' in Excel)")
    data = data.removeprefix(_UTF8_BOM)
    if not data.strip():
        raise ValidationError(
            f"{path} is empty", hint="an export that produced no rows? A CSV needs at least its header line"
        )
    return data


def snippet(raw: bytes, limit: int = 100) -> str:
    """Readable start of a raw line for a report, whatever its bytes."""
    return raw[: limit * 4].decode("utf-8", "replace").rstrip("\r\n")[:limit]
