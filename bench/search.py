"""Search quality per mode against BM25, dense-only and naive RRF, all in one run; and the
cost of indexing and answering a 40,000-item catalog.

  quality  Abt-Buy (an Abt product name is the query, its Buy match the relevant item) and
           WDC Products (an offer title is the query, the other offers of its product
           cluster are relevant, the offer itself is excluded). Each corpus is loaded into
           a Cartwise store and trained with the default encoder, then searched through
           `Engine.search` exactly as a shopper's query would be. Baselines in the same run:
             bm25s           plain BM25 (bm25s, its default English tokenisation + stemming)
             dense           Cartwise semantic mode (the same encoder and vectors as hybrid)
             rrf(bm25s,dense)  naive reciprocal-rank fusion (k=60) of the two lists above
             rrf(lexical,dense)  the same fusion over Cartwise's lexical and dense lists
             lexical+codes   Cartwise lexical plus the product-code signal, no dense part
           Reported: NDCG@10, recall@100, MRR, per-query latency p50/p99 (query encoding
           included: every query text is distinct, so the query-vector cache never hits).
           A small grid over the fusion weights is printed too, per set, to show how much
           the default (fixed, not tuned per set) leaves on the table.
  index    A 40,000-item catalog of real product text (WDC offers, Abt and Buy products,
           Amazon Scientific items, Online Retail descriptions, then Complete Journey
           grocery products to fill up), embedded from scratch: items/s, seconds, peak RSS,
           and in-process hybrid search latency over the full catalog.

Store directories are kept under --work (default bench/.cache/search) so a rerun reuses the
embeddings kept in each store (pass --fresh to measure encoding again).
    .venv/bin/python bench/search.py quality
    .venv/bin/python bench/search.py index --items 40000
"""

from __future__ import annotations

import argparse
import csv
import gzip
import importlib
import json
import os
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.common import ROOT, SHARED_DATA, peak_rss_mb, save  # noqa: E402
from bench.encoders import Dataset, bm25_rankings, load_abt_buy, load_wdc, rrf  # noqa: E402
from cartwise import Engine  # noqa: E402
from cartwise.encode import DEFAULT_ENCODER  # noqa: E402
from cartwise.evaluate.metrics import ndcg_at_k, recall_at_k  # noqa: E402
from cartwise.search.hybrid import Fusion, HybridSearcher  # noqa: E402

DEPTH = 100
console = Console(stderr=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    )


def build_store(name: str, items: list[dict[str, Any]], work: Path, *, fresh: bool, encoder: str) -> Engine:
    """A trained store holding `items` (reused when it already holds exactly these items)."""
    path = work / name
    if fresh and path.exists():
        shutil.rmtree(path)
    engine = Engine.open(path)
    current = engine.store.item_ids()
    wanted = {row["item_id"] for row in items}
    if current != wanted or engine.model_info() is None or engine.model_info().get("encoder") != encoder:
        engine.store.delete_items(sorted(current - wanted))
        report = engine.upsert_items(items, source=name)
        if report.rows_rejected:
            console.print(f"[yellow]{name}: {report.rows_rejected} items rejected[/yellow]")
        with _progress() as progress:
            task = progress.add_task(f"{name}: embedding items", total=None)
            engine.train(encoder=encoder, on_encode=lambda done, total: progress.update(task, completed=done, total=total))
    return engine


def quality(ranked: list[list[str]], data: Dataset) -> dict[str, float]:
    first = [next((r for r, i in enumerate(row) if i in rel), None) for row, rel in zip(ranked, data.relevant)]
    return {
        "ndcg@10": round(ndcg_at_k(ranked, data.relevant, 10), 4),
        "recall@100": round(recall_at_k(ranked, data.relevant, DEPTH), 4),
        "mrr": round(float(np.mean([0.0 if f is None else 1.0 / (f + 1) for f in first])), 4),
    }


def run_mode(
    engine: Engine, data: Dataset, mode: str, *, understand: bool = True
) -> tuple[list[list[str]], dict[str, float]]:
    ranked, times = [], []
    engine.warm_up()
    assert engine.state is not None
    engine.state.search.searcher.clear_query_cache()  # every timed query pays for its encoding
    for query, exclude in zip(data.queries, data.exclude):
        started = time.perf_counter()
        result = engine.search(query, k=DEPTH + 1, mode=mode, facets=False, understand=understand)
        times.append((time.perf_counter() - started) * 1000)
        ranked.append([i.item_id for i in result.items if i.item_id != exclude][:DEPTH])
    return ranked, {"p50_ms": round(float(np.percentile(times, 50)), 2), "p99_ms": round(float(np.percentile(times, 99)), 2)}


