"""Re-laying the rest of a loan's schedule: pure helpers for :mod:`openlend.loans.engine`.

A prepayment, a due-day change or a term change replaces the installments from the current one
on.  Two ways:

:func:`relay`
    A fresh schedule from the schedule engine (:func:`openlend.schedule.engine.generate`) for the
    unpaid principal, from the date interest restarts (``start``: the prepayment date, or the
    current period's start) to the first due date, over ``count`` installments.  The engine then
    applies every rule of the product (method, basis, day count, rounding, multiples, odd first
    period, per-installment fees, what is left of the grace), so the new rows follow exactly the
    conventions of the original ones.  Used for "smaller installment, same term", for a due-day
    change and for a term change.

:func:`keep_installment`
    "Same installment, shorter term": the level installment (equal installments) or the level
    principal (equal principal) is kept and the rows run until the balance is repaid; the last
    takes what is left.  The engine has no "fixed installment" input, so the rows are built here,
    with each period's rate worked out exactly as the engine does (``Fraction``; period basis: the
    regular rate, the first period pro rata as an odd first period; daily basis: the period's
    length under the day count) and each interest rounded once, exactly, with the product's mode.

Monthly schedules anchored on the 29th-31st
    The schedule engine anchors a schedule's later due dates on its first due date's day.  When
    the next due date was clamped (the 31st anchor falling on 30 April), a re-laid schedule would
    drift to the 30th.  With the period basis a regular period's interest does not depend on its
    calendar days, so :func:`relay` puts the later rows back on the loan's own day (``anchor_day``)
    without changing any amount.  With the daily basis the amounts do depend on the days, and the
    re-laid rows keep the engine's dates (a known limit, noted in the engine's docstring).
"""

from __future__ import annotations

import calendar
import decimal
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from openlend.schedule.dates import YEAR_DAYS, add_months, periods, units_per_year
from openlend.schedule.engine import Installment, ScheduleTerms, generate

_HALF = {decimal.ROUND_HALF_EVEN, decimal.ROUND_HALF_UP, decimal.ROUND_HALF_DOWN}
_DEC_MODE = {"half_even": decimal.ROUND_HALF_EVEN, "half_up": decimal.ROUND_HALF_UP,
             "half_down": decimal.ROUND_HALF_DOWN, "up": decimal.ROUND_UP, "down": decimal.ROUND_DOWN,
             "ceiling": decimal.ROUND_CEILING, "floor": decimal.ROUND_FLOOR}


def fee_each(t: ScheduleTerms) -> tuple:
    """The per-installment fees of ``t`` (the upfront ones were taken at disbursement)."""
    return tuple(f for f in t.fees if f.when == "each_installment")


def relay(t: ScheduleTerms, *, principal: Decimal, start: date, first_due: date, count: int,
          grace_principal: int, interest_free: int, anchor_day: int | None) -> list[Installment]:
    """Rows for ``principal`` from ``start``, the first due on ``first_due``, ``count`` installments
    (a bullet loan: its one installment on ``first_due``)."""
    method = t.method
    if method == "bullet":
        count = 1
    nt = ScheduleTerms(
        principal=principal, annual_rate=t.annual_rate, method=method, term=count, disbursement_date=start,
        frequency=t.frequency, first_due_date=first_due, interest_basis=t.interest_basis, day_count=t.day_count,
        rounding_places=t.rounding_places, rounding_mode=t.rounding_mode,
        installment_multiple=t.installment_multiple, installment_rounding=t.installment_rounding,
        grace_principal_periods=(min(grace_principal, count - 1) if method not in ("bullet", "interest_only") else 0),
        grace_interest_periods=0, interest_free_periods=min(interest_free, count), fees=fee_each(t))
    rows = list(generate(nt).installments)
    f = t.frequency
    if (f.unit == "month" and anchor_day and first_due.day < anchor_day and t.interest_basis == "period"
            and len(rows) > 1):
        fixed = [rows[0]]
        prev = rows[0].due_date
        for i, r in enumerate(rows[1:], 1):
            due = add_months(first_due, i * f.every, anchor_day)
            fixed.append(r._replace(from_date=prev, due_date=due, days=(due - prev).days))
            prev = due
        rows = fixed
    return rows


def due_grid(t: ScheduleTerms, first_due: date, n: int, anchor_day: int | None) -> list[date]:
    """``n`` due dates from ``first_due`` on the loan's grid (monthly on ``anchor_day``, clamped)."""
    f = t.frequency
    if f.unit == "month":
        day = anchor_day or first_due.day
        return [first_due] + [add_months(first_due, i * f.every, day) for i in range(1, n)]
    step = timedelta(days=7 * f.every if f.unit == "week" else f.every)
    return [first_due + step * i for i in range(n)]


