"""Online updates per event (issue 13 point 3): how fast an accepted event changes the
answers, and whether learning from each event beats retraining nightly.

1. **Prequential replay** of Online Retail in time order (the slice shipped in the package,
   or ``--data`` for the full file): the store holds every purchase before the last
   ``--days`` days, and an item-kNN version trained on them serves. Then each invoice of
   the replayed days, in time order, is first predicted for its shopper (top 10, the items
   of the invoice the shopper had not chosen before are the targets), then learned: stored
   through ``Engine.add_events``, the path every API event takes. Every night (UTC
   midnight) the models are retrained on everything stored so far. Three arms answer each
   invoice from the same serving pipeline (``cartwise.serving.RECOMMEND``):

   - ``nightly``: the models and each shopper's history as of the last retraining (what a
     system that only learns at night knows);
   - ``live history``: the same models, the shopper's history read live (Cartwise before
     the online layer);
   - ``online``: live history plus the online deltas (:mod:`cartwise.online`);
   - ``online + trending``: the same with the ``trending`` stage before the popular fallback.

   NDCG@10 and recall@10 per invoice; paired bootstrap (``cartwise.evaluate.significance``)
   of online against each.
2. **Event-to-effect latency over HTTP**: ``cartwise serve`` on a small trained store; each
   trial posts three shoppers buying two items that were not related, and times from the
   2xx of ``POST /v1/events`` to the first ``GET /v1/items/{a}/similar`` that lists the
   other; and from a shopper's purchase to their changed recommendations.
3. **New item searchable**: from the 2xx of ``POST /v1/items`` to the first search that
   finds it by a word no other item has. Then searches and recommendations at ``--rate``
   a second for ``--load-seconds``, idle and while a client posts batches of 50 purchases
   back to back (p50/p99 of each, the ingest rate reached).

4. **Incremental against full re-index**: one edit and one new item in a catalog of
   ``--catalog`` items: finding the change and appending it against fitting it all again.

5. **The click model's online layer** (``--clicks``): LightGBM on the MIND-small subset's
   first 80% of logs, then the last 20% in time order, predicted by the model alone and
   with :class:`cartwise.online.OnlineClickLayer`, which learns each log after predicting it.

    python bench/online.py [--days 2] [--unit event|invoice] [--trials 50] [--catalog 40000]
                           [--skip-replay] [--skip-http] [--skip-reindex] [--clicks]

Results: bench/results/online.json and a Rich table.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, paired_purchases, peak_rss_mb, save
from cartwise import Engine
from cartwise.demo import EVENT_MAPPING, build_catalog, build_purchases, packaged_slice
from cartwise.evaluate.significance import compare
from cartwise.limits import HISTORY_LENGTH
from cartwise.online import OnlineClickLayer
from cartwise.recommend import Interaction
from cartwise.search import LexicalIndex
from cartwise.serving import RECOMMEND, Cascade, Pipeline, Request, Tier

DAY_MS = 86_400_000
K = 10
ARMS = ("nightly", "live history", "online", "online + trending")
# The default cascade with what is trending today before the popular fallback.
TRENDING = Cascade(tiers=(*RECOMMEND.tiers[:-1], Tier(("trending", "popularity"))))


# 1. prequential replay ------------------------------------------------------------------


def _metrics(answer: list[str], targets: set[str]) -> tuple[float, float]:
    gains = [1.0 / math.log2(n + 2) for n, item in enumerate(answer[:K]) if item in targets]
    ideal = sum(1.0 / math.log2(n + 2) for n in range(min(len(targets), K)))
    return sum(gains) / ideal, len(gains) / len(targets)


def replay(*, data: Path, days: int, unit: str, every_days: int, work: Path, console: Console) -> dict[str, Any]:
    """The replay of section 1 of the module docstring; `unit` "event" predicts each
    purchase line (the items the shopper put in the same invoice before it are history),
    "invoice" each invoice's new items at once. The models are retrained every `every_days`
    days (1: nightly)."""
    catalog = build_catalog(data, work / "catalog.parquet")
    purchases = build_purchases(data, work / "purchases.csv")
    scratch = Engine.open(work / "all", log_impressions=False)
    scratch.ingest_items(catalog)
    scratch.ingest_events(purchases, mapping=EVENT_MAPPING)
    # Lines of one invoice share a minute: their order within it is the store's key order.
    events = scratch.store.events().sort("ts", "session_id", "event_key")
    scratch.close()
    end = int(events["ts"].max())
    start = (end // DAY_MS - days + 1) * DAY_MS  # midnight, `days` days before the last
    warm, later = events.filter(pl.col("ts") < start), events.filter(pl.col("ts") >= start)

    engine = Engine.open(work / "store", log_impressions=False)
    engine.ingest_items(catalog)
    with engine.store.transaction():
        engine.store.insert_events(warm)
    pipelines = {arm: Pipeline(TRENDING if arm == "online + trending" else RECOMMEND) for arm in ARMS}
    histories: dict[str, list[Interaction]] = {}
    for user, item, ts in warm.select("user_id", "item_id", "ts").iter_rows():
        histories.setdefault(user, []).insert(0, Interaction(item_id=item, event_type="purchase", ts=ts))

    if unit == "invoice":
        steps = (
            later.group_by("session_id", maintain_order=True)
            .agg(pl.col("user_id").first(), pl.col("ts").min().alias("first"), pl.col("item_id"), pl.col("ts"),
                 pl.col("value"))
            .sort("first")
        )
    else:
        steps = later.select("session_id", "user_id", pl.col("ts").alias("first"),
                             pl.concat_list("item_id").alias("item_id"), pl.concat_list("ts").alias("ts"),
                             pl.concat_list("value").alias("value"))
    scores: dict[str, list[tuple[float, float]]] = {arm: [] for arm in ARMS}
    trains: list[float] = []
    nightly: dict[str, list[Interaction]] = {}
    day = -1
    first_day = start // DAY_MS
    learn_ms: list[float] = []
    skipped = 0
    started = time.perf_counter()
    for row in steps.iter_rows(named=True):
        if row["first"] // DAY_MS != day and (day < 0 or (row["first"] // DAY_MS - first_day) % every_days == 0):
            day = row["first"] // DAY_MS
            began = time.perf_counter()
            # The answers judged here never read the click model: left out, it would be
            # nine tenths of each retrain.
            engine.train(recommender="itemknn", encoder=None, clicks=False)
            trains.append(time.perf_counter() - began)
            nightly = {u: list(h[:HISTORY_LENGTH]) for u, h in histories.items()}
            console.print(f"  day {day - first_day + 1}/{days}: retrained in {trains[-1]:.1f} s; "
                          f"{len(scores['online'])} {unit}s judged so far")
        user = row["user_id"]
        live = histories.get(user, [])[:HISTORY_LENGTH]
        targets = set(row["item_id"]) - {e.item_id for e in live}
        state = engine.state
        assert state is not None
        if targets:
            frozen = replace(state, online=None)
            for arm, arm_state, history in (
                ("nightly", frozen, nightly.get(user, [])),
                ("live history", frozen, live),
                ("online", state, live),
                ("online + trending", state, live),
            ):
                seen = {e.item_id for e in history}
                request = Request(state=arm_state, k=K, history=list(history), exclude_seen=True, taken=set(seen))
                answer = [i.item_id for i in pipelines[arm].answer(request)]
                scores[arm].append(_metrics(answer, targets))
        else:
            skipped += 1
        records = [
            {"user_id": user, "item_id": item, "event_type": "purchase", "timestamp": ts // 1000,
             "session_id": row["session_id"], "value": value}
            for item, ts, value in zip(row["item_id"], row["ts"], row["value"], strict=True)
        ]
        began = time.perf_counter()
        engine.add_events(records)
        learn_ms.append((time.perf_counter() - began) * 1000)
        for item, ts in zip(row["item_id"], row["ts"], strict=True):
            histories.setdefault(user, []).insert(0, Interaction(item_id=item, event_type="purchase", ts=ts))
    engine.close()

    result: dict[str, Any] = {
        "data": str(data), "unit": unit, "replayed_days": days, "retrained_every_days": every_days, "warm_events": warm.height,
        "replayed_events": later.height, "judged": len(scores["online"]), "skipped_nothing_new": skipped,
        "replay_s": round(time.perf_counter() - started, 1), "train_s_mean": round(float(np.mean(trains)), 2),
        "add_events_ms_p50": round(float(np.percentile(learn_ms, 50)), 2),
        "add_events_ms_p99": round(float(np.percentile(learn_ms, 99)), 2),
        "arms": {}, "comparisons": {},
    }
    for arm in ARMS:
        values = np.array(scores[arm])
        result["arms"][arm] = {"ndcg@10": round(float(values[:, 0].mean()), 4),
                               "recall@10": round(float(values[:, 1].mean()), 4)}
    online = np.array(scores["online"])
    for arm in ("nightly", "live history", "online + trending"):
        base = np.array(scores[arm])
        for column, metric in enumerate(("ndcg@10", "recall@10")):
            c = compare(base[:, column], online[:, column])
            result["comparisons"][f"online vs {arm}: {metric}"] = {
                "difference": round(c.difference, 4), "ci95": [round(c.ci_low, 4), round(c.ci_high, 4)],
                "p_bootstrap": round(c.p_bootstrap, 4), "p_ttest": float(f"{c.p_ttest:.3g}"),
                "significant": c.significant,
            }
    return result


# 2 and 3. latency over HTTP ---------------------------------------------------------------

PAIRS = 40


def _http_store(path: Path) -> str:
    """Items p0..p79 in pairs each bought together by five shoppers, trained; an admin key."""
    engine = Engine.open(path, log_impressions=False)
    engine.upsert_items([{"item_id": f"p{i}", "title": f"Product {i}", "category": f"Shelf {i // 2}",
                          "price": 10 + i % 7} for i in range(2 * PAIRS)])
    report = engine.add_events(paired_purchases(PAIRS))
    assert report.rows_rejected == 0, report.rejects[:3]
    engine.train(recommender="itemknn", encoder=None)
    key = engine.create_key("admin").secret
    engine.close()
    return key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _until(check: Any, *, timeout: float = 10.0) -> float | None:
    """Seconds until `check()` is true (polled back to back), None past `timeout`."""
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        if check():
            return time.perf_counter() - began
    return None


def _summary(values: list[float | None]) -> dict[str, Any]:
    done = np.array([v * 1000 for v in values if v is not None])
    return {"trials": len(values), "changed": int(done.size),
            "p50_ms": round(float(np.percentile(done, 50)), 2) if done.size else None,
            "p99_ms": round(float(np.percentile(done, 99)), 2) if done.size else None,
            "max_ms": round(float(done.max()), 2) if done.size else None}


def http_latency(
    *, trials: int, work: Path, console: Console, load_seconds: float, rate: float
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    store = work / "http-store"
    key = _http_store(store)
    port = _free_port()
    log = open(work / "serve.log", "ab")  # noqa: SIM115 - lives as long as the server
    server = subprocess.Popen(
        [sys.executable, "-m", "cartwise.cli.main", "serve", "--store", str(store), "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_WAIT_POLICY": "PASSIVE"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
            if _until(lambda: _up(http), timeout=240) is None:
                raise RuntimeError((work / "serve.log").read_text()[-2000:])
            together: list[float | None] = []
            own: list[float | None] = []
            searchable: list[float | None] = []
            rng = np.random.default_rng(0)
            t = 1_702_000_000
            for trial in range(trials):
                # Two items of different pairs, not yet similar.
                a, b = (int(x) for x in rng.choice(2 * PAIRS, size=2, replace=False))
                before = _similar(http, f"p{a}")
                if f"p{b}" in before:
                    continue
                events = [{"user_id": f"fan-{trial}-{u}", "item_id": f"p{item}", "event_type": "purchase",
                           "timestamp": t + trial * 10 + n} for u in range(3) for n, item in enumerate((a, b))]
                assert http.post("/v1/events", json={"events": events}).status_code == 200
                together.append(_until(lambda a=a, b=b: f"p{b}" in _similar(http, f"p{a}")))
                # A seed shopper buys an item of another pair: their own answer changes.
                user = f"seed-{a // 2}-0"
                was = _recommended(http, user)
                # An item whose partner is not shown yet either: the partner must come in.
                other = next(i for i in range(2 * PAIRS)
                             if i // 2 != a // 2 and f"p{i}" not in was and f"p{i ^ 1}" not in was)
                event = {"user_id": user, "item_id": f"p{other}", "event_type": "purchase",
                         "timestamp": t + trial * 10 + 5}
                assert http.post("/v1/events", json={"events": [event]}).status_code == 200
                own.append(_until(lambda user=user, was=was: _recommended(http, user) != was))
                word = f"zyx{trial}quux"
                item = {"item_id": f"new-{trial}", "title": f"Lantern {word}", "category": "Shelf new", "price": 5}
                assert http.post("/v1/items", json={"items": [item]}).status_code == 200
                searchable.append(_until(lambda word=word, trial=trial: f"new-{trial}" in _found(http, word)))
            console.print(f"  {len(together)} trials over HTTP")
            if load_seconds > 0:
                load = {"idle": paced_answers(base, key, rate=rate, seconds=load_seconds)}
                stop = threading.Event()
                posted: list[float] = []
                writer = threading.Thread(target=ingest_loop, args=(base, key, stop, posted), daemon=True)
                writer.start()
                load["during ingest"] = paced_answers(base, key, rate=rate, seconds=load_seconds)
                stop.set()
                writer.join(timeout=30)
                load["during ingest"]["ingest_events_per_s"] = round(len(posted) * INGEST_BATCH / load_seconds, 1)
                load["during ingest"]["ingest_ack_p99_ms"] = round(float(np.percentile(posted, 99)) * 1000, 1) \
                    if posted else None
                console.print(f"  {rate} answers/s for {load_seconds} s idle, then during ingest")
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    out: dict[str, Any] = {"co_purchase_to_similar_items": _summary(together),
                           "purchase_to_own_recommendations": _summary(own), "new_item_to_search": _summary(searchable)}
    return out, load if load_seconds > 0 else None


INGEST_BATCH = 50


def ingest_loop(base: str, key: str, stop: threading.Event, posted: list[float]) -> None:
    """Batches of 50 purchases by new shoppers of random pairs, back to back, until `stop`;
    each acknowledgement's seconds appended to `posted`."""
    rng = np.random.default_rng(1)
    n = 0
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        while not stop.is_set():
            events = [{"user_id": f"load-{n + j // 2}", "item_id": f"p{int(rng.integers(2 * PAIRS))}",
                       "event_type": "purchase", "timestamp": 1_703_000_000 + n + j} for j in range(INGEST_BATCH)]
            n += INGEST_BATCH
            began = time.perf_counter()
            if http.post("/v1/events", json={"events": events}).status_code == 200:
                posted.append(time.perf_counter() - began)


