"""Features of (shopper, candidate item) pairs for the ranking stage.

The candidates of a shopper are the union of what every generator (member recommender)
proposed. Each row describes one candidate: every member's score, per-user rescaled share
and rank for it (an item a member did not propose has score NaN, LightGBM's "missing",
and rank :data:`MISSING_RANK`), the item's popularity, trend and age, the shopper's
history (length, span), whether and how recently the shopper chose the item before, how
often it followed the shopper's last items in other shoppers' sequences, and, with a
catalog, how much of the shopper's recent history shares its category. Statistics are
learned by :meth:`CandidateFeatures.fit` from training events only. With ``relations``,
each row also holds the candidate's relations to the shopper's recent items from the
product relation graph (:mod:`cartwise.rank.relations`), given to :meth:`build`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import polars as pl
import scipy.sparse as sp
from numpy.typing import NDArray

from cartwise.rank.relations import RELATION_FEATURES, RelationSignals
from cartwise.recommend.base import History, IdMap, Scored, check_positive, read_model, require_columns, write_model

FORMAT = 1
_NAME = "candidate_features"
# Rank given to an item a member did not propose (its lists are at most `depth` long, so
# this is worse than any real rank).
MISSING_RANK = 1_000.0
PER_MEMBER = ("score", "share", "rank")
SHARED = (
    "sources", "share_sum", "best_rank",
    "item_count", "item_recent", "item_trend", "item_age", "item_staleness",
    "history_length", "history_distinct", "history_span",
    "repeat_count", "since_last_interaction", "steps_since",
    "after_last", "after_last_share", "after_previous", "before_last",
    "category_share",
)
# The shopper's newest distinct items whose relations to a candidate count.
RELATION_RECENT = 5


@dataclass
class Candidates:
    """The candidates of a batch of shoppers, one row each.

    items: the candidate item of each row; offsets: shopper u owns rows
    ``offsets[u]:offsets[u + 1]``; features: rows x :attr:`CandidateFeatures.names`;
    lead: the answer (explanation included) of the member that ranked the item best.
    """

    items: list[str]
    offsets: NDArray[np.int64]
    features: NDArray[np.float32]
    lead: list[Scored]

    def __len__(self) -> int:
        return len(self.items)

    def rows_of(self, user: int) -> slice:
        return slice(int(self.offsets[user]), int(self.offsets[user + 1]))


class CandidateFeatures:
    """Item and sequence statistics learned from events, and the feature rows built from
    members' answers at ranking time.

    members: the member names, in the order their answers are passed to :meth:`build`.
    recent_share: the newest this share of training events counts as "recent" (trend).
    recent_items: how many of the shopper's newest events define their recent categories.
    relations: whether rows hold :data:`~cartwise.rank.relations.RELATION_FEATURES` (the
    relation signals are passed to :meth:`build`; without them those columns are missing).
    """

    def __init__(
        self, *, members: Sequence[str], recent_share: float = 0.1, recent_items: int = 10, relations: bool = False
    ) -> None:
        if not members:
            raise ValueError("CandidateFeatures needs at least one member name")
        check_positive("recent_share", recent_share)
        check_positive("recent_items", recent_items)
        self.members = list(members)
        self.recent_share = float(recent_share)
        self.recent_items = int(recent_items)
        self.relations = bool(relations)

    @property
    def names(self) -> list[str]:
        relations = list(RELATION_FEATURES) if self.relations else []
        return [f"{m}_{part}" for m in self.members for part in PER_MEMBER] + list(SHARED) + relations

    def get_params(self) -> dict[str, Any]:
        return {"members": self.members, "recent_share": self.recent_share, "recent_items": self.recent_items,
                "relations": self.relations}

    def fit(self, events: pl.DataFrame, *, items: pl.DataFrame | None = None) -> Self:
        """Learn item counts, first and last event, recent counts, category and the
        item-to-next-item transitions of `events` (user_id, item_id, ts); `items` (item_id,
        category) adds the catalog's categories."""
        require_columns(events, ("user_id", "item_id", "ts"), "events")
        frame = (
            events.select(pl.col("user_id").cast(pl.Utf8), pl.col("item_id").cast(pl.Utf8), pl.col("ts"))
            .drop_nulls()
            .sort(["user_id", "ts"], maintain_order=True)
        )
        known = frame["item_id"]
        if items is not None and "item_id" in items.columns:
            known = pl.concat([known, items["item_id"].cast(pl.Utf8)])
        self.item_ids_ = IdMap.from_series(known)
        n = len(self.item_ids_)
        index = self.item_ids_.indices(frame["item_id"])
        ts = frame["ts"].to_numpy().astype(np.int64)
        self.count_ = np.bincount(index, minlength=n).astype(np.float32)
        if ts.size:
            cut = np.quantile(ts, 1.0 - min(self.recent_share, 1.0))
            self.recent_ = np.bincount(index[ts >= cut], minlength=n).astype(np.float32)
            first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
            last = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
            np.minimum.at(first, index, ts)
            np.maximum.at(last, index, ts)
        else:
            self.recent_ = np.zeros(n, dtype=np.float32)
            first = np.zeros(n, dtype=np.int64)
            last = np.zeros(n, dtype=np.int64)
        seen = self.count_ > 0
        self.first_ts_ = np.where(seen, first, 0).astype(np.int64)
        self.last_ts_ = np.where(seen, last, 0).astype(np.int64)
        users = frame["user_id"].to_numpy()
        follows = (users[1:] == users[:-1]) & (index[1:] != index[:-1])
        source, target = index[:-1][follows], index[1:][follows]
        self.transitions_ = sp.csr_matrix(
            (np.ones(source.size, dtype=np.float32), (source, target)), shape=(n, n)
        )
        self.transitions_.sum_duplicates()
        self._index_transitions()
        self.out_degree_ = np.asarray(self.transitions_.sum(axis=1)).ravel().astype(np.float32)
        self.category_ = np.full(n, -1, dtype=np.int32)
        if items is not None and "category" in items.columns:
            labelled = items.select(pl.col("item_id").cast(pl.Utf8), pl.col("category").cast(pl.Utf8)).filter(
                pl.col("category").is_not_null() & (pl.col("category") != "")
            )
            if labelled.height:
                codes = IdMap.from_series(labelled["category"])
                self.category_[self.item_ids_.indices(labelled["item_id"])] = codes.indices(
                    labelled["category"]
                ).astype(np.int32)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "count_"):
            from cartwise.recommend.base import not_trained

            raise not_trained(self)

    # building ------------------------------------------------------------------------

    def build(
        self, histories: Sequence[History], answers: Sequence[Sequence[Sequence[Scored]]], *,
        relations: RelationSignals | None = None,
    ) -> Candidates:
        """Feature rows of every candidate of every history. ``answers[m][u]`` is member
        ``m``'s answer (best first) for history ``u``; an empty answer is a member that
        proposed nothing (or failed). `relations` fills the relation columns (when the
        features have them; without it they are missing, NaN)."""
        self._check_fitted()
        if len(answers) != len(self.members):
            raise ValueError(f"{len(answers)} members' answers for {len(self.members)} members")
        n_members = len(self.members)
        items: list[str] = []
        lead: list[Scored] = []
        offsets = [0]
        cell_row: list[int] = []
        cell_score: list[float] = []
        # per answer (one member, one history): member, best and last score, length
        answer_member: list[int] = []
        answer_high: list[float] = []
        answer_low: list[float] = []
        answer_length: list[int] = []
        # per row: repeat count, since last interaction, steps since, category lookup key
        row_user: list[int] = []
        repeat_count: list[float] = []
        since_last: list[float] = []
        steps_since: list[float] = []
        user_last_ts = np.zeros(len(histories), dtype=np.float64)
        user_stats = np.zeros((len(histories), 3), dtype=np.float32)
        last_item = np.full(len(histories), -1, dtype=np.int64)
        previous_item = np.full(len(histories), -1, dtype=np.int64)
        recent_categories: list[dict[int, int]] = []
        recent_total = np.zeros(len(histories), dtype=np.float32)
        for u, history in enumerate(histories):
            ordered = sorted(history, key=lambda e: e.ts)
            seen: dict[str, tuple[int, int, int]] = {}
            for step, event in enumerate(ordered):
                count = seen[event.item_id][0] + 1 if event.item_id in seen else 1
                seen[event.item_id] = (count, event.ts, step)
            steps = len(ordered)
            if steps:
                user_last_ts[u] = ordered[-1].ts
                user_stats[u] = (steps, len(seen), ordered[-1].ts - ordered[0].ts)
                tail = self.item_ids_.indices([e.item_id for e in ordered[-self.recent_items :]])
                last_item[u] = tail[-1]
                distinct_before = [i for i in tail[:-1] if i != tail[-1]]
                if distinct_before:
                    previous_item[u] = distinct_before[-1]
                codes = self.category_[tail[tail >= 0]]
                codes = codes[codes >= 0]
                recent_total[u] = codes.size
                values, counts = np.unique(codes, return_counts=True)
                recent_categories.append(dict(zip(values.tolist(), counts.tolist())))
            else:
                recent_categories.append({})
            rows: dict[str, int] = {}
            best: list[int] = []
            base = offsets[-1]
            for m, member_answers in enumerate(answers):
                answer = member_answers[u]
                if not answer:
                    continue
                answer_member.append(m)
                answer_high.append(answer[0].score)
                answer_low.append(answer[-1].score)
                answer_length.append(len(answer))
                cell_score.extend([scored.score for scored in answer])
                for rank, scored in enumerate(answer):
                    row = rows.get(scored.item_id)
                    if row is None:
                        row = rows[scored.item_id] = len(rows)
                        items.append(scored.item_id)
                        lead.append(scored)
                        best.append(rank)
                        mark = seen.get(scored.item_id)
                        row_user.append(u)
                        if mark is None:
                            repeat_count.append(0.0)
                            since_last.append(np.nan)
                            steps_since.append(np.nan)
                        else:
                            repeat_count.append(mark[0])
                            since_last.append(float(ordered[-1].ts - mark[1]))
                            steps_since.append(float(steps - 1 - mark[2]))
                    elif rank < best[row]:
                        best[row] = rank
                        lead[base + row] = scored
                    cell_row.append(base + row)
            offsets.append(base + len(rows))
        total = offsets[-1]
        features = np.full((total, len(self.names)), np.nan, dtype=np.float32)
        shared = n_members * len(PER_MEMBER)
        column = {name: shared + i for i, name in enumerate(SHARED)}
        for m in range(n_members):
            features[:, m * len(PER_MEMBER) + 2] = MISSING_RANK
        if cell_row:
            row = np.asarray(cell_row, dtype=np.int64)
            lengths = np.asarray(answer_length, dtype=np.int64)
            member = np.repeat(np.asarray(answer_member, dtype=np.int64), lengths)
            starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
            rank = (np.arange(row.size) - starts).astype(np.float64)
            score = np.asarray(cell_score, dtype=np.float64)
            low = np.repeat(np.asarray(answer_low, dtype=np.float64), lengths)
            span = np.repeat(np.asarray(answer_high, dtype=np.float64), lengths) - low
            length = np.repeat(lengths, lengths).astype(np.float64)
            flat = np.isfinite(span) & (span > 0)
            share = np.where(
                flat,
                (score - low) / np.where(flat, span, 1.0),
                1.0 - rank / np.maximum(length, 1.0),
            )
            share = np.clip(np.nan_to_num(share, nan=0.0), 0.0, 1.0)
            features[row, member * 3] = np.nan_to_num(score, nan=0.0, posinf=0.0, neginf=0.0)
            features[row, member * 3 + 1] = share
            features[row, member * 3 + 2] = rank
            features[:, column["sources"]] = np.bincount(row, minlength=total)
            features[:, column["share_sum"]] = np.bincount(row, weights=share, minlength=total)
            best_rank = np.full(total, MISSING_RANK)
            np.minimum.at(best_rank, row, rank)
            features[:, column["best_rank"]] = best_rank
        if total:
            owner = np.asarray(row_user, dtype=np.int64)
            index = self.item_ids_.indices(items)
            known = index >= 0
            safe = np.maximum(index, 0)
            count = np.where(known, self.count_[safe], 0.0)
            recent = np.where(known, self.recent_[safe], 0.0)
            features[:, column["item_count"]] = count
            features[:, column["item_recent"]] = recent
            features[:, column["item_trend"]] = np.log1p(recent) - np.log1p(count * self.recent_share)
            now = user_last_ts[owner]
            seen_item = known & (count > 0)
            features[:, column["item_age"]] = np.where(seen_item, now - self.first_ts_[safe], np.nan)
            features[:, column["item_staleness"]] = np.where(seen_item, now - self.last_ts_[safe], np.nan)
            features[:, column["history_length"]] = user_stats[owner, 0]
            features[:, column["history_distinct"]] = user_stats[owner, 1]
            features[:, column["history_span"]] = user_stats[owner, 2]
            features[:, column["repeat_count"]] = repeat_count
            features[:, column["since_last_interaction"]] = since_last
            features[:, column["steps_since"]] = steps_since
            after_last = self._transitions(last_item[owner], index)
            features[:, column["after_last"]] = after_last
            out = self.out_degree_[np.maximum(last_item[owner], 0)]
            features[:, column["after_last_share"]] = np.where(
                (last_item[owner] >= 0) & (out > 0), after_last / np.maximum(out, 1.0), np.nan
            )
            features[:, column["after_previous"]] = self._transitions(previous_item[owner], index)
            features[:, column["before_last"]] = self._transitions(index, last_item[owner])
            if (self.category_ >= 0).any():
                category = np.where(known, self.category_[safe], -1)
                matches = np.fromiter(
                    (recent_categories[o].get(int(c), 0) if c >= 0 else 0 for o, c in zip(owner, category)),
                    dtype=np.float32, count=total,
                )
                features[:, column["category_share"]] = np.where(
                    (category >= 0) & (recent_total[owner] > 0), matches / np.maximum(recent_total[owner], 1), np.nan
                )
        if self.relations and relations is not None and total:
            starts = np.asarray(offsets, dtype=np.int64)
            per_user = [items[starts[u] : starts[u + 1]] for u in range(len(histories))]
            block = np.asarray(relations.features([recent_of(h) for h in histories], per_user), dtype=np.float32)
            if block.shape != (total, len(RELATION_FEATURES)):
                raise ValueError(f"relation signals gave {block.shape} for {total} candidates")
            features[:, len(self.names) - len(RELATION_FEATURES) :] = block
        return Candidates(items, np.asarray(offsets, dtype=np.int64), features, lead)

    def _index_transitions(self) -> None:
        """Sorted ``source * n + target`` keys of the transitions: one binary search finds
        many pairs at once, several times faster per request than sparse indexing."""
        t = self.transitions_
        t.sort_indices()
        rows = np.repeat(np.arange(t.shape[0], dtype=np.int64), np.diff(t.indptr))
        self._keys = rows * t.shape[1] + t.indices.astype(np.int64)

    def _transitions(self, source: NDArray[np.int64], target: NDArray[np.int64]) -> NDArray[np.float32]:
        """How often `target` directly followed `source` in a training sequence (NaN
        where either is unknown)."""
        out = np.full(source.size, np.nan, dtype=np.float32)
        both = (source >= 0) & (target >= 0)
        if both.any():
            wanted = source[both] * self.transitions_.shape[1] + target[both]
            at = np.minimum(np.searchsorted(self._keys, wanted), max(self._keys.size - 1, 0))
            hit = self._keys[at] == wanted if self._keys.size else np.zeros(wanted.size, dtype=bool)
            out[both] = np.where(hit, self.transitions_.data[at] if self._keys.size else 0.0, 0.0)
        return out

    # persistence ---------------------------------------------------------------------

    def save(self, directory: Path | str) -> None:
        self._check_fitted()
        t = self.transitions_
        write_model(
            directory, _NAME, {"format": FORMAT, "params": self.get_params()},
            {
                "item_ids": self.item_ids_.to_numpy(), "count": self.count_, "recent": self.recent_,
                "first_ts": self.first_ts_, "last_ts": self.last_ts_, "category": self.category_,
                "out_degree": self.out_degree_, "t_data": t.data, "t_indices": t.indices, "t_indptr": t.indptr,
            },
        )

    @classmethod
    def load(cls, directory: Path | str) -> Self:
        meta, arrays = read_model(directory, _NAME, FORMAT)
        model = cls(**meta["params"])
        model.item_ids_ = IdMap(arrays["item_ids"].tolist())
        n = len(model.item_ids_)
        model.count_ = arrays["count"]
        model.recent_ = arrays["recent"]
        model.first_ts_ = arrays["first_ts"]
        model.last_ts_ = arrays["last_ts"]
        model.category_ = arrays["category"]
        model.out_degree_ = arrays["out_degree"]
        model.transitions_ = sp.csr_matrix((arrays["t_data"], arrays["t_indices"], arrays["t_indptr"]), shape=(n, n))
        model._index_transitions()
        return model


def recent_of(history: History, size: int = RELATION_RECENT) -> list[str]:
    """The newest `size` distinct items of `history`, newest first: the items whose
    relations to a candidate count."""
    out: list[str] = []
    for event in sorted(history, key=lambda e: e.ts, reverse=True):
        if event.item_id not in out:
            out.append(event.item_id)
            if len(out) == size:
                break
    return out


__all__ = ["MISSING_RANK", "RELATION_RECENT", "Candidates", "CandidateFeatures", "recent_of"]
