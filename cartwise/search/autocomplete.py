"""Search-box suggestions from product titles, categories, brands and popular past queries.

Every suggestion is indexed under each of its first words' suffixes ("blue teapot set" under
"blue teapot set", "teapot set" and "set"), lowercased, in one sorted array, so a prefix
is two binary searches whatever the catalog size, and typing "tea" finds "blue teapot".
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from pydantic import BaseModel

from cartwise.catalog import CatalogSnapshot
from cartwise.search.browse import ItemScores
from cartwise.search.lexical import LexicalIndex

MAX_WORDS = 6
MAX_SUGGESTION_CHARS = 80
# What shoppers typed before beats catalog text at equal popularity within its kind.
_KIND_BONUS = {"query": 0.5, "category": 0.3, "brand": 0.3, "title": 0.0}
_WORD = re.compile(r"\S+")


class Suggestion(BaseModel):
    text: str
    kind: str
    """'query' (popular past search), 'category', 'brand' or 'title'."""
    weight: float


@dataclass(frozen=True)
class _Entry:
    text: str
    kind: str
    weight: float


class Autocomplete:
    """Prefix suggestions; build with :meth:`build`, ask with :meth:`suggest`."""

    def __init__(self) -> None:
        self._keys: list[str] = []
        self._entry_of_key: list[int] = []
        self._entries: list[_Entry] = []
        self._top_weight: dict[str, float] = dict.fromkeys(_KIND_BONUS, 0.0)

    @classmethod
    def build(
        cls,
        *,
        titles: Iterable[tuple[str, float]] = (),
        categories: Iterable[tuple[str, float]] = (),
        brands: Iterable[tuple[str, float]] = (),
        queries: Iterable[tuple[str, float]] = (),
    ) -> Autocomplete:
        """Each source yields (text, weight); weight is popularity (events, item counts, query counts)."""
        index = cls()
        best: dict[tuple[str, str], _Entry] = {}
        for kind, source in (("title", titles), ("category", categories), ("brand", brands), ("query", queries)):
            for text, weight in source:
                text = " ".join(str(text or "").split())[:MAX_SUGGESTION_CHARS]
                if not text:
                    continue
                key = (kind, text.casefold())
                current = best.get(key)
                if current is None or weight > current.weight:
                    best[key] = _Entry(text=text, kind=kind, weight=float(weight))
        pairs: list[tuple[str, int]] = []
        for number, entry in enumerate(best.values()):
            index._entries.append(entry)
            index._top_weight[entry.kind] = max(index._top_weight[entry.kind], entry.weight)
            lowered = entry.text.casefold()
            starts = [m.start() for m in _WORD.finditer(lowered)][:MAX_WORDS]
            # CJK text has no spaces: also index each character position of short texts.
            if not lowered.isascii() and len(lowered) <= 30:
                starts = sorted(set(starts) | set(range(min(len(lowered), MAX_WORDS * 2))))
            pairs.extend((lowered[s:], number) for s in starts)
        pairs.sort()
        index._keys = [key for key, _ in pairs]
        index._entry_of_key = [number for _, number in pairs]
        return index

    def __len__(self) -> int:
        return len(self._entries)

    def suggest(self, prefix: str, *, k: int = 8) -> list[Suggestion]:
        """Up to `k` suggestions containing a word that starts with `prefix`: ranked by
        popularity within their kind (log-scaled, relative to the kind's most popular),
        with a bonus for text that starts with the prefix and for past queries."""
        prefix = " ".join(prefix.split()).casefold()
        if not prefix:
            return []
        start = bisect.bisect_left(self._keys, prefix)
        end = bisect.bisect_left(self._keys, prefix + "\U0010ffff", lo=start)
        found = {self._entry_of_key[i] for i in range(start, min(end, start + 5_000))}
        def rank(entry: _Entry) -> tuple[float, str]:
            share = math.log1p(max(entry.weight, 0.0)) / math.log1p(max(self._top_weight[entry.kind], 1e-9))
            starts = 0.5 if entry.text.casefold().startswith(prefix) else 0.0
            return (-(share + starts + _KIND_BONUS[entry.kind]), entry.text)

        entries = sorted((self._entries[i] for i in found), key=rank)
        out: list[Suggestion] = []
        seen: set[str] = set()
        for entry in entries:
            folded = entry.text.casefold()
            if folded in seen:
                continue
            seen.add(folded)
            out.append(Suggestion(text=entry.text, kind=entry.kind, weight=round(entry.weight, 3)))
            if len(out) == k:
                break
        return out



def build_autocomplete(
    lexical: LexicalIndex,
    catalog: CatalogSnapshot,
    popularity: ItemScores,
    *,
    brand_names: Mapping[str, str],
    queries: Iterable[tuple[str, float]] = (),
) -> Autocomplete:
    """The suggestions of one catalog: titles of the indexed catalog items weighted by
    `popularity`, category leaves and brands weighted by their item counts (brands spelt
    as the catalog spells them, `brand_names`), and popular past `queries`."""
    ids = [i for i in lexical.item_ids_.tolist() if i in catalog]
    scores = popularity.score(ids)
    titles = [(catalog.title(i), float(p)) for i, p in zip(ids, scores, strict=True)]
    columns = lexical.filter_columns_
    categories: dict[str, float] = {}
    for code in columns.category_codes[columns.category_codes >= 0].tolist():
        leaf = columns.categories[code]
        categories[leaf] = categories.get(leaf, 0.0) + 1.0
    brand_counts = np.bincount(columns.brand_codes[columns.brand_codes >= 0], minlength=len(columns.brands))
    brands = [(brand_names.get(name, name), float(count)) for name, count in zip(columns.brands, brand_counts.tolist())]
    return Autocomplete.build(titles=titles, categories=categories.items(), brands=brands, queries=queries)


__all__ = ["Autocomplete", "Suggestion", "build_autocomplete"]
