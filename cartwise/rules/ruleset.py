"""A rule set: every rule and synonym of one version, read from one document.

A document (YAML or JSON) has three parts, all optional::

    rules: [...]          # cartwise.rules.rule; kinds in cartwise.rules.kinds
    synonyms: [...]       # cartwise.rules.synonyms
    inventory:
      search_out_of_stock: sink     # sink (after the items in stock), hide, or keep; search,
                                    # browse and alternatives
      recommend_out_of_stock: hide  # hide (never recommended), or keep; every other answer

:func:`read_rule_set` validates it whole, reporting every problem with its line
(:class:`~cartwise.rules.document.RuleFileError`). A :class:`RuleSet` never changes: a
change is a new version (:mod:`cartwise.rules.versions`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cartwise.rules.document import Fields, Located, Problem, RuleFileError, read_document
from cartwise.rules.probes import Probes
from cartwise.rules.rule import Rule, read_rule
from cartwise.rules.scope import AnswerContext
from cartwise.rules.synonyms import Synonym, SynonymTable, read_synonym

MAX_RULES = 5000
OUT_OF_STOCK_SEARCH = ("sink", "hide", "keep")
OUT_OF_STOCK_RECOMMEND = ("hide", "keep")


@dataclass(frozen=True)
class Inventory:
    """What stock does to answers (see the module docstring)."""

    search_out_of_stock: str = "sink"
    recommend_out_of_stock: str = "hide"


class RuleSet:
    """Rules, synonyms and the inventory policy of one version."""

    def __init__(
        self,
        *,
        rules: tuple[Rule, ...] = (),
        synonyms: tuple[Synonym, ...] = (),
        inventory: Inventory | None = None,
        probes: Probes | None = None,
        version: int = 0,
        document: dict[str, Any] | None = None,
    ) -> None:
        self.rules = rules
        self.synonyms = SynonymTable(synonyms)
        self.inventory = inventory or Inventory()
        self.probes = probes or Probes()
        self.version = version
        self.document = document if document is not None else {"rules": [], "synonyms": []}
        self._by_id = {rule.rule_id: rule for rule in rules}
        self._enabled = tuple(rule for rule in rules if rule.enabled)
        self._semantic = any(rule.scope.semantic for rule in self._enabled)
        self._query_vectors: dict[tuple[str, str], Any] = {}
        # Per item, once: which removing rules remove it (a bit per rule) and which scoring
        # rules move it (and by how much), so an answer's cost hardly grows with the rules.
        self.removers = tuple(rule for rule in self._enabled if rule.phase == "remove")
        self.scorers = tuple(rule for rule in self._enabled if rule.phase == "score")
        self.bit = {rule.rule_id: n for n, rule in enumerate(self.removers)}
        self.bit.update({rule.rule_id: n for n, rule in enumerate(self.scorers)})
        self.REMOVED = self.probes.derive(self._removed_by) if self.removers else -1
        self.MOVES = self.probes.derive(self._moves) if self.scorers else -1

    def _removed_by(self, item_id: str, facts: list[Any]) -> int:
        mask = 0
        for n, rule in enumerate(self.removers):
            if rule.action.removes(item_id, facts):  # type: ignore[attr-defined]
                mask |= 1 << n
        return mask

    def _moves(self, item_id: str, facts: list[Any]) -> tuple[tuple[int, float], ...]:
        moves = []
        for n, rule in enumerate(self.scorers):
            amount = rule.action.amount(facts)  # type: ignore[attr-defined]
            if amount:
                moves.append((n, amount))
        return tuple(moves)

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, rule_id: str) -> Rule | None:
        return self._by_id.get(rule_id)

    @property
    def uses_semantic_scopes(self) -> bool:
        return self._semantic

    def active(self, context: AnswerContext) -> list[Rule]:
        """The enabled rules whose scope takes in this answer, in document order."""
        return [rule for rule in self._enabled if rule.scope.applies(context)]

    def phrase_vector(self, encoder: Any, phrase: str) -> Any:
        """A semantic scope's phrase embedded once per encoder (cached on the set)."""
        key = (getattr(encoder, "name", str(id(encoder))), phrase)
        found = self._query_vectors.get(key)
        if found is None:
            found = encoder.encode_queries([phrase])[0]
            self._query_vectors[key] = found
        return found

    def to_text(self) -> str:
        return json.dumps(self.document, ensure_ascii=False, indent=2, default=str)


