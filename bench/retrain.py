"""Background retraining on real data: does the gate promote a good candidate, refuse a
worse one, and do answers keep flowing while it works?

The Online Retail slice shipped in the package (the demo store's data), in time order:
the store first holds the catalog and every purchase up to `--new-days` days before the
end, and a version trained on them serves. The newer purchases then arrive. Two
retraining runs of :class:`cartwise.retrain.RetrainWorker` follow, each judged by the
gate on the newest 30% of the new events (each shopper's next new item, NDCG@10, paired
bootstrap over shoppers):

1. a control whose candidate is a weaker recommender on this data (`--control`, ALS: it
   trails item-kNN on Online Retail in bench/recommenders.py): a regression the gate
   should keep aside when the judged shoppers are enough to tell;
2. the worker's own recommender (`--recommender`, the worker's default "auto"): promoted
   unless significantly worse.

Meanwhile a second engine on the same store (a serving node) answers recommendations at
`--rate` per second; its latency idle, while the worker trains, and after the swap, and
any failed answer, are reported.

    python bench/retrain.py [--new-days 7] [--recommender auto] [--encoder none] [--rate 20]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import peak_rss_mb, save  # noqa: E402
from cartwise import Engine  # noqa: E402
from cartwise.demo import EVENT_MAPPING, build_catalog, build_purchases, packaged_slice  # noqa: E402
from cartwise.encode import DEFAULT_ENCODER  # noqa: E402
from cartwise.retrain import RetrainPolicy, RetrainWorker  # noqa: E402


def build(work: Path, *, new_days: float, recommender: str, encoder: str | None) -> tuple[Path, pl.DataFrame, float]:
    """The store holding the catalog and the purchases before the last `new_days` days,
    trained (a version serves); returns its path, the newer purchases and the seconds the
    first training took."""
    data = packaged_slice()
    catalog = build_catalog(data, work / "catalog.parquet")
    purchases = build_purchases(data, work / "purchases.csv")
    scratch = Engine.open(work / "all", log_impressions=False)
    scratch.ingest_items(catalog)
    scratch.ingest_events(purchases, mapping=EVENT_MAPPING)
    events = scratch.store.events()
    scratch.close()
    cutoff = int(events["ts"].max()) - int(new_days * 86_400_000)
    engine = Engine.open(work / "store", log_impressions=False)
    engine.ingest_items(catalog)
    with engine.store.transaction():
        engine.store.insert_events(events.filter(pl.col("ts") <= cutoff))
    started = time.perf_counter()
    engine.train(recommender=recommender, encoder=encoder)
    first_s = time.perf_counter() - started
    engine.close()
    return work / "store", events.filter(pl.col("ts") > cutoff), first_s


class Traffic:
    """Recommendations for random known shoppers at a steady rate from a serving engine,
    each answer's latency, model version and phase recorded."""

    def __init__(self, engine: Engine, users: list[str], *, rate: float) -> None:
        self.engine, self.users, self.rate = engine, users, rate
        self.phase = "idle"
        self.rows: list[tuple[str, float, str]] = []
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        pick = random.Random(7)
        gap = 1.0 / self.rate
        while not self.stop.is_set():
            began = time.perf_counter()
            try:
                self.engine.refresh()  # what a serving node's change feed does: pick up a promoted version
                self.engine.recommend(pick.choice(self.users), k=10)
                took = (time.perf_counter() - began) * 1000
                state = self.engine.state
                self.rows.append((self.phase, took, state.models.version if state is not None else "none"))
            except Exception as exc:  # noqa: BLE001 - every failure is reported, none may happen
                self.failures.append(f"{type(exc).__name__}: {exc}")
            self.stop.wait(max(0.0, gap - (time.perf_counter() - began)))

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for phase in dict.fromkeys(p for p, _, _ in self.rows):
            ms = np.asarray([t for p, t, _ in self.rows if p == phase])
            versions = sorted({v for p, _, v in self.rows if p == phase})
            out[phase] = {"answers": int(ms.size), "p50_ms": round(float(np.percentile(ms, 50)), 2),
                          "p99_ms": round(float(np.percentile(ms, 99)), 2), "versions": versions}
        out["failures"] = self.failures[:10]
        out["failed"] = len(self.failures)
        return out


