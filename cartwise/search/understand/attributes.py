"""Attribute vocabularies: built-in colours and sizes (English and Chinese), their canonical
forms and chip labels, and the words never read as a brand or a category name.
"""

from __future__ import annotations

import re

from cartwise.search.understand.text import (
    FOLD_WIDTH,
    SPACE_OR_CONTROL,
    fmt_number,
    has_han,
    lower_same_length,
)

_COLOUR_WORDS: dict[str, tuple[str, ...]] = {
    "red": ("red", "红色", "红"),
    "blue": ("blue", "蓝色", "蓝"),
    "green": ("green", "绿色", "绿"),
    "black": ("black", "黑色", "黑"),
    "white": ("white", "白色", "白"),
    "yellow": ("yellow", "黄色", "黄"),
    "pink": ("pink", "粉色", "粉红色", "粉红", "粉"),
    "purple": ("purple", "紫色", "紫"),
    "orange": ("orange", "橙色", "橙"),
    "grey": ("grey", "gray", "灰色", "灰"),
    "brown": ("brown", "棕色", "咖啡色", "棕"),
    "beige": ("beige", "米色"),
    "gold": ("gold", "金色"),
    "silver": ("silver", "银色"),
    "navy": ("navy", "navy blue", "藏青", "藏青色", "深蓝", "深蓝色"),
}
_COLOUR_ZH_LABEL = {canonical: forms[1] for canonical, forms in _COLOUR_WORDS.items() if canonical != "navy"}
_COLOUR_ZH_LABEL["navy"] = "藏青色"
BUILTIN_COLOURS: dict[str, str] = {form: canonical for canonical, forms in _COLOUR_WORDS.items() for form in forms}
# One-character Chinese colours ("红连衣裙") count only at the start of a run of Han characters
# followed by more Han characters, and not in these everyday words that merely start with one.
SINGLE_CHAR_COLOURS = {form: canonical for form, canonical in BUILTIN_COLOURS.items() if len(form) == 1
                        and has_han(form)}
SINGLE_CHAR_EXCEPTIONS = frozenset({
    "白酒", "红酒", "黄酒", "黑客", "白菜", "绿茶", "红茶", "黑茶", "白茶", "黄金", "白金", "粉丝",
    "紫菜", "红包", "黄油", "白糖", "红糖", "黑糖", "黄瓜", "红薯", "紫薯", "红枣", "黑莓", "蓝莓",
    "蓝牙", "白板", "黑板", "粉底", "粉饼", "粉刺", "灰度", "红外", "白领", "蓝天", "白天", "黑夜",
    "黑白", "红绿", "白兰", "黄豆", "绿豆", "红豆", "黑豆", "白米", "黑米", "白发", "黑发", "红木",
    "白银", "黄铜", "红铜", "白鞋", "黄山", "白水", "红利", "黑名", "白名", "绿化", "白雪", "黑洞",
    "红尘", "绿洲", "黄昏", "灰尘", "橙汁", "紫外", "蓝光", "红光", "白光", "黄页", "绿卡", "白条",
    "红娘", "粉末",
})

SIZE_CANONICAL = {
    "xxs": "XXS", "xs": "XS", "s": "S", "m": "M", "l": "L", "xl": "XL", "xxl": "XXL", "2xl": "XXL",
    "xxxl": "XXXL", "3xl": "XXXL", "xxxxl": "4XL", "4xl": "4XL", "5xl": "5XL",
    "小号": "S", "小码": "S", "中号": "M", "中码": "M", "大号": "L", "加大号": "XL", "加大码": "XL",
    "特大号": "XXL", "加加大号": "XXL", "加加大": "XXL",
}
_SIZE_LETTERS = r"xxxxl|xxxl|xxl|xxs|xs|xl|[2-5]xl|s|m|l"
_SIZE_CUE = r"(?:sizes?|sz|尺码|尺寸|码数|码号|码)"
SIZE_PATTERNS: tuple[re.Pattern[str], ...] = (
    # "size XL", "size: m", "尺码 L", "size 42", "尺码42", "size 9.5"
    re.compile(rf"(?<![A-Za-z0-9]){_SIZE_CUE}\s{{0,2}}[:=]?\s{{0,2}}"
               rf"(?P<size>(?:{_SIZE_LETTERS})(?![A-Za-z0-9])|\d{{1,3}}(?:\.5)?(?![\d.]))", re.IGNORECASE),
    # "XL", "xxl", "2XL", "XL码", "M码", "s码"
    re.compile(r"(?<![A-Za-z0-9&'\u2019./-])(?P<size>xxxxl|xxxl|xxl|xxs|xs|xl|[2-5]xl)(?![A-Za-z0-9&'\u2019/-])"
               r"(?:\s?码)?", re.IGNORECASE),
    re.compile(r"(?<![A-Za-z0-9&'\u2019./-])(?P<size>[sml])\s?码", re.IGNORECASE),
    # A standalone upper-case S, M or L (not after a number: "2 L" is two litres).
    re.compile(r"(?<![A-Za-z0-9&'\u2019./-])(?<!\d\s)(?P<size>[SML])(?![A-Za-z0-9&'\u2019/-]|\.[A-Za-z0-9])"),
    # "42码", "42 码"
    re.compile(r"(?<![\d.A-Za-z])(?P<size>\d{1,3}(?:\.5)?)\s?码"),
    re.compile(r"(?P<size>加加大号|加加大|特大号|加大号|加大码|大号|中号|中码|小号|小码)"),
)


