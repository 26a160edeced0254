"""Cost of the merchandising rules: 50 active rules on every answer, against no rules.

A store is built from the Online Retail slice packaged with Cartwise (one month of
invoices; a few thousand products), with a brand, a category, a margin and a stock level
given to each product from its stock code (deterministic) and one product in twenty out
of stock; it is trained lexically (no text encoder: the rules' cost does not depend on
it). Fifty rules, every one in scope of every answer: 15 boosts and 5 buries (by brand,
category, price, margin, stock level), 10 filters, 10 hides, 5 pins, 3 diversity caps and
2 collapses; plus 20 synonyms for searches.

Two measurements, each against no rules in the same run, the two variants alternating
request by request (so machine load hits both alike):

- the rule stage alone: `apply_rules` over one answer's ranked candidates (up to 200,
  taken from the pipeline before its merchandise stage), read to the answer's length;
  "warm" keeps the rule set's per-item cache (as a server does), "cold" uses a new rule
  set per answer (every item's conditions evaluated);
- whole answers: `Engine.search`, `Engine.recommend` and `Engine.similar`.

Each timing is kept twice: wall time, and the thread's CPU time (`time.thread_time`), which
leaves out the time the process waited for a core: on a shared machine (two cores, load
around 10 when this ran) wall-time tails are mostly waiting, not work.

Run:  nice -n 10 .venv/bin/python bench/rules.py [--requests 300]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import zlib
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import polars as pl
from rich.console import Console

from bench.common import save
from cartwise import Engine
from cartwise.demo import EVENT_MAPPING, build_catalog, build_purchases, packaged_slice
from cartwise.recommend.base import history_of
from cartwise.rules import Inventory, RuleSet, parse_rule_set, trying
from cartwise.rules.window import apply_rules
from cartwise.serving import Candidate, Cascade, Pipeline, Request, SearchTask
from cartwise.serving.config import RECOMMEND, SEARCH
from cartwise.serving.merchandise import Merchandise, answer_context

BRANDS = [f"brand{n:02d}" for n in range(30)]
CATEGORIES = ["Home > Kitchen", "Home > Decor", "Home > Garden", "Gifts > Cards", "Gifts > Wrap", "Toys",
              "Fashion > Bags", "Stationery"]
CANDIDATES = 200


def _hash(text: str, salt: str) -> int:
    return zlib.crc32(f"{salt}:{text}".encode())


def build_store(directory: Path, console: Console) -> Engine:
    data = packaged_slice()
    catalog = pl.read_parquet(build_catalog(data, directory / "catalog.parquet"))
    ids = catalog["item_id"].to_list()
    catalog = catalog.with_columns(
        pl.Series("brand", [BRANDS[_hash(i, "brand") % len(BRANDS)] for i in ids]),
        pl.Series("category", [CATEGORIES[_hash(i, "category") % len(CATEGORIES)] for i in ids]),
        pl.Series("in_stock", [_hash(i, "stock") % 20 != 0 for i in ids]),
        pl.Series("attributes", [json.dumps({"margin": (_hash(i, "margin") % 60) / 100,
                                             "stock": _hash(i, "units") % 200,
                                             "group_id": i[:4]}) for i in ids]),
    )
    catalog_file = directory / "catalog_ruled.parquet"
    catalog.write_parquet(catalog_file)
    engine = Engine.open(directory / "store", log_impressions=False)
    engine.ingest_items(catalog_file)
    engine.ingest_events(build_purchases(data, directory / "purchases.csv"), mapping=EVENT_MAPPING)
    started = time.perf_counter()
    engine.train(encoder=None)
    console.print(f"store: {len(ids)} items, trained in {time.perf_counter() - started:.0f}s")
    return engine


def fifty_rules(item_ids: list[str]) -> str:
    rng = np.random.default_rng(0)
    pick = lambda n: [str(x) for x in rng.choice(item_ids, size=n, replace=False)]
    rules = []
    for n in range(14):
        kind = n % 4
        when = ({"brand": BRANDS[n]} if kind == 0 else {"category": CATEGORIES[n % len(CATEGORIES)]} if kind == 1
                else {"price": {"max": 2 + n}} if kind == 2 else {"stock": {"min": 150}})
        rules.append({"id": f"boost-{n}", "kind": "boost", "when": when, "weight": 0.1 + 0.02 * n})
    rules += [{"id": "boost-margin", "kind": "boost", "by": "margin", "scale": 0.6, "weight": 0.2}]
    for n in range(5):
        rules.append({"id": f"bury-{n}", "kind": "bury", "when": {"brand": BRANDS[10 + n]}, "weight": 0.2})
    for n in range(10):
        rules.append({"id": f"filter-{n}", "kind": "filter",
                      "exclude": {"brand": BRANDS[20 + n], "price": {"above": 30 + n}}})
    for n in range(10):
        rules.append({"id": f"hide-{n}", "kind": "hide", "items": pick(20)})
    for n, item in enumerate(pick(5)):
        rules.append({"id": f"pin-{n}", "kind": "pin", "item": item, "position": 2 + 2 * n})
    rules += [
        {"id": "mix-brand", "kind": "diversity", "by": "brand", "max": 2, "top": 10},
        {"id": "mix-category", "kind": "diversity", "by": "category", "level": 1, "max": 4, "top": 10},
        {"id": "mix-category-2", "kind": "diversity", "by": "category", "max": 3, "top": 20},
        {"id": "variants", "kind": "collapse"},
        {"id": "families", "kind": "collapse", "by": ["group_id"]},
    ]
    assert len(rules) == 50
    synonyms = [{"id": f"syn-{n}", "terms": [f"word{n}", f"term{n}"]} for n in range(19)]
    synonyms.append({"id": "syn-mug", "from": ["cup"], "to": ["mug"]})
    return json.dumps({"rules": rules, "synonyms": synonyms})


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 4), "p99_ms": round(float(np.percentile(ms, 99)), 4),
            "mean_ms": round(float(ms.mean()), 4), "requests": int(ms.size)}


def stage_timings(engine: Engine, text: str, requests: list[tuple[str, str]], console: Console) -> dict:
    """The rule stage alone, on each request's first 200 ranked candidates."""
    state = engine._live.current()
    bare = {"search": Pipeline(Cascade(tiers=SEARCH.tiers, rules=SEARCH.rules, explain=SEARCH.explain, merchandise=())),
            "recommend": Pipeline(Cascade(tiers=RECOMMEND.tiers[:1], merchandise=()))}
    warm_rules = parse_rule_set(text, source="bench")
    none = RuleSet(inventory=Inventory(search_out_of_stock="keep", recommend_out_of_stock="keep"))
    stage = Merchandise()
    timings: dict[str, list[float]] = {"none": [], "warm": [], "cold": []}
    cpu: dict[str, list[float]] = {"none": [], "warm": [], "cold": []}
    active: list[int] = []
    for kind, value in requests:
        if kind == "search":
            make = lambda value=value: SearchTask(state=state, k=10, text=value, mode="lexical")  # noqa: E731
        else:
            events = history_of(engine.store.user_events(value, limit=50))
            make = lambda events=events: Request(state=state, k=10, history=events,
                                                 taken={e.item_id for e in events})
        request = make()
        ranked = list(islice(bare[kind].ranked(request), CANDIDATES))
        if not ranked:
            continue
        for variant in np.random.default_rng(len(timings["none"])).permutation(["none", "warm", "cold"]):
            rules = {"none": none, "warm": warm_rules,
                     "cold": parse_rule_set(text, source="bench") if variant == "cold" else None}[variant]
            fresh = make()
            fresh.rules = rules
            copies = [Candidate(c.scored, c.stage, c.label, row=c.row, features=dict(c.features)) for c in ranked]
            began, began_cpu = time.perf_counter(), time.thread_time()
            context = answer_context(fresh)
            out = list(islice(apply_rules(rules, fresh, iter(copies), context, pin_stage=stage), fresh.k))
            timings[variant].append(time.perf_counter() - began)
            cpu[variant].append(time.thread_time() - began_cpu)
            if variant == "warm":
                active.append(len(rules.active(context)))
            assert out or variant != "none"
    result: dict = {name: {"wall": percentiles(values[20:]), "cpu": percentiles(cpu[name][20:])}
                    for name, values in timings.items()}
    result["active_rules_per_answer"] = {"min": int(min(active)), "max": int(max(active))}
    console.print({"rule stage": result})
    return result


