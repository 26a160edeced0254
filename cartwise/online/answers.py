"""Model and online deltas fused into candidates: the functions serving stages call.

Each answers exactly as the model alone when the deltas are empty (right after `train`),
so online learning changes nothing until an event arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np

from cartwise.online.cooccurrence import NormOf
from cartwise.online.deltas import OnlineDeltas
from cartwise.recommend import Interaction, Scored
from cartwise.recommend.base import DAY_MS, resolve_weights
from cartwise.recommend.itemknn import ItemKNN
from cartwise.recommend.popularity import Popularity, category_key

POPULAR_REASON = "popular with shoppers"


def popular(
    model: Popularity, deltas: OnlineDeltas | None, k: int, *, exclude: Collection[str] = (),
    category: str | None = None, category_of: Callable[[str], str | None] | None = None,
) -> list[Scored]:
    """The `k` most popular items, optionally within `category` (any level of a category
    path; `category_of` gives the category path of the items with online counts): the
    model's decayed score plus the decayed counts of the events learned since (one decay,
    one anchor: a plain sum), skipping `exclude`."""
    if deltas is None or not deltas.popularity.values:
        return model.recommend(k, category=category, exclude=exclude)
    online = deltas.popularity
    touched = [i for i in online.values if i not in exclude]
    if category is not None:
        wanted = category_key(category)
        paths = ((i, category_of(i) if category_of is not None else None) for i in touched)
        touched = [i for i, path in paths if path and _within(category_key(path), wanted)]
    # Only the items with online counts can leave the model's order; enough of its head
    # for any of them to fall out of the top k.
    head = model.recommend(k + len(touched), category=category, exclude=exclude)
    if category is not None and not head and not touched:
        return []
    factor = online.factor(model.now_ms_)
    scores = {s.item_id: s.score * factor for s in head}
    reason = head[0].reason if head else (POPULAR_REASON if category is None else f"popular in {category}")
    base = model.score(touched) * factor
    for item_id, score in zip(touched, base.tolist(), strict=True):
        scores[item_id] = score + online.values[item_id]
    ranked = sorted(((s, i) for i, s in scores.items() if s > 0), key=lambda p: (-p[0], p[1]))
    # Scores on the model's own scale (at its reference time), as its answers give them.
    return [Scored(item_id=i, score=s / factor, reason=reason) for s, i in ranked[:k]]


def _within(path: str, category: str) -> bool:
    """Whether the category path `path` is `category` or below it (both keys)."""
    return path == category or path.startswith(category + " > ")


def trending(deltas: OnlineDeltas | None, k: int, *, exclude: Collection[str] = (), min_weight: float = 16.0,
             now_ms: int | None = None) -> list[Scored]:
    """Items chosen most in the last day or so (the trending counter), at least
    `min_weight` of decayed event weight at `now_ms` (default: the newest learned event):
    two purchases' worth, so a single view is not a trend."""
    if deltas is None or not deltas.trending.values:
        return []
    now = now_ms if now_ms is not None else (deltas.newest_ms or deltas.trending.anchor_ms)
    scale = deltas.trending.factor(now)
    return [
        Scored(item_id=i, score=v / scale, reason="trending with shoppers today")
        for i, v in deltas.trending.top(k, exclude=exclude)
        if v / scale >= min_weight
    ]


def similar(
    model: ItemKNN, deltas: OnlineDeltas | None, item_id: str, k: int, *, exclude: Collection[str] = ()
) -> list[Scored]:
    """Item-kNN neighbours of `item_id` with the online similarity of pairs counted since
    training added (:mod:`cartwise.online.cooccurrence`)."""
    online = deltas.together.similarity(item_id, norms(model)) if deltas is not None else {}
    if not online:
        return model.similar([item_id], k=k, exclude=exclude)[0]
    trained = {s.item_id: s for s in model.similar([item_id], k=model.neighbours, exclude=exclude)[0]}
    unit = "shoppers" if model.by == "user" else "sessions"
    together = {o: s for o, (s, _) in deltas.together.pairs.get(item_id, {}).items()} if deltas is not None else {}
    scores = {i: s.score for i, s in trained.items()}
    for other, value in online.items():
        if other != item_id and other not in exclude:
            scores[other] = scores.get(other, 0.0) + value
    ranked = sorted(scores.items(), key=lambda p: (-p[1], p[0]))[:k]
    out = []
    for other, score in ranked:
        reason = trained[other].reason if other in trained else (
            f"often chosen together with '{item_id}' by {together.get(other, 0)} {unit} lately")
        out.append(Scored(item_id=other, score=score, reason=reason, because=(item_id,)))
    return out


def norms(model: ItemKNN) -> NormOf:
    """The item-kNN model's column norm of an item (0 for one it does not know)."""
    index, values = model.item_ids_, model.norms_

    def norm_of(item_id: str) -> float:
        row = index.get(item_id)
        return float(values[row]) if row is not None else 0.0

    return norm_of


def affinity(model: ItemKNN, deltas: OnlineDeltas | None, history: list[Interaction]) -> dict[str, tuple[float, str]]:
    """How strongly each item goes with `history` through the pairs counted since
    training: item-kNN's sum ``weight(h) * similarity(h, item)`` with the online
    similarity, so it adds onto the model's scores; with the history item that
    contributed most."""
    if deltas is None or not deltas.together.pairs or not history:
        return {}
    weights = resolve_weights(model.weights)
    newest = max(e.ts for e in history)
    evidence: dict[str, float] = {}
    for e in history:
        w = weights.get(str(e.event_type), 0.0) * 2.0 ** (-(newest - e.ts) / (model.history_half_life_days * DAY_MS))
        if w > 0:
            evidence[e.item_id] = evidence.get(e.item_id, 0.0) + w
    out: dict[str, tuple[float, str]] = {}
    best: dict[str, float] = {}
    norm_of = norms(model)
    for item, total in evidence.items():
        weight = float(np.log1p(total))
        for other, value in deltas.together.similarity(item, norm_of).items():
            part = weight * value
            score, because = out.get(other, (0.0, item))
            if part > best.get(other, 0.0):
                best[other], because = part, item
            out[other] = (score + part, because)
    return out


__all__ = ["POPULAR_REASON", "affinity", "norms", "popular", "similar", "trending"]
