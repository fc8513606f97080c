"""Money: exact Decimal amounts with a currency, and the one rounding function.

Every amount in openlend is a :class:`decimal.Decimal` (never a float), carried beside an ISO 4217
currency code.  The number of decimal places comes from the currency (CNY 2, JPY 0, KWD 3); a
product may round to fewer.  All rounding goes through :func:`round_money` (or
:func:`round_to_multiple`, which uses it), so that a rounding mode means the same thing everywhere.

Rounding modes carry Java's ``RoundingMode`` names (as Apache Fineract does), in lower case:
``half_even`` (banker's rounding, the default), ``half_up``, ``half_down``, ``up`` (away from
zero), ``down`` (towards zero), ``ceiling`` and ``floor``.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

# Exact arithmetic context for money: 34 significant digits (IEEE decimal128) is far beyond any
# amount a lender books, and traps make an inexact or invalid operation loud instead of silent.
MONEY_CONTEXT = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN,
                                traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])

# ISO 4217 minor units for the currencies a Chinese consumer lender meets; anything else defaults to 2.
CURRENCY_PLACES: dict[str, int] = {
    "CNY": 2, "HKD": 2, "MOP": 2, "TWD": 2, "USD": 2, "EUR": 2, "GBP": 2, "SGD": 2, "AUD": 2,
    "CAD": 2, "CHF": 2, "INR": 2, "IDR": 2, "MYR": 2, "PHP": 2, "THB": 2, "KES": 2, "NGN": 2,
    "JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "UGX": 0, "XOF": 0, "XAF": 0,
    "KWD": 3, "BHD": 3, "JOD": 3, "OMR": 3, "TND": 3,
}


class RoundingMode(str, Enum):
    HALF_EVEN = "half_even"
    HALF_UP = "half_up"
    HALF_DOWN = "half_down"
    UP = "up"
    DOWN = "down"
    CEILING = "ceiling"
    FLOOR = "floor"

    @property
    def decimal_mode(self) -> str:
        return _DECIMAL_MODES[self]


_DECIMAL_MODES = {
    RoundingMode.HALF_EVEN: decimal.ROUND_HALF_EVEN,
    RoundingMode.HALF_UP: decimal.ROUND_HALF_UP,
    RoundingMode.HALF_DOWN: decimal.ROUND_HALF_DOWN,
    RoundingMode.UP: decimal.ROUND_UP,
    RoundingMode.DOWN: decimal.ROUND_DOWN,
    RoundingMode.CEILING: decimal.ROUND_CEILING,
    RoundingMode.FLOOR: decimal.ROUND_FLOOR,
}

_QUANTS = {p: Decimal(1).scaleb(-p) for p in range(0, 10)}
ZERO = Decimal(0)


class MoneyError(ValueError):
    """An amount or currency that cannot be accepted; ``field`` names the offending input."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def currency_places(currency: str) -> int:
    return CURRENCY_PLACES.get(currency, 2)


def validate_currency(code: Any, field: str = "currency") -> str:
    if not isinstance(code, str) or len(code) != 3 or not code.isascii() or not code.isalpha() or not code.isupper():
        raise MoneyError(f"{field} must be a three-letter ISO 4217 code in upper case, such as CNY", field)
    return code


def round_money(amount: Decimal, places: int = 2, mode: RoundingMode | str = RoundingMode.HALF_EVEN) -> Decimal:
    """The one rounding function: ``amount`` to ``places`` decimal places with ``mode``."""
    rm = mode.decimal_mode if isinstance(mode, RoundingMode) else RoundingMode(mode).decimal_mode
    q = _QUANTS.get(places) or Decimal(1).scaleb(-places)
    return amount.quantize(q, rounding=rm, context=MONEY_CONTEXT)


def round_to_multiple(amount: Decimal, multiple: Decimal, mode: RoundingMode | str = RoundingMode.HALF_EVEN) -> Decimal:
    """Round ``amount`` to a multiple of ``multiple`` (e.g. installments in multiples of 1 or 10)."""
    if multiple <= 0:
        raise MoneyError("multiple must be positive", "installment_multiple")
    units = round_money(amount / multiple, 0, mode)
    return units * multiple


def parse_amount(value: Any, field: str = "amount", *, allow_zero: bool = True, allow_negative: bool = False,
                 places: int | None = None) -> Decimal:
    """An amount from JSON: a decimal *string* only.

    A JSON number is refused, because a float has already lost the cents by the time it reaches
    us (``0.1 + 0.2``); so are NaN, infinities, exponents and more decimals than ``places``.
    """
    if isinstance(value, bool) or not isinstance(value, str):
        raise MoneyError(f"{field} must be a decimal string such as \"1500.00\", not a JSON number", field)
    text = value.strip()
    if not text or any(c in text for c in "eE_ ") or text.lower() in {"nan", "inf", "infinity", "-inf"}:
        raise MoneyError(f"{field} must be a plain decimal string such as \"1500.00\"", field)
    try:
        amount = Decimal(text)
    except decimal.InvalidOperation:
        raise MoneyError(f"{field} must be a decimal string such as \"1500.00\"", field) from None
    if not amount.is_finite():
        raise MoneyError(f"{field} must be a finite decimal", field)
    if amount < 0 and not allow_negative:
        raise MoneyError(f"{field} must not be negative", field)
    if amount == 0 and not allow_zero:
        raise MoneyError(f"{field} must be greater than zero", field)
    if places is not None and amount.as_tuple().exponent < -places:  # type: ignore[operator]
        raise MoneyError(f"{field} has more than {places} decimal places", field)
    return amount


def to_str(amount: Decimal, places: int | None = None) -> str:
    """Fixed-point text for JSON (never an exponent); padded to ``places`` when given."""
    if places is not None:
        amount = amount.quantize(_QUANTS.get(places) or Decimal(1).scaleb(-places), context=MONEY_CONTEXT)
    return format(amount, "f")


@dataclass(frozen=True, slots=True)
class Money:
    """An amount with its currency; arithmetic refuses to mix currencies."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError("Money.amount must be a Decimal")

    @classmethod
    def of(cls, amount: str | Decimal | int, currency: str) -> "Money":
        if isinstance(amount, float):
            raise TypeError("float is not money")
        return cls(Decimal(amount), validate_currency(currency))

    @classmethod
    def zero(cls, currency: str) -> "Money":
        return cls(ZERO, currency)

    @property
    def places(self) -> int:
        return currency_places(self.currency)

    def _check(self, other: "Money") -> None:
        if not isinstance(other, Money):
            raise TypeError("can only combine Money with Money")
        if other.currency != self.currency:
            raise MoneyError(f"cannot combine {self.currency} with {other.currency}", "currency")

    def __add__(self, other: "Money") -> "Money":
        self._check(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: "Money") -> "Money":
        self._check(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> "Money":
        return Money(-self.amount, self.currency)

    def __lt__(self, other: "Money") -> bool:
        self._check(other)
        return self.amount < other.amount

    def __le__(self, other: "Money") -> bool:
        self._check(other)
        return self.amount <= other.amount

    def rounded(self, places: int | None = None, mode: RoundingMode | str = RoundingMode.HALF_EVEN) -> "Money":
        return Money(round_money(self.amount, self.places if places is None else places, mode), self.currency)

    def to_json(self) -> dict[str, str]:
        return {"amount": to_str(self.amount, self.places), "currency": self.currency}

    def __str__(self) -> str:
        return f"{to_str(self.amount, self.places)} {self.currency}"
