""""Frequently bought together" from the relation graph against plain co-occurrence counts.

Baskets are split by time: the graph is built on the baskets before the cut (80% of
baskets by default), and for each later basket with two or more items the graph knows,
one item (chosen at random, seeded) is the query and the basket's other items are what a
"bought together" list should hold. Both methods answer from the same counts in the same
run:

* counts: the query's companions by raw co-occurrence count (ties by item id);
* lift: the graph's co_bought relation (pairs seen at least twice with lift above 1, by
  ``confidence * lift ** beta``);
* fbt: the bundle placement (`cartwise.graph.placements.bundle_companions`): the co_bought
  ranking without the query's own size and colour variants.

Reports hit rate@k (any other item of the basket among the k) and recall@k (the share of
them found), how often an answer names one of the 10 bestsellers and how many distinct
items the answers show, with a paired bootstrap of lift - counts and fbt - counts per basket (95% interval, p), how many
items each method returns, the graph's build time against counting alone, and the p50/p99
latency of one query. Data: Online Retail invoices (/work/shared/data/online_retail) and
Complete Journey transactions (/work/shared/data/completejourney_sample; a sample of
transaction lines, so most of its baskets hold one item).

With ``--live-store STORE`` (a copy of a trained store: events are written to it) it also
times event writes through the engine, which count new baskets into the live graph, against
the ingest pipeline alone.

    python bench/graph.py [--datasets online_retail completejourney] [--cut 0.8] [--queries 5000]
                          [--live-store STORE]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SHARED_DATA, peak_rss_mb, save
from cartwise.evaluate.significance import compare
from cartwise.graph import RelationGraph, kinds
from cartwise.graph.baskets import Signal, basket_items
from cartwise.graph.cooccurrence import Cooccurrence
from cartwise.graph.placements import bundle_companions

KS = (1, 3, 5, 10)
NOT_PRODUCTS = r"^(POST|DOT|M|C2|D|S|B|CRUK|PADS|BANK CHARGES|AMAZONFEE|GIFT_.*)$"


def online_retail() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Invoice lines as purchase events (an invoice is one basket) and a catalog of
    descriptions and prices; cancellations, returns and fees left out."""
    lines = pl.read_csv(SHARED_DATA / "online_retail" / "online_retail.csv.gz", infer_schema_length=0)
    lines = lines.with_columns(
        pl.col("StockCode").str.to_uppercase().alias("item_id"),
        pl.col("Quantity").cast(pl.Float64, strict=False),
        pl.col("UnitPrice").cast(pl.Float64, strict=False),
        pl.col("InvoiceDate").str.to_datetime("%Y-%m-%d %H:%M:%S").dt.epoch("ms").alias("ts"),
    ).filter(
        ~pl.col("InvoiceNo").str.starts_with("C") & (pl.col("Quantity") > 0) & (pl.col("UnitPrice") > 0)
        & ~pl.col("item_id").str.contains(NOT_PRODUCTS)
    )
    events = lines.select(
        pl.coalesce(pl.col("CustomerID"), pl.concat_str(pl.lit("guest-"), pl.col("InvoiceNo"))).alias("user_id"),
        "item_id", pl.lit("purchase").alias("event_type"), "ts", pl.col("InvoiceNo").alias("session_id"),
    )
    items = (
        lines.group_by("item_id").agg(
            pl.col("Description").drop_nulls().mode().first().alias("title"),
            pl.col("UnitPrice").median().alias("price"),
        ).with_columns(pl.coalesce("title", "item_id").alias("title"))
    )
    return events, items


