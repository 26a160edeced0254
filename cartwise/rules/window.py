"""Applying a rule set to one answer's ranked candidates, in the defined conflict order.

1. answer rules (redirects) mark the answer;
2. removing rules (hide, filter) and the inventory policy drop items from the whole
   stream, lazily, however far the answer reads;
3. on the window the answer can show (its first items, twice its length and at least 20
   more), collapse keeps the best-ranked variant of each product;
4. boosts and buries move items by a share of the best item's relevance (an out-of-stock
   item sinks below the items in stock, when the inventory policy says so);
5. diversity rearranges the top;
6. a sponsored item keeps the slot the sponsored stage gave it;
7. pins put their item at their position, unless a removing rule removes it (reported as
   a conflict on the pin's rule): pins come last, so no other rule moves a pinned item.

Every rule that changes the answer is recorded (:mod:`cartwise.rules.touch`) on the
answer and on each item it touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from cartwise.recommend import Scored
from cartwise.rules.probes import Probes
from cartwise.rules.rule import Rule
from cartwise.rules.ruleset import RuleSet
from cartwise.rules.scope import AnswerContext
from cartwise.rules.touch import record
from cartwise.serving.sponsored import relevance
from cartwise.serving.stage import Candidate, Request, SearchTask, Stage

INVENTORY = "inventory"
MAX_WINDOW = 500
SINK = 1000.0  # below any boost: out-of-stock items follow every item in stock
# Answers that list what matches (an item out of stock is still found, and shown after the
# items in stock by default): the search policy; every other placement recommends.
FOUND_PLACEMENTS = ("search", "browse", "alternatives")


@dataclass(slots=True)
class Entry:
    """A candidate in the window, with its item's probe results and working score."""

    candidate: Candidate
    facts: tuple[Any, ...]
    score: float

    @property
    def item_id(self) -> str:
        return self.candidate.scored.item_id


class Window:
    """The candidates an answer can show, being rearranged by the rules."""

    def __init__(self, request: Request, entries: list[Entry]) -> None:
        self.request = request
        self.entries = entries

    def touch(self, entry: Entry, rule_id: str, effect: str, *, kind: str | None = None) -> None:
        entry.candidate.rules.append((rule_id, effect))
        record(self.request.notes, rule_id, kind or _kind_of(self.request, rule_id), effect, entry.item_id)


def apply_rules(
    rules: RuleSet, request: Request, candidates: Iterator[Candidate], context: AnswerContext, *, pin_stage: Stage
) -> Iterator[Candidate]:
    """`candidates` after the active rules of `rules` (see the module docstring)."""
    active = rules.active(context)
    request.notes.setdefault("rule_kinds", {}).update({rule.rule_id: rule.kind for rule in active})
    phases: dict[str, list[Rule]] = {}
    for rule in active:
        phases.setdefault(rule.phase, []).append(rule)
    for rule in phases.get("answer", ()):
        if "redirect" not in request.notes:
            request.notes["redirect"] = rule.action.url  # type: ignore[attr-defined]
            record(request.notes, rule.rule_id, rule.kind, f"redirects to {rule.action.url}")  # type: ignore[attr-defined]
    found = context.placement in FOUND_PLACEMENTS
    stock_policy = rules.inventory.search_out_of_stock if found else rules.inventory.recommend_out_of_stock
    removers = phases.get("remove", [])
    arranging = bool(phases.get("collapse") or phases.get("score") or phases.get("arrange") or phases.get("pin"))
    sink = stock_policy == "sink"
    if not (removers or arranging or sink or stock_policy == "hide"):
        return candidates
    stream = _kept(rules, request, candidates, context, removers, hide_out_of_stock=stock_policy == "hide")
    if not (arranging or sink):
        return (entry.candidate for entry in stream)
    return _arranged(rules, request, stream, context, phases, removers, sink=sink, pin_stage=pin_stage,
                     hide_out_of_stock=stock_policy == "hide")


