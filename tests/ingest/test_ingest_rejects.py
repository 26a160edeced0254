"""Bad rows are rejected with the right line, field and reason; good rows are kept."""

import csv
import io
import json

import polars as pl

from cartwise.events.event import now_ms
from cartwise.ingest import ingest_events, ingest_items
from cartwise.ingest.report import MAX_REJECTS_IN_MEMORY

ITEM_COLUMNS = ["item_id", "title", "price", "currency", "in_stock", "attributes", "created_at", "description"]

# (row, field, reason): one problem per row, in the order the file lists them.
BAD_ITEMS = [
    ({"item_id": "", "title": "No id"}, "item_id", "item_id is missing or empty"),
    ({"item_id": "   ", "title": "Blank id"}, "item_id", "item_id is missing or empty"),
    ({"item_id": "x" * 257, "title": "Long id"}, "item_id", "item_id is longer than 256 characters"),
    ({"item_id": "t", "title": " "}, "title", "title is missing or empty"),
    ({"item_id": "t", "title": "T" * 1001}, "title", "title is longer than 1,000 characters"),
    ({"item_id": "p1", "title": "P", "price": "-0.01"}, "price", "price is negative"),
    ({"item_id": "p2", "title": "P", "price": "nan"}, "price", "price is not a finite number"),
    ({"item_id": "p3", "title": "P", "price": "inf"}, "price", "price is not a finite number"),
    ({"item_id": "p4", "title": "P", "price": "12,50"}, "price", "price is not a number"),
    ({"item_id": "c1", "title": "C", "currency": "EURO"}, "currency", "currency is not a 3-letter code such as EUR"),
    ({"item_id": "s1", "title": "S", "in_stock": "maybe"}, "in_stock",
     "in_stock is not a boolean (true/false, yes/no, 1/0)"),
    ({"item_id": "a1", "title": "A", "attributes": "[1, 2]"}, "attributes", "attributes is not a JSON object"),
    ({"item_id": "a2", "title": "A", "attributes": "{bad"}, "attributes", "attributes is not a JSON object"),
    ({"item_id": "d1", "title": "D", "created_at": "2999-01-01"}, "created_at", "created_at is in the future"),
    ({"item_id": "d2", "title": "D", "created_at": "1989-12-31T23:59:59Z"}, "created_at",
     "created_at is before 1990-01-01"),
    ({"item_id": "d3", "title": "D", "created_at": "yesterday"}, "created_at",
     "created_at is neither ISO 8601 nor epoch seconds/milliseconds"),
    ({"item_id": "l1", "title": "L", "description": "d" * 20_001}, "description",
     "description is longer than 20,000 characters"),
]
GOOD_ITEM = {"item_id": "ok", "title": "Fine", "price": "1.5", "currency": "gbp", "in_stock": "No",
             "attributes": '{"size": "M"}', "created_at": "2020-05-01", "description": "A fine thing"}


def csv_text(columns, rows):
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def test_every_item_rejection_reason_with_its_line(store, write):
    rows = [GOOD_ITEM] + [row for row, _, _ in BAD_ITEMS] + [GOOD_ITEM | {"item_id": "ok2"}]
    report = ingest_items(store, write("items.csv", csv_text(ITEM_COLUMNS, rows)))
    assert report.rows_read == len(rows)
    assert report.rows_written == 2
    got = [(r.line, r.field, r.reason) for r in report.rejects]
    assert got == [(i + 3, field, reason) for i, (_, field, reason) in enumerate(BAD_ITEMS)]
    assert all(r.value is None or len(r.value) <= 100 for r in report.rejects)
    ok = store.get_items(["ok"]).row(0, named=True)
    assert ok["currency"] == "GBP" and ok["in_stock"] is False and ok["attributes"] == '{"size":"M"}'
    assert ok["created_at"] == 1588291200000


