"""Query understanding: price, category, brand, colour and size constraints in a shopper's query.

:class:`QueryUnderstanding` is built once from the catalog's category paths, brand names and
attribute values; :meth:`QueryUnderstanding.parse` then reads a query such as
``"红色 连衣裙 200元以下"`` or ``"waterproof hiking boots for kids under $50"`` into a
:class:`ParsedQuery`: price bounds, the catalog categories and brands it names, canonical
colours and sizes, and one :class:`Chip` per constraint for the front end to show and strike out.

Everything is plain Python and regular expressions compiled at import or in ``__init__``;
catalog names are looked up through dictionaries keyed by the query's words (Latin script) or
by the first character (Chinese), so a parse costs time linear in the query, not in the catalog.
Price phrases are removed from :attr:`ParsedQuery.text`; brand, category, colour and size words
stay there because they still help lexical matching.
"""

from __future__ import annotations

import bisect
import logging
import math
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Chip", "ParsedQuery", "QueryUnderstanding", "canonical_colour", "canonical_size"]

logger = logging.getLogger(__name__)

_MAX_PRICE = 1e9
# Constraints are read from the first this-many characters (cut at a space); the rest of a longer
# "query" (a pasted product description, say) is kept in the text but not analysed. Parsing is
# linear, so this only bounds the worst case (about 10 ms) rather than guarding against blow-ups.
_MAX_ANALYSED_CHARS = 2_000

# --------------------------------------------------------------------------------------------
# Public data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Chip:
    """One removable constraint read from the query.

    ``kind`` is ``"price"``, ``"category"``, ``"brand"``, ``"colour"`` or ``"size"``; ``text`` is
    the exact substring of the original query it came from; ``value`` is the machine form, e.g.
    ``{"max": 200.0}``, ``{"category": "Home > Kitchen"}``, ``{"colour": "red"}``.
    """

    kind: str
    label: str
    text: str
    value: dict[str, Any] = field(hash=False)


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """A query split into free text and structured constraints.

    ``text`` is the query without its price phrases, whitespace collapsed; brand, category,
    colour and size words are kept in it. Price bounds are inclusive; ``None`` means unbounded.
    """

    original: str
    text: str
    price_min: float | None
    price_max: float | None
    categories: tuple[str, ...]
    brands: tuple[str, ...]
    colours: tuple[str, ...]
    sizes: tuple[str, ...]
    chips: tuple[Chip, ...]
    price_currency: str | None = None
    """ISO 4217 code written with the price ("$", "元", "pounds"); None for a bare number,
    which means the catalog's own currency."""


# --------------------------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------------------------

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_HAN_CHAR = re.compile(f"[{_HAN}]")
# Full-width ASCII (Ｕｎｄｅｒ ５０, ２００元, ～) and the ideographic space map one-to-one onto
# ASCII, so offsets into the folded string are offsets into the original.
_FOLD_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_FOLD_WIDTH[0x3000] = 0x20
_FOLD_WIDTH[0xFFE5] = 0xA5  # ￥ -> ¥
# Latin words (with inner apostrophes: "levi's") and runs of Han characters, with their offsets.
_TOKEN = re.compile(rf"(?P<han>[{_HAN}]+)|(?P<word>[^\W_{_HAN}]+(?:['\u2019\u02bc][^\W_{_HAN}]+)*)")
_APOSTROPHES = str.maketrans("", "", "'\u2019\u02bc")
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")


def _fold_word(word: str) -> str:
    """Lower case, apostrophes dropped, accents stripped: ``"Nestlé"`` -> ``"nestle"``."""
    word = word.lower().translate(_APOSTROPHES)
    if not word.isascii():
        word = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    return word