def _kept(
    rules: RuleSet, request: Request, candidates: Iterator[Candidate], context: AnswerContext, removers: list[Rule],
    *, hide_out_of_stock: bool,
) -> Iterator[Entry]:
    catalog, probes, taken, notes = request.state.catalog, rules.probes, request.taken, request.notes
    now = context.now_ms
    active = 0
    for rule in removers:
        active |= 1 << rules.bit[rule.rule_id]
    removed_at = rules.REMOVED
    by_bit = {rules.bit[rule.rule_id]: rule for rule in removers}
    for candidate in candidates:
        item_id = candidate.scored.item_id
        if item_id in taken:
            continue  # already answered or seen: the unique rule drops it anyway
        facts = probes.facts(catalog, item_id, now)
        if facts is None:
            continue  # not in the live catalog: never answered
        if hide_out_of_stock and not facts[Probes.IN_STOCK]:
            if candidate.label != "sponsored":
                record(notes, INVENTORY, INVENTORY, "left out: out of stock", item_id)
            continue
        removed = facts[removed_at] & active if active else 0
        if removed:
            rule = by_bit[(removed & -removed).bit_length() - 1]  # the first listed that removes it
            record(notes, rule.rule_id, rule.kind, "removed", item_id)
            continue
        yield Entry(candidate, facts, float(candidate.scored.score))


def _arranged(
    rules: RuleSet, request: Request, stream: Iterator[Entry], context: AnswerContext, phases: dict[str, list[Rule]],
    removers: list[Rule], *, sink: bool, pin_stage: Stage, hide_out_of_stock: bool,
) -> Iterator[Candidate]:
    searching = isinstance(request, SearchTask)
    already = 0 if searching else len(request.chosen)
    need = (request.offset + request.k) if searching else max(request.k - already, 1)
    pins = phases.get("pin", [])
    reach = max([need] + [rule.action.position for rule in pins])  # type: ignore[attr-defined]
    entries = list(islice(stream, min(max(2 * reach, reach + 20), MAX_WINDOW)))
    window = Window(request, entries)
    ads = [(n, e) for n, e in enumerate(window.entries) if e.candidate.label == "sponsored"]
    if ads:
        window.entries = [e for e in window.entries if e.candidate.label != "sponsored"]
    families: dict[Any, Entry] = {}
    for rule in phases.get("collapse", ()):
        kept = []
        for entry in window.entries:
            family = rule.action.family(entry.facts)  # type: ignore[attr-defined]
            first = families.get((rule.rule_id, family)) if family is not None else None
            if first is None:
                if family is not None:
                    families[(rule.rule_id, family)] = entry
                kept.append(entry)
            else:
                window.touch(first, rule.rule_id, "stands for its variants", kind=rule.kind)
                record(request.notes, rule.rule_id, rule.kind, "collapsed into another variant", entry.item_id)
        window.entries = kept
    scoring = phases.get("score", [])
    if scoring or sink:
        shares = relevance([entry.score for entry in window.entries]).tolist()
        moved = False
        # A running minimum: the order the rank stages gave is kept where no rule moves
        # an item, even when a custom rank stage did not order by score.
        floor = float("inf")
        for entry, share in zip(window.entries, shares, strict=True):
            floor = min(floor, share)
            entry.score = floor
        if scoring:
            by_bit = {rules.bit[rule.rule_id]: rule for rule in scoring}
            for entry in window.entries:
                for n, amount in entry.facts[rules.MOVES]:
                    rule = by_bit.get(n)
                    if rule is not None:
                        entry.score += amount
                        moved = True
                        word = "boosted" if amount > 0 else "buried"
                        window.touch(entry, rule.rule_id, f"{word} {abs(amount):.2f}", kind=rule.kind)
        if sink:
            in_stock = [entry.facts[Probes.IN_STOCK] for entry in window.entries]
            if not all(in_stock):
                last_in_stock = max((n for n, s in enumerate(in_stock) if s), default=-1)
                for n, (entry, stocked) in enumerate(zip(window.entries, in_stock, strict=True)):
                    if not stocked:
                        entry.score -= SINK
                        if n < last_in_stock:
                            moved = True
                            window.touch(entry, INVENTORY, "out of stock: after the items in stock", kind=INVENTORY)
        if moved:
            window.entries.sort(key=lambda entry: -entry.score)
    for rule in phases.get("arrange", ()):
        rule.action.arrange(window, rule.rule_id)  # type: ignore[attr-defined]
    for n, ad in ads:
        window.entries.insert(min(n, len(window.entries)), ad)
    pinned = _pin(rules, request, window, pins, removers, context, already=already, pin_stage=pin_stage,
                  hide_out_of_stock=hide_out_of_stock)
    for entry in window.entries:
        yield entry.candidate
    for entry in stream:
        if entry.item_id in pinned:
            continue
        if families and any(
            (rule.rule_id, rule.action.family(entry.facts)) in families  # type: ignore[attr-defined]
            for rule in phases.get("collapse", ())
        ):
            continue
        yield entry.candidate


