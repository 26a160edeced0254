"""Where synonym suggestions come from, by name, and the one way to list and accept them.

"graph" (:mod:`cartwise.rules.graph_synonyms`: substitutes of the relation graph named
differently) and "purchases" (:mod:`cartwise.rules.mining`: queries that led to the same
purchases). `cartwise rules suggest-synonyms` and ``/v1/rules/synonym-suggestions`` both
list through :func:`suggest` and accept through :func:`accept`, so a source is defined once.
Nothing is applied by itself: an accepted suggestion is saved as a two-way synonym (a new
rules version), after which neither source suggests that pair again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cartwise.errors import NotTrained, ValidationError
from cartwise.rules.graph_synonyms import suggest_graph_synonyms
from cartwise.rules.mining import DEFAULT_WINDOW_MS, suggest_synonyms
from cartwise.rules.ruleset import RuleSet
from cartwise.rules.suggestions import SynonymSuggestion

if TYPE_CHECKING:
    from cartwise.engine import Engine

ALL = "all"


@dataclass(frozen=True)
class SuggestionSettings:
    """The knobs of both miners (their defaults are the miners' own)."""

    limit: int = 50
    min_shared: int = 2
    """purchases: items bought after both queries, at least."""
    window_ms: int = DEFAULT_WINDOW_MS
    """purchases: a purchase counts for the search this long before it."""
    min_pairs: int = 3
    """graph: distinct wordings of substitute pairs that differ by the two terms, at least."""
    min_lift: float = 2.0
    """graph: how many times more often than chance, at least."""


@dataclass(frozen=True)
class SuggestionSource:
    name: str
    description: str
    find: Callable[[Engine, RuleSet, SuggestionSettings], list[SynonymSuggestion]]


def _from_purchases(engine: Engine, rules: RuleSet, settings: SuggestionSettings) -> list[SynonymSuggestion]:
    return suggest_synonyms(engine.store, rules=rules, window_ms=settings.window_ms, min_shared=settings.min_shared,
                            limit=settings.limit)


def _from_graph(engine: Engine, rules: RuleSet, settings: SuggestionSettings) -> list[SynonymSuggestion]:
    return suggest_graph_synonyms(engine.relation_graph(), rules=rules, min_pairs=settings.min_pairs,
                                  min_lift=settings.min_lift, limit=settings.limit)


_SOURCES: dict[str, SuggestionSource] = {}


def register(source: SuggestionSource) -> SuggestionSource:
    if source.name in _SOURCES or source.name == ALL:
        raise ValueError(f"synonym source {source.name!r} is registered twice")
    _SOURCES[source.name] = source
    return source


register(SuggestionSource("graph", "substitute items whose titles differ by these words", _from_graph))
register(SuggestionSource("purchases", "queries whose searchers bought the same items", _from_purchases))


def names() -> list[str]:
    return list(_SOURCES)


def check_source(source: object) -> str:
    """`source` if it names a source or "all"; a ValidationError on the field ``source`` otherwise."""
    if not isinstance(source, str) or (source != ALL and source not in _SOURCES):
        raise ValidationError(f"unknown synonym suggestion source {source!r}", field="source",
                              hint=f"choose one of {', '.join([*_SOURCES, ALL])}")
    return source


def suggest(engine: Engine, *, source: str = ALL, settings: SuggestionSettings | None = None
            ) -> list[SynonymSuggestion]:
    """Suggestions of `source` (or of every source, one after the other), leaving out
    pairs the live rules already link. With "all", a store trained before relation graphs
    existed (or not trained yet) lists the purchase suggestions alone; naming "graph"
    says why there are none (NotTrained)."""
    check_source(source)
    settings = settings or SuggestionSettings()
    rules = engine.rules.current()
    found: list[SynonymSuggestion] = []
    for name in ([source] if source != ALL else names()):
        try:
            found.extend(_SOURCES[name].find(engine, rules, settings))
        except NotTrained:
            if source != ALL:
                raise
    return found


def accept(engine: Engine, suggestion_ids: list[str], *, found: list[SynonymSuggestion],
           source: str = "api") -> tuple[RuleSet, list[SynonymSuggestion]]:
    """Save the suggestions of `found` named by `suggestion_ids` as two-way synonyms (one
    new rules version each); a ValidationError naming every unknown id, before anything
    is saved. Returns the last rules version and the suggestions saved."""
    by_id: dict[str, SynonymSuggestion] = {}
    for suggestion in found:
        by_id.setdefault(suggestion.suggestion_id, suggestion)
    missing = [i for i in suggestion_ids if i not in by_id]
    if missing or not suggestion_ids:
        raise ValidationError(f"no suggestion {', '.join(missing) or '(none named)'}", field="accept",
                              hint="list the current ids with `cartwise rules suggest-synonyms` or "
                                   "GET /v1/rules/synonym-suggestions")
    rules = engine.rules.current()
    saved = []
    for suggestion_id in dict.fromkeys(suggestion_ids):
        rules = engine.rules.put(by_id[suggestion_id].as_synonym(), source=f"{source}: accepted suggestion")
        saved.append(by_id[suggestion_id])
    return rules, saved


__all__ = ["ALL", "SuggestionSettings", "SuggestionSource", "accept", "check_source", "names", "register", "suggest"]