def canonical_colour(value: str) -> str | None:
    """The built-in canonical English name of a colour word (``"红色"`` -> ``"red"``), else None."""
    if not isinstance(value, str):
        return None
    key = " ".join(SPACE_OR_CONTROL.split(lower_same_length(value.translate(FOLD_WIDTH)).strip()))
    return BUILTIN_COLOURS.get(key)


def canonical_size(value: str) -> str | None:
    """The canonical form of a size (``"2xl"`` -> ``"XXL"``, ``"大号"`` -> ``"L"``, ``"42.0"`` -> ``"42"``), else None."""
    if not isinstance(value, str):
        return None
    key = value.translate(FOLD_WIDTH).strip().lower()
    if key.endswith("码") and len(key) > 1 and key not in SIZE_CANONICAL:
        key = key[:-1].strip()
    if key in SIZE_CANONICAL:
        return SIZE_CANONICAL[key]
    if re.fullmatch(r"\d{1,3}(?:\.\d+)?", key):
        number = float(key)
        if number * 2 == int(number * 2):  # whole and half sizes only
            return fmt_number(number)
    return None


# Common words that are never read as a brand, even when a catalog has a brand spelled that way.
BRAND_STOPWORDS = frozenset({
    "a", "an", "the", "and", "or", "of", "for", "with", "to", "in", "on", "at", "by", "from", "new", "best", "top",
    "one", "all", "any", "more", "most", "pro", "plus", "max", "mini", "big", "small", "little", "tiny", "good",
    "great", "basic", "basics", "essential", "essentials", "classic", "original", "premium", "luxury", "style",
    "life", "living", "home", "house", "kitchen", "garden", "sport", "sports", "outdoor", "outdoors", "active",
    "fashion", "beauty", "pure", "natural", "nature", "organic", "simple", "smart", "modern", "urban", "vintage",
    "design", "designs", "studio", "collection", "shop", "store", "market", "select", "choice", "value", "daily",
    "everyday", "gift", "gifts", "sale", "deal", "deals", "free", "cheap", "size", "sizes", "color", "colour",
    "colors", "colours", "kids", "kid", "baby", "babies", "men", "mens", "man", "women", "womens", "woman", "girls",
    "girl", "boys", "boy", "junior", "unisex", "set", "sets", "pack", "kit", "case", "cover", "bag", "box", "cotton",
    "wool", "leather", "silk", "steel", "wood", "glass", "water", "air", "sun", "star", "love", "happy", "light",
    "dark"
})
GENERIC_CATEGORY_WORDS = frozenset({
    "home", "other", "others", "misc", "miscellaneous", "general", "all", "more", "new", "sale", "default",
    "uncategorized", "uncategorised", "product", "products", "item", "items", "good", "goods", "stuff", "various",
    "everything", "其他", "其它", "全部", "默认", "商品", "未分类", "更多", "其他商品"
})
CATEGORY_NAME_SPLIT = re.compile(r"\s*(?:&|/|,|\+|\band\b)\s*", re.IGNORECASE)


def label_brand(value: str, chinese: bool) -> str:
    return f"品牌: {value}" if chinese else f"brand: {value}"


def label_colour(value: str, chinese: bool) -> str:
    if chinese:
        return f"颜色: {_COLOUR_ZH_LABEL.get(value, value)}"
    return f"colour: {value}"


def label_size(value: str, chinese: bool) -> str:
    return f"尺码: {value}" if chinese else f"size: {value}"
