"""Synonym suggestions mined from the product relation graph: substitutes named differently.

Two items the graph calls interchangeable (described alike and rarely bought together, as
the ``substitutes`` relation; or viewed together more often than chance within one
category) are one kind of thing. Their titles are aligned: the words both share are taken
out, and so are brand, colour, size, measure and number words (a red and a blue mug are
variants, not synonyms). When each title keeps one or two words of its own, every pair of
those words is a candidate ("Leather sofa, 3 seater" / "Leather couch, 3 seater" gives
sofa / couch). One such pair of titles is chance; a word pair that recurs across several
distinct item pairs is a candidate synonym.

Frequent words recur by chance, so each candidate is scored against how often its words
appear in titles at all: ``lift = support / expected``, with ``expected = 2 * aligned *
p_a * p_b`` (``aligned``: item pairs that kept one or two words per side; ``p``: share of
titles holding the word), the pointwise mutual information of the two words across
substitute pairs. Candidates rank by ``support * log2(lift)``. Words are the search
tokens (:class:`~cartwise.search.tokenize.Tokenizer`: stemmed English, jieba-cut Chinese,
each run of Chinese cut into its finest non-overlapping words), shown as the spelling
titles use most. Pairs the rules already link and refinements ("cup" / "teacup") are left out.

Recurring is not the same as synonymous: most words that tell look-alikes apart are slots
of a product line (earrings / necklace, abs / pla, elbow / tee). So a candidate is kept
only if its two words are *mutual nearest neighbours* in a text encoder's space among all
the product words of the store's titles (:class:`SemanticGate`; each word embedded alone
as an e5 "query: word"): each word is among the `semantic_rank` (3) closest of the store's
words to the other. The criterion is a rank, not a cosine threshold (single words all sit
at cosine 0.8-0.95 in e5); 3 rather than 1 because one word alone is ambiguous and
neighbours come in near-ties: in the planted test catalog "trainers" is closest to
"running" (0.883), and "sneakers" to "knit" (0.870) before "trainers" (0.868). When the encoder is not installed the
miner runs without the gate, logs a warning, and says so in each suggestion's evidence
(``evidence["semantic"]["gate"] == "off"`` with the reason).
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from cartwise.encode import (
    DEFAULT_ENCODER,
    EncoderUnavailable,
    TextEncoder,
    l2_normalise,
    load_encoder,
)
from cartwise.errors import ValidationError
from cartwise.graph.graph import RelationGraph
from cartwise.graph.variants import COLOURS, COLOURS_ZH, SHADES, SIZES, SIZES_ZH
from cartwise.rules.ruleset import RuleSet
from cartwise.rules.suggestions import (
    SynonymSuggestion,
    known_pairs,
    refines,
    suggestion_id,
)
from cartwise.search.tokenize import Tokenizer

log = logging.getLogger(__name__)

MAX_EXAMPLES = 5
_ENCODE_BATCH = 32
# Measures ("500ml", "12pcs") and anything holding a digit: sizes, pack counts, model numbers.
_DIGIT = re.compile(r"\d")
_NUMBER = re.compile(r"^\d+(?:[.,/]\d+)*$")
_HAN = re.compile(r"[\u3400-\u9fff]")
_HAN_RUN = re.compile(r"[\u3400-\u9fff]+")
_VARIANT_WORDS = COLOURS | SHADES | SIZES | frozenset(COLOURS_ZH) | frozenset(SIZES_ZH)


@dataclass(frozen=True, slots=True)
class _Pair:
    left: int
    right: int
    relation: str
    """"substitutes", "co_viewed" or both ("substitutes+co_viewed")."""


class TitleWords:
    """The product words of every title of a graph, as search tokens, and their spellings."""

    def __init__(self, graph: RelationGraph, *, tokenizer: Tokenizer | None = None) -> None:
        tokenizer = tokenizer or Tokenizer()
        ids = graph.item_ids_.ids
        brands = _brand_tokens(graph, tokenizer)
        self.words: list[frozenset[str]] = []
        self.spellings: dict[str, Counter[str]] = defaultdict(Counter)
        self.df: Counter[str] = Counter()
        for index, (item_id, title) in enumerate(zip(ids, graph.titles_.tolist(), strict=True)):
            title = str(title)
            if title == item_id:  # the graph names untitled items by their id
                self.words.append(frozenset())
                continue
            analysed = _product_words(tokenizer.analyze(title))
            han = {t for t, _ in analysed if _HAN.search(t)}
            pieces = _finest_pieces(title, han) if han else set()
            brand = brands[index]
            kept = frozenset(t for t, _ in analysed if t not in brand and (t not in han or t in pieces))
            for token, spelling in analysed:
                if token in kept:
                    self.spellings[token][spelling] += 1
            self.words.append(kept)
            self.df.update(kept)
        self.titled = sum(1 for w in self.words if w)

    def spelling(self, token: str) -> str:
        """The spelling titles use most for `token` (ties: the shortest, then alphabetical)."""
        counts = self.spellings.get(token)
        if not counts:
            return token
        return min(counts, key=lambda s: (-counts[s], len(s), s))


def _finest_pieces(title: str, words: set[str]) -> set[str]:
    """The Chinese words of `title` cut as finely as `words` allow. The search tokenizer
    gives a run every dictionary word inside it (真皮沙发 -> 真皮, 沙发, 皮沙发, 真皮沙发), so
    each run is tiled with the most pieces that cover it, none overlapping (真皮 + 沙发;
    连衣裙 stays whole: 连衣 and 衣裙 overlap); characters no word covers are skipped."""
    pieces: set[str] = set()
    for run in _HAN_RUN.findall(title):
        # best[i]: (characters skipped, -pieces, the pieces) of the best tiling of run[:i].
        best: list[tuple[int, int, tuple[str, ...]]] = [(0, 0, ())] + [(len(run) + 1, 0, ())] * len(run)
        for i in range(len(run)):
            skipped, count, chosen = best[i]
            if (skipped + 1, count) < best[i + 1][:2]:
                best[i + 1] = (skipped + 1, count, chosen)
            for word in words:
                end = i + len(word)
                if run.startswith(word, i) and (skipped, count - 1) < best[end][:2]:
                    best[end] = (skipped, count - 1, (*chosen, word))
        pieces.update(best[len(run)][2])
    return pieces


def _product_words(analysed: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(token, spelling) of the words that name the product: not variant words, numbers,
    nor the unit after a number ("2.2 lbs", "600 ml")."""
    kept = []
    after_number = False
    for token, spelling in analysed:
        spelling = spelling.casefold()
        if _is_product_word(token, spelling) and not after_number:
            kept.append((token, spelling))
        after_number = bool(_NUMBER.match(spelling))
    return kept


