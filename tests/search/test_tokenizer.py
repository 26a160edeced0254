from hypothesis import given, settings
from hypothesis import strategies as st

from cartwise.search import Tokenizer

tokenizer = Tokenizer()


def test_chinese_is_segmented_the_same_with_or_without_spaces():
    joined = set(tokenizer.tokenize("红色连衣裙"))
    assert {"红色", "连衣裙"} <= joined
    assert joined == set(tokenizer.tokenize("红色 连衣裙")) == set(tokenizer.tokenize("连衣裙 红色"))


def test_english_is_lowercased_and_stemmed():
    assert tokenizer.tokenize("red dresses") == tokenizer.tokenize("Red Dress") == ["red", "dress"]
    assert tokenizer.tokenize("Hiking BOOTS") == tokenizer.tokenize("hike boot")


def test_model_numbers_match_with_and_without_separators():
    tokens = tokenizer.tokenize("Sony WH-1000XM4")
    assert {"wh1000xm4", "wh", "1000xm4"} <= set(tokens)
    assert "wh1000xm4" in tokenizer.tokenize("wh1000xm4")
    assert "wh1000xm4" in tokenizer.tokenize("ＷＨ－１０００ＸＭ４")  # full-width, NFKC


def test_numbers_are_kept():
    assert tokenizer.tokenize("2.4 GHz") == tokenizer.tokenize("2.4GHz") == ["2.4", "ghz"]
    assert "1000" in tokenizer.tokenize("1,000 mAh")
    assert "65w" in tokenizer.tokenize("USB-C Fast Charger 65W")


def test_stopwords_are_dropped_but_meaningful_words_stay():
    assert tokenizer.tokenize("the mug of a king") == ["mug", "king"]
    assert "without" in tokenizer.tokenize("coffee without sugar")
    assert Tokenizer(stopwords=()).tokenize("the mug") == ["the", "mug"]


def test_mixed_scripts_and_possessives():
    assert tokenizer.tokenize("iPhone15手机壳") == ["iphone15", "手机", "壳"]
    assert tokenizer.tokenize("Men's") == tokenizer.tokenize("mens") == ["men"]


def test_analyze_keeps_the_words_as_written():
    assert tokenizer.analyze("Red Dresses") == [("red", "red"), ("dress", "dresses")]
    assert tokenizer.analyze("WH-1000XM4")[0] == ("wh1000xm4", "wh-1000xm4")


def test_batch_matches_single_calls():
    texts = ["Red Dress", "", "红色连衣裙", "WH-1000XM4"]
    assert tokenizer.tokenize_batch(texts) == [tokenizer.tokenize(t) for t in texts]


def test_odd_input_never_raises():
    odd = ["", "   ", "\x00\x01\x02\x7f", "🙂🙂👍🏽", "'; DROP TABLE items; --", "a" * 10_000,
           ("红色连衣裙 WH-1000XM4 🙂\u200b\ufeff" * 400)[:10_000], "\ud800", "-_./+&", "1.2.3.4.5" * 100]
    for text in odd:
        assert isinstance(tokenizer.tokenize(text), list)
    assert tokenizer.tokenize(None) == []  # type: ignore[arg-type]
    assert tokenizer.tokenize("\x00'; DROP TABLE items; --") == ["drop", "tabl", "item"]
    assert all(len(t) <= 64 for t in tokenizer.tokenize("a" * 10_000))


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_text_gives_clean_tokens(text):
    tokens = tokenizer.tokenize(text)
    assert all(isinstance(t, str) and t and t == t.strip() for t in tokens)
    assert [t for t, _ in tokenizer.analyze(text)] == tokens
