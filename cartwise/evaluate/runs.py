"""Evaluation runs recorded on disk, so a team can compare what it tried.

Each run is one JSON file: configuration, data fingerprint, metrics per model and
timings. `list_runs` reads them back newest first.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl


def fingerprint(events: pl.DataFrame) -> str:
    """A short hash of the evaluated events (same data -> same fingerprint)."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(str(events.shape).encode())
    ordered = events.select("user_id", "item_id", "ts").sort(["user_id", "ts", "item_id"])
    for batch in ordered.iter_slices(200_000):
        digest.update(batch.write_csv(include_header=False).encode())
    return digest.hexdigest()


@dataclass
class RunRecord:
    kind: str
    split: str
    data_fingerprint: str
    config: dict[str, Any]
    metrics: dict[str, dict[str, float]]
    seconds: dict[str, float]
    comparisons: dict[str, dict[str, float | bool]] = field(default_factory=dict)
    run_id: str = ""
    created: str = ""

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        if not self.run_id:
            self.run_id = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
            self.created = time.strftime("%Y-%m-%d %H:%M:%S")
        path = directory / f"{self.kind}-{self.run_id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)
        return path


def list_runs(directory: Path, *, kind: str | None = None) -> list[RunRecord]:
    if not directory.exists():
        return []
    runs = []
    for path in sorted(directory.glob("*.json"), reverse=True):
        data = json.loads(path.read_text())
        if kind is None or data.get("kind") == kind:
            runs.append(RunRecord(**data))
    return runs
