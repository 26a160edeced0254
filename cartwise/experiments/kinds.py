"""Variant kinds: what a variant changes, chosen by name in its config's ``kind``.

* ``control``: nothing; answers as the store answers today.
* ``rules``: a rule set (merchandising rules and synonyms, :mod:`cartwise.rules`): a saved
  rules ``version`` number, or a whole ``document``. Shipping publishes it as the live rules.
* ``ranking``: the serving cascades (:mod:`cartwise.serving.config`) of some answers
  (``search``, ``browse``, ``recommend``, ``similar``): per answer, ``tiers`` (each with
  ``candidates``, ``rank``, ``merge``, ``rerank``) and/or ``rank`` (every tier's rank stage),
  ``rules``, ``explain``, ``merchandise``, ``rewrite``; what is left out stays as configured.
  Shipping keeps serving it to every user of the experiment's placements (the cascades of
  a running server are code configuration; set them in `Engine(pipelines=...)` to make it
  permanent), until the experiment is stopped.
* ``model``: a kept model ``version`` (``/v1/models``): recommendations and similar items
  come from that version's models; search keeps the live version's indexes (see
  :class:`ModelKind`). Shipping promotes it.

A new kind is a class with `check`, `describe`, `setup` and `ship`, registered with
:func:`register_kind`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from cartwise.errors import CartwiseError, ValidationError
from cartwise.serving import Cascade, Tier, make_stage
from cartwise.serving.config import PIPELINES

if TYPE_CHECKING:
    from cartwise.rules.book import RuleBook
    from cartwise.rules.ruleset import RuleSet
    from cartwise.versions import ModelVersions

ANSWERS = tuple(PIPELINES)
_STAGE_KINDS = {"candidates": "candidates", "rank": "rank", "merge": "merge", "rerank": "rank", "rules": "rules",
                "explain": "explain", "merchandise": "rank", "rewrite": "candidates"}


@dataclass
class ArmSetup:
    """What serving an arm takes, filled in by its kind: cascades replacing the engine's
    (by answer), a fixed rule set, a model version."""

    cascades: dict[str, Cascade] = field(default_factory=dict)
    rules: RuleSet | None = None
    model_version: str | None = None


class Shipyard(Protocol):
    """What shipping a variant may change (an :class:`~cartwise.Engine` is one)."""

    rules: RuleBook

    @property
    def versions(self) -> ModelVersions: ...

    def promote(self, version: str, *, reason: str = ...) -> str: ...


@dataclass(frozen=True)
class Resources:
    """Where kinds find what a config names (the store's rules and model versions) and
    the engine's own cascades."""

    rulebook: RuleBook
    versions: ModelVersions
    cascades: dict[str, Cascade]


class VariantKind(Protocol):
    name: ClassVar[str]

    def check(self, config: dict[str, Any], *, field: str) -> dict[str, Any]:
        """The config, normalised; ValidationError naming `field` (and below) otherwise."""
        ...

    def describe(self, config: dict[str, Any]) -> str: ...

    def setup(self, config: dict[str, Any], arm: ArmSetup, resources: Resources, *, field: str) -> None:
        """Fill `arm` with what this config serves (names that do not exist: ValidationError)."""
        ...

    def ship(self, config: dict[str, Any], shipyard: Shipyard, *, reason: str) -> str:
        """Make the config the store's own where that means something; what was done."""
        ...


_KINDS: dict[str, Callable[[], VariantKind]] = {}


def register_kind(cls: type[Any]) -> type[Any]:
    _KINDS[cls.name] = cls
    return cls


def kind_names() -> list[str]:
    return sorted(_KINDS)


def kind_of(config: dict[str, Any], *, field: str = "config") -> VariantKind:
    name = config.get("kind", "control")
    factory = _KINDS.get(name) if isinstance(name, str) else None
    if factory is None:
        raise ValidationError(f"unknown variant kind {name!r}", field=f"{field}.kind", hint=f"choose one of {kind_names()}")
    return factory()


def check_config(config: Any, *, field: str) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise ValidationError("a variant config is a mapping with a `kind`", field=field)
    if len(json.dumps(config, default=str)) > 20_000:
        raise ValidationError("a variant config is at most 20,000 characters of JSON", field=field)
    return kind_of(config, field=field).check(config, field=field)


def _only(config: dict[str, Any], allowed: set[str], *, field: str) -> None:
    unknown = sorted(set(config) - allowed - {"kind"})
    if unknown:
        raise ValidationError(f"this variant kind has no setting {unknown[0]!r}", field=f"{field}.{unknown[0]}",
                              hint=f"settings: {sorted(allowed)}")


@register_kind
class ControlKind:
    name: ClassVar[str] = "control"

    def check(self, config: dict[str, Any], *, field: str) -> dict[str, Any]:
        _only(config, set(), field=field)
        return {"kind": self.name}

    def describe(self, config: dict[str, Any]) -> str:
        return "as the store answers today"

    def setup(self, config: dict[str, Any], arm: ArmSetup, resources: Resources, *, field: str) -> None:
        return None

    def ship(self, config: dict[str, Any], shipyard: Shipyard, *, reason: str) -> str:
        return "kept the store as it is"


@register_kind
class RulesKind:
    name: ClassVar[str] = "rules"

    def check(self, config: dict[str, Any], *, field: str) -> dict[str, Any]:
        _only(config, {"version", "document"}, field=field)
        version, document = config.get("version"), config.get("document")
        if (version is None) == (document is None):
            raise ValidationError("a rules variant names a saved rules `version` or gives a `document`", field=field)
        if version is not None:
            if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                raise ValidationError("version must be a rules version number (1 or more)", field=f"{field}.version")
            return {"kind": self.name, "version": version}
        if not isinstance(document, dict):
            raise ValidationError("document must be a rules document (rules, synonyms)", field=f"{field}.document")
        self._rules(document, field=field)
        return {"kind": self.name, "document": document}

    def describe(self, config: dict[str, Any]) -> str:
        if "version" in config:
            return f"rules version {config['version']}"
        document = config["document"]
        return f"its own rules ({len(document.get('rules') or ())} rules, {len(document.get('synonyms') or ())} synonyms)"

    def setup(self, config: dict[str, Any], arm: ArmSetup, resources: Resources, *, field: str) -> None:
        if "version" in config:
            try:
                saved = resources.rulebook.versions.load(config["version"])
            except CartwiseError:
                raise ValidationError(f"there is no rules version {config['version']}", field=f"{field}.version",
                                      hint="`cartwise rules versions` lists them") from None
            arm.rules = self._rules(saved.document, field=field, version=saved.version)
        else:
            arm.rules = self._rules(config["document"], field=field)

    def ship(self, config: dict[str, Any], shipyard: Shipyard, *, reason: str) -> str:
        if "version" in config:
            rules = shipyard.rules.roll_back(config["version"], source="experiment")
        else:
            rules = shipyard.rules.load_text(json.dumps(config["document"]), source="experiment", format="json",
                                             note=reason)
        return f"published the variant's rules as rules version {rules.version}"

    @staticmethod
    def _rules(document: dict[str, Any], *, field: str, version: int = 0) -> RuleSet:
        from cartwise.rules.ruleset import rule_set_of

        try:
            return rule_set_of(document, version=version, source="experiment variant")
        except ValidationError as exc:
            raise ValidationError(f"the variant's rules cannot be used: {exc.message}", field=f"{field}.document") from None


@register_kind
class RankingKind:
    name: ClassVar[str] = "ranking"

    def check(self, config: dict[str, Any], *, field: str) -> dict[str, Any]:
        _only(config, {"answers"}, field=field)
        answers = config.get("answers")
        if not isinstance(answers, dict) or not answers:
            raise ValidationError(f"answers maps some of {list(ANSWERS)} to their cascade settings",
                                  field=f"{field}.answers")
        for answer, spec in answers.items():
            where = f"{field}.answers.{answer}"
            if answer not in ANSWERS:
                raise ValidationError(f"there is no answer {answer!r}", field=where, hint=f"choose from {list(ANSWERS)}")
            self._cascade(PIPELINES[answer], spec, field=where)
        return {"kind": self.name, "answers": answers}

    def describe(self, config: dict[str, Any]) -> str:
        parts = []
        for answer, spec in config["answers"].items():
            settings = ", ".join(f"{k}={v}" for k, v in spec.items())
            parts.append(f"{answer}: {settings}")
        return "ranking " + "; ".join(parts)

    def setup(self, config: dict[str, Any], arm: ArmSetup, resources: Resources, *, field: str) -> None:
        for answer, spec in config["answers"].items():
            arm.cascades[answer] = self._cascade(resources.cascades[answer], spec, field=f"{field}.answers.{answer}")

    def ship(self, config: dict[str, Any], shipyard: Shipyard, *, reason: str) -> str:
        return ("serves this ranking to every user of the experiment's placements until it is stopped "
                "(make it permanent in the engine's pipelines)")

    @staticmethod
    def _cascade(base: Cascade, spec: Any, *, field: str) -> Cascade:
        if not isinstance(spec, dict) or not spec:
            raise ValidationError("a cascade override is a mapping of settings", field=field)
        allowed = {"tiers", "rank", "rules", "explain", "merchandise", "rewrite"}
        unknown = sorted(set(spec) - allowed)
        if unknown:
            raise ValidationError(f"a cascade has no setting {unknown[0]!r}", field=f"{field}.{unknown[0]}",
                                  hint=f"settings: {sorted(allowed)}")
        tiers = base.tiers
        if "tiers" in spec:
            raw = spec["tiers"]
            if not isinstance(raw, list) or not 1 <= len(raw) <= 5:
                raise ValidationError("tiers lists 1 to 5 tiers", field=f"{field}.tiers")
            made = []
            for n, tier in enumerate(raw):
                where = f"{field}.tiers.{n}"
                if not isinstance(tier, dict) or not set(tier) <= {"candidates", "rank", "merge", "rerank"}:
                    raise ValidationError("a tier has candidates, rank, merge and rerank", field=where)
                made.append(Tier(
                    candidates=tuple(_stages(tier.get("candidates"), "candidates", field=f"{where}.candidates")),
                    rank=_stage(tier.get("rank", "identity"), "rank", field=f"{where}.rank"),
                    merge=None if tier.get("merge") is None else _stage(tier["merge"], "merge", field=f"{where}.merge"),
                    rerank=tuple(_stages(tier.get("rerank", []), "rerank", field=f"{where}.rerank", empty=True)),
                ))
            tiers = tuple(made)
        if "rank" in spec:
            rank = _stage(spec["rank"], "rank", field=f"{field}.rank")
            tiers = tuple(Tier(t.candidates, rank=rank, merge=t.merge, rerank=t.rerank) for t in tiers)
        return Cascade(
            tiers=tiers,
            rules=tuple(_stages(spec["rules"], "rules", field=f"{field}.rules", empty=True)) if "rules" in spec
            else base.rules,
            explain=_stage(spec["explain"], "explain", field=f"{field}.explain") if "explain" in spec else base.explain,
            merchandise=tuple(_stages(spec["merchandise"], "merchandise", field=f"{field}.merchandise", empty=True))
            if "merchandise" in spec else base.merchandise,
            rewrite=tuple(_stages(spec["rewrite"], "rewrite", field=f"{field}.rewrite", empty=True))
            if "rewrite" in spec else base.rewrite,
        )


def _stage(name: Any, role: str, *, field: str) -> str:
    if not isinstance(name, str):
        raise ValidationError("a stage is named by text", field=field)
    try:
        stage = make_stage(name)
    except ValidationError as exc:
        raise ValidationError(exc.message, field=field, hint=exc.hint) from None
    if stage.kind != _STAGE_KINDS[role]:
        raise ValidationError(f"stage {name!r} is a {stage.kind} stage, not a {_STAGE_KINDS[role]} stage", field=field)
    return name


def _stages(names: Any, role: str, *, field: str, empty: bool = False) -> list[str]:
    if not isinstance(names, list) or (not names and not empty) or len(names) > 10:
        raise ValidationError(f"{role} lists {'0' if empty else '1'} to 10 stage names", field=field)
    return [_stage(name, role, field=f"{field}.{n}") for n, name in enumerate(names)]


@register_kind
class ModelKind:
    """A kept model version. Its recommender, item neighbours, popularity and click model
    answer recommendations and similar items; the search indexes (lexical and semantic)
    stay those of the live version, because a second copy of every index per arm is more
    memory than an experiment should cost: a model variant in a ``search`` placement
    changes only what search reads from the models (nothing today), and says so."""

    name: ClassVar[str] = "model"

    def check(self, config: dict[str, Any], *, field: str) -> dict[str, Any]:
        _only(config, {"version"}, field=field)
        version = config.get("version")
        if not isinstance(version, str) or not version or len(version) > 100:
            raise ValidationError("version names a kept model version (`cartwise models list`)",
                                  field=f"{field}.version")
        return {"kind": self.name, "version": version}

    def describe(self, config: dict[str, Any]) -> str:
        return f"model version {config['version']}"

    def setup(self, config: dict[str, Any], arm: ArmSetup, resources: Resources, *, field: str) -> None:
        kept = {info.version for info in resources.versions.list_versions()}
        if config["version"] not in kept:
            raise ValidationError(f"there is no kept model version {config['version']!r}", field=f"{field}.version",
                                  hint="`cartwise models list` shows them")
        arm.model_version = config["version"]

    def ship(self, config: dict[str, Any], shipyard: Shipyard, *, reason: str) -> str:
        live = shipyard.promote(config["version"], reason=reason)
        return f"promoted model version {live}"


__all__ = [
    "ANSWERS",
    "ArmSetup",
    "ControlKind",
    "ModelKind",
    "RankingKind",
    "Resources",
    "RulesKind",
    "Shipyard",
    "VariantKind",
    "check_config",
    "kind_names",
    "kind_of",
    "register_kind",
]