def paced_answers(base: str, key: str, *, rate: float, seconds: float) -> dict[str, Any]:
    """Searches and recommendations, alternating, at `rate` a second in all (two client
    threads on a fixed schedule, so a slow answer does not slow the offered rate)."""
    timings: dict[str, list[float]] = {"search": [], "recommend": []}
    failures = [0]
    lock = threading.Lock()

    def client(offset: int) -> None:
        rng = np.random.default_rng(offset)
        gap = 2.0 / rate
        start = time.perf_counter() + offset / rate
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
            n = 0
            while True:
                due = start + n * gap
                if due - start > seconds:
                    break
                time.sleep(max(0.0, due - time.perf_counter()))
                kind = "search" if (n + offset) % 2 == 0 else "recommend"
                began = time.perf_counter()
                if kind == "search":
                    response = http.get("/v1/search", params={"q": f"product {int(rng.integers(80))}", "k": 10})
                else:
                    user = f"seed-{int(rng.integers(PAIRS))}-{int(rng.integers(5))}"
                    response = http.get(f"/v1/users/{user}/recommendations", params={"k": 10})
                took = time.perf_counter() - began
                with lock:
                    if response.status_code == 200:
                        timings[kind].append(took)
                    else:
                        failures[0] += 1
                n += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out: dict[str, Any] = {"failed": failures[0]}
    for kind, values in timings.items():
        ms = np.array(values) * 1000
        out[kind] = {"answers": int(ms.size), "p50_ms": round(float(np.percentile(ms, 50)), 2),
                     "p99_ms": round(float(np.percentile(ms, 99)), 2)}
    return out


