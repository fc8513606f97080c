"""Loan-product rules: pure (stdlib, :mod:`openlend.money` and the schedule engine; no database, no web).

A product *config* here is a plain dict with ``Decimal`` amounts and rates, the shape of the JSON a
lender sends (see ``docs`` in :mod:`openlend.products`), after :func:`normalize` has filled every
default in, so that a stored version says everything about itself:

    name, currency, method, frequency {unit, every}, interest_basis, day_count,
    rate {min, max, default}, term {min, max, allowed}, amount {min, max},
    grace {principal_periods, interest_periods, interest_free_periods},
    fees [{name, kind, calculation, value}], penalty {calculation, value},
    prepayment_fee {calculation, value}, allocation {order, strategy},
    rounding {places, mode, installment_multiple, installment_rounding}, apr_cap

:func:`violations` lists every broken field rule; :func:`worst_case_apr` runs the schedule engine
over the corners of the product; :func:`check_product` does both and raises.  Other domains build a
loan's schedule from a product version with :func:`schedule_terms_for`.

Why the APR cap is checked against the *nominal* APR
    China's 24 % ceiling (and the PBoC's 2021 rule on how lenders state an annualised rate) is an
    annual rate computed by the IRR method and annualised *without* compounding: the periodic
    IRR times the periods in a year.  That is the engine's ``APR.nominal``.  The engine's
    ``effective`` figure (XIRR on the actual dates, compounded) is reported beside it, but a
    23.9 % monthly loan with no fees has an effective APR of about 26.7 % and is nonetheless a
    23.9 % loan in the law's sense, so comparing the effective figure with the cap would refuse
    every product priced near the ceiling.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from openlend.money import ISO_CURRENCIES, currency_places, round_money, to_str
from openlend.schedule.dates import YEAR_DAYS as _YEAR_DAYS
from openlend.schedule.engine import Fee, Frequency, ScheduleInputError, ScheduleTerms, generate

METHODS = ("equal_installment", "equal_principal", "flat", "interest_only", "bullet")
UNITS = ("month", "week", "day")
BASES = ("period", "daily")
DAY_COUNTS = ("30/360", "ACT/360", "ACT/365", "ACT/364", "ACT/ACT")
ROUNDING_MODES = ("half_even", "half_up", "half_down", "up", "down", "ceiling", "floor")
FEE_KINDS = ("upfront", "each_installment")
FEE_CALCULATIONS = ("fixed", "percent")
PENALTY_CALCULATIONS = ("multiplier", "fixed_rate")
PREPAYMENT_FEE_CALCULATIONS = ("none", "fixed", "percent")
COMPONENTS = ("penalty", "fees", "interest", "principal")
STRATEGIES = ("installment_first", "component_first")

DEFAULT_ALLOCATION_ORDER = ["penalty", "fees", "interest", "principal"]
DEFAULT_PENALTY = {"calculation": "multiplier", "value": Decimal("1.5")}  # 1.5x the contract rate (China)

MAX_TERM = 1200            # periods; the engine's limit
MAX_EVERY = 366
MAX_RATE = Decimal(1000)   # percent a year; a typo guard, the engine's limit
MAX_PENALTY_MULTIPLIER = Decimal(10)
MAX_RATE_PLACES = 6        # "17.999999" is already more precision than any contract states
MAX_FEES = 20
SCAN_SHORT_TERMS = 36      # a term range's shortest terms, each weighed for the worst APR ...
SCAN_LONG_TERMS = 12       # ... then this many spread over the rest, the longest included

_HUNDRED = Decimal(100)
_ZERO = Decimal(0)
# Dates the worst case is evaluated on (see corner_dates).
_REFERENCE_DATE = date(2024, 1, 1)
_DAILY_DATES = tuple(date(2023 + (m + 2) // 12, (m + 2) % 12 + 1, 1) for m in range(12))  # 2023-03-01 .. 2024-02-01
_LONG_DATES = (date(2023, 7, 1), date(2023, 12, 1), date(2024, 1, 1))


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: ``field`` is dotted (``rate.max``, ``fees.0.value``)."""

    field: str
    detail: str