def _singular(word: str) -> str:
    """Crude English plural folding used for category names: teapots, boxes, accessories."""
    if len(word) <= 3 or not word.isalpha() or not word.isascii():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("es") and word[:-2].endswith(("s", "x", "z", "ch", "sh")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _words(text: str) -> list[str]:
    """Folded Latin words of a catalog name; empty if it contains Han characters."""
    return [_fold_word(m.group("word")) for m in _TOKEN.finditer(text.translate(_FOLD_WIDTH)) if m.group("word")]


def _lower_same_length(text: str) -> str:
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def _has_han(text: str) -> bool:
    return _HAN_CHAR.search(text) is not None


def _fmt(value: float) -> str:
    if value == int(value):
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


# --------------------------------------------------------------------------------------------
# Colours and sizes
# --------------------------------------------------------------------------------------------

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
_BUILTIN_COLOURS: dict[str, str] = {form: canonical for canonical, forms in _COLOUR_WORDS.items() for form in forms}
# One-character Chinese colours ("红连衣裙") count only at the start of a run of Han characters
# followed by more Han characters, and not in these everyday words that merely start with one.
_SINGLE_CHAR_COLOURS = {form: canonical for form, canonical in _BUILTIN_COLOURS.items() if len(form) == 1
                        and _has_han(form)}
_SINGLE_CHAR_EXCEPTIONS = frozenset({
    "白酒", "红酒", "黄酒", "黑客", "白菜", "绿茶", "红茶", "黑茶", "白茶", "黄金", "白金", "粉丝",
    "紫菜", "红包", "黄油", "白糖", "红糖", "黑糖", "黄瓜", "红薯", "紫薯", "红枣", "黑莓", "蓝莓",
    "蓝牙", "白板", "黑板", "粉底", "粉饼", "粉刺", "灰度", "红外", "白领", "蓝天", "白天", "黑夜",
    "黑白", "红绿", "白兰", "黄豆", "绿豆", "红豆", "黑豆", "白米", "黑米", "白发", "黑发", "红木",
    "白银", "黄铜", "红铜", "白鞋", "黄山", "白水", "红利", "黑名", "白名", "绿化", "白雪", "黑洞",
    "红尘", "绿洲", "黄昏", "灰尘", "橙汁", "紫外", "蓝光", "红光", "白光", "黄页", "绿卡", "白条",
    "红娘", "粉末",
})

_SIZE_CANONICAL = {
    "xxs": "XXS", "xs": "XS", "s": "S", "m": "M", "l": "L", "xl": "XL", "xxl": "XXL", "2xl": "XXL",
    "xxxl": "XXXL", "3xl": "XXXL", "xxxxl": "4XL", "4xl": "4XL", "5xl": "5XL",
    "小号": "S", "小码": "S", "中号": "M", "中码": "M", "大号": "L", "加大号": "XL", "加大码": "XL",
    "特大号": "XXL", "加加大号": "XXL", "加加大": "XXL",
}
_SIZE_LETTERS = r"xxxxl|xxxl|xxl|xxs|xs|xl|[2-5]xl|s|m|l"
_SIZE_CUE = r"(?:sizes?|sz|尺码|尺寸|码数|码号|码)"
_SIZE_PATTERNS: tuple[re.Pattern[str], ...] = (
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
    key = " ".join(_SPACE_OR_CONTROL.split(_lower_same_length(value.translate(_FOLD_WIDTH)).strip()))
    return _BUILTIN_COLOURS.get(key)


def canonical_size(value: str) -> str | None:
    """The canonical form of a size (``"2xl"`` -> ``"XXL"``, ``"大号"`` -> ``"L"``, ``"42.0"`` -> ``"42"``), else None."""
    if not isinstance(value, str):
        return None
    key = value.translate(_FOLD_WIDTH).strip().lower()
    if key.endswith("码") and len(key) > 1 and key not in _SIZE_CANONICAL:
        key = key[:-1].strip()
    if key in _SIZE_CANONICAL:
        return _SIZE_CANONICAL[key]
    if re.fullmatch(r"\d{1,3}(?:\.\d+)?", key):
        number = float(key)
        if number * 2 == int(number * 2):  # whole and half sizes only
            return _fmt(number)
    return None


# --------------------------------------------------------------------------------------------
# Numbers and prices
# --------------------------------------------------------------------------------------------

_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
_ZH_NUMERAL_CHARS = "零〇一二两三四五六七八九十百千万"


def _chinese_number(text: str) -> float | None:
    """Simple Chinese numerals: 两百 200, 一千 1000, 五十 50, 三百五 350, 一万五 15000, 一二三 123."""
    if not text:
        return None
    if all(c in _ZH_DIGITS for c in text):
        return float("".join(str(_ZH_DIGITS[c]) for c in text))
    total = 0
    section = 0
    digit: int | None = None
    last_unit = 0
    zero_seen = False
    for char in text:
        if char in _ZH_DIGITS:
            value = _ZH_DIGITS[char]
            if value == 0:
                zero_seen = True
                continue
            if digit is not None:
                return None  # "三四" is "three or four", not a number
            digit = value
        elif char in _ZH_UNITS:
            unit = _ZH_UNITS[char]
            section += (1 if digit is None else digit) * unit
            digit, last_unit, zero_seen = None, unit, False
        elif char == "万":
            section += 0 if digit is None else digit
            total = (total + (section or 1)) * 10_000
            section, digit, last_unit, zero_seen = 0, None, 10_000, False
        else:
            return None
    if digit is not None:
        # Colloquial 三百五 = 350 and 一万五 = 15000; 十五 and 三千零五 are literal.
        section += digit * (last_unit // 10) if last_unit >= 100 and not zero_seen else digit
    return float(total + section)


def _to_number(raw: str) -> float | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw[0].isascii():
        return _chinese_number(raw)
    multiplier = 1.0
    if raw[-1] in "kK千":
        multiplier, raw = 1_000.0, raw[:-1]
    elif raw[-1] == "万":
        multiplier, raw = 10_000.0, raw[:-1]
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", raw):
        raw = raw.replace(",", "")
    else:
        raw = raw.replace(",", ".")  # "9,99" is a decimal comma
    try:
        value = float(raw) * multiplier
    except ValueError:
        return None
    return value if math.isfinite(value) else None


_NUM = r"(?<![\d.,])(?>\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+|,\d{1,2}(?!\d))?(?![.,]?\d)"
_EN_UNITS = (
    r"inch(?:es)?|cm|mm|km|kgs?|lbs?|oz|ml|gb|tb|mb|mah|k?hz|[mg]hz|watts?|volts?|mp|megapixels?|packs?|pk|"
    r"pcs|pc|pieces?|count|ct|years?|yrs?|yo|months?|mos|weeks?|wks?|days?|hours?|hrs?|minutes?|mins?|"
    r"seconds?|secs?|feet|foot|ft|yards?|yds?|miles?|meters?|metres?|liters?|litres?|gallons?|gal|quarts?|qt|"
    r"sq|people|persons?|players?|seats?|servings?|cups?|rpm|btu|mph|lumens?|lm|dpi|fps|percent|degrees?|"
    r"series|th|st|nd|rd|w|v|g|x|%|\"|'|\u2033|\u201d|\u00b0|"
    # counted things: "more than 3 colours", "up to 4 slots"
    r"colou?rs?|items?|options?|styles?|pairs?|sets?|ways?|layers?|tiers?|slots?|ports?|drawers?|shelves|doors?|"
    r"burners?|speeds?|settings?|bottles?|cans?|rolls?|sheets?|stars?|reviews?|ratings?|units?|sizes?|models?"
)
# Not a price when the number is glued to letters/digits/Han or followed by a unit ("50 inch").
_EN_GUARD = rf"(?![^\W_])(?!\s{{0,2}}(?:{_EN_UNITS})(?![A-Za-z]))"
_EN_CURRENCY_WORDS = r"dollars?|bucks?|euros?|pounds?|quid|usd|eur|gbp|cad|aud|yuan|rmb|cny"
_START = r"(?<![A-Za-z0-9_])"
_START_NUMBER = r"(?<![A-Za-z0-9_\-./,$\u20ac\u00a3\u00a5])"
_EN_PRICE_WORD = (r"(?:(?P<pw>prices?|priced|pricing|costs?|costing)(?![A-Za-z])\s{0,3}"
                  r"(?:(?:at|is|of|range|from)(?![A-Za-z])\s{0,3})?[:=]?\s{0,3})?")


def _en_amount(tag: str) -> str:
    return (rf"(?:(?P<{tag}p>US\$|C\$|A\$|AU\$|\$|\u00a3|\u20ac|\u00a5|(?:usd|eur|gbp|rmb|cny)(?![A-Za-z]))\s?)?"
            rf"(?P<{tag}>{_NUM}(?:[kK](?![A-Za-z]))?)"
            rf"(?:(?P<{tag}s>\s?(?:{_EN_CURRENCY_WORDS})(?![^\W_])|\s?[$\u20ac\u00a3])|{_EN_GUARD})")


_ZH_UNITS_AFTER = (
    r"英寸|厘米|毫米|公斤|千克|毫升|毫安|千瓦|千米|万像素|像素|[寸码岁件个只双瓶包袋盒片台部瓦伏度号平人天月年斤克升米秒分"
    r"吨次张套条支根粒颗本层匹周页格位倍毫厘公英]|[A-Za-z%]"
)
_ZH_GUARD = rf"(?![.,]?\d)(?!\s?(?:{_ZH_UNITS_AFTER}))"
_ZH_PRICE_WORD = r"(?:(?P<pw>价格|价位|价钱|售价|单价|预算)\s?(?:在|是|为)?\s?[:=]?\s?)?"


def _zh_amount(tag: str) -> str:
    return (rf"(?:(?P<{tag}p>[\u00a5$\u20ac\u00a3]|rmb|cny)\s?)?"
            rf"(?P<{tag}>{_NUM}(?:[千万](?![克瓦米兆像]))?|(?<![{_ZH_NUMERAL_CHARS}])[{_ZH_NUMERAL_CHARS}]++)"
            rf"(?:\s?(?P<{tag}s>块钱|元钱|元|块|圆|人民币|rmb)|{_ZH_GUARD})")


_RANGE_SEP = r"(?:\s{0,3}[-\u2013\u2014~]\s{0,3}|\s{1,3}(?:to|and)\s{1,3})"
_ZH_RANGE_SEP = r"\s?(?:到|至|[-\u2013\u2014~])\s?"

# (pattern, kind): kind "max", "min", "range", "plus" (a trailing "+", min with a currency),
# "bare" (an amount with a currency and no comparator: read as a budget, i.e. a maximum),
# "range?" (a range that needs a currency or a price word to count).
_PRICE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), kind)
    for pattern, kind in (
        ((rf"{_START}{_EN_PRICE_WORD}(?:under|below|beneath|less\s+than|cheaper\s+than|lower\s+than|"
          rf"no\s+more\s+than|not\s+more\s+than|not\s+over|at\s+most|up\s+to|max(?:imum)?|budget(?:\s+of)?)"
          rf"(?![A-Za-z])\s{{0,3}}:?\s{{0,3}}{_en_amount('a')}"), "max"),
        (rf"{_EN_PRICE_WORD}(?:<=|=<|<|\u2264)\s{{0,3}}{_en_amount('a')}", "max"),
        ((rf"{_START_NUMBER}{_EN_PRICE_WORD}{_en_amount('a')}\s{{1,3}}(?:or|and)\s{{1,3}}"
          rf"(?:less|under|below|cheaper|lower)(?![A-Za-z])"), "max"),
        ((rf"{_START}{_EN_PRICE_WORD}(?:over|above|more\s+than|at\s+least|from|min(?:imum)?|starting\s+(?:at|from)|"
          rf"no\s+less\s+than|not\s+less\s+than)(?![A-Za-z])\s{{0,3}}:?\s{{0,3}}{_en_amount('a')}"), "min"),
        (rf"{_EN_PRICE_WORD}(?:>=|=>|>|\u2265)\s{{0,3}}{_en_amount('a')}", "min"),
        ((rf"{_START_NUMBER}{_EN_PRICE_WORD}{_en_amount('a')}\s{{1,3}}(?:or|and)\s{{1,3}}"
          rf"(?:more|above|over|up|higher)(?![A-Za-z])"), "min"),
        (rf"{_START_NUMBER}{_EN_PRICE_WORD}{_en_amount('a')}\s?\+(?![\w+])", "plus"),
        (rf"{_START}{_EN_PRICE_WORD}(?:between|from)\s{{1,3}}{_en_amount('a')}{_RANGE_SEP}{_en_amount('b')}",
         "range"),
        (rf"{_START_NUMBER}{_EN_PRICE_WORD}{_en_amount('a')}{_RANGE_SEP}{_en_amount('b')}", "range?"),
        (rf"{_START_NUMBER}{_EN_PRICE_WORD}{_en_amount('a')}", "bare"),
        # Chinese
        (rf"{_ZH_PRICE_WORD}{_zh_amount('a')}\s?(?:及以下|或以下|以下|以内|之内|(?<=[元块])内)", "max"),
        (rf"{_ZH_PRICE_WORD}(?:不超过|不超|不高于|不大于|不到|低于|少于|小于|最多|最高|至多|顶多)\s?{_zh_amount('a')}",
         "max"),
        (rf"{_ZH_PRICE_WORD}{_zh_amount('a')}\s?(?:及以上|或以上|以上|起)", "min"),
        (rf"{_ZH_PRICE_WORD}(?:不低于|不少于|高于|超过|大于|多于|至少|最低|起码)\s?{_zh_amount('a')}", "min"),
        (rf"{_ZH_PRICE_WORD}(?:在\s?)?{_zh_amount('a')}{_ZH_RANGE_SEP}{_zh_amount('b')}(?P<between>\s?之间)?",
         "range?"),
        (rf"{_ZH_PRICE_WORD}{_zh_amount('a')}", "bare"),
    )
)
# A range such as "10-20" is a price only with a currency mark or one of these words in the query.
_PRICE_WORDS = re.compile(
    r"(?<![A-Za-z])(?:prices?|priced|pricing|dollars?|euros?|pounds?|bucks|usd|eur|gbp|costs?|budget)(?![A-Za-z])"
    r"|价格|价位|价钱|售价|单价|预算",
    re.IGNORECASE,
)
# "$50 gift card" names a denomination, not a budget.
_DENOMINATION_WORDS = re.compile(
    r"(?<![A-Za-z])(?:gift\s*cards?|vouchers?|coupons?|gift\s*certificates?|top[\s-]?up)(?![A-Za-z])"
    r"|礼品卡|购物卡|充值卡|代金券|优惠券|储值卡|面值|话费",
    re.IGNORECASE,
)
_RANGE_BLOCKERS = re.compile(
    r"(?<![A-Za-z])(?:sizes?|sz|ages?|aged|models?|versions?|gen|series|no\.?|#|years?)\s{0,3}[:=]?\s{0,3}$",
    re.IGNORECASE,
)
_LEADING_FILLER = re.compile(r"(?<![A-Za-z])(?:for|at|costing)\s{1,3}$", re.IGNORECASE)
_TRAILING_FILLER = re.compile(r"\s?(?:的|左右)")
_CURRENCY_SYMBOL = {
    "$": "$", "us$": "$", "c$": "$", "a$": "$", "au$": "$", "usd": "$", "cad": "$", "aud": "$", "dollar": "$",
    "dollars": "$", "buck": "$", "bucks": "$",
    "\u20ac": "\u20ac", "eur": "\u20ac", "euro": "\u20ac", "euros": "\u20ac",
    "\u00a3": "\u00a3", "gbp": "\u00a3", "pound": "\u00a3", "pounds": "\u00a3", "quid": "\u00a3",
    "\u00a5": "\u5143", "rmb": "\u5143", "cny": "\u5143", "yuan": "\u5143", "元": "元", "块": "元", "块钱": "元",
    "元钱": "元", "圆": "元", "人民币": "元",
}
# The ISO 4217 code of each currency mark, so a price can be compared with the catalog's
# currency (¥ is read as yuan, as the Chinese patterns do).
_CURRENCY_CODE = {
    "$": "USD", "us$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD", "buck": "USD", "bucks": "USD",
    "c$": "CAD", "cad": "CAD", "a$": "AUD", "au$": "AUD", "aud": "AUD",
    "\u20ac": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR",
    "\u00a3": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP", "quid": "GBP",
    "\u00a5": "CNY", "rmb": "CNY", "cny": "CNY", "yuan": "CNY", "元": "CNY", "块": "CNY", "块钱": "CNY",
    "元钱": "CNY", "圆": "CNY", "人民币": "CNY",
}


