"""IRR and XIRR in Decimal (never float), for the APR of a schedule.

Both solve ``sum(cf_k * (1 + r) ** -t_k) = amount`` for ``r``: the money lent (net of upfront
fees) against what the borrower pays back.  ``irr`` takes whole period numbers ``t_k`` and gives
the rate per period; ``xirr`` takes times in years (days / 365) and gives the effective annual
rate, exactly as a spreadsheet's XIRR does.

The solver works on ``v = ln(1 + r)``: the present value ``sum(cf_k * exp(-t_k * v))`` of a
loan's payments (all >= 0) is then a decreasing *convex* function of ``v``, its root is bracketed
by ``ln(total / amount) / t`` for the first and the last payment, and Newton's method started at
the bracket's left end never overshoots, closing in monotonically and quadratically however large
the rate (a 4-day loan with a 40 % fee has an effective rate of about 10^13, ``v`` of about 31).
A bisection step stands in whenever Newton would be slow, so it always converges.  It runs at 50 significant digits and stops
when a step moves ``v`` by less than 1e-30, far beyond the 10 significant digits promised; the
caller rounds (APR figures are reported to 4 decimal places of a percent).
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

_CTX = decimal.Context(prec=50, rounding=decimal.ROUND_HALF_EVEN,
                       traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])
_ZERO = Decimal(0)
_ONE = Decimal(1)
_TOL = Decimal("1e-30")
_MAX_STEPS = 500
_MARGIN = Decimal("1e-20")


class APRError(ValueError):
    """The cash flows have no rate (nothing is paid back, or nothing is lent)."""


def _solve(amount: Decimal, flows: Sequence[tuple[Decimal, int]], scale: int) -> Decimal:
    """Solve ``sum(cf * (1 + r) ** -(k / scale)) = amount``: ``k`` whole periods or days, ``scale``
    1 (a rate per period) or 365 (a rate per year of 365 days)."""
    if amount <= 0:
        raise APRError("the amount lent must be positive")
    flows = [(cf, k) for cf, k in flows if cf != 0]
    if not flows:
        raise APRError("nothing is paid back")
    if any(cf < 0 for cf, _ in flows) or any(k <= 0 for _, k in flows):
        raise APRError("payments back must be positive and after the start")
    with decimal.localcontext(_CTX):
        total = sum((cf for cf, _ in flows), _ZERO)
        if total == amount:
            return _ZERO
        # With v = ln(1 + r) per unit of time, the root lies between ln(total / amount) / t for
        # the earliest and for the latest payment.
        log_ratio = (total / amount).ln() * scale
        ends = (log_ratio / min(k for _, k in flows), log_ratio / max(k for _, k in flows))
        lo, hi = min(ends) - _MARGIN, max(ends) + _MARGIN
        dscale = Decimal(scale)

        def npv_and_slope(v: Decimal) -> tuple[Decimal, Decimal]:
            w = (-v / dscale).exp()      # discount factor for one period (or one day)
            npv = -amount
            slope = _ZERO
            for cf, k in flows:
                disc = cf * w ** k
                npv += disc
                slope -= k * disc
            return npv, slope / dscale

        # Newton from the left end (never overshoots on a convex decreasing curve), with a
        # bisection step whenever Newton would leave the bracket or stops halving the error.
        v = lo
        step_before = hi - lo
        for _ in range(_MAX_STEPS):
            npv, slope = npv_and_slope(v)
            if npv == 0:
                break
            if npv > 0:
                lo = v
            else:
                hi = v
            newton = v - npv / slope
            if lo < newton < hi and abs(npv / slope) * 2 <= abs(step_before):
                step = v - newton
                v = newton
            else:
                step = (hi - lo) / 2
                v = lo + step
            step_before = step
            if abs(step) < _TOL:
                break
        else:
            raise APRError("the rate did not converge")
        return v.exp() - _ONE


def irr(amount: Decimal, payments: Sequence[Decimal], times: Sequence[int] | None = None) -> Decimal:
    """Rate per period at which ``payments`` (at period ``times``, default 1, 2, …) repay ``amount``."""
    ts = times if times is not None else range(1, len(payments) + 1)
    return _solve(amount, list(zip(payments, ts)), 1)


def xirr(amount: Decimal, start: date, payments: Sequence[tuple[date, Decimal]]) -> Decimal:
    """Effective annual rate: ``amount`` lent on ``start`` against dated payments (days / 365)."""
    return _solve(amount, [(cf, (d - start).days) for d, cf in payments], 365)
