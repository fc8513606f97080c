"""Request and response shapes of drawdowns and ``/v1/loans`` (types only)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from ..web import Amount, Model, Rate


class DrawdownCreate(Model):
    amount: Amount = Field(description="The principal drawn, a decimal string in major units.", examples=["5000.00"])
    currency: str | None = Field(None, min_length=3, max_length=3, description="Must be the line's (the default).")
    term: StrictInt = Field(ge=1, le=1200, description="Periods: one of the product's terms.", examples=[12])
    annual_rate: Rate | None = Field(None, description="Percent a year within the product's range; default: "
                                                       "the product's default rate.", examples=["18"])
    disbursement_date: dt.date | None = Field(None, description="Default: today; never in the future.")
    first_due_date: dt.date | None = Field(None, description="Default: one period after disbursement.")


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class AprOut(_Out):
    nominal: str
    effective: str


class InstallmentOut(_Out):
    number: int
    from_date: str
    due_date: str
    days: int
    principal: str
    interest: str
    fees: str
    total: str


class ScheduleOut(_Out):
    object: str = "loan_schedule"
    loan_id: str
    version: int
    current: bool
    reason: str | None = None
    effective_date: str | None = None
    currency: str
    installments: list[InstallmentOut]
    total_principal: str
    total_interest: str
    total_fees: str
    total: str


class LoanOut(_Out):
    object: str = "loan"
    id: str
    receipt_no: str = Field(description="借据号: LN + yyyymmdd + an 8-digit sequence.")
    customer_id: str
    credit_line_id: str
    product_id: str
    product_version: int
    status: str = Field(description="active, overdue, paid_off or written_off")
    currency: str
    principal: str
    annual_rate: str
    term: int
    disbursement_date: str
    first_due_date: str
    maturity_date: str
    upfront_fees: str
    net_disbursed: str
    apr: AprOut
    principal_outstanding: str
    days_past_due: int
    bucket: str
    schedule_version: int
    schedule: ScheduleOut | None = Field(None, description="The current schedule (one loan only; lists leave it out).")
    created_at: str
    livemode: bool


class LoanList(_Out):
    object: str = "list"
    data: list[LoanOut]
    has_more: bool
    next_cursor: str | None = None


DRAWDOWN_EXAMPLE: dict[str, Any] = {"amount": "5000.00", "term": 12}
