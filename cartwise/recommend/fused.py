"""FusedRecommender: the union of every generator's candidates, ordered by a learned ranker.

Each member (popularity, item-kNN, ALS, the sequential Transformer, text similarity, ...)
proposes its top `depth` items; :class:`~cartwise.rank.features.CandidateFeatures`
describes each candidate (every member's score and rank, popularity and trend, repeat and
recency, what followed the shopper's last item, category match) and a ranker from
:mod:`cartwise.rank.registry` orders them, LightGBM LambdaRank by default.

The ranker is trained on events the members did not see: :meth:`FusedRecommender.fit`
fits the members on `events` and learns, for each shopper of `validation` (their held-out
next item), to put that item first among the candidates proposed from their history in
`events`. So it learns how far to trust each source on items that source had to guess.
Without validation events, or when a member fails while answering, it still answers: the
ranker falls back to the members' rescaled scores added with equal weights, and a failed
member simply proposes nothing.

Relation features (off by default: see BENCHMARKS.md, "Relation graph features in the fused
ranking"): with a ``relations`` source (:class:`~cartwise.rank.relations.RelationSource`,
the product relation graph: :class:`cartwise.graph.signals.GraphRelations`), training
fits it on the same events as the members and each candidate row also holds its relations
to the shopper's recent items (co-bought with lift, co-viewed, bought after, complement,
substitute, variant). A loaded model is attached to its version's graph
(:meth:`FusedRecommender.attach_relations`); until then those features are missing and it
still answers. When the relation features carried an item into the top `k` (without
them it would not be there), its explanation cites the relation instead of the member's.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import polars as pl

from cartwise.errors import ValidationError
from cartwise.rank import registry as rankers
from cartwise.rank.features import CandidateFeatures, Candidates, recent_of
from cartwise.rank.ltr import EqualShares
from cartwise.rank.relations import RELATION_FEATURES, RelationSignals, RelationSource
from cartwise.recommend.base import (
    History,
    Scored,
    check_exclude,
    check_k,
    check_positive,
    follow_catalog,
    histories_by_user,
    not_trained,
    per_user_excludes,
    read_model,
    require_columns,
    write_model,
)
from cartwise.recommend.popularity import Popularity
from cartwise.vectors import VectorIndex

FORMAT = 1
_NAME = "fused"
log = logging.getLogger(__name__)
# Histories whose member answers and feature rows are held at once while training.
TRAINING_CHUNK = 2_000
# Fewer shoppers with their next item among the candidates than this, and no ranker is
# learned: the equal-share fallback answers.
MIN_TRAINING_USERS = 20


class FusedRecommender:
    """Candidates of several member recommenders ranked by a learned ranker.

    members: name -> recommender (fitted or not: :meth:`fit` fits them, :meth:`tune`
    only trains the ranker). A :class:`~cartwise.recommend.popularity.Popularity` member
    answers everyone alike, less their history when asked.
    ranker: a name from :mod:`cartwise.rank.registry`.
    depth: candidates taken from each member per shopper.
    training_users: at most this many validation shoppers train the ranker (sampled
    with `seed`).
    threads: LightGBM threads (None: all).
    exclude_seen: whether the ranker is trained for answers that leave out the shopper's
    history (the engine's default) or for answers that may repeat it.
    relations: fitted on the training events to give each candidate its relations to the
    shopper's recent items (:mod:`cartwise.rank.relations`); None: no relation features.
    """

    def __init__(
        self,
        *,
        members: Mapping[str, Any],
        ranker: str = "lambdarank",
        depth: int = 50,
        training_users: int = 30_000,
        seed: int = 0,
        threads: int | None = None,
        exclude_seen: bool = True,
        relations: RelationSource | None = None,
    ) -> None:
        if not members:
            raise ValidationError("a fused recommender needs at least one member", field="members")
        for name, model in members.items():
            if not callable(getattr(model, "recommend", None)):
                raise ValidationError(f"member {name!r} has no recommend method", field="members")
        rankers.get(ranker)
        check_positive("depth", depth)
        check_positive("training_users", training_users)
        self.members = dict(members)
        self.ranker = ranker
        self.depth = int(depth)
        self.training_users = int(training_users)
        self.seed = seed
        self.threads = threads
        self.exclude_seen = bool(exclude_seen)
        self.relations = relations
        self.relations_: RelationSignals | None = None

    @property
    def uses_relations(self) -> bool:
        """Whether the ranker reads relation features (they are missing until
        :meth:`attach_relations` when the model was loaded)."""
        features = getattr(self, "features_", None)
        return bool(features is not None and features.relations)

    def attach_relations(self, signals: RelationSignals | None) -> None:
        """Answer with these relation signals (the model version's graph); None: without."""
        if signals is not None and not isinstance(signals, RelationSignals):
            raise ValidationError("relation signals need features() and cite()", field="relations")
        self.relations_ = signals

    def get_params(self) -> dict[str, Any]:
        return {
            "ranker": self.ranker, "depth": self.depth, "training_users": self.training_users, "seed": self.seed,
            "threads": self.threads, "exclude_seen": self.exclude_seen,
        }

    # fitting ---------------------------------------------------------------------------

    def fit(
        self, events: pl.DataFrame, *, validation: pl.DataFrame | None = None, items: pl.DataFrame | None = None
    ) -> Self:
        """Fit every member on `events` (passing `validation` to those that stop early on
        it), then train the ranker on `validation` (each shopper's next item). `items`
        (item_id, category) gives popularity its catalog and the features categories."""
        require_columns(events, ("user_id", "item_id", "event_type", "ts"), "events")
        catalog = items if items is not None else _catalog_of(events)
        for model in self.members.values():
            if isinstance(model, Popularity):
                model.fit(events, catalog)
            elif "validation" in inspect.signature(model.fit).parameters:
                model.fit(events, validation=validation)
            else:
                model.fit(events)
        if validation is not None and not validation.is_empty():
            return self.tune(events, validation, items=items)
        self._fit_features(events, items)
        self._fall_back("no validation events to train the ranker on")
        return self

    def tune(
        self, events: pl.DataFrame, validation: pl.DataFrame, *, exclude_seen: bool | None = None,
        items: pl.DataFrame | None = None,
    ) -> Self:
        """Train the ranker over already fitted members: for each shopper of `validation`,
        their held-out item against the other candidates proposed from their history in
        `events` (the members' training events). `exclude_seen` (default: the model's own
        setting) should match how it will be asked."""
        if exclude_seen is None:
            exclude_seen = self.exclude_seen
        require_columns(events, ("user_id", "item_id", "event_type", "ts"), "events")
        require_columns(validation, ("user_id", "item_id"), "validation")
        self._fit_features(events, items)
        targets = validation.unique("user_id", keep="last", maintain_order=True)
        if targets.height > self.training_users:
            targets = targets.sample(n=self.training_users, seed=self.seed)
        users = targets["user_id"].cast(pl.Utf8).to_list()
        wanted = targets["item_id"].cast(pl.Utf8).to_list()
        histories = histories_by_user(events, users)
        blocks, labels, sizes = [], [], []
        found = 0
        for start in range(0, len(histories), TRAINING_CHUNK):
            chunk = histories[start : start + TRAINING_CHUNK]
            answers = self._answers(chunk, self.depth, exclude=(), exclude_seen=exclude_seen, tolerant=False)
            candidates = self.features_.build(chunk, answers, relations=self.relations_)
            for user in range(len(chunk)):
                rows = candidates.rows_of(user)
                ids = candidates.items[rows]
                if wanted[start + user] not in ids:
                    continue
                found += 1
                label = np.zeros(len(ids), dtype=np.float32)
                label[ids.index(wanted[start + user])] = 1.0
                blocks.append(candidates.features[rows])
                labels.append(label)
                sizes.append(len(ids))
        self.training_ = {
            "users": len(users), "users_with_next_item_among_candidates": found,
            "candidate_recall": round(found / max(len(users), 1), 6), "exclude_seen": exclude_seen,
            "depth": self.depth,
        }
        spec = rankers.get(self.ranker)
        if spec.learns and found < MIN_TRAINING_USERS:
            self._fall_back(f"only {found} validation shoppers had their next item among the candidates")
            return self
        features = np.concatenate(blocks) if blocks else np.zeros((0, len(self.features_.names)), np.float32)
        offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
        ranker = spec.build(threads=self.threads, seed=self.seed)
        self.ranker_ = ranker.fit(features, np.concatenate(labels) if labels else np.zeros(0, np.float32), offsets,
                                  self.features_.names)
        self.training_["ranker"] = self.ranker
        if hasattr(self.ranker_, "best_rounds_"):
            self.training_["rounds"] = self.ranker_.best_rounds_
            self.training_["holdout_ndcg10"] = self.ranker_.holdout_ndcg10_
            self.training_["top_features"] = dict(list(self.ranker_.importance().items())[:10])
        return self

    def _fit_features(self, events: pl.DataFrame, items: pl.DataFrame | None) -> None:
        """The candidate features and, with a relation source, the relation signals, both
        learned from `events` only (the held-out items must not be among the relations)."""
        self.relations_ = self.relations.fit(events, items) if self.relations is not None else None
        self.features_ = CandidateFeatures(members=list(self.members), relations=self.relations is not None).fit(
            events, items=items
        )

    def _fall_back(self, reason: str) -> None:
        self.ranker_ = EqualShares().fit(np.zeros((0, 0), np.float32), np.zeros(0, np.float32),
                                         np.zeros(1, np.int64), self.features_.names)
        self.training_ = {**getattr(self, "training_", {}), "ranker": EqualShares.name, "fallback": reason}

    # answering ---------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "ranker_"):
            raise not_trained(self)

    def _answers(
        self, histories: Sequence[History], k: int, *, exclude: Collection[str] | Sequence[Collection[str]],
        exclude_seen: bool, tolerant: bool,
    ) -> list[list[list[Scored]]]:
        """Each member's answers, in member order. With `tolerant`, a member that fails
        proposes nothing (logged) instead of failing the request."""
        out = []
        for name, model in self.members.items():
            try:
                if isinstance(model, Popularity):
                    out.append(_everyone(model, histories, k, exclude, exclude_seen))
                else:
                    out.append(model.recommend(histories, k=k, exclude=exclude, exclude_seen=exclude_seen))
            except Exception:
                if not tolerant:
                    raise
                log.warning("fused recommender: member %r failed; answering without it", name, exc_info=True)
                out.append([[] for _ in histories])
        return out

    def _score(self, candidates: Candidates) -> np.ndarray:
        try:
            return self.ranker_.score(candidates.features)
        except Exception:
            log.warning("fused recommender: the %s ranker failed; equal shares answer", self.ranker, exc_info=True)
            fallback = EqualShares().fit(candidates.features, np.zeros(0, np.float32), np.zeros(1, np.int64),
                                         self.features_.names)
            return fallback.score(candidates.features)

    def recommend(
        self,
        histories: Sequence[History],
        *,
        k: int = 10,
        exclude: Collection[str] | Sequence[Collection[str]] = (),
        exclude_seen: bool = True,
    ) -> list[list[Scored]]:
        """The `k` best candidates of each history, each explained by the member that
        ranked it best."""
        k = check_k(k)
        check_exclude(exclude)
        self._check_fitted()
        histories = list(histories)
        answers = self._answers(histories, max(k, self.depth), exclude=exclude, exclude_seen=exclude_seen,
                                tolerant=True)
        relations = self.relations_ if self.uses_relations else None
        candidates = self.features_.build(histories, answers, relations=relations)
        scores = self._score(candidates)
        # Scores with the relation features missing: an item in the top k that would not be
        # there without them was carried by a relation, and its explanation says which.
        without = self._score_without_relations(candidates) if relations is not None else None
        out: list[list[Scored]] = []
        for user in range(len(histories)):
            rows = candidates.rows_of(user)
            mine = scores[rows]
            # Stable: equal scores keep the members' order of proposal.
            top = np.argsort(-mine, kind="stable")[:k]
            carried: set[int] = set()
            if without is not None:
                plain = set(np.argsort(-without[rows], kind="stable")[:k].tolist())
                carried = {i for i in top.tolist() if i not in plain}
            base = rows.start
            recent = recent_of(histories[user]) if carried else []
            answer = []
            for i in top.tolist():
                lead = candidates.lead[base + i]
                reason, because = lead.reason, lead.because
                cited = relations.cite(recent, candidates.items[base + i]) if i in carried and relations else None
                if cited is not None:
                    reason, because = cited.reason, (cited.item_id,)
                answer.append(Scored(item_id=candidates.items[base + i], score=float(mine[i]), reason=reason,
                                     because=because))
            out.append(answer)
        return out

    def _score_without_relations(self, candidates: Candidates) -> np.ndarray:
        features = candidates.features.copy()
        features[:, len(self.features_.names) - len(RELATION_FEATURES) :] = np.nan
        return self._score(Candidates(candidates.items, candidates.offsets, features, candidates.lead))

    def attach(self, index: VectorIndex) -> None:
        """Bring every member up to date with the catalog's text vectors in `index`."""
        for model in self.members.values():
            follow_catalog(model, index)

    # persistence -------------------------------------------------------------------------

    def save(self, directory: Path | str) -> None:
        self._check_fitted()
        path = Path(directory)
        for name, model in self.members.items():
            model.save(path / name)
        self.features_.save(path / "_features")
        self.ranker_.save(path / "_ranker")
        meta = {
            "format": FORMAT, "params": self.get_params(), "members": list(self.members),
            "ranker_used": self.ranker_.name, "training": self.training_,
        }
        write_model(path, _NAME, meta, {})

    @classmethod
    def load(cls, directory: Path | str, *, member_class: Callable[[str], Any]) -> Self:
        """Load a saved fused recommender; `member_class(name)` gives each member's class
        (the recommender registry's :meth:`RecommenderSpec.load` passes its own)."""
        path = Path(directory)
        meta, _ = read_model(path, _NAME, FORMAT)
        members = {name: member_class(name).load(path / name) for name in meta["members"]}
        model = cls(members=members, **meta["params"])
        model.features_ = CandidateFeatures.load(path / "_features")
        model.ranker_ = rankers.get(meta["ranker_used"]).load(path / "_ranker")
        model.training_ = meta.get("training", {})
        return model


def _everyone(
    model: Popularity, histories: Sequence[History], k: int, exclude: Collection[str] | Sequence[Collection[str]],
    exclude_seen: bool,
) -> list[list[Scored]]:
    """Popularity's one list for every history, less `exclude` and (with `exclude_seen`)
    the history's items."""
    per_user = per_user_excludes(exclude, len(histories))
    shared = set() if per_user is not None else set(exclude)
    out = []
    for user, history in enumerate(histories):
        banned = set(per_user[user]) if per_user is not None else shared
        if exclude_seen:
            banned = banned | {e.item_id for e in history}
        out.append(model.recommend(k, exclude=banned))
    return out


def _catalog_of(events: pl.DataFrame) -> pl.DataFrame:
    """Every item of `events`, uncategorised: popularity's catalog when none is given."""
    ids = events["item_id"].cast(pl.Utf8).drop_nulls().unique().sort()
    return pl.DataFrame({"item_id": ids, "category": [""] * ids.len()})


__all__ = ["FusedRecommender"]
