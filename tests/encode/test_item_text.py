"""item_text: what of an item gets embedded, and its content hash."""

from __future__ import annotations

import json

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cartwise.encode.item_text import DESCRIPTION_CHARS, item_text, item_texts, key_attributes, text_hash, truncate
from cartwise.errors import ValidationError
from cartwise.store.frames import ITEM_SCHEMA, conform

ROW = {
    "item_id": "sku-1",
    "title": "Trail Running Shoe",
    "brand": "Salomon",
    "category": "Sports > Running > Shoes",
    "description": "<p>Lightweight &amp; grippy.</p>   Made for   muddy trails.",
    "attributes": json.dumps({"color": "red", "size": [42, 43], "waterproof": True, "specs": {"drop": 8}}),
    "price": 120.0,
}


def test_item_text_has_title_brand_category_attributes_and_clean_description():
    text = item_text(ROW)
    assert text.splitlines() == [
        "Trail Running Shoe",
        "brand: Salomon",
        "category: Sports > Running > Shoes",
        "color: red; size: 42, 43; waterproof: yes",
        "Lightweight & grippy. Made for muddy trails.",
    ]


def test_brand_already_in_title_and_missing_fields_are_skipped():
    text = item_text({"title": "Salomon Speedcross 6", "brand": "salomon", "description": None, "attributes": None})
    assert text == "Salomon Speedcross 6"


def test_works_on_polars_rows_of_item_schema():
    frame = conform(pl.DataFrame([ROW, {"item_id": "sku-2", "title": "红色连衣裙", "attributes": "{}"}]), ITEM_SCHEMA)
    texts = item_texts(frame.iter_rows(named=True))
    assert texts[0] == item_text(ROW)
    assert texts[1] == "红色连衣裙"


def test_long_descriptions_are_cut_at_a_word_boundary():
    words = " ".join(f"word{i}" for i in range(200))
    text = item_text({"title": "T", "description": words})
    description = text.splitlines()[1]
    assert len(description) <= DESCRIPTION_CHARS + 1 and description.endswith("…")
    assert words.startswith(description[:-1]) and words[len(description) - 1] == " "
    chinese = "这是一条很长的商品描述" * 100
    cut = truncate(chinese, DESCRIPTION_CHARS)
    assert cut == chinese[:DESCRIPTION_CHARS] + "…"


@given(st.text(max_size=2000))
def test_truncate_bounds_length_and_keeps_a_prefix(text):
    cut = truncate(text, 50)
    assert len(cut) <= 51
    assert text.startswith(cut.removesuffix("…").rstrip(" ,;:-")) or cut == text


def test_attributes_skip_long_and_nested_values_and_keep_at_most_eight():
    attributes = {f"k{i}": f"v{i}" for i in range(12)} | {"notes": "x" * 100}
    pairs = key_attributes(attributes)
    assert pairs == [f"k{i}: v{i}" for i in range(8)]
    with pytest.raises(ValidationError, match="sku-9.*not valid JSON"):
        item_text({"item_id": "sku-9", "title": "T", "attributes": "{broken"})
    with pytest.raises(ValidationError, match="JSON object"):
        key_attributes("[1, 2]")


def test_text_hash_is_stable_and_content_sensitive():
    assert text_hash("red dress") == text_hash("red dress")
    assert text_hash("red dress") != text_hash("red dress ")
    assert text_hash("") == "cae66941d9efbd404e4d88758ea67670"  # blake2b-128: same in every process
