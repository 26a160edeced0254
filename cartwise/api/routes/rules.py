"""/v1/rules: the shop's merchandising rules and synonyms (admin keys only).

List, get, create or replace, delete, load a whole document, list and restore versions,
dry-run a change on one answer before saving it, and list and accept suggested synonyms.
Every change is validated whole (422 with each problem's place and reason) and saved as a
new version; answers pick it up within a second.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query
from pydantic import BaseModel, Field

from cartwise.access import Scope
from cartwise.api.auth import KeyFirstRoute, require
from cartwise.api.deps import get_engine
from cartwise.api.schemas import ErrorBody
from cartwise.engine import Engine
from cartwise.errors import NotFound, ValidationError
from cartwise.limits import MAX_ID_LENGTH, MAX_K, MAX_QUERY_LENGTH
from cartwise.rules.dryrun import DryRun, dry_run
from cartwise.rules.ruleset import RuleSet
from cartwise.rules.synonym_sources import ALL, SuggestionSettings, accept, suggest

router = APIRouter(
    prefix="/v1/rules", tags=["rules"], route_class=KeyFirstRoute, dependencies=[require(Scope.ADMIN)]
)
_ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}, 409: {"model": ErrorBody},
                                            422: {"model": ErrorBody}}
# Most synonym suggestions one answer lists per source.
MAX_SUGGESTIONS = 500


class RuleDocument(BaseModel):
    """The live rules: every rule and synonym as written, and the stock policy."""

    version: int = Field(description="the live version (0: no rules saved yet)")
    rules: list[dict[str, Any]] = Field(default_factory=list)
    synonyms: list[dict[str, Any]] = Field(default_factory=list)
    inventory: dict[str, Any] = Field(default_factory=dict)


class VersionSummary(BaseModel):
    version: int
    created_ms: int
    source: str
    note: str
    rules: int
    synonyms: int


class DryRunRequest(BaseModel):
    """A rule (or synonym) to try, or the id of one to remove, and the answer to try it on:
    a search (`query`, optionally by `user_id`), a shopper's recommendations (`user_id`
    alone) or an item's similar items, bundle or alternatives (`item_id` and `placement`)."""

    rule: dict[str, Any] | None = None
    remove: str | None = Field(default=None, max_length=MAX_ID_LENGTH)
    query: str | None = Field(default=None, max_length=MAX_QUERY_LENGTH)
    user_id: str | None = Field(default=None, max_length=MAX_ID_LENGTH)
    item_id: str | None = Field(default=None, max_length=MAX_ID_LENGTH)
    placement: Literal["similar", "bundle", "alternatives"] = Field(
        default="similar", description="with an item_id: its similar items, its bundle or its alternatives"
    )
    k: int = Field(default=10, ge=1, le=MAX_K)
    at_ms: int | None = Field(default=None, ge=0, description="answer as if it were this moment (epoch ms)")


def _document(rules: RuleSet) -> RuleDocument:
    document = rules.document
    return RuleDocument(version=rules.version, rules=document.get("rules", []),
                        synonyms=document.get("synonyms", []), inventory=document.get("inventory", {}))


@router.get("", response_model=RuleDocument)
def list_rules(engine: Annotated[Engine, Depends(get_engine)]) -> RuleDocument:
    """Every rule and synonym of the live version."""
    return _document(engine.rules.current())


@router.put("", response_model=RuleDocument, responses=_ERRORS)
def replace_rules(
    document: Annotated[dict[str, Any], Body(description="a whole rule document: rules, synonyms, inventory")],
    engine: Annotated[Engine, Depends(get_engine)],
) -> RuleDocument:
    """Replace every rule and synonym (a new version)."""
    return _document(engine.rules.load_text(json.dumps(document), source="api", format="json"))


@router.get("/versions", response_model=list[VersionSummary])
def list_versions(engine: Annotated[Engine, Depends(get_engine)]) -> list[VersionSummary]:
    """Every saved version, oldest first."""
    return [VersionSummary(**v.summary()) for v in engine.rules.list_versions()]


