"""Exchange rates for price phrases written in another currency than the catalog's.

A shopper's "under $10" on a catalog priced in GBP is ten dollars, not ten pounds. Query
understanding reads the phrase's currency (:attr:`ParsedQuery.price_currency`); the search
page converts the bounds into the catalog's currency with the rates configured here, or,
without a rate, leaves the price out and says so in the chip. Rates are set by the store's
operator (``CARTWISE_RATES`` or ``cartwise search --rate``): Cartwise never fetches them.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cartwise.errors import ValidationError

ENVIRONMENT_VARIABLE = "CARTWISE_RATES"
_RATE = re.compile(r"^\s*([A-Za-z]{3})\s*[:/]\s*([A-Za-z]{3})\s*=\s*([0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)\s*$")


@dataclass(frozen=True)
class ExchangeRates:
    """Rates between ISO 4217 currencies: ``rates[("USD", "GBP")] = 0.79`` means one US dollar
    is 0.79 pounds. A rate also answers the opposite direction (1 / rate)."""

    rates: Mapping[tuple[str, str], float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for (source, target), rate in self.rates.items():
            if not (_is_code(source) and _is_code(target)):
                raise ValidationError(f"currencies must be 3-letter codes such as USD, got {source}:{target}",
                                      field="rate")
            if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
                raise ValidationError(f"the rate {source}:{target} must be a finite number > 0, got {rate!r}",
                                      field="rate")

    @classmethod
    def parse(cls, specs: Iterable[str]) -> ExchangeRates:
        """From ``"USD:GBP=0.79"`` strings (also comma-separated in one string)."""
        rates: dict[tuple[str, str], float] = {}
        for spec in specs:
            for part in filter(None, (p.strip() for p in spec.split(","))):
                match = _RATE.match(part)
                if match is None:
                    raise ValidationError(
                        f"exchange rate {part!r} is not of the form FROM:TO=RATE", field="rate",
                        hint="e.g. USD:GBP=0.79 (one US dollar is 0.79 pounds)",
                    )
                source, target, rate = match.groups()
                rates[(source.upper(), target.upper())] = float(rate)
        return cls(rates)

    @classmethod
    def from_environment(cls) -> ExchangeRates:
        """The rates in ``CARTWISE_RATES`` (e.g. ``USD:GBP=0.79,CNY:GBP=0.11``), or none."""
        value = os.environ.get(ENVIRONMENT_VARIABLE, "")
        return cls.parse([value]) if value.strip() else cls()

    def rate(self, source: str, target: str) -> float | None:
        """How many `target` one `source` buys, or None when no rate is configured."""
        source, target = source.upper(), target.upper()
        if source == target:
            return 1.0
        direct = self.rates.get((source, target))
        if direct is not None:
            return direct
        inverse = self.rates.get((target, source))
        return 1.0 / inverse if inverse is not None else None

    def __bool__(self) -> bool:
        return bool(self.rates)


def _is_code(value: object) -> bool:
    return isinstance(value, str) and len(value) == 3 and value.isalpha() and value.isupper()


__all__ = ["ENVIRONMENT_VARIABLE", "ExchangeRates"]
