"""File uploads over HTTP (POST /v1/ingest/events and /v1/ingest/items): the body goes to
disk as it arrives and is read like a local file; bad rows are reported by line; nothing
valid is lost; the upload limit is its own; no scratch file is left behind."""

from __future__ import annotations

import gzip
import io

import polars as pl
import pytest
from fastapi.testclient import TestClient

from cartwise.api import create_app

EVENTS_CSV = (
    "user_id,item_id,event_type,timestamp\n"
    "up-1,teapot,purchase,1700000000\n"
    ",teapot,view,1700000001\n"  # line 3: no user
    "up-2,teapot,teleport,1700000002\n"  # line 4: no such event type
    "up-2,mug-red,view,1700000003\n"
)


@pytest.fixture
def admin(engine):
    return {"Authorization": f"Bearer {engine.create_key('admin').secret}"}


def _leftovers(engine) -> list[str]:
    folder = engine.workspace.uploads_dir
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_csv_of_events_keeps_every_valid_row_and_names_each_bad_line(engine, admin):
    client = TestClient(create_app(engine), headers=admin)
    before = engine.store.stats().events
    response = client.post("/v1/ingest/events", content=EVENTS_CSV, headers={"Content-Type": "text/csv"},
                           params={"name": "june.csv"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["received"] == 4 and body["written"] == 2
    assert {(r["index"], r["field"]) for r in body["rejected"]} == {(3, "user_id"), (4, "event_type")}
    assert engine.store.stats().events == before + 2
    again = client.post("/v1/ingest/events", content=EVENTS_CSV, params={"format": "csv"}).json()
    assert again["written"] == 0 and again["duplicates"] == 2  # sent twice, stored once
    assert _leftovers(engine) == []


def test_json_lines_and_gzip_and_parquet_catalogs(engine, admin):
    client = TestClient(create_app(engine), headers=admin)
    lines = '{"item_id": "up-lamp", "title": "Brass desk lamp", "price": 30}\n{"item_id": "up-shade"}\n'
    response = client.post("/v1/ingest/items", content=lines, headers={"Content-Type": "application/x-ndjson"},
                           params={"name": "lamps.jsonl"})
    body = response.json()
    assert body["written"] == 1 and body["rejected"][0]["index"] == 2 and body["rejected"][0]["field"] == "title"
    packed = gzip.compress(b"item_id,title\nup-vase,Glass vase\n")
    assert client.post("/v1/ingest/items", content=packed, params={"format": "csv"}).json()["written"] == 1
    buffer = io.BytesIO()
    pl.DataFrame({"item_id": ["up-bowl"], "title": ["Stone bowl"]}).write_parquet(buffer)
    parquet = client.post("/v1/ingest/items", content=buffer.getvalue(),
                          headers={"Content-Type": "application/vnd.apache.parquet"})
    assert parquet.json()["written"] == 1
    assert set(engine.store.get_items(["up-lamp", "up-vase", "up-bowl"])["item_id"]) == {"up-lamp", "up-vase",
                                                                                        "up-bowl"}
    assert any(e.action == "items.upsert" and "lamps.jsonl" in e.target for e in engine.audit.entries())
    assert _leftovers(engine) == []


def test_columns_are_mapped_as_on_the_command_line(engine, admin):
    client = TestClient(create_app(engine), headers=admin)
    text = "CustomerID,StockCode,When\nup-9,teapot,2023-11-14T22:13:20Z\n"
    response = client.post("/v1/ingest/events", content=text, params={
        "format": "csv", "map": ["user_id=CustomerID", "item_id=StockCode", "timestamp=When"],
        "set": ["event_type=purchase"]})
    assert response.status_code == 200 and response.json()["written"] == 1, response.text
    bad = client.post("/v1/ingest/events", content=text, params={"format": "csv", "map": ["user_id"]})
    assert bad.status_code == 422 and bad.json()["field"] == "map"


def test_the_format_must_be_known_and_errors_name_the_file(engine, admin):
    client = TestClient(create_app(engine), headers=admin)
    unknown = client.post("/v1/ingest/events", content=EVENTS_CSV, headers={"Content-Type": "text/plain"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "format"
    assert "format=csv" in unknown.json()["hint"]
    broken = client.post("/v1/ingest/items", content=b"not parquet at all", params={"format": "parquet",
                                                                                   "name": "shop.parquet"})
    assert broken.status_code in (400, 422) and "shop.parquet" in broken.json()["message"]
    assert "uploads" not in broken.text  # the server's scratch path is not shown
    assert _leftovers(engine) == []


def test_uploads_have_their_own_limit(engine, admin):
    rows = "".join(f"up-{n},teapot,view,{1_700_000_000 + n}\n" for n in range(3000))
    text = "user_id,item_id,event_type,timestamp\n" + rows
    small_json = TestClient(create_app(engine, max_body_bytes=4096, max_upload_bytes=1_000_000), headers=admin)
    assert len(text) > 4096
    assert small_json.post("/v1/ingest/events", content=text, params={"format": "csv"}).json()["written"] == 3000
    tight = TestClient(create_app(engine, max_upload_bytes=10_000), headers=admin)
    refused = tight.post("/v1/ingest/events", content=text, params={"format": "csv"})
    assert refused.status_code == 413 and "--max-upload-bytes" in refused.json()["hint"]

    def chunks():  # no Content-Length: counted as it arrives
        for n in range(0, len(text), 4096):
            yield text[n:n + 4096].encode()

    streamed = tight.post("/v1/ingest/events", content=chunks(), params={"format": "csv"})
    assert streamed.status_code == 413
    assert _leftovers(engine) == []


def test_an_events_key_uploads_events_but_not_a_catalog(engine):
    events = TestClient(create_app(engine), headers={"X-API-Key": engine.create_key("events").secret})
    assert events.post("/v1/ingest/events", content=EVENTS_CSV, params={"format": "csv"}).status_code == 200
    refused = events.post("/v1/ingest/items", content="item_id,title\nx,X\n", params={"format": "csv"})
    assert refused.status_code == 403 and "admin" in refused.json()["message"]


def test_a_file_is_ingested_in_pieces_and_reported_as_one(engine, admin, monkeypatch):
    monkeypatch.setattr("cartwise.ingest.chunks.CHUNK_ROWS", 2)
    client = TestClient(create_app(engine), headers=admin)
    catalog = (
        "item_id,title,description\n"
        'pc-1,Lamp,"two\nlines"\n'  # lines 2-3: one record
        "pc-2,Shade,plain\n"  # line 4
        ",No id,x\n"  # line 5: rejected
        'pc-3,Bulb,"a ""quoted"" word"\n'  # line 6
        "pc-4,,no title\n"  # line 7: rejected
    )
    body = client.post("/v1/ingest/items", content=catalog, params={"format": "csv"}).json()
    assert body["received"] == 5 and body["written"] == 3
    assert sorted((r["index"], r["field"]) for r in body["rejected"]) == [(5, "item_id"), (7, "title")]
    stored = engine.store.get_items(["pc-1", "pc-3"]).sort("item_id")
    assert stored["description"].to_list() == ["two\nlines", 'a "quoted" word']

    lines = "".join(f'{{"user_id": "pc-u{n}", "item_id": "teapot", "event_type": "view", "timestamp": '
                    f'{1_700_000_000 + n}}}\n' for n in range(5))
    lines += '{"user_id": "pc-u9", "item_id": "teapot", "event_type": "nope", "timestamp": 1700000100}\n'  # line 6
    lines += lines.splitlines(keepends=True)[0]  # line 7: a duplicate of line 1, in another piece
    events = client.post("/v1/ingest/events", content=lines, params={"format": "jsonl"}).json()
    assert events["received"] == 7 and events["written"] == 5 and events["duplicates"] == 1
    assert [(r["index"], r["field"]) for r in events["rejected"]] == [(6, "event_type")]

    buffer = io.BytesIO()
    pl.DataFrame({"item_id": [f"pq-{n}" for n in range(5)] + [""], "title": ["Bowl"] * 6}).write_parquet(buffer)
    parquet = client.post("/v1/ingest/items", content=buffer.getvalue(), params={"format": "parquet"}).json()
    assert parquet["written"] == 5 and [r["index"] for r in parquet["rejected"]] == [6]
    assert _leftovers(engine) == []
