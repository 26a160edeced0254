"""Trained model versions of a store, saved side by side and swapped atomically.

``models/CURRENT`` names the live version; training writes a new version directory
completely, then replaces ``CURRENT`` with one atomic rename. A crash mid-train leaves
the previous version live, and a running server notices the new ``CURRENT`` and swaps
models without a restart.

Versions are kept side by side (the newest :data:`KEEP_VERSIONS`, the live one and the
one a rollback would return to): :meth:`ModelVersions.promote` makes any kept version live,
:meth:`ModelVersions.rollback` returns to the version that was live before, and
``models/history.jsonl`` records every promotion and rollback with its reason. A train may
save a version without promoting it (a candidate the retraining gate judges first).

A version is written in ``models/.staging-<version>`` while its process holds an exclusive
lock on ``.staging-<version>.lock`` beside it. A staging directory whose lock nobody holds
(its train was killed) and that is older than the current process is removed when a
ModelVersions opens and when a train starts; a concurrent train's directory is left alone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cartwise.errors import ModelMismatch, NotFound, NotTrained, ValidationError
from cartwise.feedback.click_model import ClickPredictor
from cartwise.graph.graph import GRAPH_DIR, RelationGraph
from cartwise.graph.signals import GraphSignals
from cartwise.recommend import HistoryRecommender, ItemKNN, Popularity
from cartwise.recommend import registry as recommenders
from cartwise.recommend.rating import RatingPredictor
from cartwise.search import LexicalIndex
from cartwise.store.commits import committed
from cartwise.vectors import VectorIndex

MANIFEST = "manifest.json"
# The personalised recommenders a version can hold (`train --recommender`), from the registry.
RECOMMENDERS = recommenders.names(personal=True)
CURRENT = "CURRENT"
# Promotions and rollbacks, one JSON object per line, oldest first.
HISTORY = "history.jsonl"
# Versions kept on disk besides the live one and the rollback target.
KEEP_VERSIONS = 2
FORMAT_VERSION = 1
STAGING_PREFIX = ".staging-"
# Staging directories modified after this process started may belong to a train that has
# just begun (or to this process): never removed as stale.
_PROCESS_STARTED = time.time()

try:
    import fcntl
except ImportError:  # not POSIX: staging dirs are judged by their process id alone
    fcntl = None  # type: ignore[assignment]


@dataclass
class ModelSet:
    """The models one `train` produced, used together to answer."""

    version: str
    manifest: dict[str, Any]
    lexical: LexicalIndex
    vectors: VectorIndex | None
    """Item embeddings for semantic search (``manifest["encoder"]`` made them), or None."""
    popularity: Popularity
    itemknn: ItemKNN
    recommender: HistoryRecommender
    """The model behind personalised recommendations (``manifest["recommender"]``);
    the item-kNN itself unless another was chosen at training time."""
    clicks: ClickPredictor | None = None
    """Predicts click-through of candidates (``manifest["clicks"]``); None when the store
    held too little behaviour to learn it."""
    ratings: RatingPredictor | None = None
    """Predicts explicit star ratings (``manifest["ratings"]``); None when the store held
    too few rating events, and in versions saved before rating prediction existed."""


def recommender_class(name: str) -> Any:
    """The class of a personalised recommender by its registered name."""
    return _personal(name).model_class()


def _personal(name: str) -> recommenders.RecommenderSpec:
    if name not in RECOMMENDERS:
        raise ValidationError(f"unknown recommender {name!r}", field="recommender", hint=f"choose one of {RECOMMENDERS}")
    return recommenders.get(name)


@dataclass(frozen=True)
class VersionInfo:
    """One saved version as `cartwise models list` shows it."""

    version: str
    trained_ms: int | None
    recommender: str | None
    events: int | None
    live: bool
    promoted_ms: int | None
    """When it last went live (None: never, such as a candidate the gate refused)."""
    gate: dict[str, Any] | None
    """The retraining gate's verdict on it, when a scheduled retrain made it."""


