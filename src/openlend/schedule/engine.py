"""The repayment-schedule engine: terms in, installments out.  Pure (stdlib and openlend.money only).

Methods
    ``equal_installment`` (等额本息, annuity, Fineract declining balance + equal installments),
    ``equal_principal`` (等额本金, declining balance + equal principal), ``flat`` (等本等息, Fineract
    flat + equal installments: interest on the original principal every period),
    ``interest_only`` (先息后本: interest every period, all principal with the last installment) and
    ``bullet`` (到期一次还本付息: ONE installment, due ``term`` periods after disbursement, with the
    principal and all the interest; simple interest, never compounded).  The bullet's ``term``
    periods are laid out as for any schedule (so a ``first_due_date`` moves them) and its one
    installment falls on the last due date with the interest of all of them.

    Flat interest is the principal times the sum of the periods' rates (on the daily basis: the
    annual rate times the whole term's length under the day count), rounded once, then spread
    equally over the installments that collect interest; the last one takes the rounding residue.

Interest basis
    ``period`` is Fineract's "same as repayment period": the rate of a period is the annual rate
    over 12 (months), 52 (weeks) or the day count's year (days: 360, 364 or 365; 365 for ACT/ACT),
    times ``every``, whatever the calendar days.  ``daily`` charges each period its own length in
    years under the day count (see :mod:`openlend.schedule.dates`).

    The annuity follows the same split.  With the period basis the installment is the plain
    annuity (PMT) at the regular periodic rate over the periods that repay principal, as
    Fineract's cumulative schedule does; an odd first period, interest-free periods and deferred
    interest then change the last installment only.  With the daily basis the installment uses
    every period's own rate factor, ``P / sum_k prod_{i<=k} 1/(1+r_i)`` (Fineract's progressive
    schedule), so the installments stay level even when months differ in length.

Odd first period (``first_due_date`` away from one period after disbursement)
    The days column always shows the actual days.  Interest runs from the disbursement date: with
    the daily basis that is simply the period's actual length under the day count; with the
    period basis the regular periodic rate is pro-rated by the period's length in units (whole
    months or weeks counted back from the first due date, plus the odd days as a fraction of the
    unit they fall in).  That is Fineract with "interest charged from the disbursement date" and
    "allow partial period interest calculation".  Fineract's *default* instead charges the first
    period exactly one regular period of interest, measured from an "ideal disbursement date" one
    period before the first due date, so a borrower pays for days before they had the money or
    gets days for free; openlend does not copy that.

Rounding
    Interest of each period and the equal principal are rounded to ``rounding_places`` with
    ``rounding_mode`` (default half-even, as Fineract).  The interest rounded is the exact one,
    balance x the period's rate as an exact fraction (5 %/12 is 1/240, not 0.004166...7), so an
    exact half-cent tie such as 0.085 goes half-even to 0.08 (see ``_Plan`` for how the rows get
    that at the cost of one multiplication).  The level installment (annuity) is rounded
    to ``installment_multiple`` with ``installment_rounding`` when a multiple is given, else to the
    places with ``rounding_mode``.  For ``flat`` the multiple is applied as Fineract does: the
    period's principal and its interest are each rounded to the multiple and the principal absorbs
    the interest's difference (principal 416.67 and interest 12.50 at multiple 20 give 420 + 20, so
    the principal is 427.50 and the installment 440).  ``equal_principal``, ``interest_only`` and
    ``bullet`` have no level installment, so the multiple does not change them (Fineract ignores
    ``installmentAmountInMultiplesOf`` for equal principal too; it is a product-wide setting).
    If rounding to the multiple would leave the installment at or below one period's interest on
    the whole principal (a multiple that is coarse for the loan), it is rounded up instead, so the
    loan still amortises.  The last installment takes whatever principal is left; if rounding up pays the principal off
    early, the schedule ends there (Fineract stops when the balance reaches zero), and a balance
    never goes below zero.  With the daily basis, when rounding the interest leaves the last
    installment more than half a cent per period away from the others, the installment is moved
    once by (difference / periods) and the move kept if the last installment lands closer: that is
    Fineract's progressive schedule (``ProgressiveEMICalculator``), and it keeps level payments
    level.  Every amount in the rows carries exactly ``rounding_places`` decimals.

Grace (Fineract's three kinds, counted from the first period)
    ``grace_principal_periods``: no principal is due; interest is paid.  The annuity or the equal
    principal is spread over the remaining periods.
    ``grace_interest_periods``: grace on interest *payment*.  Interest still accrues on the
    balance but nothing is collected in those periods; the deferred interest is collected with the
    first period after the grace (Fineract's ``interestBroughtForwardDueToGrace``).  It is deferred,
    not capitalised: it bears no interest and the balance does not grow, which is what Fineract
    does and what a borrower is told ("you pay the interest later"), whereas capitalising would
    quietly compound.  Principal keeps being repaid in those periods (installment minus the
    period's interest) unless principal grace also applies.  For ``flat`` loans Fineract instead
    spreads the whole flat interest over the periods that do collect interest; openlend does too.
    ``interest_free_periods``: no interest accrues at all in those periods (Fineract's "interest
    free period", ``graceOnInterestCharged``); it may cover the whole term (a 0 % promotion).
    ``interest_only`` and ``bullet`` repay principal at the end anyway, so principal grace changes
    nothing for them; a bullet collects all its interest at the end, so interest-payment grace
    changes nothing either.  Each grace count must be smaller than ``term``.

Fees
    ``upfront`` fees are deducted from the amount paid out (net disbursed = principal - upfront
    fees) and appear in no installment; ``each_installment`` fees are added to every installment's
    ``fees`` column.  ``total_fees`` counts both, and ``total`` is everything the borrower pays:
    ``total_principal + total_interest + total_fees``.  So ``total_principal``, ``total_interest``
    are the sums of the rows, while ``total_fees`` and ``total`` are the sums of the rows plus the
    upfront fees (``upfront_fees``).

APR (computed only when :meth:`Schedule.apr` is called)
    The IRR of the real cash flows: the net disbursed out, the installments' totals back.
    ``nominal`` is the periodic IRR (installment *k* at period *k*) times the periods in a year
    (12/every, 52/every, or the day count's year / every); ``effective`` is the XIRR on the actual
    dates, ``(1 + r) ** (365 / days)``.  Both are percent, solved in Decimal to far more than 10
    significant digits and rounded half-even to 4 decimal places.
"""

