"""The loan-servicing engine: a loan is a fold of its dated events over its schedule.  PURE.

Stdlib, :mod:`openlend.money` and the schedule engine only: no database, no web, no clock.  The
service (``loans/service.py``) loads a loan's terms and active events, calls :func:`run`, stores
the state and posts the difference of the cumulative figures to the ledger.  The rules are those
of ``docs/design/servicing.md``; this docstring records every convention the design leaves open.

The fold
    :func:`run` starts from the schedule of the terms (the disbursement is implied: amount = the
    schedule's principal, on its disbursement date) and applies the events in the order
    ``(value_date, kind rank, seq, id)``: disbursement 0; charges 1; due-day and term changes 2;
    repayments and prepayments 3; write-off 4 (a write-off closes the day); refunds 5 (after the
    day's payments, so money received on the day of a refund counts towards it).  Before the events of a
    day D the penalty of every day up to and including D is charged (penalty is on the overdue
    principal *at the start* of the day); after the last event, up to ``as_of``.  A reversed
    event is simply not passed.  Entering an event with an earlier date re-runs the whole fold,
    so the same set of events gives the same state whatever order they were entered in.

Installments
    Each row keeps what is scheduled (principal, interest, fees, penalty charged) and what is paid
    of each, plus ``interest_from`` and ``interest_fixed`` (see *Accrual*).  ``fees`` holds the
    product's per-installment fee and any charge or prepayment fee put on the row.  Status as of
    ``as_of``: ``paid`` (nothing left), ``overdue`` (due date passed), ``due`` (due today),
    ``future``; and ``written_off`` for what was left unpaid on a written-off loan.

Accrual (the design's rule, generalised for a period split by a prepayment)
    Interest accrued on row k to day D is ``round_half_even(interest_k * e / d)`` with
    ``e = D - from_date`` (clamped to 0..d) and ``d = due_date - from_date``, the full interest from
    the due date on, and never less than the interest paid on the row.  A partial prepayment
    on date P in the middle of a period fixes the interest of ``from_date..P`` (``interest_fixed``,
    on the old balance) and re-lays the rest of the period on the new balance; such a row accrues
    ``interest_fixed + round_half_even((interest_k - interest_fixed) * (D - P) / (due_date - P))``
    for D >= P (``interest_from`` = P).  For every other row ``interest_from = from_date`` and
    ``interest_fixed = 0``, which is exactly the design's formula.  Interest "to date P" for a
    payoff or prepayment is this same accrual without the floor at the interest paid, so the
    payoff figure and the accrual agree to the cent (Fineract: 100 at 7 %, 30/360, 6 months, first
    installment paid, paid off 2024-02-15: 83.57 + round(0.49 * 14 / 29) = 83.81).

Penalty
    ``round_half_even(overdue_principal_at_start_of_D * rate / 100 / year_days, places)`` per day,
    one rounding per loan per day, charged to the oldest installment past its due date with
    anything unpaid; ``year_days`` 365 for 30/360 and ACT/365, 360 for ACT/360, 364 for ACT/364,
    the actual year of D for ACT/ACT.  The rate defaults to 1.5 x the contract rate.  Computed in
    runs of days with the same overdue principal (the same each day), not day by day.

Allocation
    By the order (default penalty, fees, interest, principal) over the installments due on or
    before the payment date (oldest first; ``installment_first``: each installment's components
    in order, then the next; ``component_first``: each component across those installments), then
    over the future installments one by one in the same component order (Fineract's "next
    installment"; a future installment's scheduled interest is then paid before it accrues and is
    recognised when paid).  **Overpayment** (money left once everything the loan owes is paid) is
    held on the loan (``totals.overpayment``, account 2100) for an operator to refund (``Refund``)
    or apply: it is never turned into a prepayment, because a prepayment is the borrower's choice of
    option and date.

Payoff
    What closes the loan on P: all unpaid principal, the unpaid interest, fees and penalty of the
    installments due by P, the current installment's interest to P (see *Accrual*) and its
    charges, plus the prepayment fee on the principal not yet due; the per-installment fees and
    interest of the periods after P are not owed (the current period's installment fee neither),
    and interest or fees already paid in advance on those periods are credited (re-allocated).
    A repayment or prepayment whose amount is at least that figure on its value date pays the loan
    off (status ``paid_off``, ``closed_on`` = P; the rest is held as overpayment): a borrower who
    transfers the payoff figure must not be charged the future periods' interest.  A repayment
    that pays every installment in full in the ordinary way also closes the loan.

Partial prepayment (``Prepayment``, P = value date, penalty-free unless the terms set a fee)
    Interest and fees already paid in advance on the installments being re-laid are credited and
    added to the amount; then, in order: everything due on or before P (by the allocation order);
    the current installment's interest to P; the prepayment fee and the principal (the largest
    principal p with p + fee(p) within what is left).  The amount must leave some principal to
    prepay, else ``prepayment-too-small``.  The prepaid principal is put on the installment due on
    P if one falls due that day (as Fineract shows it), else on the current one.  The rest is then
    re-laid from P: ``reduce_installment`` (same number of installments, smaller installment, by
    the schedule engine) or ``reduce_term`` (same installment, fewer installments; equal
    installments and equal principal only).  With the period basis the new installments are laid
    out from the current period's start (a regular period's rate does not depend on its days, so
    they stay level) and the current installment charges the new balance's interest for the rest
    of the period only (P..due, pro rata as an odd period); with the daily basis the engine lays
    them out from P, its installment already weighing the short first period.  A version of the
    schedule is kept.

Due-day change (monthly loans, day 1..28)
    The next installment moves to the new day *in the same month* as its current due date (5th ->
    20th: 5 April -> 20 April), or the month after when that is not after the change date, and the
    rest follows monthly on the new day.  The broken period runs from the current period's start to
    the new due date, and its interest is the schedule engine's odd-period interest on the unpaid
    principal (period basis: whole months counted back plus the odd days as a fraction of their
    month; daily basis: the actual days under the day count).  Days 29-31 are refused: they do not
    exist in every month, the schedule engine anchors later due dates on the first one's day, and
    lenders commonly offer 1-28.  :func:`due_day_change_quote` shows all of it before the borrower
    confirms.

Term change (``Reschedule``)
    ``new_term`` is the number of installments remaining from the next one; the unpaid principal of
    the next and later installments is re-laid over them from the current period's start, first due
    date unchanged.  Overdue installments stay as they are.  A version is kept.

Write-off
    Closes the loan on its date (status ``written_off``): what is outstanding then (principal, the
    interest accrued to that day and unpaid, fees charged and penalty) is written off; nothing
    accrues afterwards.

Refunds (``Refund``)
    Pay back to the borrower part or all of the overpayment held on the loan: ``totals.overpayment``
    (held) goes down by the amount and ``totals.overpayment_refunded`` (cumulative) up; nothing else
    moves (no installment, no status, no ``closed_on``).  Refused (``refund-exceeds-overpayment``)
    when the amount is more than what is held after the events up to and including its value date
    (same-day payments first: rank 5).  A reversal that would take back money already refunded
    (say, of the overpaying repayment) is therefore refused by the re-run fold until the refund is
    reversed first.

Closed loans and refusals
    Any event ordered after the closing event (payoff or write-off) is refused, except a refund:
    the overpayment is typically left on a loan by the payment that paid it off, and returning it
    changes nothing the closing event froze (the loan stays closed; penalty is not charged past
    ``closed_on``).  Also refused: events before the disbursement or after ``as_of``, amounts that
    are not positive Decimals with the currency's places, due days outside 1..28, terms outside
    1..1200 and re-laying a schedule while interest from an interest-payment grace period is still
    deferred.  :class:`LoanRuleError` carries ``code``, ``field`` and a message; the service maps it
    to a 422 problem.

Cumulative figures (``totals``, as of ``as_of``; frozen at ``closed_on`` for a closed loan)
    disbursed, upfront_fees, principal_repaid, interest_accrued, interest_repaid, fees_charged
    (upfront fees, charges and prepayment fees when charged, an installment fee when due, or when
    paid earlier), fees_repaid (upfront fees included: settled by deduction at disbursement),
    penalty_charged, penalty_repaid, overpayment (held now), written_off_*, overpayment_refunded
    (cumulative).  Invariants (property-tested): disbursed = principal_repaid +
    outstanding.principal + written_off_principal; the paid components (less the upfront fees)
    plus the overpayment held and refunded equal the sum of the payments.

Known limit
    With the *daily* basis, a monthly loan anchored on the 29th-31st whose schedule is re-laid
    when its next due date is clamped (30 April) gets later due dates on that clamped day; the
    schedule engine has no anchor-day input (see :mod:`.engine_relayout`).
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple

from openlend.money import MONEY_CONTEXT
from openlend.schedule.dates import add_months
from openlend.schedule.engine import MAX_TERM, Installment, ScheduleTerms, generate

from .engine_relayout import keep_installment, relay, tail_interest

__all__ = [
    "LoanTerms", "Disbursement", "Repayment", "Prepayment", "ChangeDueDay", "Reschedule", "WriteOff", "Charge",
    "Refund",
    "run", "payoff_quote", "due_day_change_quote", "LoanState", "LoanInstallment", "Allocation",
    "InstallmentAllocation", "ScheduleVersion", "Totals", "Outstanding", "Quote", "DueDayQuote", "LoanRuleError",
    "COMPONENTS", "STRATEGIES", "PREPAYMENT_MODES", "bucket_for",
]

COMPONENTS = ("penalty", "fees", "interest", "principal")
STRATEGIES = ("installment_first", "component_first")
PREPAYMENT_MODES = ("reduce_installment", "reduce_term")
MAX_DUE_DAY = 28
PENALTY_YEAR_DAYS = {"30/360": 365, "ACT/365": 365, "ACT/360": 360, "ACT/364": 364}   # ACT/ACT: the actual year
_ONE_DAY = timedelta(days=1)
_HALF_EVEN = decimal.ROUND_HALF_EVEN
_D100 = Decimal(100)


class LoanRuleError(ValueError):
    """An event or request the loan's rules refuse: ``code`` (a stable slug), ``field``, ``message``."""

    def __init__(self, code: str, field: str, message: str, event_id: str | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.field = field
        self.message = message
        self.event_id = event_id


# --- terms and events ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LoanTerms:
    """Everything the fold needs besides the events.

    ``penalty_annual_rate``: percent a year on overdue principal (None: 1.5 x the contract rate).
    ``prepayment_fee``: None (no fee), a product-style mapping ``{"calculation": "none"|"fixed"|
    "percent", "value": Decimal}`` or a callable ``prepaid_principal -> fee`` (non-decreasing).
    """

    schedule: ScheduleTerms
    penalty_annual_rate: Decimal | None = None
    allocation_order: tuple[str, ...] = COMPONENTS
    allocation_strategy: str = "installment_first"
    prepayment_fee: Any = None
    currency: str = "CNY"

    def __post_init__(self) -> None:
        if type(self.schedule) is not ScheduleTerms:
            raise LoanRuleError("invalid-terms", "schedule", "must be a ScheduleTerms")
        order = tuple(self.allocation_order)
        if sorted(order) != sorted(COMPONENTS):
            raise LoanRuleError("invalid-terms", "allocation.order",
                                "must be a permutation of penalty, fees, interest and principal")
        object.__setattr__(self, "allocation_order", order)
        if self.allocation_strategy not in STRATEGIES:
            raise LoanRuleError("invalid-terms", "allocation.strategy", "must be one of " + ", ".join(STRATEGIES))
        rate = self.penalty_annual_rate
        if rate is not None and (type(rate) is not Decimal or not rate.is_finite() or rate < 0):
            raise LoanRuleError("invalid-terms", "penalty_annual_rate", "must be a Decimal >= 0 (percent a year)")
        fee = self.prepayment_fee
        if fee is not None and not callable(fee):
            if not isinstance(fee, Mapping) or fee.get("calculation", "none") not in ("none", "fixed", "percent"):
                raise LoanRuleError("invalid-terms", "prepayment_fee",
                                    "must be None, {calculation: none|fixed|percent, value} or a callable")

    @classmethod
    def from_product(cls, product: Mapping[str, Any], schedule: ScheduleTerms) -> "LoanTerms":
        """Terms for a loan on a product version (native form) with its schedule terms."""
        from openlend.products.rules import penalty_annual_rate
        alloc = product.get("allocation") or {}
        pre = product.get("prepayment_fee") or None
        return cls(schedule=schedule, penalty_annual_rate=penalty_annual_rate(product, schedule.annual_rate),
                   allocation_order=tuple(alloc.get("order") or COMPONENTS),
                   allocation_strategy=alloc.get("strategy") or "installment_first",
                   prepayment_fee=None if not pre or pre.get("calculation", "none") == "none" else dict(pre),
                   currency=product.get("currency") or "CNY")


@dataclass(frozen=True, slots=True)
class Disbursement:
    """Implied by the terms; accepted (and checked against them) for the service's convenience."""
    id: str
    value_date: date
    amount: Decimal
    seq: int = 0
    rank = 0


@dataclass(frozen=True, slots=True)
class Charge:
    """A fee charged on ``value_date``: put on the installment whose period holds the date (the first
    one due on or after it; after the last due date, the last one)."""
    id: str
    value_date: date
    amount: Decimal
    name: str = "charge"
    seq: int = 0
    rank = 1


@dataclass(frozen=True, slots=True)
class ChangeDueDay:
    id: str
    value_date: date
    new_day: int
    seq: int = 0
    rank = 2


@dataclass(frozen=True, slots=True)
class Reschedule:
    """``new_term``: the number of installments remaining, counted from the next one."""
    id: str
    value_date: date
    new_term: int
    seq: int = 0
    rank = 2


@dataclass(frozen=True, slots=True)
class Repayment:
    id: str
    value_date: date
    amount: Decimal
    seq: int = 0
    channel: str | None = None
    idempotency_key: str | None = None
    rank = 3


@dataclass(frozen=True, slots=True)
class Prepayment:
    id: str
    value_date: date
    amount: Decimal
    mode: str = "reduce_installment"
    seq: int = 0
    channel: str | None = None
    idempotency_key: str | None = None
    rank = 3


@dataclass(frozen=True, slots=True)
class WriteOff:
    id: str
    value_date: date
    seq: int = 0
    rank = 4


@dataclass(frozen=True, slots=True)
class Refund:
    """Overpayment held on the loan paid back to the borrower on ``value_date`` (see *Refunds*)."""
    id: str
    value_date: date
    amount: Decimal
    seq: int = 0
    channel: str | None = None
    rank = 5


_EVENT_TYPES = (Disbursement, Charge, ChangeDueDay, Reschedule, Repayment, Prepayment, WriteOff, Refund)


# --- results ------------------------------------------------------------------------------------

class LoanInstallment(NamedTuple):
    number: int
    from_date: date
    due_date: date
    principal: Decimal
    interest: Decimal
    fees: Decimal
    penalty: Decimal            # charged so far
    paid_principal: Decimal
    paid_interest: Decimal
    paid_fees: Decimal
    paid_penalty: Decimal
    accrued_interest: Decimal   # as of as_of (closed loans: as of closed_on)
    status: str                 # paid | due | overdue | future | written_off
    interest_from: date         # from_date, or the date of a prepayment inside the period
    interest_fixed: Decimal     # interest of from_date..interest_from, fixed by that prepayment
    fees_charged: Decimal       # fees recognised so far: all of ``fees`` once due, else charges put on the row

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.fees + self.penalty

    @property
    def paid(self) -> Decimal:
        return self.paid_principal + self.paid_interest + self.paid_fees + self.paid_penalty

    @property
    def outstanding(self) -> Decimal:
        return self.total - self.paid


class InstallmentAllocation(NamedTuple):
    number: int
    principal: Decimal
    interest: Decimal
    fees: Decimal
    penalty: Decimal


class Allocation(NamedTuple):
    """How one payment was split.  ``reallocated``: interest and fees paid earlier on re-laid or
    closed-out future installments, credited and split together with ``amount``, so that
    principal + interest + fees + penalty + overpayment = amount + reallocated."""
    event_id: str
    kind: str
    value_date: date
    amount: Decimal
    principal: Decimal
    interest: Decimal
    fees: Decimal
    penalty: Decimal
    overpayment: Decimal
    reallocated: Decimal
    prepayment_fee: Decimal
    closed_loan: bool
    installments: tuple[InstallmentAllocation, ...]


class ScheduleVersion(NamedTuple):
    version: int
    reason: str                 # original | prepayment | due_day_change | reschedule | payoff
    effective_date: date
    event_id: str | None
    installments: tuple[Installment, ...]   # as scheduled (the schedule engine's rows)


class Totals(NamedTuple):
    disbursed: Decimal
    upfront_fees: Decimal
    principal_repaid: Decimal
    interest_accrued: Decimal
    interest_repaid: Decimal
    fees_charged: Decimal
    fees_repaid: Decimal
    penalty_charged: Decimal
    penalty_repaid: Decimal
    overpayment: Decimal            # held now (received less refunded)
    written_off_principal: Decimal
    written_off_interest: Decimal
    written_off_fees: Decimal
    written_off_penalty: Decimal
    overpayment_refunded: Decimal = Decimal(0)   # cumulative: paid back out of the overpayment held


class Outstanding(NamedTuple):
    principal: Decimal
    interest: Decimal   # accrued and unpaid
    fees: Decimal
    penalty: Decimal
    total: Decimal


@dataclass(slots=True)
class LoanState:
    as_of: date
    installments: tuple[LoanInstallment, ...]
    schedule_versions: list[ScheduleVersion]
    allocations: dict[str, Allocation]
    status: str                 # active | overdue | paid_off | written_off
    days_past_due: int
    bucket: str                 # M0 | M1 | M2 | M3 | M4+
    closed_on: date | None
    totals: Totals
    outstanding: Outstanding
    installment_amount: Decimal   # the level installment (principal + interest) of the current schedule
    next_due_date: date | None
    events_applied: tuple[str, ...] = field(default=())


class Quote(NamedTuple):
    """Payoff figure on ``on`` (valid until that date)."""
    on: date
    principal: Decimal
    interest: Decimal
    fees: Decimal
    penalty: Decimal
    prepayment_fee: Decimal
    total: Decimal
    valid_until: date
    overpayment_held: Decimal   # held on the loan, not netted (an operator refunds or applies it)


class DueDayQuote(NamedTuple):
    on: date
    new_day: int
    old_due_date: date
    new_due_date: date
    broken_period_from: date
    broken_period_days: int
    broken_period_interest: Decimal
    installment_amount: Decimal
    installments: tuple[Installment, ...]   # the schedule as it would be
    valid_until: date


def bucket_for(dpd: int) -> str:
    if dpd <= 0:
        return "M0"
    if dpd <= 30:
        return "M1"
    if dpd <= 60:
        return "M2"
    if dpd <= 90:
        return "M3"
    return "M4+"


# --- the fold -----------------------------------------------------------------------------------

# A row is a list (indexing is the fold's inner loop):
_NUM, _FROM, _DUE, _P, _I, _F, _PEN, _PP, _PI, _PF, _PPEN, _CH, _IFROM, _IFIX = range(14)
_COMP = {"principal": (_P, _PP), "interest": (_I, _PI), "fees": (_F, _PF), "penalty": (_PEN, _PPEN)}
_NAMES = {_P: "principal", _I: "interest", _F: "fees", _PEN: "penalty"}


@lru_cache(maxsize=4096)
def _original(t: ScheduleTerms) -> tuple[tuple[Installment, ...], Decimal]:
    s = generate(t)
    return tuple(s.installments), s.upfront_fees


@lru_cache(maxsize=1024)
def _own_interest(t: ScheduleTerms) -> tuple[Decimal, ...]:
    """Each period's own interest with no interest-payment grace (the balances are the same)."""
    t0 = ScheduleTerms(
        principal=t.principal, annual_rate=t.annual_rate, method=t.method, term=t.term,
        disbursement_date=t.disbursement_date, frequency=t.frequency, first_due_date=t.first_due_date,
        interest_basis=t.interest_basis, day_count=t.day_count, rounding_places=t.rounding_places,
        rounding_mode=t.rounding_mode, installment_multiple=t.installment_multiple,
        installment_rounding=t.installment_rounding, grace_principal_periods=t.grace_principal_periods,
        grace_interest_periods=0, interest_free_periods=t.interest_free_periods, fees=t.fees)
    return tuple(r.interest for r in generate(t0).installments)


def _fee_function(spec, places: int, mode: str) -> Callable[[Decimal], Decimal] | None:
    if spec is None:
        return None
    q = Decimal(1).scaleb(-places)
    if callable(spec):
        return lambda p: Decimal(spec(p)).quantize(q, _HALF_EVEN)
    calc = spec.get("calculation", "none")
    value = spec.get("value")
    if calc == "none":
        return None
    if calc == "fixed":
        fixed = Decimal(value).quantize(q, _HALF_EVEN)
        return lambda p: fixed
    from openlend.money import round_money
    pct = Decimal(value)
    return lambda p: round_money(p * pct / _D100, places, mode)


class _Rec:
    """An allocation being recorded."""
    __slots__ = ("parts", "per")

    def __init__(self):
        self.parts = {"principal": None, "interest": None, "fees": None, "penalty": None}
        self.per: dict[int, list] = {}

    def add(self, row, owed_idx: int, amount: Decimal, zero: Decimal) -> None:
        name = _NAMES[owed_idx]
        cur = self.parts[name]
        self.parts[name] = amount if cur is None else cur + amount
        per = self.per.get(row[_NUM])
        if per is None:
            per = self.per[row[_NUM]] = [zero, zero, zero, zero]
        per[(_P, _I, _F, _PEN).index(owed_idx)] += amount


class _Loan:
    __slots__ = ("terms", "t", "q", "zero", "rows", "pen_day", "pen_rate", "pen_year", "order", "strategy",
                 "overpayment", "closed_on", "closed", "versions", "allocations", "level", "anchor_day", "wo",
                 "fee_fn", "upfront", "applied", "refunded")

    def __init__(self, terms: LoanTerms):
        t = terms.schedule
        self.terms = terms
        self.t = t
        q = self.q = Decimal(1).scaleb(-t.rounding_places)
        zero = self.zero = Decimal(0).quantize(q)
        original, upfront = _original(t)
        self.upfront = upfront
        self.rows = [[r.number, r.from_date, r.due_date, r.principal, r.interest, r.fees, zero, zero, zero, zero,
                      zero, zero, r.from_date, zero] for r in original]
        self.pen_day = t.disbursement_date
        rate = terms.penalty_annual_rate
        self.pen_rate = t.annual_rate * Decimal("1.5") if rate is None else rate
        self.pen_year = PENALTY_YEAR_DAYS.get(t.day_count)   # None: ACT/ACT (the actual year)
        self.order = tuple(_COMP[c] for c in terms.allocation_order)
        self.strategy = terms.allocation_strategy
        self.overpayment = zero
        self.refunded = zero
        self.closed_on: date | None = None
        self.closed: str | None = None
        self.versions = [ScheduleVersion(1, "original", t.disbursement_date, None, original)]
        self.allocations: dict[str, Allocation] = {}
        self.level = self._level(original)
        self.anchor_day = (t.first_due_date or t.disbursement_date).day if t.frequency.unit == "month" else None
        self.wo = (zero, zero, zero, zero)
        self.fee_fn = _fee_function(terms.prepayment_fee, t.rounding_places, t.rounding_mode)
        self.applied: list[str] = []

    def copy(self) -> _Loan:
        """A copy that folding more events into leaves this one as it is (rows and the growing lists
        copied; everything else is immutable)."""
        c = _Loan.__new__(_Loan)
        for name in _Loan.__slots__:
            setattr(c, name, getattr(self, name))
        c.rows = [list(r) for r in self.rows]
        c.versions = list(self.versions)
        c.allocations = dict(self.allocations)
        c.applied = list(self.applied)
        return c

    # -- helpers ----------------------------------------------------------------------------------

    def _level(self, rows) -> Decimal:
        r = rows[-2] if len(rows) >= 2 else rows[-1]
        return r.principal if self.t.method == "equal_principal" else r.principal + r.interest

    def _first_after(self, d: date) -> int:
        """Index of the first installment due after ``d`` (len(rows) if none)."""
        for i, r in enumerate(self.rows):
            if r[_DUE] > d:
                return i
        return len(self.rows)

    def _interest_to(self, r, d: date) -> Decimal:
        """Interest of row ``r`` accrued to day ``d`` by the accrual rule (no floor at the paid)."""
        due = r[_DUE]
        if d >= due:
            return r[_I]
        frm = r[_FROM]
        if d <= frm:
            return self.zero
        start, fixed = r[_IFROM], r[_IFIX]
        if d < start:   # inside the fixed part (only asked for dates before a prepayment: never in the fold)
            return (fixed * (d - frm).days / (start - frm).days).quantize(self.q, _HALF_EVEN)
        tail = r[_I] - fixed
        return fixed + (tail * (d - start).days / (due - start).days).quantize(self.q, _HALF_EVEN)

    def _interest_to_current(self, j: int, d: date) -> Decimal:
        """Interest of the current row ``j`` to ``d``, with the interest deferred by an
        interest-payment grace (not yet collected) brought in."""
        r = self.rows[j]
        ig = self.t.grace_interest_periods
        if ig and r[_NUM] <= ig + 1:
            own = _own_interest(self.t)
            deferred = sum(own[: r[_NUM] - 1], self.zero)
            frm, due = r[_FROM], r[_DUE]
            part = own[r[_NUM] - 1] if d >= due else (
                (own[r[_NUM] - 1] * (d - frm).days / (due - frm).days).quantize(self.q, _HALF_EVEN))
            return deferred + part
        return self._interest_to(r, d)

    def _accrued(self, r, d: date) -> Decimal:
        a = self._interest_to(r, d)
        return a if a >= r[_PI] else r[_PI]

    def _unpaid_any(self, r) -> bool:
        return r[_P] != r[_PP] or r[_I] != r[_PI] or r[_F] != r[_PF] or r[_PEN] != r[_PPEN]

    def _snapshot(self, reason: str, d: date, event_id: str | None) -> None:
        out = []
        bal = sum((r[_P] for r in self.rows), self.zero)
        for r in self.rows:
            bal -= r[_P]
            out.append(Installment(r[_NUM], r[_FROM], r[_DUE], (r[_DUE] - r[_FROM]).days, r[_P], r[_I], r[_F],
                                   r[_P] + r[_I] + r[_F], bal))
        self.versions.append(ScheduleVersion(len(self.versions) + 1, reason, d, event_id, tuple(out)))

    # -- penalty ----------------------------------------------------------------------------------

    def charge_penalty(self, upto: date) -> None:
        d = self.pen_day + _ONE_DAY
        if upto < d:
            return
        self.pen_day = upto
        rate = self.pen_rate
        if not rate:
            return
        rows = self.rows
        q = self.q
        while d <= upto:
            overdue = self.zero
            target = None
            change = None
            for r in rows:
                if r[_DUE] < d:
                    overdue += r[_P] - r[_PP]
                    if target is None and self._unpaid_any(r):
                        target = r
                else:
                    change = r[_DUE] + _ONE_DAY
                    break
            end = upto if change is None or change > upto else change - _ONE_DAY
            year = self.pen_year
            if year is None:
                ye = date(d.year, 12, 31)
                if ye < end:
                    end = ye
                year = 366 if (d.year % 4 == 0 and (d.year % 100 != 0 or d.year % 400 == 0)) else 365
            if overdue > 0 and target is not None:
                per_day = (overdue * rate / (100 * year)).quantize(q, _HALF_EVEN)
                if per_day:
                    target[_PEN] += per_day * ((end - d).days + 1)
            d = end + _ONE_DAY

    # -- allocation -------------------------------------------------------------------------------

    def _pay(self, rows, money: Decimal, rec: _Rec, strategy: str) -> Decimal:
        zero = self.zero
        if strategy == "installment_first":
            for r in rows:
                for owed, paid in self.order:
                    due = r[owed] - r[paid]
                    if due > 0:
                        amt = due if due <= money else money
                        r[paid] += amt
                        money -= amt
                        rec.add(r, owed, amt, zero)
                        if not money:
                            return money
        else:
            for owed, paid in self.order:
                for r in rows:
                    due = r[owed] - r[paid]
                    if due > 0:
                        amt = due if due <= money else money
                        r[paid] += amt
                        money -= amt
                        rec.add(r, owed, amt, zero)
                        if not money:
                            return money
        return money

    def _allocate(self, money: Decimal, d: date, rec: _Rec) -> Decimal:
        """Due and overdue installments by the strategy, then the future ones one by one."""
        j = self._first_after(d)
        rows = self.rows
        if j:
            money = self._pay(rows[:j], money, rec, self.strategy)
        if money and j < len(rows):
            money = self._pay(rows[j:], money, rec, "installment_first")
        return money

    def _pool(self, j: int) -> Decimal:
        """Take back the interest, fees and penalty paid in advance on rows ``j``.. (to re-allocate)."""
        zero = self.zero
        pool = zero
        for r in self.rows[j:]:
            pool += r[_PI] + r[_PF] + r[_PPEN]
            r[_PI] = r[_PF] = r[_PPEN] = zero
        return pool

    def _fee(self, prepaid: Decimal) -> Decimal:
        if self.fee_fn is None or prepaid <= 0:
            return self.zero
        fee = self.fee_fn(prepaid)
        return fee if fee > 0 else self.zero

    # -- payoff -----------------------------------------------------------------------------------

    def payoff_total(self, d: date) -> Decimal:
        rows = self.rows
        j = self._first_after(d)
        owed = self.zero
        for r in rows[:j]:
            owed += (r[_P] - r[_PP]) + (r[_I] - r[_PI]) + (r[_F] - r[_PF]) + (r[_PEN] - r[_PPEN])
        if j < len(rows):
            prepaid = self.zero
            for r in rows[j:]:
                prepaid += r[_P] - r[_PP]
                owed += r[_CH] + r[_PEN] - r[_PI] - r[_PF] - r[_PPEN]
            owed += prepaid + self._interest_to_current(j, d) + self._fee(prepaid)
        return owed

    def _close_out(self, d: date) -> tuple[int, Decimal, Decimal]:
        """Cut the schedule at ``d`` for a payoff: the current installment keeps its interest to
        ``d`` and its charges, the later ones no interest and no installment fee; the prepayment
        fee goes on the current one; interest and fees paid in advance are taken back.  Returns
        (index of the current installment, the amount taken back, the prepayment fee)."""
        rows = self.rows
        j = self._first_after(d)
        zero = self.zero
        fee = pool = zero
        if j < len(rows):
            prepaid = sum((r[_P] - r[_PP] for r in rows[j:]), zero)
            fee = self._fee(prepaid)
            interest = self._interest_to_current(j, d)
            pool = self._pool(j)
            for i, r in enumerate(rows[j:]):
                if i == 0:
                    r[_I] = r[_IFIX] = interest
                    r[_IFROM] = d if d > r[_FROM] else r[_FROM]
                else:
                    r[_I] = r[_IFIX] = zero
                    r[_IFROM] = r[_FROM]
                r[_F] = r[_CH]
            if fee:
                rows[j][_F] += fee
                rows[j][_CH] += fee
        return j, pool, fee

    def close(self, d: date, money: Decimal, rec: _Rec, event_id: str | None) -> tuple[Decimal, Decimal, Decimal]:
        """Pay the loan off on ``d`` with ``money``: returns (leftover, reallocated, prepayment fee)."""
        j, pool, fee = self._close_out(d)
        rows = self.rows
        left = self._pay(rows, money + pool, rec, self.strategy)
        if any(self._unpaid_any(r) for r in rows):   # cannot happen when money >= payoff_total
            raise LoanRuleError("payoff-short", "amount", "the amount does not pay the loan off", event_id)
        self.overpayment += left
        self.closed, self.closed_on = "paid_off", d
        if j < len(rows):
            self._snapshot("payoff", d, event_id)
        return left, pool, fee

    # -- events -----------------------------------------------------------------------------------

    def _record(self, ev, kind: str, amount: Decimal, rec: _Rec, left: Decimal, pool: Decimal, fee: Decimal) -> None:
        z = self.zero
        p = rec.parts
        per = tuple(InstallmentAllocation(n, *v) for n, v in sorted(rec.per.items()))
        self.allocations[ev.id] = Allocation(
            ev.id, kind, ev.value_date, amount, p["principal"] or z, p["interest"] or z, p["fees"] or z,
            p["penalty"] or z, left, pool, fee, self.closed is not None, per)

    def _may_pay_off(self, amount: Decimal, d: date) -> bool:
        """Whether ``amount`` reaches the payoff figure on ``d`` (a cheap bound first: the figure is at
        least the unpaid principal less what was paid in advance on future installments)."""
        bound = self.zero
        for r in self.rows:
            bound += r[_P] - r[_PP]
            if r[_DUE] > d:
                bound -= r[_PI] + r[_PF] + r[_PPEN]
        return amount >= bound and amount >= self.payoff_total(d)

    def repayment(self, ev: Repayment, amount: Decimal) -> None:
        d = ev.value_date
        rec = _Rec()
        if self._may_pay_off(amount, d):
            left, pool, fee = self.close(d, amount, rec, ev.id)
        else:
            left = self._allocate(amount, d, rec)
            pool = fee = self.zero
            if left or not any(self._unpaid_any(r) for r in self.rows):
                self.closed, self.closed_on = "paid_off", d
            self.overpayment += left
        self._record(ev, "repayment", amount, rec, left, pool, fee)

    def _check_relayout(self, j: int, ev, what: str) -> None:
        ig = self.t.grace_interest_periods
        if ig and self.rows[j][_NUM] <= ig + 1:
            raise LoanRuleError("interest-grace", "value_date",
                                f"cannot {what} before installment {ig + 1}, which collects the interest deferred "
                                f"by the interest-payment grace", ev.id)

    def _relayout(self, j: int, start: date, fixed: Decimal, first_due: date, principal: Decimal, *,
                  count: int, keep: bool, reason: str, d: date, event_id: str) -> None:
        rows = self.rows
        t = self.t
        rj = rows[j]
        adv = sum((r[_PP] for r in rows[j:]), self.zero)
        number = rj[_NUM]
        g_rem = max(0, t.grace_principal_periods - (number - 1))
        free_rem = max(0, t.interest_free_periods - (number - 1))
        # Period basis, a period split by a prepayment: the rows are laid out from the period's
        # start (so the installments stay level: a regular period's rate does not depend on its
        # days) and the current row charges interest for the rest of the period only.  With the
        # daily basis the engine's installment already weighs the short first period.
        split = t.interest_basis == "period" and start > rj[_FROM]
        gen_start = rj[_FROM] if split else start
        if keep:
            new = keep_installment(t, principal=principal, start=gen_start, first_due=first_due, max_count=count,
                                   level=self.level, grace_principal=g_rem, interest_free=free_rem,
                                   anchor_day=self.anchor_day, interest_start=start if split else None)
            first_interest = new[0].interest
        else:
            new = relay(t, principal=principal, start=gen_start, first_due=first_due, count=count,
                        grace_principal=g_rem, interest_free=free_rem, anchor_day=self.anchor_day)
            self.level = self._level(new)
            first_interest = new[0].interest
            if split:
                first_interest = self.zero if free_rem else tail_interest(t, principal, start, first_due)
        zero = self.zero
        first = new[0]
        rj[_DUE] = first.due_date
        rj[_P] = adv + first.principal
        rj[_PP] = adv
        rj[_I] = fixed + first_interest
        rj[_IFIX] = fixed
        rj[_IFROM] = start
        rows[j + 1:] = [[number + i, x.from_date, x.due_date, x.principal, x.interest, x.fees, zero, zero, zero,
                         zero, zero, zero, x.from_date, zero] for i, x in enumerate(new[1:], 1)]
        self._snapshot(reason, d, event_id)

    def prepayment(self, ev: Prepayment, amount: Decimal) -> None:
        d = ev.value_date
        t = self.t
        if ev.mode not in PREPAYMENT_MODES:
            raise LoanRuleError("invalid-mode", "mode", "must be one of " + ", ".join(PREPAYMENT_MODES), ev.id)
        keep = ev.mode == "reduce_term"
        if keep and t.method not in ("equal_installment", "equal_principal"):
            raise LoanRuleError("mode-not-supported", "mode",
                                f"a {t.method} loan has no level installment to keep; use reduce_installment", ev.id)
        rec = _Rec()
        if self._may_pay_off(amount, d):
            left, pool, fee = self.close(d, amount, rec, ev.id)
            self._record(ev, "prepayment", amount, rec, left, pool, fee)
            return
        rows = self.rows
        j = self._first_after(d)
        if j == len(rows):
            raise LoanRuleError("nothing-to-prepay", "value_date",
                                "every installment is due: there is no future principal to prepay; use a repayment",
                                ev.id)
        self._check_relayout(j, ev, "prepay")
        zero = self.zero
        interest_to = self._interest_to_current(j, d)
        charges = sum((r[_CH] + r[_PEN] for r in rows[j:]), zero)
        # What must be paid before any principal is prepaid (checked before anything moves):
        # everything due by d, the current installment's interest to d and its charges.
        need = interest_to + charges
        for r in rows[:j]:
            need += (r[_P] - r[_PP]) + (r[_I] - r[_PI]) + (r[_F] - r[_PF]) + (r[_PEN] - r[_PPEN])
        advance = sum((r[_PI] + r[_PF] + r[_PPEN] for r in rows[j:]), zero)
        if amount + advance <= need:
            raise LoanRuleError("prepayment-too-small", "amount",
                                f"{need - advance} is owed up to {d.isoformat()} (installments due, interest to "
                                f"date and charges); a prepayment must be more than that", ev.id)
        pool = self._pool(j)
        money = amount + pool
        if j:
            money = self._pay(rows[:j], money, rec, self.strategy)
        rj = rows[j]
        money -= interest_to + charges
        if interest_to:
            rec.add(rj, _I, interest_to, zero)
        for r in rows[j:]:
            if r[_CH]:
                r[_PF] = r[_CH]
                rec.add(r, _F, r[_CH], zero)
            if r[_PEN]:
                r[_PPEN] = r[_PEN]
                rec.add(r, _PEN, r[_PEN], zero)
        unpaid = sum((r[_P] - r[_PP] for r in rows[j:]), zero)
        p, fee = self._split_principal(money, unpaid)
        if p <= 0 or p >= unpaid:   # p == unpaid cannot happen below the payoff figure
            raise LoanRuleError("prepayment-too-small", "amount",
                                "the amount leaves no principal to prepay after the prepayment fee", ev.id)
        c = j - 1 if j and rows[j - 1][_DUE] == d else j     # the installment the prepaid principal goes on
        attach = rows[c]
        if fee:
            attach[_F] += fee
            attach[_CH] += fee
            attach[_PF] += fee
            rec.add(attach, _F, fee, zero)
        rec.add(attach, _P, p, zero)
        if c < j:
            attach[_P] += p
            attach[_PP] += p
        else:
            rj[_PP] += p
        money -= p + fee
        start = d if d > rj[_FROM] else rj[_FROM]
        fixed = interest_to if start > rj[_FROM] else zero
        self._relayout(j, start, fixed, rj[_DUE], unpaid - p, count=len(rows) - j, keep=keep,
                       reason="prepayment", d=d, event_id=ev.id)
        rows[j][_PI] = interest_to
        left = self._allocate(money, d, rec) if money else money
        self.overpayment += left
        self._record(ev, "prepayment", amount, rec, left, pool, fee)

    def _split_principal(self, money: Decimal, unpaid: Decimal) -> tuple[Decimal, Decimal]:
        """The largest principal p <= unpaid with p + fee(p) <= money, and its fee."""
        q = self.q
        hi = money if money < unpaid else unpaid
        if self.fee_fn is None:
            return hi, self.zero
        if hi <= 0:
            return self.zero, self.zero
        fee = self._fee(hi)
        if hi + fee <= money:
            return hi, fee
        lo_units, hi_units = 0, int(hi.scaleb(self.t.rounding_places))
        while lo_units < hi_units:     # fee non-decreasing: binary search on the smallest unit
            mid = (lo_units + hi_units + 1) // 2
            p = Decimal(mid).scaleb(-self.t.rounding_places)
            if p + self._fee(p) <= money:
                lo_units = mid
            else:
                hi_units = mid - 1
        p = Decimal(lo_units).scaleb(-self.t.rounding_places).quantize(q)
        return p, self._fee(p)

    def _reapply(self, pool: Decimal, ev, d: date) -> None:
        if not pool:
            return
        rec = _Rec()
        left = self._allocate(pool, d, rec)
        self.overpayment += left
        kind = "due_day_change" if type(ev) is ChangeDueDay else "reschedule"
        self._record(ev, kind, self.zero, rec, left, pool, self.zero)

    def change_due_day(self, ev: ChangeDueDay) -> None:
        t = self.t
        d = ev.value_date
        day = ev.new_day
        if type(day) is not int or not 1 <= day <= MAX_DUE_DAY:
            raise LoanRuleError("due-day-out-of-range", "new_day",
                                f"must be a day between 1 and {MAX_DUE_DAY} (days 29-31 are not in every month)",
                                ev.id)
        if t.frequency.unit != "month":
            raise LoanRuleError("not-monthly", "new_day", "only a monthly loan has a repayment day of the month", ev.id)
        if t.method == "bullet":
            raise LoanRuleError("not-applicable", "new_day", "a bullet loan has one due date, its maturity", ev.id)
        rows = self.rows
        j = self._first_after(d)
        if j == len(rows):
            raise LoanRuleError("no-future-installment", "value_date", "no installment falls due after this date",
                                ev.id)
        self._check_relayout(j, ev, "change the repayment day")
        rj = rows[j]
        new_due = _new_due(rj[_DUE], day, d)
        if new_due == rj[_DUE] and self.anchor_day == day:
            raise LoanRuleError("due-day-unchanged", "new_day", f"installments already fall due on day {day}", ev.id)
        unpaid = sum((r[_P] - r[_PP] for r in rows[j:]), self.zero)
        if unpaid <= 0:
            raise LoanRuleError("nothing-to-reschedule", "value_date", "the future principal is already paid", ev.id)
        pool = self._pool(j)
        self.anchor_day = day
        self._relayout(j, rj[_IFROM], rj[_IFIX], new_due, unpaid, count=len(rows) - j, keep=False,
                       reason="due_day_change", d=d, event_id=ev.id)
        self._reapply(pool, ev, d)

    def reschedule(self, ev: Reschedule) -> None:
        t = self.t
        d = ev.value_date
        n = ev.new_term
        if type(n) is not int or not 1 <= n <= MAX_TERM:
            raise LoanRuleError("term-out-of-range", "new_term", f"must be a whole number between 1 and {MAX_TERM}",
                                ev.id)
        if t.method == "bullet":
            raise LoanRuleError("not-applicable", "new_term", "a bullet loan has one installment; it cannot be "
                                "spread over a new term", ev.id)
        rows = self.rows
        j = self._first_after(d)
        if j == len(rows):
            raise LoanRuleError("no-future-installment", "value_date", "no installment falls due after this date",
                                ev.id)
        self._check_relayout(j, ev, "change the term")
        rj = rows[j]
        unpaid = sum((r[_P] - r[_PP] for r in rows[j:]), self.zero)
        if unpaid <= 0:
            raise LoanRuleError("nothing-to-reschedule", "value_date", "the future principal is already paid", ev.id)
        pool = self._pool(j)
        self._relayout(j, rj[_IFROM], rj[_IFIX], rj[_DUE], unpaid, count=n, keep=False,
                       reason="reschedule", d=d, event_id=ev.id)
        self._reapply(pool, ev, d)

    def charge(self, ev: Charge, amount: Decimal) -> None:
        d = ev.value_date
        rows = self.rows
        target = rows[-1]
        for r in rows:
            if r[_DUE] >= d:
                target = r
                break
        target[_F] += amount
        target[_CH] += amount

    def refund(self, ev: Refund, amount: Decimal) -> None:
        held = self.overpayment
        if amount > held:
            raise LoanRuleError("refund-exceeds-overpayment", "amount",
                                f"{amount} is more than the overpayment held on {ev.value_date.isoformat()} ({held})",
                                ev.id)
        self.overpayment = held - amount
        self.refunded += amount

    def write_off(self, ev: WriteOff) -> None:
        d = ev.value_date
        zero = self.zero
        p = i = f = pen = zero
        for r in self.rows:
            p += r[_P] - r[_PP]
            i += self._accrued(r, d) - r[_PI]
            f += self._fees_charged(r, d) - r[_PF]
            pen += r[_PEN] - r[_PPEN]
        self.wo = (p, i, f, pen)
        self.closed, self.closed_on = "written_off", d

    def _fees_charged(self, r, d: date) -> Decimal:
        charged = r[_F] if r[_DUE] <= d else r[_CH]
        return charged if charged >= r[_PF] else r[_PF]

    # -- result -----------------------------------------------------------------------------------

    def result(self, as_of: date) -> LoanState:
        zero = self.zero
        e = self.closed_on or as_of
        rows_out = []
        acc_total = ip = pp = fp = fc = pc = pr = zero
        dpd_row = None
        closed = self.closed
        new = tuple.__new__
        LI = LoanInstallment
        for r in self.rows:
            frm, due = r[_FROM], r[_DUE]
            interest, pi = r[_I], r[_PI]
            if e >= due:
                acc = interest
            elif e <= frm:
                acc = zero
            else:
                acc = self._interest_to(r, e)
            if acc < pi:
                acc = pi
            fees, pf, ch = r[_F], r[_PF], r[_CH]
            fees_c = fees if due <= e else ch
            if fees_c < pf:
                fees_c = pf
            acc_total += acc
            fc += fees_c
            pp += r[_PP]
            ip += pi
            fp += pf
            pc += r[_PEN]
            pr += r[_PPEN]
            unpaid = r[_P] != r[_PP] or interest != pi or fees != pf or r[_PEN] != r[_PPEN]
            if not unpaid:
                status = "paid"
            elif closed == "written_off":
                status = "written_off"
            elif due < as_of:
                status = "overdue"
            elif due == as_of:
                status = "due"
            else:
                status = "future"
            if unpaid and dpd_row is None:
                dpd_row = r
            rows_out.append(new(LI, (r[_NUM], frm, due, r[_P], interest, fees, r[_PEN], r[_PP], pi, pf, r[_PPEN], acc,
                                     status, r[_IFROM], r[_IFIX], fees_c)))
        if closed == "paid_off":
            dpd = 0
        else:
            dpd = (e - dpd_row[_DUE]).days if dpd_row is not None and dpd_row[_DUE] < e else 0
        status = closed or ("overdue" if dpd > 0 else "active")
        upfront = self.upfront
        t = self.t
        wp, wi, wf, wpen = self.wo
        totals = Totals(t.principal.quantize(self.q), upfront, pp, acc_total, ip, fc + upfront, fp + upfront, pc, pr,
                        self.overpayment, wp, wi, wf, wpen, self.refunded)
        o_p = t.principal - pp - wp
        o_i = acc_total - ip - wi
        o_f = fc - fp - wf
        o_pen = pc - pr - wpen
        nxt = None
        if closed is None:
            for r in self.rows:
                if r[_DUE] >= as_of and self._unpaid_any(r):
                    nxt = r[_DUE]
                    break
        return LoanState(as_of, tuple(rows_out), self.versions, self.allocations, status, dpd, bucket_for(dpd),
                         self.closed_on, totals, Outstanding(o_p, o_i, o_f, o_pen, o_p + o_i + o_f + o_pen),
                         self.level, nxt, tuple(self.applied))


def _new_due(current: date, day: int, on: date) -> date:
    """The next installment's new due date: ``day`` in the month it falls due, or the month after
    when that is not after the change date ``on``."""
    nd = add_months(current, 0, day)
    while nd <= on:
        nd = add_months(nd, 1, day)
    return nd


# --- entry points -------------------------------------------------------------------------------

def _check_amount(ev, q: Decimal, places: int, name: str = "amount") -> Decimal:
    amount = ev.amount
    if type(amount) is not Decimal:
        if type(amount) is not int:
            raise LoanRuleError("invalid-amount", name, "must be a Decimal (never a float)", ev.id)
        amount = Decimal(amount)
    if not amount.is_finite() or amount <= 0:
        raise LoanRuleError("amount-not-positive", name, "must be greater than zero", ev.id)
    rounded = amount.quantize(q, context=MONEY_CONTEXT)
    if rounded != amount:
        raise LoanRuleError("invalid-amount", name, f"has more than {places} decimal places", ev.id)
    return rounded


def _sorted(events: Iterable) -> list:
    evs = list(events)
    seen = set()
    for ev in evs:
        if type(ev) not in _EVENT_TYPES:
            raise LoanRuleError("invalid-event", "type", f"unknown event {ev!r}")
        if type(ev.value_date) is not date:
            raise LoanRuleError("invalid-date", "value_date", "must be a date", getattr(ev, "id", None))
        if ev.id in seen:
            raise LoanRuleError("duplicate-event", "id", f"event {ev.id} is given twice", ev.id)
        seen.add(ev.id)
    evs.sort(key=lambda e: (e.value_date, e.rank, e.seq, e.id))
    return evs


def _check_as_of(t, as_of: date) -> None:
    if type(as_of) is not date:
        raise LoanRuleError("invalid-date", "as_of", "must be a date")
    if as_of < t.disbursement_date:
        raise LoanRuleError("before-disbursement", "as_of", "is before the disbursement date")


def _apply(loan: _Loan, ev, as_of: date) -> None:
    """Fold one event (the next in the fold's order) into ``loan``."""
    t = loan.t
    q = loan.q
    places = t.rounding_places
    disb = t.disbursement_date
    d = ev.value_date
    if d < disb:
        raise LoanRuleError("before-disbursement", "value_date",
                            f"{d.isoformat()} is before the disbursement on {disb.isoformat()}", ev.id)
    if d > as_of:
        raise LoanRuleError("future-value-date", "value_date",
                            f"{d.isoformat()} is after the business date {as_of.isoformat()}", ev.id)
    kind = type(ev)
    if kind is Refund:      # money held on the loan: a closed loan takes it (see *Refunds*)
        if loan.closed is None:
            loan.charge_penalty(d)
        loan.refund(ev, _check_amount(ev, q, places))
        loan.applied.append(ev.id)
        return
    if loan.closed is not None:
        raise LoanRuleError("loan-closed", "value_date",
                            f"the loan was {loan.closed.replace('_', ' ')} on {loan.closed_on.isoformat()}", ev.id)
    if kind is Disbursement:
        amount = _check_amount(ev, q, places)
        if d != disb or amount != t.principal:
            raise LoanRuleError("disbursement-mismatch", "amount",
                                "the disbursement is implied by the terms (their principal and date)", ev.id)
        loan.applied.append(ev.id)
        return
    loan.charge_penalty(d)
    if kind is Repayment:
        loan.repayment(ev, _check_amount(ev, q, places))
    elif kind is Prepayment:
        loan.prepayment(ev, _check_amount(ev, q, places))
    elif kind is Charge:
        loan.charge(ev, _check_amount(ev, q, places))
    elif kind is ChangeDueDay:
        loan.change_due_day(ev)
    elif kind is Reschedule:
        loan.reschedule(ev)
    else:
        loan.write_off(ev)
    loan.applied.append(ev.id)


def _fold(terms: LoanTerms, events: Iterable, as_of: date) -> _Loan:
    _check_as_of(terms.schedule, as_of)
    loan = _Loan(terms)
    for ev in _sorted(events):
        _apply(loan, ev, as_of)
    if loan.closed is None:
        loan.charge_penalty(as_of)
    return loan


def _key(ev) -> tuple:
    return (ev.value_date, ev.rank, ev.seq, ev.id)


class Folded:
    """A loan's fold after its events (``events``, in the fold's order), before the penalty up to the
    as-of date: where the next fold of the same loan can go on from (:func:`run_from`).  Never
    changed once made."""
    __slots__ = ("terms", "keys", "as_of", "loan", "events")

    def __init__(self, terms: LoanTerms, keys: list[tuple], as_of: date, loan: _Loan, events: list):
        self.terms, self.keys, self.as_of, self.loan, self.events = terms, keys, as_of, loan, events


def run_from(snapshot: Folded | None, terms: LoanTerms, events: Iterable,
             as_of: date) -> tuple[LoanState, Folded]:
    """:func:`run` — the very same state — and the fold to go on from next time.  When ``snapshot``
    is the fold of the same terms over exactly the events that come before the last one in the
    fold's order (the usual case: a new event dated on or after every other), only that last event
    is folded, into a copy of the snapshot; otherwise every event is, as :func:`run` does.  A fold
    is the events folded one by one in their order, so both give the same state (tested)."""
    with decimal.localcontext(MONEY_CONTEXT):
        evs = _sorted(events)
        keys = [_key(e) for e in evs]
        t = terms.schedule
        _check_as_of(t, as_of)
        if (snapshot is not None and evs and as_of >= snapshot.as_of and snapshot.keys == keys[:-1]
                and (not snapshot.keys or keys[-1] > snapshot.keys[-1]) and snapshot.terms == terms):
            loan = snapshot.loan.copy()
            _apply(loan, evs[-1], as_of)
        else:
            loan = _Loan(terms)
            for ev in evs:
                _apply(loan, ev, as_of)
        folded = Folded(terms, keys, as_of, loan.copy(), evs)
        if loan.closed is None:
            loan.charge_penalty(as_of)
        return loan.result(as_of), folded


def run(terms: LoanTerms, events: Iterable, as_of: date) -> LoanState:
    """The loan's state as of ``as_of`` after its events (any order; sorted here)."""
    with decimal.localcontext(MONEY_CONTEXT):
        return _fold(terms, events, as_of).result(as_of)


def payoff_quote(terms: LoanTerms, events: Iterable, on: date) -> Quote:
    """What pays the loan off on ``on`` (events after ``on`` are left out); valid until ``on``."""
    with decimal.localcontext(MONEY_CONTEXT):
        loan = _fold(terms, [e for e in events if e.value_date <= on], on)
        if loan.closed is not None:
            raise LoanRuleError("loan-closed", "on", f"the loan was {loan.closed.replace('_', ' ')} on "
                                f"{loan.closed_on.isoformat()}")
        zero = loan.zero
        rows = loan.rows
        _, pool, fee = loan._close_out(on)     # on the throwaway fold: what stays unpaid is the quote
        if pool:
            loan._pay(rows, pool, _Rec(), loan.strategy)   # a credit beyond all that is owed stays unused
        p = i_ = f = pen = zero
        for r in rows:
            p += r[_P] - r[_PP]
            i_ += r[_I] - r[_PI]
            f += r[_F] - r[_PF]
            pen += r[_PEN] - r[_PPEN]
        fee_part = fee if f >= fee else f        # the prepayment fee sits in the current row's fees
        return Quote(on, p, i_, f - fee_part, pen, fee_part, p + i_ + f + pen, on, loan.overpayment)


def due_day_change_quote(terms: LoanTerms, events: Iterable, on: date, new_day: int) -> DueDayQuote:
    """The schedule after moving the repayment day to ``new_day`` on ``on``, with the broken
    period's interest, before the borrower confirms."""
    with decimal.localcontext(MONEY_CONTEXT):
        loan = _fold(terms, [e for e in events if e.value_date <= on], on)
        if loan.closed is not None:
            raise LoanRuleError("loan-closed", "on", f"the loan was {loan.closed.replace('_', ' ')} on "
                                f"{loan.closed_on.isoformat()}")
        j = loan._first_after(on)
        old_due = loan.rows[j][_DUE] if j < len(loan.rows) else None
        loan.change_due_day(ChangeDueDay("quote", on, new_day))
        r = loan.rows[j]
        return DueDayQuote(on, new_day, old_due, r[_DUE], r[_FROM], (r[_DUE] - r[_FROM]).days, r[_I], loan.level,
                           loan.versions[-1].installments, on)
