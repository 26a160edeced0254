"""Price phrases in another currency than the catalog's (issue 9, point 5 of the search
list): converted with configured rates, or not applied and said so in the chip."""

from __future__ import annotations

import pytest

from cartwise.errors import ValidationError
from cartwise.search.currency import ExchangeRates
from cartwise.search.understand import QueryUnderstanding


def price_chip(response):
    return next(c for c in response.chips if c.kind == "price")


@pytest.mark.parametrize(
    ("query", "code"),
    [("mug between 5 and 10 dollars", "USD"), ("mug under $10", "USD"), ("连衣裙 200元以下", "CNY"),
     ("mug under ¥100", "CNY"), ("mug under £5", "GBP"), ("mug under 5 euros", "EUR"), ("mug under 5", None)],
)
def test_the_currency_of_a_price_phrase_is_read(query, code):
    assert QueryUnderstanding(categories=[], brands=[]).parse(query).price_currency == code


def test_rates_parse_and_answer_both_directions():
    rates = ExchangeRates.parse(["usd:gbp=0.79", "CNY:GBP=0.11, EUR:GBP=0.85"])
    assert rates.rate("USD", "GBP") == 0.79 and rates.rate("GBP", "USD") == pytest.approx(1 / 0.79)
    assert rates.rate("EUR", "EUR") == 1.0 and rates.rate("USD", "CNY") is None
    with pytest.raises(ValidationError):
        ExchangeRates.parse(["USD=0.79"])
    with pytest.raises(ValidationError):
        ExchangeRates.parse(["USD:GBP=0"])


def test_a_price_in_another_currency_without_a_rate_is_not_applied(engine):
    # The fixture catalog is priced in EUR: "$" and "元" are not euros.
    for query in ("mug between 5 and 10 dollars", "连衣裙 200元以下"):
        result = engine.search(query)
        chip = price_chip(result)
        assert chip.applied.startswith("not applied") and "EUR" in chip.applied, chip.applied
        assert "price_max" not in result.filters and "price_min" not in result.filters


def test_a_bare_number_or_the_catalog_currency_applies_as_written(engine):
    for query in ("mug under 10", "mug under €10", "mug under 10 euros"):
        result = engine.search(query)
        assert price_chip(result).applied == "filter"
        assert result.filters["price_max"] == 10


def test_a_price_in_another_currency_is_converted_with_a_configured_rate(engine):
    engine.set_exchange_rates(ExchangeRates.parse(["USD:EUR=0.9"]))
    result = engine.search("mug between 5 and 10 dollars")
    assert "converted to EUR" in price_chip(result).applied
    assert (result.filters["price_min"], result.filters["price_max"]) == (4.5, 9.0)
    assert all(4.5 <= item.price <= 9.0 for item in result.items)


def test_a_price_only_query_in_another_currency_browses_and_says_so(engine):
    result = engine.search("under $10")
    assert result.mode == "browse" and result.items
    assert price_chip(result).applied.startswith("not applied")


def test_rates_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CARTWISE_RATES", "USD:GBP=0.79")
    assert ExchangeRates.from_environment().rate("USD", "GBP") == 0.79


@pytest.mark.parametrize("spec", ["USD:GBP=1e400", "USD:GBP=0", "USD:GBP=1e-400"])
def test_a_rate_that_is_not_a_finite_positive_number_is_refused(spec):
    # 1e400 reads as inf (and its inverse as 0): every converted price would be inf or 0.
    with pytest.raises(ValidationError, match="must be a finite number > 0"):
        ExchangeRates.parse([spec])