def _is_product_word(token: str, spelling: str) -> bool:
    if not token or _DIGIT.search(token):
        return False
    if spelling in _VARIANT_WORDS or token in _VARIANT_WORDS:
        return False
    return bool(_HAN.search(token)) or len(token) >= 2


def _brand_tokens(graph: RelationGraph, tokenizer: Tokenizer) -> list[frozenset[str]]:
    groups = graph.groups_.groups_["brand"]
    names = [frozenset(tokenizer.tokenize(name)) for name in graph.groups_.names_["brand"]]
    empty: frozenset[str] = frozenset()
    return [names[g] if g >= 0 else empty for g in groups.tolist()] + [empty] * (len(graph.item_ids_) - groups.size)


class SemanticGate:
    """Whether two title words are one another's nearest neighbours among the store's words.

    Every product word of the titles (:class:`TitleWords`, shown by its usual spelling) is
    embedded once as a query; ``ranks(a, b)`` is (b's rank among a's neighbours, a's rank
    among b's, their cosine), rank 1 the closest word other than itself. ``keeps`` asks for
    both ranks to be at most `rank` (1: mutual nearest neighbours)."""

    def __init__(self, encoder: TextEncoder, titles: TitleWords, *, rank: int = 3) -> None:
        self.encoder_name = str(getattr(encoder, "name", type(encoder).__name__))
        self.rank = rank
        self.tokens = sorted(titles.df)
        self.index = {token: i for i, token in enumerate(self.tokens)}
        self.vectors = _word_vectors(encoder, [titles.spelling(t) for t in self.tokens])

    def ranks(self, a: str, b: str) -> tuple[int, int, float]:
        i, j = self.index[a], self.index[b]
        cosine = float(self.vectors[i] @ self.vectors[j])
        return self._rank(i, cosine), self._rank(j, cosine), cosine

    def _rank(self, i: int, cosine: float) -> int:
        sims = self.vectors @ self.vectors[i]
        # Words closer to i than the partner is, i itself left out (it is at 1.0).
        return int(np.count_nonzero(sims > cosine)) - int(sims[i] > cosine) + 1

    def keeps(self, a: str, b: str) -> tuple[bool, dict[str, Any]]:
        rank_ab, rank_ba, cosine = self.ranks(a, b)
        return max(rank_ab, rank_ba) <= self.rank, {
            "gate": "mutual_neighbours", "encoder": self.encoder_name, "max_rank": self.rank,
            "ranks": [rank_ab, rank_ba], "cosine": round(cosine, 4), "vocabulary": len(self.tokens)}


