"""Invariants of every schedule (Hypothesis).  The whole file is kept to a few seconds."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D
from fractions import Fraction

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from openlend.money import RoundingMode, round_money
from openlend.schedule.dates import YEAR_DAYS
from openlend.schedule.engine import (
    DAY_COUNTS,
    METHODS,
    Fee,
    Frequency,
    ScheduleTerms,
    generate,
)
from openlend.schedule.io import parse_terms, schedule_to_dict

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MODES = [m.value for m in RoundingMode]
amounts = st.integers(min_value=100, max_value=100_000_000).map(lambda c: D(c).scaleb(-2))   # 1.00 .. 1,000,000.00
big_amounts = st.integers(min_value=100_000, max_value=100_000_000).map(lambda c: D(c).scaleb(-2))
rates = st.integers(min_value=0, max_value=360_000).map(lambda b: D(b).scaleb(-4))        # 0 .. 36 %, 4 places
frequencies = st.one_of(
    st.builds(Frequency, st.just("month"), st.integers(1, 3)),
    st.builds(Frequency, st.just("week"), st.integers(1, 4)),
    st.builds(Frequency, st.just("day"), st.sampled_from([1, 7, 14, 15, 30])),
)
disbursements = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))


@st.composite
def schedule_terms(draw, *, method=None, regular=False, grace=True, fees=True, multiple=True, max_term=60,
                   min_principal=D("1.00")):
    method = method or draw(st.sampled_from(METHODS))
    term = draw(st.integers(1, max_term))
    disb = draw(disbursements)
    first = None
    if not regular and draw(st.booleans()):
        first = disb + timedelta(days=draw(st.integers(1, 75)))
    kw = dict(
        principal=draw(big_amounts if min_principal >= 1000 else amounts), annual_rate=draw(rates), method=method, term=term,
        frequency=draw(frequencies), disbursement_date=disb, first_due_date=first,
        interest_basis=draw(st.sampled_from(["period", "daily"])),
        day_count=draw(st.sampled_from(DAY_COUNTS)),
        rounding_mode=draw(st.sampled_from(MODES)),
        installment_rounding=draw(st.sampled_from(MODES)),
    )
    if multiple:
        kw["installment_multiple"] = draw(st.sampled_from([None, None, D("0.05"), D("1"), D("10"), D("100")]))
    if grace:
        kw["grace_principal_periods"] = draw(st.integers(0, term - 1))
        kw["grace_interest_periods"] = draw(st.integers(0, term - 1))
        kw["interest_free_periods"] = draw(st.integers(0, term))
    if fees:
        n = draw(st.integers(0, 2))
        kw["fees"] = tuple(
            Fee(f"fee{i}", draw(st.integers(0, 5000).map(lambda c: D(c).scaleb(-2))),
                draw(st.sampled_from(["upfront", "each_installment"])))
            for i in range(n))
        assume(sum(f.amount for f in kw["fees"] if f.when == "upfront") < kw["principal"])
    return ScheduleTerms(**kw)


@FAST
@given(schedule_terms())
def test_principal_sums_to_the_amount_and_balances_never_go_negative(t):
    s = generate(t)
    rows = s.installments
    assert sum(r.principal for r in rows) == t.principal == s.total_principal
    assert rows[-1].outstanding == 0
    balance = t.principal
    for r in rows:
        assert r.principal >= 0 and r.interest >= 0 and r.fees >= 0 and r.outstanding >= 0
        balance -= r.principal
        assert r.outstanding == balance
        assert r.total == r.principal + r.interest + r.fees
    assert all(r.outstanding > 0 for r in rows[:-1])   # a paid-off schedule stops


@FAST
@given(schedule_terms())
def test_totals_are_the_sums_of_the_rows(t):
    s = generate(t)
    rows = s.installments
    upfront = sum((f.amount for f in t.fees if f.when == "upfront"), D(0))
    assert s.total_interest == sum(r.interest for r in rows)
    assert s.upfront_fees == upfront
    assert s.total_fees == sum(r.fees for r in rows) + upfront
    assert s.total == sum(r.total for r in rows) + upfront == s.total_principal + s.total_interest + s.total_fees
    assert s.net_disbursed == t.principal - upfront


@FAST
@given(schedule_terms())
def test_rows_chain_their_dates(t):
    s = generate(t)
    rows = s.installments
    assert rows[0].from_date == t.disbursement_date
    assert [r.number for r in rows] == list(range(1, len(rows) + 1))
    for a, b in zip(rows, rows[1:]):
        assert b.from_date == a.due_date
    for r in rows:
        assert r.due_date > r.from_date and r.days == (r.due_date - r.from_date).days
    if t.method == "bullet":
        assert len(rows) == 1
    elif t.method == "interest_only":
        assert len(rows) == t.term
    else:
        assert len(rows) <= t.term


@FAST
@given(schedule_terms(method="equal_installment", regular=True, grace=False, fees=False))
def test_equal_installment_rows_are_equal_but_the_last(t):
    rows = generate(t).installments
    assert len({r.total for r in rows[:-1]}) <= 1
    if t.installment_multiple is not None:
        # a row that repays principal (and is not the last) pays exactly the rounded installment
        assert all(r.total % t.installment_multiple == 0 for r in rows[:-1] if r.principal > 0)


@FAST
@given(schedule_terms(method="interest_only"))
def test_interest_only_has_principal_only_on_the_last_row(t):
    rows = generate(t).installments
    assert all(r.principal == 0 for r in rows[:-1])
    assert rows[-1].principal == t.principal


@FAST
@given(schedule_terms(method="flat", grace=False))
def test_flat_interest_is_the_same_every_period_but_the_last(t):
    rows = generate(t).installments
    if len(rows) == t.term:
        assert len({r.interest for r in rows[:-1]}) <= 1


@FAST
@given(schedule_terms(method="equal_principal", regular=True, grace=False))
def test_equal_principal_rows_repay_the_same_principal(t):
    rows = generate(t).installments
    assert len({r.principal for r in rows[:-1]}) <= 1


@SLOW
@given(schedule_terms(method="equal_installment", regular=True, grace=False, fees=False, multiple=False, max_term=36,
                      min_principal=D(1000)),
       st.integers(1, 10_000).map(lambda c: D(c).scaleb(-2)))
def test_apr_with_an_upfront_fee_is_above_the_rate(t, fee_amount):
    """With the period basis the no-fee APR is the nominal rate up to the cent rounding of the
    installments and of the interest (under two cents a period); any upfront fee lifts it."""
    assume(t.annual_rate > 0 and t.interest_basis == "period")
    plain = generate(t).apr()
    with_fee = generate(ScheduleTerms(**{**_fields(t), "fees": (Fee("svc", fee_amount),)})).apr()
    assert with_fee.nominal >= plain.nominal and with_fee.effective >= plain.effective
    unit, every = t.frequency.unit, t.frequency.every
    per_year = D({"month": 12, "week": 52}.get(unit) or YEAR_DAYS[t.day_count]) / every
    tolerance = D("0.02") / t.principal * per_year * 100 + D("0.0001")   # two cents a period, in percent
    assert abs(plain.nominal - t.annual_rate) <= tolerance
    assert with_fee.nominal >= t.annual_rate - tolerance
    # a fee lifts the rate by at least fee / principal spread over the whole term
    if fee_amount / t.principal * per_year * 100 / t.term > 2 * tolerance:
        assert with_fee.nominal > t.annual_rate


@SLOW
@given(schedule_terms(max_term=24))
def test_json_round_trip(t):
    s = generate(t)
    out = schedule_to_dict(s, apr=False)
    assert [D(r["principal"]) for r in out["installments"]] == [r.principal for r in s.installments]
    assert D(out["total"]) == s.total
    obj = {
        "principal": str(t.principal), "annual_rate": str(t.annual_rate), "method": t.method, "term": t.term,
        "frequency": {"unit": t.frequency.unit, "every": t.frequency.every},
        "disbursement_date": t.disbursement_date.isoformat(),
        "first_due_date": t.first_due_date.isoformat() if t.first_due_date else None,
        "interest_basis": t.interest_basis, "day_count": t.day_count,
        "rounding": {"places": t.rounding_places, "mode": t.rounding_mode},
        "installment_multiple": str(t.installment_multiple) if t.installment_multiple is not None else None,
        "installment_rounding": t.installment_rounding,
        "grace_principal_periods": t.grace_principal_periods, "grace_interest_periods": t.grace_interest_periods,
        "interest_free_periods": t.interest_free_periods,
        "fees": [{"name": f.name, "amount": str(f.amount), "when": f.when} for f in t.fees],
    }
    assert parse_terms(obj) == t


@FAST
@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-10**9, max_value=10**9, places=6),
       st.sampled_from(list(RoundingMode)), st.integers(0, 4))
def test_engine_rounding_is_money_round_money(x, mode, places):
    from openlend.schedule.engine import _DEC_MODE, _QUANTS
    assert x.quantize(_QUANTS[places], _DEC_MODE[mode.value]) == round_money(x, places, mode)



# --- exact interest ---------------------------------------------------------------------------------

def _exact_round(x: Fraction, places: int, mode: str) -> D:
    n = x * 10 ** places
    m, rest = divmod(n.numerator, n.denominator)
    half = Fraction(rest, n.denominator) - Fraction(1, 2)
    up = {"up": rest > 0, "ceiling": rest > 0, "down": False, "floor": False,
          "half_up": half >= 0, "half_down": half > 0, "half_even": half > 0 or (half == 0 and m % 2 == 1)}[mode]
    return D(m + up).scaleb(-places)


def _regular_rate(t: ScheduleTerms, frm: date, due: date) -> Fraction:
    """A regular period's exact rate, worked out here from the definitions (module docstrings)."""
    annual = Fraction(t.annual_rate) / 100
    unit, every = t.frequency.unit, t.frequency.every
    if t.interest_basis == "period":
        per_year = {"month": 12, "week": 52}.get(unit) or YEAR_DAYS[t.day_count]
        return annual * every / per_year
    if t.day_count == "ACT/ACT":
        years = Fraction(0)
        while frm < due:
            stop = min(due, date(frm.year + 1, 1, 1))
            leap = frm.year % 4 == 0 and (frm.year % 100 != 0 or frm.year % 400 == 0)
            years += Fraction((stop - frm).days, 366 if leap else 365)
            frm = stop
        return annual * years
    if t.day_count == "30/360" and unit == "month":
        return annual * Fraction(30 * every, 360)
    return annual * Fraction((due - frm).days, YEAR_DAYS[t.day_count])