@dataclass(frozen=True, slots=True)
class _Price:
    start: int
    end: int
    low: float | None
    high: float | None
    currency: str | None
    code: str | None = None
    """ISO 4217 code of the currency written with the amount (None: no currency given)."""


def _valid(value: float | None) -> bool:
    return value is not None and 0 <= value <= _MAX_PRICE


def _price_from_match(match: re.Match[str], kind: str, query: str, has_price_word: bool,
                      is_denomination: bool) -> _Price | None:
    groups = match.groupdict()
    currencies: list[str] = []
    for tag in ("a", "b"):
        for part in (groups.get(f"{tag}p"), groups.get(f"{tag}s")):
            if part:
                currencies.append(part.strip().lower())
    symbol = next((_CURRENCY_SYMBOL[c] for c in currencies if c in _CURRENCY_SYMBOL), None)
    code = next((_CURRENCY_CODE[c] for c in currencies if c in _CURRENCY_CODE), None)
    has_currency = bool(currencies)
    low_raw, high_raw = groups.get("a"), groups.get("b")
    # A Chinese numeral with no 十/百/千/万 and no currency ("三以下") is too weak to be a price.
    for raw in (low_raw, high_raw):
        if raw and not raw[0].isascii() and not has_currency and not any(u in raw for u in "十百千万"):
            return None
    first = _to_number(low_raw) if low_raw else None
    second = _to_number(high_raw) if high_raw else None
    strong_currency = has_currency and currencies != ["块"]  # "2块手表" is two watches
    if kind == "bare":
        if not (strong_currency or groups.get("pw") == "预算") or is_denomination:
            return None
        low, high = None, first
    elif kind == "plus":
        if not has_currency:
            return None
        low, high = first, None
    elif kind == "max":
        low, high = None, first
    elif kind == "min":
        if match.group(0).rstrip().endswith("起") and not has_currency and not (low_raw or "x")[0].isascii():
            return None
        low, high = first, None
    else:  # range / range?
        if kind == "range?" and not (has_currency or groups.get("pw") or has_price_word or groups.get("between")):
            return None
        if kind == "range?" and not has_currency and _RANGE_BLOCKERS.search(query, max(0, match.start() - 12),
                                                                             match.start()):
            return None
        if not (_valid(first) and _valid(second)):
            return None
        low, high = sorted((first, second))  # type: ignore[type-var]
    for value in (low, high):
        if value is not None and not _valid(value):
            return None
    if high is not None and high <= 0:
        return None  # "under 0" leaves nothing to buy
    if low is None and high is None:
        return None
    return _Price(match.start(), match.end(), low, high, symbol, code)