def read_rule_set(value: Any, doc: Located, *, source: str = "rules", version: int = 0) -> RuleSet:
    """The rule set of a parsed document; :class:`RuleFileError` lists every problem."""
    problems: list[Problem] = list(doc.problems)
    if isinstance(value, list):
        value = {"rules": value}
    if value is None:
        value = {}
    top = Fields(value, "", doc, problems, what="a rule document")
    probes = Probes()
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    raw_rules = top.get("rules", [])
    if not isinstance(raw_rules, list):
        top.problem("rules", "expected a list of rules")
        raw_rules = []
    if len(raw_rules) > MAX_RULES:
        top.problem("rules", f"{len(raw_rules)} rules; the limit is {MAX_RULES}")
    for n, raw in enumerate(raw_rules):
        rule = read_rule(Fields(raw, f"rules[{n}]", doc, problems, what="a rule"), probes)
        if rule is None:
            continue
        if rule.rule_id in seen:
            place = f"rules[{n}].id"
            problems.append(Problem(doc.line(place), place, f"rule id {rule.rule_id!r} is also used at {seen[rule.rule_id]}"))
            continue
        seen[rule.rule_id] = f"rules[{n}]"
        rules.append(rule)
    synonyms: list[Synonym] = []
    raw_synonyms = top.get("synonyms", [])
    if not isinstance(raw_synonyms, list):
        top.problem("synonyms", "expected a list of synonyms")
        raw_synonyms = []
    for n, raw in enumerate(raw_synonyms):
        synonym = read_synonym(Fields(raw, f"synonyms[{n}]", doc, problems, what="a synonym"))
        if synonym is None:
            continue
        if synonym.synonym_id in seen:
            place = f"synonyms[{n}].id"
            problems.append(Problem(doc.line(place), place, f"id {synonym.synonym_id!r} is also used at "
                                                            f"{seen[synonym.synonym_id]}"))
            continue
        seen[synonym.synonym_id] = f"synonyms[{n}]"
        synonyms.append(synonym)
    inventory = Inventory()
    stock = top.mapping("inventory", what="the inventory policy")
    if stock is not None and stock.ok:
        inventory = Inventory(
            search_out_of_stock=stock.choice("search_out_of_stock", OUT_OF_STOCK_SEARCH, "sink"),
            recommend_out_of_stock=stock.choice("recommend_out_of_stock", OUT_OF_STOCK_RECOMMEND, "hide"),
        )
        stock.finish()
    top.integer("version", 1, low=1, high=1)
    top.finish()
    if problems:
        raise RuleFileError(sorted(problems, key=lambda p: p.line or 0), source=source)
    document = {
        "rules": [rule.written for rule in rules],
        "synonyms": list(raw_synonyms),
        "inventory": {"search_out_of_stock": inventory.search_out_of_stock,
                      "recommend_out_of_stock": inventory.recommend_out_of_stock},
    }
    return RuleSet(rules=tuple(rules), synonyms=tuple(synonyms), inventory=inventory, probes=probes,
                   version=version, document=_jsonable(document))


def parse_rule_set(text: str, *, source: str = "rules", format: str | None = None, version: int = 0) -> RuleSet:
    """A rule set from YAML or JSON text (see :func:`read_rule_set`)."""
    doc = read_document(text, source=source, format=format)
    return read_rule_set(doc.value, doc, source=source, version=version)


def rule_set_of(document: dict[str, Any], *, version: int = 0, source: str = "rules") -> RuleSet:
    """A rule set from an already parsed document (a saved version, an API body): its
    problems name their place but no line (it has no text)."""
    value = _jsonable(document)
    return read_rule_set(value, Located(value=value, lines={}), source=source, version=version)


def _jsonable(value: Any) -> Any:
    """Dates (YAML reads them as dates) as ISO text, so every document saves as JSON."""
    return json.loads(json.dumps(value, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v)))


__all__ = ["Inventory", "RuleSet", "parse_rule_set", "read_rule_set", "rule_set_of"]
