"""Merchandising rules and synonyms: what the shop's team decides, applied to every answer.

A rule has a kind (:mod:`cartwise.rules.kinds`: filter, hide, boost, bury, pin, redirect,
diversity, collapse), a scope (:mod:`cartwise.rules.scope`) and its kind's settings; rules
and synonyms (:mod:`cartwise.rules.synonyms`) are written in a YAML or JSON document
(:mod:`cartwise.rules.ruleset`), validated with the line of every problem, kept as
versions in the store's workspace (:mod:`cartwise.rules.versions`) and published by the
:class:`RuleBook`, which answers reload within a second of a change. The serving stages
"merchandise" and "synonyms" apply them (:mod:`cartwise.serving.merchandise`), in the
conflict order of :mod:`cartwise.rules.window`; a dry run (:mod:`cartwise.rules.dryrun`)
shows what a change would do before it is saved.
"""

from cartwise.rules.book import RuleBook
from cartwise.rules.document import Problem, RuleFileError
from cartwise.rules.kinds import PHASES, RuleKind, kind_names, register_kind
from cartwise.rules.rule import Rule
from cartwise.rules.ruleset import Inventory, RuleSet, parse_rule_set, rule_set_of
from cartwise.rules.scope import PLACEMENTS, AnswerContext, Scope
from cartwise.rules.segments import register_segment, segment_names
from cartwise.rules.synonyms import Synonym
from cartwise.rules.trial import trying

__all__ = [
    "PHASES",
    "PLACEMENTS",
    "AnswerContext",
    "Inventory",
    "Problem",
    "Rule",
    "RuleBook",
    "RuleFileError",
    "RuleKind",
    "RuleSet",
    "Scope",
    "Synonym",
    "kind_names",
    "parse_rule_set",
    "register_kind",
    "register_segment",
    "rule_set_of",
    "segment_names",
    "trying",
]
