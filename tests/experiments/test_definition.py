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


def test_the_verdict_names_a_winner_its_losses_elsewhere_and_a_broken_split():
    from cartwise.experiments.results import (
        ArmResult,
        Comparison,
        ExperimentResults,
        Interval,
        SampleRatio,
    )
    from cartwise.experiments.verdict import verdict

    experiment = make(metric="conversion")
    zero = Interval(value=0.0, low=0.0, high=0.0)
    arms = [ArmResult(variant=v, kind="control", description="", weight=1.0, users=5000, exposures=5000,
                      items_shown=5000, clicks=0, ctr=zero, add_to_cart=zero, conversion=zero,
                      revenue_per_user=zero, revenue=0.0) for v in ("control", "plain")]

    def comparison(metric, difference, low, high, significant):
        return Comparison(variant="plain", metric=metric, control=0.05, treatment=0.05 + difference,
                          difference=difference, low=low, high=high, relative=None, p_value=0.01 if significant
                          else 0.5, significant=significant, method="always-valid mSPRT")

    def results(comparisons, users=(5000, 5000)):
        return ExperimentResults(
            experiment_id=experiment.experiment_id, status="running", mode="ab", metric="conversion",
            test="sequential", horizon_users=None, users=sum(users), ready=False, arms=arms,
            comparisons=comparisons, verdict="", decision="",
            srm=SampleRatio(p_value=0.5 if users[0] == users[1] else 1e-9, mismatch=users[0] != users[1],
                            users=dict(zip(("control", "plain"), users, strict=True)),
                            expected_share={"control": 0.5, "plain": 0.5}))

    text, decision, ready = verdict(experiment, results([comparison("conversion", 0.012, 0.004, 0.02, True)]))
    assert text == "plain raises conversion over control by 1.2 points (95% CI 0.4 points to 2 points); safe to ship"
    assert (decision, ready) == ("ship", True)
    text, decision, _ = verdict(experiment, results([comparison("conversion", 0.012, 0.004, 0.02, True),
                                                     comparison("revenue_per_user", -0.5, -0.9, -0.1, True)]))
    assert text.endswith("but it lowers revenue per user by 0.50 (95% CI 0.10 to 0.90): weigh that first")
    text, decision, _ = verdict(experiment, results([comparison("conversion", -0.01, -0.018, -0.002, True)]))
    assert text == ("plain lowers conversion by 1 point (95% CI 0.2 points to 1.8 points); do not ship: "
                    "keep control") and decision == "stop"
    text, decision, _ = verdict(experiment, results([comparison("conversion", 0.012, 0.004, 0.02, True)],
                                                    users=(5400, 4600)))
    assert decision == "do_not_trust" and text.startswith("sample ratio mismatch: users split 5,400 / 4,600")
