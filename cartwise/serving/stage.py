"""The stage protocol, the request a pipeline works on, and the registry of stage classes.

An answer is built by stages: candidate stages propose items, a rank stage orders them,
rule stages drop what may not be shown, and an explain stage writes each item's reason.
Every stage is a class registered by name (:func:`register_stage`), so a new stage is a
new class and one line of configuration (:mod:`cartwise.serving.config`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from cartwise.catalog.snapshot import ItemCard
from cartwise.errors import ValidationError
from cartwise.live import LiveState
from cartwise.recommend import Interaction, Scored
from cartwise.search.filters import SearchFilters
from cartwise.search.hybrid import Retrieval

if TYPE_CHECKING:
    from cartwise.rules.ruleset import RuleSet


class Candidate:
    """One proposed item: the model's scored answer, the stage that proposed it (which
    explains it), and the label the answer shows as the item's ``stage``.

    A search candidate also carries its score from each source (`features`: "lexical",
    the BM25 score; "semantic", the cosine with the query; absent where that source did
    not run or the item has no vector) and its `row` in the lexical index: what a rank
    stage reads."""

    __slots__ = ("features", "label", "reason", "row", "rules", "scored", "stage")

    def __init__(
        self, scored: Scored, stage: Stage, label: str | None = None, *, row: int = -1,
        features: dict[str, float] | None = None,
    ) -> None:
        self.scored = scored
        self.stage = stage
        self.label = label or stage.name
        self.reason = ""
        self.row = row
        self.features = features if features is not None else {}
        self.rules: list[tuple[str, str]] = []
        """(rule id, what it did) for each merchandising rule that touched the item."""


@dataclass(slots=True)
class Request:
    """What one answer is for, and what its stages have chosen so far."""

    state: LiveState
    k: int
    history: list[Interaction] = field(default_factory=list)
    """The user's latest events, newest first (recommendations)."""
    exclude_seen: bool = True
    item_id: str | None = None
    """The item asked about (similar items), and its card."""
    card: ItemCard | None = None
    taken: set[str] = field(default_factory=set)
    """Items that may not be answered (again): the user's seen items, the asked item,
    and every item chosen so far."""
    chosen: list[Candidate] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    """What a stage worked out once per request for later stages (its explanations)."""
    rules: RuleSet | None = None
    """The merchandising rules and synonyms this answer applies (:mod:`cartwise.rules`);
    None: the pipeline's rule book's published set."""
    placement: str | None = None
    """The placement the answer fills, for the rules' scopes, where its kind does not
    tell (the relation placements: "bundle", "alternatives")."""


@dataclass(slots=True)
class SearchTask(Request):
    """One search or browse page as its stages see it: the text searched, the mode and
    filters of the current attempt (a relaxed attempt changes them), and what retrieval
    left for the merge (`retrieval`) or browsing for the facets (`matching`)."""

    text: str = ""
    mode: str = "hybrid"
    filters: SearchFilters | None = None
    offset: int = 0
    boost: NDArray[np.float32] | None = None
    """Per lexical row, the share of the brands, categories, colours and sizes the query
    names that the item has (None when it names none)."""
    retrieval: Retrieval | None = None
    matching: NDArray[np.int64] | None = None
    """Lexical-index rows of every matching item, all pages (totals, facets)."""


@runtime_checkable
class Stage(Protocol):
    """One step of an answer. `apply` takes the candidates so far and returns the
    candidates after this stage: a candidate stage adds its own, a rank stage reorders,
    a rule stage drops some, an explain stage fills in reasons. Iterators, so a rule
    looks only at as many candidates as the answer takes. A 'merge' stage turns what
    its tier's candidate stages retrieved into one list (search's fusion)."""

    name: ClassVar[str]
    kind: ClassVar[str]
    """'candidates', 'merge', 'rank', 'rules' or 'explain'."""

    def apply(self, request: Request, candidates: Iterator[Candidate]) -> Iterator[Candidate]: ...


class CandidateStage:
    """Base of candidate stages: proposes items and says why each was proposed."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "candidates"
    personal: ClassVar[bool] = True
    """Whether its items are personal (they make a recommendation 'personalised')."""

    def propose(self, request: Request) -> Iterable[Scored]:
        raise NotImplementedError

    def explain(self, scored: Scored, request: Request) -> str:
        return scored.reason

    def apply(self, request: Request, candidates: Iterator[Candidate]) -> Iterator[Candidate]:
        yield from candidates
        for scored in self.propose(request):
            yield Candidate(scored, self)


_STAGES: dict[str, Callable[[], Stage]] = {}


def register_stage(cls: type[Any]) -> type[Any]:
    """Class decorator: make a stage class available by its `name` to configurations."""
    if not getattr(cls, "name", ""):
        raise ValueError(f"{cls.__name__} needs a `name` to be registered")
    _STAGES[cls.name] = cls
    return cls


def stage_names() -> list[str]:
    return sorted(_STAGES)


def make_stage(name: str) -> Stage:
    factory = _STAGES.get(name)
    if factory is None:
        raise ValidationError(f"unknown serving stage {name!r}", field="stage", hint=f"choose one of {stage_names()}")
    return factory()


__all__ = [
    "Candidate",
    "CandidateStage",
    "Request",
    "SearchTask",
    "Stage",
    "make_stage",
    "register_stage",
    "stage_names",
]
