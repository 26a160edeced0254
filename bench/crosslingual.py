"""Chinese queries against English catalogs: search quality of the same shopping needs typed in
English and in Chinese, with the query translation off (as before) and on, in one run.

Sets (bench/queries/, judged by bench/queries/crosslingual_judge.py):
  abt   44 needs over the Abt catalog (1,081 English electronics products): a brand and a product
        type, or a product type alone
  demo  34 needs over the demo store's catalog (Online Retail gift shop, built as `cartwise demo`
        builds it)
  buy   a transfer check: the abt needs over Buy (1,092 English electronics products), judged by
        the same title patterns without reading that catalog
Each catalog is loaded into a Cartwise store and trained with the default encoder (stores kept
under --work, default bench/.cache/crosslingual, so a rerun reuses their embeddings), then every
query is searched through `Engine.search` in each mode. Reported per set, mode and language:
NDCG@10, recall@10, MRR, and the zh/en ratio of NDCG@10. "off" answers with the translator
removed from the live search service, exactly what the engine did before it existed.

    .venv/bin/python bench/crosslingual.py [--sets abt,demo,buy] [--fresh]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.common import ROOT, save  # noqa: E402
from bench.queries.crosslingual_judge import abt_items, buy_items, demo_items  # noqa: E402
from bench.search import build_store  # noqa: E402
from cartwise import Engine  # noqa: E402
from cartwise.encode import DEFAULT_ENCODER  # noqa: E402
from cartwise.evaluate.search import Judgments, evaluate_search, read_judgments  # noqa: E402

QUERIES = ROOT / "bench" / "queries"
SETS = {
    "abt": (abt_items, QUERIES / "crosslingual_abt.csv"),
    "demo": (demo_items, QUERIES / "crosslingual_demo.csv"),
    "buy": (buy_items, QUERIES / "crosslingual_buy.csv"),
}
MODES = ("lexical", "semantic", "hybrid")
DEPTH = 10
console = Console(stderr=True)


def language(judgments: Judgments, prefix: str) -> Judgments:
    keep = {qid for qid in judgments.queries if qid.startswith(prefix + "-")}
    return Judgments(
        queries={q: judgments.queries[q] for q in keep},
        relevance={q: grades for q, grades in judgments.relevance.items() if q in keep},
    )


def measure(engine: Engine, judgments: Judgments, mode: str, *, translate: bool) -> dict[str, float]:
    engine.warm_up()
    assert engine.state is not None
    service = engine.state.search
    translator = service.translator

    def search(query: str, depth: int) -> list[str]:
        service.translator = translator if translate else None
        try:
            return [item.item_id for item in engine.search(query, k=depth, mode=mode, facets=False).items]
        finally:
            service.translator = translator

    result = evaluate_search(judgments, search, depth=DEPTH)
    return {key: round(value, 4) for key, value in result.items()}


def run_set(name: str, work: Path, *, fresh: bool) -> dict[str, Any]:
    load, path = SETS[name]
    engine = build_store(f"{name}", load(), work, fresh=fresh, encoder=DEFAULT_ENCODER)
    engine.warm_up()
    assert engine.state is not None
    service = engine.state.search
    if service.translator is None:
        raise SystemExit(f"{name}: the catalog was not recognised as English; nothing to compare")
    judgments = read_judgments(path)
    out: dict[str, Any] = {"items": len(engine.store.item_ids()), "needs": len(language(judgments, "en").relevance)}
    for mode in MODES:
        for translate in (False, True):
            key = f"{mode}/{'on' if translate else 'off'}"
            en = measure(engine, language(judgments, "en"), mode, translate=translate)
            zh = measure(engine, language(judgments, "zh"), mode, translate=translate)
            out[key] = {"en": en, "zh": zh, "ratio": round(zh["NDCG@10"] / en["NDCG@10"], 3) if en["NDCG@10"] else None}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="abt,demo,buy")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / ".cache" / "crosslingual")
    parser.add_argument("--fresh", action="store_true", help="rebuild the stores (re-embed every item)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"encoder": DEFAULT_ENCODER, "sets": {}}
    for name in args.sets.split(","):
        results["sets"][name] = run_set(name, args.work, fresh=args.fresh)

    table = Table(title="Chinese vs English queries on English catalogs: NDCG@10 (recall@10)")
    for column in ("set", "mode", "translation", "en", "zh", "zh / en"):
        table.add_column(column, justify="left" if column in ("set", "mode", "translation") else "right")
    for name, result in results["sets"].items():
        for mode in MODES:
            for state in ("off", "on"):
                row = result[f"{mode}/{state}"]
                table.add_row(
                    name, mode, state,
                    f"{row['en']['NDCG@10']:.4f} ({row['en']['recall@10']:.3f})",
                    f"{row['zh']['NDCG@10']:.4f} ({row['zh']['recall@10']:.3f})",
                    f"{row['ratio']:.3f}",
                )
    Console().print(table)
    print("saved", save("crosslingual", results))


if __name__ == "__main__":
    main()
