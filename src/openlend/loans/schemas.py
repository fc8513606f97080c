"""Request and response shapes of drawdowns and ``/v1/loans`` (types only)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

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


# --- servicing ----------------------------------------------------------------------------------------

class RepaymentCreate(Model):
    amount: Amount = Field(description="A decimal string in major units.", examples=["17.01"])
    currency: str | None = Field(None, min_length=3, max_length=3, description="Must be the loan's (the default).")
    value_date: dt.date | None = Field(None, description="Default: the business date; not before the "
                                                         "disbursement, not in the future.")
    channel: str | None = Field(None, max_length=50, examples=["bank_transfer"])


class PrepaymentCreate(RepaymentCreate):
    mode: Literal["reduce_installment", "reduce_term"] = Field(
        "reduce_installment", description="Keep the term (smaller installment) or the installment (shorter term).")


class PayoffCreate(Model):
    date: dt.date | None = Field(None, description="The payoff date (default: the business date).")
    amount: Amount | None = Field(None, description="The quoted total; when given it must still be the figure.")
    channel: str | None = Field(None, max_length=50)


class DueDayChange(Model):
    new_day: StrictInt = Field(ge=1, le=28, description="The new repayment day of the month (1..28).")
    value_date: dt.date | None = None


class RescheduleCreate(Model):
    new_term: StrictInt = Field(ge=1, le=1200, description="Installments remaining, counted from the next one.")
    value_date: dt.date | None = None


class WriteOffCreate(Model):
    value_date: dt.date | None = None
    reason: str | None = Field(None, max_length=500)


class ChargeCreate(Model):
    amount: Amount = Field(description="The fee, a decimal string in major units.", examples=["20.00"])
    name: str = Field(min_length=1, max_length=100, description="What the fee is for (shown on the transaction).",
                      examples=["late_statement_fee"])
    currency: str | None = Field(None, min_length=3, max_length=3, description="Must be the loan's (the default).")
    value_date: dt.date | None = Field(None, description="Default: the business date; the fee goes on the "
                                                         "installment whose period holds it.")


class RefundCreate(Model):
    amount: Amount = Field(description="At most the overpayment held on the value date.", examples=["10.00"])
    channel: str | None = Field(None, max_length=50, examples=["bank_transfer"])
    currency: str | None = Field(None, min_length=3, max_length=3, description="Must be the loan's (the default).")
    value_date: dt.date | None = Field(None, description="Default: the business date.")


class ReversalCreate(Model):
    reason: str | None = Field(None, max_length=500)


class TransactionOut(_Out):
    object: str = "loan_transaction"
    id: str
    loan_id: str
    type: str
    value_date: str
    amount: str
    currency: str
    status: str
    reversed_by: str | None = None
    details: dict[str, Any]
    entry_ids: list[str]


class ServicingResult(_Out):
    transaction: TransactionOut
    loan: LoanOut


class TransactionList(_Out):
    object: str = "list"
    data: list[TransactionOut]
    has_more: bool
    next_cursor: str | None = None
