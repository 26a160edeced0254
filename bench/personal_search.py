"""Personalised search: does naming the shopper put what they buy next higher?

A time split of the Online Retail slice shipped in the package (the demo store's data):
the store holds the catalog and every purchase before the cutoff (the last `--test-days`
days are held back), and is trained on them. For each shopper with purchases before the
cutoff, each product they bought after it (first time for them, at most
`--per-user` per shopper) becomes a search: the product type as a shopper would type it,
the last word of its title ("holder", "lantern", "mug", ...), or with `--words 2` the last
two. The same query is answered twice by the same engine, once anonymous and once naming
the shopper (the "personal" rank stage then leans towards items that go with their
history), and the position of the product they went on to buy is compared: NDCG@10,
HR@10, MRR@100, with a paired bootstrap over searches, and the latency of both.

A generic product-type word matches dozens of items, which is where knowing the shopper
can help; the figures say how much, not whether the word alone finds the product.

    python bench/personal_search.py [--mode hybrid|lexical] [--test-days 7] [--work DIR]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import peak_rss_mb, save  # noqa: E402
from cartwise import Engine  # noqa: E402
from cartwise.demo import EVENT_MAPPING, build_catalog, build_purchases, packaged_slice  # noqa: E402
from cartwise.encode import DEFAULT_ENCODER  # noqa: E402
from cartwise.evaluate.significance import compare  # noqa: E402
from cartwise.metrics import hit_rate, mrr, ndcg  # noqa: E402

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{2,}")
# Colour and size words end many titles ("... HOLDER RED", "... BAG LARGE"): not a product type.
_NOT_TYPE = {
    "red", "blue", "green", "pink", "white", "black", "ivory", "cream", "gold", "silver", "purple",
    "yellow", "orange", "grey", "brown", "small", "large", "medium", "mini", "set", "assorted",
    "design", "colour", "colours", "retrospot", "vintage", "the", "and", "with", "for",
}


def product_query(title: str, words: int) -> str | None:
    """The last `words` product-type words of a title, lower-cased (None when it has none)."""
    found = [w.lower() for w in _WORD.findall(title)]
    while found and found[-1] in _NOT_TYPE:
        found.pop()
    if len(found) < words:
        return None
    return " ".join(found[-words:])


def build(work: Path, *, test_days: float, mode: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The store (`work/split`) holding the catalog and the purchases before the cutoff,
    trained; returns the purchases before and after the cutoff."""
    data = packaged_slice()
    catalog = build_catalog(data, work / "catalog.parquet")
    purchases = build_purchases(data, work / "purchases.csv")
    # Every purchase, cleaned by the ordinary ingest path, in a scratch store.
    scratch = Engine.open(work / "all", log_impressions=False)
    scratch.ingest_items(catalog)
    scratch.ingest_events(purchases, mapping=EVENT_MAPPING)
    events = scratch.store.events()
    scratch.close()
    cutoff = int(events["ts"].max()) - int(test_days * 86_400_000)
    before = events.filter(pl.col("ts") <= cutoff)
    after = events.filter(pl.col("ts") > cutoff)
    # The served store knows only the purchases before the cutoff: the shopper's history
    # and every model come from them.
    engine = Engine.open(work / "split", log_impressions=False)
    engine.ingest_items(catalog)
    with engine.store.transaction():
        engine.store.insert_events(before)
    engine.train(encoder=None if mode == "lexical" else DEFAULT_ENCODER)
    engine.close()
    return before, after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["hybrid", "lexical"], default="hybrid")
    parser.add_argument("--test-days", type=float, default=7.0, help="days held back at the end of the slice")
    parser.add_argument("--words", type=int, default=1, help="product-type words per query")
    parser.add_argument("--per-user", type=int, default=3, help="searches per shopper at most")
    parser.add_argument("--limit", type=int, default=1500, help="searches at most")
    parser.add_argument("--work", type=Path, default=None, help="where to build the stores (default: a temp dir)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="cartwise-personal-"))
    started = time.perf_counter()
    before, after = build(work, test_days=args.test_days, mode=args.mode)
    build_s = time.perf_counter() - started

    engine = Engine.open(work / "split", log_impressions=False)
    titles = dict(engine.store.items().select("item_id", "title").iter_rows())
    known = set(before["user_id"].unique().to_list())
    bought_before = before.group_by("user_id").agg(pl.col("item_id").unique())
    seen = {row[0]: set(row[1]) for row in bought_before.iter_rows()}
    tasks: list[tuple[str, str, str]] = []
    per_user: dict[str, int] = {}
    for user, item in after.sort("ts").select("user_id", "item_id").unique(maintain_order=True).iter_rows():
        if user not in known or item in seen.get(user, ()) or item not in titles:
            continue
        if per_user.get(user, 0) >= args.per_user:
            continue
        query = product_query(titles[item], args.words)
        if query is None:
            continue
        per_user[user] = per_user.get(user, 0) + 1
        tasks.append((user, item, query))
        if len(tasks) >= args.limit:
            break
    print(f"{len(tasks):,} searches by {len(per_user):,} shoppers ({args.mode})", flush=True)

    def position(items: list[str], target: str) -> int:
        return items.index(target) if target in items else -1

    anonymous, personal = [], []
    anonymous_s, personal_s = [], []
    changed = 0
    for user, item, query in tasks:
        t0 = time.perf_counter()
        plain = [r.item_id for r in engine.search(query, k=100, mode=args.mode, facets=False).items]
        t1 = time.perf_counter()
        mine = [r.item_id for r in engine.search(query, k=100, mode=args.mode, facets=False, user_id=user).items]
        t2 = time.perf_counter()
        anonymous_s.append(t1 - t0)
        personal_s.append(t2 - t1)
        anonymous.append(position(plain, item))
        personal.append(position(mine, item))
        changed += plain[:10] != mine[:10]
    engine.close()

    a, p = np.asarray(anonymous), np.asarray(personal)

    def figures(ranks: np.ndarray) -> dict[str, float]:
        return {"NDCG@10": ndcg(ranks, 10), "HR@10": hit_rate(ranks, 10), "MRR@100": mrr(ranks, 100),
                "found@100": float((ranks >= 0).mean())}

    def per_search_ndcg(ranks: np.ndarray) -> np.ndarray:
        return np.where((ranks >= 0) & (ranks < 10), 1.0 / np.log2(np.maximum(ranks, 0) + 2.0), 0.0)

    comparison = compare(per_search_ndcg(a), per_search_ndcg(p))

    def latency(samples: list[float]) -> dict[str, float]:
        ms = np.asarray(samples) * 1000
        return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}

    result = {
        "data": "Online Retail slice shipped in the package (2011-11), purchases",
        "mode": args.mode,
        "test_days": args.test_days,
        "query_words": args.words,
        "searches": len(tasks),
        "shoppers": len(per_user),
        "anonymous": figures(a),
        "personal": figures(p),
        "personal_minus_anonymous_ndcg10": comparison.__dict__,
        "top10_changed_share": changed / max(1, len(tasks)),
        "latency": {"anonymous": latency(anonymous_s), "personal": latency(personal_s)},
        "build_seconds": build_s,
        "peak_rss_mb": peak_rss_mb(),
    }
    print(f"{'':12s} {'NDCG@10':>8s} {'HR@10':>7s} {'MRR@100':>8s} {'found@100':>9s}")
    for name in ("anonymous", "personal"):
        f = result[name]
        print(f"{name:12s} {f['NDCG@10']:8.4f} {f['HR@10']:7.4f} {f['MRR@100']:8.4f} {f['found@100']:9.3f}")
    print(f"difference NDCG@10 {comparison.difference:+.4f} "
          f"(95% CI {comparison.ci_low:+.4f} .. {comparison.ci_high:+.4f}, p={comparison.p_bootstrap:.4f})")
    print(f"top 10 changed in {result['top10_changed_share']:.1%} of searches; latency p99 "
          f"{result['latency']['anonymous']['p99_ms']:.1f} ms anonymous, "
          f"{result['latency']['personal']['p99_ms']:.1f} ms personal")
    print(f"saved {save(f'personal_search_{args.mode}', result)}")


if __name__ == "__main__":
    main()
