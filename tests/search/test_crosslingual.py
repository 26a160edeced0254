"""Chinese queries over English catalogs: dictionary translation of the query (issue 9, point 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cartwise import Engine
from cartwise.search.crosslingual import Lexicon, QueryTranslator

GIFT_SHOP = [
    {"item_id": "lantern-heart", "title": "RED HEART SHAPE LANTERN"},
    {"item_id": "lantern-white", "title": "WHITE MOROCCAN METAL LANTERN"},
    {"item_id": "lipstick-pen", "title": "LIPSTICK PEN RED"},
    {"item_id": "heart-holder", "title": "RED HANGING HEART T-LIGHT HOLDER"},
    {"item_id": "clock", "title": "RED RETRO KITCHEN WALL CLOCK"},
    {"item_id": "doormat", "title": "DOORMAT RED RETROSPOT"},
    {"item_id": "lamp", "title": "RED TOADSTOOL LED NIGHT LIGHT"},
    {"item_id": "warmer", "title": "HAND WARMER RED LOVE HEART"},
    {"item_id": "mug", "title": "SPOTTY RED CERAMIC MUG"},
    {"item_id": "bag", "title": "JUMBO BAG RED RETROSPOT"},
]

ELECTRONICS = [
    {"item_id": "dell-gpu", "brand": "Dell", "title": "Dell ATI Radeon HD 3450 Graphics Card - 256MB"},
    {"item_id": "evga-gpu", "brand": "EVGA", "title": "EVGA GeForce 9800 GT Video Graphics Card"},
    {"item_id": "dell-monitor", "brand": "Dell", "title": "Dell UltraSharp 24 Widescreen Flat Panel Monitor"},
    {"item_id": "dell-laptop", "brand": "Dell", "title": "Dell Inspiron 15 Laptop Computer"},
    {"item_id": "sony-headphones", "brand": "Sony", "title": "Sony Noise Canceling Headphones - MDRNC60"},
    {"item_id": "sony-tv", "brand": "Sony", "title": "Sony Bravia 40 LCD HDTV - KDL40V5100"},
    {"item_id": "bose-headphones", "brand": "Bose", "title": "Bose QuietComfort 2 Acoustic Noise Cancelling Headphones"},
    {"item_id": "sony-camera", "brand": "Sony", "title": "Sony Cyber-shot Digital Camera - DSCW120"},
    {"item_id": "canon-printer", "brand": "Canon", "title": "Canon PIXMA Photo Printer - MP620"},
    {"item_id": "logitech-mouse", "brand": "Logitech", "title": "Logitech Cordless Optical Mouse"},
]


def _store(path: Path, items: list[dict]) -> Engine:
    engine = Engine.open(path)
    report = engine.upsert_items(items)
    assert report.rows_rejected == 0, report.rejects
    engine.train()
    return engine


@pytest.fixture(scope="module")
def gift_shop(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return _store(tmp_path_factory.mktemp("gift") / "store", GIFT_SHOP)


@pytest.fixture(scope="module")
def electronics(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return _store(tmp_path_factory.mktemp("electronics") / "store", ELECTRONICS)


def _ids(response) -> list[str]:
    return [item.item_id for item in response.items]


@pytest.mark.parametrize("mode", ["hybrid", "lexical", "semantic"])
def test_red_heart_lantern_in_chinese_finds_the_red_heart_lantern(gift_shop, mode):
    # Before translation the encoder put the red lipstick pen first in this catalog's demo.
    assert _ids(gift_shop.search("红色 心形 灯笼", mode=mode))[0] == "lantern-heart"


def test_red_lamp_in_chinese_finds_a_light_not_a_clock_or_doormat(gift_shop):
    top = _ids(gift_shop.search("红色 灯"))[0]
    assert top == "lamp"


@pytest.mark.parametrize(
    ("query", "expected"),
    [("戴尔 显卡", "dell-gpu"), ("索尼 耳机", "sony-headphones"), ("索尼耳机", "sony-headphones"),
     ("佳能打印机", "canon-printer"), ("罗技 无线鼠标", "logitech-mouse")],
)
def test_brand_and_product_type_in_chinese(electronics, query, expected):
    assert _ids(electronics.search(query))[0] == expected


def test_product_type_alone_in_chinese(electronics):
    top = _ids(electronics.search("显卡", k=2))
    assert set(top) == {"dell-gpu", "evga-gpu"}


def test_translation_is_reported(electronics):
    response = electronics.search("戴尔 显卡 500元以下")
    assert response.searched == "Dell graphics card"
    chip = next(c for c in response.chips if c.kind == "translation")
    assert chip.label == "戴尔 显卡 → Dell graphics card"
    assert chip.value["words"] == {"戴尔": "Dell", "显卡": "graphics card"}
    assert chip.applied == "searched"
    # The brand read from the English is a chip that quotes the Chinese word; the price stays a filter.
    brand = next(c for c in response.chips if c.kind == "brand")
    assert brand.text == "戴尔"
    price = next(c for c in response.chips if c.kind == "price")
    assert (price.text, price.value, price.applied) == ("500元以下", {"max": 500.0}, "filter")


@pytest.mark.parametrize("mode", ["hybrid", "lexical", "semantic"])
def test_english_queries_are_unchanged(electronics, mode):
    service = electronics.state.search
    assert service is not None and service.translator is not None
    for query in ("sony headphones", "Dell graphics card", "printer under 200", "WH-1000XM4"):
        with_translation = electronics.search(query, mode=mode)
        service.translator = None
        try:
            without = electronics.search(query, mode=mode)
        finally:
            service.translator = electronics.state.search.translator or QueryTranslator()
        assert [(i.item_id, i.score) for i in with_translation.items] == [(i.item_id, i.score) for i in without.items]
        assert with_translation.chips == without.chips
        assert not any(c.kind == "translation" for c in with_translation.chips)


def test_chinese_catalog_is_not_translated(engine):
    # tests/conftest.py's catalog has Chinese items: Chinese queries match them as before.
    assert engine.state is not None
    assert engine.state.search.translator is None
    response = engine.search("红色连衣裙")
    assert _ids(response)[0] == "dress-zh"
    assert not any(c.kind == "translation" for c in response.chips)


def test_mostly_chinese_catalog_gets_no_translator(tmp_path):
    items = [{"item_id": f"zh-{i}", "title": f"红色 连衣裙 {i} 号"} for i in range(5)]
    items.append({"item_id": "en", "title": "Red dress"})
    engine = Engine.open(tmp_path / "store")
    engine.upsert_items(items)
    engine.train(encoder=None)
    assert engine.state is not None and engine.state.search.translator is None


def test_translator_searches_the_word_the_catalog_uses_most():
    counts = {"earphones": 3, "headset": 5}
    translator = QueryTranslator(frequency=lambda word: counts.get(word, 0))
    assert translator.translate("耳机").text == "headset"
    assert QueryTranslator(frequency=lambda word: 0).translate("耳机").text == "headphones"
    # A generic alternative gives way to a more specific one the catalog also uses.
    counts = {"frame": 40, "photo frame": 25}
    assert QueryTranslator(frequency=lambda word: counts.get(word, 0)).translate("相框").text == "photo frame"


def test_translator_keeps_latin_words_and_drops_filler():
    translation = QueryTranslator().translate("我想买一个白色的暖手宝 XL")
    assert translation.text == "white hand warmer XL"
    assert QueryTranslator().translate("sony headphones") is None


def test_an_unknown_transliterated_name_is_kept_as_typed_not_glossed_character_by_character():
    # 莱斯 (a brand's sound, not in the lexicon) would otherwise read "Chenopodium album Slovakia".
    translation = QueryTranslator().translate("莱斯 移动硬盘")
    assert translation.text == "莱斯 portable hard drive"
    assert translation.untranslated == ("莱斯",)


def test_words_outside_the_curated_lexicon_come_from_cc_cedict():
    lexicon = Lexicon.shipped()
    assert "怀表" not in lexicon.curated
    assert QueryTranslator().translate("怀表").text == "pocket watch"


def test_lexicon_is_large_and_well_formed():
    lexicon = Lexicon.shipped()
    assert len(lexicon.brands) >= 300
    assert len(lexicon.curated) >= 900
    for word, alternatives in lexicon.curated.items():
        assert word and alternatives and all(a.strip() == a and a for a in alternatives), word
