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

:func:`rounded` is the fast way to a rounded figure (the APR): Newton on the present value as a
polynomial in the discount factor, at 34 digits and with multiplications only, then a proof (two
signs) that the root lies strictly between two rates that both round to the same figure; only when
that proof fails (the root within about 1e-22 of a rounding boundary) does the solver above run.
The figure is always the one that rounding this solver's rate gives.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Sequence
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


def _checked(amount: Decimal, flows: Sequence[tuple[Decimal, int]]) -> list[tuple[Decimal, int]]:
    if amount <= 0:
        raise APRError("the amount lent must be positive")
    flows = [(cf, k) for cf, k in flows if cf != 0]
    if not flows:
        raise APRError("nothing is paid back")
    if any(cf < 0 for cf, _ in flows) or any(k <= 0 for _, k in flows):
        raise APRError("payments back must be positive and after the start")
    return flows


def _solve(amount: Decimal, flows: Sequence[tuple[Decimal, int]], scale: int) -> Decimal:
    """Solve ``sum(cf * (1 + r) ** -(k / scale)) = amount``: ``k`` whole periods or days, ``scale``
    1 (a rate per period) or 365 (a rate per year of 365 days)."""
    flows = _checked(amount, flows)
    return _solve_checked(amount, flows, scale)


def _solve_checked(amount: Decimal, flows: list[tuple[Decimal, int]], scale: int) -> Decimal:
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


_FAST = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN,
                        traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])
_FAST_STEPS = 40
_FAST_TOL = Decimal("1e-16")      # Newton stops after a step below this (relative): quadratic, so w is then
#                                   good to about 1e-32, which the proof below checks
_FAST_DELTA = Decimal("1e-22")    # the proof's points: w (1 -/+ this)
_FAST_MARGIN = Decimal("1e-26")   # of the total paid back: far above the proof's rounding errors


def _poly(amount: Decimal, flows: list[tuple[Decimal, int]], w: Decimal) -> tuple[Decimal, Decimal]:
    """``p(w) = sum(cf * w ** k) - amount`` and ``w * p'(w)`` (``flows`` sorted by ``k``)."""
    p = -amount
    dp = _ZERO
    k0, disc = 0, _ONE
    powers: dict[int, Decimal] = {}
    for cf, k in flows:
        if k != k0:
            gap = k - k0
            if gap == 1:
                disc *= w
            else:
                wg = powers.get(gap)
                if wg is None:
                    wg = powers[gap] = w ** gap
                disc *= wg
            k0 = k
        term = cf * disc
        p += term
        dp += k * term
    return p, dp


def _fast_bracket(amount: Decimal, flows: list[tuple[Decimal, int]],
                  scale: int) -> tuple[Decimal, Decimal] | None:
    """Two rates that strictly bracket the root, a hair apart, or None (then solve the slow way).

    In ``w = (1 + r) ** (-1 / scale)`` (the discount factor of one period or one day) the present
    value less the amount is the polynomial ``p(w) = sum(cf * w ** k) - amount``: increasing and
    convex for ``w > 0`` (every ``cf >= 0``, every ``k >= 1``), so Newton's method from ``w = 1``
    closes in quadratically, with multiplications only (no logarithm, no exponential).  The
    signs of ``p`` at ``w (1 -/+ 1e-22)``, each beyond a margin far wider than their rounding
    errors, then prove that the root lies between those two points."""
    with decimal.localcontext(_FAST):
        fs = sorted(flows, key=lambda f: f[1])
        w = _ONE
        for _ in range(_FAST_STEPS):
            p, dp = _poly(amount, fs, w)
            if dp <= 0:
                return None
            step = p * w / dp
            w -= step
            if w <= 0:
                return None
            if abs(step) <= w * _FAST_TOL:
                break
        else:
            return None
        margin = sum((cf for cf, _ in fs), _ZERO) * _FAST_MARGIN
        w_lo, w_hi = w * (_ONE - _FAST_DELTA), w * (_ONE + _FAST_DELTA)
        if not (_poly(amount, fs, w_lo)[0] < -margin and _poly(amount, fs, w_hi)[0] > margin):
            return None
        # the rate falls as w rises: (1 + r) = w ** -scale
        return w_hi ** -scale - _ONE, w_lo ** -scale - _ONE


def rounded(amount: Decimal, flows: Sequence[tuple[Decimal, int]], scale: int,
            finish: Callable[[Decimal], Decimal]) -> Decimal:
    """``finish(rate)`` for the rate that :func:`irr` (``scale`` 1, ``k`` periods) or :func:`xirr`
    (``scale`` 365, ``k`` days) solves, ``finish`` a monotone (non-decreasing) rounding: the
    figure the slow solver's rate gives, without running it when the root's bracket from
    :func:`_fast_bracket` rounds the same at both ends (``finish`` is monotone, so every rate in
    between, the slow solver's included, gives that figure)."""
    flows = _checked(amount, flows)
    with decimal.localcontext(_CTX):
        total = sum((cf for cf, _ in flows), _ZERO)
    if total == amount:
        return finish(_ZERO)
    try:
        bracket = _fast_bracket(amount, flows, scale)
    except decimal.DecimalException:
        bracket = None
    if bracket is not None:
        figure = finish(bracket[0])
        if finish(bracket[1]) == figure:
            return figure
    return finish(_solve_checked(amount, flows, scale))


def irr(amount: Decimal, payments: Sequence[Decimal], times: Sequence[int] | None = None) -> Decimal:
    """Rate per period at which ``payments`` (at period ``times``, default 1, 2, …) repay ``amount``."""
    ts = times if times is not None else range(1, len(payments) + 1)
    return _solve(amount, list(zip(payments, ts)), 1)


def xirr(amount: Decimal, start: date, payments: Sequence[tuple[date, Decimal]]) -> Decimal:
    """Effective annual rate: ``amount`` lent on ``start`` against dated payments (days / 365)."""
    return _solve(amount, [(cf, (d - start).days) for d, cf in payments], 365)
