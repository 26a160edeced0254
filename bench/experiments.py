"""The A/B engine's statistics and cost, measured.

1. False positives: A/A tests (5% conversion, no difference), each read after every
   1/20 of its users. The fixed-horizon z test read once, the always-valid mSPRT read at
   every look (stopping at the first crossing), and the naive z test read at every look
   (the well-known baseline that peeking breaks).
2. Power at planted lifts (+0.5, +1 and +2 points on 5%), at the fixed test's sample size
   for 80% power and, for the mSPRT, at twice that (it stops early when the lift is
   there: the mean users at stopping are reported too).
3. Sample efficiency: users needed for 80% power to tell two rankers of the same
   candidates apart (:class:`cartwise.experiments.simulate.SharedPool`), by team-draft
   interleaving (sign test over users, every user sees both) and by an A/B test of clicks
   per user (users in both arms counted).
4. The per-request cost of assignment (the salted hash and the weight lookup), p50/p99,
   and of a whole route lookup on an engine with a running experiment.

Run:  nice -n 10 .venv/bin/python bench/experiments.py [--experiments 1000] [--output bench/results/experiments.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cartwise.experiments import Assigner
from cartwise.experiments.simulate import (
    SharedPool,
    ab_power,
    interleaving_power,
    simulate_conversions,
    users_for_power,
)
from cartwise.experiments.stats import binomial_interval, sample_size

BASE = 0.05


def false_positives(rng: np.random.Generator, experiments: int) -> dict:
    n = sample_size(base_rate=BASE, lift=0.01)
    rows = {}
    for looks in (1, 20, 100):
        found = simulate_conversions(rng, experiments=experiments, users_per_arm=n, base_rate=BASE, looks=looks)
        rows[looks] = {"fixed": found.fixed, "sequential": found.sequential, "peeking": found.peeking}
    low, high = binomial_interval(round(0.05 * experiments), experiments)
    return {"users_per_arm": n, "experiments": experiments, "by_looks": rows,
            "nominal_interval": [low / experiments, high / experiments]}


def power(rng: np.random.Generator, experiments: int) -> list[dict]:
    rows = []
    for lift in (0.005, 0.01, 0.02):
        n = sample_size(base_rate=BASE, lift=lift)
        fixed = simulate_conversions(rng, experiments=experiments, users_per_arm=n, base_rate=BASE, lift=lift,
                                     looks=20)
        capped = simulate_conversions(rng, experiments=experiments, users_per_arm=2 * n, base_rate=BASE, lift=lift,
                                      looks=40)
        rows.append({"lift": lift, "users_per_arm": n, "fixed_power": fixed.fixed, "peeking_power": fixed.peeking,
                     "sequential_power_at_n": fixed.sequential, "sequential_power_at_2n": capped.sequential,
                     "sequential_mean_users_at_stop": capped.sequential_users})
    return rows


def efficiency(rng: np.random.Generator, experiments: int) -> dict:
    pool = SharedPool()
    interleaved = users_for_power(
        lambda users: interleaving_power(rng, experiments=experiments, users=users, pool=pool), low=100)
    ab_per_arm = users_for_power(
        lambda users: ab_power(rng, experiments=experiments, users_per_arm=users, pool=pool), low=250)
    return {"pool": pool.__dict__, "experiments_per_point": experiments,
            "interleaving_users": interleaved, "ab_users": 2 * ab_per_arm,
            "ratio": round(2 * ab_per_arm / interleaved, 2)}


def _percentiles(samples: list[float]) -> dict:
    values = np.asarray(samples) * 1e6
    return {"p50_us": round(float(np.percentile(values, 50)), 2), "p99_us": round(float(np.percentile(values, 99)), 2)}


def overhead(requests: int) -> dict:
    assigner = Assigner(salt="exp-bench", weights=[1, 1, 2])
    users = [f"user-{n}" for n in range(requests)]
    samples = []
    for user in users:
        started = time.perf_counter()
        assigner.arm(user)
        samples.append(time.perf_counter() - started)
    result = {"assignment": _percentiles(samples)}
    try:
        result["route"] = _route_overhead(users)
    except Exception as exc:  # noqa: BLE001 - the statistics above stand without it
        result["route"] = {"error": repr(exc)}
    return result


def _route_overhead(users: list[str]) -> dict:
    import tempfile

    from cartwise import Engine

    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine.open(Path(tmp) / "store", log_impressions=False)
        engine.experiments.create(name="bench", placements=["search"], variants=[
            {"name": "a"}, {"name": "b", "config": {"kind": "ranking", "answers": {"search": {"rank": "identity"}}}}])
        engine.experiments.route("warm-up", "search")
        samples = []
        for user in users:
            started = time.perf_counter()
            engine.experiments.route(user, "search")
            samples.append(time.perf_counter() - started)
        engine.close()
    return _percentiles(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiments", type=int, default=1000, help="simulated experiments per point")
    parser.add_argument("--efficiency-experiments", type=int, default=100,
                        help="simulated experiments per point of the users-for-80%%-power search")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20261205)
    parser.add_argument("--output", type=Path, default=Path("bench/results/experiments.json"))
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    report = {
        "false_positives": false_positives(rng, args.experiments),
        "power": power(rng, args.experiments),
        "overhead": overhead(args.requests),
    }
    print(json.dumps(report, indent=1))
    report["efficiency"] = efficiency(rng, args.efficiency_experiments)
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps({"efficiency": report["efficiency"], "seconds": report["seconds"]}, indent=1))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
