"""``/v1/reports``: reconciliation of the loan subledger with the GL, and portfolio at risk."""

from __future__ import annotations

from fastapi import APIRouter

from ..web import DB
from . import service

router = APIRouter(prefix="/reports", tags=["reports"])


@router.get("/reconciliation", summary="Loan subledger vs GL",
            description=("Per currency: the sum over loans of outstanding principal, interest receivable, fees, "
                         "penalty and overpayment against the GL balances of 1100/1110/1120/1130/2100, the "
                         "difference and an ok flag."))
def reconciliation(database: DB):
    with database.transaction() as conn:
        return service.reconciliation(conn)


@router.get("/portfolio-at-risk", summary="Portfolio at risk",
            description="Per currency and bucket (M0..M4+): open loans, outstanding principal and its share.")
def portfolio_at_risk(database: DB):
    with database.transaction() as conn:
        return service.portfolio_at_risk(conn)