# The last vocabulary embedded (listing suggestions again for one store embeds nothing new).
_cache_lock = threading.Lock()
_cached: tuple[tuple[str, tuple[str, ...]], NDArray[np.float32]] | None = None


def _word_vectors(encoder: TextEncoder, words: list[str]) -> NDArray[np.float32]:
    global _cached
    key = (str(getattr(encoder, "name", id(encoder))), tuple(words))
    with _cache_lock:
        if _cached is not None and _cached[0] == key:
            return _cached[1]
    parts = [encoder.encode_queries(words[i:i + _ENCODE_BATCH]) for i in range(0, len(words), _ENCODE_BATCH)]
    vectors = l2_normalise(np.vstack(parts)) if parts else np.empty((0, encoder.dim), dtype=np.float32)
    with _cache_lock:
        _cached = (key, vectors)
    return vectors


def _semantic_gate(encoder: TextEncoder | str | None, titles: TitleWords, rank: int
                   ) -> tuple[SemanticGate | None, dict[str, Any]]:
    """The gate, or None and why there is none (asked for none, or the encoder is missing)."""
    if encoder is None:
        return None, {"gate": "off", "reason": "no encoder asked for"}
    if isinstance(encoder, str):
        try:
            encoder = load_encoder(encoder)
        except EncoderUnavailable as exc:
            reason = f"{exc} ({exc.hint})" if getattr(exc, "hint", None) else str(exc)
            log.warning("graph synonyms without the semantic gate: %s", reason)
            return None, {"gate": "off", "reason": reason}
    return SemanticGate(encoder, titles, rank=rank), {}


def substitute_pairs(graph: RelationGraph) -> list[_Pair]:
    """Item pairs the graph holds to be interchangeable, each once (left < right): text
    neighbours above ``substitute_strength`` in one top category, and pairs co-viewed at
    least ``min_count`` times with lift above ``min_lift`` in one category (or, without
    categories, also text neighbours); never a pair bought together more often than
    chance, nor two variants of one product."""
    n = len(graph.item_ids_)
    text = sp.coo_matrix(graph.text_.similar_)
    strong = graph.text_.strength(text.data) >= graph.substitute_strength
    text_left, text_right = _ordered(text.row[strong], text.col[strong])
    neighbours = _keys(*_ordered(text.row, text.col), n)

    viewed = sp.triu(graph.co_viewed_.pairs_, k=1).tocoo()
    counts = graph.co_viewed_.counts_
    lift = viewed.data * max(graph.co_viewed_.baskets_, 1) / np.maximum(counts[viewed.row] * counts[viewed.col], 1)
    keep = (viewed.data >= graph.min_count) & (lift > graph.min_lift)
    view_left, view_right = viewed.row[keep].astype(np.int64), viewed.col[keep].astype(np.int64)

    category = _padded(graph.groups_.groups_["category"], n)
    top = _top_categories(graph, n)
    family = _padded(graph.groups_.groups_["family"], n)
    both_top = (top[text_left] >= 0) & (top[text_right] >= 0)
    text_ok = ~both_top | (top[text_left] == top[text_right])
    both_category = (category[view_left] >= 0) & (category[view_right] >= 0)
    view_ok = np.where(both_category, category[view_left] == category[view_right],
                       np.isin(_keys(view_left, view_right, n), neighbours))

    bought = sp.triu(graph.co_bought_.pairs_, k=1).tocoo()
    bought_counts = graph.co_bought_.counts_
    bought_lift = bought.data * max(graph.co_bought_.baskets_, 1) / np.maximum(
        bought_counts[bought.row] * bought_counts[bought.col], 1)
    together = _keys(bought.row.astype(np.int64), bought.col.astype(np.int64), n)[
        (bought.data >= graph.min_count) & (bought_lift > graph.min_lift)]

    pairs: dict[int, _Pair] = {}
    for relation, left, right, ok in (("substitutes", text_left, text_right, text_ok),
                                      ("co_viewed", view_left, view_right, view_ok)):
        same_family = (family[left] >= 0) & (family[left] == family[right])
        keys = _keys(left, right, n)
        chosen = ok & ~same_family & ~np.isin(keys, together)
        for key, a, b in zip(keys[chosen].tolist(), left[chosen].tolist(), right[chosen].tolist(), strict=True):
            seen = pairs.get(key)
            if seen is None or relation not in seen.relation:
                pairs[key] = _Pair(a, b, relation if seen is None else f"{seen.relation}+{relation}")
    return [pairs[key] for key in sorted(pairs)]


