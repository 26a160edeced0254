"""Serving cost of the ranking stage: ordering 200 candidates for one request.

The fused recommender (every registered member: popularity, item-kNN, ALS, the sequential
model with a short training budget, TextKNN on the items' text) is fitted on Online Retail's
leave-last-out split. For each of `--requests` test shoppers the members' answers are
computed first, then cut so that their union is exactly 200 candidates (members' lists
taken rank by rank until 200 distinct items); what is timed is the ranking stage alone:
building the feature rows, LambdaRank's scores and the top-10 sort. The whole
``recommend(k=10)`` of one shopper (members included) is timed too.

``--graph`` also fits the same members' ranker with the relation graph's features
(:mod:`cartwise.graph.signals`) and times both on the same requests; its ranking stage
includes the relation features and the second scoring that decides whether an explanation
cites a relation. ``--members`` and ``--no-text`` make smaller runs.

Run:  nice -n 10 .venv/bin/python bench/rank_latency.py [--requests 1000] [--graph] [--members a,b] [--no-text]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from rich.console import Console

from bench.common import RESULTS
from bench.recommenders import load_retail, save, text_vectors
from bench.sequential import histories_of
from cartwise.evaluate.splits import leave_last_out
from cartwise.recommend import Scored
from cartwise.recommend import registry as recommenders

CANDIDATES = 200


def cut_to(answers: list[list[Scored]], size: int) -> list[list[Scored]]:
    """Members' lists taken rank by rank until their union holds `size` items."""
    kept: list[list[Scored]] = [[] for _ in answers]
    union: set[str] = set()
    for rank in range(max((len(a) for a in answers), default=0)):
        for m, answer in enumerate(answers):
            if rank < len(answer) and len(union) < size:
                kept[m].append(answer[rank])
                union.add(answer[rank].item_id)
    return kept


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "mean_ms": float(ms.mean()), "requests": int(ms.size)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--sequential-seconds", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--members", default="", help="comma-separated fused members (default: the registered ones)")
    parser.add_argument("--no-text", action="store_true", help="no item text (no TextKNN member)")
    parser.add_argument("--graph", action="store_true", help="also time the ranker with relation graph features")
    args = parser.parse_args()
    console = Console()
    data = load_retail()
    split = leave_last_out(data.events, min_events=3)
    vectors = None if args.no_text else text_vectors(data, console)[0]
    spec = recommenders.get("fused")
    if args.members:
        spec = dataclasses.replace(spec, members=tuple(m.strip() for m in args.members.split(",") if m.strip()))
    offered = {"threads": args.threads, "seed": 0, "item_text_vectors": vectors,
               "max_seconds": args.sequential_seconds}
    members = recommenders.build_members(spec, lambda m: m.build(**m.settings_from(offered)), text=vectors is not None)
    model = spec.build(members=members, threads=args.threads, seed=0, exclude_seen=False)
    started = time.perf_counter()
    spec.fit(model, split.train, items=data.items, validation=split.validation)
    console.print(f"fitted in {time.perf_counter() - started:.0f}s; ranker {model.training_}")
    models = {"fused": model}
    if args.graph:
        from cartwise.graph.signals import GraphRelations

        graph = spec.build(members=model.members, threads=args.threads, seed=0, exclude_seen=False,
                           relations=GraphRelations(titles=data.texts))
        started = time.perf_counter()
        graph.tune(split.train, split.validation, items=data.items)
        console.print(f"with graph features: ranker trained in {time.perf_counter() - started:.0f}s; "
                      f"{graph.training_}")
        models["fused+graph"] = graph
    result = {"dataset": "retail", "members": list(model.members), "load_average_before": os.getloadavg()}
    for name, fitted in models.items():
        result[name] = timed(fitted, split, args.requests)
        console.print(name, result[name])
    result["load_average"] = os.getloadavg()
    key = "rank_latency_graph" if args.graph else "rank_latency"
    console.print(f"saved {save(key, result, RESULTS / 'fused.json')}")


def timed(model, split, requests: int) -> dict:
    """Ranking-stage and whole-answer latency of `model` over the same sampled shoppers."""
    test = split.test.sort("user_id")
    users = test["user_id"].to_list()
    rng = np.random.default_rng(0)
    picked = rng.choice(len(users), size=min(requests, len(users)), replace=False)
    histories = histories_of(split.train, split.validation, [users[i] for i in picked])
    ranking, whole, sizes = [], [], []
    for history in histories:
        answers = model._answers([history], 100, exclude=(), exclude_seen=False, tolerant=True)
        cut = cut_to([a[0] for a in answers], CANDIDATES)
        member_answers = [[a] for a in cut]
        relations = model.relations_ if model.uses_relations else None
        began = time.perf_counter()
        candidates = model.features_.build([history], member_answers, relations=relations)
        scores = model.ranker_.score(candidates.features)
        if relations is not None:
            model._score_without_relations(candidates)  # what recommend() does to explain
        np.argsort(-scores, kind="stable")[:10]
        ranking.append(time.perf_counter() - began)
        sizes.append(len(candidates))
        began = time.perf_counter()
        model.recommend([history], k=10, exclude_seen=False)
        whole.append(time.perf_counter() - began)
    # The first 50 requests warm caches; they are left out of both.
    return {
        "candidates_per_request": {"mean": float(np.mean(sizes)), "min": int(min(sizes)), "max": int(max(sizes))},
        "ranking_stage": percentiles(ranking[50:]),
        "recommend_one_shopper": percentiles(whole[50:]),
        "ranker": model.training_,
    }


if __name__ == "__main__":
    main()