from __future__ import annotations

import calendar
import decimal
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

from openlend.money import MONEY_CONTEXT, MoneyError, RoundingMode, round_to_multiple

from . import apr as _apr
from .dates import DAY_COUNTS, UNITS, YEAR_DAYS, add_months, periods, units_per_year, year_fraction

METHODS = ("equal_installment", "equal_principal", "flat", "interest_only", "bullet")
BASES = ("period", "daily")
FEE_WHEN = ("upfront", "each_installment")
ROUNDING_MODES = tuple(m.value for m in RoundingMode)
MAX_TERM = 1200        # periods; 100 years of months, more than 3 years of days
MAX_EVERY = 366
MAX_PLACES = 9
MAX_ANNUAL_RATE = Decimal(1000)  # percent; a typo guard, not a legal cap

_ZERO = Decimal(0)
_ONE = Decimal(1)
_HUNDRED = Decimal(100)
_QUANTS = tuple(Decimal(1).scaleb(-p) for p in range(MAX_PLACES + 1))
_DEC_MODE = {m.value: m.decimal_mode for m in RoundingMode}


class ScheduleInputError(MoneyError):
    """Terms that cannot make a schedule.  ``field`` is the JSON field (``"term"``, ``"fees[0].amount"``).

    A :class:`~openlend.money.MoneyError` (hence a ``ValueError``), so the web layer's handling of
    bad amounts covers it.
    """

    def __init__(self, field: str, message: str):
        super().__init__(message, field)
        self.message = message

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True, slots=True)
class Frequency:
    unit: str = "month"   # month | week | day
    every: int = 1


@dataclass(frozen=True, slots=True)
class Fee:
    name: str
    amount: Decimal
    when: str = "upfront"  # upfront | each_installment


def _check_int(value, field: str, low: int, high: int) -> int:
    if type(value) is not int:   # bool is an int subclass: refused too
        raise ScheduleInputError(field, "must be a whole number")
    if not low <= value <= high:
        raise ScheduleInputError(field, f"must be between {low} and {high}")
    return value


def _check_decimal(value, field: str) -> Decimal:
    if type(value) is not Decimal:
        if type(value) is not int:   # never a float (or a bool, or a string)
            raise ScheduleInputError(field, "must be a Decimal (never a float)")
        value = Decimal(value)
    if not value.is_finite():
        raise ScheduleInputError(field, "must be a finite number")
    return value


def _check_choice(value, field: str, choices) -> str:
    if type(value) is not str or value not in choices:
        raise ScheduleInputError(field, "must be one of " + ", ".join(choices))
    return value


def _check_places(value: Decimal, field: str, places: int) -> None:
    if value != value.quantize(_QUANTS[places]):
        raise ScheduleInputError(field, f"has more than {places} decimal places")


_MONTHLY = Frequency()
_UNITS = frozenset(UNITS)
_METHODS = frozenset(METHODS)
_BASES = frozenset(BASES)
_DAY_COUNTS = frozenset(DAY_COUNTS)
_MODES = frozenset(ROUNDING_MODES)