class InvalidProduct(ValueError):
    def __init__(self, violations: list[Violation]):
        self.violations = violations
        super().__init__("; ".join(f"{v.field}: {v.detail}" for v in violations))


@dataclass(frozen=True, slots=True)
class AprCorner:
    """The APR of one combination of the product's limits (percent, 4 places)."""

    annual_rate: Decimal
    amount: Decimal
    term: int
    disbursement_date: date
    nominal: Decimal
    effective: Decimal

    def describe(self, currency: str) -> str:
        return (f"rate {self.annual_rate}% on {self.amount} {currency} over {self.term} "
                f"period{'s' if self.term != 1 else ''}, disbursed {self.disbursement_date.isoformat()}")


class AprCapExceeded(ValueError):
    def __init__(self, worst: AprCorner, cap: Decimal, currency: str):
        self.worst = worst
        self.cap = cap
        self.currency = currency
        super().__init__(f"The worst-case APR {worst.nominal}% (effective {worst.effective}%) at "
                         f"{worst.describe(currency)} exceeds the APR cap of {cap}%.")


class OutsideProductLimits(ValueError):
    """A loan's principal, term or rate that the product does not allow."""

    def __init__(self, violations: list[Violation]):
        self.violations = violations
        super().__init__("; ".join(f"{v.field}: {v.detail}" for v in violations))


# --- defaults -----------------------------------------------------------------------------------