def _check_rows_exact(t: ScheduleTerms) -> None:
    s = generate(t)
    balance = t.principal
    for i, r in enumerate(s.installments):
        rate = Fraction(0) if i < t.interest_free_periods else _regular_rate(t, r.from_date, r.due_date)
        assert r.interest == _exact_round(Fraction(balance) * rate, t.rounding_places, t.rounding_mode), (i, r)
        if t.method != "interest_only":
            balance = r.outstanding


@FAST
@given(st.sampled_from(["equal_installment", "equal_principal", "interest_only"]).flatmap(
    lambda method: schedule_terms(method=method, regular=True, grace=False)))
def test_every_rows_interest_is_the_exact_interest_rounded(t):
    _check_rows_exact(t)


big_cents = st.integers(min_value=1, max_value=10 ** 20)
long_rates = st.integers(min_value=0, max_value=36 * 10 ** 10).map(lambda k: D(k).scaleb(-10))


@FAST
@given(big_cents, long_rates, st.sampled_from(["equal_installment", "equal_principal", "interest_only"]),
       st.integers(1, 12), st.sampled_from(["period", "daily"]), st.sampled_from(DAY_COUNTS), st.sampled_from(MODES),
       disbursements, st.booleans())
def test_interest_is_exact_for_huge_amounts_and_long_rates(cents, rate, method, term, basis, day_count, mode, disb,
                                                           at_tie):
    # up to 10**18 in currency units and ten decimals of rate: balance x rate goes beyond the 34
    # digits of the money context for about half the cases (the engine then works in integers)
    kw = dict(annual_rate=rate, method=method, term=term, disbursement_date=disb, interest_basis=basis,
              day_count=day_count, rounding_mode=mode)
    if at_tie:   # a principal whose first interest is an exact half cent, where the rate allows one
        first = generate(ScheduleTerms(principal=D(1), **kw)).installments[0]
        rate_cents = _regular_rate(ScheduleTerms(principal=D(1), **kw), first.from_date, first.due_date)
        u, v = rate_cents.numerator, rate_cents.denominator
        if v % 2 == 0 and u % 2 == 1:
            cents = v // 2 * (2 * (cents % max(1, 10 ** 20 // v)) + 1)
            assert (cents * rate_cents).denominator == 2
    _check_rows_exact(ScheduleTerms(principal=D(cents).scaleb(-2), **kw))


