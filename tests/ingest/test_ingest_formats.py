"""Every format reads the same rows into the same stored items and events."""

import json
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from cartwise.errors import ValidationError
from cartwise.ingest import ColumnMapping, ingest_event_records, ingest_events, ingest_item_records, ingest_items
from cartwise.ingest.readers.sequences import SEQUENCE_BASE_MS, SEQUENCE_STEP_MS
from tests.ingest.samples import EVENTS_CSV, ITEMS_CSV

EXPECTED_ITEMS = [
    ("mug-blue", "Blue mug", "Home > Kitchen > Mugs", 8.5, "EUR", True, None),
    ("mug-red", "Red mug", "Home > Kitchen > Mugs", 8.5, "EUR", True, '{"color":"red"}'),
    ("teapot", "Glass teapot", "Home > Kitchen > Tea", 24.0, "EUR", False, None),
]
EVENT_ROWS = [
    ("u1", "mug-red", "view", 1700042400000, "s1", None),
    ("u1", "mug-red", "add_to_cart", 1700042460000, "s1", 1.0),
    ("u1", "mug-red", "purchase", 1700042460000, "s1", 1.0),
    ("u2", "teapot", "click", 1700042460000, None, None),
]


def stored_items(store):
    columns = ["item_id", "title", "category", "price", "currency", "in_stock", "attributes"]
    return store.items().select(columns).sort("item_id").rows()


def stored_events(store):
    return (
        store.events(exclude_flagged=False)
        .sort("user_id", "ts", "event_type")
        .select("user_id", "item_id", "event_type", "ts", "session_id", "value")
        .rows()
    )


ITEM_RECORDS = [
    {"item_id": "mug-red", "title": "Red mug", "category": "Home > Kitchen > Mugs", "price": 8.5, "currency": "eur",
     "in_stock": True, "attributes": {"color": "red"}},
    {"item_id": "mug-blue", "title": "Blue mug", "category": " Home >Kitchen> Mugs ", "price": "8.5", "currency": "EUR",
     "in_stock": "yes"},
    {"item_id": "teapot", "title": "Glass teapot", "category": "Home > Kitchen > Tea", "price": 24, "currency": "EUR",
     "in_stock": 0},
]


@pytest.mark.parametrize(
    "name", ["items.csv", "items.csv.gz", "items.tsv", "items.jsonl", "items.jsonl.gz", "items.parquet"]
)
def test_items_every_format(store, write, tmp_path, name):
    if name.startswith("items.csv"):
        path = write(name, ITEMS_CSV)
    elif name == "items.tsv":
        path = write(name, ITEMS_CSV.replace(",", "\t").replace('"{""color"": ""red""}"', '{"color": "red"}'))
    elif name.startswith("items.jsonl"):
        path = write(name, "\n".join(json.dumps(r) for r in ITEM_RECORDS) + "\n")
    else:
        path = tmp_path / name
        pl.DataFrame(
            {
                "item_id": ["mug-red", "mug-blue", "teapot"],
                "title": ["Red mug", "Blue mug", "Glass teapot"],
                "category": ["Home > Kitchen > Mugs", "Home>Kitchen>Mugs", "Home > Kitchen > Tea"],
                "price": [8.5, 8.5, 24.0],
                "currency": ["EUR", "eur", "EUR"],
                "in_stock": [True, True, False],
                "attributes": [{"color": "red"}, None, None],
            }
        ).write_parquet(path)
    report = ingest_items(store, path)
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (3, 3, 0), report.rejects
    assert stored_items(store) == EXPECTED_ITEMS


def test_item_records_match_files(store):
    report = ingest_item_records(store, ITEM_RECORDS)
    assert report.rows_written == 3 and report.source == "api"
    assert stored_items(store) == EXPECTED_ITEMS


EVENT_RECORDS = [
    {"user_id": "u1", "item_id": "mug-red", "event_type": "view", "timestamp": "2023-11-15T10:00:00Z",
     "session_id": "s1"},
    {"user_id": "u1", "item_id": "mug-red", "event_type": "add_to_cart", "timestamp": "2023-11-15 10:01:00",
     "session_id": "s1", "value": 1},
    {"user_id": "u1", "item_id": "mug-red", "event_type": "purchase", "timestamp": 1700042460, "session_id": "s1",
     "value": 1.0},
    {"user_id": "u2", "item_id": "teapot", "event_type": "click", "timestamp": 1700042460000},
]