def _pin(
    rules: RuleSet, request: Request, window: Window, pins: list[Rule], removers: list[Rule],
    context: AnswerContext, *, already: int, pin_stage: Stage, hide_out_of_stock: bool,
) -> set[str]:
    """Put each pin's item at its position (earliest position first; a later rule for a
    taken position takes the next free one). The items pinned."""
    pinned: set[str] = set()
    if not pins:
        return pinned
    notes = request.notes
    done: set[str] = notes.setdefault("pinned", set())
    catalog = request.state.catalog
    occupied: set[int] = set()
    ordered = sorted(enumerate(pins), key=lambda pair: (pair[1].action.position, pair[0]))  # type: ignore[attr-defined]
    top = window.entries[0].candidate.scored.score if window.entries else 1.0
    for _, rule in ordered:
        action: Any = rule.action
        item_id = action.item_id
        if item_id in done or item_id in pinned:
            continue
        target = action.position - 1 - already
        if target < 0:
            continue  # an earlier tier's items already fill that position
        facts = rules.probes.facts(catalog, item_id, context.now_ms)
        reason = None
        if facts is None:
            reason = f"not pinned: {item_id} is not in the catalog"
        elif item_id in request.taken:
            reason = f"not pinned: {item_id} is the asked item, already shown or seen by the shopper"
        elif hide_out_of_stock and not facts[Probes.IN_STOCK]:
            reason = f"not pinned: {item_id} is out of stock"
        else:
            blocker = next((r for r in removers if r.action.removes(item_id, facts)), None)  # type: ignore[attr-defined]
            if blocker is not None:
                reason = f"not pinned: {blocker.kind} rule {blocker.rule_id!r} removes {item_id}"
        if reason is not None:
            record(notes, rule.rule_id, rule.kind, reason, conflict=True)
            continue
        index = next((n for n, e in enumerate(window.entries) if e.item_id == item_id), None)
        if index is not None:
            entry = window.entries.pop(index)
        else:
            candidate = Candidate(Scored(item_id=item_id, score=float(top), reason=""), pin_stage, "pinned")
            if isinstance(request, SearchTask):
                candidate.row = int(request.state.lexical.row_of([item_id])[0])
            assert facts is not None
            entry = Entry(candidate, facts, float(top))
        while target in occupied:
            target += 1
        occupied.add(target)
        window.entries.insert(min(target, len(window.entries)), entry)
        window.touch(entry, rule.rule_id, f"pinned at position {target + 1 + already}", kind=rule.kind)
        pinned.add(item_id)
        done.add(item_id)
    return pinned


def _kind_of(request: Request, rule_id: str) -> str:
    return request.notes.get("rule_kinds", {}).get(rule_id, "rule")


__all__ = ["Entry", "Window", "apply_rules"]
