"""``/v1/loans``: reads (loans are made by drawdowns on credit lines)."""

from __future__ import annotations

from typing import Annotated, Literal

import datetime as dt

from fastapi import APIRouter, Body, Query, Request

from .. import errors
from ..web import DB, Principal, idempotent, problems
from . import service
from .schemas import (ChargeCreate, DueDayChange, LoanList, LoanOut, PayoffCreate, PrepaymentCreate, RefundCreate,
                      RepaymentCreate, RescheduleCreate, ReversalCreate, ScheduleOut, ServicingResult, TransactionList,
                      WriteOffCreate)

router = APIRouter(prefix="/loans", tags=["loans"])


@router.get("", response_model=LoanList, response_model_exclude_unset=True, summary="List loans",
            description="Newest first, without their schedules; filter by customer, credit line or status.")
def list_loans(database: DB, customer_id: Annotated[str | None, Query()] = None,
               credit_line_id: Annotated[str | None, Query()] = None,
               status: Annotated[Literal["active", "overdue", "paid_off", "written_off"] | None, Query()] = None,
               limit: Annotated[int, Query(ge=1, le=100)] = 20,
               cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None):
    with database.transaction() as conn:
        return service.list_loans(conn, customer_id=customer_id, line_id=credit_line_id, status=status,
                                  limit=limit, cursor=cursor)


@router.get("/{loan_id}", response_model=LoanOut, summary="Retrieve a loan",
            description="The loan with its current schedule.", responses=problems(errors.NOT_FOUND))
def get_loan(loan_id: str, database: DB):
    with database.transaction() as conn:
        return service.get_loan(conn, loan_id)


@router.get("/{loan_id}/schedule", response_model=ScheduleOut, summary="A loan's schedule",
            description=("The current schedule with what was charged and paid per installment; `?version=N` gives "
                         "schedule version N as it was made (versions are immutable)."),
            responses=problems(errors.NOT_FOUND))
def get_schedule(loan_id: str, database: DB, version: Annotated[int | None, Query(ge=1)] = None):
    with database.transaction() as conn:
        return service.get_schedule(conn, loan_id, version)


# --- servicing ----------------------------------------------------------------------------------------

_MONEY = (errors.NOT_FOUND, errors.VALIDATION, service.LOAN_CLOSED, errors.IDEMPOTENCY_REQUIRED,
          errors.IDEMPOTENCY_MISMATCH, errors.IDEMPOTENCY_IN_FLIGHT)
_EVENT = (errors.NOT_FOUND, errors.VALIDATION, service.LOAN_CLOSED, errors.IDEMPOTENCY_MISMATCH,
          errors.IDEMPOTENCY_IN_FLIGHT)


def _doc(body) -> dict:
    return body.model_dump(mode="json", exclude_unset=True) if body is not None else {}


@router.post("/{loan_id}/repayments", status_code=201, response_model=ServicingResult, summary="Repay a loan",
             description=("Allocated by the product's order and strategy (overdue first, then due, then the next "
                          "installment); at least the payoff figure on the value date pays the loan off, the rest is "
                          "held as overpayment. A backdated value date re-runs the loan's later events. Posts the "
                          "difference entry and frees the repaid principal on the line. Requires an "
                          "`Idempotency-Key`."), responses=problems(*_MONEY))
def repay(loan_id: str, body: RepaymentCreate, request: Request, database: DB, principal: Principal):
    return idempotent(request, database, principal, _doc(body), lambda conn: (201, service.repay(
        conn, loan_id, amount=body.amount, value_date=body.value_date, channel=body.channel,
        currency=body.currency)), required=True)


@router.get("/{loan_id}/payoff-quote", summary="Payoff quote",
            description="What pays the loan off on `date` (default: the business date), valid until that date.",
            responses=problems(errors.NOT_FOUND, errors.VALIDATION, service.LOAN_CLOSED))
def payoff_quote(loan_id: str, database: DB, date: Annotated[dt.date | None, Query()] = None):
    with database.transaction() as conn:
        return service.payoff_quote(conn, loan_id, date)


@router.post("/{loan_id}/payoff", status_code=201, response_model=ServicingResult, summary="Pay a loan off",
             description=("Pays the payoff figure for `date` (with `amount`, only if it is still the figure): the "
                          "loan is closed and its line freed. Requires an `Idempotency-Key`."),
             responses=problems(*_MONEY, service.PAYOFF_QUOTE_CHANGED))
def payoff(loan_id: str, request: Request, database: DB, principal: Principal,
           body: Annotated[PayoffCreate | None, Body()] = None):
    b = body or PayoffCreate()
    return idempotent(request, database, principal, _doc(body), lambda conn: (201, service.payoff(
        conn, loan_id, on=b.date, channel=b.channel, expected_total=b.amount)), required=True)


@router.post("/{loan_id}/prepayments", status_code=201, response_model=ServicingResult, summary="Prepay a loan",
             description=("Interest to the value date first, then principal; the rest of the schedule is re-laid "
                          "(`reduce_installment` or `reduce_term`) as a new schedule version. Requires an "
                          "`Idempotency-Key`."), responses=problems(*_MONEY))