@pytest.mark.parametrize("name", ["events.csv", "events.csv.gz", "events.jsonl", "events.parquet", "records"])
def test_events_every_format_gives_the_same_keys(store, write, tmp_path, name):
    if name.startswith("events.csv"):
        report = ingest_events(store, write(name, EVENTS_CSV))
    elif name == "events.jsonl":
        report = ingest_events(store, write(name, "\n".join(json.dumps(r) for r in EVENT_RECORDS)))
    elif name == "events.parquet":
        path = tmp_path / name
        pl.DataFrame(
            {
                "user_id": ["u1", "u1", "u1", "u2"],
                "item_id": ["mug-red", "mug-red", "mug-red", "teapot"],
                "event_type": ["view", "add_to_cart", "purchase", "click"],
                "timestamp": [
                    datetime(2023, 11, 15, 10, 0, tzinfo=timezone.utc),
                    datetime(2023, 11, 15, 10, 1),
                    datetime(2023, 11, 15, 10, 1),
                    datetime(2023, 11, 15, 10, 1),
                ],
                "session_id": ["s1", "s1", "s1", None],
                "value": [None, 1, 1, None],
            }
        ).write_parquet(path)
        report = ingest_events(store, path)
    else:
        report = ingest_event_records(store, EVENT_RECORDS)
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (4, 4, 0), report.rejects
    assert stored_events(store) == sorted(EVENT_ROWS, key=lambda r: (r[0], r[3], r[2]))
    # Same content, same key, whatever the format: a CSV re-sent as JSON is a duplicate.
    again = ingest_event_records(store, EVENT_RECORDS)
    assert again.rows_written == 0 and again.rows_duplicate == 4


def test_csv_header_only_is_a_zero_row_report(store, write):
    report = ingest_items(store, write("items.csv", "item_id,title\n"))
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (0, 0, 0)


@pytest.mark.parametrize("content", ["", "   \n\n"])
def test_empty_file_is_a_clear_error(store, write, content):
    with pytest.raises(ValidationError, match="is empty"):
        ingest_items(store, write("items.csv", content))


def test_sequences_file(store, write):
    path = write("Beauty.txt", "1 10 11 12\n2\t11  13\n\n3\n1 14\n")
    report = ingest_events(store, path)
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (7, 6, 1)
    assert [(r.line, r.reason) for r in report.rejects] == [(4, "line has a user but no items")]
    user1 = store.user_events("1").sort("ts")
    assert user1["item_id"].to_list() == ["10", "11", "12", "14"]
    assert user1["ts"].to_list() == [SEQUENCE_BASE_MS + i * SEQUENCE_STEP_MS for i in range(4)]
    assert set(user1["event_type"]) == {"purchase"}
    assert ingest_events(store, path).rows_written == 0


def test_sequences_event_type_can_be_set(store, write):
    report = ingest_events(
        store, write("seq.txt", "u1 a b\n"), format="sequences", mapping=ColumnMapping.parse([], ["event_type=view"])
    )
    assert report.rows_written == 2
    assert set(store.events()["event_type"]) == {"view"}
    with pytest.raises(ValidationError, match="sequences"):
        ingest_events(store, write("seq2.txt", "u1 a\n"), mapping=ColumnMapping.parse(["user_id=x"]))


BEAUTY = Path("/work/shared/data/amazon_beauty_sports/Beauty.txt")


@pytest.mark.skipif(not BEAUTY.exists(), reason="the shared Amazon Beauty file is not on this machine")
def test_real_sequences_slice(store, tmp_path):
    lines = BEAUTY.read_text().splitlines()[:300]
    path = tmp_path / "beauty.txt"
    path.write_text("\n".join(lines) + "\n")
    report = ingest_events(store, path)
    assert report.rows_rejected == 0
    assert report.rows_written == sum(len(line.split()) - 1 for line in lines)


def test_unknown_format_and_missing_file(store, write, tmp_path):
    with pytest.raises(ValidationError, match="cannot tell the format"):
        ingest_items(store, write("items.xlsx", "x"))
    with pytest.raises(ValidationError, match="does not exist"):
        ingest_items(store, tmp_path / "nope.csv")
    with pytest.raises(ValidationError, match="not a readable Parquet"):
        ingest_items(store, write("items.parquet", "item_id,title\n"))
    with pytest.raises(ValidationError, match="damaged gzip"):
        ingest_items(store, _broken_gzip(tmp_path))
    with pytest.raises(ValidationError, match="JSON array"):
        ingest_items(store, write("items.json", '[{"item_id": "a"}]'))
    with pytest.raises(ValidationError, match="sequences format cannot"):
        ingest_items(store, write("items.txt", "u1 a b\n"))


def _broken_gzip(tmp_path):
    path = tmp_path / "broken.csv.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage")
    return path