def answer_timings(engine: Engine, text: str, requests: list[tuple[str, str]], items: list[str],
                   console: Console) -> dict:
    """Whole answers with 50 rules and with none, alternating."""
    ruled = parse_rule_set(text, source="bench")
    none = RuleSet(inventory=Inventory(search_out_of_stock="keep", recommend_out_of_stock="keep"))
    calls = []
    for kind, value in requests:
        if kind == "search":
            calls.append(("search", lambda q=value: engine.search(q, k=10, mode="lexical", facets=False)))
        else:
            calls.append(("recommend", lambda u=value: engine.recommend(u, k=10)))
    for item in items:
        calls.append(("similar", lambda i=item: engine.similar(i, k=10)))
    timings: dict[str, dict[str, list[float]]] = {}
    rng = np.random.default_rng(1)
    for kind, call in calls:
        for variant in rng.permutation(["none", "rules"]):
            with trying(ruled if variant == "rules" else none):
                began, began_cpu = time.perf_counter(), time.thread_time()
                call()
                timings.setdefault(kind, {}).setdefault(variant, []).append(time.perf_counter() - began)
                timings[kind].setdefault(variant + "_cpu", []).append(time.thread_time() - began_cpu)
    result = {}
    for kind, by_variant in timings.items():
        result[kind] = {}
        for clock, suffix in (("wall", ""), ("cpu", "_cpu")):
            none_t = percentiles(by_variant["none" + suffix][10:])
            rules_t = percentiles(by_variant["rules" + suffix][10:])
            result[kind][clock] = {"no_rules": none_t, "fifty_rules": rules_t,
                                   "p99_added_ms": round(rules_t["p99_ms"] - none_t["p99_ms"], 4),
                                   "p50_added_ms": round(rules_t["p50_ms"] - none_t["p50_ms"], 4)}
    console.print({"whole answers": result})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="searches and as many recommendations")
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as directory:
        engine = build_store(Path(directory), console)
        items = sorted(engine.store.item_ids())
        text = fifty_rules(items)
        titles = engine.store.items().select("title").to_series().to_list()
        rng = np.random.default_rng(0)
        words = [w.lower() for t in titles for w in (t or "").split() if w.isalpha() and len(w) > 3]
        queries = [" ".join(rng.choice(words, size=int(rng.integers(1, 3)))) for _ in range(args.requests)]
        users = engine.store.events().select("user_id").unique().sort("user_id").to_series().to_list()
        shoppers = [str(u) for u in rng.choice(users, size=min(args.requests, len(users)), replace=False)]
        requests = [r for pair in zip((("search", q) for q in queries), (("recommend", u) for u in shoppers),
                                      strict=False) for r in pair]
        stage = stage_timings(engine, text, requests, console)
        answers = answer_timings(engine, text, requests, [str(i) for i in rng.choice(items, 100)], console)
        result = {
            "dataset": "online retail 2011-11 slice (packaged)",
            "items": len(items),
            "rules": {"active": 50, "kinds": {"boost": 15, "bury": 5, "filter": 10, "hide": 10, "pin": 5,
                                              "diversity": 3, "collapse": 2}, "synonyms": 20},
            "candidates_per_answer": CANDIDATES,
            "rule_stage": stage,
            "answers": answers,
            "load_average": os.getloadavg(),
        }
        engine.close()
    console.print(f"saved {save('rules', result)}")


if __name__ == "__main__":
    main()
