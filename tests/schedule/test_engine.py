"""Behaviour of the repayment-schedule engine: methods, dates, bases, rounding, grace, fees, APR."""

from __future__ import annotations

import dataclasses
import decimal
import pathlib
from datetime import date, datetime
from decimal import Decimal as D
from fractions import Fraction

import pytest

from openlend.money import MoneyError, RoundingMode, round_money
from openlend.schedule import dates as sd
from openlend.schedule.engine import (
    APR,
    Fee,
    Frequency,
    Installment,
    Schedule,
    ScheduleInputError,
    ScheduleTerms,
    generate,
)


def terms(**kw) -> ScheduleTerms:
    base = dict(principal=D("5000"), annual_rate=D("12"), method="equal_installment", term=18,
                disbursement_date=date(2022, 11, 1))
    base.update(kw)
    return ScheduleTerms(**base)


def col(s: Schedule, name: str) -> list:
    return [getattr(r, name) for r in s.installments]


# --- methods -------------------------------------------------------------------------------------

def test_equal_installment_is_a_level_annuity_and_the_last_row_takes_the_residue():
    s = generate(terms())
    totals = col(s, "total")
    assert set(totals[:-1]) == {D("304.91")}          # 5000 * 0.01 / (1 - 1.01**-18) = 304.909...
    assert totals[-1] != D("304.91")
    assert sum(col(s, "principal")) == D("5000")
    assert s.installments[0].interest == D("50.00")
    assert s.installments[-1].outstanding == 0


def test_equal_principal_repays_the_same_principal_and_interest_falls():
    s = generate(terms(method="equal_principal"))
    assert set(col(s, "principal")[:-1]) == {D("277.78")}
    assert s.installments[-1].principal == D("277.74")
    interest = col(s, "interest")
    assert interest == sorted(interest, reverse=True)
    assert s.total_interest == D("475.00")


def test_flat_charges_interest_on_the_original_principal_every_period():
    s = generate(terms(method="flat"))
    assert set(col(s, "interest")) == {D("50.00")}
    assert s.total_interest == D("900.00")
    assert set(col(s, "principal")[:-1]) == {D("277.78")}
    assert s.installments[-1].principal == D("277.74")


def test_interest_only_repays_all_principal_with_the_last_installment():
    s = generate(terms(method="interest_only", term=6))
    assert col(s, "principal") == [D(0)] * 5 + [D("5000")]
    assert set(col(s, "interest")) == {D("50.00")}
    assert col(s, "outstanding") == [D("5000")] * 5 + [D(0)]
    assert s.installments[-1].total == D("5050.00")


def test_bullet_is_one_installment_after_term_periods_with_simple_interest():
    s = generate(terms(method="bullet", term=6))
    assert len(s.installments) == 1
    row = s.installments[0]
    assert (row.number, row.from_date, row.due_date) == (1, date(2022, 11, 1), date(2023, 5, 1))
    assert row.days == (date(2023, 5, 1) - date(2022, 11, 1)).days
    assert row.principal == D("5000.00") and row.interest == D("300.00")   # 5000 * 1% * 6, not compounded
    assert row.total == D("5300.00") and row.outstanding == 0


def test_bullet_on_the_daily_basis_charges_the_actual_days():
    s = generate(terms(method="bullet", term=3, interest_basis="daily", day_count="ACT/365"))
    days = (date(2023, 2, 1) - date(2022, 11, 1)).days
    assert s.installments[0].days == days == 92
    assert s.installments[0].interest == round_money(D(5000) * D("0.12") * days / 365, 2)


def test_every_amount_in_the_rows_carries_the_rounding_places():
    for method in ("equal_installment", "equal_principal", "flat", "interest_only", "bullet"):
        for places in (0, 2, 3):
            s = generate(terms(method=method, term=4, rounding_places=places, installment_multiple=None))
            for r in s.installments:
                for v in (r.principal, r.interest, r.fees, r.total, r.outstanding):
                    assert v.as_tuple().exponent == -places, (method, places, r)


# --- frequencies and dates -----------------------------------------------------------------------

def test_month_end_anchor_clamps_and_does_not_drift():
    s = generate(terms(term=5, disbursement_date=date(2023, 12, 31)))
    assert col(s, "due_date") == [date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31),
                                  date(2024, 4, 30), date(2024, 5, 31)]
    assert col(s, "days") == [31, 29, 31, 30, 31]


