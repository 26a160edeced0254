"""ItemKNN: items chosen by the same shoppers are neighbours.

Training turns events into a weighted shopper x item matrix and keeps, for every item,
its most similar items by shrunk correlation of co-occurrence. Answering reads the user's
recent history and sums the neighbour lists of the items in it, so a new event changes
the next answer without retraining. Shoppers count by trust
(:mod:`cartwise.recommend.trust`), so a crowd of fresh identities pairing two items cannot
make them neighbours.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
import polars as pl
import scipy.sparse as sp
from numpy.typing import NDArray

from cartwise.errors import ValidationError
from cartwise.recommend.base import (
    DAY_MS,
    History,
    IdMap,
    Scored,
    check_exclude,
    check_k,
    check_positive,
    decay_expr,
    not_trained,
    per_user_excludes,
    read_model,
    require_columns,
    resolve_weights,
    sum_by,
    weight_expr,
    write_model,
)
from cartwise.recommend.trust import TrustPolicy, assess, event_factors

FORMAT = 1
_NAME = "itemknn"
# Upper bound on co-occurrence entries computed per chunk of items (bounds fit memory to
# a few hundred MB whatever the catalog size).
_CHUNK_ENTRIES = 2_000_000
# Users scored together in one vectorised pass of `recommend`.
_BATCH_USERS = 512
# `recommend` sums scores in a dense users x items block when that block is at most this
# many times the number of contributions (and at most _DENSE_MAX cells), else it sorts.
_DENSE_FACTOR = 8
_DENSE_MAX = 16_000_000
# A history item is named in `because` when it contributes at least this share of what
# the top contributor does.
_BECAUSE_SHARE = 0.25
_BECAUSE_MAX = 3
_VERBS = {
    "purchase": "bought",
    "add_to_cart": "added to your cart",
    "rating": "rated",
    "click": "clicked on",
    "view": "viewed",
}


class ItemKNN:
    """Item-to-item collaborative filtering on co-occurrence.

    A shopper's evidence for an item is ``log1p(sum of event weight x recency decay)``:
    a purchase says more than a view, last month more than last year, and the tenth view
    of the same item adds little; it is divided by the square root of the number of
    distinct items the shopper chose. Similarity is the Pearson correlation of two items'
    columns: co-occurrence beyond what their popularity alone predicts, so two bestsellers
    are not neighbours merely for being everywhere (plain cosine is; it halves the hit
    rate on the planted-pattern test). It is shrunk by ``support / (support + shrinkage)``,
    where support counts the shoppers (or sessions) who chose both, so a pair seen
    together once cannot outrank a pair seen fifty times.

    Parameters
    ----------
    neighbours:
        Similar items kept per item; bounds model size and answer time.
    half_life_days:
        Decay of training events, measured from the newest event (or ``now_ms``).
    history_half_life_days:
        Decay of a user's history at answer time, measured from their newest event:
        what they did just now steers the answer more than what they did last month.
    shrinkage:
        Support (in shoppers or sessions) at which a pair's similarity is halved.
    weights:
        Weight of each event type (default ``EVENT_WEIGHTS``); unlisted types count nothing.
    by:
        What makes items co-occur. ``"user"`` (default): chosen by the same user at any
        time, which finds complements bought on separate visits and matches the
        cross-session histories `recommend` receives. ``"session"``: chosen in the same
        session (``session_id``; events without one fall back to their user), stricter
        and better for browse-heavy logs of anonymous sessions.
    trust:
        How much shoppers with short histories, and bursts of new identities on one item,
        count (:class:`~cartwise.recommend.trust.TrustPolicy`): a shopper's evidence is
        multiplied by its trust, supports count shoppers by trust, and so does the
        correlation's baseline, so that hundreds of fake two-item shoppers pairing a
        target with a bestseller weigh about one shopper. ``None`` counts everyone in full.

    Learned state: ``item_ids_`` (:class:`IdMap`), ``similarity_`` (CSR, item x item, each
    row its neighbours), ``support_`` (CSR, same pattern, co-occurrence counts), and the
    column statistics ``sums_``, ``norms_``, ``n_keys_`` (shoppers counted by trust; kept
    so that co-occurrence can be updated online), ``now_ms_``, and ``trust_report_``.
    """

    def __init__(
        self,
        *,
        neighbours: int = 100,
        half_life_days: float = 180.0,
        history_half_life_days: float = 7.0,
        shrinkage: float = 10.0,
        weights: Mapping[str, float] | None = None,
        by: Literal["user", "session"] = "user",
        trust: TrustPolicy | None = TrustPolicy(),
    ) -> None:
        self.neighbours = neighbours
        self.half_life_days = half_life_days
        self.history_half_life_days = history_half_life_days
        self.shrinkage = shrinkage
        self.weights = weights
        self.by = by
        self.trust = trust

    def get_params(self) -> dict[str, Any]:
        return {
            "neighbours": self.neighbours,
            "half_life_days": self.half_life_days,
            "history_half_life_days": self.history_half_life_days,
            "shrinkage": self.shrinkage,
            "weights": None if self.weights is None else {str(k): float(v) for k, v in self.weights.items()},
            "by": self.by,
            "trust": None if self.trust is None else self.trust.to_dict(),
        }

    def __repr__(self) -> str:
        return "ItemKNN(" + ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()) + ")"

    def _check_params(self) -> None:
        n = self.neighbours
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise ValidationError(f"neighbours must be an integer >= 1, got {self.neighbours!r}", field="neighbours")
        check_positive("half_life_days", self.half_life_days)
        check_positive("history_half_life_days", self.history_half_life_days)
        check_positive("shrinkage", self.shrinkage, allow_zero=True)
        if self.by not in ("user", "session"):
            raise ValidationError(f"by must be 'user' or 'session', got {self.by!r}", field="by")

    # training ------------------------------------------------------------------------

    def fit(self, events: pl.DataFrame, *, now_ms: int | None = None) -> Self:
        """Learn item neighbours from `events` (EVENT_SCHEMA columns; ``session_id`` optional)."""
        self._check_params()
        weights = resolve_weights(self.weights)
        require_columns(events, ("user_id", "item_id", "event_type", "ts"), "events")
        if now_ms is None:
            newest = events["ts"].max() if events.height else None
            now_ms = int(newest) if newest is not None else 0  # type: ignore[arg-type]

        key = pl.col("user_id").cast(pl.Utf8)
        if self.by == "session" and "session_id" in events.columns:
            # Prefixes keep a session id from colliding with a user id of the same text.
            key = (
                pl.when(pl.col("session_id").is_not_null())
                .then(pl.concat_str(pl.lit("s:"), pl.col("session_id").cast(pl.Utf8)))
                .otherwise(pl.concat_str(pl.lit("u:"), key))
            )
        frame = (
            events.lazy()
            .filter(pl.col("item_id").is_not_null())
            .select(
                key.alias("key"),
                pl.col("user_id").cast(pl.Utf8),
                pl.col("item_id").cast(pl.Utf8),
                (weight_expr(weights) * decay_expr(now_ms, self.half_life_days)).alias("w"),
            )
            .filter(pl.col("key").is_not_null() & (pl.col("w") > 0))
            .collect()
        )
        item_ids = IdMap.from_series(frame["item_id"])
        # Shoppers are numbered in the order of a fixed hash of their key, not of appearance,
        # so that every sum over shoppers runs in the same order for any row order (and a
        # hash sorts several times faster than the strings; a 64-bit collision would only
        # merge two shoppers).
        rows = (frame["key"].hash(seed=0).rank("dense").to_numpy() - 1).astype(np.int64)
        cols = item_ids.indices(frame["item_id"])
        n_keys = int(rows.max()) + 1 if rows.size else 0
        n_items = max(len(item_ids), 1)
        raw = frame["w"].to_numpy()
        factor = np.ones(raw.size)
        if self.trust is not None:
            factor = event_factors(assess(events, self.trust), frame, cols, raw, self.trust, len(item_ids))
        cells, cell = sum_by(rows * n_items + cols, raw)
        # A cell's trust is its shopper's (sessions of one shopper share it).
        trusted = np.zeros(cells.size)
        np.maximum.at(trusted, np.searchsorted(cells, rows * n_items + cols), factor)
        self.trust_report_: dict[str, Any] = {}
        if self.trust is not None and cells.size:
            self.trust_report_ = {
                "cells_discounted": int(np.count_nonzero(trusted < 1.0)),
                "evidence_discounted": round(float(1.0 - (trusted * cell).sum() / max(cell.sum(), 1e-300)), 6),
            }
        kept = cell > 0  # decayed to nothing
        rows, cols, cell, trusted = cells[kept] // n_items, cells[kept] % n_items, cell[kept], trusted[kept]
        # A shopper who chose a thousand items says little about any one pair of them:
        # dividing by sqrt(distinct items) keeps wholesalers from linking everything
        # (leave-last-out HR@10 on Online Retail: 0.050 undamped, 0.059 damped).
        basket = np.bincount(rows, minlength=n_keys).astype(np.float64)
        values = np.log1p(cell) / np.sqrt(basket[rows]) * trusted
        shape = (n_keys, len(item_ids))
        matrix = sp.csr_array((values, (rows, cols)), shape=shape, dtype=np.float64)
        matrix.sum_duplicates()  # no duplicates; this only marks the indices sorted
        weights = sp.csr_array((trusted, (rows, cols)), shape=shape, dtype=np.float64)
        weights.sum_duplicates()

        self.item_ids_ = item_ids
        self.now_ms_ = int(now_ms)
        # Shoppers counted by trust: the correlation's baseline (expected co-occurrence of
        # two items) must not shrink because a crowd of near-weightless identities arrived.
        key_trust = np.zeros(n_keys)
        np.maximum.at(key_trust, rows, trusted)
        self.n_keys_ = float(key_trust.sum()) if self.trust is not None else float(n_keys)
        items_by_key = matrix.T.tocsr()
        items_by_key.sort_indices()
        self.sums_ = np.asarray(items_by_key.sum(axis=1), dtype=np.float64).ravel()
        self.norms_ = np.sqrt(np.asarray(items_by_key.multiply(items_by_key).sum(axis=1), dtype=np.float64).ravel())
        self.similarity_, self.support_ = self._neighbours(matrix, items_by_key, weights)
        return self

    def _neighbours(
        self, matrix: sp.csr_array, items_by_key: sp.csr_array, weights: sp.csr_array
    ) -> tuple[sp.csr_array, sp.csr_array]:
        """Top `neighbours` items per item by shrunk correlation, a chunk of items at a time."""
        n_items = matrix.shape[1]
        # Column variance times n_keys; an item every shopper chose alike correlates with nothing.
        spread = self.norms_**2 - self.sums_**2 / max(self.n_keys_, 1)
        scale = np.where(spread > 1e-12 * np.maximum(self.norms_**2, 1e-300), np.sqrt(np.abs(spread)), np.inf)
        # Supports count shoppers by trust (1 each without it).
        binary = weights
        binary_t = weights.T.tocsr()
        binary_t.sort_indices()

        # Each item's co-occurrence row has at most (sum of its shoppers' basket sizes) entries;
        # chunks keep both the entries and the padded block used for selection bounded.
        basket = np.diff(matrix.indptr).astype(np.float64)
        bound = np.minimum(binary_t @ basket, n_items) if n_items else np.zeros(0)
        total = np.cumsum(bound)
        parts: list[tuple[NDArray[Any], ...]] = []
        start = 0
        while start < n_items:
            done = total[start - 1] if start else 0.0
            stop = max(start + 1, int(np.searchsorted(total, done + _CHUNK_ENTRIES, side="right")))
            widest = np.maximum.accumulate(bound[start:stop])
            fits = np.arange(1, stop - start + 1) * widest <= _CHUNK_ENTRIES
            stop = start + max(1, int(np.argmin(fits)) if not fits.all() else stop - start)
            co = items_by_key[start:stop] @ matrix
            support = binary_t[start:stop] @ binary
            parts.append(self._chunk(co, support, start, scale))
            start = stop

        if parts:
            rows, cols, sims, supports = (np.concatenate(p) for p in zip(*parts))
        else:
            rows = cols = supports = np.zeros(0, np.int64)
            sims = np.zeros(0)
        index_dtype = np.int32 if rows.size < np.iinfo(np.int32).max else np.int64
        indptr = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=n_items)))).astype(index_dtype)
        shape = (n_items, n_items)
        cols = cols.astype(index_dtype)
        similarity = sp.csr_array((sims.astype(np.float32), cols, indptr), shape=shape)
        # Every kept pair had at least one shopper, however little trusted.
        support = sp.csr_array((np.maximum(np.rint(supports), 1).astype(np.int32), cols, indptr), shape=shape)
        return similarity, support

    def _chunk(
        self, co: sp.csr_array, support: sp.csr_array, offset: int, scale: NDArray[np.float64]
    ) -> tuple[NDArray[Any], ...]:
        """Best `neighbours` entries of each row of one chunk of the co-occurrence matrix."""
        # Both products share one sparsity pattern (all evidence values are positive), and
        # scipy emits it in the same order for both.
        if not (np.array_equal(co.indptr, support.indptr) and np.array_equal(co.indices, support.indices)):
            co.sort_indices()
            support.sort_indices()
            if not np.array_equal(co.indices, support.indices):
                raise RuntimeError("co-occurrence and support patterns differ; is an event weight negative?")
        lengths = np.diff(co.indptr)
        local = np.repeat(np.arange(co.shape[0], dtype=np.int64), lengths)
        rows = local + offset
        cols = co.indices.astype(np.int64)
        counts = support.data
        expected = self.sums_[rows] * self.sums_[cols] / self.n_keys_
        sims = (co.data - expected) / (scale[rows] * scale[cols]) * (counts / (counts + self.shrinkage))
        sims[cols == rows] = 0.0

        # Rows longer than `neighbours`: find each one's k-th largest similarity with a
        # partition over a padded block, so the exact sort below only sees about k entries
        # per row (a full sort of every entry is several times slower).
        k = self.neighbours
        keep = sims > 0
        heavy = np.flatnonzero(lengths > k)
        if heavy.size:
            slot = np.full(co.shape[0], -1, dtype=np.int64)
            slot[heavy] = np.arange(heavy.size)
            width = int(lengths[heavy].max())
            block = np.zeros((heavy.size, width))
            in_heavy = slot[local] >= 0
            within = np.arange(cols.size) - co.indptr[local]
            block[slot[local[in_heavy]], within[in_heavy]] = sims[in_heavy]
            threshold = np.zeros(co.shape[0])
            threshold[heavy] = np.partition(block, width - k, axis=1)[:, width - k]
            keep &= sims >= threshold[local]
        rows, cols, sims, counts = rows[keep], cols[keep], sims[keep], counts[keep]
        # Best first within each item; equal similarities go to the smaller index (id order).
        order = np.lexsort((cols, -sims, rows))
        rows, cols, sims, counts = rows[order], cols[order], sims[order], counts[order]
        per_row = np.bincount(rows - offset, minlength=co.shape[0])
        rank = np.arange(rows.size) - np.repeat(np.cumsum(per_row) - per_row, per_row)
        keep = rank < k
        return rows[keep], cols[keep], sims[keep], counts[keep]

    def _check_fitted(self) -> None:
        if not hasattr(self, "similarity_"):
            raise not_trained(self)

    # answers -------------------------------------------------------------------------

    def similar(
        self, item_ids: Sequence[str], *, k: int = 10, exclude: Collection[str] = ()
    ) -> list[list[Scored]]:
        """For each id, its `k` most similar items (never itself); unknown ids get []."""
        self._check_fitted()
        k = check_k(k)
        check_exclude(exclude)
        sim, support = self.similarity_, self.support_
        unit = "shoppers" if self.by == "user" else "sessions"
        answers: list[list[Scored]] = []
        for item_id, index in zip(item_ids, self.item_ids_.indices(list(item_ids)).tolist()):
            if index < 0 or k == 0:
                answers.append([])
                continue
            lo, hi = sim.indptr[index], sim.indptr[index + 1]
            cols, values, counts = sim.indices[lo:hi], sim.data[lo:hi], support.data[lo:hi]
            order = np.lexsort((cols, -values))[: k + len(exclude)]
            answer: list[Scored] = []
            for neighbour, value, count in zip(
                self.item_ids_.labels(cols[order].tolist()), values[order].tolist(), counts[order].tolist()
            ):
                if neighbour in exclude:
                    continue
                reason = f"often chosen together with '{item_id}' by {count} {unit}"
                answer.append(Scored(item_id=neighbour, score=value, reason=reason, because=(item_id,)))
                if len(answer) == k:
                    break
            answers.append(answer)
        return answers

    def recommend(
        self,
        histories: Sequence[History],
        *,
        k: int = 10,
        exclude: Collection[str] | Sequence[Collection[str]] = (),
        exclude_seen: bool = True,
    ) -> list[list[Scored]]:
        """Recommendations for each history (a user's recent events, any order).

        An item scores ``sum over history items h of weight(h) x similarity(h, item)``,
        where ``weight(h) = log1p(sum of event weight x recency decay)`` of the user's
        events on h. `exclude` is one collection for every user or one per history.
        Histories with no known item get [] (the engine falls back to popularity).
        """
        self._check_fitted()
        k = check_k(k)
        per_user = per_user_excludes(exclude, len(histories))
        answers: list[list[Scored]] = []
        for start in range(0, len(histories), _BATCH_USERS):
            batch = histories[start : start + _BATCH_USERS]
            excludes = per_user[start : start + _BATCH_USERS] if per_user is not None else None
            answers.extend(
                self._recommend_batch(batch, k=k, shared=exclude if per_user is None else (),
                                      excludes=excludes, exclude_seen=exclude_seen)
            )
        return answers

    def affinity(self, history: History) -> dict[str, float]:
        """How strongly each item goes with one `history`: the score :meth:`recommend`
        gives it (history items included), for every item with a positive score. Reads
        only the neighbour rows of the history's items, never ranks the catalog: what a
        stage re-scoring a few hundred candidates needs."""
        self._check_fitted()
        events = list(history)
        if not events:
            return {}
        weights = resolve_weights(self.weights)
        item = self.item_ids_.indices([e.item_id for e in events])
        type_weight = np.array([weights.get(str(e.event_type), 0.0) for e in events], dtype=np.float64)
        ts = np.array([e.ts for e in events], dtype=np.float64)
        evidence = type_weight * np.exp2(-(ts.max() - ts) / (self.history_half_life_days * DAY_MS))
        use = (item >= 0) & (evidence > 0)
        if not use.any():
            return {}
        rows, inverse = np.unique(item[use], return_inverse=True)
        weight = np.log1p(np.bincount(inverse, weights=evidence[use]))
        scores = sp.csr_array(weight[None, :]) @ self.similarity_[rows]
        labels = self.item_ids_.ids
        return {labels[int(i)]: float(v) for i, v in zip(scores.indices, scores.data) if v > 0}

    def _recommend_batch(
        self,
        histories: Sequence[History],
        *,
        k: int,
        shared: Collection[str],
        excludes: Sequence[Collection[str]] | None,
        exclude_seen: bool,
    ) -> list[list[Scored]]:
        n_users, n_items = len(histories), len(self.item_ids_)
        empty: list[list[Scored]] = [[] for _ in range(n_users)]
        users = [b for b, history in enumerate(histories) for _ in history]
        if not users or k == 0 or n_items == 0:
            return empty
        events = [event for history in histories for event in history]
        weights = resolve_weights(self.weights)
        user = np.array(users, dtype=np.int64)
        item = self.item_ids_.indices([e.item_id for e in events])
        type_weight = np.array([weights.get(str(e.event_type), 0.0) for e in events], dtype=np.float64)
        ts = np.array([e.ts for e in events], dtype=np.float64)
        newest = np.full(n_users, -np.inf)
        np.maximum.at(newest, user, ts)
        evidence = type_weight * np.exp2(-(newest[user] - ts) / (self.history_half_life_days * DAY_MS))

        known = item >= 0
        seen = np.unique(user[known] * n_items + item[known])
        use = known & (evidence > 0)
        if not use.any():
            return empty
        pair = user[use] * n_items + item[use]
        pairs, inverse = np.unique(pair, return_inverse=True)
        pair_weight = np.log1p(np.bincount(inverse, weights=evidence[use]))
        # The strongest event type on each history item, for "because you bought X".
        by_strength = np.lexsort((ts[use], type_weight[use], inverse))
        last = np.r_[np.nonzero(np.diff(inverse[by_strength]))[0], inverse.size - 1]
        pair_type = [str(events[i].event_type) for i in np.flatnonzero(use)[by_strength[last]]]

        # Gather the neighbour list of every (user, history item): one row per contribution.
        sim = self.similarity_
        pair_user, pair_item = pairs // n_items, pairs % n_items
        lengths = sim.indptr[pair_item + 1] - sim.indptr[pair_item]
        total = int(lengths.sum())
        if total == 0:
            return empty
        first = np.repeat(sim.indptr[pair_item] - (np.cumsum(lengths) - lengths), lengths)
        position = first + np.arange(total)
        target = sim.indices[position].astype(np.int64)
        source = np.repeat(np.arange(pairs.size), lengths)
        contribution = np.repeat(pair_weight, lengths) * sim.data[position]
        key = np.repeat(pair_user, lengths) * n_items + target

        banned = [seen] if exclude_seen else []
        if shared:
            ids = self.item_ids_.indices(list(shared))
            ids = ids[ids >= 0]
            banned.append((np.arange(n_users)[:, None] * n_items + ids[None, :]).ravel())
        if excludes is not None:
            for b, collection in enumerate(excludes):
                ids = self.item_ids_.indices(list(collection)) if collection else np.zeros(0, np.int64)
                banned.append(b * n_items + ids[ids >= 0])
        ban = np.concatenate(banned) if banned else np.zeros(0, np.int64)

        # Both strategies sum contributions in input order and break ties the same way, so
        # they answer identically; dense is faster when users x items is small next to the
        # number of contributions (batches on catalogs up to tens of thousands of items).
        dense = n_users * n_items <= min(_DENSE_FACTOR * key.size, _DENSE_MAX)
        top = _top_dense if dense else _top_sparse
        chosen_key, chosen_score, member, owner = top(key, contribution, ban, n_users, n_items, k)
        if not chosen_key.size:
            return empty
        chosen_user, chosen_item = chosen_key // n_items, chosen_key % n_items

        # Explanations: the largest contributions to each chosen item, biggest first.
        by_size = np.lexsort((pair_item[source[member]], -contribution[member], owner))
        member, owner = member[by_size], owner[by_size]
        head = np.searchsorted(owner, owner, side="left")
        top_share = contribution[member[head]]
        named = (np.arange(member.size) - head < _BECAUSE_MAX) & (contribution[member] >= _BECAUSE_SHARE * top_share)
        named_owner = owner[named].tolist()
        named_source = source[member[named]].tolist()

        labels = self.item_ids_.ids
        because: list[list[str]] = [[] for _ in range(chosen_key.size)]
        phrases: list[list[str]] = [[] for _ in range(chosen_key.size)]
        for o, s in zip(named_owner, named_source):
            name = labels[int(pair_item[s])]
            because[o].append(name)
            phrases[o].append(f"{_VERBS.get(pair_type[s], 'chose')} '{name}'")
        answers = empty
        for o, (u, i, score) in enumerate(
            zip(chosen_user.tolist(), chosen_item.tolist(), chosen_score.tolist())
        ):
            said = phrases[o]
            listed = " and ".join(said) if len(said) < 3 else ", ".join(said[:-1]) + " and " + said[-1]
            reason = "because you " + listed
            answers[u].append(Scored(item_id=labels[i], score=score, reason=reason, because=tuple(because[o])))
        return answers

    # persistence ---------------------------------------------------------------------

    def save(self, directory: Path | str) -> None:
        self._check_fitted()
        write_model(
            directory,
            _NAME,
            {"format": FORMAT, "params": self.get_params(), "now_ms": self.now_ms_, "n_keys": self.n_keys_,
             "trust_report": self.trust_report_},
            {
                "item_ids": self.item_ids_.to_numpy(),
                "indptr": self.similarity_.indptr,
                "indices": self.similarity_.indices,
                "similarity": self.similarity_.data,
                "support": self.support_.data,
                "sums": self.sums_,
                "norms": self.norms_,
            },
        )

    @classmethod
    def load(cls, directory: Path | str) -> Self:
        meta, arrays = read_model(directory, _NAME, FORMAT)
        params = dict(meta["params"])
        # Models saved before trust existed were fitted without it.
        params["trust"] = TrustPolicy.from_dict(params.get("trust"))
        model = cls(**params)
        model.trust_report_ = dict(meta.get("trust_report") or {})
        model.item_ids_ = IdMap(arrays["item_ids"].tolist())
        n = len(model.item_ids_)
        parts = (arrays["indices"], arrays["indptr"])
        model.similarity_ = sp.csr_array((arrays["similarity"], *parts), shape=(n, n))
        model.support_ = sp.csr_array((arrays["support"], *parts), shape=(n, n))
        model.sums_ = arrays["sums"]
        model.norms_ = arrays["norms"]
        model.now_ms_ = int(meta["now_ms"])
        model.n_keys_ = float(meta["n_keys"])
        return model


Top = tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]


def _top_dense(
    key: NDArray[np.int64],
    contribution: NDArray[np.float64],
    ban: NDArray[np.int64],
    n_users: int,
    n_items: int,
    k: int,
) -> Top:
    """Per-user top `k` of summed contributions through a dense users x items block.

    Returns the chosen keys (user-major, best first within a user), their scores, and for
    every contribution to a chosen key its index and the chosen key's position (owner).
    """
    scores = np.bincount(key, weights=contribution, minlength=n_users * n_items)
    scores[ban] = 0.0
    block = scores.reshape(n_users, n_items)
    kk = min(k, n_items)
    kth = -np.partition(-block, kk - 1, axis=1)[:, kk - 1]
    candidate = np.flatnonzero((block >= kth[:, None]) & (block > 0))
    chosen = candidate[_rank(candidate, scores[candidate], n_items, k)]
    slot = np.full(scores.size, -1, dtype=np.int64)
    slot[chosen] = np.arange(chosen.size)
    owner = slot[key]
    member = np.flatnonzero(owner >= 0)
    return chosen, scores[chosen], member, owner[member]


def _top_sparse(
    key: NDArray[np.int64],
    contribution: NDArray[np.float64],
    ban: NDArray[np.int64],
    n_users: int,
    n_items: int,
    k: int,
) -> Top:
    """Same answer as :func:`_top_dense` by sorting the contributions, for large catalogs."""
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    new = np.r_[True, sorted_key[1:] != sorted_key[:-1]]
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], sorted_key.size]
    # bincount adds in input order, exactly as the dense path does.
    scores = np.bincount(np.cumsum(new) - 1, weights=contribution[order])
    group_key = sorted_key[starts]
    allowed = np.flatnonzero(~np.isin(group_key, ban) & (scores > 0))
    picked = allowed[_rank(group_key[allowed], scores[allowed], n_items, k)]
    spans = ends[picked] - starts[picked]
    member = order[np.repeat(starts[picked] - (np.cumsum(spans) - spans), spans) + np.arange(int(spans.sum()))]
    return group_key[picked], scores[picked], member, np.repeat(np.arange(picked.size), spans)


def _rank(keys: NDArray[np.int64], scores: NDArray[np.float64], n_items: int, k: int) -> NDArray[np.int64]:
    """Positions of each user's best `k` keys, user-major; equal scores go to the smaller item index."""
    user, item = keys // n_items, keys % n_items
    order = np.lexsort((item, -scores, user))
    rank = np.arange(order.size) - np.searchsorted(user[order], user[order], side="left")
    return order[rank < k]


