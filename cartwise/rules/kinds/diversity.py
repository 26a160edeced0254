"""Diversity rules: no wall of one brand or category at the top of an answer.

``by: brand`` (or ``category``, with `level` 1 for the top level, or any attribute) keeps
at most `max` items of one value among the first `top`; the others move down, just past
the top, in their order. ``method: mmr`` re-ranks the first `top` by maximal marginal
relevance on the items' text embeddings: each next item maximises
``lambda * relevance - (1 - lambda) * (highest cosine with an item already placed)``
(Carbonell and Goldstein, 1998), relevance being the item's rank in the answer so far
(1 for the first, falling evenly)::

    - {id: brand-mix, kind: diversity, by: brand, max: 2, top: 10}
    - {id: mmr, kind: diversity, method: mmr, lambda: 0.7, top: 10}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from cartwise.catalog.item import split_category
from cartwise.rules.conditions import ItemView, _comparable
from cartwise.rules.document import Fields
from cartwise.rules.kinds.registry import RuleKind, register_kind
from cartwise.rules.probes import Probes

if TYPE_CHECKING:
    from cartwise.rules.window import Window


@register_kind
class Diversity(RuleKind):
    name: ClassVar[str] = "diversity"
    phase: ClassVar[str] = "arrange"
    fields: ClassVar[tuple[str, ...]] = ("by", "max", "top", "level", "method", "lambda")

    def __init__(self, fields: Fields, probes: Probes) -> None:
        self.method = fields.choice("method", ("cap", "mmr"), "cap")
        self.top = fields.integer("top", 10, low=1, high=500)
        cap = self.method != "mmr"
        if not cap and fields.has("by"):
            fields.problem("by", "`by` is for `method: cap`; MMR compares the items' text embeddings")
        self.by = fields.text("by", max_length=100) if cap else None
        self.max = fields.integer("max", low=1, high=500) if cap else None
        self.level = fields.integer("level", None, low=1, high=20)
        self.mix = fields.number("lambda", 0.7, low=0.0, high=1.0)
        self._key = probes.add(self._value) if self.method == "cap" and self.by else None

    def _value(self, item: ItemView) -> Any:
        if self.by == "category":
            parts = split_category(item.card.category)
            if not parts:
                return None
            return " > ".join(parts[: self.level] if self.level else parts).casefold()
        value = item.value(self.by or "")
        return _comparable(value) if isinstance(value, (str, int, float, bool)) else None

    def arrange(self, window: Window, rule_id: str) -> None:
        if self.method == "mmr":
            self._mmr(window, rule_id)
            return
        entries = window.entries
        top = min(self.top, len(entries))
        kept, deferred, counts = [], [], {}
        assert self._key is not None and self.max is not None
        for n, entry in enumerate(entries):
            if len(kept) >= top:
                window.entries = kept + deferred + entries[n:]
                break
            value = entry.facts[self._key]
            if value is not None and counts.get(value, 0) >= self.max:
                deferred.append(entry)
                continue
            counts[value] = counts.get(value, 0) + 1
            kept.append(entry)
        else:
            window.entries = kept + deferred
        for entry in deferred:
            window.touch(entry, rule_id, f"moved below the top {self.top}: at most {self.max} per {self.by}")

    def _mmr(self, window: Window, rule_id: str) -> None:
        vectors = window.request.state.vectors
        entries = window.entries
        pool = entries[: min(len(entries), self.top * 3)]
        if vectors is None or len(pool) < 2:
            return
        have = [entry.item_id in vectors for entry in pool]
        matrix = np.zeros((len(pool), vectors.dim if hasattr(vectors, "dim") else 0), dtype=np.float32)
        if any(have):
            found = vectors.vectors([e.item_id for e, h in zip(pool, have, strict=True) if h])
            matrix = np.zeros((len(pool), found.shape[1]), dtype=np.float32)
            matrix[np.asarray(have)] = found
        similarity = matrix @ matrix.T
        # Relevance by rank in the order the earlier rules left (1 for the first, falling
        # evenly): scale-free, so `lambda` means the same for BM25 sums, cosines or counts,
        # and boosts, buries and the stock policy count through the order they made.
        relevance = 1.0 - np.arange(len(pool), dtype=np.float64) / len(pool)
        chosen: list[int] = []
        left = list(range(len(pool)))
        closest = np.zeros(len(pool), dtype=np.float64)
        while left and len(chosen) < self.top:
            values = [self.mix * relevance[i] - (1 - self.mix) * closest[i] for i in left]
            best = left.pop(int(np.argmax(values)))
            chosen.append(best)
            closest = np.maximum(closest, similarity[best])
        order = chosen + left
        window.entries = [pool[i] for i in order] + entries[len(pool):]
        for position, index in enumerate(order[: self.top]):
            if position != index:
                window.touch(pool[index], rule_id, "placed for variety (MMR on text embeddings)")

    def describe(self) -> str:
        if self.method == "mmr":
            return f"MMR over the top {self.top}, lambda {self.mix:g}"
        return f"at most {self.max} per {self.by} in the top {self.top}"


__all__ = ["Diversity"]