def run_searcher(searcher: HybridSearcher, data: Dataset) -> list[list[str]]:
    out = []
    for query, exclude in zip(data.queries, data.exclude):
        hits = searcher.search(query, mode="hybrid", k=DEPTH + 1).hits
        out.append([h.item_id for h in hits if h.item_id != exclude][:DEPTH])
    return out


def quality_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    datasets = [load_abt_buy(SHARED_DATA / "abt_buy"), load_wdc(SHARED_DATA / "wdc_products", args.wdc_queries, 0)]
    results: dict[str, Any] = {"encoder": args.encoder, "sets": {}}
    for data in datasets:
        engine = build_store(data.name, data.items, args.work, fresh=args.fresh, encoder=args.encoder)
        rows: dict[str, Any] = {}
        bm25, _ = bm25_rankings(data)
        bm25_ids = [[i for i, _ in row] for row in bm25]
        rows["bm25s"] = quality(bm25_ids, data)
        ranked: dict[str, list[list[str]]] = {}
        for mode in ("lexical", "semantic", "hybrid"):
            console.print(f"{data.name}: {mode} …")
            ranked[mode], latency = run_mode(engine, data, mode)
            rows[mode] = {**quality(ranked[mode], data), **latency}
        plain, _ = run_mode(engine, data, "hybrid", understand=False)
        rows["hybrid, no query understanding"] = quality(plain, data)
        dense = [[(i, 0.0) for i in row] for row in ranked["semantic"]]
        rows["rrf(bm25s,dense)"] = quality([[i for i, _ in row] for row in rrf(bm25, dense)], data)
        lexical = [[(i, 0.0) for i in row] for row in ranked["lexical"]]
        rows["rrf(lexical,dense)"] = quality([[i for i, _ in row] for row in rrf(lexical, dense)], data)
        assert engine.state is not None
        base = engine.state.search.searcher  # the live searcher: same indexes, other fusion settings
        assert base is not None
        ablation = base.with_fusion(Fusion(lexical_weight=1.0))
        rows["lexical+codes"] = quality(run_searcher(ablation, data), data)
        no_codes = base.with_fusion(Fusion(identifier_weight=0.0))
        rows["hybrid without codes"] = quality(run_searcher(no_codes, data), data)
        grid = {}
        if args.grid:
            for lw in (0.3, 0.4, 0.5, 0.6, 0.7):
                for iw in (0.0, 0.2, 0.4, 0.6):
                    searcher = base.with_fusion(Fusion(lexical_weight=lw, identifier_weight=iw))
                    grid[f"lexical_weight={lw},identifier_weight={iw}"] = quality(run_searcher(searcher, data), data)[
                        "ndcg@10"
                    ]
        hybrid = rows["hybrid"]["ndcg@10"]
        margins = {
            name: round(hybrid - rows[name]["ndcg@10"], 4)
            for name in ("bm25s", "lexical", "semantic", "rrf(bm25s,dense)", "rrf(lexical,dense)")
        }
        results["sets"][data.name] = {
            "queries": len(data.queries), "corpus": len(data.items), "rows": rows, "hybrid_margin": margins,
            "fusion_grid": grid,
        }
        engine.close()
    return results


# -- index benchmark ------------------------------------------------------------------------


