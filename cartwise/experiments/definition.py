"""What an experiment is: its variants (arms), where it runs, how it is read, and its state.

An experiment splits the shoppers of one or more placements (``search``, ``recommend``,
``similar`` or a front end's own names) between its variants by weight. The first variant
is the control; each variant's `config` names a variant kind (:mod:`cartwise.experiments.kinds`)
and what it changes. Mode ``ab`` serves each shopper one variant; mode ``interleave``
(two variants) serves every shopper one list that mixes both rankings by team draft and
credits each click to the variant that contributed the item. Every field is checked here
and a problem raises :class:`~cartwise.errors.ValidationError` naming the field.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from cartwise.errors import ValidationError
from cartwise.feedback.impression import PLACEMENT_PATTERN

MODES = ("ab", "interleave")
STATUSES = ("running", "stopped", "shipped")
METRICS = ("conversion", "ctr", "add_to_cart", "revenue_per_user")
"""What a verdict is about: share of users who bought, clicks per item shown, share of
users who put an item in the cart, revenue per user."""
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_VARIANTS = 8
MAX_PLACEMENTS = 10
MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class Variant:
    """One arm: its name, its share of the users (weights need not add to 1) and what it
    changes (`config`, with a ``kind``)."""

    name: str
    weight: float = 1.0
    config: dict[str, Any] = field(default_factory=lambda: {"kind": "control"})

    @property
    def kind(self) -> str:
        return str(self.config.get("kind", "control"))


@dataclass(frozen=True)
class Experiment:
    """An experiment and its state (see the module docstring)."""

    experiment_id: str
    name: str
    placements: tuple[str, ...]
    variants: tuple[Variant, ...]
    mode: str = "ab"
    salt: str = ""
    metric: str = "conversion"
    alpha: float = 0.05
    horizon_users: int | None = None
    """A fixed horizon: the verdict waits until this many users were exposed (all arms
    together) and then uses the fixed-horizon test; None: the always-valid sequential test,
    safe to read at any time."""
    status: str = "running"
    created_ms: int = 0
    started_ms: int = 0
    stopped_ms: int | None = None
    shipped: str | None = None
    """The variant shipped, once it is."""
    note: str = ""

    @property
    def control(self) -> Variant:
        return self.variants[0]

    @property
    def running(self) -> bool:
        return self.status == "running"

    def variant(self, name: str) -> Variant:
        for variant in self.variants:
            if variant.name == name:
                return variant
        raise ValidationError(
            f"experiment {self.experiment_id} has no variant {name!r}", field="variant",
            hint=f"choose one of {[v.name for v in self.variants]}",
        )

    def label(self, variant: str) -> str:
        """What an impression's `variant` field holds: the experiment and the arm."""
        return f"{self.experiment_id}/{variant}"

    def to_json(self) -> str:
        body = asdict(self)
        return json.dumps(body, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Experiment:
        body = json.loads(text)
        body["placements"] = tuple(body["placements"])
        body["variants"] = tuple(Variant(**v) for v in body["variants"])
        return cls(**body)

    def with_status(self, status: str, *, at_ms: int, shipped: str | None = None, note: str = "") -> Experiment:
        return replace(self, status=status, stopped_ms=at_ms, shipped=shipped, note=note or self.note)


def new_experiment_id() -> str:
    return f"exp-{secrets.token_hex(4)}"


def check_experiment(
    *,
    name: Any,
    placements: Any,
    variants: Any,
    mode: Any = "ab",
    salt: Any = None,
    metric: Any = "conversion",
    alpha: Any = 0.05,
    horizon_users: Any = None,
    experiment_id: Any = None,
    now_ms: int,
) -> Experiment:
    """A new running experiment from untrusted fields; ValidationError names the first bad
    field (variant configs are checked by their kinds, see :func:`cartwise.experiments.kinds.check_config`)."""
    from cartwise.experiments.kinds import (
        check_config,  # the kinds registry builds on this module
    )

    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise ValidationError(f"name must be 1 to {MAX_NAME_LENGTH} characters of text", field="name")
    if experiment_id is None:
        experiment_id = new_experiment_id()
    if not isinstance(experiment_id, str) or not ID_PATTERN.match(experiment_id):
        raise ValidationError("experiment_id must be 1 to 64 lower-case letters, digits, '_' or '-'",
                              field="experiment_id")
    if isinstance(placements, str):
        placements = [placements]
    if not isinstance(placements, list | tuple) or not 1 <= len(placements) <= MAX_PLACEMENTS:
        raise ValidationError(f"placements must list 1 to {MAX_PLACEMENTS} placements", field="placements")
    for placement in placements:
        if not isinstance(placement, str) or not PLACEMENT_PATTERN.match(placement):
            raise ValidationError(
                f"placement {placement!r} must be 1 to 40 lower-case letters, digits, '_', '.' or '-'",
                field="placements",
            )
    if len(set(placements)) != len(placements):
        raise ValidationError("placements names a placement twice", field="placements")
    if mode not in MODES:
        raise ValidationError(f"mode must be one of {list(MODES)}, got {mode!r}", field="mode")
    if metric not in METRICS:
        raise ValidationError(f"metric must be one of {list(METRICS)}, got {metric!r}", field="metric")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0.001 <= alpha <= 0.2:
        raise ValidationError(f"alpha must be a number from 0.001 to 0.2, got {alpha!r}", field="alpha")
    if horizon_users is not None and (
        isinstance(horizon_users, bool) or not isinstance(horizon_users, int) or not 100 <= horizon_users <= 10**9
    ):
        raise ValidationError(f"horizon_users must be an integer from 100 to 10^9, got {horizon_users!r}",
                              field="horizon_users")
    if salt is None:
        salt = experiment_id
    if not isinstance(salt, str) or not 1 <= len(salt) <= 100:
        raise ValidationError("salt must be 1 to 100 characters of text", field="salt")
    if not isinstance(variants, list | tuple) or not 2 <= len(variants) <= MAX_VARIANTS:
        raise ValidationError(f"variants must list 2 to {MAX_VARIANTS} variants, the control first", field="variants")
    if mode == "interleave" and len(variants) != 2:
        raise ValidationError("an interleaving experiment compares exactly 2 variants", field="variants")
    arms: list[Variant] = []
    for n, raw in enumerate(variants):
        where = f"variants.{n}"
        if isinstance(raw, Variant):
            raw = asdict(raw)
        if not isinstance(raw, dict):
            raise ValidationError("a variant is a mapping with name, weight and config", field=where)
        unknown = sorted(set(raw) - {"name", "weight", "config"})
        if unknown:
            raise ValidationError(f"a variant has no field {unknown[0]!r}", field=f"{where}.{unknown[0]}")
        arm_name = raw.get("name")
        if not isinstance(arm_name, str) or not NAME_PATTERN.match(arm_name):
            raise ValidationError("a variant name is 1 to 40 lower-case letters, digits, '_' or '-'",
                                  field=f"{where}.name")
        weight = raw.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight <= 1000:
            raise ValidationError(f"weight must be a number above 0 and at most 1000, got {weight!r}",
                                  field=f"{where}.weight")
        config = check_config(raw.get("config", {"kind": "control"}), field=f"{where}.config")
        arms.append(Variant(name=arm_name, weight=float(weight), config=config))
    names = [arm.name for arm in arms]
    if len(set(names)) != len(names):
        raise ValidationError("two variants have the same name", field="variants")
    if mode == "interleave" and arms[0].weight != arms[1].weight:
        raise ValidationError("interleaving mixes both rankings in every answer: leave the weights equal",
                              field="variants.1.weight")
    return Experiment(
        experiment_id=experiment_id,
        name=name.strip(),
        placements=tuple(placements),
        variants=tuple(arms),
        mode=mode,
        salt=salt,
        metric=metric,
        alpha=float(alpha),
        horizon_users=horizon_users,
        created_ms=now_ms,
        started_ms=now_ms,
    )


__all__ = [
    "METRICS",
    "MODES",
    "STATUSES",
    "Experiment",
    "Variant",
    "check_experiment",
    "new_experiment_id",
]
