"""Click models on real impression logs: AUC, log loss and expected calibration error of
logistic regression, LightGBM and DeepFM(+DIN) on the same features, with stratified
bootstrap 95% intervals and the paired bootstrap of each model against logistic
regression; on Open Bandit also an inverse-propensity estimate of the click rate a greedy
ranking by each model's predicted CTR would get, next to the logging policy's own.

Data (../shared/data/ctr_logs, see its PROVENANCE.md):
- Open Bandit (ZOZOTOWN), campaign "all", policies "random" and "bts": 10,000 logged
  slots each, 38 and 42 clicks. Features: the 4 user features, the user's affinity to the
  shown item, the item's context (item_context.csv), the item id, the hour; the position
  is a training-only feature (serving predictions use slot 1). So few clicks do not allow
  a single held-out split: the log is cut into `--folds` contiguous blocks in time and
  every block is predicted by models trained on the others (cross-fitting; 15% of the
  training rows, at random, stop the GBDT and deep model early). The greedy policy of each
  fold puts each round's 3 best-predicted of the 80 items in slots 1-3; IPS and SNIPS
  weigh each logged slot by 1/propensity when the policy would have shown that item
  there. Sanity check on the bts log: IPS of the uniform random policy (target 1/80)
  against the random log's observed click rate.
- MIND-small subset (news, 5,000 impression logs, 189k candidates, ~4% clicked), split by
  time: first 70% of logs train, next 10% validate, last 20% test. Features: item id
  (ids seen < 5 times unknown), history length, hour, candidates in the log, the item's
  earlier impressions, clicks and smoothed CTR (counted over all logs before the row's
  own, as a live counter would); the deep model also attends over the last 50 clicked
  items (DIN). MIND has no positions.

Run:  nice .venv/bin/python bench/clicks.py   (about 10-15 minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.common import SHARED_DATA, peak_rss_mb, save  # noqa: E402
from cartwise.clicks import registry  # noqa: E402
from cartwise.clicks.calibration import bootstrap_interval, paired_bootstrap, reliability_curve  # noqa: E402
from cartwise.clicks.features import FeatureSpec  # noqa: E402
from cartwise.clicks.offpolicy import greedy_slates, ips, observed_rate, slate_probability  # noqa: E402

CTR = SHARED_DATA / "ctr_logs"
MODELS = ("logistic", "gbdt", "deep")
ECE_BINS, ECE_STRATEGY = 10, "quantile"

OBD_SPEC = FeatureSpec(
    numeric=("affinity", "item_feature_0"),
    categorical=("user_feature_0", "user_feature_1", "user_feature_2", "user_feature_3", "item_id",
                 "item_feature_1", "item_feature_2", "item_feature_3", "hour"),
    position="position",
)
MIND_SPEC = FeatureSpec(
    numeric=("history_length", "hour", "candidates", "prior_impressions", "prior_clicks", "prior_ctr"),
    categorical=("item_id",), history="history", item="item_id", max_history=50, min_count=5,
)


def _params(name: str, dataset: str, threads: int, max_seconds: float) -> dict[str, Any]:
    if name == "logistic":
        return {}
    if name == "gbdt":
        return {"threads": threads, "rounds": 1000}
    small = dataset.startswith("obd")
    return {"threads": threads, "max_seconds": max_seconds, "epochs": 20 if small else 8,
            "batch_size": 256 if small else 1024, "lr": 3e-3 if small else 2e-3, "dim": 8 if small else 16}


# data ------------------------------------------------------------------------------------


def load_obd(policy: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The logged slots (with the shown item's affinity and context) and the item table."""
    folder = CTR / "open_bandit" / policy / "all"
    log = pl.read_csv(folder / "all.csv").drop("")
    items = pl.read_csv(folder / "item_context.csv").drop("")
    affinity = log.select([f"user-item_affinity_{i}" for i in range(items.height)]).to_numpy()
    log = log.with_columns(
        pl.Series("affinity", affinity[np.arange(log.height), log["item_id"].to_numpy()]),
        pl.col("timestamp").str.slice(11, 2).cast(pl.Int64).alias("hour"),
    ).sort("timestamp")
    return log.join(items, on="item_id", how="left"), items


def obd_candidates(rows: pl.DataFrame, items: pl.DataFrame) -> pl.DataFrame:
    """Every item as a candidate for each logged round (rounds x items, round-major)."""
    user = rows.select("user_feature_0", "user_feature_1", "user_feature_2", "user_feature_3", "hour",
                       *[f"user-item_affinity_{i}" for i in range(items.height)])
    affinity = user.select([f"user-item_affinity_{i}" for i in range(items.height)]).to_numpy().ravel()
    base = user.drop([f"user-item_affinity_{i}" for i in range(items.height)])
    repeated = base.select(pl.all().repeat_by(items.height).explode())
    tiled = pl.concat([items] * rows.height)
    return pl.concat([repeated, tiled], how="horizontal").with_columns(pl.Series("affinity", affinity))


