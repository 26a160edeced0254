"""Data operations: the event stream minute by minute, ingest rejects by reason, shoppers
flagged as bots, how far serving lags behind the data, and alerts when a metric leaves its
normal band."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel, Field

from cartwise.insights.snapshot import DAY_MS, MINUTE_MS, Snapshot

# A model older than this, with events it has not learnt from, is stale.
STALE_MODEL_MS = 7 * DAY_MS
# The quiet stretch that counts as "events stopped", and the history its normal rate comes from.
QUIET_MS = 15 * MINUTE_MS
HISTORY_MS = DAY_MS


class Alert(BaseModel):
    metric: str
    severity: str = Field(description="warning or critical")
    message: str
    value: float | None = None
    band: tuple[float, float] | None = Field(default=None, description="the normal band the value left")


class OperationsReport(BaseModel):
    now_ms: int
    events_per_minute: dict[str, Any] = Field(
        description="the last 60 minutes (wall clock): minute start times and one count series per event type")
    last_event_ms: int | None
    ingest_runs: list[dict[str, Any]]
    rejects_by_reason: list[dict[str, Any]] = Field(description="from the reject reports of the runs listed")
    flagged_users: dict[str, Any]
    freshness: dict[str, Any] = Field(
        description="the model in service: its age, and how many event and catalog versions serving is behind")
    alerts: list[Alert]
    event_lag: dict[str, Any] | None = Field(
        default=None, description="this server's event-to-effect lag: writes it acknowledged, the bucket bounds (s) "
        "their median and 99th percentile wait for a snapshot that includes them, the oldest still waiting")
    click_model: dict[str, Any] | None = Field(
        default=None, description="the click model in service: what it learnt from, its held-out AUC, log loss, "
        "calibration error and reliability curve, against its baseline")


def _per_minute(snapshot: Snapshot, now_ms: int) -> dict[str, Any]:
    first = now_ms // MINUTE_MS - 59
    recent = snapshot.since(first * MINUTE_MS)
    minutes = list(range(first, first + 60))
    counts = recent.with_columns((pl.col("ts") // MINUTE_MS).alias("minute")).group_by("event_type", "minute").agg(
        pl.len().alias("n"))
    series: dict[str, list[int]] = {}
    for kind in sorted(set(counts["event_type"].to_list())):
        found = dict(counts.filter(pl.col("event_type") == kind).select("minute", "n").iter_rows())
        series[kind] = [int(found.get(m, 0)) for m in minutes]
    return {"minute_ms": [m * MINUTE_MS for m in minutes], "series": series, "total": recent.height}


def _rejects(runs: list[dict[str, Any]], reports_dir: Path, read: dict[str, pl.DataFrame]) -> list[dict[str, Any]]:
    """Reasons counted from the runs' reject reports, read only inside this store's reports
    folder; a report never changes once written, so each is read once (kept in `read`)."""
    root = reports_dir.resolve()
    counts = []
    for run in runs:
        name = run["report_path"]
        if not name:
            continue
        path = Path(name)
        if name not in read:
            if not path.resolve().is_relative_to(root) or not path.is_file():
                continue
            frame = pl.read_ndjson(path, schema={"field": pl.Utf8, "reason": pl.Utf8}, ignore_errors=True)
            read[name] = frame.group_by("field", "reason").agg(pl.len().alias("rows"))
        counts.append(read[name])
    if not counts:
        return []
    total = pl.concat(counts).with_columns(pl.col("field").fill_null(""), pl.col("reason").fill_null("unknown"))
    return (total.group_by("field", "reason").agg(pl.col("rows").sum())
            .sort(["rows", "field", "reason"], descending=[True, False, False]).head(20).to_dicts())


def _events_alert(snapshot: Snapshot, now_ms: int) -> Alert | None:
    """Events stopped: none in the last 15 minutes where the day before saw enough to expect
    some (a Poisson count of 0 is below the band when its mean is over 3)."""
    recent = snapshot.since(now_ms - HISTORY_MS - QUIET_MS)
    quiet = recent.filter(pl.col("ts") > now_ms - QUIET_MS).height
    before = recent.filter(pl.col("ts") <= now_ms - QUIET_MS).height
    expected = before * QUIET_MS / HISTORY_MS
    low = max(0.0, expected - 2 * math.sqrt(expected))
    if expected > 3 and quiet < low:
        return Alert(metric="events_per_15_min", severity="critical", value=quiet,
                     band=(round(low, 1), round(expected + 2 * math.sqrt(expected), 1)),
                     message=f"{quiet} events in the last 15 minutes; the day before averaged {expected:.1f}")
    return None


def _ctr_alert(snapshot: Snapshot) -> Alert | None:
    """The last day's click-through rate below the band of the 7 days before (mean ± 2
    standard deviations, at least the binomial spread of the last day's count)."""
    answers = snapshot.answers.group_by("day").agg(pl.col("shown").sum().alias("shown"))
    clicks = snapshot.attributed.filter(pl.col("event_type") == "click").unique(["request_id", "item_id"]).with_columns(
        (pl.col("impression_ts") // DAY_MS).alias("day")).group_by("day").agg(pl.len().alias("clicks"))
    daily = answers.join(clicks, on="day", how="left").with_columns(pl.col("clicks").fill_null(0)).sort("day")
    daily = daily.filter(pl.col("shown") >= 20)
    if daily.height < 4:
        return None
    rates = (daily["clicks"] / daily["shown"]).to_list()
    last, history = rates[-1], rates[-8:-1]
    mean = sum(history) / len(history)
    spread = max(math.sqrt(sum((r - mean) ** 2 for r in history) / len(history)),
                 math.sqrt(max(mean * (1 - mean), 1e-9) / int(daily["shown"][-1])))
    low = mean - 2 * spread
    if last < low:
        return Alert(metric="ctr", severity="warning", value=round(last, 4), band=(round(low, 4), round(mean + 2 *
                     spread, 4)), message=f"click-through rate {last:.1%} on the last day; normally {mean:.1%}")
    return None


def _reject_alert(runs: list[dict[str, Any]]) -> Alert | None:
    """The latest ingest's reject share above the runs before (mean + 3 sd, and at least 5 points more)."""
    rates = [r["reject_rate"] for r in runs if r["rows_read"]]
    if len(rates) < 2:
        return None
    last, history = rates[0], rates[1:]
    mean = sum(history) / len(history)
    sd = math.sqrt(sum((r - mean) ** 2 for r in history) / len(history))
    high = max(mean + 3 * sd, mean + 0.05)
    if last > high:
        return Alert(metric="reject_rate", severity="warning", value=round(last, 4), band=(0.0, round(high, 4)),
                     message=f"the latest ingest rejected {last:.1%} of its rows; before, {mean:.1%}")
    return None


def operations_report(
    snapshot: Snapshot,
    *,
    now_ms: int,
    reports_dir: Path,
    reports_read: dict[str, pl.DataFrame],
    model: dict[str, Any] | None,
    serving_versions: tuple[int, int] | None,
) -> OperationsReport:
    runs = []
    for run in snapshot.store.ingest_runs(limit=20):
        row = {k: getattr(run, k) for k in ("run_id", "kind", "source", "started_ms", "finished_ms", "rows_read",
                                            "rows_written", "rows_rejected", "rows_duplicate", "report_path")}
        row["reject_rate"] = round(run.rows_rejected / run.rows_read, 5) if run.rows_read else 0.0
        runs.append(row)
    flagged = snapshot.store.flagged_users()
    catalog_version, events_version = snapshot.versions
    freshness: dict[str, Any] = {"model_version": None, "store_events_version": events_version,
                                 "store_catalog_version": catalog_version}
    alerts = [a for a in (_events_alert(snapshot, now_ms), _ctr_alert(snapshot), _reject_alert(runs)) if a]
    if model is not None:
        age = now_ms - int(model.get("trained_ms") or now_ms)
        behind = events_version - int(model.get("events_version") or 0)
        freshness.update(model_version=model["version"], trained_ms=model.get("trained_ms"), model_age_ms=age,
                         events_versions_since_training=behind)
        if age > STALE_MODEL_MS and behind > 0:
            alerts.append(Alert(metric="model_age_days", severity="warning", value=round(age / DAY_MS, 1),
                                band=(0.0, STALE_MODEL_MS / DAY_MS),
                                message=f"the model in service is {age / DAY_MS:.0f} days old and {behind} event "
                                "batches behind: retrain (`cartwise train` or `serve --worker`)"))
    else:
        alerts.append(Alert(metric="model", severity="critical", message="no model in service: run `cartwise train`"))
    if serving_versions is not None:
        freshness.update(serving_catalog_version=serving_versions[0], serving_events_version=serving_versions[1],
                         serving_events_behind=events_version - serving_versions[1])
    last = snapshot.events["ts"].max()
    return OperationsReport(
        now_ms=now_ms, events_per_minute=_per_minute(snapshot, now_ms),
        last_event_ms=int(last) if last is not None else None,  # type: ignore[arg-type]
        ingest_runs=[{k: v for k, v in r.items() if k != "report_path"} for r in runs],
        rejects_by_reason=_rejects(runs, reports_dir, reports_read),
        flagged_users={"count": flagged.height, "recent": flagged.sort("flagged_ms", descending=True).head(20)
                       .to_dicts()},
        freshness=freshness, alerts=alerts, click_model=(model or {}).get("clicks"),
    )
