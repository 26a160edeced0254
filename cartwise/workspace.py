"""The files of one store that live beside its data: models, embeddings, checkpoints,
reports, evaluation runs and the demo's inputs.

Every back end keeps these in a local directory (the SQLite store in its own directory),
and every module asks the :class:`Workspace` for a path instead of building one from
another: the layout on disk is written down here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MODELS = "models"
REPORTS = "reports"
EMBEDDINGS = "embeddings"
CHECKPOINTS = "checkpoints"
RUNS = "runs"
DEMO = "demo"
IDENTITY = "store.json"
RULES = "rules"
ASSISTANT = "assistant"
UPLOADS = "uploads"


@dataclass(frozen=True)
class Workspace:
    """The directory layout under `root`::

        models/                  model versions, one sub-directory each (and CURRENT, staging)
        reports/                 rejected-row reports of ingests and search batches
        embeddings/<encoder>/    item text vectors, kept between trains
        checkpoints/<model>/     a neural model's training state, resumed after a crash
        runs/                    recorded offline evaluation runs
        demo/                    files `cartwise demo` derived from Online Retail
        store.json               which store a server back end's workspace belongs to
        rules/                   merchandising rules and synonyms, one file per version (and CURRENT)
        assistant/               the shopping assistant's FAQ, documents, their vectors and its log
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))  # a str root is accepted too

    def create(self) -> Workspace:
        """Make the directories every store has from its creation (models and reports)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.models_dir.mkdir(exist_ok=True)
        self.reports_dir.mkdir(exist_ok=True)
        return self

    @property
    def models_dir(self) -> Path:
        return self.root / MODELS

    @property
    def reports_dir(self) -> Path:
        return self.root / REPORTS

    @property
    def runs_dir(self) -> Path:
        return self.root / RUNS

    @property
    def demo_dir(self) -> Path:
        return self.root / DEMO

    @property
    def identity_path(self) -> Path:
        """The store id (and server) a workspace kept apart from its data belongs to."""
        return self.root / IDENTITY

    @property
    def rules_dir(self) -> Path:
        return self.root / RULES

    @property
    def assistant_dir(self) -> Path:
        return self.root / ASSISTANT

    @property
    def uploads_dir(self) -> Path:
        """Where files uploaded over HTTP wait while they are ingested."""
        return self.root / UPLOADS

    def embeddings_dir(self, encoder: str) -> Path:
        """Where the item vectors of the encoder named `encoder` are cached."""
        return self.root / EMBEDDINGS / encoder

    def checkpoints_dir(self, model: str) -> Path:
        """Where the neural model named `model` saves its state after every epoch."""
        return self.root / CHECKPOINTS / model


__all__ = ["Workspace"]
