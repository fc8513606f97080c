"""Demo ledger for ``openlend serve --demo``: a bank account, paid-in capital, one loan's
disbursement, interest and first repayment, so that the trial balance and the statements have
something to show.  Idempotent: every entry has a fixed id, so a second run books nothing new."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg

from . import service

D = Decimal


def seed_demo(conn: psycopg.Connection) -> str:
    service.create_account(conn, code="1010.ICBC", name="ICBC settlement account (demo)", currency="CNY")
    entries = [
        ("je_demo_capital", dt.date(2024, 1, 2), "Paid-in capital",
         [("1010.ICBC", D("1000000.00")), ("3000", D("-1000000.00"))]),
        ("je_demo_disburse", dt.date(2024, 1, 15), "Loan disbursed (demo)",
         [("1100", D("12000.00")), ("1300", D("-12000.00"))]),
        ("je_demo_disburse_settled", dt.date(2024, 1, 15), "Disbursement confirmed by the bank",
         [("1300", D("12000.00")), ("1010.ICBC", D("-12000.00"))]),
        ("je_demo_interest", dt.date(2024, 2, 15), "Interest billed for installment 1",
         [("1110", D("180.00")), ("4000", D("-180.00"))]),
        ("je_demo_repay_1", dt.date(2024, 2, 15), "Repayment of installment 1",
         [("1310", D("1100.12")), ("1110", D("-180.00")), ("1100", D("-920.12"))]),
        ("je_demo_repay_1_settled", dt.date(2024, 2, 16), "Repayment settled into the bank",
         [("1010.ICBC", D("1100.12")), ("1310", D("-1100.12"))]),
    ]
    new = 0
    for entry_id, date, memo, lines in entries:
        posted = service.post_entry(conn, entry_id=entry_id, effective_date=date, memo=memo,
                                    lines=[(a, "CNY", m) for a, m in lines], source=("demo", "ledger"))
        new += not posted.replayed
    return f"ledger: {new} demo entries booked" if new else ""