def _price_label(price: _Price, chinese: bool) -> str:
    currency = price.currency

    def money(value: float) -> str:
        if currency == "元":
            return f"{_fmt(value)} 元" if chinese else f"\u00a5{_fmt(value)}"
        if currency:
            return f"{currency}{_fmt(value)}"
        return f"{_fmt(value)} 元" if chinese else _fmt(value)

    low, high = price.low, price.high
    if low is not None and high is not None:
        if low == high:
            return money(low)
        if chinese and (currency in (None, "元")):
            return f"{_fmt(low)}\u2013{_fmt(high)} 元"
        return f"{money(low)} \u2013 {money(high)}"
    if high is not None:
        return f"\u2264 {money(high)}" if chinese else f"under {money(high)}"
    assert low is not None
    return f"\u2265 {money(low)}" if chinese else f"over {money(low)}"


def _find_prices(folded: str) -> list[_Price]:
    has_price_word = _PRICE_WORDS.search(folded) is not None
    is_denomination = _DENOMINATION_WORDS.search(folded) is not None
    found: list[_Price] = []
    for pattern, kind in _PRICE_PATTERNS:
        for match in pattern.finditer(folded):
            price = _price_from_match(match, kind, folded, has_price_word, is_denomination)
            if price is not None:
                found.append(price)
    # Longest phrases first, then earliest; keep the ones that do not overlap.
    found.sort(key=lambda p: (p.start - p.end, p.start))
    chosen: list[_Price] = []
    taken = _Spans()
    for price in found:
        if not taken.overlaps(price.start, price.end):
            taken.add(price.start, price.end)
            chosen.append(price)
    chosen.sort(key=lambda p: p.start)
    return chosen


