"""The loan engine's rules (docs/design/servicing.md): allocation, prepayment, payoff, due-day and
term changes, penalty, days past due, statuses, write-off, refusals.  Pure: no database."""

from __future__ import annotations

import time
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal as D
from fractions import Fraction

import pytest

from openlend.loans.engine import (
    ChangeDueDay, Charge, Disbursement, LoanRuleError, LoanTerms, Prepayment, Repayment, Reschedule, WriteOff,
    bucket_for, due_day_change_quote, payoff_quote, run,
)
from openlend.schedule.engine import Fee, ScheduleTerms

DISB = date(2024, 1, 5)
EMI = D("1100.16")          # 12,000 at 18 % over 12 months, 30/360: first row 920.16 + 180.00


def sched(**kw) -> ScheduleTerms:
    args = dict(principal=D("12000"), annual_rate=D("18"), method="equal_installment", term=12,
                disbursement_date=DISB)
    args.update(kw)
    return ScheduleTerms(**args)


def loan(**kw) -> LoanTerms:
    lt = {k: kw.pop(k) for k in ("penalty_annual_rate", "allocation_order", "allocation_strategy", "prepayment_fee")
          if k in kw}
    return LoanTerms(schedule=sched(**kw), **lt)


def penalty_per_day(overdue: D, rate=D("27"), year=365) -> D:
    return (overdue * rate / (100 * year)).quantize(D("0.01"), ROUND_HALF_EVEN)


def days(a: date, b: date) -> int:
    """Days a..b inclusive."""
    return (b - a).days + 1


# --- schedule and accrual -----------------------------------------------------------------------

def test_no_events_is_the_schedule_and_accrues_by_the_design_rule():
    s = run(loan(), [], as_of=date(2024, 2, 20))
    r1, r2 = s.installments[:2]
    assert (r1.principal, r1.interest, r1.principal + r1.interest) == (D("920.16"), D("180.00"), EMI)
    assert len(s.installments) == 12 and s.schedule_versions[0].reason == "original"
    assert r1.accrued_interest == D("180.00")                                        # full from the due date on
    assert r2.accrued_interest == (r2.interest * 15 / 29).quantize(D("0.01"), ROUND_HALF_EVEN)   # e = 15, d = 29
    assert s.totals.interest_accrued == r1.accrued_interest + r2.accrued_interest
    assert s.installment_amount == EMI and s.next_due_date == date(2024, 3, 5)


# --- allocation ---------------------------------------------------------------------------------

def _two_overdue(amount: D, **kw):
    """Nothing paid until 20 March: installments 1 (5 Feb) and 2 (5 Mar) overdue, penalty on 1."""
    return run(loan(**kw), [Repayment("pay", date(2024, 3, 20), amount, seq=1)], as_of=date(2024, 3, 20))


def test_penalty_is_charged_to_the_oldest_overdue_installment():
    s = run(loan(), [], as_of=date(2024, 3, 20))
    pen = (penalty_per_day(D("920.16")) * days(date(2024, 2, 6), date(2024, 3, 5))
           + penalty_per_day(D("920.16") + D("933.96")) * days(date(2024, 3, 6), date(2024, 3, 20)))
    assert pen == D("0.68") * 29 + D("1.37") * 15
    assert [r.penalty for r in s.installments[:3]] == [pen, 0, 0]
    assert s.totals.penalty_charged == pen


def test_allocation_installment_first_overdue_first():
    s = _two_overdue(D("600"))
    r1, r2 = s.installments[:2]
    a = s.allocations["pay"]
    pen = r1.penalty
    assert (r1.paid_penalty, r1.paid_interest, r1.paid_principal) == (pen, D("180.00"), D("600") - pen - D("180"))
    assert (r2.paid_interest, r2.paid_principal) == (0, 0)
    assert (a.penalty, a.interest, a.principal, a.overpayment) == (pen, D("180.00"), D("600") - pen - 180, 0)
    assert [x.number for x in a.installments] == [1]


def test_allocation_component_first():
    s = _two_overdue(D("600"), allocation_strategy="component_first")
    r1, r2 = s.installments[:2]
    pen = r1.penalty
    # all penalties, then all fees, then all interest (180.00 + 166.20), then principal from the oldest
    assert (r1.paid_interest, r2.paid_interest) == (D("180.00"), D("166.20"))
    assert r1.paid_principal == D("600") - pen - D("346.20") and r2.paid_principal == 0


