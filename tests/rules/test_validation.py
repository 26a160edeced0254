"""Rule documents are validated whole: every problem is reported with its line and reason,
in YAML and JSON, and nothing invalid is ever published."""

from __future__ import annotations

import json

import pytest

from cartwise.rules import RuleFileError, kind_names, parse_rule_set
from tests.rules.helpers import use

BROKEN = """\
rules:
  - id: fine
    kind: boost
    when: {brand: Acme}
  - id: typo
    kind: boots
  - id: low-pin
    kind: pin
    item: mug-red
    position: 0
  - id: fine
    kind: hide
    items: [x]
  - id: price
    kind: filter
    keep: {price: {max: cheap}}
    scope: {placements: [serch], start: 2026-13-01}
  - id: extra
    kind: hide
    items: [x]
    colour: red
synonyms:
  - {id: lonely, terms: [sneakers]}
"""


def problems(text: str, **options) -> list[tuple[int | None, str, str]]:
    with pytest.raises(RuleFileError) as caught:
        parse_rule_set(text, source="shop.yaml", **options)
    return [(p.line, p.where, p.reason) for p in caught.value.problems]


def test_every_problem_of_a_yaml_file_is_reported_with_its_line_and_reason():
    found = problems(BROKEN)
    by_place = {where: (line, reason) for line, where, reason in found}
    assert by_place["rules[1].kind"][0] == 6 and "unknown rule kind 'boots'" in by_place["rules[1].kind"][1]
    assert by_place["rules[2].position"] == (10, "expected a whole number from 1 to 100, got 0")
    assert by_place["rules[3].id"][0] == 11 and "also used at rules[0]" in by_place["rules[3].id"][1]
    assert by_place["rules[4].keep.price.max"][0] == 16 and "needs a number" in by_place["rules[4].keep.price.max"][1]
    assert by_place["rules[4].scope.placements[0]"][0] == 17
    assert by_place["rules[4].scope.start"][0] == 17 and "month must be in 1..12" in by_place["rules[4].scope.start"][1]
    assert by_place["rules[5].colour"][0] == 21 and "unknown field 'colour'" in by_place["rules[5].colour"][1]
    assert by_place["synonyms[0].terms"][0] == 23
    assert [line for line, _, _ in found] == sorted(line for line, _, _ in found)  # in file order
    assert len(found) == 8


def test_a_yaml_syntax_error_names_its_line():
    assert problems("rules:\n  - id: a\n    kind: [hide\n")[0][0] == 4
    twice = problems("rules:\n  - id: a\n    kind: hide\n    items: [x]\n    id: c\n")
    assert twice == [(5, "rules[0].id", "this field is given twice")]


def test_a_json_file_is_checked_with_json_lines():
    text = json.dumps({"rules": [{"id": "a", "kind": "hide", "items": ["x"]},
                                 {"id": "b", "kind": "boost", "weight": "lots"}]}, indent=2)
    found = problems(text, format="json")
    assert found == [(13, "rules[1].weight", "expected a number, got 'lots'")]
    assert problems('{"rules": [}', format="json")[0][0] == 1


@pytest.mark.parametrize(("rule", "reason"), [
    ({"id": "r", "kind": "filter"}, "a filter needs `keep`"),
    ({"id": "r", "kind": "redirect", "url": "/help"}, "a redirect needs a query scope"),
    ({"id": "r", "kind": "redirect", "url": "not a url", "scope": {"query": "x"}}, "expected an http(s) URL"),
    ({"id": "r", "kind": "diversity", "by": "brand"}, "this field is required"),
    ({"id": "r", "kind": "diversity", "method": "mmr", "by": "brand"}, "`by` is for `method: cap`"),
    ({"id": "r", "kind": "boost", "by": "brand"}, "`by` names a number"),
    ({"id": "r", "kind": "boost", "when": {"price": "cheap"}}, "price is a number"),
    ({"id": "r", "kind": "hide", "items": ["x"], "scope": {"segments": ["vip"]}}, "unknown segment 'vip'"),
    ({"id": "r", "kind": "hide", "items": ["x"], "scope": {"start": "2026-07-01", "end": "2026-06-01"}},
     "ends before it starts"),
    ({"id": "bad id!", "kind": "hide", "items": ["x"]}, "a rule id is"),
    ({"kind": "hide", "items": ["x"]}, "this field is required"),
])
def test_each_kind_checks_its_own_fields(rule, reason):
    found = problems(json.dumps({"rules": [rule]}, indent=1), format="json")
    assert any(reason in r for _, _, r in found), found
    assert all(line is not None for line, _, _ in found)


def test_every_registered_kind_is_readable():
    assert set(kind_names()) >= {"filter", "hide", "boost", "bury", "pin", "redirect", "diversity", "collapse"}


def test_an_invalid_document_is_never_published(engine):
    use(engine, "rules: [{id: keep-me, kind: hide, items: [socks]}]")
    version = engine.rules.current().version
    with pytest.raises(RuleFileError):
        engine.rules.load_text(BROKEN, source="shop.yaml")
    with pytest.raises(RuleFileError):
        engine.rules.put({"id": "bad", "kind": "pin", "item": "teapot", "position": 999})
    assert engine.rules.current().version == version and engine.rules.current().get("keep-me") is not None
    assert [v.version for v in engine.rules.list_versions()] == [version]
