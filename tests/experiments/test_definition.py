"""Experiment definitions are checked field by field; each problem names its field."""

from __future__ import annotations

import pytest

from cartwise.errors import ValidationError
from cartwise.experiments import Experiment, check_experiment

RANKING = {"kind": "ranking", "answers": {"search": {"rank": "identity"}}}


def make(**changes):
    fields = {"name": "rank test", "placements": ["search"],
              "variants": [{"name": "control"}, {"name": "plain", "config": RANKING}], "now_ms": 1}
    fields.update(changes)
    return check_experiment(**fields)


def test_a_valid_experiment_round_trips_through_json():
    experiment = make(horizon_users=1000, metric="ctr", salt="s1")
    assert experiment.control.name == "control" and experiment.variants[1].kind == "ranking"
    assert experiment.salt == "s1" and experiment.running
    assert Experiment.from_json(experiment.to_json()) == experiment
    assert make(experiment_id="exp-x").salt == "exp-x"  # the id is the default salt


@pytest.mark.parametrize(("changes", "field"), [
    ({"name": ""}, "name"),
    ({"placements": []}, "placements"),
    ({"placements": ["Search Page"]}, "placements"),
    ({"placements": ["search", "search"]}, "placements"),
    ({"mode": "bandit"}, "mode"),
    ({"metric": "happiness"}, "metric"),
    ({"alpha": 0.5}, "alpha"),
    ({"horizon_users": 10}, "horizon_users"),
    ({"salt": ""}, "salt"),
    ({"variants": [{"name": "only"}]}, "variants"),
    ({"variants": [{"name": "a"}, {"name": "a"}]}, "variants"),
    ({"variants": [{"name": "a"}, {"name": "B!"}]}, "variants.1.name"),
    ({"variants": [{"name": "a"}, {"name": "b", "weight": 0}]}, "variants.1.weight"),
    ({"variants": [{"name": "a"}, {"name": "b", "colour": "red"}]}, "variants.1.colour"),
    ({"variants": [{"name": "a"}, {"name": "b", "config": {"kind": "magic"}}]}, "variants.1.config.kind"),
    ({"variants": [{"name": "a"}, {"name": "b", "config": {"kind": "rules"}}]}, "variants.1.config"),
    ({"variants": [{"name": "a"}, {"name": "b", "config": {"kind": "rules", "version": 0}}]},
     "variants.1.config.version"),
    ({"variants": [{"name": "a"}, {"name": "b", "config": {"kind": "model"}}]}, "variants.1.config.version"),
    ({"variants": [{"name": "a"}, {"name": "b", "config": {"kind": "ranking", "answers": {"checkout": {}}}}]},
     "variants.1.config.answers.checkout"),
    ({"variants": [{"name": "a"}, {"name": "b", "config": {"kind": "ranking",
                                                           "answers": {"search": {"rank": "lexical"}}}}]},
     "variants.1.config.answers.search.rank"),
    ({"variants": [{"name": "a"}, {"name": "b", "config": {"kind": "ranking",
                                                           "answers": {"search": {"rank": "no-such-stage"}}}}]},
     "variants.1.config.answers.search.rank"),
    ({"mode": "interleave", "variants": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}, "variants"),
    ({"mode": "interleave", "variants": [{"name": "a"}, {"name": "b", "weight": 3}]}, "variants.1.weight"),
])
def test_each_bad_field_is_named(changes, field):
    with pytest.raises(ValidationError) as caught:
        make(**changes)
    assert caught.value.field == field, caught.value.message


def test_a_rules_document_is_validated_as_rules():
    bad = {"kind": "rules", "document": {"rules": [{"id": "x", "kind": "no-such-kind"}]}}
    with pytest.raises(ValidationError) as caught:
        make(variants=[{"name": "a"}, {"name": "b", "config": bad}])
    assert caught.value.field == "variants.1.config.document"
    good = {"kind": "rules", "document": {"rules": [{"id": "hide", "kind": "hide", "items": ["x"]}]}}
    assert make(variants=[{"name": "a"}, {"name": "b", "config": good}]).variants[1].kind == "rules"