@FAST
@given(schedule_terms())
def test_flat_and_bullet_interest_is_the_exact_total_rounded_once(t):
    from openlend.schedule.engine import _plan
    if t.method not in ("flat", "bullet"):
        t = ScheduleTerms(**{**_fields(t), "method": "bullet"})
    f = t.frequency
    plan = _plan(t.disbursement_date, t.first_due_date, f.unit, f.every, t.term, t.annual_rate, t.interest_basis,
                 t.day_count, t.interest_free_periods)
    expected = _exact_round(Fraction(t.principal) * sum((Fraction(*r) for r in plan.exact), Fraction(0)),
                            t.rounding_places, t.rounding_mode)
    assert generate(t).total_interest == expected


@FAST
@given(schedule_terms())
def test_exact_rates_agree_with_the_date_arithmetic(t):
    """The plan's exact rates (odd first periods and every day count included) are the rates that
    dates.py works out in 34 digits, to the last digit."""
    from openlend.schedule.engine import _plan
    f = t.frequency
    plan = _plan(t.disbursement_date, t.first_due_date, f.unit, f.every, t.term, t.annual_rate, t.interest_basis,
                 t.day_count, t.interest_free_periods)
    for r34, (num, den), wide in zip(plan.rates, plan.exact, plan.wide):
        exact = Fraction(num, den)
        assert abs(Fraction(r34) - exact) <= exact / 10 ** 31
        assert abs(Fraction(wide) - exact) <= exact / 10 ** 37

def _fields(t: ScheduleTerms) -> dict:
    return {name: getattr(t, name) for name in ScheduleTerms.__dataclass_fields__}
