"""The parser: :class:`QueryUnderstanding` combines prices, catalog names (brands, categories),
colours and sizes into one :class:`ParsedQuery` per query (see the package docstring)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from cartwise.search.understand.attributes import (
    BRAND_STOPWORDS,
    BUILTIN_COLOURS,
    CATEGORY_NAME_SPLIT,
    GENERIC_CATEGORY_WORDS,
    SINGLE_CHAR_COLOURS,
    SINGLE_CHAR_EXCEPTIONS,
    SIZE_CANONICAL,
    SIZE_PATTERNS,
    canonical_colour,
    canonical_size,
    label_brand,
    label_colour,
    label_size,
)
from cartwise.search.understand.parsed import Chip, ParsedQuery
from cartwise.search.understand.phrases import (
    CharPhrases,
    Mention,
    Spans,
    WordPhrases,
    drop_overlapping,
)
from cartwise.search.understand.prices import (
    find_prices,
    price_label,
    price_value,
    strip_spans,
)
from cartwise.search.understand.text import (
    FOLD_WIDTH,
    SPACE_OR_CONTROL,
    TOKEN,
    fold_word,
    has_han,
    is_chinese,
    lower_same_length,
    name_words,
    singular,
)

logger = logging.getLogger("cartwise.search.understand")

# Constraints are read from the first this-many characters (cut at a space); the rest of a longer
# "query" (a pasted product description, say) is kept in the text but not analysed. Parsing is
# linear, so this only bounds the worst case (about 10 ms) rather than guarding against blow-ups.
_MAX_ANALYSED_CHARS = 2_000

_MAX_PATHS_PER_MENTION = 5


class QueryUnderstanding:
    """Reads price, category, brand, colour and size constraints out of shopping queries.

    Build it once per catalog (``categories`` are paths such as ``"Home > Kitchen > Teapots"``,
    ``brands`` the catalog's brand names, ``colours`` and ``sizes`` attribute values seen in the
    catalog) and call :meth:`parse` per query; it is immutable and safe to share between threads.
    The built-in English and Chinese colour and size vocabularies apply with or without catalog values.
    """

    def __init__(self, *, categories: Iterable[str] = (), brands: Iterable[str] = (),
                 colours: Iterable[str] = (), sizes: Iterable[str] = ()) -> None:
        self._colour_words = WordPhrases()
        self._colour_chars = CharPhrases()
        self._size_words = WordPhrases()
        self._size_chars = CharPhrases()
        self._brand_words = WordPhrases()
        self._brand_chars = CharPhrases()
        self._category_words = WordPhrases()
        self._category_chars = CharPhrases()
        self._has_categories = False
        colours = _strings(colours)
        sizes = _strings(sizes)

        for form, canonical in BUILTIN_COLOURS.items():
            if has_han(form):
                if len(form) > 1:
                    self._colour_chars.add(form, canonical)
            else:
                self._colour_words.add(tuple(name_words(form)), canonical)
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
        not_brands: set[str] = set(BRAND_STOPWORDS)
        not_brands.update(fold_word(form) for form in BUILTIN_COLOURS)
        not_brands.update(fold_word(colour) for colour in colours)
        not_brands.update(SIZE_CANONICAL)
        not_brands.update(fold_word(size) for size in sizes)

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
            compact = "".join(name_words(brand)) if not has_han(brand) else brand.strip()
            if len(compact) < 2 or compact.isdigit():
                continue
            words = tuple(name_words(brand))
            if not has_han(brand) and " ".join(words) in not_brands:
                continue
            if has_han(brand) and (lower_same_length(brand.strip()) in not_brands
                                    or brand.strip() in BUILTIN_COLOURS):
                continue
            self._add_name(brand, brand.strip(), self._brand_words, self._brand_chars, min_length=2,
                           joined_variant=True)
        for index in (self._colour_chars, self._size_chars, self._brand_chars, self._category_chars):
            index.freeze()

    # -- construction helpers ---------------------------------------------------------------

    @staticmethod
    def _add_name(name: str, payload: Any, words_index: WordPhrases, chars_index: CharPhrases, *,
                  min_length: int, joined_variant: bool = False) -> None:
        name = name.strip()
        if has_han(name):
            key = " ".join(SPACE_OR_CONTROL.split(lower_same_length(name.translate(FOLD_WIDTH))))
            if len(key) >= 2:
                chars_index.add(key, payload)
            return
        words = tuple(name_words(name))
        if len("".join(words)) < min_length:
            return
        words_index.add(words, payload)
        joined = "".join(words)
        if joined_variant and len(words) > 1 and len(joined) >= 5:
            words_index.add((joined,), payload)  # "hellokitty" for "Hello Kitty"

    def _add_category_segment(self, segment: str, node: str, not_brands: set[str]) -> None:
        names = [segment]
        names += [part for part in CATEGORY_NAME_SPLIT.split(segment) if part and part != segment]
        for name in names:
            if has_han(name):
                key = " ".join(SPACE_OR_CONTROL.split(lower_same_length(name.translate(FOLD_WIDTH)).strip()))
                if len(key) < 2 or key in GENERIC_CATEGORY_WORDS:
                    continue
                nodes = self._category_chars.get(key)
                if nodes is None:
                    self._category_chars.add(key, [node])
                elif node not in nodes:
                    nodes.append(node)
                continue
            words = tuple(singular(w) for w in name_words(name))
            letters = "".join(words)
            if len(letters) < 3 or not any(c.isalpha() for c in letters) or " ".join(words) in GENERIC_CATEGORY_WORDS:
                continue
            # A brand spelled like a category name, or like the head noun of one ("Boots" next to
            # "Hiking Boots"), would turn every mention of those products into a brand filter.
            plain_words = name_words(name)
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
            text = " ".join(SPACE_OR_CONTROL.split(query)).strip()
            return ParsedQuery(query, text, None, None, (), (), (), (), ())

    def _parse(self, query: str) -> ParsedQuery:
        analysed = query
        if len(query) > _MAX_ANALYSED_CHARS:
            cut = query.rfind(" ", _MAX_ANALYSED_CHARS // 2, _MAX_ANALYSED_CHARS)
            analysed = query[: cut if cut > 0 else _MAX_ANALYSED_CHARS]
        folded = analysed.translate(FOLD_WIDTH)
        lowered = lower_same_length(folded)
        prices = find_prices(folded)
        price_spans = Spans()
        for price in prices:
            price_spans.add(price.start, price.end)

        tokens = [(m.start(), m.end(), None if m.group("han") else fold_word(m.group("word")))
                  for m in TOKEN.finditer(folded)]
        keys: list[str | None] = [key for _, _, key in tokens]

        def word_mentions(index: WordPhrases, kind: str, words: list[str | None]) -> list[Mention]:
            if not index:
                return []
            return [Mention(kind, tokens[i][0], tokens[j - 1][1], tuple(payload) if isinstance(payload, list)
                             else (payload,)) for i, j, payload in index.scan(words)]

        def char_mentions(index: CharPhrases, kind: str) -> list[Mention]:
            return [Mention(kind, s, e, tuple(payload) if isinstance(payload, list) else (payload,))
                    for s, e, payload in index.scan(lowered)]

        def free(mentions: list[Mention], *blocked: Spans) -> list[Mention]:
            kept = [m for m in mentions if not any(b.overlaps(m.start, m.end) for b in blocked)]
            kept.sort(key=lambda m: (m.start, m.start - m.end))
            return kept

        brands = drop_overlapping(free(word_mentions(self._brand_words, "brand", keys)
                                        + char_mentions(self._brand_chars, "brand"), price_spans))
        brand_spans = Spans()
        for mention in brands:
            brand_spans.add(mention.start, mention.end)

        categories: list[Mention] = []
        if self._has_categories:
            singular_keys = [None if key is None else singular(key) for key in keys]
            categories = [m for m in free(word_mentions(self._category_words, "category", singular_keys)
                                          + char_mentions(self._category_chars, "category"), price_spans)
                          if not brand_spans.contains(m.start, m.end)]

        colours = free(word_mentions(self._colour_words, "colour", keys) + char_mentions(self._colour_chars, "colour")
                       + self._single_char_colours(folded), price_spans, brand_spans)
        colours = drop_overlapping(colours)
        sizes = free(self._size_mentions(folded, tokens, keys, lowered), price_spans, brand_spans)
        sizes = drop_overlapping(sizes)

        chips: list[tuple[int, Chip]] = []
        seen_prices: set[tuple[float | None, float | None]] = set()
        for price in prices:
            if (price.low, price.high) in seen_prices:
                continue  # "under 50 ... under 50": one constraint, one chip
            seen_prices.add((price.low, price.high))
            span = query[price.start:price.end]
            chips.append((price.start, Chip("price", price_label(price, is_chinese(span)), span,
                                            price_value(price))))
        brand_names = self._collect(brands, "brand", query, chips, label_brand)
        colour_names = self._collect(colours, "colour", query, chips, label_colour)
        size_names = self._collect(sizes, "size", query, chips, label_size)
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
            text=strip_spans(query, folded, prices),
            price_min=price_min,
            price_max=price_max,
            categories=category_paths,
            brands=brand_names,
            colours=colour_names,
            sizes=size_names,
            chips=tuple(chip for _, chip in chips),
            price_currency=next((p.code for p in prices if p.code is not None), None),
        )

    def _single_char_colours(self, folded: str) -> list[Mention]:
        out = []
        for run in TOKEN.finditer(folded):
            han = run.group("han")
            if not han or len(han) < 2:
                continue
            first = han[0]
            canonical = SINGLE_CHAR_COLOURS.get(first)
            if canonical is None or han[:2] in SINGLE_CHAR_EXCEPTIONS or han[1] == "色":
                continue
            if self._colour_chars.get(han[:2]) is not None:  # 粉红, 深蓝: the two-character form already matches
                continue
            out.append(Mention("colour", run.start(), run.start() + 1, (canonical,)))
        return out

    def _size_mentions(self, folded: str, tokens: list[tuple[int, int, str | None]], keys: list[str | None],
                       lowered: str) -> list[Mention]:
        out = []
        for pattern in SIZE_PATTERNS:
            for match in pattern.finditer(folded):
                size = canonical_size(match.group("size"))
                if size is not None:
                    out.append(Mention("size", match.start(), match.end(), (size,)))
        if self._size_words or self._size_chars:
            for i, j, payload in self._size_words.scan(keys):
                out.append(Mention("size", tokens[i][0], tokens[j - 1][1], (payload,)))
            for start, end, payload in self._size_chars.scan(lowered):
                out.append(Mention("size", start, end, (payload,)))
        return out

    @staticmethod
    def _collect(mentions: list[Mention], kind: str, query: str, chips: list[tuple[int, Chip]],
                 label: Callable[[str, bool], str]) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for mention in mentions:
            value = mention.candidates[0]
            if value in seen:
                continue
            seen[value] = None
            span = query[mention.start:mention.end]
            chips.append((mention.start, Chip(kind, label(value, is_chinese(span)), span, {kind: value})))
        return tuple(seen)

    @staticmethod
    def _resolve_categories(mentions: list[Mention], query: str, chips: list[tuple[int, Chip]]) -> tuple[str, ...]:
        if not mentions:
            return ()
        # Non-overlapping, longest first at each position.
        chosen: list[Mention] = []
        taken = Spans()
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

        picks: list[tuple[str, Mention]] = []
        for index, mention in enumerate(chosen):
            candidates = mention.candidates
            if len(candidates) > 1:
                narrowed = tuple(node for node in candidates if related(node, index))
                candidates = narrowed or candidates
            for node in candidates[:_MAX_PATHS_PER_MENTION]:
                picks.append((node, mention))
        picked_ancestors = {ancestor for node, _ in picks for ancestor in _ancestors(node)}
        result: dict[str, Mention] = {}
        for node, mention in picks:
            if node not in result and node not in picked_ancestors:
                result[node] = mention
        leaves = [node.rsplit(" > ", 1)[-1] for node in result]
        for node, mention in result.items():
            span = query[mention.start:mention.end]
            leaf = node.rsplit(" > ", 1)[-1]
            shown = node if leaves.count(leaf) > 1 else leaf
            label = f"类目: {shown}" if is_chinese(span) else f"category: {shown}"
            chips.append((mention.start, Chip("category", label, span, {"category": node})))
        return tuple(result)


def _strings(values: Iterable[str]) -> list[str]:
    if values is None or isinstance(values, str):
        values = () if values is None else (values,)
    return [v.strip() for v in values if isinstance(v, str) and v.strip()]


def _ancestors(node: str) -> list[str]:
    """``"A > B > C"`` -> ``["A", "A > B"]``."""
    parts = node.split(" > ")
    return [" > ".join(parts[:depth]) for depth in range(1, len(parts))]


__all__ = ["QueryUnderstanding"]
