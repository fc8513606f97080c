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

# Active ISO 4217 currency codes (2025), less precious metals, funds and testing codes: a lender
# lends in money.  Catches the usual slip of "RMB" for CNY.
ISO_CURRENCIES = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD
CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD
GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT
LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR
NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP
STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD
XCG XOF XPF YER ZAR ZMW ZWG
""".split())

# ISO 4217 minor units where they are not 2 (CNY and most others have 2).
CURRENCY_PLACES: dict[str, int] = {
    **{c: 0 for c in "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split()},
    **{c: 3 for c in "BHD IQD JOD KWD LYD OMR TND".split()},
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
    if not isinstance(code, str) or code not in ISO_CURRENCIES:
        raise MoneyError(f"{field} must be an ISO 4217 currency code in upper case, such as CNY", field)
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