def normalize(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with every default written in (a stored version is self-contained).

    Expects the shape the request schema guarantees (types right, optional parts ``None`` or
    absent); leaves contradictions for :func:`violations` to report.
    """
    c = copy.deepcopy(dict(config))
    c.setdefault("frequency", None)
    c["frequency"] = {"unit": "month", "every": 1, **(c["frequency"] or {})}
    c["interest_basis"] = c.get("interest_basis") or "period"
    if not c.get("day_count"):
        c["day_count"] = "30/360" if c["interest_basis"] == "period" else "ACT/365"

    rate = dict(c.get("rate") or {})
    default = rate.get("default")
    rate["min"] = default if rate.get("min") is None else rate["min"]
    rate["max"] = default if rate.get("max") is None else rate["max"]
    if default is None:
        rate["default"] = None
    c["rate"] = rate

    term = dict(c.get("term") or {})
    allowed = term.get("allowed")
    if allowed is not None and len(allowed) == 0:
        term.setdefault("min", None)
        term.setdefault("max", None)   # an empty list is reported by violations()
    elif allowed:
        allowed = sorted(allowed)
        term["allowed"] = allowed
        term["min"] = allowed[0] if term.get("min") is None else term["min"]
        term["max"] = allowed[-1] if term.get("max") is None else term["max"]
    else:
        term["allowed"] = None
        term.setdefault("min", None)
        term.setdefault("max", None)
    c["term"] = term

    c["amount"] = {"min": None, "max": None, **(c.get("amount") or {})}
    c["grace"] = {"principal_periods": 0, "interest_periods": 0, "interest_free_periods": 0,
                  **{k: v for k, v in (c.get("grace") or {}).items() if v is not None}}
    c["fees"] = [dict(f) for f in (c.get("fees") or [])]
    penalty = {k: v for k, v in (c.get("penalty") or {}).items() if v is not None}
    if penalty.get("calculation", "multiplier") == "multiplier":
        penalty = {**DEFAULT_PENALTY, **penalty}
    c["penalty"] = {"calculation": penalty.get("calculation"), "value": penalty.get("value")}
    prepay = {k: v for k, v in (c.get("prepayment_fee") or {}).items() if v is not None}
    calculation = prepay.get("calculation", "none")
    c["prepayment_fee"] = {"calculation": calculation,
                           "value": prepay.get("value", Decimal(0) if calculation == "none" else None)}
    c["allocation"] = {"order": list(DEFAULT_ALLOCATION_ORDER), "strategy": "installment_first",
                       **{k: v for k, v in (c.get("allocation") or {}).items() if v is not None}}
    rounding = {k: v for k, v in (c.get("rounding") or {}).items() if v is not None}
    currency = c.get("currency") or ""
    c["rounding"] = {"places": currency_places(currency), "mode": "half_even", "installment_multiple": None,
                     "installment_rounding": "half_even", **rounding}
    c.setdefault("apr_cap", None)
    return c


# --- field rules --------------------------------------------------------------------------------

def _places(value: Decimal) -> int:
    exp = value.normalize().as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def violations(c: Mapping[str, Any], *, platform_cap: Decimal | None = None) -> list[Violation]:
    """Every rule ``c`` (a :func:`normalize`\\ d config) breaks; empty when it is a valid product."""
    out: list[Violation] = []

    def bad(field: str, detail: str) -> None:
        out.append(Violation(field, detail))

    name = c.get("name")
    if not isinstance(name, str) or not name.strip():
        bad("name", "must be a non-empty string")
    elif len(name) > 200:
        bad("name", "must be at most 200 characters")

    currency = c.get("currency")
    if currency not in ISO_CURRENCIES:
        bad("currency", "must be an ISO 4217 currency code in upper case, such as CNY")
        currency = None
    _choice(bad, "method", c.get("method"), METHODS)
    method = c.get("method")
    freq = c["frequency"]
    _choice(bad, "frequency.unit", freq.get("unit"), UNITS)
    _int_between(bad, "frequency.every", freq.get("every"), 1, MAX_EVERY)
    _choice(bad, "interest_basis", c.get("interest_basis"), BASES)
    _choice(bad, "day_count", c.get("day_count"), DAY_COUNTS)

    # Rounding first: amounts are checked against its places.
    r = c["rounding"]
    places = r.get("places")
    ccy_places = currency_places(currency) if currency else 9
    if _int_between(bad, "rounding.places", places, 0, 9) and places > ccy_places:
        bad("rounding.places", f"must be at most {ccy_places}, the minor units of {currency}")
    if not isinstance(places, int) or isinstance(places, bool) or not 0 <= places <= 9:
        places = ccy_places if currency else 2
    _choice(bad, "rounding.mode", r.get("mode"), ROUNDING_MODES)
    _choice(bad, "rounding.installment_rounding", r.get("installment_rounding"), ROUNDING_MODES)
    multiple = r.get("installment_multiple")
    if multiple is not None:
        if multiple <= 0:
            bad("rounding.installment_multiple", "must be greater than zero")
        elif _places(multiple) > places:
            bad("rounding.installment_multiple", f"must have at most {places} decimal places")
        elif method in ("interest_only", "bullet"):
            bad("rounding.installment_multiple", f"applies to level installments; {method} has none")

    # Rates: min <= default <= max, within the engine's range.
    rate = c["rate"]
    rmin, rdef, rmax = rate.get("min"), rate.get("default"), rate.get("max")
    if rdef is None:
        bad("rate.default", "is required")
    for key, value in (("min", rmin), ("default", rdef), ("max", rmax)):
        if value is None:
            continue
        if value < 0 or value > MAX_RATE:
            bad(f"rate.{key}", f"must be between 0 and {MAX_RATE} (percent a year)")
        elif _places(value) > MAX_RATE_PLACES:
            bad(f"rate.{key}", f"must have at most {MAX_RATE_PLACES} decimal places")
    if rmin is not None and rmax is not None and rmin > rmax:
        bad("rate.max", f"must be at least rate.min ({rmin})")
    elif rdef is not None and rmin is not None and rmax is not None and not rmin <= rdef <= rmax:
        bad("rate.default", f"must be between rate.min ({rmin}) and rate.max ({rmax})")

    # Terms.
    term = c["term"]
    tmin, tmax, allowed = term.get("min"), term.get("max"), term.get("allowed")
    ok_terms = True
    for key, value in (("min", tmin), ("max", tmax)):
        if value is None:
            bad(f"term.{key}", "is required (or give term.allowed)")
            ok_terms = False
        elif not _int_between(bad, f"term.{key}", value, 1, MAX_TERM):
            ok_terms = False
    if ok_terms and tmin > tmax:
        bad("term.max", f"must be at least term.min ({tmin})")
        ok_terms = False
    if allowed is not None:
        if len(allowed) == 0:
            bad("term.allowed", "must list at least one term, or be left out")
        if len(set(allowed)) != len(allowed):
            bad("term.allowed", "must not repeat a term")
        if ok_terms:
            outside = [t for t in allowed if not tmin <= t <= tmax]
            if outside:
                bad("term.allowed", f"terms {outside} are outside term.min..term.max ({tmin}..{tmax})")
    shortest = tmin if ok_terms else None

    # Amounts.
    amount = c["amount"]
    amin, amax = amount.get("min"), amount.get("max")
    for key, value in (("min", amin), ("max", amax)):
        if value is None:
            bad(f"amount.{key}", "is required")
        elif value <= 0:
            bad(f"amount.{key}", "must be greater than zero")
        elif _places(value) > places:
            bad(f"amount.{key}", f"must have at most {places} decimal places")
    if amin is not None and amax is not None and amin > amax:
        bad("amount.max", f"must be at least amount.min ({amin})")

    # Grace: counted from the first period, so it must leave the shortest term something to repay.
    grace = c["grace"]
    for key in ("principal_periods", "interest_periods", "interest_free_periods"):
        _int_between(bad, f"grace.{key}", grace.get(key), 0, MAX_TERM)
    gp, gi, gf = grace.get("principal_periods"), grace.get("interest_periods"), grace.get("interest_free_periods")
    if method == "bullet":
        for key, value in (("principal_periods", gp), ("interest_periods", gi)):
            if isinstance(value, int) and value:
                bad(f"grace.{key}", "does not apply to bullet loans: everything is due at maturity")
    elif method == "interest_only" and isinstance(gp, int) and gp:
        bad("grace.principal_periods", "does not apply to interest_only loans: no principal is due before the last period")
    if shortest is not None:
        if isinstance(gp, int) and gp >= shortest and method not in ("bullet", "interest_only"):
            bad("grace.principal_periods", f"must be less than the shortest term ({shortest})")
        if isinstance(gi, int) and gi >= shortest and method != "bullet":
            bad("grace.interest_periods", f"must be less than the shortest term ({shortest})")
        if isinstance(gf, int) and gf > shortest:
            bad("grace.interest_free_periods", f"must be at most the shortest term ({shortest})")

    # Fees.
    fees = c["fees"]
    if len(fees) > MAX_FEES:
        bad("fees", f"must list at most {MAX_FEES} fees")
    seen: set[str] = set()
    upfront_fixed, upfront_percent = _ZERO, _ZERO
    for i, fee in enumerate(fees):
        fname = fee.get("name")
        if not isinstance(fname, str) or not fname.strip():
            bad(f"fees.{i}.name", "must be a non-empty string")
        elif len(fname) > 64:
            bad(f"fees.{i}.name", "must be at most 64 characters")
        elif fname in seen:
            bad(f"fees.{i}.name", f"repeats the fee name {fname!r}")
        else:
            seen.add(fname)
        _choice(bad, f"fees.{i}.kind", fee.get("kind"), FEE_KINDS)
        _choice(bad, f"fees.{i}.calculation", fee.get("calculation"), FEE_CALCULATIONS)
        value = fee.get("value")
        if value is None:
            bad(f"fees.{i}.value", "is required")
        elif value < 0:
            bad(f"fees.{i}.value", "must not be negative")
        elif fee.get("calculation") == "percent":
            if value > _HUNDRED:
                bad(f"fees.{i}.value", "a percent fee must be at most 100")
            elif _places(value) > MAX_RATE_PLACES:
                bad(f"fees.{i}.value", f"must have at most {MAX_RATE_PLACES} decimal places")
            elif fee.get("kind") == "upfront":
                upfront_percent += value
        elif fee.get("calculation") == "fixed":
            if _places(value) > places:
                bad(f"fees.{i}.value", f"must have at most {places} decimal places")
            elif fee.get("kind") == "upfront":
                upfront_fixed += value
    if amin is not None and amin > 0 and upfront_fixed + amin * upfront_percent / _HUNDRED >= amin:
        bad("fees", f"upfront fees must be less than the smallest amount ({amin}): nothing would be paid out")

    # Penalty interest on overdue principal.
    pen = c["penalty"]
    if _choice(bad, "penalty.calculation", pen.get("calculation"), PENALTY_CALCULATIONS):
        pv = pen.get("value")
        if pv is None:
            bad("penalty.value", f"is required when calculation is {pen['calculation']}")
        elif pv < 0:
            bad("penalty.value", "must be zero or more")
        elif pen["calculation"] == "multiplier" and pv > MAX_PENALTY_MULTIPLIER:
            bad("penalty.value", f"a multiplier of the contract rate must be at most {MAX_PENALTY_MULTIPLIER}")
        elif pen["calculation"] == "fixed_rate" and pv > MAX_RATE:
            bad("penalty.value", f"must be at most {MAX_RATE} (percent a year)")
        elif _places(pv) > MAX_RATE_PLACES:
            bad("penalty.value", f"must have at most {MAX_RATE_PLACES} decimal places")

    # Prepayment fee (none by default: prepaying costs nothing).
    pre = c["prepayment_fee"]
    if _choice(bad, "prepayment_fee.calculation", pre.get("calculation"), PREPAYMENT_FEE_CALCULATIONS):
        pv = pre.get("value")
        if pre["calculation"] == "none":
            if pv not in (None, _ZERO):
                bad("prepayment_fee.value", "must be left out (or 0) when calculation is none")
        elif pv is None:
            bad("prepayment_fee.value", f"is required when calculation is {pre['calculation']}")
        elif pv < 0:
            bad("prepayment_fee.value", "must be zero or more")
        elif pre["calculation"] == "percent" and pv > _HUNDRED:
            bad("prepayment_fee.value", "a percent fee must be at most 100")
        elif pre["calculation"] == "fixed" and _places(pv) > places:
            bad("prepayment_fee.value", f"must have at most {places} decimal places")

    # Repayment allocation.
    alloc = c["allocation"]
    order = alloc.get("order")
    if not isinstance(order, list) or sorted(order) != sorted(COMPONENTS):
        bad("allocation.order", "must list each of " + ", ".join(COMPONENTS) + " exactly once")
    _choice(bad, "allocation.strategy", alloc.get("strategy"), STRATEGIES)

    # APR cap: a product may only be stricter than the platform.
    cap = c.get("apr_cap")
    if cap is not None:
        if cap <= 0:
            bad("apr_cap", "must be greater than zero")
        elif platform_cap is not None and cap > platform_cap:
            bad("apr_cap", f"must be at most the platform's APR cap ({platform_cap}%); a product may only set a lower one")
    return out


def _choice(bad, field: str, value: Any, choices: tuple[str, ...]) -> bool:
    if value not in choices:
        bad(field, "must be one of " + ", ".join(choices))
        return False
    return True


def _int_between(bad, field: str, value: Any, low: int, high: int) -> bool:
    if isinstance(value, bool) or not isinstance(value, int):
        bad(field, "must be a whole number")
        return False
    if not low <= value <= high:
        bad(field, f"must be between {low} and {high}")
        return False
    return True


# --- worst-case APR -----------------------------------------------------------------------------

def corner_terms(c: Mapping[str, Any]) -> list[int]:
    """The terms the worst case is sought over: every allowed term; or, for a range, each of its
    shortest ``SCAN_SHORT_TERMS`` terms, then an even spread up to the longest.  Fixed upfront fees
    weigh most on the shortest term, fixed per-installment fees on the longest, and together they
    can peak in between, nearly always among the short terms."""
    term = c["term"]
    if term.get("allowed"):
        return sorted(set(term["allowed"]))
    lo, hi = term["min"], term["max"]
    short = list(range(lo, min(hi, lo + SCAN_SHORT_TERMS - 1) + 1))
    if short[-1] == hi:
        return short
    start = short[-1]
    spread = {start + round((hi - start) * i / SCAN_LONG_TERMS) for i in range(1, SCAN_LONG_TERMS + 1)}
    return short + sorted(spread | {hi})


def corner_dates(c: Mapping[str, Any], term: int) -> tuple[date, ...]:
    """The disbursement dates a term is weighed on.

    With the period basis a schedule's interest does not depend on the calendar: one date.  With
    the daily basis, periods of a month (or any period under ACT/ACT, which knows leap years) differ
    in length, so a schedule of up to two years is tried from the first of every month over a year
    that ends in a leap February; a longer one, whose average period is all but fixed, from three
    starts that open on long months (July-August, December-January, January-leap February).
    """
    if c["interest_basis"] != "daily":
        return (_REFERENCE_DATE,)
    unit, every = c["frequency"]["unit"], c["frequency"]["every"]
    if unit != "month" and c["day_count"] != "ACT/ACT":
        return (_REFERENCE_DATE,)
    span_days = term * every * {"month": 31, "week": 7, "day": 1}[unit]
    return _DAILY_DATES if span_days <= 2 * 366 else _LONG_DATES


def worst_case_apr(c: Mapping[str, Any]) -> AprCorner:
    """The highest nominal APR over the product's corners: the maximum rate, the smallest and the
    largest amount, every term from :func:`corner_terms`, every date from :func:`corner_dates`,
    with all fees.  ``c`` must be valid (no :func:`violations`).

    Every corner's schedule is generated, and its nominal APR estimated in floating point (the
    engine's exact Decimal APR costs about 2 ms, twenty times the schedule itself); the corners
    within a hair of the highest estimate then get the engine's exact figures, which decide.
    """
    rate = c["rate"]["max"]
    amounts = sorted({c["amount"]["min"], c["amount"]["max"]})
    screened: list[tuple[float, int, Any]] = []
    for term in corner_terms(c):
        for when in corner_dates(c, term):
            for amount in amounts:
                terms = schedule_terms_for(c, principal=amount, term=term, annual_rate=rate,
                                           disbursement_date=when, check_limits=False)
                schedule = generate(terms)
                screened.append((_nominal_estimate(schedule), len(screened), schedule))
    screened.sort(key=lambda x: x[:2], reverse=True)
    top = screened[0][0]
    worst: AprCorner | None = None
    for estimate, _, schedule in screened[:_EXACT_CANDIDATES]:
        if estimate < top - _SCREEN_MARGIN * max(1.0, abs(top)):
            break
        apr = schedule.apr()
        if worst is None or (apr.nominal, apr.effective) > (worst.nominal, worst.effective):
            t = schedule.terms
            worst = AprCorner(rate, t.principal, t.term, t.disbursement_date, apr.nominal, apr.effective)
    assert worst is not None
    return worst


_EXACT_CANDIDATES = 8
_SCREEN_MARGIN = 1e-3   # relative: float estimates this close to the top are settled exactly


def _nominal_estimate(schedule: Any) -> float:
    """The nominal APR (percent) of a schedule in floating point, on the engine's convention: net
    disbursed at time 0, installment *k* at period *k* (a bullet's one installment at period
    ``term``), the periodic IRR times the periods in a year."""
    t = schedule.terms
    rows = schedule.installments
    net = float(schedule.net_disbursed)
    times = [t.term] if t.method == "bullet" else [r.number for r in rows]
    flows = [(float(r.total), k) for r, k in zip(rows, times)]
    unit, every = t.frequency.unit, t.frequency.every
    per_year = (12 if unit == "month" else 52 if unit == "week" else _YEAR_DAYS[t.day_count]) / every

    def npv(r: float) -> float:
        return sum(cf * (1.0 + r) ** -k for cf, k in flows) - net

    lo, hi = -0.99, 1.0
    while npv(hi) > 0 and hi < 1e6:
        hi *= 2
    r = min(max(float(t.annual_rate) / 100 / per_year, lo), hi)
    for _ in range(100):
        f = npv(r)
        if abs(f) < 1e-12 * max(net, 1.0):
            break  # r is the root: stop before a bisection step moves away from it
        if f > 0:
            lo = r
        else:
            hi = r
        slope = sum(-k * cf * (1.0 + r) ** (-k - 1) for cf, k in flows)
        step = r - f / slope if slope else (lo + hi) / 2
        r = step if lo < step < hi else (lo + hi) / 2
        if hi - lo < 1e-15:
            break
    return r * per_year * 100


def effective_cap(c: Mapping[str, Any], platform_cap: Decimal) -> Decimal:
    cap = c.get("apr_cap")
    return platform_cap if cap is None else min(cap, platform_cap)


def check_product(config: Mapping[str, Any], *, platform_cap: Decimal) -> tuple[dict[str, Any], AprCorner]:
    """Normalise and check a product: ``(config, worst corner)``, or :class:`InvalidProduct` /
    :class:`AprCapExceeded`."""
    c = normalize(config)
    found = violations(c, platform_cap=platform_cap)
    if found:
        raise InvalidProduct(found)
    try:
        worst = worst_case_apr(c)
    except ScheduleInputError as exc:  # a combination the field rules did not foresee
        raise InvalidProduct([Violation(_engine_field(exc.field), exc.message)]) from None
    cap = effective_cap(c, platform_cap)
    if worst.nominal > cap:
        raise AprCapExceeded(worst, cap, c["currency"])
    return c, worst


_ENGINE_FIELDS = {"principal": "amount.min", "annual_rate": "rate.max", "term": "term.min",
                  "installment_multiple": "rounding.installment_multiple",
                  "installment_rounding": "rounding.installment_rounding",
                  "grace_principal_periods": "grace.principal_periods",
                  "grace_interest_periods": "grace.interest_periods",
                  "interest_free_periods": "grace.interest_free_periods"}


def _engine_field(field: str | None) -> str:
    if not field:
        return ""
    if field.startswith("fees"):
        return "fees"
    return _ENGINE_FIELDS.get(field, field)


# --- from a product version to a loan's schedule ------------------------------------------------

def loan_terms_violations(product: Mapping[str, Any], *, principal: Decimal, term: int,
                          annual_rate: Decimal) -> list[Violation]:
    """What in a loan's principal, term and rate the product does not allow."""
    out = []
    amount = product["amount"]
    if not amount["min"] <= principal <= amount["max"]:
        out.append(Violation("principal", f"must be between {amount['min']} and {amount['max']} {product['currency']}"))
    t = product["term"]
    if t.get("allowed"):
        if term not in t["allowed"]:
            out.append(Violation("term", "must be one of " + ", ".join(str(x) for x in t["allowed"])))
    elif not t["min"] <= term <= t["max"]:
        out.append(Violation("term", f"must be between {t['min']} and {t['max']}"))
    rate = product["rate"]
    if not rate["min"] <= annual_rate <= rate["max"]:
        out.append(Violation("annual_rate", f"must be between {rate['min']} and {rate['max']} (percent a year)"))
    return out


def fee_amounts(product: Mapping[str, Any], principal: Decimal) -> tuple[Fee, ...]:
    """The product's fees as amounts for a loan of ``principal``: a percent fee is that percent of
    the principal, rounded to the product's places with its rounding mode."""
    r = product["rounding"]
    out = []
    for fee in product["fees"]:
        if fee["calculation"] == "percent":
            amount = round_money(principal * fee["value"] / _HUNDRED, r["places"], r["mode"])
        else:
            amount = fee["value"]
        out.append(Fee(fee["name"], amount, fee["kind"]))
    return tuple(out)


def schedule_terms_for(product: Mapping[str, Any], *, principal: Decimal, term: int,
                       annual_rate: Decimal | None = None, disbursement_date: date,
                       first_due_date: date | None = None, check_limits: bool = True) -> ScheduleTerms:
    """The engine's terms for a loan on this product version.

    ``product`` is a product (or its config) as :func:`openlend.products.service.get_product_version`
    gives it, with Decimals.  ``annual_rate`` defaults to the product's default rate.  With
    ``check_limits`` (the default) a principal, term or rate outside the product raises
    :class:`OutsideProductLimits`; the engine's own checks raise ``ScheduleInputError``.
    """
    rate = product["rate"]["default"] if annual_rate is None else annual_rate
    if check_limits:
        found = loan_terms_violations(product, principal=principal, term=term, annual_rate=rate)
        if found:
            raise OutsideProductLimits(found)
    r = product["rounding"]
    g = product["grace"]
    f = product["frequency"]
    return ScheduleTerms(
        principal=principal, annual_rate=rate, method=product["method"], term=term,
        frequency=Frequency(f["unit"], f["every"]), disbursement_date=disbursement_date,
        first_due_date=first_due_date, interest_basis=product["interest_basis"], day_count=product["day_count"],
        rounding_places=r["places"], rounding_mode=r["mode"], installment_multiple=r["installment_multiple"],
        installment_rounding=r["installment_rounding"], grace_principal_periods=g["principal_periods"],
        grace_interest_periods=g["interest_periods"], interest_free_periods=g["interest_free_periods"],
        fees=fee_amounts(product, principal))


def penalty_annual_rate(product: Mapping[str, Any], contract_rate: Decimal) -> Decimal:
    """The penalty interest rate on overdue principal, percent a year, for a loan at ``contract_rate``."""
    pen = product["penalty"]
    if pen["calculation"] == "multiplier":
        return contract_rate * pen["value"]
    return pen["value"]


def prepayment_fee_amount(product: Mapping[str, Any], prepaid_principal: Decimal) -> Decimal:
    """The fee for prepaying ``prepaid_principal`` (zero unless the product sets one)."""
    pre = product["prepayment_fee"]
    r = product["rounding"]
    if pre["calculation"] == "none":
        return round_money(_ZERO, r["places"])
    if pre["calculation"] == "fixed":
        return round_money(pre["value"], r["places"])
    return round_money(prepaid_principal * pre["value"] / _HUNDRED, r["places"], r["mode"])


def terms_of(product: Mapping[str, Any]) -> Iterable[int]:
    """The terms a loan on this product may have, shortest first."""
    t = product["term"]
    return t["allowed"] if t.get("allowed") else range(t["min"], t["max"] + 1)


# --- JSON form (what the database stores and the API shows) -------------------------------------

def _str(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def config_to_json(c: Mapping[str, Any]) -> dict[str, Any]:
    """A normalised config with its Decimals as decimal strings (``"18.5"``, never a JSON number)."""
    places = currency_places(c["currency"])

    def money(value: Decimal | None) -> str | None:  # amounts show the currency's minor units: "500.00"
        return None if value is None else to_str(value, max(places, _places(value)))

    def fee_value(calculation: str, value: Decimal | None) -> str | None:
        return money(value) if calculation == "fixed" else _str(value)

    j = copy.deepcopy(dict(c))
    j["rate"] = {k: _str(v) for k, v in c["rate"].items()}
    j["amount"] = {k: money(v) for k, v in c["amount"].items()}
    j["fees"] = [{**f, "value": fee_value(f["calculation"], f["value"])} for f in c["fees"]]
    j["penalty"] = {**c["penalty"], "value": _str(c["penalty"]["value"])}
    pre = c["prepayment_fee"]
    j["prepayment_fee"] = {**pre, "value": fee_value(pre["calculation"], pre["value"])}
    j["rounding"] = {**c["rounding"], "installment_multiple": money(c["rounding"]["installment_multiple"])}
    j["apr_cap"] = _str(c.get("apr_cap"))
    return j


def config_from_json(j: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`config_to_json`."""
    c = copy.deepcopy(dict(j))
    c["rate"] = {k: _dec(v) for k, v in j["rate"].items()}
    c["amount"] = {k: _dec(v) for k, v in j["amount"].items()}
    c["fees"] = [{**f, "value": _dec(f["value"])} for f in j["fees"]]
    c["penalty"] = {**j["penalty"], "value": _dec(j["penalty"]["value"])}
    c["prepayment_fee"] = {**j["prepayment_fee"], "value": _dec(j["prepayment_fee"]["value"])}
    c["rounding"] = {**j["rounding"], "installment_multiple": _dec(j["rounding"]["installment_multiple"])}
    c["apr_cap"] = _dec(j.get("apr_cap"))
    return c


def corner_to_json(w: AprCorner, cap: Decimal, currency: str) -> dict[str, Any]:
    """The worst corner as shown on a product version (and in an ``apr-cap-exceeded`` problem)."""
    places = currency_places(currency)
    return {"nominal": _str(w.nominal), "effective": _str(w.effective), "cap": _str(cap),
            "annual_rate": _str(w.annual_rate), "amount": to_str(w.amount, max(places, _places(w.amount))),
            "term": w.term,
            "disbursement_date": w.disbursement_date.isoformat()}