def test_allocation_custom_order_principal_first():
    s = _two_overdue(D("1000"), allocation_order=("principal", "interest", "fees", "penalty"))
    r1 = s.installments[0]
    assert (r1.paid_principal, r1.paid_interest, r1.paid_penalty) == (D("920.16"), D("79.84"), 0)
    assert s.days_past_due == 44 and s.status == "overdue"     # installment 1 still owes interest and penalty


def test_more_than_due_pays_the_next_installments_in_full():
    s = run(loan(), [Repayment("pay", date(2024, 2, 5), EMI * 2, seq=1)], as_of=date(2024, 2, 5))
    r1, r2 = s.installments[:2]
    assert r1.status == r2.status == "paid"
    assert (r2.paid_interest, r2.accrued_interest) == (D("166.20"), D("166.20"))   # recognised when paid
    assert s.totals.interest_accrued == D("346.20") and s.outstanding.interest == 0
    assert s.status == "active" and s.next_due_date == date(2024, 4, 5)


def test_overpayment_is_held_not_prepaid():
    terms = loan()
    events = [Repayment("r1", date(2024, 2, 5), EMI, seq=1)]
    q = payoff_quote(terms, events, on=date(2024, 2, 20))
    events.append(Repayment("r2", date(2024, 2, 20), q.total + D("10.00"), seq=2))
    s = run(terms, events, as_of=date(2024, 3, 1))
    assert s.status == "paid_off" and s.closed_on == date(2024, 2, 20)
    assert s.totals.overpayment == D("10.00") == s.allocations["r2"].overpayment
    assert s.outstanding.total == 0 and s.days_past_due == 0


def test_paying_every_installment_on_time_closes_the_loan():
    base = run(loan(), [], as_of=DISB).installments
    events = [Repayment(f"r{r.number}", r.due_date, r.principal + r.interest, seq=r.number) for r in base]
    s = run(loan(), events, as_of=date(2025, 3, 1))
    assert s.status == "paid_off" and s.closed_on == base[-1].due_date
    assert s.totals.principal_repaid == D("12000.00") and s.totals.penalty_charged == 0
    assert s.totals.interest_accrued == s.totals.interest_repaid == sum(r.interest for r in base)


# --- payoff -------------------------------------------------------------------------------------

def test_payoff_quote_components_and_fee():
    terms = loan(prepayment_fee={"calculation": "percent", "value": D("2")})
    events = [Repayment("r1", date(2024, 2, 5), EMI, seq=1)]
    q = payoff_quote(terms, events, on=date(2024, 2, 20))
    assert q.principal == D("11079.84")
    assert q.interest == (D("166.20") * 15 / 29).quantize(D("0.01"), ROUND_HALF_EVEN) == D("85.97")
    assert q.prepayment_fee == D("221.60")          # 2 % of the principal not yet due
    assert q.total == q.principal + q.interest + q.fees + q.penalty + q.prepayment_fee
    s = run(terms, events + [Prepayment("p", date(2024, 2, 20), q.total, seq=2)], as_of=date(2024, 2, 20))
    assert s.status == "paid_off" and s.totals.overpayment == 0
    assert s.allocations["p"].prepayment_fee == D("221.60")
    assert s.totals.fees_charged == s.totals.fees_repaid == D("221.60")
    assert [v.reason for v in s.schedule_versions] == ["original", "payoff"]


def test_payoff_quote_includes_overdue_amounts_and_penalty():
    q = payoff_quote(loan(), [], on=date(2024, 3, 20))
    s = run(loan(), [], as_of=date(2024, 3, 20))
    r3 = s.installments[2]
    assert q.penalty == s.totals.penalty_charged
    assert q.interest == D("180.00") + D("166.20") + (r3.interest * 15 / 31).quantize(D("0.01"), ROUND_HALF_EVEN)
    assert q.principal == D("12000.00")


def test_payoff_quote_on_a_closed_loan_is_refused():
    terms = loan()
    q = payoff_quote(terms, [], on=date(2024, 1, 20))
    with pytest.raises(LoanRuleError) as e:
        payoff_quote(terms, [Repayment("r", date(2024, 1, 20), q.total, seq=1)], on=date(2024, 1, 25))
    assert e.value.code == "loan-closed"


