"""Nearest neighbours by cosine similarity over item vectors, exact or approximate (HNSW).

Small catalogs are searched exactly with one matrix product, which on a few cores beats a
graph index below a few tens of thousands of items and needs no build. Above
``exact_below`` items an HNSW graph (usearch) answers, and its candidates are re-scored
with the float32 vectors kept here, so scores are exact cosines whatever the graph stores.
Filters are a boolean mask over :attr:`VectorIndex.ids`: the graph is over-fetched with a
growing candidate count until every query has k allowed results, and a small allowed set
is searched exactly instead (a graph walk cannot be told to skip most of the catalog).
"""

from __future__ import annotations

import copy
import json
import math
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import polars as pl
from numpy.typing import ArrayLike, NDArray

from cartwise.errors import StoreError, ValidationError

FORMAT_VERSION = 1
META = "meta.json"
Backend = Literal["auto", "exact", "hnsw"]
GraphDType = Literal["f32", "f16", "i8"]

# Queries are scored in slices so that a slice's score matrix stays near 64 MB.
_SCORE_BLOCK_FLOATS = 16_000_000


class Neighbours(NamedTuple):
    """Search results, one row per query, best first.

    ``ids`` holds None and ``scores`` -inf where a query has fewer than k allowed items.
    """

    ids: NDArray[np.object_]
    scores: NDArray[np.float32]


def _normalise(matrix: NDArray[np.float32]) -> NDArray[np.float32]:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def _cosines(queries: NDArray[np.float32], matrix: NDArray[np.float32]) -> NDArray[np.float32]:
    """(n_queries, n_rows) dot products. One query goes through einsum, not BLAS: a
    multi-threaded BLAS call wakes its thread pool, which on 2 busy cores measured 8 ms for
    what einsum does in 0.1 ms (2,000 rows) to 4 ms (40,000 rows) on one thread."""
    if queries.shape[0] == 1:
        return np.einsum("qd,nd->qn", queries, matrix)
    return queries @ matrix.T


def _top_k(scores: NDArray[np.float32], k: int) -> NDArray[np.int64]:
    """Column indices of each row's k largest scores, best first (ties by column)."""
    if k < scores.shape[1]:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(scores.shape[1]), scores.shape).copy()
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


