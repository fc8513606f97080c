"""Limit and price (核算): how much to lend and at what rate, from the score band, the declared income
and the existing debt.  Pure: Decimal arithmetic, the policy's tables and the product's limits.

Limit
    ``band_limit   = band max_limit x housing factor x education factor``
    ``income_limit = income_multiple(band) x (monthly_income - monthly_debt_service)``
    ``limit        = floor_to_multiple(min(band_limit, income_limit, policy_cap, product amount.max))``
    The existing monthly debt service is the bureau's stated monthly repayment when the report gives
    it, else ``debt_service_rate x outstanding balance`` (3 % a month by default: roughly the
    instalment of a 3-year amortising loan, and the minimum payment of a card).  A limit below the
    product's ``amount.min`` is a decline with ``LIMIT_BELOW_PRODUCT_MIN``.

Price
    ``rate = rate.min + rate_position(band) x (rate.max - rate.min)``, rounded *down* to
    ``rate_places`` (never above the band's figure, never outside the product's range).  Then the
    APR of that rate is checked against the cap (:func:`openlend.products.rules.effective_cap`:
    the product's own cap or the platform's, whichever is lower) with the products domain's own
    worst-case search (:func:`openlend.products.rules.worst_case_apr`) over the product's terms
    and fees and the amounts a drawdown may have (``amount.min`` .. the limit).  Rounding and fees
    can put the nominal APR above the nominal rate (18 % on 1000 over 10 months is 18.0010 %), so
    the check is real, not a formality: if the band's rate is over the cap, the highest rate step
    that is within it is offered instead; if even ``rate.min`` is over, the decision is a decline
    with ``APR_CAP_EXCEEDED``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from openlend.money import round_money, round_to_multiple, to_str
from openlend.products import rules as product_rules

from .policy import EDUCATION, HOUSING, InvalidPolicy, PolicyProblem

ZERO = Decimal(0)
ONE = Decimal(1)
MONEY_PLACES = 2
LIMIT_BELOW_PRODUCT_MIN = ("LIMIT_BELOW_PRODUCT_MIN", "The affordable limit is below the product's smallest loan")
APR_CAP_EXCEEDED = ("APR_CAP_EXCEEDED", "No rate in the product's range keeps the APR within the cap")


# --------------------------------------------------------------------------------------------------
# Tables (read from the policy document; decimals are strings there)


def _dec(raw: Any, path: str, bad, *, low: Decimal | None = ZERO, high: Decimal | None = None,
         positive: bool = False) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        bad(path, "must be a decimal string such as \"1.5\"")
        return ZERO
    try:
        d = Decimal(raw)
    except ArithmeticError:
        bad(path, "must be a decimal string such as \"1.5\"")
        return ZERO
    if not d.is_finite():
        bad(path, "must be finite")
    elif positive and d <= 0:
        bad(path, "must be greater than zero")
    elif low is not None and d < low:
        bad(path, f"must be at least {low}")
    elif high is not None and d > high:
        bad(path, f"must be at most {high}")
    return d


def _section(raw: Any, path: str, keys: set[str], bad) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        bad(path, "must be an object")
        return {}
    for k in sorted(set(raw) - keys):
        bad(f"{path}.{k}", "unknown field")
    return raw


def _per_value(raw: Any, path: str, values: tuple[str, ...], bad, read) -> dict[str, Any]:
    """A table with exactly one entry per value (band, housing status ...): no gaps, no strays."""
    if not isinstance(raw, Mapping):
        bad(path, "must be an object with an entry for each of " + ", ".join(values))
        return {}
    for k in sorted(set(raw) - set(values)):
        bad(f"{path}.{k}", "is not one of " + ", ".join(values))
    out = {}
    for v in values:
        if v not in raw:
            bad(f"{path}.{v}", "is missing")
        else:
            out[v] = read(raw[v], f"{path}.{v}")
    return out


def limit_table(raw: Any, bands: tuple[str, ...]) -> dict[str, Any]:
    problems: list[PolicyProblem] = []

    def bad(path: str, detail: str) -> None:
        problems.append(PolicyProblem(path, detail))

    s = _section(raw, "limit", {"rounding_multiple", "policy_cap", "debt_service_rate", "bands",
                                "housing_factors", "education_factors"}, bad)

    def band_entry(e: Any, path: str) -> dict[str, Decimal]:
        e = _section(e, path, {"max_limit", "income_multiple"}, bad)
        return {"max_limit": _dec(e.get("max_limit"), f"{path}.max_limit", bad),
                "income_multiple": _dec(e.get("income_multiple"), f"{path}.income_multiple", bad)}

    def factor(e: Any, path: str) -> Decimal:
        return _dec(e, path, bad, high=Decimal(10))

    table = {
        "rounding_multiple": _dec(s.get("rounding_multiple"), "limit.rounding_multiple", bad, positive=True),
        "policy_cap": _dec(s.get("policy_cap"), "limit.policy_cap", bad, positive=True),
        "debt_service_rate": _dec(s.get("debt_service_rate"), "limit.debt_service_rate", bad, high=ONE),
        "bands": _per_value(s.get("bands"), "limit.bands", bands, bad, band_entry),
        "housing_factors": _per_value(s.get("housing_factors"), "limit.housing_factors", HOUSING, bad, factor),
        "education_factors": _per_value(s.get("education_factors"), "limit.education_factors", EDUCATION, bad,
                                        factor),
    }
    if problems:
        raise InvalidPolicy(problems)
    return table


def price_table(raw: Any, bands: tuple[str, ...]) -> dict[str, Any]:
    problems: list[PolicyProblem] = []

    def bad(path: str, detail: str) -> None:
        problems.append(PolicyProblem(path, detail))

    s = _section(raw, "pricing", {"rate_places", "bands"}, bad)
    places = s.get("rate_places")
    if isinstance(places, bool) or not isinstance(places, int) or not 0 <= places <= 6:
        bad("pricing.rate_places", "must be a whole number from 0 to 6")
        places = 2

    def band_entry(e: Any, path: str) -> dict[str, Decimal]:
        e = _section(e, path, {"rate_position"}, bad)
        return {"rate_position": _dec(e.get("rate_position"), f"{path}.rate_position", bad, high=ONE)}

    table = {"rate_places": places, "bands": _per_value(s.get("bands"), "pricing.bands", bands, bad, band_entry)}
    if problems:
        raise InvalidPolicy(problems)
    return table


# --------------------------------------------------------------------------------------------------
# Affordability


def monthly_debt_service(*, outstanding_balance: Decimal, stated_monthly_repayment: Decimal | None,
                         debt_service_rate: Decimal) -> Decimal:
    """The existing monthly debt service: as the bureau states it, else estimated from the balance."""
    if stated_monthly_repayment is not None:
        return round_money(stated_monthly_repayment, MONEY_PLACES, "half_up")
    return round_money(outstanding_balance * debt_service_rate, MONEY_PLACES, "half_up")


def debt_to_income(debt_service: Decimal, monthly_income: Decimal) -> Decimal:
    """Debt service over income, 4 places (half up); no income at all counts as 99.9999 (unaffordable)."""
    if monthly_income <= 0:
        return Decimal("99.9999")
    return min(round_money(debt_service / monthly_income, 4, "half_up"), Decimal("99.9999"))


# --------------------------------------------------------------------------------------------------
# Limit


@dataclass(frozen=True)
class LimitResult:
    band: str
    band_max: Decimal
    housing_factor: Decimal
    education_factor: Decimal
    band_limit: Decimal
    income_multiple: Decimal
    monthly_income: Decimal
    monthly_debt_service: Decimal
    income_limit: Decimal
    policy_cap: Decimal
    product_max: Decimal
    product_min: Decimal
    rounding_multiple: Decimal
    binding: str  # which bound decided: band_limit | income_limit | policy_cap | product_max
    limit: Decimal
    approved: bool  # False: below the product's minimum

    def to_dict(self) -> dict[str, Any]:
        return {k: (to_str(v) if isinstance(v, Decimal) else v) for k, v in asdict(self).items()}


def compute_limit(table: Mapping[str, Any], *, band: str, monthly_income: Decimal, debt_service: Decimal,
                  housing: str, education: str, product: Mapping[str, Any]) -> LimitResult:
    entry = table["bands"][band]
    hf, ef = table["housing_factors"][housing], table["education_factors"][education]
    band_limit = round_money(entry["max_limit"] * hf * ef, MONEY_PLACES, "floor")
    income_limit = round_money(entry["income_multiple"] * (monthly_income - debt_service), MONEY_PLACES, "floor")
    bounds = {"band_limit": band_limit, "income_limit": income_limit, "policy_cap": table["policy_cap"],
              "product_max": product["amount"]["max"]}
    binding = min(bounds, key=lambda k: bounds[k])  # ties: the first in this order
    multiple = table["rounding_multiple"]
    limit = round_to_multiple(max(bounds[binding], ZERO), multiple, "floor")
    limit = round_money(limit, MONEY_PLACES)
    return LimitResult(
        band=band, band_max=entry["max_limit"], housing_factor=hf, education_factor=ef, band_limit=band_limit,
        income_multiple=entry["income_multiple"], monthly_income=monthly_income,
        monthly_debt_service=debt_service, income_limit=income_limit, policy_cap=table["policy_cap"],
        product_max=product["amount"]["max"], product_min=product["amount"]["min"], rounding_multiple=multiple,
        binding=binding, limit=limit, approved=limit >= product["amount"]["min"] and limit > 0)


# --------------------------------------------------------------------------------------------------
# Price


@dataclass(frozen=True)
class PriceResult:
    band: str
    rate_position: Decimal
    rate_min: Decimal
    rate_max: Decimal
    band_rate: Decimal     # the band's rate, rounded down
    rate: Decimal          # the offered rate: band_rate, or lower to keep the APR within the cap
    apr_cap: Decimal
    apr_nominal: Decimal   # worst-case nominal APR at ``rate`` over the product's terms and fees
    apr_effective: Decimal
    apr_worst_amount: Decimal
    apr_worst_term: int
    lowered_for_cap: bool
    within_cap: bool       # False: even rate.min is over the cap -> decline

    def to_dict(self) -> dict[str, Any]:
        return {k: (to_str(v) if isinstance(v, Decimal) else v) for k, v in asdict(self).items()}


def worst_apr_at(product: Mapping[str, Any], rate: Decimal, limit: Decimal) -> product_rules.AprCorner:
    """The worst nominal APR of a loan at ``rate`` on this product, for any amount from the product's
    minimum up to ``limit``, any term and any disbursement date the product's search weighs."""
    c = dict(product)
    c["rate"] = {"min": rate, "max": rate, "default": rate}
    c["amount"] = {"min": product["amount"]["min"], "max": max(limit, product["amount"]["min"])}
    return product_rules.worst_case_apr(c)


