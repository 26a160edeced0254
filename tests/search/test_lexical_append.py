"""Appending new and edited items to a fitted index: only those items are tokenised, the
old index keeps answering as it was, and the new one answers like a refit."""

from __future__ import annotations

import numpy as np
import polars as pl
from search_catalog import catalog_frame

from cartwise.search import LexicalIndex, parse_filters
from cartwise.store.frames import ITEM_SCHEMA


def _with(items: pl.DataFrame, rows: list[dict]) -> pl.DataFrame:
    fields = dict.fromkeys(k for row in rows for k in row)
    extra = pl.DataFrame(rows, schema={k: ITEM_SCHEMA[k] for k in fields})
    kept = items.filter(~pl.col("item_id").is_in([r["item_id"] for r in rows]))
    return pl.concat([kept, extra], how="diagonal_relaxed")


def test_new_and_edited_items_are_found_by_their_new_text_only():
    items = catalog_frame()
    index = LexicalIndex().fit(items)
    edited = {"item_id": "teapot", "title": "Cast iron kettle", "category": "Home > Kitchen", "price": 30.0}
    # An id longer than any indexed one (ids are kept in a fixed-width array).
    new = {"item_id": "owl-lamp-with-a-long-id", "title": "Glowing owl lamp", "category": "Lighting",
           "brand": "Nocturne", "price": 19.0}
    catalog = _with(items, [edited, new])
    changed = index.changed(catalog)
    assert sorted(changed["item_id"].to_list()) == ["owl-lamp-with-a-long-id", "teapot"]
    grown = index.appended(changed)
    assert [h.item_id for h in grown.search("owl lamp", k=1)] == ["owl-lamp-with-a-long-id"]
    assert "teapot" in [h.item_id for h in grown.search("cast iron kettle", k=3)]
    assert "teapot" not in [h.item_id for h in grown.search("teapot infuser", k=10)]  # its old text is gone
    # Filters know the new rows, a new brand and category included.
    assert grown.filter_ids(parse_filters(["brand=Nocturne"])) == ["owl-lamp-with-a-long-id"]
    assert "owl-lamp-with-a-long-id" in grown.filter_ids(parse_filters(["category=Lighting"]))
    assert len(grown) == len(index) + 1
    # The old index still answers as it did.
    assert "owl-lamp-with-a-long-id" not in [h.item_id for h in index.search("owl lamp", k=3)]
    assert "teapot" in [h.item_id for h in index.search("teapot", k=3)]
    # Nothing changed since: nothing to append.
    assert grown.changed(catalog).is_empty()


def test_appended_scores_follow_a_refit(tmp_path):
    """On a catalog of a few hundred items, one more barely moves the corpus statistics:
    appended and refit indexes rank alike, scores within a few per cent."""
    base_items = catalog_frame()
    items = pl.concat([base_items.with_columns(pl.col("item_id") + f"-{n}") for n in range(20)])
    new = {"item_id": "owl-lamp", "title": "Glowing owl lamp", "category": "Lighting", "price": 19.0}
    base = LexicalIndex().fit(items)
    base.save(tmp_path / "index")  # what a trained version keeps: it can be appended to after loading
    grown = LexicalIndex.load(tmp_path / "index").appended(pl.DataFrame([new]))
    refit = LexicalIndex().fit(_with(items, [new]))
    assert grown.search("owl lamp", k=1)[0].item_id == refit.search("owl lamp", k=1)[0].item_id == "owl-lamp"
    for query in ("lamp", "red dress", "teapot", "usb c charger"):
        a, b = grown.search(query, k=10), refit.search(query, k=10)
        assert [h.score for h in a] == sorted((h.score for h in a), reverse=True)
        np.testing.assert_allclose(sorted(h.score for h in a), sorted(h.score for h in b), rtol=0.05)
        assert {h.item_id for h in a[:3]} & {h.item_id for h in b[:3]}, query
