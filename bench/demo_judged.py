"""Search quality on the judged demo queries (bench/queries/demo_judged.csv), per mode and per
query category (the query id's prefix: sku, typo, type, need, zh, price).

The judgments were made by reading the demo catalog (`cartwise demo --no-serve`, the Online
Retail slice shipped in the package); `cartwise evaluate search --judgments` gives the overall
figures, this script the same figures split by category.

    .venv/bin/python bench/demo_judged.py --store cartwise-demo
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rich.console import Console
from rich.table import Table

from cartwise import Engine
from cartwise.evaluate.search import Judgments, evaluate_search, read_judgments, searcher

JUDGED = Path(__file__).resolve().parent / "queries" / "demo_judged.csv"


def by_category(judged: Judgments) -> dict[str, Judgments]:
    """The judgments split by query-id prefix ("sku-03" -> "sku"), plus "all"."""
    groups: dict[str, Judgments] = {"all": judged}
    for query_id, grades in judged.relevance.items():
        name = query_id.split("-", 1)[0]
        group = groups.setdefault(name, Judgments(queries={}, relevance={}))
        group.queries[query_id] = judged.queries[query_id]
        group.relevance[query_id] = grades
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", required=True, help="a trained demo store (directory or store URL)")
    parser.add_argument("--judgments", type=Path, default=JUDGED)
    parser.add_argument("--out", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    engine = Engine.open(args.store, create=False)

    results: dict[str, dict[str, dict[str, float]]] = {}
    for mode in ("lexical", "semantic", "hybrid"):
        for name, group in by_category(read_judgments(args.judgments)).items():
            results.setdefault(name, {})[mode] = evaluate_search(group, searcher(engine, mode))
    table = Table(title=f"NDCG@10 (MRR) on {args.judgments.name}")
    table.add_column("category")
    table.add_column("queries", justify="right")
    for mode in ("lexical", "semantic", "hybrid"):
        table.add_column(mode, justify="right")
    for name, modes in results.items():
        table.add_row(name, f"{modes['hybrid']['queries']:.0f}",
                      *(f"{modes[m]['NDCG@10']:.4f} ({modes[m]['MRR']:.3f})" for m in ("lexical", "semantic", "hybrid")))
    Console().print(table)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
