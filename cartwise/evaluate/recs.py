"""Offline evaluation of recommenders on one split, every model ranked over the full
catalog, with per-user scores kept for paired significance tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import polars as pl

from cartwise.errors import ValidationError
from cartwise.evaluate import metrics
from cartwise.evaluate.runs import RunRecord, fingerprint
from cartwise.evaluate.significance import compare
from cartwise.evaluate.splits import Split, cold_items, leave_last_out, time_split
from cartwise.recommend import Interaction, Scored
from cartwise.recommend import registry as recommenders
from cartwise.recommend.base import (
    TextVectors,
    histories_by_user,
    text_input,
)
from cartwise.recommend.registry import RecommenderSpec


class Candidate(Protocol):
    """What evaluation needs of a model: fit on training events, answer from histories."""

    def fit_split(self, split: Split, items: pl.DataFrame) -> None: ...

    def recommend(self, histories: Sequence[list[Interaction]], *, k: int, exclude_seen: bool) -> list[list[Scored]]: ...


@dataclass
class _Registered:
    """A registered recommender (:mod:`cartwise.recommend.registry`), built afresh for
    each split, a composite with fresh members."""

    spec: RecommenderSpec
    text: TextVectors | None
    exclude_seen: bool
    model: Any = None

    def _build(self, spec: RecommenderSpec) -> Any:
        offered = {"item_text_vectors": self.text, "exclude_seen": self.exclude_seen}
        if spec.composite:
            members = recommenders.build_members(spec, self._build, text=self.text is not None)
            return spec.build(members=members, **spec.settings_from(offered))
        return spec.build(**spec.settings_from(offered))

    def fit_split(self, split: Split, items: pl.DataFrame) -> None:
        self.model = self._build(self.spec)
        self.spec.fit(self.model, split.train, items=items, validation=split.validation)

    def recommend(self, histories: Sequence[list[Interaction]], *, k: int, exclude_seen: bool) -> list[list[Scored]]:
        return self.spec.answers(self.model).recommend(histories, k=k, exclude_seen=exclude_seen)


def _candidate(name: str) -> Callable[[TextVectors | None, bool], Candidate]:
    spec = recommenders.get(name)

    def make(text: TextVectors | None, exclude_seen: bool) -> Candidate:
        if spec.needs_text and text is None:
            raise ValidationError(
                f"{name} needs the items' text embeddings",
                field="models",
                hint=f"evaluate a store trained with a text encoder (not --data), or leave {name} out",
            )
        return _Registered(spec, text, exclude_seen)

    return make


# Every registered recommender, each factory given the catalog's text vectors (or None)
# and whether answers leave the history out; models that read text use them, so a
# cold-items split shows what text buys for products without events, and the blend tunes
# its weights for the protocol measured.
MODELS: dict[str, Callable[[TextVectors | None, bool], Candidate]] = {
    name: _candidate(name) for name in recommenders.names()
}


def make_split(events: pl.DataFrame, name: str) -> Split:
    if name == "leave-last-out":
        return leave_last_out(events)
    if name == "time":
        return time_split(events)
    if name == "cold-items":
        return cold_items(leave_last_out(events))
    raise ValidationError(f"unknown split {name!r}", field="split", hint="use leave-last-out, time or cold-items")


def histories_for(split: Split, users: Sequence[str], *, with_validation: bool = True) -> list[list[Interaction]]:
    """Each user's training (and validation) events, newest first, as the engine reads them."""
    frames = [split.train, split.validation] if with_validation else [split.train]
    return histories_by_user(pl.concat([f.select("user_id", "item_id", "event_type", "ts") for f in frames]), users)