def _ordered(a: NDArray[np.integer], b: NDArray[np.integer]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    a, b = a.astype(np.int64), b.astype(np.int64)
    distinct = a != b
    return np.minimum(a, b)[distinct], np.maximum(a, b)[distinct]


def _keys(left: NDArray[np.int64], right: NDArray[np.int64], n: int) -> NDArray[np.int64]:
    return left * n + right


def _padded(groups: NDArray[np.int64], n: int) -> NDArray[np.int64]:
    """`groups` (items known to the catalog) with -1 for the items only events named."""
    return np.concatenate([groups, np.full(n - groups.size, -1, dtype=np.int64)]) if groups.size < n else groups


def _top_categories(graph: RelationGraph, n: int) -> NDArray[np.int64]:
    names = graph.groups_.names_["category"]
    tops = sorted({name.split(">")[0].strip() for name in names})
    index = {name: i for i, name in enumerate(tops)}
    of_group = np.array([index[name.split(">")[0].strip()] for name in names] + [-1], dtype=np.int64)
    return of_group[_padded(graph.groups_.groups_["category"], n)]  # -1 picks the appended "none"


def suggest_graph_synonyms(
    graph: RelationGraph,
    *,
    rules: RuleSet | None = None,
    tokenizer: Tokenizer | None = None,
    min_pairs: int = 3,
    min_lift: float = 2.0,
    max_words: int = 2,
    limit: int = 50,
    encoder: TextEncoder | str | None = DEFAULT_ENCODER,
    semantic_rank: int = 3,
) -> list[SynonymSuggestion]:
    """Word pairs that tell substitute items apart again and again, best first (see the
    module docstring). `min_pairs`: differently worded item pairs (pairs sharing the same
    other words count once: a product line's "Number tile cottage garden 0..9" against
    its "Number tile vintage font 0..9" is one wording), and from 2 up, at least two
    distinct items on each side (one item with many look-alikes is one naming habit);
    `min_lift`: how many times more often than chance; `max_words`: the most words each
    title of a pair may keep of its own. `encoder` (a name or a loaded encoder; None: no
    gate) keeps only pairs whose words are within `semantic_rank` nearest neighbours of each
    other among the store's title words (:class:`SemanticGate`); a named encoder that is
    not installed leaves the gate off, which every suggestion's evidence then says."""
    for name, value, low in (("min_pairs", min_pairs, 1), ("max_words", max_words, 1), ("limit", limit, 1),
                             ("semantic_rank", semantic_rank, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValidationError(f"{name} must be a whole number of at least {low}, got {value!r}", field=name)
    if isinstance(min_lift, bool) or not isinstance(min_lift, (int, float)) or not min_lift >= 0:
        raise ValidationError(f"min_lift must be a non-negative number, got {min_lift!r}", field="min_lift")
    tokenizer = tokenizer or Tokenizer()
    titles = TitleWords(graph, tokenizer=tokenizer)
    category = _padded(graph.groups_.groups_["category"], len(graph.item_ids_))
    aligned = 0
    alternations: Counter[str] = Counter()
    found: dict[tuple[str, str], list[_Pair]] = defaultdict(list)
    contexts: dict[tuple[str, str], set[frozenset[str]]] = defaultdict(set)
    for pair in substitute_pairs(graph):
        left, right = titles.words[pair.left], titles.words[pair.right]
        own_left, own_right = left - right, right - left
        if not (1 <= len(own_left) <= max_words and 1 <= len(own_right) <= max_words):
            continue
        aligned += 1
        alternations.update(own_left | own_right)
        for a in own_left:
            for b in own_right:
                key = (a, b) if a < b else (b, a)
                found[key].append(pair)
                contexts[key].add(left & right)
    known = _known_tokens(rules, tokenizer)
    ids = graph.item_ids_.ids
    gate: SemanticGate | None = None
    gate_off: dict[str, Any] = {}
    scored = []
    for (a, b), pairs in found.items():
        support = len(contexts[(a, b)])
        if support < min_pairs:
            continue
        terms = tuple(sorted((titles.spelling(a), titles.spelling(b))))
        if (a, b) in known or terms in known or refines(*terms):
            continue
        side_a = {p.left if a in titles.words[p.left] else p.right for p in pairs}
        side_b = {p.right if a in titles.words[p.left] else p.left for p in pairs}
        if min(len(side_a), len(side_b)) < min(2, min_pairs):
            continue
        p_a, p_b = titles.df[a] / titles.titled, titles.df[b] / titles.titled
        lift = len(pairs) / max(2.0 * aligned * p_a * p_b, 1e-12)
        if lift < min_lift:
            continue
        # How much of the rarer word's alternation is with the other one: a synonym swaps
        # with its partner, a material or design word ("pla", "abs", "petg") with many.
        exclusive = len(pairs) / min(alternations[a], alternations[b])
        if gate is None and not gate_off:  # embedded once, and only when a candidate needs it
            gate, gate_off = _semantic_gate(encoder, titles, semantic_rank)
        semantic = gate_off
        if gate is not None:
            kept, semantic = gate.keeps(a, b)
            if not kept:
                continue
        score = support * math.log2(max(lift, 1.0 + 1e-9)) * exclusive
        scored.append((score, terms, (a, b), pairs, lift, support, exclusive, semantic))
    scored.sort(key=lambda entry: (-entry[0], entry[1]))
    suggestions = []
    for score, terms, (a, b), pairs, lift, support, exclusive, semantic in scored[:limit]:
        categories = {int(category[p.left]) for p in pairs} | {int(category[p.right]) for p in pairs}
        examples = [
            {"items": [ids[p.left], ids[p.right]], "titles": [graph.title(ids[p.left]), graph.title(ids[p.right])],
             "relation": p.relation}
            for p in pairs[:MAX_EXAMPLES]
        ]
        suggestions.append(SynonymSuggestion(
            suggestion_id=suggestion_id(*terms), terms=terms, source="graph",  # type: ignore[arg-type]
            support=support, score=round(score, 4),
            evidence={
                "item_pairs": len(pairs),
                "wordings": support,
                "categories": len(categories - {-1}),
                "lift": round(lift, 2),
                "exclusive": round(exclusive, 3),
                "titles_with": {titles.spelling(a): titles.df[a], titles.spelling(b): titles.df[b]},
                "relations": dict(Counter(p.relation for p in pairs)),
                "semantic": semantic,
                "examples": examples,
            },
        ))
    return suggestions


def _known_tokens(rules: RuleSet | None, tokenizer: Tokenizer) -> set[tuple[str, ...]]:
    """The rules' synonym pairs as written and as search tokens (so "sofas" = "couch"
    covers the tokens sofa / couch)."""
    known: set[tuple[str, ...]] = set(known_pairs(rules))
    for a, b in list(known):
        tokens_a, tokens_b = tokenizer.tokenize(a), tokenizer.tokenize(b)
        if len(tokens_a) == 1 and len(tokens_b) == 1:
            known.add(tuple(sorted((tokens_a[0], tokens_b[0]))))
    return known


__all__ = ["SemanticGate", "TitleWords", "substitute_pairs", "suggest_graph_synonyms"]