# --- partial prepayment -------------------------------------------------------------------------

def _prepaid(mode: str, **kw):
    events = [Repayment("r1", date(2024, 2, 5), EMI, seq=1),
              Prepayment("p", date(2024, 2, 20), D("3000"), mode=mode, seq=2)]
    return run(loan(**kw), events, as_of=date(2024, 2, 20))


@pytest.mark.parametrize("mode", ["reduce_installment", "reduce_term"])
def test_prepayment_pays_interest_to_date_first(mode):
    s = _prepaid(mode)
    r2 = s.installments[1]
    a = s.allocations["p"]
    assert a.interest == D("85.97") and a.principal == D("3000") - D("85.97")     # interest 5 Feb..20 Feb first
    assert (r2.interest_from, r2.interest_fixed, r2.paid_interest) == (date(2024, 2, 20), D("85.97"), D("85.97"))
    assert r2.accrued_interest == D("85.97")
    assert s.outstanding.principal == D("11079.84") - a.principal
    assert sum(r.principal for r in s.installments) == D("12000.00")
    assert [v.reason for v in s.schedule_versions] == ["original", "prepayment"]
    # the rest of installment 2 is interest on the new balance for 20 Feb..5 Mar (14 of 29 days)
    tail = (s.outstanding.principal * D("0.015") * 14 / 29).quantize(D("0.01"), ROUND_HALF_EVEN)
    assert r2.interest == D("85.97") + tail


def test_reduce_installment_keeps_the_term_with_a_smaller_installment():
    s = _prepaid("reduce_installment")
    rows = s.installments
    assert len(rows) == 12 and rows[-1].due_date == date(2025, 1, 5)
    assert s.installment_amount < EMI
    assert {r.principal + r.interest for r in rows[2:-1]} == {s.installment_amount}      # level


def test_reduce_term_keeps_the_installment_with_fewer_installments():
    s = _prepaid("reduce_term")
    rows = s.installments
    assert len(rows) < 12
    assert {r.principal + r.interest for r in rows[2:-1]} == {EMI}
    assert rows[-1].principal + rows[-1].interest <= EMI
    assert s.installment_amount == EMI
    assert sum(r.interest for r in rows) < sum(r.interest for r in _prepaid("reduce_installment").installments)


def test_prepayment_on_a_due_date_goes_on_the_installment_due():
    s = run(loan(), [Prepayment("p", date(2024, 2, 5), D("2000"), seq=1)], as_of=date(2024, 2, 5))
    r1 = s.installments[0]
    assert (r1.principal, r1.paid_principal, r1.interest) == (D("1820.00"), D("1820.00"), D("180.00"))
    assert s.outstanding.principal == D("10180.00")


def test_prepayment_with_fee_splits_principal_and_fee():
    s = _prepaid("reduce_installment", prepayment_fee={"calculation": "percent", "value": D("2")})
    a = s.allocations["p"]
    assert a.principal + a.prepayment_fee + a.interest == D("3000")
    assert a.prepayment_fee == (a.principal * D("0.02")).quantize(D("0.01"), ROUND_HALF_EVEN)
    assert a.fees == a.prepayment_fee


def test_prepayment_too_small_is_refused():
    with pytest.raises(LoanRuleError) as e:
        run(loan(), [Prepayment("p", date(2024, 2, 20), D("1100"), seq=1)], as_of=date(2024, 2, 20))
    assert (e.value.code, e.value.field) == ("prepayment-too-small", "amount")


def test_reduce_term_is_refused_without_a_level_installment():
    with pytest.raises(LoanRuleError) as e:
        run(loan(method="interest_only"), [Prepayment("p", date(2024, 2, 20), D("3000"), mode="reduce_term")],
            as_of=date(2024, 2, 20))
    assert e.value.code == "mode-not-supported"