def test_first_due_date_anchors_the_day_of_month():
    s = generate(terms(term=4, disbursement_date=date(2023, 1, 10), first_due_date=date(2023, 1, 31)))
    assert col(s, "due_date") == [date(2023, 1, 31), date(2023, 2, 28), date(2023, 3, 31), date(2023, 4, 30)]
    assert col(s, "from_date") == [date(2023, 1, 10), date(2023, 1, 31), date(2023, 2, 28), date(2023, 3, 31)]
    assert col(s, "days") == [21, 28, 31, 30]


def test_add_months_clamps_to_month_end():
    assert sd.add_months(date(2023, 1, 31), 1) == date(2023, 2, 28)
    assert sd.add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert sd.add_months(date(2024, 3, 31), -1) == date(2024, 2, 29)
    assert sd.add_months(date(2023, 11, 15), 14) == date(2025, 1, 15)


@pytest.mark.parametrize("unit, every, expected", [
    ("week", 1, [date(2024, 1, 8), date(2024, 1, 15), date(2024, 1, 22)]),
    ("week", 2, [date(2024, 1, 15), date(2024, 1, 29), date(2024, 2, 12)]),
    ("day", 15, [date(2024, 1, 16), date(2024, 1, 31), date(2024, 2, 15)]),
    ("month", 3, [date(2024, 4, 1), date(2024, 7, 1), date(2024, 10, 1)]),
])
def test_frequencies_step_every_n_units(unit, every, expected):
    s = generate(terms(term=3, disbursement_date=date(2024, 1, 1), frequency=Frequency(unit, every)))
    assert col(s, "due_date") == expected


@pytest.mark.parametrize("unit, every, periodic", [
    ("month", 1, D("0.01")),                 # 12 % / 12
    ("month", 3, D("0.03")),
    ("week", 2, D("0.12") * 2 / 52),         # Fineract: 52 weeks a year
    ("day", 15, D("0.12") * 15 / 360),       # days: the day count's year (30/360 -> 360)
])
def test_period_basis_rate_is_the_annual_rate_over_the_periods_in_a_year(unit, every, periodic):
    s = generate(terms(method="interest_only", term=2, frequency=Frequency(unit, every)))
    assert s.installments[0].interest == round_money(D(5000) * periodic, 2)


def test_daily_frequency_on_the_period_basis_follows_the_day_count_year():
    s = generate(terms(method="interest_only", term=2, frequency=Frequency("day", 10), day_count="ACT/365"))
    assert s.installments[0].interest == round_money(D(5000) * D("0.12") * 10 / 365, 2)


# --- interest basis and day counts ---------------------------------------------------------------

@pytest.mark.parametrize("day_count, year", [("ACT/360", 360), ("ACT/365", 365), ("ACT/364", 364)])
def test_daily_basis_charges_actual_days_over_the_day_count_year(day_count, year):
    s = generate(terms(method="interest_only", term=3, interest_basis="daily", day_count=day_count,
                       disbursement_date=date(2023, 1, 1)))
    for r in s.installments:   # 31, 28, 31 days
        assert r.interest == round_money(D(5000) * D("0.12") * r.days / year, 2)


def test_30_360_counts_every_whole_month_as_30_days():
    s = generate(terms(method="interest_only", term=3, interest_basis="daily", day_count="30/360",
                       disbursement_date=date(2023, 12, 31)))
    assert col(s, "days") == [31, 29, 31]
    assert set(col(s, "interest")) == {D("50.00")}


def test_30_360_counts_weeks_as_actual_days():
    s = generate(terms(method="interest_only", term=2, interest_basis="daily", day_count="30/360",
                       frequency=Frequency("week", 2)))
    assert s.installments[0].interest == round_money(D(5000) * D("0.12") * 14 / 360, 2)


def test_act_act_splits_a_period_across_the_year_end_isda():
    s = generate(terms(method="interest_only", term=1, interest_basis="daily", day_count="ACT/ACT",
                       disbursement_date=date(2023, 12, 12), principal=D("10000")))
    # 20 days of 2023 (Dec 12..31) over 365 and 11 days of 2024 over 366
    expected = D(10000) * D("0.12") * (D(20) / 365 + D(11) / 366)
    assert s.installments[0].interest == round_money(expected, 2) == D("101.82")