@dataclass(frozen=True, slots=True, init=False)
class ScheduleTerms:
    """What a schedule is made from (keyword arguments only).

    Validated on construction, so a ``ScheduleTerms`` that exists can always be generated; an
    ``int`` amount is turned into a ``Decimal``, a list of fees into a tuple, and ``day_count``
    None into the basis's default (``30/360`` for the period basis, ``ACT/365`` for daily).
    The ``__init__`` is written out rather than generated because a frozen dataclass's own
    ``__init__`` plus a ``__post_init__`` cost more than the schedule loop's budget allows.
    """

    principal: Decimal
    annual_rate: Decimal            # percent per year
    method: str                     # see METHODS
    term: int                       # number of periods (installments, except for bullet)
    disbursement_date: date
    frequency: Frequency
    first_due_date: date | None     # None: one period after disbursement
    interest_basis: str             # period | daily
    day_count: str                  # see dates.DAY_COUNTS
    rounding_places: int
    rounding_mode: str
    installment_multiple: Decimal | None
    installment_rounding: str
    grace_principal_periods: int
    grace_interest_periods: int
    interest_free_periods: int
    fees: tuple[Fee, ...]

    def __init__(self, *, principal: Decimal, annual_rate: Decimal, method: str, term: int,
                 disbursement_date: date, frequency: Frequency = _MONTHLY, first_due_date: date | None = None,
                 interest_basis: str = "period", day_count: str | None = None, rounding_places: int = 2,
                 rounding_mode: str = "half_even", installment_multiple: Decimal | None = None,
                 installment_rounding: str = "half_even", grace_principal_periods: int = 0,
                 grace_interest_periods: int = 0, interest_free_periods: int = 0,
                 fees: tuple[Fee, ...] | list[Fee] = ()) -> None:
        put = object.__setattr__
        places = rounding_places
        if type(places) is not int or not 0 <= places <= MAX_PLACES:
            _check_int(places, "rounding.places", 0, MAX_PLACES)
        principal = _check_decimal(principal, "principal")
        if principal <= _ZERO:
            raise ScheduleInputError("principal", "must be greater than zero")
        _check_places(principal, "principal", places)
        annual_rate = _check_decimal(annual_rate, "annual_rate")
        if not _ZERO <= annual_rate <= MAX_ANNUAL_RATE:
            raise ScheduleInputError("annual_rate", f"must be between 0 and {MAX_ANNUAL_RATE} (percent per year)")
        if type(method) is not str or method not in _METHODS:
            _check_choice(method, "method", METHODS)
        n = term
        if type(n) is not int or not 1 <= n <= MAX_TERM:
            _check_int(n, "term", 1, MAX_TERM)
        if frequency is not _MONTHLY:
            if type(frequency) is not Frequency:
                raise ScheduleInputError("frequency", "must be a Frequency")
            _check_choice(frequency.unit, "frequency.unit", _UNITS)
            _check_int(frequency.every, "frequency.every", 1, MAX_EVERY)
        if type(disbursement_date) is not date:   # a datetime is refused: schedules are in dates
            raise ScheduleInputError("disbursement_date", "must be a date")
        if first_due_date is not None:
            if type(first_due_date) is not date:
                raise ScheduleInputError("first_due_date", "must be a date")
            if first_due_date <= disbursement_date:
                raise ScheduleInputError("first_due_date", "must be after the disbursement date")
        if type(interest_basis) is not str or interest_basis not in _BASES:
            _check_choice(interest_basis, "interest_basis", BASES)
        if day_count is None:
            day_count = "30/360" if interest_basis == "period" else "ACT/365"
        else:
            _check_choice(day_count, "day_count", _DAY_COUNTS)
        if type(rounding_mode) is not str or rounding_mode not in _MODES:
            _check_choice(rounding_mode, "rounding.mode", ROUNDING_MODES)
        if type(installment_rounding) is not str or installment_rounding not in _MODES:
            _check_choice(installment_rounding, "installment_rounding", ROUNDING_MODES)
        if installment_multiple is not None:
            installment_multiple = _check_decimal(installment_multiple, "installment_multiple")
            if installment_multiple <= _ZERO:
                raise ScheduleInputError("installment_multiple", "must be greater than zero")
            _check_places(installment_multiple, "installment_multiple", places)
        if grace_principal_periods or grace_interest_periods or interest_free_periods:
            _check_int(grace_principal_periods, "grace_principal_periods", 0, n - 1)
            _check_int(grace_interest_periods, "grace_interest_periods", 0, n - 1)
            _check_int(interest_free_periods, "interest_free_periods", 0, n)
        elif type(grace_principal_periods) is not int:   # 0.0, False, "0": refused all the same
            _check_int(grace_principal_periods, "grace_principal_periods", 0, n - 1)
        elif type(grace_interest_periods) is not int:
            _check_int(grace_interest_periods, "grace_interest_periods", 0, n - 1)
        elif type(interest_free_periods) is not int:
            _check_int(interest_free_periods, "interest_free_periods", 0, n)
        if type(fees) is not tuple:
            if not isinstance(fees, (list, tuple)):
                raise ScheduleInputError("fees", "must be a list of Fee")
            fees = tuple(fees)
        if fees:
            fees = _check_fees(fees, principal, places)
        put(self, "principal", principal)
        put(self, "annual_rate", annual_rate)
        put(self, "method", method)
        put(self, "term", n)
        put(self, "disbursement_date", disbursement_date)
        put(self, "frequency", frequency)
        put(self, "first_due_date", first_due_date)
        put(self, "interest_basis", interest_basis)
        put(self, "day_count", day_count)
        put(self, "rounding_places", places)
        put(self, "rounding_mode", rounding_mode)
        put(self, "installment_multiple", installment_multiple)
        put(self, "installment_rounding", installment_rounding)
        put(self, "grace_principal_periods", grace_principal_periods)
        put(self, "grace_interest_periods", grace_interest_periods)
        put(self, "interest_free_periods", interest_free_periods)
        put(self, "fees", fees)


