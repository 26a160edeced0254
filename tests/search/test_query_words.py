"""How the words of a query are read (issue 9): an item id names its item, typo correction
leaves real words alone, and the head noun of a short product query outweighs its modifiers."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cartwise.search import HybridSearcher, LexicalIndex, SearchFilters
from cartwise.vectors import VectorIndex


class _Encoder:
    """A deterministic stand-in for a text encoder: hashed bag of words."""

    name = "hashed-words"
    dim = 64

    def encode_queries(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, sum(map(ord, word)) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)


RETAIL = [
    ("85123A", "WHITE HANGING HEART T-LIGHT HOLDER"),
    ("21733", "RED HANGING HEART T-LIGHT HOLDER"),
    ("16008", "SMALL FOLDING SCISSOR(POINTED EDGE)"),
    ("22197", "POPCORN HOLDER"),
    ("85099B", "JUMBO BAG RED RETROSPOT"),
    ("20711", "JUMBO BAG TOYS"),
    ("20712", "JUMBO BAG WOODLAND ANIMALS"),
    ("22258", "FELT FARM ANIMAL RABBIT"),
    ("22264", "FELT FARM ANIMAL WHITE BUNNY"),
    ("22865", "HAND WARMER OWL DESIGN"),
    ("22632", "HAND WARMER RED RETROSPOT"),
    ("23439", "HAND WARMER RED LOVE HEART"),
    ("20832", "RED FLOCK LOVE HEART PHOTO FRAME"),
    ("23476", "WOODLAND LARGE RED FELT HEART"),
    ("84029E", "RED WOOLLY HOTTIE WHITE HEART."),
    ("22464", "HANGING METAL HEART LANTERN"),
    ("23099", "FRENCH CARRIAGE LANTERN"),
    ("22224", "WHITE LOVEBIRD LANTERN"),
    ("20674", "GREEN POLKADOT BOWL"),
    ("20675", "BLUE POLKADOT BOWL"),
    ("20676", "RED RETROSPOT BOWL"),
    ("20677", "PINK POLKADOT BOWL"),
    ("21479", "WHITE SKULL HOT WATER BOTTLE"),
    ("22111", "SCOTTIE DOG HOT WATER BOTTLE"),
    ("23355", "HOT WATER BOTTLE KEEP CALM"),
]


def _items() -> pl.DataFrame:
    return pl.DataFrame({"item_id": [i for i, _ in RETAIL], "title": [t for _, t in RETAIL]})


@pytest.fixture(scope="module")
def lexical() -> LexicalIndex:
    return LexicalIndex().fit(_items())


@pytest.fixture(scope="module")
def searcher(lexical: LexicalIndex) -> HybridSearcher:
    encoder = _Encoder()
    vectors = VectorIndex(backend="exact").add([i for i, _ in RETAIL], encoder.encode_queries([t for _, t in RETAIL]))
    return HybridSearcher(lexical=lexical, vectors=vectors, encoder=encoder)


def first(searcher: HybridSearcher, query: str, mode: str = "hybrid", **options) -> str | None:
    hits = searcher.search(query, mode=mode, k=5, **options).hits
    return hits[0].item_id if hits else None


# -- point 5: ids -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["lexical", "semantic", "hybrid"])
@pytest.mark.parametrize(
    ("query", "item"),
    [("85123A", "85123A"), ("85123a", "85123A"), ("21733", "21733"), (" 22197 ", "22197"),
     ("item 22197", "22197"), ("85099b jumbo bag", "85099B"), ("sku: 85099B", "85099B")],
)
def test_an_item_id_typed_into_the_box_comes_first(searcher, query, item, mode):
    assert first(searcher, query, mode) == item


def test_an_id_outside_the_filters_is_not_forced_in(searcher):
    assert first(searcher, "21733", "lexical", filters=SearchFilters(price_min=5.0)) is None


def test_short_words_and_numbers_that_are_no_id_pin_nothing(lexical):
    assert lexical.id_rows("bag").size == 0 and lexical.id_rows("jumbo bag 12").size == 0
    assert lexical.id_rows("JUMBO BAG RED RETROSPOT").size == 0


def test_a_bare_number_among_words_is_an_id_only_after_a_cue(lexical):
    # "1000 piece puzzle" or "calendar 2024" must not pin items whose ids are 1000 or 2024.
    assert lexical.id_rows("popcorn holder 22197").size == 0
    assert lexical.id_rows("22197 popcorn holders").size == 0
    assert lexical.id_rows("#22197").size == 1 and lexical.id_rows("item no. 22197").size == 1
    assert lexical.id_rows("货号 22197").size == 1


# -- point 6: typo correction -------------------------------------------------------------


@pytest.mark.parametrize("query", ["warm", "something to keep warm in winter", "keep warm"])
def test_real_english_words_are_not_corrected(lexical, query):
    scored = lexical.score(query)
    assert scored.corrections == {}
    assert "farm" not in scored.tokens


def test_a_word_finds_the_catalog_forms_made_from_it(lexical, searcher):
    # "warm" is not a catalog word, "warmer" is: the hand warmers match, not a felt farm animal.
    scored = lexical.score("something to keep warm in winter")
    assert "warmer" in scored.tokens
    assert first(searcher, "warm", "lexical") in {"22865", "22632", "23439"}
    found = [h.item_id for h in searcher.search("keep warm", mode="lexical", k=5).hits]
    assert {"22865", "22632", "23439"} & set(found) and not {"22258", "22264"} & set(found)


def test_misspellings_are_still_corrected(lexical):
    assert lexical.score("hangin lantren").corrections == {"hangin": "hang", "lantren": "lantern"}
    # A rare dictionary word that is a likely slip in a shop is corrected too.
    assert lexical.score("hart").corrections == {"hart": "heart"}


def test_a_correction_the_meaning_does_not_support_is_dropped(lexical, searcher):
    # Lexically "botle" is one edit from "bowl" (4 items) and "bottle" (3 items), and the more
    # common word wins; nothing close in meaning to "hot water botle" is a bowl.
    assert lexical.score("hot water botle").corrections == {"botle": "bowl"}
    result = searcher.search("hot water botle", mode="hybrid", k=3)
    assert result.corrections == {}
    assert {h.item_id for h in result.hits} == {"21479", "22111", "23355"}


# -- point 8: the head noun ----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["lexical", "hybrid"])
def test_the_product_type_outweighs_its_modifiers(searcher, mode):
    hits = [h.item_id for h in searcher.search("red heart lantern", mode=mode, k=3).hits]
    assert hits[0] == "22464"  # the heart lantern, not a red heart hand warmer
    assert set(hits) <= {"22464", "23099", "22224"}


def test_the_head_is_the_last_noun_of_a_short_phrase_only(lexical):
    words = lambda q: [(t, s) for t, s in lexical.tokenizer_.analyze(q)]
    assert lexical._head("red heart lantern", words("red heart lantern")) == "lantern"
    assert lexical._head("lantern red", words("lantern red")) == "lantern"  # a trailing colour is skipped
    assert lexical._head("keep it hot", words("keep it hot")) is None  # a sentence
    assert lexical._head("jumbo bag hot", words("jumbo bag hot")) is None  # "hot" ends no title
    assert lexical._head("85099b jumbo bag", words("85099b jumbo bag")) is None  # a code leads instead


def test_head_shares_survive_save_and_load(lexical, tmp_path):
    lexical.save(tmp_path / "index")
    loaded = LexicalIndex.load(tmp_path / "index")
    assert loaded.head_share_ == pytest.approx(lexical.head_share_)
    assert loaded.head_share_["lantern"] > 0.5 and "red" not in loaded.head_share_
