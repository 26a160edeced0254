"""A synonym suggestion: two terms a miner thinks name one thing, with where it saw them.

Miners (:mod:`cartwise.rules.mining`: queries that led to the same purchases;
:mod:`cartwise.rules.graph_synonyms`: titles of substitute items) each return these; the
team lists them and accepts the right ones by id (:mod:`cartwise.rules.synonym_sources`).
The id depends on the two terms only, so a pair both miners find has one id and accepting
it saves the same two-way synonym whichever listing it was read from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from cartwise.rules.ruleset import RuleSet


@dataclass(frozen=True)
class SynonymSuggestion:
    suggestion_id: str
    terms: tuple[str, str]
    source: str
    """The miner that found it: "purchases" or "graph"."""
    support: int
    """purchases: distinct items bought after both queries; graph: distinct item pairs
    whose titles differ by these two terms."""
    score: float
    """What the miner ranks by (purchases: Jaccard overlap; graph: support x log2 lift)."""
    evidence: dict[str, Any] = field(default_factory=dict)
    """The counts behind it and a few examples (item ids, or item pairs with their titles)."""

    def as_synonym(self) -> dict[str, object]:
        """The two-way synonym to save when the team accepts it."""
        return {"id": self.suggestion_id, "terms": list(self.terms),
                "description": f"accepted {self.source} suggestion: {self.summary()}"}

    def summary(self) -> str:
        if self.source == "graph":
            return f"{self.support} substitute item pairs differ by these words"
        return f"{self.support} items bought after both queries"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.suggestion_id, "terms": list(self.terms), "source": self.source,
                "support": self.support, "score": self.score, "evidence": self.evidence}


def suggestion_id(a: str, b: str) -> str:
    """The id of the pair (a, b), `a` sorting first."""
    return "syn-" + hashlib.sha1(f"{a}\x00{b}".encode()).hexdigest()[:8]


def refines(a: str, b: str) -> bool:
    """Whether one term is the other with words added ("red mug" refines "mug"; "teacup"
    holds "cup"): a narrower name, not a synonym."""
    words_a, words_b = set(a.split()), set(b.split())
    if words_a <= words_b or words_b <= words_a:
        return True
    return a in b or b in a  # Chinese: no spaces between words


def known_pairs(rules: RuleSet | None) -> set[tuple[str, str]]:
    """Every (sorted) pair of terms a synonym of `rules` already links."""
    known: set[tuple[str, str]] = set()
    if rules is None:
        return known
    for synonym in rules.synonyms.synonyms:
        for source in synonym.sources:
            for target in synonym.targets:
                if source != target:
                    known.add((min(source, target), max(source, target)))
    return known


__all__ = ["SynonymSuggestion", "known_pairs", "refines", "suggestion_id"]