def evaluate_recommenders(
    events: pl.DataFrame,
    items: pl.DataFrame,
    *,
    models: Sequence[str] = ("popularity", "itemknn", "als"),
    split: str = "leave-last-out",
    ks: Sequence[int] = (10, 20),
    exclude_seen: bool = False,
    max_users: int | None = None,
    seed: int = 0,
    item_text_vectors: TextVectors | None = None,
    on_step: Callable[[str], None] | None = None,
) -> RunRecord:
    """Fit every model on the split's training part and rank the full catalog for each
    test user. Per-user NDCG@10 of every model is compared with popularity's.

    `item_text_vectors` (ids and matrix, e.g. the store's item embeddings) go to the models
    that read text: sequential, twotower, textknn and blend; they also give each model's
    intra-list diversity (mean 1 - cosine within each top 10).
    """
    step = on_step or (lambda _s: None)
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValidationError(f"unknown models {unknown}", field="models", hint=f"choose from {sorted(MODELS)}")
    candidates = {name: MODELS[name](item_text_vectors, exclude_seen) for name in models}
    data = make_split(events, split)
    test = data.test
    if max_users is not None and test.height > max_users:
        test = test.sample(n=max_users, seed=seed)
    users = test["user_id"].to_list()
    targets = test["item_id"].to_list()
    histories = histories_for(data, users)
    top_k = max(ks)
    catalog_size = max(items.height, events["item_id"].n_unique())
    popularity_counts = {
        str(i): float(c) for i, c in data.train.group_by("item_id").agg(pl.col("user_id").n_unique()).iter_rows()
    }
    # Intra-list diversity needs item vectors: the text embeddings, when given.
    text_lookup = None
    if item_text_vectors is not None:
        text_ids, text_matrix = text_input(item_text_vectors)
        if text_matrix is not None:
            text_lookup = dict(zip(text_ids, text_matrix))
    results: dict[str, dict[str, float]] = {}
    seconds: dict[str, float] = {}
    per_user: dict[str, np.ndarray] = {}
    for name in models:
        step(f"fitting {name}")
        candidate = candidates[name]
        started = time.perf_counter()
        candidate.fit_split(data, items)
        fit_s = time.perf_counter() - started
        step(f"ranking for {len(users):,} users with {name}")
        started = time.perf_counter()
        answers: list[list[Scored]] = []
        for start in range(0, len(histories), 1024):
            answers += candidate.recommend(histories[start : start + 1024], k=top_k, exclude_seen=exclude_seen)
        rank_s = time.perf_counter() - started
        ranks = np.array(
            [next((r for r, s in enumerate(answer) if s.item_id == t), -1) for answer, t in zip(answers, targets)]
        )
        row: dict[str, float] = {}
        for k in ks:
            row[f"HR@{k}"] = metrics.hit_rate(ranks, k)
            row[f"NDCG@{k}"] = metrics.ndcg(ranks, k)
        row[f"MRR@{top_k}"] = metrics.mrr(ranks, top_k)
        lists = [[s.item_id for s in answer[:10]] for answer in answers]
        row["coverage@10"] = metrics.coverage(lists, catalog_size)
        row["novelty@10"] = metrics.novelty(lists, popularity_counts)
        if text_lookup is not None:
            row["diversity@10"] = metrics.intra_list_diversity(lists, text_lookup)
        results[name] = row
        seconds[name] = round(fit_s, 3)
        seconds[f"{name} ranking"] = round(rank_s, 3)
        per_user[name] = metrics.per_user_ndcg(ranks, 10)
    comparisons = {}
    if "popularity" in per_user:
        for name in models:
            if name != "popularity":
                c = compare(per_user["popularity"], per_user[name])
                comparisons[f"{name} vs popularity (NDCG@10)"] = {
                    "difference": c.difference,
                    "ci_low": c.ci_low,
                    "ci_high": c.ci_high,
                    "p_bootstrap": c.p_bootstrap,
                    "p_ttest": c.p_ttest,
                    "significant": c.significant,
                }
    config: Mapping[str, Any] = {
        "models": list(models),
        "split": split,
        "ks": list(ks),
        "exclude_seen": exclude_seen,
        "test_users": len(users),
        "catalog_size": catalog_size,
        "train_events": data.train.height,
        "seed": seed,
        "text_vectors": item_text_vectors is not None,
    }
    return RunRecord(
        kind="recs",
        split=data.name,
        data_fingerprint=fingerprint(events),
        config=dict(config),
        metrics=results,
        seconds=seconds,
        comparisons=comparisons,
    )