@router.post("/versions/{version}/restore", response_model=RuleDocument, responses=_ERRORS)
def restore_version(version: Annotated[int, Path(ge=1)], engine: Annotated[Engine, Depends(get_engine)]) -> RuleDocument:
    """A new version holding an earlier version's rules."""
    return _document(engine.rules.roll_back(version))


@router.post("/dry-run", response_model=DryRun, responses=_ERRORS)
def try_rule(body: DryRunRequest, engine: Annotated[Engine, Depends(get_engine)]) -> DryRun:
    """One answer with the live rules and with the change; nothing is saved or logged."""
    return dry_run(engine, rule=body.rule, remove=body.remove, query=body.query, user_id=body.user_id,
                   item_id=body.item_id, placement=body.placement, k=body.k, at_ms=body.at_ms)


class SuggestedSynonym(BaseModel):
    """Two terms a miner thinks name one thing; accept it to save them as a two-way synonym."""

    id: str
    terms: list[str]
    source: str = Field(description="graph (substitute items named differently) or purchases (queries that led to "
                                    "the same purchases)")
    support: int = Field(description="graph: differently worded substitute item pairs; purchases: items bought "
                                     "after both queries")
    score: float
    evidence: dict[str, Any] = Field(description="the counts behind it and examples: item pairs with their titles "
                                                 "(graph) or the items bought (purchases)")


SuggestionSource = Annotated[str, Query(max_length=20, description="graph, purchases or all")]
SuggestionLimit = Annotated[int, Query(ge=1, le=MAX_SUGGESTIONS, description="most suggestions per source")]


@router.get("/synonym-suggestions", response_model=list[SuggestedSynonym], responses=_ERRORS)
def synonym_suggestions(
    engine: Annotated[Engine, Depends(get_engine)], source: SuggestionSource = ALL, limit: SuggestionLimit = 50,
) -> list[SuggestedSynonym]:
    """Synonyms mined from the relation graph and from queries that led to the same
    purchases, best first per source; pairs the rules already link are left out."""
    found = suggest(engine, source=source, settings=SuggestionSettings(limit=limit))
    return [SuggestedSynonym(**s.to_dict()) for s in found]


@router.post("/synonym-suggestions/{suggestion_id}/accept", response_model=RuleDocument, responses=_ERRORS)
def accept_synonym_suggestion(
    suggestion_id: Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)],
    engine: Annotated[Engine, Depends(get_engine)],
    source: SuggestionSource = ALL,
) -> RuleDocument:
    """Save one current suggestion as a two-way synonym (a new version)."""
    found = suggest(engine, source=source, settings=SuggestionSettings(limit=MAX_SUGGESTIONS))
    rules, _ = accept(engine, [suggestion_id], found=found, source="api")
    return _document(rules)


@router.get("/{rule_id}", response_model=dict[str, Any], responses=_ERRORS)
def get_rule(
    rule_id: Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)], engine: Annotated[Engine, Depends(get_engine)]
) -> dict[str, Any]:
    """One rule or synonym, as written."""
    document = engine.rules.current().document
    for entry in [*document.get("rules", []), *document.get("synonyms", [])]:
        if entry.get("id") == rule_id:
            return entry
    raise NotFound(f"there is no rule or synonym {rule_id!r}", field="rule_id")


@router.put("/{rule_id}", response_model=RuleDocument, responses=_ERRORS)
def put_rule(
    rule_id: Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)],
    rule: Annotated[dict[str, Any], Body(description="the rule (with `kind`) or synonym (with `terms` or `from`/`to`)")],
    engine: Annotated[Engine, Depends(get_engine)],
) -> RuleDocument:
    """Create or replace one rule or synonym (a new version)."""
    if rule.get("id", rule_id) != rule_id:
        raise ValidationError(f"the body's id {rule.get('id')!r} differs from the path's {rule_id!r}", field="id")
    return _document(engine.rules.put({**rule, "id": rule_id}))


@router.delete("/{rule_id}", response_model=RuleDocument, responses=_ERRORS)
def delete_rule(
    rule_id: Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)], engine: Annotated[Engine, Depends(get_engine)]
) -> RuleDocument:
    """Delete one rule or synonym (a new version)."""
    return _document(engine.rules.delete(rule_id))
