"""Trained model versions of a store, saved side by side and swapped atomically.

``models/CURRENT`` names the live version; training writes a new version directory
completely, then replaces ``CURRENT`` with one atomic rename. A crash mid-train leaves
the previous version live, and a running server notices the new ``CURRENT`` and swaps
models without a restart.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cartwise.errors import ModelMismatch, NotTrained, ValidationError
from cartwise.recommend import ALS, BPR, HistoryRecommender, ItemKNN, Popularity
from cartwise.recommend.rating import RatingPredictor
from cartwise.search import LexicalIndex
from cartwise.vectors import VectorIndex

MANIFEST = "manifest.json"
RECOMMENDERS = ("itemknn", "als", "bpr", "sequential", "twotower", "textknn", "blend")
CURRENT = "CURRENT"
FORMAT_VERSION = 1


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
    ratings: RatingPredictor | None = None
    """Predicts explicit star ratings (``manifest["ratings"]``); None when the store held
    too few rating events, and in versions saved before rating prediction existed."""


def recommender_class(name: str) -> Any:
    """The class of a personalised recommender by its registered name."""
    if name == "itemknn":
        return ItemKNN
    if name == "als":
        return ALS
    if name == "bpr":
        return BPR
    if name == "sequential":
        from cartwise.recommend.sequential import SequentialRecommender

        return SequentialRecommender
    if name == "textknn":
        from cartwise.recommend.textknn import TextKNN

        return TextKNN
    if name == "twotower":
        from cartwise.recommend.twotower import TwoTowerRecommender

        return TwoTowerRecommender
    if name == "blend":
        from cartwise.recommend.blend import BlendRecommender

        return BlendRecommender
    raise ValidationError(f"unknown recommender {name!r}", field="recommender", hint=f"choose one of {RECOMMENDERS}")


class ModelRegistry:
    """Saves and loads :class:`ModelSet` versions under a store's models directory."""

    def __init__(self, *, models_dir: Path, store_id: str) -> None:
        self.models_dir = models_dir
        self.store_id = store_id

    def current_version(self) -> str | None:
        try:
            return (self.models_dir / CURRENT).read_text().strip() or None
        except FileNotFoundError:
            return None

    def new_staging_dir(self) -> tuple[str, Path]:
        version = time.strftime("v%Y%m%d-%H%M%S") + f"-{os.getpid()}-{time.monotonic_ns() % 1_000_000:06d}"
        path = self.models_dir / f".staging-{version}"
        path.mkdir(parents=True)
        return version, path

    def save(self, models: ModelSet, staging: Path) -> None:
        """Write every model into `staging`, then make it the live version."""
        models.lexical.save(staging / "lexical")
        if models.vectors is not None:
            models.vectors.save(staging / "vectors")
        models.popularity.save(staging / "popularity")
        models.itemknn.save(staging / "itemknn")
        if models.recommender is not models.itemknn:
            models.recommender.save(staging / "recommender")
        if models.ratings is not None:
            models.ratings.save(staging / "ratings")
        manifest = {**models.manifest, "format_version": FORMAT_VERSION, "store_id": self.store_id}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
        final = self.models_dir / models.version
        os.replace(staging, final)
        pointer = self.models_dir / f".{CURRENT}.tmp"
        pointer.write_text(models.version)
        os.replace(pointer, self.models_dir / CURRENT)
        self.prune(keep=2)

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
        recommender = itemknn if name == "itemknn" else recommender_class(name).load(path / "recommender")
        return ModelSet(
            version=version,
            manifest=manifest,
            lexical=LexicalIndex.load(path / "lexical"),
            vectors=VectorIndex.load(path / "vectors") if (path / "vectors").exists() else None,
            popularity=Popularity.load(path / "popularity"),
            itemknn=itemknn,
            recommender=recommender,
            ratings=RatingPredictor.load(path / "ratings") if (path / "ratings").exists() else None,
        )

    def prune(self, *, keep: int) -> None:
        """Delete all but the newest `keep` versions (never the live one) and stale staging dirs."""
        live = self.current_version()
        versions = sorted(p for p in self.models_dir.iterdir() if p.is_dir() and p.name.startswith("v"))
        for path in versions[:-keep]:
            if path.name != live:
                shutil.rmtree(path, ignore_errors=True)
        for path in self.models_dir.glob(".staging-*"):
            if time.time() - path.stat().st_mtime > 24 * 3600:
                shutil.rmtree(path, ignore_errors=True)
