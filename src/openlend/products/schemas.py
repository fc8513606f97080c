"""Request and response shapes of ``/v1/products`` (types only; the rules live in :mod:`.rules`).

Amounts and rates are decimal strings (a JSON number is refused with 422); unknown fields are
refused; every optional part has the default that :func:`.rules.normalize` writes into the stored
version.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from ..web import Amount, Model, Rate

Method = Literal["equal_installment", "equal_principal", "flat", "interest_only", "bullet"]
Unit = Literal["month", "week", "day"]
Basis = Literal["period", "daily"]
DayCount = Literal["30/360", "ACT/360", "ACT/365", "ACT/364", "ACT/ACT"]
RoundingMode = Literal["half_even", "half_up", "half_down", "up", "down", "ceiling", "floor"]
Component = Literal["penalty", "fees", "interest", "principal"]
Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$",
                            description="Unique, immutable product code (letters, digits, `_ . -`; at most 64).",
                            examples=["CASH-12M"])]
Periods = Annotated[StrictInt, Field(ge=0, le=1200)]
Term = Annotated[StrictInt, Field(ge=1, le=1200)]


class FrequencyIn(Model):
    unit: Unit = "month"
    every: Annotated[StrictInt, Field(ge=1, le=366)] = 1


class RateRange(Model):
    """Annual rates in percent. ``min`` and ``max`` default to ``default`` (a single-rate product)."""

    min: Rate | None = None
    max: Rate | None = None
    default: Rate


class TermRange(Model):
    """Terms in periods of the frequency. With ``allowed`` alone, ``min``/``max`` are its ends."""

    min: Term | None = None
    max: Term | None = None
    allowed: list[Term] | None = Field(default=None, max_length=1200,
                                       description="The only terms offered, e.g. [3, 6, 9, 12]; null: any term in min..max.")


class AmountRange(Model):
    min: Amount
    max: Amount


class Grace(Model):
    principal_periods: Periods = Field(0, description="First periods with no principal due (interest is paid).")
    interest_periods: Periods = Field(0, description="First periods whose interest is collected later, not waived.")
    interest_free_periods: Periods = Field(0, description="First periods in which no interest accrues.")


class FeeIn(Model):
    name: str = Field(min_length=1, max_length=64, examples=["service"])
    kind: Literal["upfront", "each_installment"] = Field(
        description="upfront: deducted from the amount paid out; each_installment: added to every installment.")
    calculation: Literal["fixed", "percent"] = Field(description="fixed: an amount; percent: of the principal.")
    value: Amount = Field(description="The amount (fixed) or the percent of the principal (percent).")


class Penalty(Model):
    """Penalty interest on overdue principal: a multiple of the contract rate (1.5 by default) or a
    fixed annual rate in percent."""

    calculation: Literal["multiplier", "fixed_rate"] = "multiplier"
    value: Amount | None = Field(None, description="The multiplier (default 1.5) or the annual rate in percent.")


class PrepaymentFee(Model):
    """What prepaying costs: nothing by default; or a fixed amount; or a percent of the principal prepaid."""

    calculation: Literal["none", "fixed", "percent"] = "none"
    value: Amount | None = None


class Allocation(Model):
    """How a repayment is split. ``installment_first``: the oldest installment's components in
    ``order``, then the next installment (Fineract's due-date/overdue first); ``component_first``:
    the first component across all installments, then the next (horizontal)."""

    order: list[Component] = Field(default_factory=lambda: ["penalty", "fees", "interest", "principal"],
                                   min_length=1, max_length=4)
    strategy: Literal["installment_first", "component_first"] = "installment_first"


class Rounding(Model):
    places: Annotated[StrictInt, Field(ge=0, le=9)] | None = Field(
        None, description="Decimal places of interest and installments; default: the currency's minor units.")
    mode: RoundingMode = "half_even"
    installment_multiple: Amount | None = Field(None, description="Round level installments to a multiple, e.g. \"1\".")
    installment_rounding: RoundingMode = "half_even"


class ProductConfig(Model):
    """Everything a product version says (all of it except ``code``, which never changes)."""

    name: str = Field(min_length=1, max_length=200, examples=["Consumer cash loan, 3-12 months"])
    currency: str = Field(min_length=3, max_length=3, examples=["CNY"])
    method: Method
    frequency: FrequencyIn = Field(default_factory=FrequencyIn)
    interest_basis: Basis = "period"
    day_count: DayCount | None = Field(None, description="Default: 30/360 with the period basis, ACT/365 with daily.")
    rate: RateRange
    term: TermRange
    amount: AmountRange
    grace: Grace = Field(default_factory=Grace)
    fees: list[FeeIn] = Field(default_factory=list, max_length=20)
    penalty: Penalty = Field(default_factory=Penalty)
    prepayment_fee: PrepaymentFee = Field(default_factory=PrepaymentFee)
    allocation: Allocation = Field(default_factory=Allocation)
    rounding: Rounding = Field(default_factory=Rounding)
    apr_cap: Rate | None = Field(None, description="A cap below the platform's (OPENLEND_APR_CAP_PERCENT, 24 by default).")


class ProductCreate(ProductConfig):
    code: Code


PRODUCT_EXAMPLE: dict[str, Any] = {
    "code": "CASH-12M",
    "name": "Consumer cash loan, 3-12 months",
    "currency": "CNY",
    "method": "equal_installment",
    "frequency": {"unit": "month", "every": 1},
    "rate": {"min": "12", "max": "18", "default": "18"},
    "term": {"allowed": [3, 6, 9, 12]},
    "amount": {"min": "1000.00", "max": "50000.00"},
    "fees": [{"name": "service", "kind": "each_installment", "calculation": "percent", "value": "0.1"}],
}


# --- responses (documentation; routes build plain dicts) ----------------------------------------

class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class FrequencyOut(_Out):
    unit: str
    every: int


class RateOut(_Out):
    min: str
    max: str
    default: str


class TermOut(_Out):
    min: int
    max: int
    allowed: list[int] | None


class AmountOut(_Out):
    min: str
    max: str


class FeeOut(_Out):
    name: str
    kind: str
    calculation: str
    value: str


class WorstCaseApr(_Out):
    """The highest APR over the product's corners, checked against ``cap`` when the version was made."""

    nominal: str = Field(description="Percent: periodic IRR x periods a year; the figure compared with the cap.")
    effective: str = Field(description="Percent: XIRR on the actual dates (compounded).")
    cap: str
    annual_rate: str
    amount: str
    term: int
    disbursement_date: str


class ProductOut(_Out):
    object: Literal["loan_product"] = "loan_product"
    id: str
    code: str
    name: str
    status: Literal["active", "retired"]
    version: int = Field(description="The version shown (the current one unless ?version= asked for another).")
    current_version: int
    currency: str
    method: str
    frequency: FrequencyOut
    interest_basis: str
    day_count: str
    rate: RateOut
    term: TermOut
    amount: AmountOut
    grace: dict[str, int]
    fees: list[FeeOut]
    penalty: dict[str, str]
    prepayment_fee: dict[str, str | None]
    allocation: dict[str, Any]
    rounding: dict[str, Any]
    apr_cap: str | None
    worst_case_apr: WorstCaseApr
    version_created_at: str
    created_at: str
    retired_at: str | None
    livemode: bool


class ProductList(_Out):
    object: Literal["list"] = "list"
    data: list[ProductOut]
    has_more: bool
    next_cursor: str | None = None


def to_native(value: Any) -> Any:
    """A validated model as plain dicts and lists keeping its ``Decimal`` values (``model_dump``
    would turn them into strings: the ``Amount`` and ``Rate`` serialisers apply in Python mode too)."""
    if isinstance(value, BaseModel):
        return {name: to_native(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, list):
        return [to_native(v) for v in value]
    return value
