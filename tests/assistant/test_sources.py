"""Knowledge ingest: FAQ and documents from CSV and JSON Lines, bad rows reported by line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cartwise.assistant.catalog import item_passages
from cartwise.assistant.knowledge import split_passages
from cartwise.assistant.library import KnowledgeStore
from cartwise.errors import ValidationError
from cartwise.workspace import Workspace


def test_faq_csv_reports_bad_rows_by_line(tmp_path: Path) -> None:
    source = tmp_path / "faq.csv"
    source.write_text(
        "question,answer,category,language\n"
        "How do I return an item?,Start a return from your orders page within 30 days.,returns,en\n"
        ",An answer without a question,,en\n"
        '"怎么申请退货？","在订单页面点击申请退货，30天内有效。",退货,zh\n'
        "Bad language?,Yes,,english please\n"
        "too,many,fields,en,extra\n",
        encoding="utf-8",
    )
    store = KnowledgeStore(Workspace(tmp_path / "ws"))
    report = store.ingest_faq(source)
    assert (report.rows_read, report.rows_written, report.rows_rejected) == (5, 2, 3)
    assert [(r.line, r.field) for r in report.rejects] == [(3, "question"), (5, "language"), (6, None)]
    base = store.load()
    assert {e.language for e in base.faq} == {"en", "zh"}
    # Ingesting the same file again replaces by faq_id instead of duplicating.
    store.ingest_faq(source)
    assert len(store.load().faq) == 2


def test_documents_jsonl_split_into_passages_with_their_item(tmp_path: Path) -> None:
    source = tmp_path / "docs.jsonl"
    rows = [
        {"doc_id": "kettle-bullets", "kind": "bullets", "item_id": "kettle",
         "text": "- 1.7 litre capacity\n- Dishwasher safe lid\n- Boils in three minutes"},
        {"doc_id": "returns", "kind": "policy", "title": "Returns", "text": "You may return any item within 30 days. "
         "Refunds are paid to the original card within 5 working days."},
        {"doc_id": "x", "kind": "reviews", "text": "great"},  # no item_id
        {"doc_id": "y", "kind": "recipes", "item_id": "kettle", "text": "tea"},
    ]
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n", encoding="utf-8")
    store = KnowledgeStore(Workspace(tmp_path / "ws"))
    report = store.ingest_documents(source, known_items={"kettle"})
    assert report.rows_rejected == 3
    assert [(r.line, r.field) for r in report.rejects] == [(3, "item_id"), (4, "kind"), (5, None)]
    base = store.load()
    assert [p.text for p in base.item_passages("kettle")] == [
        "1.7 litre capacity", "Dishwasher safe lid", "Boils in three minutes"]
    assert base.store_passages[0].kind == "policy" and "Returns" in base.store_passages[0].source


def test_binary_file_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "faq.csv"
    source.write_bytes(b"question,answer\n\xff\xfe\x00\x01binary")
    with pytest.raises(ValidationError, match="UTF-8"):
        KnowledgeStore(Workspace(tmp_path)).ingest_faq(source)


def test_long_text_is_split_at_sentences() -> None:
    text = "One sentence here. " * 60
    pieces = split_passages(text, max_chars=100)
    assert all(len(p) <= 100 for p in pieces) and len(pieces) > 5
    assert split_passages("第一句话。第二句话！", max_chars=6) == ["第一句话。", "第二句话！"]


def test_catalog_item_gives_title_attribute_and_description_passages() -> None:
    passages = item_passages({"item_id": "d1", "title": "Red dress", "brand": "Moda", "price": 49.0,
                              "currency": "EUR", "attributes": '{"color": "red", "bid": 0.3}',
                              "description": "<p>Light cotton.</p>"})
    assert [p.kind for p in passages] == ["title", "attribute", "catalog_description"]
    assert "brand: Moda" in passages[0].text and passages[1].text == "color: red"


def test_vector_cache_encodes_each_text_once_and_persists(tmp_path: Path) -> None:
    import numpy as np

    from cartwise.assistant import library
    from cartwise.assistant.library import VectorCache
    from cartwise.encode import load_encoder

    encoder = load_encoder()
    cache = VectorCache(encoder, tmp_path)
    first = cache.get(["heat resistant glass", "holds 1 litre"])
    assert first.shape == (2, encoder.dim)
    cache.save()
    again = VectorCache(encoder, tmp_path).get(["holds 1 litre"], kind="passage")
    assert np.allclose(again[0], first[1])
    saved, library.MAX_VECTORS = library.MAX_VECTORS, 2
    try:
        rows = cache.get(["a", "b", "c"])  # more than the cap in one call still answers every row
        assert rows.shape == (3, encoder.dim) and len(cache._vectors) == 2
    finally:
        library.MAX_VECTORS = saved
