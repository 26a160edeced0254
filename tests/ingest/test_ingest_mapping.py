"""Column mappings (`--map FIELD=COLUMN`) and constants (`--set FIELD=VALUE`)."""

import pytest

from cartwise.errors import ValidationError
from cartwise.ingest import ColumnMapping, ingest_events, ingest_items
from tests.conftest import RETAIL_SLICE

RETAIL_EVENTS = ColumnMapping.parse(
    ["user_id=CustomerID", "item_id=StockCode", "timestamp=InvoiceDate", "value=Quantity", "session_id=InvoiceNo"],
    ["event_type=purchase"],
)
RETAIL_ITEMS = ColumnMapping.parse(["item_id=StockCode", "title=Description", "price=UnitPrice"], [])


def test_parse():
    mapping = ColumnMapping.parse(["item_id = StockCode", "title=Desc=ription"], ["event_type=purchase"])
    assert mapping.columns == {"item_id": "StockCode", "title": "Desc=ription"}
    assert mapping.constants == {"event_type": "purchase"}


@pytest.mark.parametrize(
    "maps, constants, message",
    [
        (["item_id"], [], "is not FIELD=VALUE"),
        (["=StockCode"], [], "is not FIELD=VALUE"),
        (["sku=StockCode"], [], "'sku' is not a Cartwise field"),
        ([], ["colour=red"], "'colour' is not a Cartwise field"),
        (["item_id=A", "item_id=B"], [], "gives item_id twice"),
        (["item_id="], [], "names no column"),
        (["event_type=Kind"], ["event_type=view"], "both a column"),
    ],
)
def test_parse_errors(maps, constants, message):
    with pytest.raises(ValidationError, match=message):
        ColumnMapping.parse(maps, constants)


def test_online_retail_events_with_the_cli_mapping(store):
    report = ingest_events(store, RETAIL_SLICE, mapping=RETAIL_EVENTS)
    assert report.rows_read == 25_525
    assert report.rows_written + report.rows_duplicate + report.rows_rejected == report.rows_read
    assert set(report.rejected_by_reason) == {
        "user_id is missing or empty",
        "value must not be negative for a purchase event",
    }
    cancellation = next(r for r in report.rejects if r.field == "value")
    assert cancellation.value.startswith("-")
    events = store.events()
    assert set(events["event_type"]) == {"purchase"} and events["session_id"].null_count() == 0
    assert report.flagged_users == []  # big orders are single actions, not bots


def test_online_retail_items_with_the_cli_mapping(store):
    report = ingest_items(store, RETAIL_SLICE, mapping=RETAIL_ITEMS)
    assert report.rows_rejected < 200
    assert report.rows_written == store.stats().items > 1500
    assert report.rows_written + report.rows_duplicate + report.rows_rejected == report.rows_read == 25_525
    assert ingest_items(store, RETAIL_SLICE, mapping=RETAIL_ITEMS).rows_written == 0


def test_mapping_to_a_missing_column_names_it_and_lists_the_columns(store):
    mapping = ColumnMapping.parse(["item_id=Stockcode", "title=Description"], [])
    with pytest.raises(ValidationError) as info:
        ingest_items(store, RETAIL_SLICE, mapping=mapping)
    message = str(info.value)
    assert "'Stockcode'" in message and "'StockCode'" in message and "'InvoiceNo'" in message
    assert info.value.field == "item_id"


def test_required_field_without_a_column(store, write):
    with pytest.raises(ValidationError) as info:
        ingest_items(store, RETAIL_SLICE, mapping=ColumnMapping.parse(["item_id=StockCode"], []))
    assert "no column for title" in str(info.value) and "'Description'" in str(info.value)
    path = write("events.csv", "user,item,kind,when\nu,i,view,2023-01-01\n")
    with pytest.raises(ValidationError, match="no column for user_id.*'user', 'item', 'kind', 'when'"):
        ingest_events(store, path)
    mapping = ColumnMapping.parse(["user_id=user", "event_type=kind", "timestamp=when"], [])
    with pytest.raises(ValidationError, match="no column for item_id or query"):
        ingest_events(store, path, mapping=mapping)


def test_mapping_a_field_of_the_other_kind(store, write):
    with pytest.raises(ValidationError, match="price is not a field of events"):
        ingest_events(store, write("e.csv", "a\n1\n"), mapping=ColumnMapping.parse(["price=a"], []))


def test_constants_fill_every_row_and_jsonl_keys_are_checked_after_reading(store, write):
    rows = ['{"who": "u1", "what": "a", "when": 1700000000}'] * 2 + ['{"who": "u2", "what": "b", "when": 1700000001}']
    path = write("events.jsonl", "\n".join(rows))
    mapping = ColumnMapping.parse(["user_id=who", "item_id=what", "timestamp=when"], ["event_type=view", "value=2"])
    report = ingest_events(store, path, mapping=mapping)
    assert (report.rows_written, report.rows_duplicate) == (2, 1)
    assert store.events().select("event_type", "value").unique().rows() == [("view", 2.0)]
    with pytest.raises(ValidationError, match="'nobody'.*'who', 'what', 'when'"):
        ingest_events(store, path, mapping=ColumnMapping.parse(["user_id=nobody", "item_id=what", "timestamp=when"],
                                                               ["event_type=view"]))


def test_duplicate_header_names_are_refused_only_when_used(store, write):
    path = write("items.csv", "item_id,title,note,note\na,A,x,y\n")
    assert ingest_items(store, path).rows_written == 1
    with pytest.raises(ValidationError, match="appears 2 times"):
        ingest_items(store, path, mapping=ColumnMapping.parse(["description=note"], []))
