"""The payments interface of a drawdown: paying the net amount out to the borrower.

The loan service calls :meth:`Disburser.disburse` once per new loan, inside the drawdown's
transaction, after the loan and its disbursement transaction are written.  The disburser books
the disbursement's journal entry and starts the payout; it returns the disbursement's status:

``pending``    handed over; the money sits in ``1300 Disbursement clearing`` until the bank
               confirms (the payments domain then books Dr 1300 / Cr 1010.<bank>);
``succeeded``  paid out and confirmed at once;
``failed``     refused at once (the drawdown's transaction should then raise instead).

The default, :class:`ClearingDisburser`, only books to clearing and answers ``pending``: nothing
leaves the building until the payments domain plugs in a real bank (``set_disburser``).

The entry (chart in ``ledger/chart.py``), upfront fees deducted from the amount paid out::

    Dr 1100 Loans receivable - principal   principal
        Cr 1300 Disbursement clearing          principal - upfront fees   (the amount paid out)
        Cr 4100 Fee income                     upfront fees

which is the net of "the fee is charged (Dr 1120 / Cr 4100) and settled at once by deduction
(Dr 1300 / Cr 1120)": so the loan's posted totals record ``disbursed = principal`` and
``fees_charged = fees_repaid = upfront fees``, and fees receivable (1120) is untouched.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

import psycopg

from ..ledger import service as ledger

Status = Literal["pending", "succeeded", "failed"]


@dataclass(frozen=True, slots=True)
class Disbursement:
    """What to pay out for a new loan (written already, in the caller's transaction)."""

    loan_id: str
    receipt_no: str
    customer_id: str
    transaction_id: str        # the loan's disbursement transaction (txn_...): the entry's source
    entry_id: str              # the journal entry id to book under (chosen by the loan service)
    currency: str
    principal: Decimal
    upfront_fees: Decimal
    net_amount: Decimal        # principal - upfront fees: what the borrower receives
    value_date: dt.date        # the disbursement date
    booking_date: dt.date      # the business date the entry is booked on (its effective date)


@dataclass(frozen=True, slots=True)
class DisbursementResult:
    status: Status
    channel: str
    entry_ids: tuple[str, ...]


class Disburser(Protocol):
    def disburse(self, conn: psycopg.Connection, loan: Disbursement) -> DisbursementResult: ...


def journal_lines(d: Disbursement) -> list[tuple[str, str, Decimal]]:
    lines = [("1100", d.currency, d.principal)]
    if d.net_amount:
        lines.append(("1300", d.currency, -d.net_amount))
    if d.upfront_fees:
        lines.append(("4100", d.currency, -d.upfront_fees))
    return lines


def book(conn: psycopg.Connection, d: Disbursement) -> str:
    """Book the disbursement entry (see the module docstring); return its id."""
    ledger.post_entry(conn, entry_id=d.entry_id, effective_date=d.booking_date, lines=journal_lines(d),
                      memo=f"Loan {d.receipt_no} disbursed", source=("loan_transaction", d.transaction_id),
                      metadata={"loan_id": d.loan_id, "value_date": d.value_date.isoformat()})
    return d.entry_id


class ClearingDisburser:
    """Books to disbursement clearing and leaves the payout to the payments domain: ``pending``.

    The account codes default to the chart's (1100, 1300, 4100); another set books the same entry to
    other accounts (a funder's own clearing account, the benchmark's per-writer accounts).  The loan
    service books this disburser's entry inside the drawdown's one statement (``journal_lines``
    with these codes) instead of calling :meth:`disburse`: the same entry, one round trip fewer."""

    channel = "clearing"

    def __init__(self, principal_account: str = "1100", clearing_account: str = "1300",
                 fee_account: str = "4100") -> None:
        self.accounts = (principal_account, clearing_account, fee_account)

    def journal_lines(self, d: Disbursement) -> list[tuple[str, str, Decimal]]:
        p, c, f = self.accounts
        return [(p if a == "1100" else c if a == "1300" else f, cur, amt) for a, cur, amt in journal_lines(d)]

    def disburse(self, conn: psycopg.Connection, loan: Disbursement) -> DisbursementResult:
        if self.accounts == ("1100", "1300", "4100"):
            return DisbursementResult("pending", self.channel, (book(conn, loan),))
        ledger.post_entry(conn, entry_id=loan.entry_id, effective_date=loan.booking_date,
                          lines=self.journal_lines(loan), memo=f"Loan {loan.receipt_no} disbursed",
                          source=("loan_transaction", loan.transaction_id),
                          metadata={"loan_id": loan.loan_id, "value_date": loan.value_date.isoformat()})
        return DisbursementResult("pending", self.channel, (loan.entry_id,))


_disburser: Disburser = ClearingDisburser()


def get_disburser() -> Disburser:
    return _disburser


def set_disburser(disburser: Disburser | None) -> None:
    """Plug in the payments domain's disburser (``None``: back to :class:`ClearingDisburser`)."""
    global _disburser
    _disburser = disburser or ClearingDisburser()