# --------------------------------------------------------------------------------------------
# Catalog name matching
# --------------------------------------------------------------------------------------------


class _Spans:
    """Non-overlapping [start, end) spans with a logarithmic overlap test."""

    __slots__ = ("_ends", "_starts")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def add(self, start: int, end: int) -> None:
        index = bisect.bisect_left(self._starts, start)
        self._starts.insert(index, start)
        self._ends.insert(index, end)

    def overlaps(self, start: int, end: int) -> bool:
        index = bisect.bisect_left(self._starts, end)  # spans starting before `end`
        return index > 0 and self._ends[index - 1] > start

    def contains(self, start: int, end: int) -> bool:
        index = bisect.bisect_right(self._starts, start)
        return index > 0 and self._ends[index - 1] >= end


class _WordPhrases:
    """Phrases of folded Latin words -> payload, matched longest-first on a query's word list."""

    __slots__ = ("_lengths", "_phrases")

    def __init__(self) -> None:
        self._phrases: dict[tuple[str, ...], Any] = {}
        self._lengths: dict[str, list[int]] = {}

    def add(self, words: tuple[str, ...], payload: Any) -> None:
        if not words or words in self._phrases:
            return
        self._phrases[words] = payload
        lengths = self._lengths.setdefault(words[0], [])
        if len(words) not in lengths:
            lengths.append(len(words))
            lengths.sort(reverse=True)

    def __bool__(self) -> bool:
        return bool(self._phrases)

    def get(self, words: tuple[str, ...]) -> Any:
        return self._phrases.get(words)

    def scan(self, keys: list[str | None]) -> list[tuple[int, int, Any]]:
        """(first word index, end word index, payload) of greedy longest matches; None keys break phrases."""
        out: list[tuple[int, int, Any]] = []
        count = len(keys)
        i = 0
        while i < count:
            key = keys[i]
            lengths = self._lengths.get(key) if key is not None else None
            matched = 0
            if lengths:
                for length in lengths:
                    if i + length > count:
                        continue
                    words = (key,) if length == 1 else tuple(keys[i:i + length])
                    payload = self._phrases.get(words)  # type: ignore[arg-type]
                    if payload is not None:
                        out.append((i, i + length, payload))
                        matched = length
                        break
            i += matched or 1
        return out


class _CharPhrases:
    """Names containing Han characters -> payload, matched as substrings (greedy, longest first)."""

    __slots__ = ("_first", "_lengths", "_names")

    def __init__(self) -> None:
        self._names: dict[str, Any] = {}
        self._lengths: dict[str, list[int]] = {}
        self._first: re.Pattern[str] | None = None

    def add(self, name: str, payload: Any) -> None:
        if not name or name in self._names:
            return
        self._names[name] = payload
        lengths = self._lengths.setdefault(name[0], [])
        if len(name) not in lengths:
            lengths.append(len(name))
            lengths.sort(reverse=True)
        self._first = None

    def __bool__(self) -> bool:
        return bool(self._names)

    def get(self, name: str) -> Any:
        return self._names.get(name)

    def freeze(self) -> None:
        """Compile the first-character scanner; call once all names are added."""
        if self._names:
            self._first = re.compile("[" + "".join(re.escape(c) for c in sorted(self._lengths)) + "]")

    def scan(self, lowered: str) -> list[tuple[int, int, Any]]:
        if not self._names:
            return []
        if self._first is None:
            self.freeze()
        assert self._first is not None
        out: list[tuple[int, int, Any]] = []
        resume = 0
        for hit in self._first.finditer(lowered):
            i = hit.start()
            if i < resume:
                continue
            for length in self._lengths[lowered[i]]:
                name = lowered[i:i + length]
                payload = self._names.get(name) if len(name) == length else None
                if payload is None:
                    continue
                # A name that starts or ends with a Latin letter or digit needs a word boundary there.
                if name[0].isascii() and name[0].isalnum() and i > 0 and lowered[i - 1].isascii() and \
                        lowered[i - 1].isalnum():
                    continue
                end = i + length
                if name[-1].isascii() and name[-1].isalnum() and end < len(lowered) and \
                        lowered[end].isascii() and lowered[end].isalnum():
                    continue
                out.append((i, end, payload))
                resume = end
                break
        return out


