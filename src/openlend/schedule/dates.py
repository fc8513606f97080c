"""Period dates and day counts for repayment schedules (pure, cached).

Due dates
    Every due date is computed from one anchor, never from the previous due date, so a schedule
    anchored on the 31st runs Jan 31, Feb 28 (29), Mar 31, Apr 30 … instead of drifting to the
    28th.  The anchor is the first due date when one is given, else the disbursement date (the
    first due date is then one period after disbursement).  Month arithmetic clamps to the month
    end (Jan 31 + 1 month = Feb 28/29), as ``java.time.LocalDate.plusMonths`` does in Fineract.

Irregular first period
    When the first due date is not exactly one period after disbursement, the first period is
    split, counting *back* from the first due date: whole units (months or weeks) plus a stub of
    odd days at the start.  That is how an odd first period is usually measured (the first due
    date belongs to the regular grid, the odd days sit between disbursement and the grid), and
    the stub is then a fraction of the unit it belongs to (Fineract's
    ``calculatePeriodsBetweenDates``: odd days / actual days of that month, or / 7 for a week).

Day counts (used by the ``daily`` interest basis)
    ``ACT/360``, ``ACT/364``, ``ACT/365``: actual days over a fixed year.
    ``ACT/ACT``: ISDA actual/actual, a period that crosses a year end is split, the days in a
    leap year count over 366 and the others over 365 (Fineract's progressive schedule does so).
    ``30/360``: every whole calendar month counts as 30 days and the days outside whole months
    (weeks, days, the stub of an odd first period) count as actual days, which is Fineract's
    "days in month = 30, days in year = 360".  A plain bond-basis 30/360 formula would count a
    regular month anchored on the 31st as 28 or 33 days and a 14-day fortnight as 13 to 16 days,
    which no lender's schedule shows.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

UNITS = ("month", "week", "day")
DAY_COUNTS = ("30/360", "ACT/360", "ACT/365", "ACT/364", "ACT/ACT")

# Days in the year that a day count divides by; for ACT/ACT the figure is only used where a
# fixed number is needed (periods per year of a daily frequency), the interest itself splits
# by calendar year.
YEAR_DAYS = {"30/360": 360, "ACT/360": 360, "ACT/365": 365, "ACT/364": 364, "ACT/ACT": 365}

_D0 = Decimal(0)
_D365 = Decimal(365)
_D366 = Decimal(366)


_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def add_months(d: date, months: int, day: int | None = None) -> date:
    """``d`` moved by ``months`` calendar months, on ``day`` (default ``d.day``) clamped to the month end."""
    y, m0 = divmod(d.year * 12 + d.month - 1 + months, 12)
    m = m0 + 1
    want = d.day if day is None else day
    if want > 28:
        last = 29 if m == 2 and (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else _DAYS_IN_MONTH[m]
        if want > last:
            want = last
    return date(y, m, want)


def add_units(d: date, unit: str, n: int, day: int | None = None) -> date:
    if unit == "month":
        return add_months(d, n, day)
    if unit == "week":
        return d + timedelta(days=7 * n)
    return d + timedelta(days=n)


class Period(NamedTuple):
    """One repayment period: dates, actual days, and its length in frequency units.

    ``whole`` counts whole units (months, weeks or days) and ``stub`` is the odd part of the first
    period as a fraction of one unit, so a regular monthly period every 2 months is (2, 0) and a
    first period from Nov 15 to Dec 31 is (1, 15/30 of November).  ``stub_days`` keeps the odd
    days themselves (the 30/360 day count counts them as actual days).
    """

    from_date: date
    due_date: date
    days: int
    whole: int
    stub: Decimal
    stub_days: int


def regular_first_due(disbursement: date, unit: str, every: int) -> date:
    return add_units(disbursement, unit, every)


def _split_first_period(start: date, due: date, unit: str) -> tuple[int, Decimal, int]:
    """Whole units counted back from ``due`` and the stub before them (fraction of a unit, days)."""
    days = (due - start).days
    if unit == "day":
        return days, _D0, 0
    if unit == "week":
        whole, stub_days = divmod(days, 7)
        return whole, Decimal(stub_days) / 7, stub_days
    # Months: count back from the due date on its own day of month (clamped).
    whole = 0
    while add_months(due, -(whole + 1)) >= start:
        whole += 1
    grid_start = add_months(due, -whole)
    stub_days = (grid_start - start).days
    if stub_days == 0:
        return whole, _D0, 0
    month_before = add_months(due, -(whole + 1))
    return whole, Decimal(stub_days) / Decimal((grid_start - month_before).days), stub_days


@lru_cache(maxsize=4096)
def periods(disbursement: date, first_due: date | None, unit: str, every: int, n: int) -> tuple[Period, ...]:
    """The ``n`` periods of a schedule (cached: schedules with the same dates share one tuple)."""
    if first_due is None:
        anchor, offset = disbursement, every
    else:
        anchor, offset = first_due, 0
    day = anchor.day
    out = []
    new = tuple.__new__
    prev = disbursement
    step = timedelta(days=7 * every if unit == "week" else every)
    irregular = first_due is not None and first_due != regular_first_due(disbursement, unit, every)
    for k in range(n):
        if unit == "month":
            due = add_months(anchor, offset + k * every, day)
        else:
            due = anchor + step * (k + (1 if first_due is None else 0))
        if k == 0 and irregular:
            whole, stub, stub_days = _split_first_period(prev, due, unit)
        else:
            whole, stub, stub_days = every, _D0, 0
        out.append(new(Period, (prev, due, (due - prev).days, whole, stub, stub_days)))
        prev = due
    return tuple(out)


def _act_act(start: date, end: date) -> Decimal:
    total = _D0
    while start < end:
        year_end = date(start.year + 1, 1, 1)
        stop = end if end < year_end else year_end
        total += Decimal((stop - start).days) / (_D366 if calendar.isleap(start.year) else _D365)
        start = stop
    return total


def year_fraction(day_count: str, p: Period, unit: str) -> Decimal:
    """The period's length in years under ``day_count`` (for the daily interest basis)."""
    if day_count == "ACT/ACT":
        return _act_act(p.from_date, p.due_date)
    if day_count == "30/360":
        if unit == "month":
            return Decimal(30 * p.whole + p.stub_days) / 360
        return Decimal(p.days) / 360
    return Decimal(p.days) / YEAR_DAYS[day_count]


def units_per_year(unit: str, day_count: str) -> int:
    """Periods of one unit in a year: 12 months, 52 weeks, or the day count's days.

    These are Fineract's ``DefaultPaymentPeriodsInOneYearCalculator`` figures; for a daily
    frequency Fineract uses the product's days-in-year (360, 364 or 365; 365 for "actual").
    """
    if unit == "month":
        return 12
    if unit == "week":
        return 52
    return YEAR_DAYS[day_count]