class VectorIndex:
    """Cosine nearest-neighbour index over string ids, exact below `exact_below` items.

    backend: "auto" (exact up to `exact_below` items, HNSW above), "exact" or "hnsw".
    exact_filter_below: with the graph in use, a filter allowing at most this many items
    is answered exactly. None picks sqrt(20 * k * len): the graph walk's cost grows with the
    over-fetch k * len / allowed and exact search's with allowed, and at 40,000 items and
    k=10 the two met near 3,000 allowed items (bench/encoders.py).
    connectivity, expansion_add, expansion_search: HNSW's M, efConstruction and ef.
    graph_dtype: how the graph stores vectors ("f16" halves memory at no measurable
    recall cost because results are re-scored in float32).
    """

    def __init__(
        self,
        *,
        backend: Backend = "auto",
        exact_below: int = 20_000,
        exact_filter_below: int | None = None,
        connectivity: int = 16,
        expansion_add: int = 128,
        expansion_search: int = 64,
        graph_dtype: GraphDType = "f16",
    ) -> None:
        if backend not in ("auto", "exact", "hnsw"):
            raise ValidationError(f"backend must be 'auto', 'exact' or 'hnsw', got {backend!r}", field="backend")
        if graph_dtype not in ("f32", "f16", "i8"):
            raise ValidationError(f"graph_dtype must be 'f32', 'f16' or 'i8', got {graph_dtype!r}", field="graph_dtype")
        self.backend = backend
        self.exact_below = exact_below
        self.exact_filter_below = exact_filter_below
        self.connectivity = connectivity
        self.expansion_add = expansion_add
        self.expansion_search = expansion_search
        self.graph_dtype = graph_dtype
        self.dim: int | None = None
        # Row i of _vectors belongs to _ids[i]; _keys[i] is its graph key. Rows keep insertion
        # order and keys only grow, so _keys stays sorted and maps graph keys back to rows.
        self._ids: NDArray[np.object_] = np.empty(0, dtype=object)
        self._vectors: NDArray[np.float32] = np.empty((0, 0), dtype=np.float32)
        self._keys: NDArray[np.uint64] = np.empty(0, dtype=np.uint64)
        self._row: dict[str, int] = {}
        self._next_key = 0
        self._graph: Any = None
        self._graph_removed = 0

    def __len__(self) -> int:
        return int(self._ids.size)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._row

    @property
    def ids(self) -> NDArray[np.object_]:
        """The indexed ids; a filter mask passed to :meth:`search` is aligned with this array."""
        view = self._ids.view()
        view.flags.writeable = False
        return view

    @property
    def approximate(self) -> bool:
        """Whether searches currently go through the HNSW graph."""
        return self._graph is not None

    @property
    def nbytes(self) -> int:
        """Memory held: float32 vectors plus the graph (ids and the id map not counted)."""
        graph = int(self._graph.memory_usage) if self._graph is not None else 0
        return int(self._vectors.nbytes) + graph

    def mask(self, ids: Sequence[str]) -> NDArray[np.bool_]:
        """Boolean filter over :attr:`ids` that allows exactly `ids` (unknown ones ignored)."""
        out = np.zeros(len(self), dtype=bool)
        rows = [self._row[i] for i in map(str, ids) if i in self._row]
        out[rows] = True
        return out

    def vectors(self, ids: Sequence[str]) -> NDArray[np.float32]:
        """Stored (unit-length) vectors of `ids`."""
        try:
            rows = [self._row[i] for i in map(str, ids)]
        except KeyError as exc:
            raise ValidationError(f"id {exc.args[0]!r} is not in the index", field="ids") from None
        return self._vectors[np.asarray(rows, dtype=np.int64)]

    def vectors_at(self, rows: NDArray[np.int64]) -> NDArray[np.float32]:
        """Stored (unit-length) vectors at positions `rows` of :attr:`ids`."""
        return self._vectors[np.asarray(rows, dtype=np.int64)]

    def id_vectors(self) -> tuple[list[str], NDArray[np.float32]]:
        """All ids and their stored vectors, as the ``(ids, matrix)`` pair models take."""
        return self._ids.tolist(), self._vectors

    def add(self, ids: Sequence[str], vectors: ArrayLike) -> VectorIndex:
        """Insert vectors (normalised to unit length); an id already present is replaced."""
        ids = [str(i) for i in ids]
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != len(ids):
            raise ValidationError(f"expected {len(ids)} vectors as a 2-d array, got shape {matrix.shape}")
        if self.dim is not None and matrix.shape[1] != self.dim:
            raise ValidationError(f"this index holds {self.dim}-d vectors, got {matrix.shape[1]}-d", field="vectors")
        if len(set(ids)) != len(ids):
            raise ValidationError("ids must be unique within one add()", field="ids")
        if not np.isfinite(matrix).all():
            raise ValidationError("vectors contain NaN or infinity", field="vectors")
        if not ids:
            return self
        if self.dim is None:
            self.dim = int(matrix.shape[1])
            self._vectors = np.empty((0, self.dim), dtype=np.float32)
        self.remove([i for i in ids if i in self._row])
        keys = np.arange(self._next_key, self._next_key + len(ids), dtype=np.uint64)
        self._next_key += len(ids)
        start = len(self)
        self._ids = np.concatenate([self._ids, np.array(ids, dtype=object)])
        self._vectors = np.concatenate([self._vectors, _normalise(matrix)])
        self._keys = np.concatenate([self._keys, keys])
        self._row.update((item_id, start + offset) for offset, item_id in enumerate(ids))
        if self._graph is not None:
            self._graph.add(keys, self._vectors[start:], threads=1)
        self._sync_graph()
        return self

    def upserted(self, ids: Sequence[str], vectors: ArrayLike) -> VectorIndex:
        """A new index with `ids` inserted or replaced, this one left answering as it was
        (its rows and ids untouched; an HNSW graph, above `exact_below` items, is shared
        and grows, and this index's searches ignore the keys it does not know)."""
        new = copy.copy(self)
        new._row = dict(self._row)
        return new.add(ids, vectors)

    def remove(self, ids: Sequence[str]) -> int:
        """Delete `ids` (ids not in the index are ignored); returns how many were removed."""
        rows = sorted({self._row[i] for i in map(str, ids) if i in self._row})
        if not rows:
            return 0
        if self._graph is not None:
            self._graph.remove(self._keys[rows])
            self._graph_removed += len(rows)
        keep = np.ones(len(self), dtype=bool)
        keep[rows] = False
        self._ids = self._ids[keep]
        self._vectors = self._vectors[keep]
        self._keys = self._keys[keep]
        self._row = {item_id: row for row, item_id in enumerate(self._ids.tolist())}
        self._sync_graph()
        return len(rows)

    def _wants_graph(self) -> bool:
        if self.backend == "auto":
            # Hysteresis: build above exact_below, drop below half of it, so a catalog
            # hovering at the threshold does not rebuild the graph on every sync.
            return len(self) > self.exact_below or (self._graph is not None and len(self) >= self.exact_below // 2)
        return self.backend == "hnsw" and len(self) > 0

    def _sync_graph(self) -> None:
        if not self._wants_graph():
            self._graph = None
        elif self._graph is None or self._graph_removed > 0.25 * len(self):
            # Deleted HNSW nodes stay in the graph as tombstones that slow every walk.
            self._build_graph()

    def _new_graph(self) -> Any:
        from usearch.index import Index

        assert self.dim is not None, "the graph is built after the first add() sets dim"
        return Index(
            ndim=self.dim,
            metric="cos",
            dtype=self.graph_dtype,
            connectivity=self.connectivity,
            expansion_add=self.expansion_add,
            expansion_search=self.expansion_search,
        )

    def _build_graph(self) -> None:
        graph = self._new_graph()
        if len(self):
            # Single-threaded on purpose: usearch 2.26's concurrent insertion can leave nodes
            # that no search reaches (unum-cloud/USearch#735), which cost recall in our tests.
            graph.add(self._keys, self._vectors, threads=1)
        self._graph = graph
        self._graph_removed = 0

    def search(
        self,
        query_vectors: ArrayLike,
        k: int,
        *,
        allowed: NDArray[np.bool_] | None = None,
    ) -> Neighbours:
        """The k most cosine-similar items of each query, restricted to `allowed` if given.

        query_vectors: (n_queries, dim) or one (dim,) vector. allowed: a boolean mask over
        :attr:`ids`, shared by all queries (shape (len,)) or per query (n_queries, len).
        """
        queries = np.asarray(query_vectors, dtype=np.float32)
        if queries.ndim == 1:
            queries = queries[None, :]
        if k < 1:
            raise ValidationError(f"k must be at least 1, got {k}", field="k")
        if queries.ndim != 2 or (self.dim is not None and queries.shape[1] != self.dim):
            raise ValidationError(f"expected query vectors of shape (n, {self.dim}), got {queries.shape}")
        mask = self._check_mask(allowed, queries.shape[0])
        width = min(k, len(self))
        ids = np.full((queries.shape[0], width), None, dtype=object)
        scores = np.full((queries.shape[0], width), -np.inf, dtype=np.float32)
        if width == 0 or queries.shape[0] == 0:
            return Neighbours(ids, scores)
        queries = _normalise(queries)
        if self._graph is None:
            rows, scores = self._exact(queries, width, mask)
        else:
            rows, scores = self._approximate(queries, width, mask)
        found = rows >= 0
        ids[found] = self._ids[rows[found]]
        return Neighbours(ids, scores)

    def _check_mask(self, allowed: NDArray[np.bool_] | None, n_queries: int) -> NDArray[np.bool_] | None:
        if allowed is None:
            return None
        mask = np.asarray(allowed)
        if mask.dtype != np.bool_:
            raise ValidationError(f"allowed must be a boolean mask, got dtype {mask.dtype}", field="allowed")
        if mask.shape not in ((len(self),), (n_queries, len(self))):
            raise ValidationError(
                f"allowed must have shape ({len(self)},) or ({n_queries}, {len(self)}) to match index.ids, "
                f"got {mask.shape}",
                field="allowed",
            )
        return mask

    def _exact(
        self, queries: NDArray[np.float32], k: int, mask: NDArray[np.bool_] | None
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Brute force; rows -1 (score -inf) where fewer than k items are allowed."""
        candidates: NDArray[np.int64] | None = None
        if mask is not None and mask.ndim == 1:
            if mask.sum() <= len(self) // 5:
                # A selective shared filter: copy out and score only the allowed rows. Copying
                # a row costs about a fifth of scoring it, so past 20% a full scan is cheaper
                # (40,000 rows: 3 ms scanning all, 10 ms copying out half, bench/encoders.py).
                candidates = np.flatnonzero(mask)
                mask = None
            else:
                mask = np.broadcast_to(mask, (queries.shape[0], len(self)))
        matrix = self._vectors if candidates is None else self._vectors[candidates]
        n_q = queries.shape[0]
        rows = np.full((n_q, k), -1, dtype=np.int64)
        scores = np.full((n_q, k), -np.inf, dtype=np.float32)
        if matrix.shape[0] == 0:
            return rows, scores
        kk = min(k, matrix.shape[0])
        block = max(1, _SCORE_BLOCK_FLOATS // max(matrix.shape[0], 1))
        for start in range(0, n_q, block):
            sim = _cosines(queries[start : start + block], matrix)
            if mask is not None:
                sim[~mask[start : start + block]] = -np.inf
            top = _top_k(sim, kk)
            top_scores = np.take_along_axis(sim, top, axis=1)
            top_rows = top if candidates is None else candidates[top]
            top_rows = np.where(np.isfinite(top_scores), top_rows, -1)
            rows[start : start + block, :kk] = top_rows
            scores[start : start + block, :kk] = top_scores
        return rows, scores

    def _approximate(
        self, queries: NDArray[np.float32], k: int, mask: NDArray[np.bool_] | None
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        n = len(self)
        if mask is None:
            n_allowed = np.full(queries.shape[0], n)
        elif mask.ndim == 1:
            n_allowed = np.full(queries.shape[0], int(mask.sum()))
        else:
            n_allowed = mask.sum(axis=1)
        want = np.minimum(k, n_allowed)
        # Few allowed items: scoring them all is cheaper than walking the graph past the rest.
        limit = math.sqrt(20 * k * n) if self.exact_filter_below is None else self.exact_filter_below
        if mask is not None and n_allowed.max() <= max(limit, 4 * k):
            return self._exact(queries, k, mask)
        selectivity = max(float(n_allowed.min()) / n, 1.0 / n)
        fetch = min(n, max(k, math.ceil(2 * k / selectivity)))
        rows = np.full((queries.shape[0], k), -1, dtype=np.int64)
        scores = np.full((queries.shape[0], k), -np.inf, dtype=np.float32)
        todo = np.arange(queries.shape[0])
        while todo.size:
            sub_mask = None if mask is None else (mask if mask.ndim == 1 else mask[todo])
            got_rows, got_scores = self._graph_search(queries[todo], k, fetch, sub_mask)
            rows[todo], scores[todo] = got_rows, got_scores
            short = (got_rows >= 0).sum(axis=1) < want[todo]
            todo = todo[short]
            if todo.size and fetch >= n // 4:
                sub_mask = None if mask is None else (mask if mask.ndim == 1 else mask[todo])
                rows[todo], scores[todo] = self._exact(queries[todo], k, sub_mask)
                break
            fetch = min(n, fetch * 4)
        return rows, scores

    def _graph_search(
        self, queries: NDArray[np.float32], k: int, fetch: int, mask: NDArray[np.bool_] | None
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """`fetch` graph candidates per query, re-scored in float32, filtered, best k kept."""
        self._graph.expansion_search = max(self.expansion_search, fetch)
        matches = self._graph.search(queries, fetch)
        keys = np.asarray(matches.keys, dtype=np.uint64).reshape(queries.shape[0], -1)
        # usearch answers one query with `Matches` (no padding) and a batch with padded `BatchMatches`.
        counts = np.asarray(getattr(matches, "counts", [keys.shape[1]])).reshape(-1)
        if keys.shape[1] == 0:
            return self._exact(queries, k, mask)
        cand = np.searchsorted(self._keys, keys).clip(0, len(self) - 1)
        valid = (np.arange(keys.shape[1])[None, :] < counts[:, None]) & (self._keys[cand] == keys)
        if mask is not None:
            allowed = mask[cand] if mask.ndim == 1 else np.take_along_axis(mask, cand, axis=1)
            valid &= allowed
        rows = np.full((queries.shape[0], k), -1, dtype=np.int64)
        scores = np.full((queries.shape[0], k), -np.inf, dtype=np.float32)
        block = max(1, _SCORE_BLOCK_FLOATS // (keys.shape[1] * (self.dim or 1)))
        for start in range(0, queries.shape[0], block):
            stop = start + block
            sim = np.einsum("qd,qcd->qc", queries[start:stop], self._vectors[cand[start:stop]])
            sim[~valid[start:stop]] = -np.inf
            kk = min(k, sim.shape[1])
            top = _top_k(sim, kk)
            top_scores = np.take_along_axis(sim, top, axis=1)
            top_rows = np.take_along_axis(cand[start:stop], top, axis=1)
            rows[start:stop, :kk] = np.where(np.isfinite(top_scores), top_rows, -1)
            scores[start:stop, :kk] = top_scores
        return rows, scores

    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write ids, vectors, the graph (if any) and meta.json; meta.json is replaced last,
        so an interrupted save leaves the previous index readable."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex[:12]
        files = {"ids": f"ids-{token}.parquet", "vectors": f"vectors-{token}.npy"}
        pl.DataFrame(
            {"id": self._ids.tolist(), "key": self._keys},
            schema={"id": pl.Utf8, "key": pl.UInt64},
        ).write_parquet(path / files["ids"])
        np.save(path / files["vectors"], self._vectors, allow_pickle=False)
        if self._graph is not None:
            files["graph"] = f"graph-{token}.usearch"
            self._graph.save(str(path / files["graph"]))
        meta = {
            "format_version": FORMAT_VERSION,
            "count": len(self),
            "dim": self.dim,
            "next_key": self._next_key,
            "graph_removed": self._graph_removed,
            "params": {
                "backend": self.backend,
                "exact_below": self.exact_below,
                "exact_filter_below": self.exact_filter_below,
                "connectivity": self.connectivity,
                "expansion_add": self.expansion_add,
                "expansion_search": self.expansion_search,
                "graph_dtype": self.graph_dtype,
            },
            "files": files,
        }
        (path / f".{META}.tmp").write_text(json.dumps(meta, indent=2))
        os.replace(path / f".{META}.tmp", path / META)
        for old in path.glob("*-*.*"):
            if old.name not in files.values() and old.name.split("-")[0] in ("ids", "vectors", "graph"):
                old.unlink(missing_ok=True)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> VectorIndex:
        path = Path(directory)
        try:
            meta = json.loads((path / META).read_text())
            files = meta["files"]
            table = pl.read_parquet(path / files["ids"])
            vectors = np.load(path / files["vectors"], allow_pickle=False)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"vector index at {path} is missing or damaged: {exc}", hint="rebuild it") from exc
        if meta.get("format_version") != FORMAT_VERSION:
            raise StoreError(
                f"vector index at {path} has format {meta.get('format_version')}, expected {FORMAT_VERSION}",
                hint="rebuild it",
            )
        if not len(table) == vectors.shape[0] == meta["count"]:
            raise StoreError(f"vector index at {path} is inconsistent", hint="rebuild it")
        index = cls(**meta["params"])
        index.dim = meta["dim"]
        index._ids = np.array(table["id"].to_list(), dtype=object)
        index._keys = table["key"].to_numpy().astype(np.uint64)
        index._vectors = vectors.astype(np.float32, copy=False).reshape(len(table), meta["dim"] or 0)
        index._row = {item_id: row for row, item_id in enumerate(index._ids.tolist())}
        index._next_key = int(meta["next_key"])
        if "graph" in files:
            graph = index._new_graph()
            try:
                graph.load(str(path / files["graph"]))
            except (OSError, RuntimeError, ValueError) as exc:
                raise StoreError(f"vector index graph at {path} is damaged: {exc}", hint="rebuild it") from exc
            index._graph = graph
            index._graph_removed = int(meta["graph_removed"])
        index._sync_graph()
        return index
