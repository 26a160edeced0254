"""Recommenders by name: how to build each, what it needs (item text, a validation split),
which settings of a run it takes, and its one-line help.

Training, the model versions, evaluation, the CLI and ``bench/recommenders.py`` all read
this table, so a model, the blend (a composite of other registered models) included, is
defined once; every registered model must pass
``tests/recommend/test_recommender_contract.py``. Model classes are imported when first
asked for: the neural ones load PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from cartwise.errors import ValidationError

# Settings of a run a model may take, by these names in every model's constructor: CPU
# threads, random seed, most epochs, training time budget (seconds), the items' text
# vectors, a per-epoch callback, where per-epoch training state is saved, the batch size
# (sized to the data by training), and whether a composite tunes for answers without the
# shopper's history, and the relation source of a ranking stage (the product relation graph:
# :class:`cartwise.rank.relations.RelationSource`).
RUN_SETTINGS = (
    "threads", "seed", "epochs", "max_seconds", "item_text_vectors", "on_epoch", "checkpoint_dir", "batch_size",
    "exclude_seen", "relations",
)
_NEURAL_SETTINGS = ("threads", "seed", "epochs", "max_seconds", "item_text_vectors", "on_epoch", "checkpoint_dir",
                    "batch_size")


@dataclass(frozen=True)
class RecommenderSpec:
    """One registered recommender.

    name: what configuration, ``train --recommender`` and ``evaluate recs -m`` call it.
    label: its name in benchmark tables.
    help: one line for the CLI help.
    model_class: imports and returns the class; :meth:`load` reads a saved model.
    settings: the run settings (:data:`RUN_SETTINGS`) its constructor takes; other
    constructor arguments keep their defaults unless a caller passes them to :meth:`build`.
    needs_text: cannot answer without the items' text vectors.
    reads_text: uses the items' text vectors when given (to score items without events).
    needs_validation: ``fit(events, validation=...)`` holds out each shopper's next item
    (to stop early, or, for the blend, to choose weights).
    members: the registered models a composite fuses, in order; a member that needs text
    is left out when there is none.
    personal: answers from a shopper's history (``recommend(histories, *, k,
    exclude_seen)``); popularity answers everyone alike and is adapted by :meth:`answers`.
    baseline: the reference the others must beat on a planted pattern (it cannot beat
    itself).
    """

    name: str
    label: str
    help: str
    model_class: Callable[[], type]
    settings: tuple[str, ...] = ()
    needs_text: bool = False
    reads_text: bool = False
    needs_validation: bool = False
    members: tuple[str, ...] = ()
    personal: bool = True
    baseline: bool = False

    @property
    def composite(self) -> bool:
        return bool(self.members)

    def build(self, **settings: Any) -> Any:
        """A new, unfitted model; a composite needs ``members=`` (see :func:`build_members`)."""
        return self.model_class()(**settings)

    def load(self, directory: Path | str) -> Any:
        """A saved model read back; a composite's members are found in this registry."""
        if self.composite:
            return self.model_class().load(directory, member_class=lambda name: get(name).model_class())
        return self.model_class().load(directory)

    def settings_from(self, offered: Mapping[str, object]) -> dict[str, object]:
        """The settings among `offered` this model takes (None values left out)."""
        return {key: value for key, value in offered.items() if key in self.settings and value is not None}

    def fit(
        self, model: Any, events: pl.DataFrame, *, items: pl.DataFrame | None = None,
        validation: pl.DataFrame | None = None,
    ) -> Any:
        """Fit `model` on `events` the way this model is fitted: with the catalog `items`
        (popularity) or the `validation` events (models that need them)."""
        if not self.personal:
            return model.fit(events, items)
        if self.needs_validation:
            # A composite that reads the catalog (the fused ranker's categories) gets it.
            extra = {"items": items} if items is not None and "items" in inspect.signature(model.fit).parameters else {}
            return model.fit(events, validation=validation, **extra)
        return model.fit(events)

    def answers(self, model: Any) -> Any:
        """What answers ``recommend(histories, *, k, exclude_seen)`` for a fitted `model`."""
        if self.personal:
            return model
        from cartwise.recommend.popularity import PopularityAnswers

        return PopularityAnswers(model)


_REGISTRY: dict[str, RecommenderSpec] = {}


def register(spec: RecommenderSpec) -> RecommenderSpec:
    """Add `spec`; a name already taken, or a composite member not registered, is an error."""
    if spec.name in _REGISTRY:
        raise ValueError(f"recommender {spec.name!r} is already registered")
    missing = [m for m in spec.members if m not in _REGISTRY]
    if missing:
        raise ValueError(f"composite {spec.name!r} names unregistered members {missing}")
    unknown = sorted(set(spec.settings) - set(RUN_SETTINGS))
    if unknown:
        raise ValueError(f"recommender {spec.name!r} names unknown run settings {unknown}; known: {RUN_SETTINGS}")
    _REGISTRY[spec.name] = spec
    return spec