def complete_journey() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Transaction lines as purchase events (``basket_id`` is the basket) and the products
    they name, titled by their type and category, in department > category."""
    folder = SHARED_DATA / "completejourney_sample"
    lines = pl.read_csv(folder / "transactions_sample.csv.gz", infer_schema_length=0)
    events = lines.select(
        pl.col("household_id").alias("user_id"), pl.col("product_id").alias("item_id"),
        pl.lit("purchase").alias("event_type"),
        pl.col("transaction_timestamp").str.to_datetime("%Y-%m-%d %H:%M:%S").dt.epoch("ms").alias("ts"),
        pl.col("basket_id").alias("session_id"),
    )
    products = pl.read_csv(folder / "products.csv.gz", infer_schema_length=0)
    items = products.join(events.select("item_id").unique(), left_on="product_id", right_on="item_id").select(
        pl.col("product_id").alias("item_id"),
        pl.concat_str([pl.col("product_type").fill_null(""), pl.col("product_category").fill_null(""),
                       pl.col("package_size").fill_null("")], separator=" ").str.strip_chars().alias("title"),
        pl.col("brand"),
        pl.when(pl.col("product_category").is_not_null())
        .then(pl.concat_str([pl.col("department"), pl.col("product_category")], separator=" > "))
        .otherwise(pl.col("department")).alias("category"),
    ).with_columns(pl.when(pl.col("title") == "").then(pl.col("item_id")).otherwise(pl.col("title")).alias("title"))
    return events, items


DATASETS: dict[str, Callable[[], tuple[pl.DataFrame, pl.DataFrame]]] = {
    "online_retail": online_retail,
    "completejourney": complete_journey,
}


def by_counts(co: Cooccurrence, item: str, k: int) -> list[str]:
    table = co.table(item)
    if not len(table):
        return []
    order = np.lexsort((table.ids.astype(str), -table.counts))[:k]
    return [str(i) for i in table.ids[order]]


def by_graph(graph: RelationGraph, item: str, k: int) -> list[str]:
    return [edge.item_id for _, edge in bundle_companions(graph, item, k)]


def evaluate(name: str, cut: float, queries: int, seed: int) -> dict:
    events, items = DATASETS[name]()
    baskets = basket_items(events, Signal.BUY)
    starts = baskets.group_by("basket").agg(pl.col("ts").min().alias("start")).sort("start", "basket")
    cut_ts = int(starts["start"][int(starts.height * cut)])
    train_keys = starts.filter(pl.col("start") < cut_ts)["basket"]
    train_events = events.filter(pl.col("ts") < cut_ts)

    started = time.perf_counter()
    graph = RelationGraph().fit(train_events, items)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    counts_only = Cooccurrence().fit(basket_items(train_events, Signal.BUY), graph.item_ids_)
    counts_s = time.perf_counter() - started
    co = graph.co_bought_

    test = baskets.filter(pl.col("ts") >= cut_ts).join(
        starts.filter(pl.col("start") >= cut_ts).select("basket"), on="basket", how="semi"
    )
    known = set(np.asarray(graph.item_ids_.ids)[co.counts_ > 0].tolist())
    groups = (
        test.filter(pl.col("item_id").is_in(list(known))).group_by("basket").agg(pl.col("item_id").sort())
        .filter(pl.col("item_id").list.len() >= 2).sort("basket")
    )
    rng = random.Random(seed)
    cases = [(rng.choice(members), members) for members in groups["item_id"].to_list()]
    rng.shuffle(cases)
    cases = cases[:queries]
    methods = {
        "counts": lambda q, k: by_counts(counts_only, q, k),
        "lift": lambda q, k: [edge.item_id for edge in kinds.get("co_bought").find(graph, q, k)],
        "fbt": lambda q, k: by_graph(graph, q, k),
    }
    kmax = max(KS)
    per: dict[str, dict[str, list[float]]] = {m: {f"{metric}@{k}": [] for k in KS for metric in ("hr", "recall")}
                                              for m in methods}
    returned: dict[str, list[int]] = {m: [] for m in methods}
    # The 10 items in most training baskets: a list that names one of them for every query
    # says "popular", not "goes with this".
    bestsellers = set(np.asarray(graph.item_ids_.ids)[np.argsort(-co.counts_, kind="stable")[:10]].tolist())
    with_bestseller: dict[str, list[bool]] = {m: [] for m in methods}
    shown: dict[str, set[str]] = {m: set() for m in methods}
    latency: dict[str, list[float]] = {m: [] for m in methods}
    for query, members in cases:
        targets = set(members) - {query}
        for method, answer in methods.items():
            mark = time.perf_counter()
            ranked = answer(query, kmax)
            latency[method].append(time.perf_counter() - mark)
            returned[method].append(len(ranked))
            with_bestseller[method].append(bool(bestsellers.intersection(ranked[:10])))
            shown[method].update(ranked[:10])
            for k in KS:
                hits = len(targets.intersection(ranked[:k]))
                per[method][f"hr@{k}"].append(float(hits > 0))
                per[method][f"recall@{k}"].append(hits / len(targets))
    result: dict = {
        "baskets_train": int(train_keys.len()), "baskets_test": int(starts.height - train_keys.len()),
        "queries": len(cases), "items": len(graph.item_ids_), "cut": cut,
        "graph": graph.summary(),
        "build_s": {"graph_all_relations": round(build_s, 3), "cooccurrence_counts_only": round(counts_s, 3)},
        "methods": {},
        "comparison_vs_counts": {},
    }
    for method in methods:
        lat = np.asarray(latency[method]) * 1000
        result["methods"][method] = {
            **{key: round(float(np.mean(values)), 4) for key, values in per[method].items()},
            "mean_items_returned": round(float(np.mean(returned[method])), 2),
            "queries_with_no_answer": int(sum(1 for n in returned[method] if n == 0)),
            "answers_naming_a_top10_bestseller": round(float(np.mean(with_bestseller[method])), 4),
            "distinct_items_shown": len(shown[method]),
            "latency_p50_ms": round(float(np.percentile(lat, 50)), 3),
            "latency_p99_ms": round(float(np.percentile(lat, 99)), 3),
        }
    for method in ("lift", "fbt"):
        for key in ("hr@5", "hr@10", "recall@10"):
            c = compare(per["counts"][key], per[method][key], seed=seed)
            result["comparison_vs_counts"][f"{method} - counts {key}"] = {
                "difference": round(c.difference, 4), "ci95": [round(c.ci_low, 4), round(c.ci_high, 4)],
                "p_bootstrap": round(c.p_bootstrap, 4), "significant": c.significant,
            }
    return result


def live_updates(store: str, rounds: int, batch: int, seed: int) -> dict:
    """What counting new baskets into the live graph adds to an API event write, on a trained
    store: `rounds` batches of `batch` purchases (two items per shopper, a new order each),
    written alternately by `Engine.add_events` (which counts them into the graph) and by the
    ingest pipeline alone (which does not)."""
    from cartwise import Engine
    from cartwise.ingest import ingest_event_records

    engine = Engine.open(store, create=False, log_impressions=False)
    version = engine.model_info()["version"]
    users = engine.store.events()["user_id"].unique().sort().to_list()
    items = sorted(engine.store.item_ids())
    engine.related(items[0], type="co_bought")  # the graph is loaded before timing
    rng = random.Random(seed)
    now = int(time.time())
    times: dict[str, list[float]] = {"add_events (counts into the graph)": [], "ingest alone": []}
    for n in range(rounds * 2):
        records = []
        for u in rng.sample(users, batch // 2):
            order = f"bench-{n}-{u}"
            records += [{"user_id": u, "item_id": item, "event_type": "purchase", "timestamp": now + n,
                         "session_id": order} for item in rng.sample(items, 2)]
        mark = time.perf_counter()
        if n % 2 == 0:
            engine.add_events(records)
            times["add_events (counts into the graph)"].append(time.perf_counter() - mark)
        else:
            ingest_event_records(engine.store, records)
            times["ingest alone"].append(time.perf_counter() - mark)
    viewed, bought = engine._relations.live.deltas
    # Answers after those writes read the built counts plus the live ones.
    asked = []
    for item in rng.sample(items, min(300, len(items))):
        mark = time.perf_counter()
        engine.bundle(item, k=3)
        asked.append(time.perf_counter() - mark)
    engine.close()
    out: dict = {"store": store, "model_version": version, "batch_events": batch, "rounds": rounds,
                 "baskets_counted_live": bought.baskets}
    times["bundle(k=3) with live counts"] = asked
    for name, values in times.items():
        ms = np.asarray(values) * 1000
        out[name] = {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--cut", type=float, default=0.8, help="share of baskets (by time) the graph is built on")
    parser.add_argument("--queries", type=int, default=5000, help="held-out baskets evaluated at most")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--live-store", default=None,
                        help="a trained store (a copy: events are written to it) to time live graph updates on")
    parser.add_argument("--live-rounds", type=int, default=100)
    args = parser.parse_args()
    results = {}
    live = None
    if args.live_store:
        live = live_updates(args.live_store, args.live_rounds, 20, args.seed)
        print(f"live updates: {live}", flush=True)
    for name in args.datasets:
        print(f"{name} ...", flush=True)
        results[name] = evaluate(name, args.cut, args.queries, args.seed)
        out = results[name]
        for method, figures in out["methods"].items():
            print(f"  {method:7s} " + "  ".join(f"{k}={v}" for k, v in figures.items()), flush=True)
        for key, c in out["comparison_vs_counts"].items():
            print(f"  {key}: {c['difference']:+.4f} {c['ci95']} p={c['p_bootstrap']}", flush=True)
        print(f"  build: {out['build_s']}  queries: {out['queries']}", flush=True)
    path = save("graph", {"ks": list(KS), "peak_rss_mb": round(peak_rss_mb(), 1), "datasets": results,
                          "live_updates": live})
    print(f"saved {path}")


if __name__ == "__main__":
    main()