def _act_act(start: date, end: date) -> Fraction:
    total = Fraction(0)
    while start < end:
        year_end = date(start.year + 1, 1, 1)
        stop = end if end < year_end else year_end
        total += Fraction((stop - start).days, 366 if calendar.isleap(start.year) else 365)
        start = stop
    return total


def period_rate(t: ScheduleTerms, start: date, due: date, first: bool) -> Fraction:
    """The exact rate of the period ``start``..``due`` (``first``: it may be an odd first period),
    as the schedule engine computes it."""
    f = t.frequency
    unit, every = f.unit, f.every
    annual = Fraction(t.annual_rate) / 100
    if first:
        p = periods(start, due, unit, every, 1)[0]
        whole, stub_days = p.whole, p.stub_days
    else:
        whole, stub_days = every, 0
    if t.interest_basis == "period":
        unit_rate = annual / units_per_year(unit, t.day_count)
        if not stub_days:
            return unit_rate * whole
        if unit == "week":
            stub = Fraction(stub_days, 7)
        else:   # the month the odd days fall in (counted back from the due date)
            grid_start = add_months(due, -whole)
            stub = Fraction(stub_days, (grid_start - add_months(due, -(whole + 1))).days)
        return unit_rate * (whole + stub)
    dc = t.day_count
    if dc == "ACT/ACT":
        return annual * _act_act(start, due)
    if dc == "30/360" and unit == "month":
        return annual * Fraction(30 * whole + stub_days, 360)
    return annual * Fraction((due - start).days, YEAR_DAYS[dc])


def round_fraction(value: Fraction, places: int, mode: str) -> Decimal:
    """``value`` (>= 0) rounded to ``places`` with rounding mode ``mode`` (a product mode name), exactly."""
    rm = _DEC_MODE[mode]
    q, r = divmod(value.numerator * 10 ** places, value.denominator)
    if r:
        d = value.denominator
        if rm in _HALF:
            c = 2 * r - d
            if c > 0 or (c == 0 and (rm == decimal.ROUND_HALF_UP or (rm == decimal.ROUND_HALF_EVEN and q & 1))):
                q += 1
        elif rm in (decimal.ROUND_UP, decimal.ROUND_CEILING):
            q += 1
    return Decimal(q).scaleb(-places)


def keep_installment(t: ScheduleTerms, *, principal: Decimal, start: date, first_due: date, max_count: int,
                     level: Decimal, grace_principal: int, interest_free: int, anchor_day: int | None,
                     interest_start: date | None = None) -> list[Installment]:
    """Rows keeping the level installment (equal installments) or level principal (equal principal).

    ``interest_start`` (period basis, a prepayment inside the first period): the first row charges
    interest from that date only, while its principal is the level installment less a whole
    period's interest, as in :func:`tail_interest`'s use by the engine.
    """
    places = t.rounding_places
    q = Decimal(1).scaleb(-places)
    zero = Decimal(0).quantize(q)
    fee = sum((f.amount for f in fee_each(t)), zero).quantize(q)
    annuity = t.method == "equal_installment"
    dues = due_grid(t, first_due, max_count, anchor_day)
    rows = []
    bal = principal
    prev = start
    last = max_count - 1
    for i, due in enumerate(dues):
        if i < interest_free:
            interest = split = zero
        else:
            rate = period_rate(t, prev, due, i == 0)
            interest = split = round_fraction(Fraction(bal) * rate, places, t.rounding_mode)
            if i == 0 and interest_start is not None:
                interest = tail_interest(t, bal, interest_start, due)
        if i == last:
            prin = bal
        elif i < grace_principal:
            prin = zero
        else:
            prin = level - split if annuity else level
            if prin < zero:
                prin = zero
            elif prin > bal:
                prin = bal
        bal -= prin
        rows.append(Installment(i + 1, prev, due, (due - prev).days, prin, interest, fee, prin + interest + fee, bal))
        prev = due
        if not bal:
            break
    return rows


def tail_interest(t: ScheduleTerms, principal: Decimal, start: date, due: date) -> Decimal:
    """Interest on ``principal`` from ``start`` to ``due`` (the rest of a period), rounded once."""
    return round_fraction(Fraction(principal) * period_rate(t, start, due, True), t.rounding_places, t.rounding_mode)
