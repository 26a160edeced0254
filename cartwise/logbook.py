"""The team's shared record of what it tried: every training run (a saved model version)
and every offline evaluation run (`cartwise evaluate recs`), each with its configuration,
the data it saw, its metrics and the notes people left on it; any two side by side.

Runs stay where they are written (model versions in the models directory, evaluation runs
as JSON files in the runs directory); notes are appended to ``notes.jsonl`` in the runs
directory, one line each, never rewritten, so a crash can cut at most the line being written.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from cartwise.errors import NotFound, NotTrained, ValidationError
from cartwise.evaluate.runs import RunRecord, list_runs
from cartwise.versions import ModelVersions

NOTES_FILE = "notes.jsonl"
MAX_NOTE_CHARS = 4000
TRAINING, EVALUATION = "train", "eval"
# Manifest fields that say how a version was configured (the rest describe its data or results).
_TRAINING_CONFIG = ("recommender", "encoder", "graph_features", "plan")
_TRAINING_DATA = ("items", "events", "users", "catalog_version", "events_version", "events_until_ms", "store_events")


class Note(BaseModel):
    ts_ms: int
    author: str = Field(description="the name of the key (or the CLI user) that wrote it")
    text: str


class Run(BaseModel):
    run_id: str = Field(description="'train:<model version>' or 'eval:<run id>'")
    kind: Literal["training", "evaluation"]
    created_ms: int | None
    title: str = Field(description="one line: the recommender trained, or the split and the best model evaluated")
    config: dict[str, Any] = Field(description="flattened: how the run was configured")
    data: dict[str, Any] = Field(description="what it saw: sizes, store versions, a fingerprint")
    metrics: dict[str, float] = Field(description="flattened numeric results, e.g. 'itemknn.NDCG@10'")
    live: bool = Field(default=False, description="a training run whose version answers now")
    notes: list[Note] = Field(default_factory=list)


class Difference(BaseModel):
    name: str
    a: Any
    b: Any
    delta: float | None = Field(default=None, description="b - a for numbers")


class Comparison(BaseModel):
    a: Run
    b: Run
    config: list[Difference] = Field(description="every configuration field, differing first")
    data: list[Difference]
    metrics: list[Difference] = Field(description="metrics either run has, those both have first")


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dictionaries as one level of dotted names (lists kept as values)."""
    if not isinstance(value, dict):
        return {prefix: value} if prefix else {}
    out: dict[str, Any] = {}
    for key, inner in value.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        out.update(flatten(inner, name) if isinstance(inner, dict) else {name: inner})
    return out


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)}


