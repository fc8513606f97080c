"""Properties of the loan fold (Hypothesis): entry order does not matter, money is conserved,
nothing goes negative, a backdated event gives the in-order state, figures only grow with time."""

from __future__ import annotations

import os

from datetime import date, timedelta
from decimal import Decimal as D

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from openlend.loans.engine import (
    COMPONENTS, ChangeDueDay, Charge, LoanRuleError, LoanTerms, Prepayment, Repayment, Reschedule, WriteOff, run,
)
from openlend.schedule.engine import Fee, ScheduleTerms

SETTINGS = settings(max_examples=int(os.environ.get("LOAN_PROPERTY_EXAMPLES", "200")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
CENT = D("0.01")


@st.composite
def loans(draw):
    method = draw(st.sampled_from(["equal_installment"] * 4 + ["equal_principal"] * 2 + ["flat", "interest_only"]))
    basis, day_count = draw(st.sampled_from([("period", "30/360"), ("period", "30/360"), ("daily", "ACT/365"),
                                             ("daily", "ACT/360"), ("daily", "ACT/ACT"), ("daily", "30/360")]))
    disb = date(2023, 1, 1) + timedelta(days=draw(st.integers(0, 700)))
    fees = []
    if draw(st.booleans()):
        fees.append(Fee("mgmt", D(draw(st.integers(0, 2000))) * CENT, "each_installment"))
    if draw(st.booleans()):
        fees.append(Fee("svc", D(draw(st.integers(0, 5000))) * CENT, "upfront"))
    sched = ScheduleTerms(
        principal=D(draw(st.integers(100_000, 5_000_000))) * CENT,
        annual_rate=draw(st.sampled_from([D(0), D(7), D("9.5"), D(12), D(18), D("23.99")])),
        method=method, term=draw(st.integers(2, 12)), disbursement_date=disb, interest_basis=basis,
        day_count=day_count, fees=fees)
    order = tuple(draw(st.permutations(COMPONENTS)))
    fee = draw(st.sampled_from([None, None, {"calculation": "percent", "value": D("1.5")},
                                {"calculation": "fixed", "value": D("20")}]))
    return LoanTerms(schedule=sched, allocation_order=order,
                     allocation_strategy=draw(st.sampled_from(["installment_first", "component_first"])),
                     prepayment_fee=fee, penalty_annual_rate=draw(st.sampled_from([None, D(0), D(36)])))


@st.composite
def scenarios(draw, unique_dates: bool = False):
    terms = draw(loans())
    t = terms.schedule
    horizon = t.term * 31 + 90
    emi = t.principal / t.term
    n = draw(st.integers(0, 7))
    offsets = draw(st.lists(st.integers(0, horizon), min_size=n, max_size=n, unique=unique_dates))
    events = []
    last = max(offsets, default=0)
    for i, off in enumerate(offsets):
        d = t.disbursement_date + timedelta(days=off)
        kind = draw(st.sampled_from(["repay"] * 10 + ["prepay"] * 3 + ["charge"] * 2 + ["dueday", "term"]
                                    + ["payoff", "payoff", "writeoff"] * (off == last)))
        if kind == "payoff":     # more than any payoff figure: closes the loan, the rest held as overpayment
            events.append(Repayment(f"e{i}", d, (t.principal * 2).quantize(CENT), seq=i))
        elif kind == "repay":
            amount = (emi * D(draw(st.integers(1, 300))) / 100).quantize(CENT)
            events.append(Repayment(f"e{i}", d, max(amount, CENT), seq=i))
        elif kind == "prepay":
            amount = (t.principal * D(draw(st.integers(5, 80))) / 100).quantize(CENT)
            events.append(Prepayment(f"e{i}", d, amount, draw(st.sampled_from(["reduce_installment", "reduce_term"])),
                                     seq=i))
        elif kind == "charge":
            events.append(Charge(f"e{i}", d, D(draw(st.integers(1, 10_000))) * CENT, seq=i))
        elif kind == "dueday":
            events.append(ChangeDueDay(f"e{i}", d, draw(st.integers(1, 28)), seq=i))
        elif kind == "term":
            events.append(Reschedule(f"e{i}", d, draw(st.integers(1, 24)), seq=i))
        else:
            events.append(WriteOff(f"e{i}", d, seq=i))
    as_of = t.disbursement_date + timedelta(days=last + draw(st.integers(0, 120)))
    return terms, events, as_of


def outcome(terms, events, as_of):
    try:
        return run(terms, events, as_of)
    except LoanRuleError as e:
        return ("refused", e.code, e.event_id)


@SETTINGS
@given(scenarios(), st.randoms(use_true_random=False))
def test_entry_order_does_not_matter(case, rnd):
    terms, events, as_of = case
    first = outcome(terms, events, as_of)
    event("refused" if isinstance(first, tuple) else "ran")
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert outcome(terms, shuffled, as_of) == first


@SETTINGS
@given(scenarios())
def test_conservation_and_nothing_negative(case):
    terms, events, as_of = case
    s = outcome(terms, events, as_of)
    if isinstance(s, tuple):
        event(f"refused: {s[1]}")
        return
    event(s.status)
    t = s.totals
    o = s.outstanding
    paid_in = sum((e.amount for e in events if isinstance(e, (Repayment, Prepayment))), D(0))
    assert t.disbursed == t.principal_repaid + o.principal + t.written_off_principal
    assert sum(r.principal for r in s.installments) == t.disbursed
    assert paid_in == (t.principal_repaid + t.interest_repaid + (t.fees_repaid - t.upfront_fees) + t.penalty_repaid
                       + t.overpayment)
    assert o.interest == t.interest_accrued - t.interest_repaid - t.written_off_interest
    assert o.total == o.principal + o.interest + o.fees + o.penalty
    for value in (*t, *o):
        assert value >= 0
    assert t.interest_accrued >= t.interest_repaid and t.fees_charged >= t.fees_repaid
    assert t.penalty_charged >= t.penalty_repaid
    for r in s.installments:
        for owed, paid in ((r.principal, r.paid_principal), (r.interest, r.paid_interest), (r.fees, r.paid_fees),
                           (r.penalty, r.paid_penalty)):
            assert 0 <= paid <= owed
        assert r.interest_fixed <= r.interest and r.accrued_interest >= r.paid_interest
        assert r.from_date < r.due_date
    for a, b in zip(s.installments, s.installments[1:]):
        assert a.due_date == b.from_date and a.number + 1 == b.number
    for a in s.allocations.values():
        assert a.principal + a.interest + a.fees + a.penalty + a.overpayment == a.amount + a.reallocated
        assert min(a.principal, a.interest, a.fees, a.penalty, a.overpayment, a.reallocated) >= 0
    if s.status == "paid_off":
        assert o.total == 0 and s.days_past_due == 0
    if s.status in ("active", "overdue"):
        assert (s.status == "overdue") == (s.days_past_due > 0)


@SETTINGS
@given(scenarios(unique_dates=True), st.integers(0, 6))
def test_backdated_event_gives_the_in_order_state(case, pick):
    terms, events, as_of = case
    if not events:
        return
    late = events[pick % len(events)]
    others = [e for e in events if e is not late]
    # entered last (highest sequence number) although its value date is earlier than some others
    backdated = late.__class__(**{**{f: getattr(late, f) for f in late.__dataclass_fields__}, "seq": 10_000})
    assert outcome(terms, others + [backdated], as_of) == outcome(terms, events, as_of)


@SETTINGS
@given(scenarios(), st.integers(1, 60))
def test_cumulative_figures_only_grow_without_events(case, later):
    terms, events, as_of = case
    s = outcome(terms, events, as_of)
    if isinstance(s, tuple):
        return
    s2 = run(terms, events, as_of + timedelta(days=later))
    assert s2.totals.interest_accrued >= s.totals.interest_accrued
    assert s2.totals.penalty_charged >= s.totals.penalty_charged
    assert s2.totals.fees_charged >= s.totals.fees_charged
    assert s2.days_past_due >= s.days_past_due or s.status != s2.status


PENALTY_YEAR = {"30/360": 365, "ACT/365": 365, "ACT/360": 360, "ACT/364": 364}


def design_accrual(r, day: date) -> D:
    """docs/design/servicing.md's accrual of one stored row to ``day`` (with the prepayment split)."""
    if day >= r.due_date:
        own = r.interest
    elif day <= r.interest_from:
        own = r.interest_fixed if day == r.interest_from else D(0)
    else:
        part = (r.interest - r.interest_fixed) * (day - r.interest_from).days / (r.due_date - r.interest_from).days
        own = r.interest_fixed + part.quantize(CENT, rounding="ROUND_HALF_EVEN")
    return max(own, r.paid_interest)


@SETTINGS
@given(scenarios())
def test_next_day_matches_the_design_rules_close_of_business_applies(case):
    """What COB books for day D+1 with no event that day: the penalty on the overdue principal at
    the start of the day (one rounding per loan) and the accrual difference, from the stored rows."""
    terms, events, as_of = case
    s = outcome(terms, events, as_of)
    if isinstance(s, tuple) or s.closed_on is not None:
        return
    nxt = as_of + timedelta(days=1)
    s2 = run(terms, events, nxt)
    t = terms.schedule
    rate = t.annual_rate * D("1.5") if terms.penalty_annual_rate is None else terms.penalty_annual_rate
    year = PENALTY_YEAR.get(t.day_count) or (366 if nxt.year % 4 == 0 else 365)
    overdue = sum((r.principal - r.paid_principal for r in s.installments if r.due_date < nxt), D(0))
    expected = (overdue * rate / (100 * year)).quantize(CENT, rounding="ROUND_HALF_EVEN")
    assert s2.totals.penalty_charged - s.totals.penalty_charged == expected
    for r, r2 in zip(s.installments, s2.installments):
        assert r.accrued_interest == design_accrual(r, as_of)
        assert r2.accrued_interest == design_accrual(r, nxt)


@SETTINGS
@given(scenarios(), st.integers(0, 40))
def test_going_on_from_the_last_fold_gives_the_full_fold(scenario, step):
    """engine.run_from, entering the events one by one in their order (each time the business date
    on, as a service would), each time from the fold the previous call answered: the same state as
    folding everything again (run), or the same refusal — and a stale or foreign fold is never used."""
    from openlend.loans.engine import run_from

    terms, events, as_of = scenario
    evs = sorted(events, key=lambda e: (e.value_date, e.rank, e.seq, e.id))
    snap = None
    for n in range(1, len(evs) + 1):
        day = max(evs[n - 1].value_date, evs[0].value_date) + timedelta(days=step % 7)
        day = min(max(day, evs[n - 1].value_date), as_of)
        try:
            want = run(terms, evs[:n], day)
        except LoanRuleError as exc:
            try:
                run_from(snap, terms, evs[:n], day)
            except LoanRuleError as got:
                assert (got.code, got.event_id) == (exc.code, exc.event_id)
                break
            raise AssertionError(f"run refused ({exc.code}) and run_from did not")
        got, snap = run_from(snap, terms, evs[:n], day)
        assert got == want
    # a fold of other events (one left out) is not gone on from: the answer is still the full fold's
    if len(evs) >= 2 and snap is not None:
        try:
            want = run(terms, evs[1:], as_of)
        except LoanRuleError:
            return
        got, _ = run_from(snap, terms, evs[1:], as_of)
        assert got == want