def prepay(loan_id: str, body: PrepaymentCreate, request: Request, database: DB, principal: Principal):
    return idempotent(request, database, principal, _doc(body), lambda conn: (201, service.prepay(
        conn, loan_id, amount=body.amount, mode=body.mode, value_date=body.value_date, channel=body.channel,
        currency=body.currency)), required=True)


@router.get("/{loan_id}/due-day-change-quote", summary="Quote a new repayment day",
            description="The schedule after moving the repayment day, with the broken period's interest.",
            responses=problems(errors.NOT_FOUND, errors.VALIDATION, service.LOAN_CLOSED))
def due_day_change_quote(loan_id: str, database: DB, new_day: Annotated[int, Query(ge=1, le=28)],
                         date: Annotated[dt.date | None, Query()] = None):
    with database.transaction() as conn:
        return service.due_day_change_quote(conn, loan_id, new_day, date)


@router.post("/{loan_id}/change-due-day", status_code=201, response_model=ServicingResult,
             summary="Change the repayment day", description="Confirms the quote: a new schedule version.",
             responses=problems(*_EVENT))
def change_due_day(loan_id: str, body: DueDayChange, request: Request, database: DB, principal: Principal):
    return idempotent(request, database, principal, _doc(body), lambda conn: (201, service.change_due_day(
        conn, loan_id, new_day=body.new_day, value_date=body.value_date)))


@router.post("/{loan_id}/reschedule", status_code=201, response_model=ServicingResult, summary="Change the term",
             description="Re-lays the unpaid principal over `new_term` installments from the next one.",
             responses=problems(*_EVENT))
def reschedule(loan_id: str, body: RescheduleCreate, request: Request, database: DB, principal: Principal):
    return idempotent(request, database, principal, _doc(body), lambda conn: (201, service.reschedule(
        conn, loan_id, new_term=body.new_term, value_date=body.value_date)))


@router.post("/{loan_id}/write-off", status_code=201, response_model=ServicingResult, summary="Write a loan off",
             description=("Closes the loan: what is outstanding is written off (Dr 5000 / Cr receivables) and the "
                          "line freed. Requires an `Idempotency-Key`."), responses=problems(*_MONEY))
def write_off(loan_id: str, request: Request, database: DB, principal: Principal,
              body: Annotated[WriteOffCreate | None, Body()] = None):
    b = body or WriteOffCreate()
    return idempotent(request, database, principal, _doc(body), lambda conn: (201, service.write_off(
        conn, loan_id, value_date=b.value_date, reason=b.reason)), required=True)


@router.post("/{loan_id}/transactions/{txn_id}/reversal", status_code=201, response_model=ServicingResult,
             summary="Reverse a transaction",
             description=("The event is marked reversed and the loan re-folded without it; the difference is posted "
                          "as a new entry. Requires an `Idempotency-Key`."),
             responses=problems(*_MONEY, service.NOT_REVERSIBLE))
def reverse(loan_id: str, txn_id: str, request: Request, database: DB, principal: Principal,
            body: Annotated[ReversalCreate | None, Body()] = None):
    b = body or ReversalCreate()
    return idempotent(request, database, principal, _doc(body), lambda conn: (201, service.reverse(
        conn, loan_id, txn_id, reason=b.reason)), required=True)


@router.get("/{loan_id}/transactions", response_model=TransactionList, summary="A loan's transactions",
            description=("In the order entered (oldest first: a loan's history reads forward); reversed ones are "
                         "kept and marked. Paged with `limit` and `cursor` (the previous page's `next_cursor`)."),
            responses=problems(errors.NOT_FOUND, errors.VALIDATION))
def list_transactions(loan_id: str, database: DB, limit: Annotated[int, Query(ge=1, le=100)] = 20,
                      cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None):
    with database.transaction() as conn:
        return service.list_transactions(conn, loan_id, limit=limit, cursor=cursor)


@router.post("/{loan_id}/charges", status_code=201, response_model=ServicingResult, summary="Charge a fee",
             description=("A fee on the installment whose period holds `value_date` (default: the business date), "
                          "recognised at once (Dr 1120 / Cr 4100); it shows on the schedule and in the payoff quote. "
                          "Reversible. Requires an `Idempotency-Key`."), responses=problems(*_MONEY))
def charge(loan_id: str, body: ChargeCreate, request: Request, database: DB, principal: Principal):
    return idempotent(request, database, principal, _doc(body), lambda conn: (201, service.charge(
        conn, loan_id, amount=body.amount, name=body.name, value_date=body.value_date,
        currency=body.currency)), required=True)


@router.post("/{loan_id}/refunds", status_code=201, response_model=ServicingResult, summary="Refund overpayment",
             description=("Pays back overpayment held on the loan (at most what is held on the value date), also on "
                          "a paid-off loan: Dr 2100 / Cr 1300 disbursement clearing. Reversible. Requires an "
                          "`Idempotency-Key`."), responses=problems(*_MONEY))
def refund(loan_id: str, body: RefundCreate, request: Request, database: DB, principal: Principal):
    return idempotent(request, database, principal, _doc(body), lambda conn: (201, service.refund(
        conn, loan_id, amount=body.amount, value_date=body.value_date, channel=body.channel,
        currency=body.currency)), required=True)
