"""Serving cost of the ranking stage: ordering 200 candidates for one request.

The fused recommender (every registered member: popularity, item-kNN, ALS, the sequential
model with a short training budget, TextKNN on the items' text) is fitted on Online Retail's
leave-last-out split. For each of `--requests` test shoppers the members' answers are
computed first, then cut so that their union is exactly 200 candidates (members' lists
taken rank by rank until 200 distinct items); what is timed is the ranking stage alone:
building the feature rows, LambdaRank's scores and the top-10 sort. The whole
``recommend(k=10)`` of one shopper (members included) is timed too.

Run:  nice -n 10 .venv/bin/python bench/rank_latency.py [--requests 1000]
"""

from __future__ import annotations

import argparse
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
    args = parser.parse_args()
    console = Console()
    data = load_retail()
    split = leave_last_out(data.events, min_events=3)
    vectors, _ = text_vectors(data, console)
    spec = recommenders.get("fused")
    offered = {"threads": args.threads, "seed": 0, "item_text_vectors": vectors,
               "max_seconds": args.sequential_seconds}
    members = recommenders.build_members(spec, lambda m: m.build(**m.settings_from(offered)), text=True)
    model = spec.build(members=members, threads=args.threads, seed=0, exclude_seen=False)
    started = time.perf_counter()
    spec.fit(model, split.train, items=data.items, validation=split.validation)
    console.print(f"fitted in {time.perf_counter() - started:.0f}s; ranker {model.training_}")
    test = split.test.sort("user_id")
    users = test["user_id"].to_list()
    rng = np.random.default_rng(0)
    picked = rng.choice(len(users), size=min(args.requests, len(users)), replace=False)
    histories = histories_of(split.train, split.validation, [users[i] for i in picked])
    ranking, whole, sizes = [], [], []
    for history in histories:
        answers = model._answers([history], 100, exclude=(), exclude_seen=False, tolerant=True)
        cut = cut_to([a[0] for a in answers], CANDIDATES)
        member_answers = [[a] for a in cut]
        began = time.perf_counter()
        candidates = model.features_.build([history], member_answers)
        scores = model.ranker_.score(candidates.features)
        np.argsort(-scores, kind="stable")[:10]
        ranking.append(time.perf_counter() - began)
        sizes.append(len(candidates))
        began = time.perf_counter()
        model.recommend([history], k=10, exclude_seen=False)
        whole.append(time.perf_counter() - began)
    # The first 50 requests warm caches; they are left out of both.
    result = {
        "dataset": "retail",
        "candidates_per_request": {"mean": float(np.mean(sizes)), "min": int(min(sizes)), "max": int(max(sizes))},
        "ranking_stage": percentiles(ranking[50:]),
        "recommend_one_shopper": percentiles(whole[50:]),
        "ranker": model.training_,
        "load_average": os.getloadavg(),
    }
    console.print(result)
    console.print(f"saved {save('rank_latency', result, RESULTS / 'fused.json')}")


if __name__ == "__main__":
    main()