def compute_price(table: Mapping[str, Any], *, band: str, product: Mapping[str, Any], limit: Decimal,
                  platform_apr_cap: Decimal) -> PriceResult:
    places = table["rate_places"]
    position = table["bands"][band]["rate_position"]
    lo, hi = product["rate"]["min"], product["rate"]["max"]
    band_rate = round_money(lo + position * (hi - lo), places, "down")
    band_rate = min(max(band_rate, lo), hi)
    cap = product_rules.effective_cap(product, platform_apr_cap)

    rate, worst = band_rate, worst_apr_at(product, band_rate, limit)
    lowered = False
    within = worst.nominal <= cap
    if not within:
        # APR rises with the rate: bisect over the rate steps in [lo, band_rate] for the highest one within
        step = Decimal(1).scaleb(-places)
        floor_worst = worst_apr_at(product, lo, limit)
        if floor_worst.nominal > cap:
            rate, worst = lo, floor_worst
        else:
            good, good_worst = lo, floor_worst
            n_lo, n_hi = 0, int((band_rate - lo) / step)  # good at n_lo, bad at n_hi
            while n_hi - n_lo > 1:
                mid = (n_lo + n_hi) // 2
                w = worst_apr_at(product, lo + mid * step, limit)
                if w.nominal <= cap:
                    n_lo, good, good_worst = mid, lo + mid * step, w
                else:
                    n_hi = mid
            rate, worst, lowered, within = good, good_worst, True, True
    return PriceResult(band=band, rate_position=position, rate_min=lo, rate_max=hi, band_rate=band_rate, rate=rate,
                       apr_cap=cap, apr_nominal=worst.nominal, apr_effective=worst.effective,
                       apr_worst_amount=worst.amount, apr_worst_term=worst.term, lowered_for_cap=lowered,
                       within_cap=within)