def test_default_day_count_depends_on_the_basis():
    assert terms().day_count == "30/360"
    assert terms(interest_basis="daily").day_count == "ACT/365"


def test_daily_basis_annuity_uses_each_periods_rate_factor():
    t = terms(term=3, interest_basis="daily", day_count="ACT/365", disbursement_date=date(2023, 1, 1))
    s = generate(t)
    with decimal.localcontext() as ctx:
        ctx.prec = 34
        rates = [D("0.12") * d / 365 for d in (31, 28, 31)]
        disc, total = D(1), D(0)
        for r in rates:
            disc /= 1 + r
            total += disc
        emi = round_money(D(5000) / total, 2)
    assert s.installments[0].total == s.installments[1].total == emi
    assert [r.interest for r in s.installments][:2] == [D("50.96"), round_money(
        (D(5000) - (emi - D("50.96"))) * rates[1], 2)]


# --- odd first period ----------------------------------------------------------------------------

def test_long_first_period_prorates_interest_on_the_period_basis():
    s = generate(terms(term=6, disbursement_date=date(2022, 11, 15), first_due_date=date(2022, 12, 31)))
    first = s.installments[0]
    assert (first.from_date, first.due_date, first.days) == (date(2022, 11, 15), date(2022, 12, 31), 46)
    assert first.interest == D("75.00")   # one month (Nov 30 .. Dec 31) + 15/30 of November: 1.5 * 50
    assert col(s, "due_date")[1:3] == [date(2023, 1, 31), date(2023, 2, 28)]


def test_short_first_period_prorates_interest_on_the_period_basis():
    s = generate(terms(term=6, disbursement_date=date(2022, 11, 15), first_due_date=date(2022, 12, 1)))
    assert s.installments[0].days == 16
    assert s.installments[0].interest == D("26.67")   # 16/30 of a month at 1 %
    # the installment stays the regular annuity; the last one absorbs the difference
    assert len(set(col(s, "total")[:-1])) == 1


def test_odd_first_period_on_the_daily_basis_counts_its_actual_days():
    s = generate(terms(method="interest_only", term=2, interest_basis="daily", day_count="ACT/365",
                       disbursement_date=date(2022, 11, 15), first_due_date=date(2022, 12, 31)))
    assert s.installments[0].interest == round_money(D(5000) * D("0.12") * 46 / 365, 2)


def test_odd_first_weekly_period_counts_whole_weeks_and_odd_days():
    s = generate(terms(method="interest_only", term=2, frequency=Frequency("week", 2),
                       disbursement_date=date(2024, 1, 1), first_due_date=date(2024, 1, 11)))
    assert s.installments[0].days == 10
    assert s.installments[0].interest == round_money(D(5000) * D("0.12") / 52 * (1 + D(3) / 7), 2)
    assert s.installments[1].due_date == date(2024, 1, 25)


# --- rounding ------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode, interest", [("half_even", "15.62"), ("half_up", "15.63"), ("down", "15.62"),
                                            ("up", "15.63"), ("half_down", "15.62"), ("ceiling", "15.63"),
                                            ("floor", "15.62")])
def test_rounding_mode_rounds_the_interest(mode, interest):
    s = generate(terms(principal=D("1250"), annual_rate=D("15"), method="interest_only", term=2, rounding_mode=mode))
    assert s.installments[0].interest == D(interest)   # 1250 * 1.25 % = 15.625


def test_rounding_places():
    s = generate(terms(principal=D("1250"), annual_rate=D("15"), method="interest_only", term=2, rounding_places=0))
    assert s.installments[0].interest == D("16")
    s = generate(terms(principal=D("1250"), annual_rate=D("15"), method="interest_only", term=2, rounding_places=3))
    assert s.installments[0].interest == D("15.625")


@pytest.mark.parametrize("mode, emi", [("half_even", "305"), ("up", "305"), ("down", "304"), ("half_up", "305")])
def test_installment_multiple_with_its_own_rounding(mode, emi):
    s = generate(terms(installment_multiple=D("1"), installment_rounding=mode))   # exact 304.909...
    assert set(col(s, "total")[:-1]) == {D(emi)}
    assert sum(col(s, "principal")) == D("5000")