def get(name: str) -> RecommenderSpec:
    """The spec registered as `name`."""
    spec = _REGISTRY.get(name)
    if spec is None:
        raise ValidationError(
            f"unknown recommender {name!r}", field="recommender", hint=f"choose one of {', '.join(_REGISTRY)}"
        )
    return spec


def names(*, personal: bool | None = None) -> tuple[str, ...]:
    """Registered names in registration order; only the personal (or only the other) ones
    when `personal` is given."""
    return tuple(n for n, s in _REGISTRY.items() if personal is None or s.personal == personal)


def build_members(
    spec: RecommenderSpec, make: Callable[[RecommenderSpec], Any | None], *, text: bool
) -> dict[str, Any]:
    """A composite's members, in its order, each from `make(member spec)`; members that
    need text are left out without it, and so are those `make` returns None for."""
    members: dict[str, Any] = {}
    for name in spec.members:
        member = get(name)
        if member.needs_text and not text:
            continue
        model = make(member)
        if model is not None:
            members[name] = model
    return members


def describe(specs: Sequence[RecommenderSpec]) -> str:
    """'name (help), ...' for CLI help."""
    return "; ".join(f"{s.name} ({s.help})" for s in specs)


def _popularity() -> type:
    from cartwise.recommend.popularity import Popularity

    return Popularity


def _itemknn() -> type:
    from cartwise.recommend.itemknn import ItemKNN

    return ItemKNN


def _als() -> type:
    from cartwise.recommend.factorization import ALS

    return ALS


def _bpr() -> type:
    from cartwise.recommend.factorization import BPR

    return BPR


def _sequential() -> type:
    from cartwise.recommend.sequential import SequentialRecommender

    return SequentialRecommender


def _twotower() -> type:
    from cartwise.recommend.twotower import TwoTowerRecommender

    return TwoTowerRecommender


def _textknn() -> type:
    from cartwise.recommend.textknn import TextKNN

    return TextKNN


def _lightgcn() -> type:
    from cartwise.recommend.lightgcn import LightGCN

    return LightGCN


def _fused() -> type:
    from cartwise.recommend.fused import FusedRecommender

    return FusedRecommender


def _blend() -> type:
    from cartwise.recommend.blend import BlendRecommender

    return BlendRecommender


register(RecommenderSpec(
    "popularity", "Popularity", "the most chosen items, time-decayed, the same for every shopper",
    _popularity, personal=False, baseline=True,
))
register(RecommenderSpec(
    "itemknn", "ItemKNN", "items chosen together with the shopper's recent ones (what `auto` picks for most stores)", _itemknn,
))
register(RecommenderSpec(
    "als", "ALS (fold-in)", "matrix factorisation by alternating least squares", _als, settings=("threads", "seed"),
))
register(RecommenderSpec(
    "bpr", "BPR (fold-in)", "matrix factorisation by Bayesian personalised ranking", _bpr,
    settings=("threads", "seed"),
))
register(RecommenderSpec(
    "sequential", "Sequential", "a Transformer over the shopper's sequence of events", _sequential,
    settings=_NEURAL_SETTINGS, reads_text=True, needs_validation=True,
))
register(RecommenderSpec(
    "twotower", "TwoTower", "shopper and item encoders scored by a dot product", _twotower,
    settings=_NEURAL_SETTINGS, reads_text=True, needs_validation=True,
))
register(RecommenderSpec(
    "textknn", "TextKNN", "items whose text is closest to the shopper's recent ones", _textknn,
    settings=("item_text_vectors",), needs_text=True, reads_text=True,
))
register(RecommenderSpec(
    "lightgcn", "LightGCN (fold-in)", "graph convolution over the shopper-item graph, BPR-trained", _lightgcn,
    settings=("threads", "seed", "epochs", "max_seconds", "on_epoch", "checkpoint_dir"), needs_validation=True,
))
register(RecommenderSpec(
    "blend", "Blend (tuned fusion)",
    "item-kNN, sequential and textknn fused, weights tuned on each shopper's last event", _blend,
    settings=("seed", "exclude_seen"), reads_text=True, needs_validation=True,
    members=("itemknn", "sequential", "textknn"),
))
register(RecommenderSpec(
    "fused", "Fused (LambdaRank)",
    "every generator's candidates ranked by LightGBM LambdaRank trained on each shopper's last event", _fused,
    settings=("seed", "threads", "exclude_seen", "relations"), reads_text=True, needs_validation=True,
    members=("popularity", "itemknn", "als", "sequential", "textknn"),
))
