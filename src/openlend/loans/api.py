"""``/v1/loans``: reads (loans are made by drawdowns on credit lines)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from .. import errors
from ..customers.api import problems
from ..web import DB
from . import service
from .schemas import LoanList, LoanOut, ScheduleOut

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
