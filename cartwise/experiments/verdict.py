"""The plain-language verdict of an experiment, and what to do about it.

In order: a sample ratio mismatch overrides everything ("do not trust"); too few users
(or, with a fixed horizon, fewer than the horizon: reading earlier is what inflates false
positives, so the verdict refuses to) means "not enough data yet"; otherwise each
treatment's difference on the experiment's metric, as significant gains ("safe to ship"),
significant losses ("do not ship") or no detectable difference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cartwise.experiments.definition import Experiment
from cartwise.experiments.stats import MIN_USERS_PER_ARM

if TYPE_CHECKING:
    from cartwise.experiments.results import Comparison, ExperimentResults

_NAMES = {"conversion": "conversion", "ctr": "click-through rate", "add_to_cart": "add-to-cart rate",
          "revenue_per_user": "revenue per user"}


def amount(metric: str, value: float) -> str:
    """A difference as people say it: rates in percentage points, revenue in money."""
    if metric == "revenue_per_user":
        return f"{value:,.2f}"
    points = value * 100
    number = f"{points:.2f}".rstrip("0").rstrip(".") if abs(points) < 10 else f"{points:.1f}"
    return f"{number} point" if number in ("1", "-1") else f"{number} points"


def _interval(metric: str, comparison: Comparison, level: int, *, lowers: bool = False) -> str:
    """The interval of the difference (of the decrease, when `lowers`)."""
    if comparison.low is None or comparison.high is None:
        return "no interval yet"
    low, high = (-comparison.high, -comparison.low) if lowers else (comparison.low, comparison.high)
    return f"{level}% CI {amount(metric, low)} to {amount(metric, high)}"


def verdict(experiment: Experiment, results: ExperimentResults) -> tuple[str, str, bool]:
    """(the sentence, the decision, whether it may be acted on now)."""
    level = round(100 * (1 - experiment.alpha))
    if experiment.mode == "interleave":
        return _interleave_verdict(experiment, results, level)
    srm = results.srm
    if srm is not None and srm.mismatch:
        split = " / ".join(f"{n:,}" for n in srm.users.values())
        expected = " / ".join(f"{share:.0%}" for share in srm.expected_share.values())
        text = (f"sample ratio mismatch: users split {split} where {expected} was set (p = {srm.p_value:.2g}); "
                "do not trust these numbers: check that every arm's answers are logged and that assignment "
                "is not filtered")
        return text, "do_not_trust", True
    smallest = min((arm.users for arm in results.arms), default=0)
    if smallest < MIN_USERS_PER_ARM:
        text = (f"not enough data yet: {results.users:,} users so far, at least {MIN_USERS_PER_ARM} per variant "
                "are needed before any test")
        return text, "keep_running", False
    horizon = experiment.horizon_users
    if horizon is not None and results.users < horizon and experiment.running:
        text = (f"not enough data yet: the fixed horizon is {horizon:,} users and {results.users:,} were exposed; "
                "the result is read once, at the horizon")
        return text, "keep_running", False
    metric = experiment.metric
    name = _NAMES[metric]
    control = experiment.control.name
    mine = [c for c in results.comparisons if c.metric == metric]
    gains = [c for c in mine if c.significant and c.difference > 0]
    losses = [c for c in mine if c.significant and c.difference < 0]
    if gains:
        best = max(gains, key=lambda c: c.difference)
        text = (f"{best.variant} raises {name} over {control} by {amount(metric, best.difference)} "
                f"({_interval(metric, best, level)}); safe to ship")
        # Guardrails: the winner's significant losses on the other metrics.
        harms = [c for c in results.comparisons
                 if c.variant == best.variant and c.metric != metric and c.significant and c.difference < 0]
        for harm in harms:
            text += (f", but it lowers {_NAMES[harm.metric]} by {amount(harm.metric, -harm.difference)} "
                     f"({_interval(harm.metric, harm, level, lowers=True)}): weigh that first")
        others = [c.variant for c in losses]
        if others:
            text += f"; {', '.join(others)} lowers it"
        return text, "ship", True
    if losses:
        parts = [f"{c.variant} lowers {name} by {amount(metric, -c.difference)} "
                 f"({_interval(metric, c, level, lowers=True)})" for c in losses]
        return "; ".join(parts) + f"; do not ship: keep {control}", "stop", True
    parts = [f"{c.variant} vs {control}: {amount(metric, c.difference)} ({_interval(metric, c, level)})" for c in mine]
    if horizon is not None:
        return (f"no significant difference in {name} at the horizon of {horizon:,} users: " + "; ".join(parts)
                + f"; no variant is shown to beat {control}", "no_winner", True)
    return (f"no difference in {name} detected yet: " + "; ".join(parts)
            + "; keep running for a smaller difference to show, or stop", "keep_running", False)


def _interleave_verdict(experiment: Experiment, results: ExperimentResults, level: int) -> tuple[str, str, bool]:
    found = results.interleaving
    a, b = experiment.variants[0].name, experiment.variants[1].name
    if found is None or found.users < MIN_USERS_PER_ARM:
        users = found.users if found is not None else 0
        return (f"not enough data yet: {users:,} users so far, at least {MIN_USERS_PER_ARM} are needed",
                "keep_running", False)
    horizon = experiment.horizon_users
    if horizon is not None and found.users < horizon and experiment.running:
        return (f"not enough data yet: the fixed horizon is {horizon:,} users and {found.users:,} were exposed",
                "keep_running", False)
    decided = found.wins[a] + found.wins[b]
    if found.significant:
        winner = b if found.share > 0.5 else a
        share = found.share if winner == b else 1 - found.share
        return (f"{winner}'s ranking is preferred: it won {share:.0%} of the {decided:,} users whose clicks chose "
                f"(p = {found.sequential_p_value if horizon is None else found.p_value:.2g}); "
                + ("safe to ship" if winner == b else f"do not ship {b}"),
                "ship" if winner == b else "stop", True)
    return (f"no preference detected yet between {a} and {b}: {b} won {found.share:.0%} of {decided:,} decided users",
            "no_winner" if horizon is not None else "keep_running", horizon is not None)


__all__ = ["amount", "verdict"]
