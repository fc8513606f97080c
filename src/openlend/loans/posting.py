"""From a loan's cumulative figures to journal lines (pure: no database).

The loan service keeps, per loan, the cumulative figures already posted (``loan_posted_totals``).
After each fold it posts ONE balanced entry with the differences ``new - posted`` (design:
``docs/design/servicing.md``, *Ledger entries*); a negative difference (a reversal, or a backdated
repayment that removes the penalty it prevented) becomes the mirror line, so history is never
rewritten.  Every figure maps to a pair of lines that balance on its own:

=====================  =================================  ==================================
figure (difference)    debit                              credit
=====================  =================================  ==================================
interest_accrued       1110 interest receivable           4000 interest income
fees_charged           1120 fees receivable               4100 fee income
penalty_charged        1130 penalty receivable            4200 penalty income
principal_repaid       1310 repayment clearing            1100 principal
interest_repaid        1310 repayment clearing            1110 interest receivable
fees_repaid            1310 repayment clearing            1120 fees receivable
penalty_repaid         1310 repayment clearing            1130 penalty receivable
overpayment            1310 repayment clearing            2100 customer overpayments
overpayment_refunded   1310 repayment clearing            1300 disbursement clearing
written_off_principal  5000 write-off expense             1100 principal
written_off_interest   5000 write-off expense             1110 interest receivable
written_off_fees       5000 write-off expense             1120 fees receivable
written_off_penalty    5000 write-off expense             1130 penalty receivable
=====================  =================================  ==================================

The cash lines (1310) are summed into one debit: the money the event brought in (negative for a
reversal).  ``overpayment`` is the overpayment *held* and ``overpayment_refunded`` what was paid
back out of it (cumulative): a refund moves the first down and the second up by the same amount,
so its 1310 lines cancel and the entry is Dr 2100 / Cr 1300 (the money goes out to the borrower's
account through disbursement clearing, as a payout does); its reversal is the mirror.  A
difference of ``overpayment`` from anything else (a payment, its reversal, a backdated replay)
stays against 1310.

``disbursed`` and ``upfront_fees`` are posted by the drawdown (see
:mod:`.disbursement`) and never change afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

PRINCIPAL, INTEREST, FEES, PENALTY = "1100", "1110", "1120", "1130"
CLEARING, OVERPAYMENTS, DISBURSEMENT_CLEARING = "1310", "2100", "1300"
INTEREST_INCOME, FEE_INCOME, PENALTY_INCOME = "4000", "4100", "4200"
WRITE_OFF = "5000"

# figure -> (debit account, credit account); None: the cash debit (1310), summed into one line
ACCRUALS = {"interest_accrued": (INTEREST, INTEREST_INCOME), "fees_charged": (FEES, FEE_INCOME),
            "penalty_charged": (PENALTY, PENALTY_INCOME)}
RECEIPTS = {"principal_repaid": PRINCIPAL, "interest_repaid": INTEREST, "fees_repaid": FEES,
            "penalty_repaid": PENALTY, "overpayment": OVERPAYMENTS}
WRITE_OFFS = {"written_off_principal": PRINCIPAL, "written_off_interest": INTEREST,
              "written_off_fees": FEES, "written_off_penalty": PENALTY}

# paid back to the borrower: (figure -> the account credited; its debit is the summed 1310 line)
REFUNDS = {"overpayment_refunded": DISBURSEMENT_CLEARING}

# the figures loan_posted_totals keeps (besides ``disbursed``, fixed at drawdown)
FIGURES = tuple(ACCRUALS) + tuple(RECEIPTS) + tuple(REFUNDS) + tuple(WRITE_OFFS)
_CASH = {**RECEIPTS, **REFUNDS}


def differences(new: Mapping[str, Decimal], posted: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """``new - posted`` per figure (zeros kept)."""
    return {k: new[k] - posted[k] for k in FIGURES}


def journal_lines(diff: Mapping[str, Decimal], currency: str) -> list[tuple[str, str, Decimal]]:
    """The balanced lines ``(account, currency, signed amount)`` of the differences; [] when all are zero.

    Accruals first, then the cash received and where it went, then write-offs."""
    lines: list[tuple[str, str, Decimal]] = []
    for k, (dr, cr) in ACCRUALS.items():
        d = diff.get(k, Decimal(0))
        if d:
            lines += [(dr, currency, d), (cr, currency, -d)]
    cash = sum((diff.get(k, Decimal(0)) for k in _CASH), Decimal(0))
    credits = [(acct, currency, -diff[k]) for k, acct in _CASH.items() if diff.get(k)]
    if credits:
        if cash:
            lines.append((CLEARING, currency, cash))
        lines += credits
    wo = sum((diff.get(k, Decimal(0)) for k in WRITE_OFFS), Decimal(0))
    wo_credits = [(acct, currency, -diff[k]) for k, acct in WRITE_OFFS.items() if diff.get(k)]
    if wo_credits:
        if wo:
            lines.append((WRITE_OFF, currency, wo))
        lines += wo_credits
    return lines


def cash_received(diff: Mapping[str, Decimal]) -> Decimal:
    """The 1310 line: money received less money refunded out of overpayment."""
    return sum((diff.get(k, Decimal(0)) for k in _CASH), Decimal(0))


def balances(t: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """The control-account balances (normal side) that cumulative figures ``t`` stand for: the
    subledger side of the reconciliation."""
    return {
        PRINCIPAL: t["disbursed"] - t["principal_repaid"] - t["written_off_principal"],
        INTEREST: t["interest_accrued"] - t["interest_repaid"] - t["written_off_interest"],
        FEES: t["fees_charged"] - t["fees_repaid"] - t["written_off_fees"],
        PENALTY: t["penalty_charged"] - t["penalty_repaid"] - t["written_off_penalty"],
        OVERPAYMENTS: t["overpayment"],
    }