def test_daily_basis_prepayment_reallocates_interest_paid_in_advance():
    terms = loan(interest_basis="daily", day_count="ACT/365")
    events = [Repayment("r1", date(2024, 2, 5), D("2000"), seq=1),      # 1,100.22 due, the rest pays installment 2
              Prepayment("p", date(2024, 2, 20), D("3000"), seq=2)]
    s = run(terms, events, as_of=date(2024, 2, 20))
    a = s.allocations["p"]
    paid_ahead = run(terms, events[:1], as_of=date(2024, 2, 20)).installments[1].paid_interest
    assert a.reallocated == paid_ahead > 0
    assert a.principal + a.interest + a.fees + a.penalty + a.overpayment == a.amount + a.reallocated
    rows = s.installments
    assert len({r.principal + r.interest for r in rows[2:-1]}) == 1


# --- due-day change and term change -------------------------------------------------------------

def _paid_two():
    return [Repayment("r1", date(2024, 2, 5), EMI, seq=1), Repayment("r2", date(2024, 3, 5), EMI, seq=2)]


def test_due_day_change_5th_to_20th_broken_period():
    terms = loan()
    q = due_day_change_quote(terms, _paid_two(), on=date(2024, 3, 10), new_day=20)
    balance = D("10145.88")
    # 5 Mar -> 20 Apr: one whole month (20 Mar -> 20 Apr) and 15 odd days of a 29-day month (20 Feb -> 20 Mar)
    exact = Fraction(balance) * Fraction(18, 1200) * (1 + Fraction(15, 29))
    assert (q.old_due_date, q.new_due_date, q.broken_period_from, q.broken_period_days) == (
        date(2024, 4, 5), date(2024, 4, 20), date(2024, 3, 5), 46)
    assert q.broken_period_interest == (D(exact.numerator) / D(exact.denominator)).quantize(D("0.01"), ROUND_HALF_EVEN)
    assert q.broken_period_interest == D("230.91")
    assert [r.due_date.day for r in q.installments[2:]] == [20] * 10
    # confirming gives exactly the quoted schedule, kept as a version
    s = run(terms, _paid_two() + [ChangeDueDay("c", date(2024, 3, 10), 20, seq=3)], as_of=date(2024, 3, 10))
    assert s.schedule_versions[-1].installments == q.installments
    assert s.installments[2].interest == D("230.91") and s.installments[2].due_date == date(2024, 4, 20)
    assert [v.reason for v in s.schedule_versions] == ["original", "due_day_change"]
    assert s.schedule_versions[0].installments[2].due_date == date(2024, 4, 5)


def test_due_day_change_rolls_to_next_month_when_the_new_day_has_passed():
    q = due_day_change_quote(loan(first_due_date=date(2024, 2, 20)), [], on=date(2024, 2, 10), new_day=5)
    assert (q.old_due_date, q.new_due_date) == (date(2024, 2, 20), date(2024, 3, 5))


@pytest.mark.parametrize("day", [0, 29, 31, -1])
def test_due_day_outside_1_to_28_is_refused(day):
    with pytest.raises(LoanRuleError) as e:
        run(loan(), [ChangeDueDay("c", date(2024, 3, 10), day)], as_of=date(2024, 3, 10))
    assert (e.value.code, e.value.field) == ("due-day-out-of-range", "new_day")


def test_term_change_keeps_both_versions():
    s = run(loan(), _paid_two() + [Reschedule("t", date(2024, 3, 10), 18, seq=3)], as_of=date(2024, 3, 10))
    assert len(s.installments) == 2 + 18
    assert [v.reason for v in s.schedule_versions] == ["original", "reschedule"]
    assert len(s.schedule_versions[0].installments) == 12
    assert s.installment_amount < EMI
    assert s.installments[2].due_date == date(2024, 4, 5)           # first due date unchanged
    assert sum(r.principal for r in s.installments) == D("12000.00")
    shorter = run(loan(), _paid_two() + [Reschedule("t", date(2024, 3, 10), 4, seq=3)], as_of=date(2024, 3, 10))
    assert len(shorter.installments) == 6 and shorter.installment_amount > EMI


def test_term_below_one_is_refused():
    with pytest.raises(LoanRuleError) as e:
        run(loan(), [Reschedule("t", date(2024, 3, 10), 0)], as_of=date(2024, 3, 10))
    assert (e.value.code, e.value.field) == ("term-out-of-range", "new_term")


# --- penalty, days past due, buckets, statuses --------------------------------------------------