class ModelVersions:
    """Saves and loads :class:`ModelSet` versions under a store's models directory."""

    def __init__(self, *, models_dir: Path, store_id: str) -> None:
        self.models_dir = models_dir
        self.store_id = store_id
        # Staging directories of these versions' trains -> the descriptor holding their lock.
        self._held: dict[Path, int] = {}
        self.remove_stale_staging()

    def current_version(self) -> str | None:
        try:
            return (self.models_dir / CURRENT).read_text().strip() or None
        except FileNotFoundError:
            return None

    def new_staging_dir(self) -> tuple[str, Path]:
        """A new version name and its staging directory, locked until :meth:`save` or
        :meth:`discard_staging`; stale staging directories are removed first."""
        self.remove_stale_staging()
        # Names sort in training order (to the millisecond: several trains may start
        # within one second), which pruning and listing rely on.
        now = time.time()
        version = (time.strftime("v%Y%m%d-%H%M%S", time.localtime(now)) + f"-{int(now * 1000) % 1000:03d}"
                   + f"-{os.getpid()}-{time.monotonic_ns() % 1_000_000:06d}")
        path = self.models_dir / f"{STAGING_PREFIX}{version}"
        self.models_dir.mkdir(parents=True, exist_ok=True)
        # Locked before the directory exists, so no cleanup ever sees it unowned.
        held = _try_lock(_lock_path(path))
        assert held is not None, "a fresh lock file cannot be locked by another process"
        try:
            path.mkdir()
        except BaseException:
            _release(_lock_path(path), held)
            raise
        self._held[path] = held
        return version, path

    def discard_staging(self, staging: Path) -> None:
        """Remove a staging directory that was not saved (a failed or stopped train) and
        release its lock; nothing to do after :meth:`save`."""
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        held = self._held.pop(staging, None)
        if held is not None:
            _release(_lock_path(staging), held)

    def remove_stale_staging(self) -> list[Path]:
        """Remove staging directories left by trains that were killed: older than this
        process and locked by no live process (without a lock file, from an older
        Cartwise: whose process id in the name is not running). Returns those removed."""
        removed: list[Path] = []
        try:
            paths = sorted(self.models_dir.glob(f"{STAGING_PREFIX}*"))
        except OSError:
            return removed
        for path in paths:
            if path.suffix == ".lock" or path in self._held:
                continue
            try:
                if path.stat().st_mtime >= _PROCESS_STARTED:
                    continue
            except OSError:
                continue
            lock = _lock_path(path)
            if lock.exists() and fcntl is not None:
                held = _try_lock(lock)
                if held is None:
                    continue  # a live train owns it
                shutil.rmtree(path, ignore_errors=True)
                _release(lock, held)
            elif not _process_alive(path.name):
                shutil.rmtree(path, ignore_errors=True)
                lock.unlink(missing_ok=True)
            else:
                continue
            removed.append(path)
        for lock in self.models_dir.glob(f"{STAGING_PREFIX}*.lock"):
            # A lock whose directory is gone: left when a train died between the two.
            try:
                # Gone since the listing when another train just saved or discarded its version.
                fresh = lock.stat().st_mtime >= _PROCESS_STARTED
            except OSError:
                continue
            if not lock.with_suffix("").exists() and not fresh:
                held = _try_lock(lock)
                if held is not None:
                    _release(lock, held)
        return removed

    def save(self, models: ModelSet, staging: Path, *, promote: bool = True, reason: str = "trained") -> None:
        """Write every model into `staging`, then (unless `promote` is false: a candidate
        kept for judging) make it the live version."""
        models.lexical.save(staging / "lexical")
        if models.vectors is not None:
            models.vectors.save(staging / "vectors")
        models.popularity.save(staging / "popularity")
        models.itemknn.save(staging / "itemknn")
        if models.recommender is not models.itemknn:
            models.recommender.save(staging / "recommender")
        if models.ratings is not None:
            models.ratings.save(staging / "ratings")
        if models.clicks is not None:
            models.clicks.save(staging / "clicks")
        manifest = {**models.manifest, "format_version": FORMAT_VERSION, "store_id": self.store_id}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
        final = self.models_dir / models.version
        os.replace(staging, final)
        held = self._held.pop(staging, None)
        if held is not None:
            _release(_lock_path(staging), held)
        if promote:
            self._make_live(models.version, action="promote", reason=reason)
        self.prune(keep=KEEP_VERSIONS)

    # versions in service ---------------------------------------------------------------

    def list_versions(self) -> list[VersionInfo]:
        """Every complete version on disk, newest first."""
        live = self.current_version()
        promoted: dict[str, int] = {}
        for entry in self.history():
            promoted[entry["version"]] = int(entry["ts_ms"])
        found = []
        for path in self._version_dirs():
            try:
                manifest = json.loads((path / MANIFEST).read_text())
            except (OSError, ValueError):
                continue  # being pruned, or damaged: not a version one can promote
            found.append(
                VersionInfo(
                    version=path.name,
                    trained_ms=manifest.get("trained_ms"),
                    recommender=manifest.get("recommender"),
                    events=manifest.get("events"),
                    live=path.name == live,
                    promoted_ms=promoted.get(path.name),
                    gate=manifest.get("gate"),
                )
            )
        return sorted(found, key=lambda v: v.version, reverse=True)

    def history(self) -> list[dict[str, Any]]:
        """Promotions and rollbacks, oldest first."""
        try:
            lines = (self.models_dir / HISTORY).read_text().splitlines()
        except FileNotFoundError:
            return []
        entries = []
        for line in lines:
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue  # a line cut by a crash mid-append
        return entries

    def promote(self, version: str, *, reason: str = "promoted by hand") -> str:
        """Make a kept `version` live (it must load on this store); returns it."""
        self._check_loadable(version)
        self._make_live(version, action="promote", reason=reason)
        return version

    def rollback(self, *, reason: str = "rolled back by hand") -> str:
        """Return to the version that was live before the current one; returns it."""
        stack = self._live_stack()
        current = self.current_version()
        while stack and stack[-1] == current:
            stack.pop()
        while stack and not (self.models_dir / stack[-1] / MANIFEST).exists():
            stack.pop()  # pruned
        if not stack:
            raise NotFound(
                "there is no earlier version to roll back to",
                hint="`cartwise models list` shows the kept versions; `cartwise models promote VERSION` picks one",
            )
        target = stack[-1]
        self._check_loadable(target)
        self._make_live(target, action="rollback", reason=reason)
        return target

    def rollback_target(self) -> str | None:
        """The version :meth:`rollback` would make live, or None."""
        current = self.current_version()
        for version in reversed(self._live_stack()):
            if version != current and (self.models_dir / version / MANIFEST).exists():
                return version
        return None

    def _live_stack(self) -> list[str]:
        """Versions in the order they went live, a rollback undoing its promotion."""
        stack: list[str] = []
        for entry in self.history():
            if entry.get("action") == "rollback":
                while stack and stack[-1] != entry["version"]:
                    stack.pop()
                if not stack:
                    stack.append(entry["version"])
            else:
                stack.append(entry["version"])
        return stack

    def load_manifest(self, version: str) -> dict[str, Any]:
        """A saved version's manifest (what it was trained on, its reports)."""
        try:
            manifest: dict[str, Any] = json.loads((self.models_dir / version / MANIFEST).read_text())
        except (OSError, ValueError) as exc:
            raise NotTrained(
                f"model version {version} is missing or damaged: {exc}", hint="run `cartwise train`"
            ) from exc
        return manifest

    def annotate(self, version: str, **fields: Any) -> None:
        """Add `fields` to a saved version's manifest (the retraining gate's verdict)."""
        path = self.models_dir / version / MANIFEST
        manifest = json.loads(path.read_text())
        manifest.update(fields)
        scratch = path.with_name(f".{MANIFEST}.tmp")
        scratch.write_text(json.dumps(manifest, indent=2))
        os.replace(scratch, path)

    def _check_loadable(self, version: str) -> None:
        if not re.fullmatch(r"v[0-9A-Za-z_.-]+", version) or not (self.models_dir / version).is_dir():
            raise NotFound(
                f"no model version {version!r} in this store",
                field="version",
                hint="`cartwise models list` shows the kept versions",
            )
        self.load(version)  # raises NotTrained / ModelMismatch with the reason

    def _make_live(self, version: str, *, action: str, reason: str) -> None:
        """Point CURRENT at `version` and record why, serialised across processes."""
        self.models_dir.mkdir(parents=True, exist_ok=True)
        lock = os.open(self.models_dir / ".promote.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            previous = self.current_version()
            pointer = self.models_dir / f".{CURRENT}.tmp"
            pointer.write_text(version)
            os.replace(pointer, self.models_dir / CURRENT)
            entry = {"ts_ms": int(time.time() * 1000), "version": version, "action": action,
                     "reason": reason, "previous": previous}
            with open(self.models_dir / HISTORY, "a", encoding="utf-8") as out:
                out.write(json.dumps(entry) + "\n")
        finally:
            os.close(lock)
        # Servers in this process (and, through a bus change feed, in others) switch now.
        committed(self.store_id, "models")

    def _version_dirs(self) -> list[Path]:
        try:
            return sorted(p for p in self.models_dir.iterdir() if p.is_dir() and p.name.startswith("v"))
        except FileNotFoundError:
            return []

    def load(self, version: str | None = None) -> ModelSet:
        version = version or self.current_version()
        if version is None:
            raise NotTrained("no trained models in this store", hint="run `cartwise train` first")
        path = self.models_dir / version
        try:
            manifest = json.loads((path / MANIFEST).read_text())
        except (OSError, ValueError) as exc:
            raise NotTrained(f"model version {version} is missing or damaged: {exc}", hint="run `cartwise train`")
        if manifest.get("store_id") != self.store_id:
            raise ModelMismatch(
                f"model version {version} was trained on store {manifest.get('store_id')}, not on this store "
                f"({self.store_id})",
                hint="train on this store with `cartwise train`",
            )
        if manifest.get("format_version") != FORMAT_VERSION:
            raise ModelMismatch(
                f"model version {version} has format {manifest.get('format_version')}, this Cartwise reads "
                f"{FORMAT_VERSION}",
                hint="retrain with `cartwise train`",
            )
        itemknn = ItemKNN.load(path / "itemknn")
        name = manifest.get("recommender", "itemknn")
        recommender = itemknn if name == "itemknn" else _personal(name).load(path / "recommender")
        if getattr(recommender, "uses_relations", False) and (path / GRAPH_DIR).exists():
            # A ranker trained with relation features reads them from this version's graph.
            recommender.attach_relations(GraphSignals(graph=RelationGraph.load(path / GRAPH_DIR)))
        return ModelSet(
            version=version,
            manifest=manifest,
            lexical=LexicalIndex.load(path / "lexical"),
            vectors=VectorIndex.load(path / "vectors") if (path / "vectors").exists() else None,
            popularity=Popularity.load(path / "popularity"),
            itemknn=itemknn,
            recommender=recommender,
            ratings=RatingPredictor.load(path / "ratings") if (path / "ratings").exists() else None,
            clicks=ClickPredictor.load(path / "clicks") if (path / "clicks").exists() else None,
        )

    def prune(self, *, keep: int) -> None:
        """Delete all but the newest `keep` versions (never the live one nor the one a
        rollback returns to) and stale staging dirs."""
        spared = {self.current_version(), self.rollback_target()}
        for path in self._version_dirs()[:-keep]:
            if path.name not in spared:
                shutil.rmtree(path, ignore_errors=True)
        self.remove_stale_staging()


def _lock_path(staging: Path) -> Path:
    return staging.with_name(staging.name + ".lock")


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding an exclusive lock on `path` (created if missing), or
    None when another open file (another process, or another ModelVersions) holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    if fcntl is None:
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _release(path: Path, fd: int) -> None:
    """Delete a lock file this process holds, then let go of it."""
    path.unlink(missing_ok=True)
    os.close(fd)


def _process_alive(staging_name: str) -> bool:
    """Whether the process whose id is in a staging directory's name is running (True
    when the name carries none: such a directory is not ours to judge)."""
    found = re.search(r"-(\d+)-\d{6}$", staging_name)
    if found is None:
        return True
    try:
        os.kill(int(found.group(1)), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by another user
    return True
