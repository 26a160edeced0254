import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from search_catalog import SEARCH_CATALOG, catalog_frame

from cartwise.errors import NotTrained, ValidationError
from cartwise.search import LexicalIndex, SearchFilters, SearchHit, Tokenizer, parse_filters


def ids(hits: list[SearchHit]) -> list[str]:
    return [hit.item_id for hit in hits]


@pytest.mark.parametrize(
    "query, top",
    [
        ("红色连衣裙", "dress-zh-red"),
        ("红色 连衣裙", "dress-zh-red"),
        ("蓝色 连衣裙", "dress-zh-blue"),
        ("red dresses", "dress-red"),
        ("Blue dress", "dress-blue"),
        ("wh1000xm4", "sony-xm4"),
        ("WH-1000XM4", "sony-xm4"),
        ("noise cancelling headphone", "sony-xm4"),
        ("teapot", "teapot"),
        ("手机壳", "phone-case-zh"),
        ("露营帐篷", "tent"),
        ("usb c charger", "charger"),
        ("mens t-shirt", "tshirt"),
        ("lamp", "lamp"),  # title beats description
        ("waterproof", "boots"),  # key of a true attribute flag
        ("color red", "dress-red"),  # attribute key and value
    ],
)
def test_ranking_sanity(index, query, top):
    assert ids(index.search(query))[0] == top


def test_results_hold_only_matching_items_best_first(index):
    hits = index.search("red", k=20)
    assert set(ids(hits)) == {"dress-red", "mug-red"}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(h.score > 0 for h in hits)


def test_matched_terms_quote_the_query_words(index):
    top = index.search("red dresses")[0]
    assert top.item_id == "dress-red" and top.matched_terms == ("red", "dresses")
    assert index.search("红色连衣裙")[0].matched_terms == ("红色", "连衣裙")
    assert index.search("WH-1000XM4")[0].matched_terms == ("wh-1000xm4",)
    mug = next(h for h in index.search("red mug", k=20) if h.item_id == "mug-blue")
    assert mug.matched_terms == ("mug",)


@pytest.mark.parametrize("query", ["", "   ", "the of and", "zzzqqq", "🙂", "\x00\x01", "'; DROP TABLE items; --"])
def test_queries_without_known_tokens_return_nothing(index, query):
    assert index.search(query) == []


def test_unknown_tokens_do_not_hide_known_ones(index):
    assert set(ids(index.search("ceramic zzzqqq mug"))) == {"mug-red", "mug-blue"}


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_any_query_answers(shared_index, query):
    hits = shared_index.search(query, k=5)
    assert len(hits) <= 5 and all(isinstance(h, SearchHit) for h in hits)


@pytest.mark.parametrize(
    "query, expressions, expected",
    [
        ("mug", ["price<=10"], {"mug-red", "mug-blue"}),
        ("hiking", ["in_stock=true"], {"socks"}),
        ("hiking", ["in_stock=false"], {"boots"}),
        ("red", ["category=fashion"], {"dress-red"}),
        ("headphones", ["brand=SONY,bose"], {"sony-xm4", "bose-qc45"}),
        ("headphones", ["brand=Bose", "in_stock=true"], set()),
        ("wireless", ["price<=1000"], {"sony-xm4"}),  # the earbuds have no price
        ("wireless", ["category=Electronics > Audio"], {"sony-xm4", "earbuds"}),
        ("连衣裙", ["price=150..180"], {"dress-zh-blue"}),
        ("ceramic mug", ["category=Home > Kitchen > Mugs", "brand=acme", "price=8..9", "in_stock=true"],
         {"mug-red", "mug-blue"}),
        ("mug", ["category=Home > Kitch"], set()),  # prefixes are whole levels
    ],
)
def test_filters(index, query, expressions, expected):
    assert set(ids(index.search(query, k=20, filters=parse_filters(expressions)))) == expected


def test_filter_ids_and_exclude(index):
    assert index.filter_ids(SearchFilters(category="Home > Kitchen")) == ["mug-red", "mug-blue", "teapot", "kettle",
                                                                         "knife"]
    assert ids(index.search("mug", exclude={"mug-red", "no-such-item"})) == ["mug-blue"]