@pytest.mark.parametrize("as_of, dpd, bucket, status", [
    (date(2024, 2, 5), 0, "M0", "active"),
    (date(2024, 2, 6), 1, "M1", "overdue"),
    (date(2024, 3, 6), 30, "M1", "overdue"),
    (date(2024, 3, 7), 31, "M2", "overdue"),
    (date(2024, 4, 5), 60, "M2", "overdue"),
    (date(2024, 5, 5), 90, "M3", "overdue"),
    (date(2024, 5, 6), 91, "M4+", "overdue"),
])
def test_days_past_due_and_buckets(as_of, dpd, bucket, status):
    s = run(loan(), [], as_of=as_of)
    assert (s.days_past_due, s.bucket, s.status) == (dpd, bucket, status)
    assert s.installments[0].status == ("due" if dpd == 0 else "overdue")


def test_bucket_edges():
    assert [bucket_for(d) for d in (0, 1, 30, 31, 60, 61, 90, 91, 400)] == \
        ["M0", "M1", "M1", "M2", "M2", "M3", "M3", "M4+", "M4+"]


def test_penalty_of_the_day_uses_the_overdue_principal_at_its_start():
    # Paid two days late: penalty for 6 and 7 February (the day's payment does not save that day).
    pen = penalty_per_day(D("920.16")) * 2
    s = run(loan(), [Repayment("r", date(2024, 2, 7), EMI + pen, seq=1)], as_of=date(2024, 3, 1))
    r1 = s.installments[0]
    assert (r1.penalty, r1.paid_penalty, r1.status) == (pen, pen, "paid")
    assert s.status == "active" and s.days_past_due == 0 and s.totals.penalty_charged == pen


def test_penalty_rate_and_year_by_day_count():
    s = run(loan(penalty_annual_rate=D("36"), interest_basis="daily", day_count="ACT/360"), [],
            as_of=date(2024, 2, 15))
    r1 = s.installments[0]
    assert r1.penalty == penalty_per_day(r1.principal, D("36"), 360) * days(date(2024, 2, 6), date(2024, 2, 15))


def test_penalty_act_act_splits_at_the_year_end():
    terms = loan(disbursement_date=date(2023, 11, 10), interest_basis="daily", day_count="ACT/ACT", term=3)
    s = run(terms, [], as_of=date(2024, 1, 5))
    r1 = s.installments[0]                                      # due 10 Dec 2023
    rate = terms.schedule.annual_rate * D("1.5")
    expected = (penalty_per_day(r1.principal, rate, 365) * days(date(2023, 12, 11), date(2023, 12, 31))
                + penalty_per_day(r1.principal, rate, 366) * days(date(2024, 1, 1), date(2024, 1, 5)))
    assert r1.penalty == expected


def test_write_off_closes_and_freezes():
    terms = loan()
    s = run(terms, [Repayment("r1", date(2024, 2, 5), EMI, seq=1), WriteOff("w", date(2024, 5, 10), seq=2)],
            as_of=date(2024, 8, 1))
    t = s.totals
    assert s.status == "written_off" and s.closed_on == date(2024, 5, 10)
    assert t.written_off_principal == D("11079.84")
    assert t.written_off_interest == t.interest_accrued - t.interest_repaid > 0
    assert t.written_off_penalty == t.penalty_charged > 0
    assert s.outstanding.total == 0
    assert s.days_past_due == (date(2024, 5, 10) - date(2024, 3, 5)).days
    assert {r.status for r in s.installments[1:]} == {"written_off"}
    same = run(terms, [Repayment("r1", date(2024, 2, 5), EMI, seq=1), WriteOff("w", date(2024, 5, 10), seq=2)],
               as_of=date(2025, 8, 1))
    assert same.totals == t                                     # nothing accrues after the write-off
    with pytest.raises(LoanRuleError) as e:
        run(terms, [WriteOff("w", date(2024, 5, 10)), Repayment("late", date(2024, 6, 1), D("100"))],
            as_of=date(2024, 8, 1))
    assert e.value.code == "loan-closed" and e.value.event_id == "late"


# --- charges and fees ---------------------------------------------------------------------------

def test_charge_goes_on_the_current_installment_and_is_paid_first():
    events = [Charge("c", date(2024, 1, 20), D("50"), "late-doc", seq=1), Repayment("r", date(2024, 2, 5), EMI, seq=2)]
    s = run(loan(), events, as_of=date(2024, 2, 5))
    r1 = s.installments[0]
    assert (r1.fees, r1.paid_fees) == (D("50.00"), D("50.00"))
    assert r1.paid_principal == D("920.16") - D("50")       # the order pays fees before interest and principal
    assert s.totals.fees_charged == D("50.00") and s.status == "active"