def load_mind() -> pl.DataFrame:
    """One row per candidate: the log's time, user, history and the candidate's label."""
    raw = pl.read_csv(CTR / "mind_small_subset" / "behaviors.tsv", separator="\t", has_header=False,
                      new_columns=["impression", "user", "time", "history", "shown"], quote_char=None)
    logs = raw.with_columns(
        pl.col("time").str.strptime(pl.Datetime, "%m/%d/%Y %I:%M:%S %p"),
        pl.col("history").fill_null("").str.split(" ").list.eval(pl.element().filter(pl.element() != "")),
        pl.col("shown").str.split(" "),
    ).sort("time", "impression")
    rows = logs.with_columns(pl.col("shown").list.len().alias("candidates")).explode("shown").with_columns(
        pl.col("shown").str.split("-").list.get(0).alias("item_id"),
        pl.col("shown").str.split("-").list.get(1).cast(pl.Int64).alias("clicked"),
        pl.col("history").list.len().alias("history_length"),
        pl.col("time").dt.hour().alias("hour"),
    )
    # The item's impressions and clicks in all earlier logs (its own log excluded).
    rows = rows.with_columns(
        (pl.col("clicked").cum_sum().over("item_id") - pl.col("clicked")).alias("prior_clicks"),
        (pl.int_range(pl.len()).over("item_id")).alias("prior_impressions"),
    ).with_columns(((pl.col("prior_clicks") + 0.04 * 20) / (pl.col("prior_impressions") + 20)).alias("prior_ctr"))
    return rows.select("impression", "user", "time", "history", "item_id", "clicked", "history_length", "hour",
                       "candidates", "prior_impressions", "prior_clicks", "prior_ctr")


# evaluation ------------------------------------------------------------------------------


