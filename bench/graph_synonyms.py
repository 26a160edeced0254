"""Synonym suggestions mined from the relation graph of a real store: how many, which, how fast.

Builds the relation graph the way `cartwise train` does without a text encoder (TF-IDF
text similarity), then runs :func:`cartwise.rules.graph_synonyms.suggest_graph_synonyms`
and prints every suggestion with its evidence, so the top ones can be judged by hand (the
judgements and precision@20 are in BENCHMARKS.md; a script cannot tell a synonym).

* online_retail: the demo store's data (all of /work/shared/data/online_retail), invoices
  as purchase baskets, descriptions as titles; no categories, brands or views.
* scientific: Amazon Industrial & Scientific (lcrec format): title, brand and category
  path per item, each user's reviewed items as purchases a day apart (no views).

The semantic gate (mutual nearest neighbours among the store's title words in e5, see the
module) is on unless `--no-gate`; `--semantic-rank` widens it.

    OMP_NUM_THREADS=1 python bench/graph_synonyms.py --dataset online_retail [--limit 200] [--no-gate]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SHARED_DATA, peak_rss_mb, save
from bench.graph import online_retail
from cartwise.encode import DEFAULT_ENCODER
from cartwise.graph import RelationGraph
from cartwise.rules.graph_synonyms import substitute_pairs, suggest_graph_synonyms

DAY_MS = 24 * 3600 * 1000


def scientific() -> tuple[pl.DataFrame, pl.DataFrame]:
    folder = SHARED_DATA / "amazon_scientific" / "lcrec_format"
    meta = json.loads((folder / "Scientific.item.json").read_text(encoding="utf-8"))
    items = pl.DataFrame({
        "item_id": list(meta),
        "title": [m.get("title") or "" for m in meta.values()],
        "brand": [m.get("brand") or None for m in meta.values()],
        "category": [" > ".join(c.strip() for c in (m.get("categories") or "").split(",")[1:]) or None
                     for m in meta.values()],
    })
    sequences = json.loads((folder / "Scientific.inter.json").read_text(encoding="utf-8"))
    rows = [(user, str(item), 1_600_000_000_000 + n * DAY_MS)
            for user, seq in sequences.items() for n, item in enumerate(seq)]
    events = pl.DataFrame(rows, schema=["user_id", "item_id", "ts"], orient="row").with_columns(
        pl.lit("purchase").alias("event_type"))
    return events, items


DATASETS = {"online_retail": online_retail, "scientific": scientific}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="online_retail")
    parser.add_argument("--limit", type=int, default=200, help="suggestions to keep")
    parser.add_argument("--min-pairs", type=int, default=3)
    parser.add_argument("--min-lift", type=float, default=2.0)
    parser.add_argument("--no-gate", action="store_true", help="mine without the semantic gate")
    parser.add_argument("--semantic-rank", type=int, default=3)
    parser.add_argument("--output", default=None, help="results file name under bench/results (no .json)")
    args = parser.parse_args()

    events, items = DATASETS[args.dataset]()
    started = time.perf_counter()
    graph = RelationGraph().fit(events, items)
    built = time.perf_counter() - started
    started = time.perf_counter()
    pairs = substitute_pairs(graph)
    found = suggest_graph_synonyms(graph, min_pairs=args.min_pairs, min_lift=args.min_lift, limit=args.limit,
                                   encoder=None if args.no_gate else DEFAULT_ENCODER,
                                   semantic_rank=args.semantic_rank)
    mined = time.perf_counter() - started
    for n, s in enumerate(found, 1):
        example = s.evidence["examples"][0]["titles"]
        semantic = s.evidence["semantic"]
        gate = f"ranks={semantic['ranks']} cos={semantic['cosine']}" if "ranks" in semantic else "gate off"
        print(f"{n:3d} {s.terms[0]} = {s.terms[1]}  pairs={s.support} lift={s.evidence['lift']} "
              f"score={s.score} {gate}  e.g. {example[0]!r} / {example[1]!r}")
    result = {
        "dataset": args.dataset, "items": items.height, "events": events.height,
        "substitute_pairs": len(pairs), "suggestions": len(found),
        "params": {"min_pairs": args.min_pairs, "min_lift": args.min_lift, "limit": args.limit,
                   "gate": not args.no_gate, "semantic_rank": args.semantic_rank},
        "graph_build_s": round(built, 2), "mine_s": round(mined, 2), "peak_rss_mb": round(peak_rss_mb()),
        "found": [s.to_dict() for s in found],
    }
    print(f"{args.dataset}: {items.height} items, {len(pairs)} substitute pairs, {len(found)} suggestions "
          f"(graph {built:.1f} s, mining {mined:.1f} s)")
    print("saved", save(args.output or f"graph_synonyms_{args.dataset}", result))


if __name__ == "__main__":
    main()