def test_upfront_and_per_installment_fees():
    terms = LoanTerms(schedule=sched(fees=[Fee("svc", D("100"), "upfront"), Fee("mgmt", D("5"), "each_installment")]))
    s = run(terms, [Repayment("r", date(2024, 2, 5), EMI + 5, seq=1)], as_of=date(2024, 2, 10))
    t = s.totals
    assert t.upfront_fees == D("100.00")
    assert (t.fees_charged, t.fees_repaid) == (D("105.00"), D("105.00"))   # upfront settled by deduction
    q = payoff_quote(terms, [Repayment("r", date(2024, 2, 5), EMI + 5, seq=1)], on=date(2024, 2, 10))
    assert q.fees == 0                                          # later installments' fees are not owed on payoff


def test_interest_grace_payoff_brings_the_deferred_interest_in():
    terms = LoanTerms(schedule=sched(principal=D("1200"), annual_rate=D("12"), term=6,
                                     disbursement_date=date(2024, 1, 1), grace_interest_periods=2))
    s = run(terms, [], as_of=date(2024, 1, 1))
    assert [r.interest for r in s.installments[:2]] == [0, 0]
    q = payoff_quote(terms, [], on=date(2024, 2, 16))
    # period 1's own interest (12.00) + period 2's (10.05) for 15 of its 29 days
    assert q.interest == D("12.00") + (D("10.05") * 15 / 29).quantize(D("0.01"), ROUND_HALF_EVEN)
    with pytest.raises(LoanRuleError) as e:
        run(terms, [Prepayment("p", date(2024, 2, 16), D("500"))], as_of=date(2024, 2, 16))
    assert e.value.code == "interest-grace"


# --- refusals -----------------------------------------------------------------------------------

@pytest.mark.parametrize("event, code, field", [
    (Repayment("r", date(2024, 1, 4), D("10")), "before-disbursement", "value_date"),
    (Repayment("r", date(2024, 2, 1), D("0")), "amount-not-positive", "amount"),
    (Repayment("r", date(2024, 2, 1), D("-5")), "amount-not-positive", "amount"),
    (Repayment("r", date(2024, 2, 1), 10.5), "invalid-amount", "amount"),
    (Repayment("r", date(2024, 2, 1), D("1.005")), "invalid-amount", "amount"),
    (Repayment("r", date(2024, 9, 1), D("10")), "future-value-date", "value_date"),
    (Charge("c", date(2024, 2, 1), D("0")), "amount-not-positive", "amount"),
    (Prepayment("p", date(2024, 2, 1), D("5000"), mode="shorter"), "invalid-mode", "mode"),
    (Disbursement("d", DISB, D("1000")), "disbursement-mismatch", "amount"),
])
def test_impossible_events_are_refused(event, code, field):
    with pytest.raises(LoanRuleError) as e:
        run(loan(), [event], as_of=date(2024, 3, 1))
    assert (e.value.code, e.value.field) == (code, field)


def test_events_after_payoff_are_refused_and_duplicates_too():
    terms = loan()
    q = payoff_quote(terms, [], on=date(2024, 1, 20))
    with pytest.raises(LoanRuleError) as e:
        run(terms, [Repayment("a", date(2024, 1, 20), q.total, seq=1), Charge("c", date(2024, 1, 21), D("5"))],
            as_of=date(2024, 2, 1))
    assert e.value.code == "loan-closed"
    with pytest.raises(LoanRuleError) as e:
        run(terms, [Repayment("a", date(2024, 1, 20), D("1"), seq=1), Repayment("a", date(2024, 1, 21), D("1"))],
            as_of=date(2024, 2, 1))
    assert e.value.code == "duplicate-event"


def test_due_day_change_needs_a_monthly_loan():
    from openlend.schedule.engine import Frequency
    with pytest.raises(LoanRuleError) as e:
        run(loan(frequency=Frequency("week", 2)), [ChangeDueDay("c", date(2024, 1, 10), 20)], as_of=date(2024, 1, 10))
    assert e.value.code == "not-monthly"