def catalog_for_index(n: int) -> list[dict[str, Any]]:
    """`n` real products from several sources (ids prefixed by source)."""
    items: list[dict[str, Any]] = []
    wdc = load_wdc(SHARED_DATA / "wdc_products", 1, 0)
    items += [{**row, "item_id": f"wdc-{row['item_id']}"} for row in wdc.items]
    abt = load_abt_buy(SHARED_DATA / "abt_buy")
    items += [{**row, "item_id": f"buy-{row['item_id']}"} for row in abt.items]
    with open(SHARED_DATA / "abt_buy" / "Abt.csv", encoding="cp1252", newline="") as f:
        items += [{"item_id": f"abt-{r['id']}", "title": r["name"], "description": r["description"]}
                  for r in csv.DictReader(f)]
    with open(SHARED_DATA / "amazon_scientific" / "unisrec_format" / "Scientific.text", encoding="utf-8") as f:
        next(f)
        for line in f:
            item, _, text = line.rstrip("\n").partition("\t")
            items.append({"item_id": f"sci-{item}", "title": text[:200], "description": text[200:]})
    with gzip.open(SHARED_DATA / "online_retail" / "online_retail.csv.gz", "rt", encoding="utf-8", errors="replace") as f:
        seen = set()
        for row in csv.DictReader(f):
            code, title = row.get("StockCode"), (row.get("Description") or "").strip()
            if code and title and code not in seen:
                seen.add(code)
                items.append({"item_id": f"ret-{code}", "title": title.title()})
    if len(items) < n:
        with gzip.open(SHARED_DATA / "completejourney_sample" / "products.csv.gz", "rt", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                title = " ".join(filter(None, (row.get("product_type"), row.get("package_size"))))
                category = " > ".join(filter(None, (row.get("department"), row.get("product_category"))))
                items.append({"item_id": f"cj-{row.get('product_id')}", "title": (title or category).title(),
                              "brand": row.get("brand"), "category": category.title() or None})
                if len(items) >= n:
                    break
    return items[:n]


def index_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    items = catalog_for_index(args.items)
    path = args.work / f"index-{len(items)}"
    if path.exists():
        shutil.rmtree(path)
    engine = Engine.open(path)
    engine.upsert_items(items, source="bench")
    sources: dict[str, int] = defaultdict(int)
    for row in items:
        sources[row["item_id"].split("-", 1)[0]] += 1
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task("embedding the catalog", total=None)
        report = engine.train(encoder=args.encoder,
                              on_encode=lambda done, total: progress.update(task, completed=done, total=total))
    seconds = time.perf_counter() - started
    embed_s = report.seconds.get("embeddings", seconds)
    wdc = load_wdc(SHARED_DATA / "wdc_products", 300, 1)
    latency: dict[str, Any] = {}
    for mode in ("lexical", "semantic", "hybrid"):
        times = []
        engine.warm_up()
        assert engine.state is not None
        engine.state.search.searcher.clear_query_cache()
        for query in wdc.queries:
            started = time.perf_counter()
            engine.search(query, k=10, mode=mode)
            times.append((time.perf_counter() - started) * 1000)
        latency[mode] = {"p50_ms": round(float(np.percentile(times, 50)), 2),
                         "p99_ms": round(float(np.percentile(times, 99)), 2)}
    info = engine.model_info() or {}
    engine.close()
    return {
        "items": len(items),
        "sources": dict(sources),
        "train_seconds": report.seconds,
        "embedding_seconds": round(embed_s, 1),
        "items_per_s": round(len(items) / embed_s, 1),
        # Items sharing a text (Complete Journey's anonymised titles repeat a lot) are encoded once.
        "texts_encoded": info.get("items_encoded"),
        "items_sharing_an_encoded_text": info.get("items_sharing_an_encoded_text"),
        "texts_encoded_per_s": round((info.get("items_encoded") or 0) / embed_s, 1),
        "description_chars": importlib.import_module("cartwise.encode.item_text").DESCRIPTION_CHARS,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "peak_rss_before_mb": round(rss_before, 1),
        "vector_index": "HNSW (usearch)" if len(items) > 20_000 else "exact",
        "encoder": info.get("encoder"),
        "in_process_latency_single_query": latency,
        "store": str(path),
        "loadavg": os.getloadavg(),
    }


def print_quality(results: dict[str, Any]) -> None:
    for name, block in results["sets"].items():
        table = Table(title=f"{name}: {block['queries']} queries over {block['corpus']} items ({results['encoder']})")
        for column in ("ranking", "NDCG@10", "recall@100", "MRR", "p50 ms", "p99 ms"):
            table.add_column(column, justify="right" if column != "ranking" else "left")
        for row, m in block["rows"].items():
            table.add_row(row, f"{m['ndcg@10']:.4f}", f"{m['recall@100']:.4f}", f"{m['mrr']:.4f}",
                          str(m.get("p50_ms", "")), str(m.get("p99_ms", "")))
        Console().print(table)
        Console().print("hybrid minus: " + ", ".join(f"{k} {v:+.4f}" for k, v in block["hybrid_margin"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["quality", "index"])
    parser.add_argument("--encoder", default=DEFAULT_ENCODER)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / ".cache" / "search")
    parser.add_argument("--fresh", action="store_true", help="rebuild stores (re-encode everything)")
    parser.add_argument("--wdc-queries", type=int, default=2000)
    parser.add_argument("--grid", action="store_true", help="also evaluate a grid of fusion weights")
    parser.add_argument("--items", type=int, default=40_000)
    parser.add_argument(
        "--description-chars", type=int, default=None,
        help="experiment: embed only this much of each description (Cartwise's default: DESCRIPTION_CHARS)",
    )
    args = parser.parse_args()
    if args.description_chars is not None:
        item_text_module = importlib.import_module("cartwise.encode.item_text")
        item_text_module.DESCRIPTION_CHARS = args.description_chars
    args.work.mkdir(parents=True, exist_ok=True)
    if args.what == "quality":
        results = quality_benchmark(args)
        print_quality(results)
        save(f"search_quality_{args.encoder}", results)
    else:
        results = index_benchmark(args)
        Console().print_json(json.dumps(results))
        save(f"search_index_{results['items']}", results)


if __name__ == "__main__":
    main()
