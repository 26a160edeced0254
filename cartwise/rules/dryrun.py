"""A dry run: what a rule change would do to one answer, before it is saved.

The same answer (a search, a shopper's recommendations, an item's similar items, bundle
or alternatives) is
computed twice through the engine's real pipelines: with the published rules (before)
and with the change (after), both at the same moment (`at`: a campaign's date may be
tried ahead of time). Neither answer is logged as an impression and nothing is saved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from cartwise.errors import ValidationError
from cartwise.graph.answers import MAX_BUNDLE
from cartwise.results import RuleTouch
from cartwise.rules.ruleset import RuleSet, rule_set_of
from cartwise.rules.trial import trying

if TYPE_CHECKING:
    from cartwise.engine import Engine

# The answers about one item a dry run can show.
ITEM_PLACEMENTS = ("similar", "bundle", "alternatives")


class ShownItem(BaseModel):
    position: int
    item_id: str
    title: str
    rules: list[str] = Field(default_factory=list)
    reason: str = ""


class DryRun(BaseModel):
    """One answer before and after a rule change."""

    answer: str = Field(description="search, recommend, similar, bundle or alternatives, and for what")
    before: list[ShownItem]
    after: list[ShownItem]
    added: list[str] = Field(default_factory=list, description="items shown only after the change")
    removed: list[str] = Field(default_factory=list, description="items shown only before the change")
    moved: dict[str, list[int]] = Field(default_factory=dict, description="item -> [position before, after]")
    rules_after: list[RuleTouch] = Field(default_factory=list, description="the rules that touched the answer after")
    redirect_before: str | None = None
    redirect_after: str | None = None


def dry_run(
    engine: Engine,
    *,
    rule: dict[str, Any] | None = None,
    remove: str | None = None,
    query: str | None = None,
    user_id: str | None = None,
    item_id: str | None = None,
    placement: str = "similar",
    k: int = 10,
    at_ms: int | None = None,
) -> DryRun:
    """The effect of creating or replacing `rule` (a rule or synonym mapping), or of
    removing the rule `remove`, on the search for `query` (by `user_id`, when given), the
    recommendations of `user_id`, or the answer of `placement` about `item_id` (its
    similar items, its bundle or its alternatives)."""
    if (rule is None) == (remove is None):
        raise ValidationError("give a rule to try, or the id of one to remove", field="rule")
    if sum(x is not None for x in (query, item_id)) > 1 or (query is None and item_id is None and user_id is None):
        raise ValidationError("give a query (a search), a user_id alone (recommendations) or an item_id "
                              "(similar items, bundle or alternatives)", field="query")
    if placement not in ITEM_PLACEMENTS:
        raise ValidationError(f"placement must be one of {', '.join(ITEM_PLACEMENTS)}, got {placement!r}",
                              field="placement")
    if placement != "similar" and item_id is None:
        raise ValidationError(f"the {placement} placement answers about an item: give its item_id", field="item_id")
    book = engine.rules
    before_rules = book.current()
    document = book.proposed(rule) if rule is not None else book.without(remove or "")
    after_rules = rule_set_of(document, source="dry run")
    answer, what = _answer(engine, query=query, user_id=user_id, item_id=item_id, placement=placement, k=k)
    before = _run(before_rules, answer, at_ms)
    after = _run(after_rules, answer, at_ms)
    ids_before = [item.item_id for item in before.items]
    ids_after = [item.item_id for item in after.items]
    moved = {
        i: [ids_before.index(i) + 1, ids_after.index(i) + 1]
        for i in ids_after if i in ids_before and ids_before.index(i) != ids_after.index(i)
    }
    return DryRun(
        answer=what,
        before=_shown(before.items), after=_shown(after.items),
        added=[i for i in ids_after if i not in ids_before], removed=[i for i in ids_before if i not in ids_after],
        moved=moved, rules_after=list(after.rules),
        redirect_before=getattr(before, "redirect", None), redirect_after=getattr(after, "redirect", None),
    )


def _answer(
    engine: Engine, *, query: str | None, user_id: str | None, item_id: str | None, placement: str, k: int
) -> tuple[Callable[[], Any], str]:
    if query is not None:
        return (lambda: engine.search(query, k=k, user_id=user_id)), f"search {query!r}"
    if item_id is not None:
        if placement == "bundle":
            return (lambda: engine.bundle(item_id, k=min(k, MAX_BUNDLE))), f"bundle of {item_id}"
        if placement == "alternatives":
            return (lambda: engine.alternatives(item_id, k=k)), f"alternatives to {item_id}"
        return (lambda: engine.similar(item_id, k=k)), f"similar to {item_id}"
    assert user_id is not None
    return (lambda: engine.recommend(user_id, k=k)), f"recommendations for {user_id}"


def _run(rules: RuleSet, answer: Callable[[], Any], at_ms: int | None) -> Any:
    with trying(rules, now_ms=at_ms):
        return answer()


def _shown(items: list[Any]) -> list[ShownItem]:
    # A relation placement's item says its relation where other answers give a reason.
    return [ShownItem(position=n + 1, item_id=i.item_id, title=i.title, rules=i.rules,
                      reason=i.reason if hasattr(i, "reason") else i.relation)
            for n, i in enumerate(items)]


__all__ = ["DryRun", "ShownItem", "dry_run"]