class Logbook:
    """Training and evaluation runs of one store, newest first, with notes."""

    def __init__(self, *, runs_dir: Path, versions: ModelVersions) -> None:
        self._runs_dir = runs_dir
        self._versions = versions

    def runs(self, *, kind: str | None = None, limit: int = 100) -> list[Run]:
        """The newest `limit` runs (both kinds unless `kind` is "training" or "evaluation")."""
        if kind not in (None, "training", "evaluation"):
            raise ValidationError(f"kind must be training or evaluation, got {kind!r}", field="kind")
        notes = self._notes()
        found: list[Run] = []
        if kind in (None, "training"):
            found += [self._training(v.version, v.live, notes) for v in self._versions.list_versions()]
        if kind in (None, "evaluation"):
            found += [self._evaluation(r, notes) for r in list_runs(self._runs_dir)]
        found.sort(key=lambda r: r.created_ms or 0, reverse=True)
        return found[:limit]

    def get(self, run_id: str) -> Run:
        kind, _, name = run_id.partition(":")
        notes = self._notes()
        if kind == TRAINING and name and (self._versions.models_dir / name).is_dir():
            try:
                return self._training(name, name == self._versions.current_version(), notes)
            except NotTrained:
                pass  # a version being written or pruned
        if kind == EVALUATION and name:
            for record in list_runs(self._runs_dir):
                if record.run_id == name:
                    return self._evaluation(record, notes)
        raise NotFound(f"no run {run_id!r}", hint="run ids look like train:<model version> or eval:<run id>; "
                       "GET /v1/runs lists them")

    def compare(self, a: str, b: str) -> Comparison:
        left, right = self.get(a), self.get(b)
        return Comparison(a=left, b=right, config=_diff(left.config, right.config),
                          data=_diff(left.data, right.data), metrics=_diff(left.metrics, right.metrics, shared_first=True))

    def add_note(self, run_id: str, text: str, *, author: str) -> Note:
        """Append a note to a run (which must exist); returns it."""
        if not isinstance(text, str) or not text.strip():
            raise ValidationError("a note needs some text", field="text")
        if len(text) > MAX_NOTE_CHARS:
            raise ValidationError(f"a note is at most {MAX_NOTE_CHARS} characters, got {len(text)}", field="text")
        self.get(run_id)
        note = Note(ts_ms=int(time.time() * 1000), author=author, text=text.strip())
        self._runs_dir.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"run_id": run_id, **note.model_dump()}, ensure_ascii=False) + "\n"
        fd = os.open(self._runs_dir / NOTES_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())  # one write of one line: appends never interleave
            os.fsync(fd)
        finally:
            os.close(fd)
        return note

    def _notes(self) -> dict[str, list[Note]]:
        out: dict[str, list[Note]] = {}
        try:
            lines = (self._runs_dir / NOTES_FILE).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return out
        for line in lines:
            try:
                entry = json.loads(line)
                out.setdefault(entry.pop("run_id"), []).append(Note(**entry))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut by a crash mid-append
        return out

    def _training(self, version: str, live: bool, notes: dict[str, list[Note]]) -> Run:
        manifest = self._versions.load_manifest(version)
        data = {key: manifest.get(key) for key in _TRAINING_DATA if manifest.get(key) is not None}
        data["fingerprint"] = hashlib.blake2b(json.dumps(data, sort_keys=True).encode(), digest_size=6).hexdigest()
        metrics = _numbers(flatten({"validation": manifest.get("validation") or {}}))
        clicks = manifest.get("clicks") or {}
        metrics |= _numbers(flatten({"clicks": {k: v for k, v in clicks.items() if k.endswith("scores")}}))
        metrics |= _numbers(flatten({"gate": manifest.get("gate") or {}}))
        config = {key: manifest.get(key) for key in _TRAINING_CONFIG if key in manifest}
        if clicks:
            config["clicks"] = clicks.get("model")
        run_id = f"{TRAINING}:{version}"
        return Run(run_id=run_id, kind="training", created_ms=manifest.get("trained_ms"),
                   title=f"trained {manifest.get('recommender') or '?'} on {manifest.get('events', '?')} events",
                   config=flatten(config), data=data, metrics=metrics, live=live, notes=notes.get(run_id, []))

    @staticmethod
    def _evaluation(record: RunRecord, notes: dict[str, list[Note]]) -> Run:
        best = max(record.metrics, key=lambda m: record.metrics[m].get("NDCG@10", 0.0), default=None)
        try:
            created = int(time.mktime(time.strptime(record.created, "%Y-%m-%d %H:%M:%S")) * 1000)
        except ValueError:
            created = None
        metrics = _numbers(flatten(record.metrics)) | _numbers(flatten({"seconds": record.seconds}))
        run_id = f"{EVALUATION}:{record.run_id}"
        return Run(run_id=run_id, kind="evaluation", created_ms=created,
                   title=f"{record.kind} on {record.split}" + (f", best {best}" if best else ""),
                   config=flatten(record.config), data={"split": record.split, "fingerprint": record.data_fingerprint},
                   metrics=metrics, notes=notes.get(run_id, []))


def _diff(a: dict[str, Any], b: dict[str, Any], *, shared_first: bool = False) -> list[Difference]:
    rows = []
    for name in sorted(a.keys() | b.keys()):
        left, right = a.get(name), b.get(name)
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right))
        rows.append(Difference(name=name, a=left, b=right, delta=round(right - left, 6) if numeric else None))

    def order(row: Difference) -> tuple[int, str]:
        if shared_first:
            return (0 if row.a is not None and row.b is not None else 1, row.name)
        return (0 if row.a != row.b else 1, row.name)

    return sorted(rows, key=order)


__all__ = ["Comparison", "Difference", "Logbook", "Note", "Run", "flatten"]
