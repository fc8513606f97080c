"""The bank's own credit rules: pure functions of an application, the rules and the day's usage.

The platform has already decided to lend (its own decision record travels with the application);
the bank decides whether *it* funds the loan, on its own appetite:

1. ``products`` (when set): a product the bank does not fund -> ``product_not_supported``;
2. ``min_age``/``max_age`` -> ``age_out_of_range``;
3. ``min_score`` -> ``score_below_minimum``; ``accepted_bands`` (when set) -> ``score_band_not_accepted``;
4. ``max_rate`` (the rate the platform asks the bank to lend at is above what it may) -> ``rate_above_cap``;
5. a share ``refer_share`` of applications, chosen by ``sha256(seed:application_id)`` so that the same
   seed refers the same applications on every run, goes to manual review: ``pending``;
6. the limit: the requested one, capped by ``max_limit`` and ``band_limits[band]``, rounded down to
   ``limit_step``; below ``min_limit`` -> ``limit_below_minimum``;
7. the daily quota (amount ``daily_quota`` and count ``daily_quota_count``, per bank-local day,
   Asia/Shanghai): what does not fit -> ``daily_quota_exhausted``;
8. otherwise ``approved`` at ``max(requested rate, min_rate)``.

A referred application is decided after ``review_ms`` by steps 6 to 8.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Rules:
    min_score: int = 600
    accepted_bands: tuple[str, ...] | None = None
    min_age: int = 22
    max_age: int = 55
    min_limit: Decimal = Decimal("1000.00")
    max_limit: Decimal = Decimal("50000.00")
    band_limits: dict[str, Decimal] = field(default_factory=dict)
    limit_step: Decimal = Decimal(100)
    min_rate: Decimal = Decimal("7.2")
    max_rate: Decimal = Decimal(24)
    daily_quota: Decimal | None = Decimal("5000000.00")
    daily_quota_count: int | None = None
    refer_share: Fraction = Fraction(0)
    seed: int = 0
    review_ms: int = 300
    products: tuple[str, ...] | None = None
    currency: str = "CNY"

    @classmethod
    def from_mapping(cls, raw: dict[str, Any]) -> Rules:
        known = set(cls.__dataclass_fields__)
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown rule(s): {', '.join(sorted(unknown))}")
        kw: dict[str, Any] = {}
        for name, value in raw.items():
            if name in ("min_limit", "max_limit", "limit_step", "min_rate", "max_rate"):
                kw[name] = Decimal(str(value))
            elif name == "daily_quota":
                kw[name] = None if value is None else Decimal(str(value))
            elif name == "band_limits":
                kw[name] = {str(k): Decimal(str(v)) for k, v in value.items()}
            elif name in ("accepted_bands", "products"):
                kw[name] = None if value is None else tuple(value)
            elif name == "refer_share":
                kw[name] = Fraction(str(value))
                if not 0 <= kw[name] <= 1:
                    raise ValueError("refer_share must be between 0 and 1")
            else:
                kw[name] = value
        return cls(**kw)

    @classmethod
    def load(cls, path: Path | None) -> Rules:
        return cls() if path is None else cls.from_mapping(json.loads(Path(path).read_text()))

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            v = getattr(self, name)
            if isinstance(v, (Decimal, Fraction)):
                v = str(v)
            elif isinstance(v, dict):
                v = {k: str(x) for k, x in v.items()}
            elif isinstance(v, tuple):
                v = list(v)
            out[name] = v
        return out


@dataclass(frozen=True)
class Application:
    application_id: str
    product_code: str
    id_number_masked: str
    age: int
    score: int
    score_band: str
    requested_limit: Decimal
    currency: str
    requested_rate: Decimal


@dataclass(frozen=True)
class Outcome:
    status: str                      # approved / declined / pending
    approved_limit: Decimal | None = None
    annual_rate: Decimal | None = None
    decline_reason: str | None = None


@dataclass
class DayUsage:
    day: str
    amount: Decimal = Decimal(0)
    count: int = 0


def referred(rules: Rules, application_id: str) -> bool:
    """The deterministic coin: the same seed refers the same application ids on every run."""
    if rules.refer_share <= 0:
        return False
    h = hashlib.sha256(f"{rules.seed}:{application_id}".encode()).digest()
    return Fraction(int.from_bytes(h[:8], "big"), 2**64) < rules.refer_share


def screen(rules: Rules, app: Application) -> Outcome | None:
    """Steps 1-4: a decline, or None when the application passes the bank's screen."""
    if rules.products is not None and app.product_code not in rules.products:
        return Outcome("declined", decline_reason="product_not_supported")
    if app.currency != rules.currency:
        return Outcome("declined", decline_reason="currency_not_supported")
    if not rules.min_age <= app.age <= rules.max_age:
        return Outcome("declined", decline_reason="age_out_of_range")
    if app.score < rules.min_score:
        return Outcome("declined", decline_reason="score_below_minimum")
    if rules.accepted_bands is not None and app.score_band not in rules.accepted_bands:
        return Outcome("declined", decline_reason="score_band_not_accepted")
    if app.requested_rate > rules.max_rate:
        return Outcome("declined", decline_reason="rate_above_cap")
    return None


def price(rules: Rules, app: Application, usage: DayUsage) -> Outcome:
    """Steps 6-8; on approval ``usage`` is charged (the caller holds the bank's lock)."""
    limit = min(app.requested_limit, rules.max_limit)
    if app.score_band in rules.band_limits:
        limit = min(limit, rules.band_limits[app.score_band])
    step = rules.limit_step if rules.limit_step > 0 else CENT
    limit = ((limit / step).to_integral_value(ROUND_DOWN) * step).quantize(CENT)
    if limit < rules.min_limit:
        return Outcome("declined", decline_reason="limit_below_minimum")
    if rules.daily_quota is not None and usage.amount + limit > rules.daily_quota:
        return Outcome("declined", decline_reason="daily_quota_exhausted")
    if rules.daily_quota_count is not None and usage.count + 1 > rules.daily_quota_count:
        return Outcome("declined", decline_reason="daily_quota_exhausted")
    usage.amount += limit
    usage.count += 1
    return Outcome("approved", approved_limit=limit, annual_rate=max(app.requested_rate, rules.min_rate))
