"""money.py: exact amounts, one rounding function, JSON strings only."""

from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from openlend.money import Money, MoneyError, parse_amount, round_money, round_to_multiple, to_str


@pytest.mark.parametrize("mode, value, expected", [
    ("half_even", "2.345", "2.34"), ("half_even", "2.355", "2.36"), ("half_up", "2.345", "2.35"),
    ("up", "2.341", "2.35"), ("down", "2.349", "2.34"), ("ceiling", "-2.349", "-2.34"), ("floor", "-2.341", "-2.35"),
])
def test_rounding_modes(mode, value, expected):
    assert round_money(Decimal(value), 2, mode) == Decimal(expected)


def test_round_to_multiple():
    assert round_to_multiple(Decimal("304.91"), Decimal("1")) == Decimal("305")
    assert round_to_multiple(Decimal("327.78"), Decimal("10"), "down") == Decimal("320")
    with pytest.raises(MoneyError):
        round_to_multiple(Decimal("1"), Decimal("0"))


@pytest.mark.parametrize("bad", [1500, 1500.0, True, None, "", "1e3", "NaN", "inf", "12,5", "1_000"])
def test_parse_amount_refuses_anything_but_a_decimal_string(bad):
    with pytest.raises(MoneyError) as e:
        parse_amount(bad, "amount")
    assert e.value.field == "amount"


def test_parse_amount_rules():
    assert parse_amount("1500.00") == Decimal("1500.00")
    with pytest.raises(MoneyError):
        parse_amount("-1")
    with pytest.raises(MoneyError):
        parse_amount("0", allow_zero=False)
    with pytest.raises(MoneyError):
        parse_amount("1.001", places=2)


def test_money_refuses_floats_and_mixed_currencies():
    with pytest.raises(TypeError):
        Money.of(1.5, "CNY")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        Money.of("1", "CNY") + Money.of("1", "USD")
    assert (Money.of("1.10", "CNY") + Money.of("2.20", "CNY")).to_json() == {"amount": "3.30", "currency": "CNY"}
    assert Money.of("5", "JPY").to_json() == {"amount": "5", "currency": "JPY"}


@given(st.decimals(min_value=-10**9, max_value=10**9, places=6, allow_nan=False, allow_infinity=False))
def test_to_str_never_uses_an_exponent(d):
    text = to_str(d, 2)
    assert "E" not in text and "e" not in text
    assert Decimal(text) == round_money(d, 2)
