"""Text normalisation for query understanding: width folding, word tokens with offsets, accent
and plural folding, so a query and a catalog name are compared in one form.

Full-width ASCII folds one-to-one onto ASCII, so offsets into a folded query are offsets into
the original (the chips quote the shopper's own characters).
"""

from __future__ import annotations

import re
import unicodedata

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_HAN_CHAR = re.compile(f"[{_HAN}]")
# Full-width ASCII (Ｕｎｄｅｒ ５０, ２００元, ～) and the ideographic space map one-to-one onto
# ASCII, so offsets into the folded string are offsets into the original.
FOLD_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
FOLD_WIDTH[0x3000] = 0x20
FOLD_WIDTH[0xFFE5] = 0xA5  # ￥ -> ¥
# Latin words (with inner apostrophes: "levi's") and runs of Han characters, with their offsets.
TOKEN = re.compile(rf"(?P<han>[{_HAN}]+)|(?P<word>[^\W_{_HAN}]+(?:['\u2019\u02bc][^\W_{_HAN}]+)*)")
_APOSTROPHES = str.maketrans("", "", "'\u2019\u02bc")
SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")


def fold_word(word: str) -> str:
    """Lower case, apostrophes dropped, accents stripped: ``"Nestlé"`` -> ``"nestle"``."""
    word = word.lower().translate(_APOSTROPHES)
    if not word.isascii():
        word = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    return word


def singular(word: str) -> str:
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


def name_words(text: str) -> list[str]:
    """Folded Latin words of a catalog name; empty if it contains Han characters."""
    return [fold_word(m.group("word")) for m in TOKEN.finditer(text.translate(FOLD_WIDTH)) if m.group("word")]


def lower_same_length(text: str) -> str:
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def has_han(text: str) -> bool:
    return _HAN_CHAR.search(text) is not None


def fmt_number(value: float) -> str:
    if value == int(value):
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def is_chinese(span: str) -> bool:
    return has_han(span) or "\u00a5" in span or "\uffe5" in span