def score_models(y: np.ndarray, predictions: dict[str, np.ndarray], resamples: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, p in predictions.items():
        row: dict[str, Any] = {}
        for metric in ("auc", "log_loss", "ece"):
            iv = bootstrap_interval(metric, y, p, resamples=resamples, bins=ECE_BINS, strategy=ECE_STRATEGY)
            row[metric] = {"value": iv.value, "low": iv.low, "high": iv.high}
        if name != "logistic" and "logistic" in predictions:
            for metric in ("auc", "log_loss"):
                d = paired_bootstrap(metric, y, predictions["logistic"], p, resamples=resamples)
                row[f"{metric}_vs_logistic"] = {"difference": d.difference, "low": d.low, "high": d.high,
                                                "p": d.p_value}
        row["reliability"] = [vars(b) for b in reliability_curve(y, p, bins=ECE_BINS, strategy=ECE_STRATEGY)]
        out[name] = row
    return out


def run_obd(policy: str, args: argparse.Namespace, console: Console) -> dict[str, Any]:
    log, items = load_obd(policy)
    n = log.height
    folds = np.array_split(np.arange(n), args.folds)
    oof = {name: np.zeros(n) for name in (*MODELS, "constant")}
    target = {name: np.zeros(n) for name in MODELS}
    seconds = dict.fromkeys(MODELS, 0.0)
    rng = np.random.default_rng(0)
    for k, test_rows in enumerate(folds):
        train_rows = np.setdiff1d(np.arange(n), test_rows)
        held = rng.random(train_rows.size) < 0.15
        train, valid, test = log[train_rows[~held]], log[train_rows[held]], log[test_rows]
        oof["constant"][test_rows] = log[train_rows]["click"].mean()
        candidates = obd_candidates(test, items)
        for name in MODELS:
            started = time.perf_counter()
            model = registry.get(name).build(OBD_SPEC, **_params(name, f"obd_{policy}", args.threads,
                                                                     args.max_seconds))
            model.fit(train, label="click", validation=valid)
            seconds[name] += time.perf_counter() - started
            oof[name][test_rows] = model.predict(test, logged_position=True)
            scores = model.predict(candidates).reshape(test.height, items.height)
            slates = greedy_slates(scores, 3)
            target[name][test_rows] = slate_probability(slates, test["item_id"].to_numpy(),
                                                        test["position"].to_numpy() - 1)
        console.log(f"obd {policy}: fold {k + 1}/{args.folds} done")
    y = log["click"].to_numpy()
    clicks, propensity = y.astype(float), log["propensity_score"].to_numpy()
    policies: dict[str, Any] = {"logged": vars(observed_rate(clicks, resamples=args.resamples))}
    for name in MODELS:
        for normalised in (False, True):
            est = ips(clicks, target[name], propensity, self_normalized=normalised, resamples=args.resamples)
            policies[f"greedy_{name}_{est.estimator}"] = vars(est)
    return {"rows": n, "clicks": int(y.sum()), "folds": args.folds, "fit_seconds": seconds,
            "models": score_models(y, oof, args.resamples), "policies": policies}


def run_mind(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    rows = load_mind()
    logs = rows["impression"].unique(maintain_order=True).to_numpy()
    cut_train, cut_valid = int(0.7 * logs.size), int(0.8 * logs.size)
    part = pl.Series("impression", logs)
    train = rows.filter(pl.col("impression").is_in(part[:cut_train].implode()))
    valid = rows.filter(pl.col("impression").is_in(part[cut_train:cut_valid].implode()))
    test = rows.filter(pl.col("impression").is_in(part[cut_valid:].implode()))
    console.log(f"mind: train {train.height} rows, validation {valid.height}, test {test.height}")
    predictions = {"constant": np.full(test.height, train["clicked"].mean())}
    seconds, records = {}, {}
    for name in MODELS:
        started = time.perf_counter()
        model = registry.get(name).build(MIND_SPEC, **_params(name, "mind", args.threads, args.max_seconds))
        model.fit(train, label="clicked", validation=valid)
        seconds[name] = time.perf_counter() - started
        predictions[name] = model.predict(test)
        if hasattr(model, "record_"):
            records[name] = {"epochs": len(model.record_.train_loss), "best_epoch": model.record_.best_epoch,
                             "validation_loss": model.record_.validation_loss}
        console.log(f"mind: {name} fitted in {seconds[name]:.0f} s")
    y = test["clicked"].to_numpy()
    return {"rows": {"train": train.height, "validation": valid.height, "test": test.height},
            "clicks_test": int(y.sum()), "fit_seconds": seconds, "training": records,
            "models": score_models(y, predictions, args.resamples)}


# output ----------------------------------------------------------------------------------

LABELS = {"constant": "Constant (training CTR)", **{n: registry.get(n).label for n in MODELS}}


def _iv(d: dict[str, float], digits: int = 4) -> str:
    return f"{d['value']:.{digits}f} [{d['low']:.{digits}f}, {d['high']:.{digits}f}]"


def print_tables(results: dict[str, Any], console: Console) -> None:
    for dataset, result in results["datasets"].items():
        table = Table(title=f"{dataset}: click models (95% bootstrap intervals; ECE over {ECE_BINS} "
                            f"{ECE_STRATEGY} bins)")
        for col in ("model", "AUC", "log loss", "ECE", "AUC - logistic [95%] p", "fit s"):
            table.add_column(col)
        for name, row in result["models"].items():
            diff = row.get("auc_vs_logistic")
            table.add_row(
                LABELS[name], _iv(row["auc"], 3), _iv(row["log_loss"]), _iv(row["ece"]),
                f"{diff['difference']:+.3f} [{diff['low']:+.3f}, {diff['high']:+.3f}] {diff['p']:.3f}" if diff else "",
                f"{result['fit_seconds'].get(name, 0):.0f}" if name in result["fit_seconds"] else "",
            )
        console.print(table)
        if "policies" in result:
            policy_table = Table(title=f"{dataset}: click rate per shown slot (95% bootstrap intervals)")
            for col in ("policy", "estimator", "click rate", "matched rows", "effective size"):
                policy_table.add_column(col)
            for key, est in result["policies"].items():
                name = "logging policy (observed)" if key == "logged" else "greedy by " + LABELS[key.split("_")[1]]
                policy_table.add_row(name, est["estimator"], _iv(est, 5), str(est["matched"]),
                                     f"{est['effective_size']:.0f}")
            console.print(policy_table)
    if "random_policy_from_bts" in results:
        check = results["random_policy_from_bts"]
        console.print(f"IPS check: uniform random policy estimated from the bts log {_iv(check['ips'], 5)}; "
                      f"observed in the random log {_iv(check['observed'], 5)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="obd_random,obd_bts,mind",
                        help="comma-separated: obd_random, obd_bts, mind (default: all three)")
    parser.add_argument("--folds", type=int, default=5, help="contiguous time blocks on Open Bandit (default 5)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for LightGBM and PyTorch (default 2)")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="training budget of one deep model")
    parser.add_argument("--output", default="clicks", help="results name under bench/results (default clicks)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    console = Console(width=180)
    started = time.perf_counter()
    wanted = [d.strip() for d in args.datasets.split(",") if d.strip()]
    results: dict[str, Any] = {"protocol": __doc__.split("Run:")[0].strip(), "ece": f"{ECE_BINS} {ECE_STRATEGY} bins",
                               "resamples": args.resamples, "datasets": {}}
    for dataset in wanted:
        if dataset.startswith("obd_"):
            results["datasets"][dataset] = run_obd(dataset[4:], args, console)
        elif dataset == "mind":
            results["datasets"][dataset] = run_mind(args, console)
        else:
            parser.error(f"unknown dataset {dataset!r}")
    if {"obd_random", "obd_bts"} <= set(wanted):
        bts, _ = load_obd("bts")
        random_log, _ = load_obd("random")
        results["random_policy_from_bts"] = {
            "ips": vars(ips(bts["click"].to_numpy(), np.full(bts.height, 1 / 80), bts["propensity_score"].to_numpy(),
                            resamples=args.resamples)),
            "observed": vars(observed_rate(random_log["click"].to_numpy(), resamples=args.resamples)),
        }
    results["wall_seconds"] = time.perf_counter() - started
    results["peak_rss_mb"] = peak_rss_mb()
    results["threads"] = args.threads
    print_tables(results, console)
    path = save(args.output, results)
    console.print(f"wall time {results['wall_seconds']:.0f} s; results in {path}")


if __name__ == "__main__":
    main()
