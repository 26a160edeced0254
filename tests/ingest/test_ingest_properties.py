"""Property tests: garbage never crashes an ingest and never costs a valid row."""

import csv
import io
import itertools
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartwise.errors import ValidationError
from cartwise.events.event import parse_timestamp_ms
from cartwise.ingest import ingest_event_records, ingest_events
from cartwise.ingest.parsers import timestamps
from cartwise.store import open_store

COLUMNS = ["user_id", "item_id", "event_type", "timestamp", "session_id", "value"]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_files = itertools.count()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One store for every example: opening a store costs more than an example's ingest,
    and rows left by earlier examples do not change what each check asserts."""
    root = tmp_path_factory.mktemp("properties")
    return root, open_store(root / "store")


# Valid ids: CSV's special characters and slashes, but no tab or newline (control
# characters in an id are rejected).
ids = st.text(
    alphabet=st.characters(categories=["L", "N"]) | st.sampled_from(list(',";\' -_/')), max_size=12
).map(lambda s: f"x{s}x")
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2020, 1, 1), timezones=st.just(timezone.utc))


@st.composite
def valid_events(draw):
    moment = draw(moments).replace(microsecond=0)
    ms = int(moment.timestamp()) * 1000
    stamp = draw(
        st.sampled_from(
            [moment.isoformat(), moment.strftime("%Y-%m-%d %H:%M:%S"), str(ms // 1000), str(ms),
             moment.strftime("%Y-%m-%dT%H:%M:%SZ")]
        )
    )
    row = {
        "user_id": draw(ids),
        "item_id": draw(ids),
        "event_type": draw(st.sampled_from(["view", "click", "add_to_cart", "purchase", "rating"])),
        "timestamp": stamp,
        "session_id": draw(st.none() | ids),
        "value": draw(st.none() | st.floats(min_value=0, max_value=1e6).map(repr)),
    }
    return row, (row["user_id"], row["item_id"], row["event_type"], ms)


garbage_cell = st.text(max_size=15) | st.sampled_from(["", "-1", "nan", "inf", "1e999", "teleport", "2023-13-45"])
garbage_rows = st.fixed_dictionaries({c: garbage_cell for c in COLUMNS})
# Raw lines with any bytes but line breaks and quotes (an unbalanced quote is ambiguous
# in CSV itself: it may legitimately swallow the lines after it).
garbage_lines = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b"").replace(b'"', b""))


def render(row: dict) -> bytes:
    out = io.StringIO()
    csv.DictWriter(out, COLUMNS, lineterminator="\n").writerow({k: ("" if v is None else v) for k, v in row.items()})
    return out.getvalue().encode("utf-8")


@SETTINGS
@given(parts=st.lists(st.one_of(valid_events(), garbage_rows, garbage_lines), max_size=25))
def test_garbage_never_crashes_and_never_loses_valid_rows(shared, parts):
    root, store = shared
    body = b"".join(render(p[0]) if isinstance(p, tuple) else render(p) if isinstance(p, dict) else p + b"\n"
                    for p in parts)
    expected = {p[1] for p in parts if isinstance(p, tuple)}
    path = root / f"events-{next(_files)}.csv"
    path.write_bytes(",".join(COLUMNS).encode() + b"\n" + body)
    try:
        report = ingest_events(store, path)
    except ValidationError:
        return
    stored = set(store.events(exclude_flagged=False).select("user_id", "item_id", "event_type", "ts").rows())
    assert expected <= stored
    assert report.rows_written + report.rows_duplicate + report.rows_rejected == report.rows_read
    assert all(r.reason and 2 <= r.line <= body.count(b"\n") + 2 for r in report.rejects)


surrogates = st.text(st.characters(categories=["Cs", "Ll"]), max_size=3)  # not valid Unicode text
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10) | surrogates,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)


@SETTINGS
@given(
    records=st.lists(
        st.dictionaries(st.sampled_from(COLUMNS + ["context", "query", "event_id"]) | surrogates, json_values, max_size=8)
        | json_values,
        max_size=10,
    )
)
def test_random_records_never_crash(shared, records):
    _, store = shared
    report = ingest_event_records(store, records)
    assert report.rows_written + report.rows_duplicate + report.rows_rejected == len(records)
    assert all(0 <= r.line < len(records) for r in report.rejects)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        moments.map(lambda m: m.isoformat()),
        moments.map(lambda m: m.strftime("%Y-%m-%d %H:%M:%S.%f")),
        moments.map(lambda m: m.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()),
        moments.map(lambda m: m.strftime("%Y-%m-%dT%H:%M")),
        moments.map(lambda m: m.strftime("%Y-%m-%d")),
        st.integers(min_value=0, max_value=3_000_000_000_000).map(str),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        st.text(max_size=12),
    )
)
def test_vectorised_timestamps_agree_with_the_reference_parser(text):
    [row] = timestamps(pl.Series([text], dtype=pl.Utf8), now_ms=4_102_444_800_000).rows(named=True)
    try:
        expected = parse_timestamp_ms(text)
    except (ValueError, OverflowError):
        expected = None
    if row["ms"] is not None:
        assert row["ms"] == expected
    elif expected is not None and 631_152_000_000 <= expected <= 4_102_444_800_000 + 86_400_000:
        raise AssertionError(f"{text!r}: reference gives {expected}, vectorised parser rejects ({row['problem']})")