EVENT_COLUMNS = ["user_id", "item_id", "event_type", "timestamp", "session_id", "value", "query", "context", "event_id"]
GOOD_EVENT = {"user_id": "u", "item_id": "i", "event_type": "view", "timestamp": "2023-01-01T00:00:00"}
BAD_EVENTS = [
    ({"user_id": ""}, "user_id", "user_id is missing or empty"),
    ({"user_id": " \t "}, "user_id", "user_id is missing or empty"),
    ({"user_id": "u" * 257}, "user_id", "user_id is longer than 256 characters"),
    ({"event_type": ""}, "event_type", "event_type is missing or empty"),
    ({"event_type": "teleport"}, "event_type",
     "event_type is not one of view, click, add_to_cart, purchase, rating, search"),
    ({"item_id": "", "event_type": "purchase"}, "item_id", "a purchase event needs an item_id"),
    ({"item_id": "i" * 257}, "item_id", "item_id is longer than 256 characters"),
    ({"timestamp": ""}, "timestamp", "timestamp is missing"),
    ({"timestamp": "next tuesday"}, "timestamp", "timestamp is neither ISO 8601 nor epoch seconds/milliseconds"),
    ({"timestamp": "2023-02-30"}, "timestamp", "timestamp is neither ISO 8601 nor epoch seconds/milliseconds"),
    ({"timestamp": "inf"}, "timestamp", "timestamp is not a finite number"),
    ({"timestamp": "0"}, "timestamp", "timestamp is before 1990-01-01"),
    ({"timestamp": "1989-12-31"}, "timestamp", "timestamp is before 1990-01-01"),
    ({"timestamp": str(now_ms() + 3 * 24 * 3600 * 1000)}, "timestamp", "timestamp is in the future"),
    ({"session_id": "s" * 257}, "session_id", "session_id is longer than 256 characters"),
    ({"value": "two"}, "value", "value is not a number"),
    ({"value": "-inf"}, "value", "value is not a finite number"),
    ({"event_type": "purchase", "value": "-3"}, "value", "value must not be negative for a purchase event"),
    ({"event_type": "add_to_cart", "value": "-1"}, "value", "value must not be negative for a add_to_cart event"),
    ({"event_type": "rating", "value": "-0.5"}, "value", "value must not be negative for a rating event"),
    ({"query": "q" * 2001}, "query", "query is longer than 2,000 characters"),
    ({"item_id": "", "event_type": "search"}, "query", "a search event needs a query"),
    ({"context": "[1]"}, "context", "context is not a JSON object"),
    ({"context": json.dumps({"k": "v" * 10_000})}, "context", "context is larger than 10,000 characters of JSON"),
    ({"event_id": "e" * 257}, "event_id", "event_id is longer than 256 characters"),
]


def test_every_event_rejection_reason_with_its_line(store, write):
    fine = [
        GOOD_EVENT,
        GOOD_EVENT | {"event_type": "VIEW ", "timestamp": "2023-01-01 00:00:05"},  # case and spaces are forgiven
        GOOD_EVENT | {"value": "-2", "timestamp": "1672531210"},  # negative values are fine for views
        GOOD_EVENT | {"item_id": "", "event_type": "search", "query": "red mug", "timestamp": "1672531220000"},
        GOOD_EVENT | {"context": '{"page": "home"}', "timestamp": "2023-01-01T00:00:30.250+01:00"},
    ]
    rows = fine + [GOOD_EVENT | row for row, _, _ in BAD_EVENTS]
    report = ingest_events(store, write("events.csv", csv_text(EVENT_COLUMNS, rows)))
    got = [(r.line, r.field, r.reason) for r in report.rejects]
    first_bad = len(fine) + 2
    assert got == [(first_bad + i, field, reason) for i, (_, field, reason) in enumerate(BAD_EVENTS)]
    assert report.rows_written == len(fine)
    stored = store.events()
    assert sorted(stored["ts"].to_list()) == [1672527630250, 1672531200000, 1672531205000, 1672531210000, 1672531220000]


def test_read_level_problems_in_csv(store, write):
    content = (
        b"item_id,title,price\n"  # 1
        b"a,Alpha,1\n"  # 2
        b"b,Beta,2,extra\n"  # 3: too many fields
        b"c,Gamma\n"  # 4: too few
        b"\n"  # 5: blank, skipped
        b"d,\xff\xfe bad bytes,3\n"  # 6: not UTF-8
        b'e,"Multi\nline title",4\n'  # 7-8: one record over two lines
        b"f,\"Comma, inside\",5\r\n"  # 9: CRLF
        b"g,Last,6"  # 10: no final newline
    )
    report = ingest_items(store, write("items.csv", content))
    assert [(r.line, r.reason) for r in report.rejects] == [
        (3, "row has 4 fields, the header has 3"),
        (4, "row has 2 fields, the header has 3"),
        (6, "invalid UTF-8 bytes (save the file as UTF-8)"),
    ]
    assert report.rejects[2].value.startswith("d,")
    assert report.rows_read == 7 and report.rows_written == 4
    titles = dict(store.items().select("item_id", "title").rows())
    assert titles == {"a": "Alpha", "e": "Multi\nline title", "f": "Comma, inside", "g": "Last"}


def test_broken_quotes_cost_one_row_each(store, write):
    content = (
        "item_id,title\n"  # 1
        "a,Alpha\n"  # 2
        'b,"Beta" extra\n'  # 3: text after a closing quote
        "c,Gamma\n"  # 4
        'd,"Delta\n'  # 5: a quote that never closes
        "e,Epsilon\n"  # 6
    )
    report = ingest_items(store, write("items.csv", content))
    assert [r.line for r in report.rejects] == [3, 5]
    assert all(r.reason.startswith("malformed CSV") for r in report.rejects)
    assert sorted(store.item_ids()) == ["a", "c", "e"]