# Common words that are never read as a brand, even when a catalog has a brand spelled that way.
_BRAND_STOPWORDS = frozenset({
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
_GENERIC_CATEGORY_WORDS = frozenset({
    "home", "other", "others", "misc", "miscellaneous", "general", "all", "more", "new", "sale", "default",
    "uncategorized", "uncategorised", "product", "products", "item", "items", "good", "goods", "stuff", "various",
    "everything", "其他", "其它", "全部", "默认", "商品", "未分类", "更多", "其他商品"
})
_CATEGORY_NAME_SPLIT = re.compile(r"\s*(?:&|/|,|\+|\band\b)\s*", re.IGNORECASE)
_MAX_PATHS_PER_MENTION = 5


@dataclass(slots=True)
class _Mention:
    kind: str
    start: int
    end: int
    candidates: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------
# The parser
# --------------------------------------------------------------------------------------------


class QueryUnderstanding:
    """Reads price, category, brand, colour and size constraints out of shopping queries.

    Build it once per catalog (``categories`` are paths such as ``"Home > Kitchen > Teapots"``,
    ``brands`` the catalog's brand names, ``colours`` and ``sizes`` attribute values seen in the
    catalog) and call :meth:`parse` per query; it is immutable and safe to share between threads.
    The built-in English and Chinese colour and size vocabularies apply with or without catalog values.
    """

    def __init__(self, *, categories: Iterable[str] = (), brands: Iterable[str] = (),
                 colours: Iterable[str] = (), sizes: Iterable[str] = ()) -> None:
        self._colour_words = _WordPhrases()
        self._colour_chars = _CharPhrases()
        self._size_words = _WordPhrases()
        self._size_chars = _CharPhrases()
        self._brand_words = _WordPhrases()
        self._brand_chars = _CharPhrases()
        self._category_words = _WordPhrases()
        self._category_chars = _CharPhrases()
        self._has_categories = False
        colours = _strings(colours)
        sizes = _strings(sizes)

        for form, canonical in _BUILTIN_COLOURS.items():
            if _has_han(form):
                if len(form) > 1:
                    self._colour_chars.add(form, canonical)
            else:
                self._colour_words.add(tuple(_words(form)), canonical)
        for colour in colours:
            if canonical_colour(colour) is not None:
                continue
            self._add_name(colour, colour, self._colour_words, self._colour_chars, min_length=3)
        for size in sizes:
            # Built-in sizes and plain numbers are found by the patterns (numbers only after a cue).
            if canonical_size(size) is not None or re.fullmatch(r"[\d.,\s]+", size):
                continue
            self._add_name(size, size, self._size_words, self._size_chars, min_length=2)

        # Words that are never a brand: stopwords, colour and size words, the catalog's category names.
        not_brands: set[str] = set(_BRAND_STOPWORDS)
        not_brands.update(_fold_word(form) for form in _BUILTIN_COLOURS)
        not_brands.update(_fold_word(colour) for colour in colours)
        not_brands.update(_SIZE_CANONICAL)
        not_brands.update(_fold_word(size) for size in sizes)

        paths: dict[str, None] = {}
        for raw in _strings(categories):
            parts = [part.strip() for part in raw.split(">") if part.strip()]
            for depth in range(len(parts)):
                node = " > ".join(parts[: depth + 1])
                if node in paths:
                    continue
                paths[node] = None
                self._add_category_segment(parts[depth], node, not_brands)
        self._has_categories = bool(paths)

        for brand in _strings(brands):
            compact = "".join(_words(brand)) if not _has_han(brand) else brand.strip()
            if len(compact) < 2 or compact.isdigit():
                continue
            words = tuple(_words(brand))
            if not _has_han(brand) and " ".join(words) in not_brands:
                continue
            if _has_han(brand) and (_lower_same_length(brand.strip()) in not_brands
                                    or brand.strip() in _BUILTIN_COLOURS):
                continue
            self._add_name(brand, brand.strip(), self._brand_words, self._brand_chars, min_length=2,
                           joined_variant=True)
        for index in (self._colour_chars, self._size_chars, self._brand_chars, self._category_chars):
            index.freeze()

    # -- construction helpers ---------------------------------------------------------------

    @staticmethod
    def _add_name(name: str, payload: Any, words_index: _WordPhrases, chars_index: _CharPhrases, *,
                  min_length: int, joined_variant: bool = False) -> None:
        name = name.strip()
        if _has_han(name):
            key = " ".join(_SPACE_OR_CONTROL.split(_lower_same_length(name.translate(_FOLD_WIDTH))))
            if len(key) >= 2:
                chars_index.add(key, payload)
            return
        words = tuple(_words(name))
        if len("".join(words)) < min_length:
            return
        words_index.add(words, payload)
        joined = "".join(words)
        if joined_variant and len(words) > 1 and len(joined) >= 5:
            words_index.add((joined,), payload)  # "hellokitty" for "Hello Kitty"

    def _add_category_segment(self, segment: str, node: str, not_brands: set[str]) -> None:
        names = [segment]
        names += [part for part in _CATEGORY_NAME_SPLIT.split(segment) if part and part != segment]
        for name in names:
            if _has_han(name):
                key = " ".join(_SPACE_OR_CONTROL.split(_lower_same_length(name.translate(_FOLD_WIDTH)).strip()))
                if len(key) < 2 or key in _GENERIC_CATEGORY_WORDS:
                    continue
                nodes = self._category_chars.get(key)
                if nodes is None:
                    self._category_chars.add(key, [node])
                elif node not in nodes:
                    nodes.append(node)
                continue
            words = tuple(_singular(w) for w in _words(name))
            letters = "".join(words)
            if len(letters) < 3 or not any(c.isalpha() for c in letters) or " ".join(words) in _GENERIC_CATEGORY_WORDS:
                continue
            # A brand spelled like a category name, or like the head noun of one ("Boots" next to
            # "Hiking Boots"), would turn every mention of those products into a brand filter.
            plain_words = _words(name)
            not_brands.update((" ".join(words), " ".join(plain_words), words[-1], plain_words[-1]))
            nodes = self._category_words.get(words)
            if nodes is None:
                self._category_words.add(words, [node])
            elif node not in nodes:
                nodes.append(node)

    # -- parsing --------------------------------------------------------------------------------

    def parse(self, query: str) -> ParsedQuery:
        """Structured constraints of ``query``; never raises (unexpected errors fall back to plain text)."""
        if not isinstance(query, str):
            query = "" if query is None else str(query)
        try:
            return self._parse(query)
        except Exception:  # a search box must keep working whatever the parser trips on
            logger.exception("query understanding failed; searching the plain text")
            text = " ".join(_SPACE_OR_CONTROL.split(query)).strip()
            return ParsedQuery(query, text, None, None, (), (), (), (), ())

    def _parse(self, query: str) -> ParsedQuery:
        analysed = query
        if len(query) > _MAX_ANALYSED_CHARS:
            cut = query.rfind(" ", _MAX_ANALYSED_CHARS // 2, _MAX_ANALYSED_CHARS)
            analysed = query[: cut if cut > 0 else _MAX_ANALYSED_CHARS]
        folded = analysed.translate(_FOLD_WIDTH)
        lowered = _lower_same_length(folded)
        prices = _find_prices(folded)
        price_spans = _Spans()
        for price in prices:
            price_spans.add(price.start, price.end)

        tokens = [(m.start(), m.end(), None if m.group("han") else _fold_word(m.group("word")))
                  for m in _TOKEN.finditer(folded)]
        keys: list[str | None] = [key for _, _, key in tokens]

        def word_mentions(index: _WordPhrases, kind: str, words: list[str | None]) -> list[_Mention]:
            if not index:
                return []
            return [_Mention(kind, tokens[i][0], tokens[j - 1][1], tuple(payload) if isinstance(payload, list)
                             else (payload,)) for i, j, payload in index.scan(words)]

        def char_mentions(index: _CharPhrases, kind: str) -> list[_Mention]:
            return [_Mention(kind, s, e, tuple(payload) if isinstance(payload, list) else (payload,))
                    for s, e, payload in index.scan(lowered)]

        def free(mentions: list[_Mention], *blocked: _Spans) -> list[_Mention]:
            kept = [m for m in mentions if not any(b.overlaps(m.start, m.end) for b in blocked)]
            kept.sort(key=lambda m: (m.start, m.start - m.end))
            return kept

        brands = _drop_overlapping(free(word_mentions(self._brand_words, "brand", keys)
                                        + char_mentions(self._brand_chars, "brand"), price_spans))
        brand_spans = _Spans()
        for mention in brands:
            brand_spans.add(mention.start, mention.end)

        categories: list[_Mention] = []
        if self._has_categories:
            singular_keys = [None if key is None else _singular(key) for key in keys]
            categories = [m for m in free(word_mentions(self._category_words, "category", singular_keys)
                                          + char_mentions(self._category_chars, "category"), price_spans)
                          if not brand_spans.contains(m.start, m.end)]

        colours = free(word_mentions(self._colour_words, "colour", keys) + char_mentions(self._colour_chars, "colour")
                       + self._single_char_colours(folded), price_spans, brand_spans)
        colours = _drop_overlapping(colours)
        sizes = free(self._size_mentions(folded, tokens, keys, lowered), price_spans, brand_spans)
        sizes = _drop_overlapping(sizes)

        chips: list[tuple[int, Chip]] = []
        seen_prices: set[tuple[float | None, float | None]] = set()
        for price in prices:
            if (price.low, price.high) in seen_prices:
                continue  # "under 50 ... under 50": one constraint, one chip
            seen_prices.add((price.low, price.high))
            span = query[price.start:price.end]
            chips.append((price.start, Chip("price", _price_label(price, _chinese(span)), span,
                                            _price_value(price))))
        brand_names = self._collect(brands, "brand", query, chips, _label_brand)
        colour_names = self._collect(colours, "colour", query, chips, _label_colour)
        size_names = self._collect(sizes, "size", query, chips, _label_size)
        category_paths = self._resolve_categories(categories, query, chips)
        chips.sort(key=lambda item: item[0])

        lows = [p.low for p in prices if p.low is not None]
        highs = [p.high for p in prices if p.high is not None]
        price_min = max(lows) if lows else None
        price_max = min(highs) if highs else None
        if price_min is not None and price_max is not None and price_min > price_max:
            price_min, price_max = price_max, price_min
        return ParsedQuery(
            original=query,
            text=_strip_spans(query, folded, prices),
            price_min=price_min,
            price_max=price_max,
            categories=category_paths,
            brands=brand_names,
            colours=colour_names,
            sizes=size_names,
            chips=tuple(chip for _, chip in chips),
            price_currency=next((p.code for p in prices if p.code is not None), None),
        )

    def _single_char_colours(self, folded: str) -> list[_Mention]:
        out = []
        for run in _TOKEN.finditer(folded):
            han = run.group("han")
            if not han or len(han) < 2:
                continue
            first = han[0]
            canonical = _SINGLE_CHAR_COLOURS.get(first)
            if canonical is None or han[:2] in _SINGLE_CHAR_EXCEPTIONS or han[1] == "色":
                continue
            if self._colour_chars.get(han[:2]) is not None:  # 粉红, 深蓝: the two-character form already matches
                continue
            out.append(_Mention("colour", run.start(), run.start() + 1, (canonical,)))
        return out

    def _size_mentions(self, folded: str, tokens: list[tuple[int, int, str | None]], keys: list[str | None],
                       lowered: str) -> list[_Mention]:
        out = []
        for pattern in _SIZE_PATTERNS:
            for match in pattern.finditer(folded):
                size = canonical_size(match.group("size"))
                if size is not None:
                    out.append(_Mention("size", match.start(), match.end(), (size,)))
        if self._size_words or self._size_chars:
            for i, j, payload in self._size_words.scan(keys):
                out.append(_Mention("size", tokens[i][0], tokens[j - 1][1], (payload,)))
            for start, end, payload in self._size_chars.scan(lowered):
                out.append(_Mention("size", start, end, (payload,)))
        return out

    @staticmethod
    def _collect(mentions: list[_Mention], kind: str, query: str, chips: list[tuple[int, Chip]],
                 label: Callable[[str, bool], str]) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for mention in mentions:
            value = mention.candidates[0]
            if value in seen:
                continue
            seen[value] = None
            span = query[mention.start:mention.end]
            chips.append((mention.start, Chip(kind, label(value, _chinese(span)), span, {kind: value})))
        return tuple(seen)

    @staticmethod
    def _resolve_categories(mentions: list[_Mention], query: str, chips: list[tuple[int, Chip]]) -> tuple[str, ...]:
        if not mentions:
            return ()
        # Non-overlapping, longest first at each position.
        chosen: list[_Mention] = []
        taken = _Spans()
        for mention in sorted(mentions, key=lambda m: (m.start - m.end, m.start)):
            if not taken.overlaps(mention.start, mention.end):
                taken.add(mention.start, mention.end)
                chosen.append(mention)
        chosen.sort(key=lambda m: m.start)
        # A name found under several parents ("Men > Shoes", "Women > Shoes") is narrowed by the
        # query's other mentions ("women shoes"); then ancestors of other picks are dropped.
        owners: dict[str, set[int]] = {}  # node -> mentions naming it
        prefix_owners: dict[str, set[int]] = {}  # proper ancestor -> mentions naming a descendant
        for index, mention in enumerate(chosen):
            for node in mention.candidates:
                owners.setdefault(node, set()).add(index)
                for ancestor in _ancestors(node):
                    prefix_owners.setdefault(ancestor, set()).add(index)

        def related(node: str, index: int) -> bool:
            if prefix_owners.get(node, set()) - {index}:
                return True
            return any(owners.get(ancestor, set()) - {index} for ancestor in _ancestors(node))

        picks: list[tuple[str, _Mention]] = []
        for index, mention in enumerate(chosen):
            candidates = mention.candidates
            if len(candidates) > 1:
                narrowed = tuple(node for node in candidates if related(node, index))
                candidates = narrowed or candidates
            for node in candidates[:_MAX_PATHS_PER_MENTION]:
                picks.append((node, mention))
        picked_ancestors = {ancestor for node, _ in picks for ancestor in _ancestors(node)}
        result: dict[str, _Mention] = {}
        for node, mention in picks:
            if node not in result and node not in picked_ancestors:
                result[node] = mention
        leaves = [node.rsplit(" > ", 1)[-1] for node in result]
        for node, mention in result.items():
            span = query[mention.start:mention.end]
            leaf = node.rsplit(" > ", 1)[-1]
            shown = node if leaves.count(leaf) > 1 else leaf
            label = f"类目: {shown}" if _chinese(span) else f"category: {shown}"
            chips.append((mention.start, Chip("category", label, span, {"category": node})))
        return tuple(result)


def _strings(values: Iterable[str]) -> list[str]:
    if values is None or isinstance(values, str):
        values = () if values is None else (values,)
    return [v.strip() for v in values if isinstance(v, str) and v.strip()]


def _drop_overlapping(mentions: list[_Mention]) -> list[_Mention]:
    kept: list[_Mention] = []
    taken = _Spans()
    for mention in sorted(mentions, key=lambda m: (m.start - m.end, m.start)):
        if not taken.overlaps(mention.start, mention.end):
            taken.add(mention.start, mention.end)
            kept.append(mention)
    kept.sort(key=lambda m: m.start)
    return kept


def _ancestors(node: str) -> list[str]:
    """``"A > B > C"`` -> ``["A", "A > B"]``."""
    parts = node.split(" > ")
    return [" > ".join(parts[:depth]) for depth in range(1, len(parts))]


def _chinese(span: str) -> bool:
    return _has_han(span) or "\u00a5" in span or "\uffe5" in span


def _price_value(price: _Price) -> dict[str, Any]:
    value: dict[str, Any] = {}
    if price.low is not None:
        value["min"] = float(price.low)
    if price.high is not None:
        value["max"] = float(price.high)
    return value


def _label_brand(value: str, chinese: bool) -> str:
    return f"品牌: {value}" if chinese else f"brand: {value}"


def _label_colour(value: str, chinese: bool) -> str:
    if chinese:
        return f"颜色: {_COLOUR_ZH_LABEL.get(value, value)}"
    return f"colour: {value}"


def _label_size(value: str, chinese: bool) -> str:
    return f"尺码: {value}" if chinese else f"size: {value}"


def _strip_spans(query: str, folded: str, prices: list[_Price]) -> str:
    """The query without its price phrases (and fillers glued to them), whitespace collapsed."""
    pieces: list[str] = []
    cursor = 0
    for price in prices:
        start, end = price.start, price.end
        lead = _LEADING_FILLER.search(folded, max(cursor, start - 12), start)
        if lead is not None and lead.end() == start:
            start = lead.start()
        trail = _TRAILING_FILLER.match(folded, end)
        if trail is not None:
            end = trail.end()
        pieces.append(query[cursor:max(cursor, start)])
        cursor = max(cursor, end)
    pieces.append(query[cursor:])
    return " ".join(_SPACE_OR_CONTROL.split(" ".join(pieces))).strip()
