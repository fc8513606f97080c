"""Demo ledger for ``openlend serve --demo``: two bank accounts, paid-in capital, a bank fee
booked by an operator, and a mistaken posting corrected by its reversal, so that the trial balance,
the statements and the reversal flow have something to show.  Loan entries come from real demo
loans (the servicing domains), never from hand-made entries, so that the loan subledger and the
GL control accounts agree.  Idempotent: every entry has a fixed id; a second run books nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg

from . import service

D = Decimal


def seed_demo(conn: psycopg.Connection) -> str:
    service.create_account(conn, code="1010.ICBC", name="ICBC settlement account (demo)", currency="CNY")
    service.create_account(conn, code="1010.CCB", name="CCB settlement account (demo)", currency="CNY")
    entries = [
        ("je_demo_capital", dt.date(2024, 1, 2), "Paid-in capital",
         [("1010.ICBC", D("1000000.00")), ("3000", D("-1000000.00"))]),
        ("je_demo_funding_ccb", dt.date(2024, 1, 3), "Transfer to the CCB settlement account",
         [("1010.CCB", D("200000.00")), ("1010.ICBC", D("-200000.00"))]),
        ("je_demo_bank_fee", dt.date(2024, 1, 31), "ICBC monthly account fee",
         [("5200", D("35.00")), ("1010.ICBC", D("-35.00"))]),
        ("je_demo_mistake", dt.date(2024, 1, 31), "CCB account fee (booked twice by mistake)",
         [("5200", D("35.00")), ("1010.CCB", D("-35.00"))]),
    ]
    new = 0
    for entry_id, date, memo, lines in entries:
        posted = service.post_entry(conn, entry_id=entry_id, effective_date=date, memo=memo,
                                    lines=[(a, "CNY", m) for a, m in lines], source=("demo", "ledger"))
        new += not posted.replayed
    reversal = service.reverse_entry(conn, entry_id="je_demo_mistake", reversal_id="je_demo_mistake_reversal",
                                     memo="Reversal: the CCB fee had been booked twice", source=("demo", "ledger"))
    new += not reversal.replayed
    return f"ledger: {new} demo entries booked" if new else ""