def _up(http: httpx.Client) -> bool:
    try:
        return http.get("/v1/live").status_code == 200
    except httpx.TransportError:
        time.sleep(0.2)
        return False


def _similar(http: httpx.Client, item: str) -> list[str]:
    return [i["item_id"] for i in http.get(f"/v1/items/{item}/similar", params={"k": 10}).json()["items"]]


def _recommended(http: httpx.Client, user: str) -> list[str]:
    return [i["item_id"] for i in http.get(f"/v1/users/{user}/recommendations", params={"k": 10}).json()["items"]]


def _found(http: httpx.Client, word: str) -> list[str]:
    return [i["item_id"] for i in http.get("/v1/search", params={"q": word, "k": 5}).json()["items"]]


# 4. incremental against full re-index ----------------------------------------------------


def reindex_costs(*, items: int, data: Path, console: Console) -> dict[str, Any]:
    """A catalog of `items` products (Online Retail's descriptions in numbered variants),
    indexed whole; then one edit and one new item: the time to find what changed and append
    it (what the live state does) against fitting the whole catalog again."""
    lines = pl.read_csv(data, infer_schema=False, columns=["StockCode", "Description", "UnitPrice"])
    base = lines.drop_nulls().unique("StockCode", keep="first").sort("StockCode")
    variants = -(-items // base.height)
    catalog = pl.concat([
        base.select(
            (pl.col("StockCode") + f"-{v}").alias("item_id"),
            (pl.col("Description").str.to_titlecase() + f" variant {v}").alias("title"),
            pl.lit(f"Range {v}").alias("category"),
            pl.col("UnitPrice").cast(pl.Float64, strict=False).alias("price"),
        )
        for v in range(variants)
    ]).head(items)
    began = time.perf_counter()
    index = LexicalIndex().fit(catalog)
    full_s = time.perf_counter() - began
    first = catalog.row(0, named=True)
    edited = {**first, "title": "Zebra striped lantern"}
    new = {"item_id": "new-owl", "title": "Glowing owl night lamp", "category": "Range new", "price": 4.5}
    after = pl.concat([catalog.slice(1), pl.DataFrame([edited, new], schema=catalog.schema)])
    began = time.perf_counter()
    changed = index.changed(after)
    changed_s = time.perf_counter() - began
    began = time.perf_counter()
    grown = index.appended(changed)
    append_s = time.perf_counter() - began
    found = [h.item_id for h in grown.search("owl lamp", k=1)] + [h.item_id for h in grown.search("zebra lantern", k=1)]
    console.print(f"  {catalog.height} items: full fit {full_s:.2f} s; find changes {changed_s * 1000:.0f} ms, "
                  f"append {append_s * 1000:.0f} ms")
    return {"items": catalog.height, "changed": changed.height, "full_fit_s": round(full_s, 3),
            "find_changes_ms": round(changed_s * 1000, 1), "append_ms": round(append_s * 1000, 1),
            "speedup": round(full_s / (changed_s + append_s), 1),
            "found_after_append": found == ["new-owl", first["item_id"]]}


# 5. the click model's online layer -------------------------------------------------------


def click_layer(*, resamples: int, console: Console) -> dict[str, Any]:
    """MIND-small subset split in time as bench/clicks.py splits it (70% train, 10%
    validation, last 20% test): LightGBM trained on the first 80%, then the test logs in
    time order, each predicted by the model alone and by the model with the online layer,
    after which the layer learns the log's clicks."""
    from bench.clicks import MIND_SPEC, _params, load_mind
    from cartwise.clicks import registry
    from cartwise.clicks.calibration import auc, log_loss, paired_bootstrap

    rows = load_mind()
    logs = rows["impression"].unique(maintain_order=True).to_numpy()
    part = pl.Series("impression", logs)
    cut_train, cut_valid = int(0.7 * logs.size), int(0.8 * logs.size)
    train = rows.filter(pl.col("impression").is_in(part[:cut_train].implode()))
    valid = rows.filter(pl.col("impression").is_in(part[cut_train:cut_valid].implode()))
    test = rows.filter(pl.col("impression").is_in(part[cut_valid:].implode()))
    began = time.perf_counter()
    model = registry.get("gbdt").build(MIND_SPEC, **_params("gbdt", "mind", 2, 300))
    model.fit(train, label="clicked", validation=valid)
    fit_s = time.perf_counter() - began
    trained = model.predict(test)
    layer = OnlineClickLayer()
    online = np.empty_like(trained)
    items = test["item_id"].to_list()
    y = test["clicked"].to_numpy()
    bounds = np.flatnonzero(np.r_[True, test["impression"].to_numpy()[1:] != test["impression"].to_numpy()[:-1],
                                  True])
    began = time.perf_counter()
    for lo, hi in itertools.pairwise(bounds.tolist()):
        online[lo:hi] = layer.predict(items[lo:hi], trained[lo:hi])
        layer.learn(items[lo:hi], trained[lo:hi], y[lo:hi])
    learn_us = (time.perf_counter() - began) / max(test.height, 1) * 1e6
    console.print(f"  MIND: gbdt fitted in {fit_s:.0f} s; {test.height} test rows, layer {learn_us:.0f} us a row")
    out: dict[str, Any] = {"rows": {"train": train.height, "validation": valid.height, "test": test.height},
                           "clicks_test": int(y.sum()), "fit_s": round(fit_s, 1),
                           "layer_us_per_row": round(learn_us, 1), "weights": layer.weights_.round(4).tolist()}
    for name, p in (("trained", trained), ("trained + online layer", online)):
        out[name] = {"auc": round(auc(y, p), 4), "log_loss": round(log_loss(y, p), 5)}
    for metric in ("auc", "log_loss"):
        d = paired_bootstrap(metric, y, trained, online, resamples=resamples)
        out[f"{metric}: online - trained"] = {"difference": round(d.difference, 5), "ci95": [round(d.low, 5),
                                              round(d.high, 5)], "p": round(d.p_value, 4)}
    return out


# output ------------------------------------------------------------------------------------


def show(result: dict[str, Any], console: Console) -> None:
    if "replay" in result:
        r = result["replay"]
        table = Table(title=f"Prequential replay, Online Retail: last {r['replayed_days']} days, "
                            f"{r['judged']} {r['unit']}s judged (top {K})")
        table.add_column("arm")
        table.add_column("NDCG@10", justify="right")
        table.add_column("recall@10", justify="right")
        for arm, row in r["arms"].items():
            table.add_row(arm, f"{row['ndcg@10']:.4f}", f"{row['recall@10']:.4f}")
        console.print(table)
        table = Table(title=f"Online against each (paired bootstrap over {r['unit']}s)")
        for column in ("comparison", "difference", "95% CI", "p (bootstrap)", "significant"):
            table.add_column(column)
        for name, c in r["comparisons"].items():
            table.add_row(name, f"{c['difference']:+.4f}", f"[{c['ci95'][0]:+.4f}, {c['ci95'][1]:+.4f}]",
                          f"{c['p_bootstrap']:.4f}", "yes" if c["significant"] else "no")
        console.print(table)
    if "reindex" in result:
        r = result["reindex"]
        table = Table(title=f"One edit and one new item in a {r['items']:,}-item catalog (lexical index)")
        for column in ("full re-index", "find changes", "append", "speed-up", "found"):
            table.add_column(column, justify="right")
        table.add_row(f"{r['full_fit_s']:.2f} s", f"{r['find_changes_ms']:.0f} ms", f"{r['append_ms']:.0f} ms",
                      f"{r['speedup']}x", "yes" if r["found_after_append"] else "no")
        console.print(table)
    if "clicks" in result:
        c = result["clicks"]
        table = Table(title=f"Click model's online layer, MIND test logs in time order ({c['rows']['test']:,} rows)")
        for column in ("model", "AUC", "log loss"):
            table.add_column(column, justify="right")
        for name in ("trained", "trained + online layer"):
            table.add_row(name, f"{c[name]['auc']:.4f}", f"{c[name]['log_loss']:.5f}")
        for metric in ("auc", "log_loss"):
            d = c[f"{metric}: online - trained"]
            table.add_row(f"difference ({metric})", f"{d['difference']:+.5f}",
                          f"[{d['ci95'][0]:+.5f}, {d['ci95'][1]:+.5f}] p={d['p']}")
        console.print(table)
    if "load" in result:
        table = Table(title="Answers at a steady rate over HTTP, idle and during sustained ingest (ms)")
        for column in ("phase", "search p50", "search p99", "recommend p50", "recommend p99", "failed", "ingest ev/s"):
            table.add_column(column, justify="right")
        for phase, row in result["load"].items():
            table.add_row(phase, str(row["search"]["p50_ms"]), str(row["search"]["p99_ms"]),
                          str(row["recommend"]["p50_ms"]), str(row["recommend"]["p99_ms"]), str(row["failed"]),
                          str(row.get("ingest_events_per_s", "-")))
        console.print(table)
    if "http" in result:
        table = Table(title="From the 2xx to a changed answer, over HTTP (ms)")
        for column in ("effect", "trials", "changed", "p50", "p99", "max"):
            table.add_column(column, justify="right")
        for name, row in result["http"].items():
            table.add_row(name, str(row["trials"]), str(row["changed"]), str(row["p50_ms"]), str(row["p99_ms"]),
                          str(row["max_ms"]))
        console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None,
                        help="an Online Retail CSV (default: the slice shipped in the package)")
    parser.add_argument("--days", type=int, default=2, help="days replayed in time order (default 2)")
    parser.add_argument("--unit", choices=("event", "invoice"), default="event",
                        help="predict each purchase line (default) or each invoice's new items at once")
    parser.add_argument("--every-days", type=int, default=1,
                        help="retrain every this many days of the replay (default 1: nightly)")
    parser.add_argument("--trials", type=int, default=50, help="HTTP latency trials (default 50)")
    parser.add_argument("--load-seconds", type=float, default=15,
                        help="seconds of answers at --rate idle, then during sustained ingest (0: skip)")
    parser.add_argument("--rate", type=float, default=50, help="searches + recommendations a second (default 50)")
    parser.add_argument("--catalog", type=int, default=40_000, help="items of the re-index comparison (default 40000)")
    parser.add_argument("--skip-replay", action="store_true", help="leave out the prequential replay")
    parser.add_argument("--skip-reindex", action="store_true", help="leave out the re-index comparison")
    parser.add_argument("--skip-http", action="store_true", help="leave out the HTTP latencies")
    parser.add_argument("--clicks", action="store_true",
                        help="also the click model's online layer on MIND (fits LightGBM: a few minutes more)")
    parser.add_argument("--name", default="online", help="results file name under bench/results/")
    args = parser.parse_args()
    console = Console()
    result: dict[str, Any] = {"command": " ".join(["python", "bench/online.py", *sys.argv[1:]])}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.skip_http:
            console.print("event-to-effect latency over HTTP ...")
            result["http"], load = http_latency(trials=args.trials, work=work, console=console,
                                                load_seconds=args.load_seconds, rate=args.rate)
            if load is not None:
                result["load"] = load
        if not args.skip_reindex:
            console.print("incremental against full re-index ...")
            result["reindex"] = reindex_costs(items=args.catalog, data=args.data or packaged_slice(), console=console)
        if not args.skip_replay:
            console.print("prequential replay ...")
            result["replay"] = replay(data=args.data or packaged_slice(), days=args.days, unit=args.unit,
                                      every_days=args.every_days, work=work,
                                      console=console)
        if args.clicks:
            console.print("the click model's online layer on MIND ...")
            result["clicks"] = click_layer(resamples=1000, console=console)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    show(result, console)
    console.print(f"saved {save(args.name, result)}")


if __name__ == "__main__":
    main()