def test_loan_terms_from_a_product():
    from openlend.products.rules import normalize
    product = normalize({"name": "p", "currency": "CNY", "method": "equal_installment",
                         "rate": {"default": D("18")}, "term": {"min": 6, "max": 24}, "amount": {"min": D("1000"),
                         "max": D("50000")}, "prepayment_fee": {"calculation": "percent", "value": D("1")},
                         "allocation": {"order": ["interest", "principal", "penalty", "fees"],
                                        "strategy": "component_first"}})
    terms = LoanTerms.from_product(product, sched())
    assert terms.penalty_annual_rate == D("27.0")
    assert terms.allocation_order == ("interest", "principal", "penalty", "fees")
    assert terms.allocation_strategy == "component_first"
    assert payoff_quote(terms, [], on=date(2024, 1, 5)).prepayment_fee == D("120.00")


def test_run_is_fast():
    terms = loan()
    events = [Repayment(f"r{i}", date(2024, 1 + i, 5), EMI, seq=i) for i in range(1, 4)]
    run(terms, events, as_of=date(2024, 4, 10))
    n = 300
    start = time.perf_counter()
    for _ in range(n):
        run(terms, events, as_of=date(2024, 4, 10))
    per_run = (time.perf_counter() - start) / n
    assert per_run < 0.002, f"{per_run * 1e6:.0f} us per run"     # about 0.1-0.15 ms on the dev box


# --- backdating, reversal, month ends, equal principal ------------------------------------------

def test_backdated_repayment_removes_the_penalty_it_prevented():
    terms = loan()
    late = [Repayment("r2", date(2024, 3, 5), EMI, seq=2)]
    before = run(terms, late, as_of=date(2024, 3, 10))           # r1 not entered yet: installment 1 overdue
    assert before.totals.penalty_charged > 0 and before.status == "overdue"
    after = run(terms, late + [Repayment("r1", date(2024, 2, 5), EMI, seq=3)], as_of=date(2024, 3, 10))
    in_order = run(terms, [Repayment("r1", date(2024, 2, 5), EMI, seq=1), Repayment("r2", date(2024, 3, 5), EMI,
                                                                                      seq=2)], as_of=date(2024, 3, 10))
    assert after.totals == in_order.totals and after.installments == in_order.installments
    assert after.totals.penalty_charged == 0 and after.status == "active"
    # the service posts the difference as new entries: here the penalty income is reversed
    assert after.totals.penalty_charged - before.totals.penalty_charged == -before.totals.penalty_charged
    # reversing r1 again (leaving it out) gives back the state before
    assert run(terms, late, as_of=date(2024, 3, 10)) == before


def test_relaid_schedule_stays_on_the_month_end():
    terms = LoanTerms(schedule=sched(principal=D("6000"), annual_rate=D("12"), term=6,
                                     disbursement_date=date(2024, 1, 31)))
    base = run(terms, [], as_of=date(2024, 1, 31))
    assert [r.due_date.day for r in base.installments] == [29, 31, 30, 31, 30, 31]
    events = [Repayment("r1", date(2024, 2, 29), base.installment_amount, seq=1),
              Repayment("r2", date(2024, 3, 31), base.installment_amount, seq=2),
              Prepayment("p", date(2024, 4, 10), D("1000"), seq=3)]           # next due 30 April (clamped)
    s = run(terms, events, as_of=date(2024, 4, 10))
    assert [r.due_date for r in s.installments[2:]] == [date(2024, 4, 30), date(2024, 5, 31), date(2024, 6, 30),
                                                        date(2024, 7, 31)]


@pytest.mark.parametrize("mode, rows, principal", [("reduce_term", 5, D("1000.00")),
                                                   ("reduce_installment", 6, D("800.00"))])
def test_equal_principal_prepayment(mode, rows, principal):
    terms = LoanTerms(schedule=sched(principal=D("6000"), annual_rate=D("12"), method="equal_principal", term=6,
                                     disbursement_date=date(2024, 1, 1)))
    s = run(terms, [Prepayment("p", date(2024, 2, 1), D("2060"), mode=mode)], as_of=date(2024, 2, 1))
    assert s.installments[0].principal == D("2000.00")          # 1,000 due + 1,000 prepaid on the installment due
    assert len(s.installments) == rows and s.installments[1].principal == principal