def gate_run(store: Path, *, recommender: str, encoder: str | None) -> dict[str, Any]:
    engine = Engine.open(store, create=False, log_impressions=False)
    worker = RetrainWorker(store=engine.store, policy=RetrainPolicy(every_events=1), recommender=recommender,
                           encoder=encoder, say=lambda line: print(f"    {line}", flush=True))
    started = time.perf_counter()
    verdict = worker.run_once(force=True)
    took = time.perf_counter() - started
    engine.close()
    assert verdict is not None
    return {"recommender": recommender, "seconds": round(took, 1), **verdict.as_dict()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--new-days", type=float, default=7.0,
                        help="days of purchases that arrive after the first version")
    parser.add_argument("--recommender", default="auto", help="the worker's recommender (its default: auto)")
    parser.add_argument("--first", default=None,
                        help="the recommender of the first serving version (default: --recommender)")
    parser.add_argument("--control", default="als",
                        help="a weaker recommender on this data, as a control candidate")
    parser.add_argument("--encoder", default="default", help="'default' (the worker's) or 'none' (faster)")
    parser.add_argument("--rate", type=float, default=20.0, help="recommendations per second from the serving node")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    encoder = None if args.encoder == "none" else DEFAULT_ENCODER if args.encoder == "default" else args.encoder
    work = args.work or Path(tempfile.mkdtemp(prefix="cartwise-retrain-"))

    print("building the store and its first version ...", flush=True)
    store, newer, first_s = build(work, new_days=args.new_days, recommender=args.first or args.recommender,
                                  encoder=encoder)
    serving = Engine.open(store, create=False, log_impressions=False)
    first_version = serving.versions.current_version()
    users = serving.store.events()["user_id"].unique().sort().to_list()
    traffic = Traffic(serving, users, rate=args.rate)
    traffic.thread.start()
    time.sleep(5)
    traffic.phase = "new events arriving"
    with serving.store.transaction():
        serving.store.insert_events(newer)
    time.sleep(2)

    runs = []
    for name, recommender in (("control", args.control), ("candidate", args.recommender)):
        print(f"{name}: retraining with {recommender} ...", flush=True)
        traffic.phase = f"worker training ({name})"
        runs.append({"run": name, **gate_run(store, recommender=recommender, encoder=encoder)})
        traffic.phase = f"after {name}"
        time.sleep(3)
    traffic.stop.set()
    traffic.thread.join()
    serving_now = serving.versions.current_version()
    serving.close()

    result = {
        "data": "Online Retail slice shipped in the package (2011-11), purchases",
        "new_days": args.new_days, "new_events": newer.height, "encoder": encoder,
        "first_version": first_version, "first_training_s": round(first_s, 1),
        "runs": runs, "serving_after": serving_now, "traffic": traffic.summary(),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    for run in runs:
        diff = run.get("difference")
        interval = (f"diff {diff:+.4f} [{run['ci_low']:+.4f}, {run['ci_high']:+.4f}], p={run['p_value']:.3f}"
                    if diff is not None else "not judged")
        print(f"{run['run']:9s} {run['recommender']:12s} promote={run['promote']!s:5s} shoppers={run['shoppers']} "
              f"candidate={run['candidate_ndcg']} serving={run['serving_ndcg']} {interval} ({run['seconds']} s)")
        print(f"          {run['reason']}")
    for phase, row in result["traffic"].items():
        if isinstance(row, dict):
            print(f"  {phase:28s} {row['answers']:5d} answers  p50 {row['p50_ms']:7.2f} ms  "
                  f"p99 {row['p99_ms']:7.2f} ms  versions {', '.join(row['versions'])}")
    print(f"failed answers: {result['traffic']['failed']}")
    print(f"saved {save('retrain', result)}")


if __name__ == "__main__":
    main()
