"""Prices in a query: English and Chinese numbers, amounts with their currency, comparators
("under $50", "200元以下", "10-20 dollars") read into inclusive bounds, their chip labels, and the
query with its price phrases taken out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from cartwise.search.understand.phrases import Spans
from cartwise.search.understand.text import SPACE_OR_CONTROL, fmt_number

_MAX_PRICE = 1e9


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


def price_label(price: _Price, chinese: bool) -> str:
    currency = price.currency

    def money(value: float) -> str:
        if currency == "元":
            return f"{fmt_number(value)} 元" if chinese else f"\u00a5{fmt_number(value)}"
        if currency:
            return f"{currency}{fmt_number(value)}"
        return f"{fmt_number(value)} 元" if chinese else fmt_number(value)

    low, high = price.low, price.high
    if low is not None and high is not None:
        if low == high:
            return money(low)
        if chinese and (currency in (None, "元")):
            return f"{fmt_number(low)}\u2013{fmt_number(high)} 元"
        return f"{money(low)} \u2013 {money(high)}"
    if high is not None:
        return f"\u2264 {money(high)}" if chinese else f"under {money(high)}"
    assert low is not None
    return f"\u2265 {money(low)}" if chinese else f"over {money(low)}"


def find_prices(folded: str) -> list[_Price]:
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
    taken = Spans()
    for price in found:
        if not taken.overlaps(price.start, price.end):
            taken.add(price.start, price.end)
            chosen.append(price)
    chosen.sort(key=lambda p: p.start)
    return chosen


def price_value(price: _Price) -> dict[str, Any]:
    value: dict[str, Any] = {}
    if price.low is not None:
        value["min"] = float(price.low)
    if price.high is not None:
        value["max"] = float(price.high)
    return value


def strip_spans(query: str, folded: str, prices: list[_Price]) -> str:
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
    return " ".join(SPACE_OR_CONTROL.split(" ".join(pieces))).strip()