def _check_fees(fees: tuple, principal: Decimal, places: int) -> tuple[Fee, ...]:
    upfront = _ZERO
    normalised = []
    for i, fee in enumerate(fees):
        if type(fee) is not Fee:
            raise ScheduleInputError(f"fees[{i}]", "must be a Fee")
        if type(fee.name) is not str or not fee.name.strip():
            raise ScheduleInputError(f"fees[{i}].name", "must be a non-empty string")
        amount = _check_decimal(fee.amount, f"fees[{i}].amount")
        if amount < _ZERO:
            raise ScheduleInputError(f"fees[{i}].amount", "must not be negative")
        _check_places(amount, f"fees[{i}].amount", places)
        _check_choice(fee.when, f"fees[{i}].when", FEE_WHEN)
        if fee.when == "upfront":
            upfront += amount
        normalised.append(fee if amount is fee.amount else Fee(fee.name, amount, fee.when))
    if upfront >= principal:
        raise ScheduleInputError("fees", "upfront fees must be less than the principal")
    return tuple(normalised)


class Installment(NamedTuple):
    number: int
    from_date: date
    due_date: date
    days: int
    principal: Decimal
    interest: Decimal
    fees: Decimal
    total: Decimal
    outstanding: Decimal   # principal outstanding after this installment


class APR(NamedTuple):
    nominal: Decimal     # percent: periodic IRR x periods per year
    effective: Decimal   # percent: XIRR on the actual dates


class Schedule:
    """The installments and their totals; :meth:`apr` is worked out on first call."""

    __slots__ = ("terms", "installments", "total_principal", "total_interest", "total_fees", "total",
                 "upfront_fees", "net_disbursed", "_apr")

    def __init__(self, terms: ScheduleTerms, installments: list[Installment], total_principal: Decimal,
                 total_interest: Decimal, total_fees: Decimal, upfront_fees: Decimal):
        self.terms = terms
        self.installments = installments
        self.total_principal = total_principal
        self.total_interest = total_interest
        self.total_fees = total_fees
        self.total = total_principal + total_interest + total_fees
        self.upfront_fees = upfront_fees
        self.net_disbursed = terms.principal - upfront_fees
        self._apr: APR | None = None

    def __repr__(self) -> str:
        return (f"Schedule({len(self.installments)} installments, principal {self.total_principal}, "
                f"interest {self.total_interest}, fees {self.total_fees}, total {self.total})")

    def apr(self) -> APR:
        """APR of the real cash flows (see the module docstring); cached after the first call."""
        if self._apr is None:
            self._apr = _compute_apr(self)
        return self._apr


# --- cached per-terms pieces --------------------------------------------------------------------

class _Plan:
    """What a schedule's dates and rate decide, shared by every schedule with the same ones.

    ``rows`` holds ``(number, from_date, due_date, days)`` per period.  Each period's interest
    rate (a fraction; zero in interest-free periods) is kept three ways:

    ``exact``: the rate itself, a ``(numerator, denominator)`` pair of integers (``groups``: each
    distinct pair with its count).

    ``wide``, the rate rounded to 38 significant digits, for the rows:
    ``(balance * wide[i]).quantize(quantum, mode)`` under MONEY_CONTEXT is the EXACT interest
    ``balance * exact[i]`` rounded with ``mode``, ties included, whenever the schedule fits
    (``principal.scaleb(places) <= room``, checked once per schedule).  Why: write the rate as
    num / den, num a terminating decimal with ``s`` places and den an integer prime to 10
    (:func:`_rate_coefficient`), the balance with ``p`` places, and let
    c = coefficient(balance) * coefficient(num), below 10**32 when the schedule fits.  The exact
    V = balance * rate = c / den * 10**-(p+s); x = balance * wide is within V * 10**-37 / 2 of it,
    and Decimal multiplies exactly and rounds x to 34 digits, x34, within x * 10**-33 / 2 of x.
    (1) When V is a multiple of half a unit in the ``p``-th place (a half-cent tie, or a whole
        cent, where the directed modes turn), den divides c, so V has at most 32 digits: a
        34-digit number, at most a hundredth of half a 34-digit step from x, so x34 == V.
    (2) Otherwise V is at least 10**-(p+s) / (2 den) from every such point, while
        |x34 - V| <= V * 10**-33 / 2 * (1 + 2 * 10**-4)
                   = c * 10**-33 * (1 + 2 * 10**-4) * 10**-(p+s) / (2 den),
        less than that: x34 lies strictly on V's side of every point where a rounding mode turns.
    Either way ``quantize`` rounds x34 as it would round V.  (The rate to 34 digits is not enough:
    annual / 1200 then misses by up to half a unit in its 34th digit, which moves an exact tie
    such as 0.085 a hair up or down, and half-even follows the hair.)  38 digits are two 64-bit
    words of the decimal library, as 34 are, so the multiply costs the same.  Schedules that do not fit
    (principals or rate digits beyond any lender's) take :func:`_interest_exact`, in integers.

    ``rates``, the rates to 34 digits, are only for the annuity divisor (the installment is one
    rounding of an irrational figure, not a per-row amount).  ``uniform`` is the one ``wide``
    rate when every period has the same (the usual case: the loop then skips indexing).
    """

    __slots__ = ("rows", "rates", "exact", "wide", "groups", "room", "uniform", "basis", "regular", "_divisors")

    def __init__(self, rows, rates, exact, distinct, basis, regular):
        """``distinct``: the pairs that ``exact`` holds, each once (periods with the same rate share
        one pair object, grouped by identity: a plan is built on every miss of the cache, so it
        does a few calls per rate, not per period)."""
        self.rows = rows
        self.rates = rates
        self.exact = exact
        n = len(exact)
        if len(distinct) == 1:              # the usual case: one rate throughout
            r = distinct[0]
            w, self.room = _wide_rate(*r)
            self.wide = (w,) * n
            self.groups = ((r, n),)
        else:
            ids = list(map(id, exact))
            wide = {id(r): _wide_rate(*r) for r in distinct}
            self.wide = tuple([wide[i][0] for i in ids])
            self.groups = tuple((r, c) for r in distinct if (c := ids.count(id(r))))
            w = self.wide[0] if len(set(self.wide)) == 1 else None
            self.room = min(wide[id(r)][1] for r, _ in self.groups)
        self.uniform = w
        self.basis = basis
        self.regular = regular
        self._divisors: dict[int, Decimal] = {}

    def total(self) -> tuple[int, int]:
        """The sum of the periods' exact rates (flat and bullet interest: the principal times this)."""
        f = sum((Fraction(num * c, den) for (num, den), c in self.groups), Fraction(0))
        return f.numerator, f.denominator

    def annuity_divisor(self, start: int) -> Decimal:
        """Present value of 1 a period over periods ``start``..n-1: the installment is principal / this.

        Period basis: the plain annuity at the regular rate (Fineract's cumulative PMT).  Daily
        basis: ``sum_k prod_{start<=i<=k} 1/(1+r_i)`` over the periods' own rates.
        """
        d = self._divisors.get(start)
        if d is None:
            with decimal.localcontext(MONEY_CONTEXT):
                m = len(self.rates) - start
                if self.basis == "period":
                    r = self.regular
                    d = Decimal(m) if r == 0 else (_ONE - (_ONE + r) ** -m) / r
                else:
                    d = _ZERO
                    disc = _ONE
                    for i in range(start, len(self.rates)):
                        disc = disc / (_ONE + self.rates[i])
                        d += disc
            self._divisors[start] = d
        return d


