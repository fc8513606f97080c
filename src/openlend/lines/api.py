"""``/v1/credit-lines``: lines, their limits, state, and drawdowns (thin: work in the services)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Request

from .. import errors
from ..loans import service as loans
from ..loans.schemas import DRAWDOWN_EXAMPLE, DrawdownCreate, LoanOut
from ..products import service as products
from ..web import DB, Principal, idempotent, problems
from . import service
from .schemas import (LINE_EXAMPLE, CreditLineCreate, CreditLineList, CreditLineOut, LimitChange, LimitChangeList,
                      StatusChange)

router = APIRouter(prefix="/credit-lines", tags=["credit lines"])

_KEYS = (errors.IDEMPOTENCY_MISMATCH, errors.IDEMPOTENCY_IN_FLIGHT)


@router.post("", status_code=201, response_model=CreditLineOut, summary="Open a credit line",
             description=("A line for a customer on a loan product, at the product's current version (its "
                          "drawdowns are priced and scheduled by that version). One open line per customer and "
                          "product (409 `/problems/credit-line-exists`). Takes an `Idempotency-Key`."),
             responses=problems(errors.NOT_FOUND, errors.VALIDATION, service.LINE_EXISTS, products.PRODUCT_RETIRED,
                                *_KEYS))
def create_line(body: Annotated[CreditLineCreate, Body(openapi_examples={"line": {"value": LINE_EXAMPLE}})],
                request: Request, database: DB, principal: Principal):
    doc = body.model_dump(mode="json", exclude_unset=True)
    return idempotent(request, database, principal, doc, lambda conn: (201, service.create_line(
        conn, customer_id=body.customer_id, product_id=body.product_id, limit=body.limit, currency=body.currency,
        expires_on=body.expires_on, changed_by=principal)))


@router.get("", response_model=CreditLineList, summary="List credit lines", description="Newest first.")
def list_lines(database: DB, customer_id: Annotated[str | None, Query()] = None,
               status: Annotated[Literal["active", "frozen", "closed"] | None, Query()] = None,
               limit: Annotated[int, Query(ge=1, le=100)] = 20,
               cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None):
    with database.transaction() as conn:
        return service.list_lines(conn, customer_id=customer_id, status=status, limit=limit, cursor=cursor)


@router.get("/{line_id}", response_model=CreditLineOut, summary="Retrieve a credit line",
            responses=problems(errors.NOT_FOUND))
def get_line(line_id: str, database: DB):
    with database.transaction() as conn:
        return service.get_line(conn, line_id)


@router.post("/{line_id}/limit", response_model=CreditLineOut, summary="Change a credit line's limit",
             description=("Raise or lower the limit; never below what is used (422 `/problems/limit-below-used`). "
                          "Every change is kept (`GET .../limit-changes`). Takes an `Idempotency-Key`."),
             responses=problems(errors.NOT_FOUND, errors.VALIDATION, service.LIMIT_BELOW_USED, service.LINE_CLOSED,
                                *_KEYS))
def change_limit(line_id: str, body: LimitChange, request: Request, database: DB, principal: Principal):
    doc = body.model_dump(mode="json")
    return idempotent(request, database, principal, doc, lambda conn: (200, service.change_limit(
        conn, line_id, body.limit, body.reason, changed_by=principal)))


@router.get("/{line_id}/limit-changes", response_model=LimitChangeList, summary="A credit line's limit history",
            description="Newest first, from the limit the line was opened with.", responses=problems(errors.NOT_FOUND))
def list_limit_changes(line_id: str, database: DB, limit: Annotated[int, Query(ge=1, le=100)] = 20,
                       cursor: Annotated[str | None, Query()] = None):
    with database.transaction() as conn:
        return service.list_limit_changes(conn, line_id, limit=limit, cursor=cursor)


def _state_route(action: str, fn, summary: str, description: str, *types: errors.ProblemType):
    @router.post(f"/{{line_id}}/{action}", response_model=CreditLineOut, summary=summary,
                 description=description + " Takes an `Idempotency-Key`.",
                 responses=problems(errors.NOT_FOUND, *types, *_KEYS), name=f"{action}_credit_line")
    def route(line_id: str, request: Request, database: DB, principal: Principal,
              body: Annotated[StatusChange | None, Body()] = None):
        doc = body.model_dump(mode="json", exclude_unset=True) if body else {}
        reason = body.reason if body else None
        return idempotent(request, database, principal, doc, lambda conn: (200, fn(conn, line_id, reason)))
    return route


_state_route("freeze", service.freeze, "Freeze a credit line",
             "An active line stops taking drawdowns; its loans run on and repayments still free the limit.",
             service.LINE_FROZEN, service.LINE_CLOSED)
_state_route("unfreeze", service.unfreeze, "Unfreeze a credit line", "A frozen line takes drawdowns again.",
             service.LINE_NOT_FROZEN, service.LINE_CLOSED)
_state_route("close", service.close, "Close a credit line",
             "Closes a line with nothing used (409 `/problems/credit-line-in-use` otherwise), for good.",
             service.LINE_IN_USE, service.LINE_CLOSED)


@router.post(
    "/{line_id}/drawdowns", status_code=201, response_model=LoanOut, summary="Draw down: make a loan",
    description=(
        "In one transaction: reserves `amount` of the line's available limit (one guarded statement: nothing can "
        "take a line past its limit, whatever the concurrency), makes the loan with its receipt number (借据号) "
        "and its schedule from the line's product version, and books the disbursement (Dr 1100 principal; "
        "Cr 1300 disbursement clearing the amount paid out; Cr 4100 fee income the upfront fees deducted). "
        "201 with the loan. Moves money: an `Idempotency-Key` is required."),
    responses=problems(errors.NOT_FOUND, errors.VALIDATION, service.INSUFFICIENT_LIMIT, products.OUTSIDE_PRODUCT_LIMITS,
                       service.LINE_FROZEN, service.LINE_CLOSED, service.LINE_EXPIRED, products.PRODUCT_RETIRED,
                       errors.IDEMPOTENCY_REQUIRED, *_KEYS),
)
def drawdown(line_id: str, body: Annotated[DrawdownCreate, Body(openapi_examples={"drawdown": {"value": DRAWDOWN_EXAMPLE}})],
             request: Request, database: DB, principal: Principal):
    doc = body.model_dump(mode="json", exclude_unset=True)
    return idempotent(request, database, principal, doc, lambda conn: (201, loans.drawdown(
        conn, line_id, amount=body.amount, term=body.term, annual_rate=body.annual_rate,
        disbursement_date=body.disbursement_date, first_due_date=body.first_due_date, currency=body.currency)),
        required=True)