def test_pages_are_consistent(index):
    full = ids(index.search("dress", k=6))
    assert len(full) >= 4
    assert ids(index.search("dress", k=2)) + ids(index.search("dress", k=4, offset=2)) == full
    assert index.search("dress", k=3, offset=100) == []


def test_batch_equals_single_searches(index):
    queries = ["red dresses", "红色连衣裙", "", "headphones", "zzz", "mug"]
    filters = parse_filters(["price<=100"])
    assert index.search_batch(queries, k=3, filters=filters) == [
        index.search(q, k=3, filters=filters) for q in queries
    ]


def test_remove_takes_effect_without_refit(index, items):
    assert len(index) == items.height
    assert "teapot" in ids(index.search("teapot"))
    index.remove(["teapot", "not-indexed"])
    assert index.search("teapot") == []
    assert "teapot" not in index.filter_ids(SearchFilters(category="Home"))
    assert len(index) == items.height - 1
    index.remove([])
    assert len(index) == items.height - 1


def test_save_load_round_trip_gives_identical_results(index, tmp_path, monkeypatch):
    index.remove(["mug-blue"])
    index.save(tmp_path / "lexical")
    index.save(tmp_path / "lexical")  # overwriting an earlier save is fine

    def no_tokenizing(*args, **kwargs):
        raise AssertionError("load must not tokenize the catalog")

    monkeypatch.setattr(Tokenizer, "_analyze", no_tokenizing)
    loaded = LexicalIndex.load(tmp_path / "lexical")
    monkeypatch.undo()
    assert loaded.get_params() == index.get_params() and len(loaded) == len(index)
    np.testing.assert_array_equal(loaded.item_ids_, index.item_ids_)
    queries = [r["title"] for r in SEARCH_CATALOG] + ["red dresses", "wh1000xm4", "mug", "zzz"]
    for filters in (None, parse_filters(["category=Home"]), parse_filters(["price<=50", "in_stock=true"])):
        assert loaded.search_batch(queries, k=5, filters=filters) == index.search_batch(queries, k=5, filters=filters)
    assert "mug-blue" not in ids(loaded.search("mug"))


def test_answers_before_fit_raise_not_trained(tmp_path):
    index = LexicalIndex()
    assert len(index) == 0
    for call in (lambda: index.search("mug"), lambda: index.search_batch(["mug"]), lambda: index.remove(["x"]),
                 lambda: index.filter_ids(), lambda: index.save(tmp_path / "x")):
        with pytest.raises(NotTrained):
            call()
    with pytest.raises(NotTrained):
        LexicalIndex.load(tmp_path / "missing")


def test_bad_arguments_are_validation_errors(index):
    with pytest.raises(ValidationError, match="k must"):
        index.search("mug", k=0)
    with pytest.raises(ValidationError, match="offset"):
        index.search("mug", offset=-1)
    with pytest.raises(ValidationError, match="title_weight"):
        LexicalIndex(title_weight=-1).fit(catalog_frame())
    with pytest.raises(ValidationError, match="item_id"):
        LexicalIndex().fit(pl.DataFrame({"title": ["x"]}))


def test_degenerate_catalogs(tmp_path):
    empty = LexicalIndex().fit(catalog_frame([]))
    assert len(empty) == 0 and empty.search("mug") == [] and empty.filter_ids() == []
    emoji = LexicalIndex().fit(catalog_frame([{"item_id": "a", "title": "🙂"}, {"item_id": "b", "title": "🎉"}]))
    assert emoji.search("mug") == [] and len(emoji) == 2
    emoji.save(tmp_path / "emoji")
    assert LexicalIndex.load(tmp_path / "emoji").filter_ids() == ["a", "b"]


def test_duplicate_ids_keep_the_last_row():
    rows = [{"item_id": "a", "title": "old mug"}, {"item_id": "a", "title": "new cup"}]
    index = LexicalIndex().fit(catalog_frame(rows))
    assert len(index) == 1 and ids(index.search("cup")) == ["a"] and index.search("mug") == []