def test_non_utf8_rows_in_jsonl_and_sequences(store, write):
    jsonl = b'{"item_id": "a", "title": "A"}\n{"item_id": "b", "title": "\xe9t\xe9"}\n{"item_id": "c", "title": "C"}\n'
    report = ingest_items(store, write("items.jsonl", jsonl))
    assert [(r.line, r.reason) for r in report.rejects] == [(2, "invalid UTF-8 bytes (save the file as UTF-8)")]
    assert report.rows_written == 2
    report = ingest_events(store, write("seq.txt", b"u1 a b\nu\xff2 c\nu3 d\n"))
    assert [r.line for r in report.rejects] == [2] and report.rows_written == 3


def test_huge_fields_are_rejected_not_fatal(store, write):
    huge = "x" * 2_000_000
    content = f'item_id,title,description\na,A,short\nb,B,"{huge}"\nc,C,{huge}\nd,"D ""quoted""",ok\n'
    report = ingest_items(store, write("items.csv", content))
    assert [(r.line, r.field) for r in report.rejects] == [(3, "description"), (4, "description")]
    assert len(report.rejects[0].value) == 100
    assert sorted(store.item_ids()) == ["a", "d"]
    # The same file with a broken quote goes through the slow reader: same outcome.
    report = ingest_items(store, write("items2.csv", content + 'e,"E\n'))
    assert [(r.line, r.field) for r in report.rejects] == [(3, "description"), (4, "description"), (6, None)]


def test_jsonl_bad_lines(store, write):
    content = "\n".join(
        [
            '{"item_id": "a", "title": "A"}',
            "{not json",
            "[1, 2]",
            "",
            '{"item_id": "b", "title": "B", "price": NaN}',
            '{"item_id": "c", "title": "C", "attributes": {"k": [1, 2]}}',
        ]
    )
    report = ingest_items(store, write("items.jsonl", content))
    assert [(r.line, r.field) for r in report.rejects] == [(2, None), (3, None), (5, "price")]
    assert report.rejects[1].reason == "line is not a JSON object"
    assert store.get_items(["c"])["attributes"].item() == '{"k":[1,2]}'


def test_report_file_holds_every_reject(store, write, tmp_path):
    bad = MAX_REJECTS_IN_MEMORY + 50
    content = "item_id,title\n" + "".join(f"i{i},\n" for i in range(bad)) + "ok,Fine\n"
    user_path = tmp_path / "out" / "rejects.jsonl"
    report = ingest_items(store, write("items.csv", content), report_path=user_path)
    assert report.rows_rejected == bad and len(report.rejects) == MAX_REJECTS_IN_MEMORY
    assert report.rejected_by_reason == {"title is missing or empty": bad}
    assert report.report_path == user_path
    for path in [user_path, *store.workspace.reports_dir.glob("items-*.jsonl")]:
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        assert len(lines) == bad
        assert lines[0] == {"source": str(tmp_path / "items.csv"), "line": 2, "field": "title",
                            "reason": "title is missing or empty", "value": None}
    [run] = store.ingest_runs()
    assert run.rows_rejected == bad and run.report_path and run.report_path.startswith(str(store.workspace.reports_dir))
    assert report.to_dict()["rows_rejected"] == bad


def test_no_report_file_when_nothing_is_rejected(store, write):
    report = ingest_items(store, write("items.csv", "item_id,title\na,A\n"))
    assert report.report_path is None and not list(store.workspace.reports_dir.iterdir())


def test_parquet_rejects_name_the_row_number(store, tmp_path):
    path = tmp_path / "items.parquet"
    pl.DataFrame(
        {"item_id": ["a", None, "c", "d"], "title": ["A", "B", "C", "D"], "price": [1.0, 2.0, float("nan"), -1.0]}
    ).write_parquet(path)
    report = ingest_items(store, path)
    assert [(r.line, r.field) for r in report.rejects] == [(2, "item_id"), (3, "price"), (4, "price")]
    assert report.rows_written == 1


def test_prices_with_currency_marks_are_read(store, write):
    path = write(
        "marked.csv",
        csv_text(
            ["item_id", "title", "price", "currency"],
            [
                dict(zip(["item_id", "title", "price", "currency"], row))
                for row in [["a", "A", "$9.99", ""], ["b", "B", "£1,299.50", ""], ["c", "C", "199元", ""],
                            ["d", "D", "12,50", ""], ["e", "E", "$5", "CAD"]]
            ],
        ),
    )
    report = ingest_items(store, path)
    assert report.rows_written == 4
    assert [(r.line, r.field) for r in report.rejects] == [(5, "price")]
    items = {row["item_id"]: row for row in store.items().iter_rows(named=True)}
    assert (items["a"]["price"], items["a"]["currency"]) == (9.99, "USD")
    assert (items["b"]["price"], items["b"]["currency"]) == (1299.5, "GBP")
    assert (items["c"]["price"], items["c"]["currency"]) == (199.0, "CNY")
    assert items["e"]["currency"] == "CAD"