def test_installment_multiple_of_ten_and_of_five_cents():
    s = generate(terms(installment_multiple=D("10")))
    assert set(col(s, "total")[:-1]) == {D("300.00")}
    s = generate(terms(installment_multiple=D("0.05"), installment_rounding="up"))
    assert set(col(s, "total")[:-1]) == {D("304.95")}


def test_rounding_up_to_a_big_multiple_ends_the_schedule_early_and_never_goes_negative():
    s = generate(terms(term=6, installment_multiple=D("1000"), installment_rounding="up"))
    assert len(s.installments) == 6
    s = generate(terms(term=12, installment_multiple=D("1000"), installment_rounding="up"))
    assert len(s.installments) < 12          # 1000 a month pays 5000 off in 6
    assert all(r.outstanding >= 0 and r.principal >= 0 for r in s.installments)
    assert s.installments[-1].outstanding == 0
    assert s.installments[-1].total <= D("1000")
    assert sum(col(s, "principal")) == D("5000")


def test_flat_multiple_rounds_principal_and_interest_separately_as_fineract():
    s = generate(terms(principal=D("1250"), method="flat", term=3, installment_multiple=D("20")))
    assert col(s, "total") == [D("440.00"), D("440.00"), D("407.50")]
    assert col(s, "principal") == [D("427.50"), D("427.50"), D("395.00")]


def test_multiple_does_not_change_methods_without_a_level_installment():
    for method in ("equal_principal", "interest_only", "bullet"):
        assert (generate(terms(method=method, installment_multiple=D("1"))).installments
                == generate(terms(method=method)).installments)


def test_engine_rounding_agrees_with_money_round_money():
    from openlend.schedule.engine import _DEC_MODE, _QUANTS
    values = [D("15.625"), D("-15.625"), D("2.675"), D("0.005"), D("1.0049999"), D("12345.6789")]
    for mode in RoundingMode:
        for places in range(0, 5):
            for v in values:
                assert v.quantize(_QUANTS[places], _DEC_MODE[mode.value]) == round_money(v, places, mode)



# --- exact interest: ties and whole cents ----------------------------------------------------------
# A period's interest is the EXACT balance x annual x (period fraction) / 100, rounded once.  The
# monthly rate annual/1200 does not terminate unless 3 divides the annual rate's digits (5 %/12 =
# 0.0041666...), so a rate carried as a 34-digit Decimal put the product a hair off an exact tie
# (0.085 came out 0.09 half-even) or off an exact cent (0.08 came out 0.09 rounding up).

def first_interest(principal, rate, mode="half_even", **kw) -> D:
    kw.setdefault("disbursement_date", date(2024, 1, 15))
    s = generate(terms(principal=D(principal), annual_rate=D(rate), method="interest_only", term=1,
                       rounding_mode=mode, **kw))
    return s.installments[0].interest


def exact_round(x: Fraction, places: int, mode: str) -> D:
    """A non-negative fraction rounded to ``places`` with ``mode``, in integers (the test's own)."""
    n = x * 10 ** places
    m, rest = divmod(n.numerator, n.denominator)
    half = Fraction(rest, n.denominator) - Fraction(1, 2)
    up = {"up": rest > 0, "ceiling": rest > 0, "down": False, "floor": False,
          "half_up": half >= 0, "half_down": half > 0, "half_even": half > 0 or (half == 0 and m % 2 == 1)}[mode]
    return D(m + up).scaleb(-places)


@pytest.mark.parametrize("principal, rate, exact, half_even, half_up, half_down", [
    ("20.40", "5", "0.085", "0.08", "0.09", "0.08"),
    ("15.60", "5", "0.065", "0.06", "0.07", "0.06"),
    ("18.00", "5", "0.075", "0.08", "0.08", "0.07"),
    ("1518.00", "7", "8.855", "8.86", "8.86", "8.85"),
    ("162.00", "7", "0.945", "0.94", "0.95", "0.94"),
    ("6.00", "7", "0.035", "0.04", "0.04", "0.03"),
    ("6.00", "11", "0.055", "0.06", "0.06", "0.05"),
])
def test_exact_half_cent_ties_round_by_the_mode(principal, rate, exact, half_even, half_up, half_down):
    assert D(principal) * D(rate) / 1200 == D(exact)      # an exact tie (rate_e4 % 3 != 0)
    assert first_interest(principal, rate) == D(half_even)
    assert first_interest(principal, rate, "half_up") == D(half_up)
    assert first_interest(principal, rate, "half_down") == D(half_down)


