"""Ingest rate and training time on the full Online Retail file (541,909 invoice lines).

Baseline in the same run: the same rows parsed by polars and bulk-inserted into a bare
SQLite table with no validation, cleaning, de-duplication or index — the floor any
validating ingest on SQLite pays. Run:  .venv/bin/python bench/ingest_train.py
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.table import Table

from bench.common import RETAIL, peak_rss_mb, save
from cartwise import Engine
from cartwise.demo import EVENT_MAPPING, build_catalog


def bare_load(data: Path, workdir: Path) -> float:
    started = time.perf_counter()
    frame = pl.read_csv(data, infer_schema=False)
    conn = sqlite3.connect(workdir / "bare.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"CREATE TABLE lines ({', '.join(f'c{i} TEXT' for i in range(frame.width))})")
    conn.execute("BEGIN")
    conn.executemany(
        f"INSERT INTO lines VALUES ({', '.join('?' for _ in range(frame.width))})",
        zip(*(c.to_list() for c in frame.iter_columns())),
    )
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=RETAIL)
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        baseline_s = bare_load(args.data, workdir)
        engine = Engine.open(workdir / "store")
        catalog = build_catalog(args.data, workdir / "catalog.parquet")
        items = engine.ingest_items(catalog)
        events = engine.ingest_events(args.data, mapping=EVENT_MAPPING, unknown_items="reject")
        rerun = engine.ingest_events(args.data, mapping=EVENT_MAPPING, unknown_items="reject")
        started = time.perf_counter()
        trained = engine.train()
        train_s = time.perf_counter() - started
    rate = events.rows_read / events.seconds
    result = {
        "data": str(args.data),
        "rows": events.rows_read,
        "events_written": events.rows_written,
        "events_rejected": events.rows_rejected,
        "events_duplicate": events.rows_duplicate,
        "items": items.rows_written,
        "ingest_seconds": round(events.seconds, 3),
        "ingest_rows_per_s": round(rate),
        "rerun_seconds": round(rerun.seconds, 3),
        "rerun_written": rerun.rows_written,
        "baseline_bare_load_seconds": round(baseline_s, 3),
        "ingest_vs_bare_load": round(events.seconds / baseline_s, 2),
        "train_seconds": round(train_s, 3),
        "train_steps": trained.seconds,
        "peak_rss_mb": round(peak_rss_mb()),
    }
    table = Table(title="ingest + train, full Online Retail")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        if key != "train_steps":
            table.add_row(key, f"{value:,}" if isinstance(value, (int, float)) else str(value))
    console.print(table)
    console.print(f"saved {save('ingest_train', result)}")


if __name__ == "__main__":
    main()
