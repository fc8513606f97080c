"""Refunds of overpayment in the loan engine: held and refunded figures, the closed-loan exception,
same-day order, refusals, and order independence.  Pure: no database."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from openlend.loans.engine import (LoanRuleError, LoanTerms, Refund, Repayment, WriteOff, payoff_quote, run)
from openlend.schedule.engine import ScheduleTerms

DISB = date(2024, 1, 5)
EMI = D("1100.16")
TERMS = LoanTerms(schedule=ScheduleTerms(principal=D("12000"), annual_rate=D("18"), method="equal_installment",
                                         term=12, disbursement_date=DISB))
PAYOFF_DAY = date(2024, 2, 20)


def overpaid(extra=D("10.00")) -> list:
    events = [Repayment("r1", date(2024, 2, 5), EMI, seq=1)]
    q = payoff_quote(TERMS, events, on=PAYOFF_DAY)
    return events + [Repayment("r2", PAYOFF_DAY, q.total + extra, seq=2)]


def test_refund_on_a_paid_off_loan_moves_held_to_refunded_and_nothing_else():
    base = run(TERMS, overpaid(), as_of=date(2024, 3, 1))
    s = run(TERMS, overpaid() + [Refund("f1", date(2024, 3, 1), D("6.00"), seq=3)], as_of=date(2024, 3, 1))
    assert s.status == "paid_off" and s.closed_on == PAYOFF_DAY     # stays closed, closed_on unchanged
    assert (s.totals.overpayment, s.totals.overpayment_refunded) == (D("4.00"), D("6.00"))
    assert base.totals.overpayment_refunded == 0
    assert s.totals._replace(overpayment=base.totals.overpayment, overpayment_refunded=D(0)) == base.totals
    assert s.installments == base.installments and "f1" in s.events_applied and "f1" not in s.allocations
    # paid components + held + refunded = what was paid
    t = s.totals
    assert (t.principal_repaid + t.interest_repaid + t.fees_repaid - t.upfront_fees + t.penalty_repaid
            + t.overpayment + t.overpayment_refunded) == EMI + payoff_quote(TERMS, overpaid()[:1], PAYOFF_DAY).total + 10
    # all of it, in two refunds
    s = run(TERMS, overpaid() + [Refund("f1", date(2024, 3, 1), D("6.00"), seq=3),
                                  Refund("f2", date(2024, 3, 1), D("4.00"), seq=4)], as_of=date(2024, 3, 1))
    assert (s.totals.overpayment, s.totals.overpayment_refunded) == (0, D("10.00"))


def test_refund_beyond_what_is_held_on_its_date_is_refused():
    with pytest.raises(LoanRuleError) as e:
        run(TERMS, overpaid() + [Refund("f1", date(2024, 3, 1), D("10.01"), seq=3)], as_of=date(2024, 3, 1))
    assert (e.value.code, e.value.field, e.value.event_id) == ("refund-exceeds-overpayment", "amount", "f1")
    with pytest.raises(LoanRuleError) as e:      # before the overpayment came: nothing held
        run(TERMS, overpaid() + [Refund("f1", date(2024, 2, 19), D("1.00"), seq=3)], as_of=date(2024, 3, 1))
    assert e.value.code == "refund-exceeds-overpayment"
    with pytest.raises(LoanRuleError) as e:      # two refunds together beyond it
        run(TERMS, overpaid() + [Refund("f1", date(2024, 3, 1), D("6.00"), seq=3),
                                 Refund("f2", date(2024, 3, 2), D("5.00"), seq=4)], as_of=date(2024, 3, 2))
    assert e.value.event_id == "f2"
    with pytest.raises(LoanRuleError) as e:      # an open loan holds nothing
        run(TERMS, [Refund("f1", date(2024, 1, 10), D("1.00"))], as_of=date(2024, 1, 10))
    assert e.value.code == "refund-exceeds-overpayment"
    for bad in (D("0"), D("-1"), D("1.001")):
        with pytest.raises(LoanRuleError):
            run(TERMS, overpaid() + [Refund("f1", date(2024, 3, 1), bad, seq=3)], as_of=date(2024, 3, 1))


def test_same_day_refund_comes_after_the_days_payments_whatever_the_entry_order():
    # the refund was entered (seq 0) before the overpaying payment of the same day (seq 2)
    events = overpaid() + [Refund("f1", PAYOFF_DAY, D("10.00"), seq=0)]
    s = run(TERMS, events, as_of=PAYOFF_DAY)
    assert (s.totals.overpayment, s.totals.overpayment_refunded) == (0, D("10.00"))
    assert run(TERMS, list(reversed(events)), as_of=PAYOFF_DAY).totals == s.totals


def test_other_events_after_the_close_are_still_refused():
    events = overpaid() + [Refund("f1", date(2024, 3, 1), D("5.00"), seq=3)]
    with pytest.raises(LoanRuleError) as e:
        run(TERMS, events + [Repayment("r3", date(2024, 3, 2), D("1.00"), seq=4)], as_of=date(2024, 3, 2))
    assert e.value.code == "loan-closed"
    with pytest.raises(LoanRuleError) as e:
        run(TERMS, events + [WriteOff("w", date(2024, 3, 2), seq=4)], as_of=date(2024, 3, 2))
    assert e.value.code == "loan-closed"
    # a written-off loan holds no overpayment: a refund there is refused by the amount rule
    with pytest.raises(LoanRuleError) as e:
        run(TERMS, [WriteOff("w", date(2024, 6, 1)), Refund("f", date(2024, 6, 2), D("1.00"), seq=1)],
            as_of=date(2024, 6, 2))
    assert e.value.code == "refund-exceeds-overpayment"


def test_reversing_the_overpaying_payment_under_a_refund_is_refused():
    events = overpaid() + [Refund("f1", date(2024, 3, 1), D("5.00"), seq=3)]
    with pytest.raises(LoanRuleError) as e:
        run(TERMS, [ev for ev in events if ev.id != "r2"], as_of=date(2024, 3, 1))
    assert e.value.code == "refund-exceeds-overpayment"