@pytest.mark.parametrize("principal, rate, exact", [("1524.00", "7", "8.89"), ("19.20", "5", "0.08"),
                                                    ("24.00", "5", "0.10"), ("12.00", "7", "0.07")])
def test_exact_whole_cents_stay_put_in_every_mode(principal, rate, exact):
    for mode in RoundingMode:
        assert first_interest(principal, rate, mode.value) == D(exact), mode


def tie_balances(rate: Fraction, count: int) -> list[int]:
    """Balances in cents whose interest ``balance * rate`` (in cents) is exactly m + 1/2."""
    u, v = rate.numerator, rate.denominator
    if v % 2 or not u % 2:
        return []              # no ties at this rate
    return [v // 2 * t for t in range(1, 4 * count, 2)][:count]


@pytest.mark.parametrize("rate", ["5", "7", "7.25", "10.1", "13", "19.99", "35.5", "8.3333"])
def test_constructed_ties_at_many_rates_go_half_even(rate):
    balances = tie_balances(Fraction(rate) / 1200, 40)
    assert balances
    for b in balances:
        exact = b * Fraction(rate) / 1200                  # cents, m + 1/2
        assert exact.denominator == 2
        for mode in ("half_even", "half_up", "half_down"):
            got = first_interest(D(b).scaleb(-2), rate, mode)
            assert got == exact_round(exact / 100, 2, mode), (b, mode)


@pytest.mark.parametrize("day_count, disb, due, year_fraction", [
    ("ACT/365", date(2024, 4, 1), date(2024, 5, 1), Fraction(30, 365)),
    ("ACT/360", date(2024, 4, 1), date(2024, 5, 1), Fraction(30, 360)),
    ("ACT/ACT", date(2023, 12, 15), date(2024, 1, 15), Fraction(17, 365) + Fraction(14, 366)),
    ("30/360", date(2024, 1, 15), date(2024, 3, 5), Fraction(30 + 21, 360)),   # a month and 21 odd days
])
def test_constructed_ties_on_the_daily_basis_go_half_even(day_count, disb, due, year_fraction):
    found = 0
    for rate in ("5", "7", "12.5", "9.99"):
        for b in tie_balances(Fraction(rate) / 100 * year_fraction, 10):
            exact = b * Fraction(rate) / 100 * year_fraction / 100
            for mode in ("half_even", "half_up"):
                got = first_interest(D(b).scaleb(-2), rate, mode, interest_basis="daily", day_count=day_count,
                                     disbursement_date=disb, first_due_date=due)
                assert got == exact_round(exact, 2, mode), (rate, b, mode)
            found += 1
    assert found >= 10


def test_ties_in_every_method_that_charges_a_period_rate():
    # 20.40 at 5 % is 0.085 a month; 61.20 is 0.255 (both half-even down)
    for method in ("equal_principal", "interest_only", "equal_installment"):
        s = generate(terms(principal=D("20.40"), annual_rate=D("5"), method=method, term=3))
        assert s.installments[0].interest == D("0.08"), method
    s = generate(terms(principal=D("20.40"), annual_rate=D("5"), method="interest_only", term=3,
                       grace_interest_periods=2))
    assert col(s, "interest") == [0, 0, D("0.24")]
    # flat and bullet round the whole interest once, half-even: 20.40 * 5 % * 3/12 = 0.255 -> 0.26
    # and 61.20 * 5 % * 3/12 = 0.765 -> 0.76
    for principal, total in (("20.40", "0.26"), ("61.20", "0.76")):
        for method in ("bullet", "flat"):
            s = generate(terms(principal=D(principal), annual_rate=D("5"), method=method, term=3))
            assert s.total_interest == D(total), (principal, method)


def test_amounts_beyond_34_digits_of_product_are_still_exact():
    # a principal and a rate with so many digits that balance x rate does not fit in 34 digits:
    # the engine then works the interest out in integers
    from openlend.schedule import engine
    principal = D("123456789012345678.90")
    rate = D("7.123456789012345678901")
    for method in ("interest_only", "equal_principal", "equal_installment"):
        for mode in RoundingMode:
            t = terms(principal=principal, annual_rate=rate, method=method, term=4, rounding_mode=mode.value)
            plan = engine._plan(t.disbursement_date, None, "month", 1, 4, rate, "period", "30/360", 0)
            assert principal.scaleb(2) > plan.room          # the integer path is the one taken
            s = generate(t)
            balance = principal
            for r in s.installments:
                assert r.interest == exact_round(Fraction(balance) * Fraction(rate) / 1200, 2, mode.value)
                balance = r.outstanding

# --- grace ---------------------------------------------------------------------------------------

def test_grace_on_principal_pays_interest_only_then_amortises_over_the_rest():
    s = generate(terms(grace_principal_periods=3, installment_multiple=D("1")))
    assert col(s, "principal")[:3] == [D(0)] * 3
    assert col(s, "total")[:3] == [D("50.00")] * 3
    assert set(col(s, "total")[3:-1]) == {D("361.00")}   # pmt(1 %, 15, 5000) = 360.62


def test_grace_on_interest_payment_defers_interest_without_capitalising_it():
    base = generate(terms(grace_principal_periods=6, installment_multiple=D("1")))
    s = generate(terms(grace_principal_periods=6, grace_interest_periods=3, installment_multiple=D("1")))
    assert col(s, "interest")[:4] == [D(0), D(0), D(0), D("200.00")]   # 3 deferred + period 4
    assert col(s, "outstanding")[:6] == [D("5000")] * 6                 # not capitalised
    assert s.total_interest == base.total_interest
    assert col(s, "total")[6:] == col(base, "total")[6:]


def test_grace_on_interest_payment_still_repays_principal():
    s = generate(terms(term=6, grace_interest_periods=2))
    assert s.installments[0].interest == 0 and s.installments[0].principal > 0
    assert s.installments[2].interest > D("50")       # deferred interest collected in period 3


def test_interest_free_periods_accrue_nothing():
    s = generate(terms(term=6, method="interest_only", interest_free_periods=2))
    assert col(s, "interest") == [D(0), D(0)] + [D("50.00")] * 4
    s = generate(terms(term=6, interest_free_periods=2))
    assert col(s, "interest")[:2] == [D(0), D(0)]
    assert s.installments[0].principal == s.installments[0].total


def test_flat_grace_on_interest_spreads_the_flat_interest_over_paying_periods():
    s = generate(terms(principal=D("1200"), method="flat", term=6, grace_interest_periods=2))
    assert col(s, "interest") == [D(0), D(0)] + [D("18.00")] * 4   # 72 over 4 periods
    assert s.total_interest == D("72.00")


def test_flat_interest_free_periods_reduce_the_flat_interest():
    s = generate(terms(principal=D("1200"), method="flat", term=6, interest_free_periods=2))
    assert col(s, "interest") == [D(0), D(0)] + [D("12.00")] * 4
    assert s.total_interest == D("48.00")


def test_equal_principal_grace():
    s = generate(terms(method="equal_principal", term=6, grace_principal_periods=2))
    assert col(s, "principal") == [D(0), D(0)] + [D("1250.00")] * 4


# --- fees ----------------------------------------------------------------------------------------

def test_upfront_fee_reduces_the_net_disbursed_and_is_in_total_fees_only():
    plain = generate(terms())
    s = generate(terms(fees=(Fee("service", D("50"), "upfront"),)))
    assert s.installments == plain.installments
    assert s.upfront_fees == D("50") and s.net_disbursed == D("4950")
    assert s.total_fees == D("50.00")
    assert s.total == s.total_principal + s.total_interest + s.total_fees == plain.total + 50


def test_each_installment_fee_is_added_to_every_row():
    s = generate(terms(term=6, fees=[Fee("account", D("10"), "each_installment"),
                                     Fee("sms", D("0.50"), "each_installment")]))
    assert set(col(s, "fees")) == {D("10.50")}
    assert all(r.total == r.principal + r.interest + r.fees for r in s.installments)
    assert s.total_fees == D("63.00")
    assert s.total == sum(col(s, "total"))


# --- totals --------------------------------------------------------------------------------------

def test_totals_are_the_sums_of_the_rows():
    s = generate(terms(method="equal_principal", fees=(Fee("a", D("5"), "each_installment"), Fee("b", D("20")))))
    assert s.total_principal == sum(col(s, "principal")) == D("5000")
    assert s.total_interest == sum(col(s, "interest"))
    assert s.total_fees == sum(col(s, "fees")) + s.upfront_fees
    assert s.total == sum(col(s, "total")) + s.upfront_fees


# --- APR -----------------------------------------------------------------------------------------

def test_apr_equals_the_nominal_rate_without_fees():
    s = generate(terms(principal=D("1000000"), term=36))
    a = s.apr()
    assert isinstance(a, APR)
    assert abs(a.nominal - D("12")) < D("0.001")
    assert a.nominal.as_tuple().exponent == -4 and a.effective.as_tuple().exponent == -4


def test_apr_of_a_one_period_loan_with_a_fee_is_exact():
    # 1000 lent, 10 fee kept at disbursement, 1010 repaid one month later: 1010 / 990 - 1 per month
    s = generate(terms(principal=D("1000"), method="bullet", term=1, disbursement_date=date(2024, 1, 1),
                       fees=(Fee("fee", D("10")),)))
    a = s.apr()
    with decimal.localcontext() as ctx:
        ctx.prec = 40
        monthly = D(1010) / D(990) - 1
        effective = (((1 + monthly).ln() * 365 / 31).exp() - 1) * 100   # 31 days, Jan 1 to Feb 1
    assert a.nominal == round_money(monthly * 1200, 4) == D("24.2424")
    assert a.effective == round_money(effective, 4)


def test_apr_with_an_upfront_fee_is_above_the_rate():
    plain = generate(terms()).apr()
    fee = generate(terms(fees=(Fee("svc", D("50")),))).apr()
    assert fee.nominal > plain.nominal and fee.effective > plain.effective
    assert fee.nominal > D("12")


def test_effective_apr_compounds_the_monthly_rate():
    a = generate(terms(principal=D("1000000"), term=12, disbursement_date=date(2023, 1, 1))).apr()
    assert D("12.6") < a.effective < D("12.8")     # (1.01)^12 - 1 = 12.68 %, on actual days


def test_apr_is_computed_lazily_and_cached():
    s = generate(terms())
    assert s._apr is None
    a = s.apr()
    assert s.apr() is a


def test_zero_rate_loan_has_zero_apr():
    s = generate(terms(annual_rate=D("0"), term=4))
    assert s.total_interest == 0
    assert s.apr() == APR(D("0.0000"), D("0.0000"))


# --- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("change, field", [
    (dict(principal=D("0")), "principal"),
    (dict(principal=D("-5")), "principal"),
    (dict(principal=D("100.001")), "principal"),
    (dict(principal=5000.0), "principal"),
    (dict(principal="5000"), "principal"),
    (dict(principal=D("NaN")), "principal"),
    (dict(annual_rate=D("-1")), "annual_rate"),
    (dict(annual_rate=12.0), "annual_rate"),
    (dict(method="balloon"), "method"),
    (dict(term=0), "term"),
    (dict(term=True), "term"),
    (dict(term=18.0), "term"),
    (dict(term=100000), "term"),
    (dict(frequency=Frequency("fortnight", 1)), "frequency.unit"),
    (dict(frequency=Frequency("month", 0)), "frequency.every"),
    (dict(frequency="monthly"), "frequency"),
    (dict(disbursement_date=datetime(2022, 11, 1)), "disbursement_date"),
    (dict(disbursement_date="2022-11-01"), "disbursement_date"),
    (dict(first_due_date=date(2022, 11, 1)), "first_due_date"),
    (dict(first_due_date=date(2022, 10, 1)), "first_due_date"),
    (dict(interest_basis="monthly"), "interest_basis"),
    (dict(day_count="30E/360"), "day_count"),
    (dict(rounding_places=-1), "rounding.places"),
    (dict(rounding_places=12), "rounding.places"),
    (dict(rounding_mode="bankers"), "rounding.mode"),
    (dict(installment_multiple=D("0")), "installment_multiple"),
    (dict(installment_multiple=D("0.001")), "installment_multiple"),
    (dict(installment_rounding="nearest"), "installment_rounding"),
    (dict(grace_principal_periods=18), "grace_principal_periods"),
    (dict(grace_principal_periods=-1), "grace_principal_periods"),
    (dict(grace_interest_periods=18), "grace_interest_periods"),
    (dict(grace_interest_periods=False), "grace_interest_periods"),
    (dict(interest_free_periods=19), "interest_free_periods"),
    (dict(fees=(Fee("x", D("-1")),)), "fees[0].amount"),
    (dict(fees=(Fee("x", D("1")), Fee("y", 2.5))), "fees[1].amount"),
    (dict(fees=(Fee("", D("1")),)), "fees[0].name"),
    (dict(fees=(Fee("x", D("1"), "monthly"),)), "fees[0].when"),
    (dict(fees=(Fee("x", D("5000")),)), "fees"),
    (dict(fees=({"name": "x"},)), "fees[0]"),
    (dict(fees="none"), "fees"),
])
def test_bad_terms_are_refused_naming_the_field(change, field):
    with pytest.raises(ScheduleInputError) as e:
        terms(**change)
    assert e.value.field == field
    assert isinstance(e.value, ValueError) and isinstance(e.value, MoneyError)
    assert field in str(e.value)