_NO_RATE = (0, 1)
_INFINITY = Decimal("Infinity")
_WIDE = decimal.Context(prec=38, rounding=decimal.ROUND_HALF_EVEN)
_FITS = 10 ** 32   # coefficient(balance) * coefficient(rate's num) below this: ``wide`` is exact


@lru_cache(maxsize=1024)
def _wide_rate(numerator: int, denominator: int) -> tuple[Decimal, Decimal]:
    """The rate ``numerator / denominator`` to 38 digits, and the room it leaves: a schedule
    fits when the coefficient of its principal (every balance stays under the principal, with
    its places) is at most the room (rate 0: any principal fits)."""
    coef = _rate_coefficient(numerator, denominator)
    return _WIDE.divide(numerator, denominator), Decimal((_FITS - 1) // coef) if coef else _INFINITY


def _rate_coefficient(numerator: int, den: int) -> int:
    """The coefficient of num when the rate numerator / den is num / den', num a terminating
    decimal and den' an integer prime to 10."""
    twos = (den & -den).bit_length() - 1
    den >>= twos
    fives = 0
    while not den % 5:
        den //= 5
        fives += 1
    m = max(twos, fives)
    return numerator * 2 ** (m - twos) * 5 ** (m - fives)


_HALF_MODES = {decimal.ROUND_HALF_EVEN, decimal.ROUND_HALF_UP, decimal.ROUND_HALF_DOWN}


def _round_ratio(n: int, d: int, places: int, rm: str) -> Decimal:
    """``n / d`` (n >= 0, d > 0) rounded to ``places`` with decimal rounding mode ``rm``, exactly."""
    q, r = divmod(n * 10 ** places, d)
    if r:
        if rm in _HALF_MODES:
            c = 2 * r - d
            if c > 0 or (c == 0 and (rm == decimal.ROUND_HALF_UP or (rm == decimal.ROUND_HALF_EVEN and q & 1))):
                q += 1
        elif rm in (decimal.ROUND_UP, decimal.ROUND_CEILING):   # positive: ceiling is up
            q += 1
    return Decimal(f"{q}E-{places}")


def _interest_exact(amount: Decimal, rate: tuple[int, int], places: int, rm: str) -> Decimal:
    """``amount`` times the rate (numerator, denominator) rounded to ``places`` with ``rm``, in
    integers (exact for any size)."""
    a, b = amount.as_integer_ratio()
    return _round_ratio(a * rate[0], b * rate[1], places, rm)


def _month_days(p) -> int:
    """Days of the month that the odd days of a first monthly period fall in (the stub's unit)."""
    grid_start = add_months(p.due_date, -p.whole)
    return (grid_start - add_months(p.due_date, -(p.whole + 1))).days


def _act_act_years(start: date, end: date) -> tuple[int, int]:
    """ISDA ACT/ACT (as :mod:`~openlend.schedule.dates`) exactly: the period's length in years as
    (numerator, denominator), the days in each calendar year over that year's days."""
    num, den = 0, 1
    while start < end:
        year_end = date(start.year + 1, 1, 1)
        stop = end if end < year_end else year_end
        year = 366 if calendar.isleap(start.year) else 365
        num, den = num * year + (stop - start).days * den, den * year
        start = stop
    return num, den


@lru_cache(maxsize=4096)
def _plan(disb: date, first: date | None, unit: str, every: int, n: int, annual_rate: Decimal,
          basis: str, day_count: str, free: int) -> _Plan:
    with decimal.localcontext(MONEY_CONTEXT):
        ps = periods(disb, first, unit, every, n)
        per_year = units_per_year(unit, day_count)
        unit_rate = annual_rate / (_HUNDRED * per_year)
        regular = unit_rate * every
        a, b = annual_rate.as_integer_ratio()
        b *= 100                   # the annual rate as a fraction: a / b
        rates = []
        exact = []                 # periods with the same rate share one pair
        distinct = [_NO_RATE] if free else []
        if basis == "period":
            b *= per_year          # the rate of one unit: a / b
            regular_exact = (a * every, b)
            distinct.append(regular_exact)
            exact = [regular_exact] * n
            for p in ps:
                rates.append(regular if (p.whole == every and not p.stub) else unit_rate * (p.whole + p.stub))
            p = ps[0]              # only the first period can be odd (see dates.periods)
            if not (p.whole == every and not p.stub):
                stub_unit = 7 if unit == "week" else _month_days(p) if p.stub else 1
                exact[0] = (a * (p.whole * stub_unit + p.stub_days), b * stub_unit)
                distinct.append(exact[0])
        else:
            # the period's length in years, exactly (as dates.year_fraction): days / year, where
            # the days of ACT/ACT are split by calendar year and 30/360 counts a month as 30 days;
            # periods of the same length share both rates
            yearly = annual_rate / _HUNDRED
            act_act = day_count == "ACT/ACT"
            thirty = day_count == "30/360" and unit == "month"
            year = YEAR_DAYS[day_count]
            seen: dict = {}
            for p in ps:
                if act_act:
                    start, end = p.from_date, p.due_date
                    key = (p.days, calendar.isleap(start.year)) if start.year == end.year else (start, end)
                else:
                    key = 30 * p.whole + p.stub_days if thirty else p.days
                both = seen.get(key)
                if both is None:
                    if act_act:
                        num, den = _act_act_years(p.from_date, p.due_date)
                        r = (a * num, b * den)
                    else:
                        r = (a * key, b * year)
                    both = seen[key] = (yearly * year_fraction(day_count, p, unit), r)
                    distinct.append(r)
                rates.append(both[0])
                exact.append(both[1])
        for i in range(min(free, n)):
            rates[i] = _ZERO
            exact[i] = _NO_RATE
        rows = tuple([(i, p[0], p[1], p[2]) for i, p in enumerate(ps, 1)])
        return _Plan(rows, tuple(rates), tuple(exact), distinct, basis, regular)


# --- the engine ---------------------------------------------------------------------------------

def generate(terms: ScheduleTerms) -> Schedule:
    """Build the schedule for ``terms`` (pure; the APR is left for :meth:`Schedule.apr`)."""
    with decimal.localcontext(MONEY_CONTEXT):
        return _generate(terms)


def _generate(t: ScheduleTerms) -> Schedule:
    freq = t.frequency
    plan = _plan(t.disbursement_date, t.first_due_date, freq.unit, freq.every, t.term, t.annual_rate,
                 t.interest_basis, t.day_count, t.interest_free_periods)
    q = _QUANTS[t.rounding_places]
    rm = _DEC_MODE[t.rounding_mode]
    zero = _ZERO.quantize(q)

    fee_each = zero
    upfront = zero
    for fee in t.fees:
        if fee.when == "each_installment":
            fee_each += fee.amount
        else:
            upfront += fee.amount

    P = t.principal.quantize(q)   # every amount in the rows then carries exactly the places
    method = t.method
    if method == "equal_installment":
        rows, ti = _equal_installment(t, plan, P, q, rm, zero, fee_each)
    elif method == "equal_principal":
        rows, ti = _equal_principal(t, plan, P, q, rm, zero, fee_each)
    elif method == "flat":
        rows, ti = _flat(t, plan, P, q, rm, zero, fee_each)
    elif method == "interest_only":
        rows, ti = _interest_only(t, plan, P, q, rm, zero, fee_each)
    else:
        rows, ti = _bullet(t, plan, P, q, rm, zero, fee_each)
    total_fees = fee_each * len(rows) + upfront
    return Schedule(t, rows, P, ti, total_fees, upfront)


def _emi(t: ScheduleTerms, exact: Decimal, q: Decimal, rm: str) -> Decimal:
    """The level installment, rounded; a multiple bigger than the installment gives one multiple, not 0."""
    multiple = t.installment_multiple
    if multiple is not None:
        emi = round_to_multiple(exact, multiple, t.installment_rounding)
        return (emi if emi > 0 else multiple).quantize(q)
    emi = exact.quantize(q, rm)
    return emi if emi > 0 else q


# Rounding in the row loops is ``Decimal.quantize(quantum, mode)`` with the quantum and the
# decimal mode that :func:`openlend.money.round_money` uses, under MONEY_CONTEXT (set once per
# ``generate``): the same result as ``round_money(x, places, mode)`` (a test checks it), without
# its per-call mode lookup, which would cost more than the rest of a row.

def _equal_installment(t, plan, P, q, rm, zero, fee_each):
    g = t.grace_principal_periods
    exact = P / plan.annuity_divisor(g)
    emi = _emi(t, exact, q, rm)
    if t.installment_multiple is not None and emi <= _interest_exact(
            P, max(set(plan.exact[g:]), key=lambda r: Fraction(*r)), t.rounding_places, rm):
        # Rounded to a coarse multiple, the installment would not even cover a period's interest,
        # and the loan would not amortise: round it up to the multiple instead.
        emi = round_to_multiple(exact, t.installment_multiple, RoundingMode.UP).quantize(q)
    rows, ti, last_own = _annuity_rows(t, plan, P, emi, q, rm, zero, fee_each)
    if plan.basis == "daily":
        # Fineract's progressive schedule re-balances the installment once when rounding the
        # interest left the last installment more than half a cent per period away from the
        # others: it moves the installment by (difference / periods) and keeps the move if the
        # last installment then lands closer (ProgressiveEMICalculator.checkAndAdjustEmiIfNeeded...).
        n = t.term
        m = n - g
        diff = last_own - emi
        if diff and m // 2 and len(rows) == n and abs(diff.scaleb(t.rounding_places)) > m // 2:
            emi2 = _emi(t, emi + (diff / m).quantize(q, rm), q, rm)
            if emi2 != emi:
                rows2, ti2, last2 = _annuity_rows(t, plan, P, emi2, q, rm, zero, fee_each)
                if len(rows2) == n and abs(last2 - emi2) < abs(diff):
                    return rows2, ti2
    return rows, ti


def _annuity_rows(t, plan, P, emi, q, rm, zero, fee_each):
    """Rows for installment ``emi``; returns (rows, total interest, last row's principal + own interest)."""
    g = t.grace_principal_periods
    ig = t.grace_interest_periods
    places = t.rounding_places
    fits = P.scaleb(places) <= plan.room   # see _Plan
    out = P
    if not g and not ig and not fee_each and fits:
        r = plan.uniform
        if r is not None:
            rows = _equal_installment_fast(out, emi, r, plan.rows, q, rm, zero)
        else:
            rows = _equal_installment_fast_rates(out, emi, plan.wide, plan.rows, q, rm, zero)
        if rows is not None:
            # the totals add up to principal + interest, and all but the last are the installment
            last_total = rows[-1].total
            return rows, emi * (len(rows) - 1) + last_total - out, last_total
    wide, exact = plan.wide, plan.exact
    n = len(exact)
    last = n - 1
    rows = []
    append = rows.append
    new = tuple.__new__
    I = Installment
    deferred = zero
    ti = zero
    acc = prin = zero
    for i, pre in enumerate(plan.rows):
        acc = (out * wide[i]).quantize(q, rm) if fits else _interest_exact(out, exact[i], places, rm)
        if i < ig:
            deferred += acc
            due_int = zero
        elif deferred:
            due_int = acc + deferred
            deferred = zero
        else:
            due_int = acc
        if i < g:
            prin = zero
        elif i == last:
            prin = out
        else:
            prin = emi - acc
            if prin < zero:
                prin = zero
            elif prin > out:
                prin = out
        out = out - prin
        ti += due_int
        append(new(I, pre + (prin, due_int, fee_each, prin + due_int + fee_each, out)))
        if not out:
            break
    if deferred:
        ti += deferred
        _add_interest_to_last(rows, deferred)
    return rows, ti, prin + acc


def _equal_installment_fast(out, emi, r, pres, q, rm, zero):
    """The common case (one rate, no grace, no per-installment fee; the schedule ``fits``).

    Returns None when a row would need clamping (principal above the balance, or below zero),
    and the general loop then builds the schedule.
    """
    if (out * r).quantize(q, rm) > emi:   # the first interest is the largest: the balance only falls
        return None
    rows = []
    append = rows.append
    new = tuple.__new__
    I = Installment
    for pre in pres[:-1]:
        acc = (out * r).quantize(q, rm)
        prin = emi - acc
        if prin >= out:
            if prin > out:
                return None
            append(new(I, pre + (prin, acc, zero, emi, zero)))   # paid off early by rounding
            return rows
        out -= prin
        append(new(I, pre + (prin, acc, zero, emi, out)))
    acc = (out * r).quantize(q, rm)
    append(new(I, pres[-1] + (out, acc, zero, out + acc, zero)))
    return rows


def _equal_installment_fast_rates(out, emi, rates, pres, q, rm, zero):
    """As :func:`_equal_installment_fast`, with each period's own rate (the daily basis)."""
    rows = []
    append = rows.append
    new = tuple.__new__
    I = Installment
    for pre, r in zip(pres[:-1], rates):
        acc = (out * r).quantize(q, rm)
        prin = emi - acc
        if prin >= out or prin < zero:
            if prin != out:
                return None
            append(new(I, pre + (prin, acc, zero, emi, zero)))   # paid off early by rounding
            return rows
        out -= prin
        append(new(I, pre + (prin, acc, zero, emi, out)))
    acc = (out * rates[-1]).quantize(q, rm)
    append(new(I, pres[-1] + (out, acc, zero, out + acc, zero)))
    return rows


def _add_interest_to_last(rows: list[Installment], amount: Decimal) -> None:
    r = rows[-1]
    rows[-1] = r._replace(interest=r.interest + amount, total=r.total + amount)


def _equal_principal(t, plan, P, q, rm, zero, fee_each):
    wide, exact = plan.wide, plan.exact
    n = len(exact)
    g = t.grace_principal_periods
    ig = t.grace_interest_periods
    places = t.rounding_places
    fits = P.scaleb(places) <= plan.room   # see _Plan
    out = P
    pp = (out / (n - g)).quantize(q, rm)
    last = n - 1
    rows = []
    deferred = zero
    ti = zero
    for i, pre in enumerate(plan.rows):
        acc = (out * wide[i]).quantize(q, rm) if fits else _interest_exact(out, exact[i], places, rm)
        if i < ig:
            deferred += acc
            due_int = zero
        else:
            due_int = acc + deferred
            deferred = zero
        if i < g:
            prin = zero
        elif i == last:
            prin = out
        else:
            prin = pp if pp < out else out
        out = out - prin
        ti += due_int
        rows.append(Installment(*pre, prin, due_int, fee_each, prin + due_int + fee_each, out))
        if not out:
            break
    if deferred:
        ti += deferred
        _add_interest_to_last(rows, deferred)
    return rows, ti


def _flat(t, plan, P, q, rm, zero, fee_each):
    n = len(plan.exact)
    g = t.grace_principal_periods
    multiple = t.installment_multiple
    imode = t.installment_rounding
    out = P
    pp = (P / (n - g)).quantize(q, rm)
    no_interest = max(t.grace_interest_periods, t.interest_free_periods)
    total_interest = _interest_exact(P, plan.total(), t.rounding_places, rm)
    paying = n - no_interest
    per = (total_interest / paying).quantize(q, rm) if paying else zero
    if per * (paying - 1) > total_interest:   # rounding up tiny interest: leave the last row >= 0
        per = (total_interest / paying).quantize(q, decimal.ROUND_DOWN)
    last = n - 1
    rows = []
    ti = zero
    for i, pre in enumerate(plan.rows):
        due_int = zero if i < no_interest else per
        if i == last:
            prin = out
            due_int = total_interest - ti
        elif i < g:
            prin = zero
        else:
            prin = pp
            if multiple is not None:
                prin = round_to_multiple(pp, multiple, imode) + round_to_multiple(due_int, multiple, imode) - due_int
                if prin < zero:
                    prin = zero
            if prin > out:
                prin = out
        out = out - prin
        if not out and i != last:
            due_int = total_interest - ti   # paid off early: the flat interest is still owed
        ti += due_int
        rows.append(Installment(*pre, prin, due_int, fee_each, prin + due_int + fee_each, out))
        if not out:
            break
    return rows, ti


def _interest_only(t, plan, P, q, rm, zero, fee_each):
    wide, exact = plan.wide, plan.exact
    ig = t.grace_interest_periods
    places = t.rounding_places
    fits = P.scaleb(places) <= plan.room   # see _Plan
    last = len(exact) - 1
    rows = []
    deferred = zero
    ti = zero
    for i, pre in enumerate(plan.rows):
        acc = (P * wide[i]).quantize(q, rm) if fits else _interest_exact(P, exact[i], places, rm)
        if i < ig:
            deferred += acc
            due_int = zero
        else:
            due_int = acc + deferred
            deferred = zero
        prin = P if i == last else zero
        ti += due_int
        rows.append(Installment(*pre, prin, due_int, fee_each, prin + due_int + fee_each,
                                zero if i == last else P))
    return rows, ti


def _bullet(t, plan, P, q, rm, zero, fee_each):
    """One installment at the end of the term: the principal and simple interest for every period."""
    interest = _interest_exact(P, plan.total(), t.rounding_places, rm)
    frm = plan.rows[0][1]
    due = plan.rows[-1][2]
    return [Installment(1, frm, due, (due - frm).days, P, interest, fee_each, P + interest + fee_each, zero)], interest


# --- APR -----------------------------------------------------------------------------------------

_APR_QUANT = Decimal("0.0001")


def _compute_apr(s: Schedule) -> APR:
    t = s.terms
    rows = s.installments
    net = s.net_disbursed
    payments = [r.total for r in rows]
    times = [t.term] if t.method == "bullet" else [r.number for r in rows]
    unit, every = t.frequency.unit, t.frequency.every
    per_year = Decimal(12 if unit == "month" else 52 if unit == "week" else YEAR_DAYS[t.day_count]) / every
    # as _percent(irr(...) * per_year) and _percent(xirr(...)), proved from float (see apr.rounded)
    start = t.disbursement_date
    nominal = _apr.rounded(net, list(zip(payments, times)), 1, lambda r: _percent(r * per_year))
    effective = _apr.rounded(net, [(r.total, (r.due_date - start).days) for r in rows], 365, _percent)
    return APR(nominal, effective)


def _percent(rate: Decimal) -> Decimal:
    """A rate as a percent, half-even to 4 places.  Not money, so not round_money: an APR can be
    astronomically large (a 2-day loan with a 48 % fee compounds to about 10^50 %), beyond the
    34 digits of the money context, and is then still reported exactly."""
    ctx = decimal.Context(prec=max(50, rate.adjusted() + 10), rounding=decimal.ROUND_HALF_EVEN,
                          traps=[decimal.InvalidOperation])
    return ctx.multiply(rate, _HUNDRED).quantize(_APR_QUANT, context=ctx)
