"""Synonym suggestions mined from queries that led to the same purchases.

Two different queries whose searchers went on to buy the same items are likely two names
for one thing ("trainers" and "sneakers", "tv" and "television"). A purchase is credited
to a query when it names the answer it came from (its `request_id` is a search answer's,
whose impression kept the query) or, failing that, when it is the shopper's first
purchase within `window_ms` after a search event of theirs. Pairs of queries are scored
by the Jaccard overlap of the item sets bought after them; a query that only adds words
to the other ("red mug" and "mug") is a refinement, not a synonym, and is left out, as
are pairs the rules already have. The team accepts suggestions
(``cartwise rules suggest-synonyms --accept ID``); nothing is applied by itself.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations

import polars as pl

from cartwise.events.event import EventType
from cartwise.rules.ruleset import RuleSet
from cartwise.rules.scope import normalise_query
from cartwise.rules.suggestions import (
    SynonymSuggestion,
    known_pairs,
    refines,
    suggestion_id,
)
from cartwise.store import Store

DEFAULT_WINDOW_MS = 30 * 60 * 1000
MAX_QUERIES_PER_ITEM = 50


def query_purchases(store: Store, *, window_ms: int = DEFAULT_WINDOW_MS) -> pl.DataFrame:
    """(query, item_id, user_id) for every purchase credited to a search."""
    events = store.events().select("user_id", "item_id", "event_type", "ts", "query", "request_id")
    purchases = events.filter(pl.col("event_type") == EventType.PURCHASE.value).drop("query")
    credited = pl.DataFrame(schema={"query": pl.Utf8, "item_id": pl.Utf8, "user_id": pl.Utf8})
    impressions = store.impressions().filter(pl.col("query").is_not_null() & (pl.col("query") != ""))
    if impressions.height:
        credited = purchases.filter(pl.col("request_id").is_not_null()).join(
            impressions.select("request_id", "query"), on="request_id", how="inner"
        ).select("query", "item_id", "user_id")
    searches = (
        events.filter((pl.col("event_type") == EventType.SEARCH.value) & pl.col("query").is_not_null())
        .select("user_id", pl.col("ts").alias("searched_ts"), "query")
        .sort("searched_ts")
    )
    uncredited = purchases.filter(pl.col("request_id").is_null()).sort("ts")
    followed = pl.DataFrame(schema={"query": pl.Utf8, "item_id": pl.Utf8, "user_id": pl.Utf8})
    if searches.height and uncredited.height:
        followed = (
            # Both sorted by time, so each shopper's rows are too (polars cannot check it by group).
            uncredited.join_asof(searches, left_on="ts", right_on="searched_ts", by="user_id", strategy="backward",
                                 tolerance=window_ms, check_sortedness=False)
            .filter(pl.col("query").is_not_null())
            .select("query", "item_id", "user_id")
        )
    both = pl.concat([credited, followed])
    return both.with_columns(pl.col("query").map_elements(normalise_query, return_dtype=pl.Utf8)).filter(
        pl.col("query") != ""
    )


def suggest_synonyms(
    store: Store,
    *,
    rules: RuleSet | None = None,
    window_ms: int = DEFAULT_WINDOW_MS,
    min_shared: int = 2,
    min_jaccard: float = 0.2,
    limit: int = 50,
) -> list[SynonymSuggestion]:
    """Pairs of queries that led to the same purchases, best overlap first (see the
    module docstring); pairs `rules` already has as synonyms are left out."""
    pairs = query_purchases(store, window_ms=window_ms).unique(["query", "item_id"])
    items_of: dict[str, set[str]] = defaultdict(set)
    queries_of: dict[str, list[str]] = defaultdict(list)
    for query, item_id in pairs.select("query", "item_id").iter_rows():
        items_of[query].add(item_id)
        queries_of[item_id].append(query)
    known = known_pairs(rules)
    shared: dict[tuple[str, str], set[str]] = defaultdict(set)
    for item_id, queries in queries_of.items():
        queries = sorted(queries, key=lambda q: -len(items_of[q]))[:MAX_QUERIES_PER_ITEM]
        for a, b in combinations(sorted(queries), 2):
            shared[(a, b)].add(item_id)
    found = []
    for (a, b), items in shared.items():
        if len(items) < min_shared or (a, b) in known or refines(a, b):
            continue
        jaccard = len(items) / len(items_of[a] | items_of[b])
        if jaccard >= min_jaccard:
            found.append(((a, b), items, jaccard))
    found.sort(key=lambda entry: (-entry[2], -len(entry[1]), entry[0]))
    return [
        SynonymSuggestion(
            suggestion_id=suggestion_id(a, b), terms=(a, b), source="purchases", support=len(items),
            score=round(jaccard, 4),
            evidence={"shared_items": len(items), "jaccard": round(jaccard, 4), "items": sorted(items)[:5]},
        )
        for (a, b), items, jaccard in found[:limit]
    ]


__all__ = ["SynonymSuggestion", "query_purchases", "suggest_synonyms"]