def test_terms_are_immutable_and_replace_revalidates():
    t = terms()
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.term = 12  # type: ignore[misc]
    assert dataclasses.replace(t, term=12).term == 12
    with pytest.raises(ScheduleInputError):
        dataclasses.replace(t, term=0)


def test_int_amounts_become_decimals():
    t = terms(principal=5000, annual_rate=12)
    assert type(t.principal) is D and type(t.annual_rate) is D


def test_installment_is_a_named_row():
    row = generate(terms()).installments[0]
    assert isinstance(row, Installment)
    assert row._fields == ("number", "from_date", "due_date", "days", "principal", "interest", "fees", "total",
                           "outstanding")


def test_schedule_package_never_uses_float():
    folder = pathlib.Path(__file__).resolve().parents[2] / "src" / "openlend" / "schedule"
    for name in ("__init__.py", "engine.py", "dates.py", "apr.py", "io.py"):
        assert "float(" not in (folder / name).read_text(), name


# --- the IRR / XIRR solver -----------------------------------------------------------------------

def test_irr_of_simple_cash_flows():
    from openlend.schedule.apr import irr
    assert round_money(irr(D(1000), [D(1100)]), 12) == D("0.100000000000")
    # 10000 repaid by 36 x 332.14 is 1 % a month (a spreadsheet's RATE(36, -332.14, 10000) = 0.0099997...)
    r = irr(D(10000), [D("332.14")] * 36)
    assert abs(r - D("0.01")) < D("0.00001")
    assert irr(D(100), [D(50), D(50)]) == 0


def test_xirr_matches_the_spreadsheet_definition():
    from openlend.schedule.apr import xirr
    x = xirr(D(1000), date(2023, 1, 1), [(date(2024, 1, 1), D(1100))])   # 365 days
    assert round_money(x, 12) == D("0.100000000000")
    x = xirr(D(1000), date(2024, 1, 1), [(date(2024, 7, 1), D(1050))])   # 182 days
    with decimal.localcontext() as ctx:
        ctx.prec = 40
        assert abs(x - ((D("1.05").ln() * 365 / 182).exp() - 1)) < D("1e-25")


def test_solver_copes_with_absurd_rates_and_refuses_meaningless_flows():
    from openlend.schedule.apr import APRError, irr, xirr
    x = xirr(D(600), date(2024, 1, 1), [(date(2024, 1, 5), D(1000))])   # 4 days, 40 % fee
    assert x > D("1e13")
    assert irr(D(1000), [D(1)]) < D("-0.99")
    with pytest.raises(APRError):
        irr(D(1000), [D(0), D(0)])
    with pytest.raises(APRError):
        irr(D(0), [D(10)])
    s = generate(terms(principal=D("1000"), method="bullet", term=2, frequency=Frequency("day", 1),
                       fees=(Fee("fee", D("480")),)))
    assert s.apr().effective > D("1e50")
