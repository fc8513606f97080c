"""Synthetic loan applications with labelled fraud patterns (fixed seed, standard library only).

Every draw comes from ``random.Random(seed).random()``, whose sequence Python guarantees across
versions; the distributions are written here on top of it (not ``gauss``/``choices``, whose
algorithms Python may change), so a seed gives the same applications on any machine.

The population and the six fraud patterns are documented in ``docs/design/antifraud.md``.  A fraud
instance carries its pattern's core signals with high (not certain) probability and is otherwise
drawn like a genuine applicant; genuine applicants have their own look-alikes (families sharing a
device, an address, an emergency contact; offices behind one IP; migrant workers whose ID, mobile
and IP regions differ; people with a new number, a thin file, a maxed-out card), so the classes
overlap.  It is still a synthetic world whose rules the model can learn: see the design note.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .velocity import HOUR, VelocityTracker

PATTERNS = ("device_farm", "identity_ring", "synthetic_identity", "bust_out", "form_anomaly", "geo_mismatch")
GENUINE = "genuine"

# Applications per fraud pattern in the default data set (farms and rings are groups: these are
# the numbers of groups; the others are single applications).
DEFAULT_PATTERNS: dict[str, int] = {
    "device_farm": 30, "identity_ring": 45, "synthetic_identity": 250, "bust_out": 220,
    "form_anomaly": 230, "geo_mismatch": 220,
}

# Median declared monthly income by occupation (CNY), the "occupation norm" of the income feature.
OCCUPATION_INCOME_NORM: dict[str, float] = {
    "civil_servant": 8000, "public_institution": 7000, "state_enterprise": 7500, "private_employee": 6500,
    "professional": 12000, "self_employed": 9000, "manual_worker": 5000, "farmer": 3000, "retired": 3500,
    "student": 1500, "unemployed": 1000, "military": 7000, "police": 8000, "judiciary": 9000,
    "lawyer": 15000, "journalist": 8000, "other": 5000,
}
_OCCUPATION_WEIGHTS = {
    "private_employee": 30, "manual_worker": 14, "self_employed": 12, "state_enterprise": 7,
    "public_institution": 5, "civil_servant": 4, "professional": 6, "farmer": 5, "retired": 3,
    "student": 6, "unemployed": 2, "military": 0.5, "police": 0.7, "judiciary": 0.3, "lawyer": 0.5,
    "journalist": 0.3, "other": 4,
}
# Chinese province codes (the first two digits of an ID number), weighted roughly by population;
# the migrant destinations take the workers who live away from the province on their ID card.
_REGIONS = {
    "11": 2, "12": 1.5, "13": 5, "14": 2.5, "15": 2, "21": 3, "22": 2, "23": 2.5, "31": 2, "32": 6,
    "33": 5, "34": 4.5, "35": 3, "36": 3, "37": 7, "41": 7, "42": 4, "43": 5, "44": 9, "45": 4,
    "46": 0.7, "50": 2.5, "51": 6, "52": 3, "53": 3.5, "54": 0.3, "61": 3, "62": 2, "63": 0.5,
    "64": 0.5, "65": 2,
}
_MIGRANT_DESTINATIONS = {"44": 5, "31": 3, "11": 3, "33": 3, "32": 2, "12": 1, "35": 1}
LOCAL_TZ = timezone(timedelta(hours=8))
START = datetime(2025, 3, 1, tzinfo=LOCAL_TZ)
# relative weight of each local hour of the day for genuine applications (few at night)
_HOUR_WEIGHTS = [0.3, 0.2, 0.1, 0.1, 0.1, 0.2, 0.6, 1.5, 3, 4, 5, 5, 5, 5, 5, 5, 4.5, 4.5, 5, 5.5, 6, 5, 3, 1.2]
_NIGHT_HOURS = (0, 1, 2, 3, 4, 5)


class _Rand:
    """Distributions built on ``random.Random.random`` only (its sequence is stable across Pythons)."""

    def __init__(self, seed: int):
        self._r = random.Random(seed)
        self.u = self._r.random

    def chance(self, p: float) -> bool:
        return self.u() < p

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.u()

    def int(self, a: int, b: int) -> int:  # inclusive
        return a + min(int(self.u() * (b - a + 1)), b - a)

    def pick(self, seq):
        return seq[min(int(self.u() * len(seq)), len(seq) - 1)]

    def weighted(self, weights: Mapping[Any, float]):
        total = sum(weights.values())
        x = self.u() * total
        for k, w in weights.items():
            x -= w
            if x < 0:
                return k
        return k

    def normal(self, mu: float = 0.0, sigma: float = 1.0) -> float:
        u1 = 1.0 - self.u()  # (0, 1]
        return mu + sigma * math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * self.u())

    def lognormal(self, median: float, sigma: float) -> float:
        return median * math.exp(self.normal(0.0, sigma))

    def poisson(self, lam: float) -> int:
        limit, k, p = math.exp(-lam), 0, self.u()
        while p > limit:
            k += 1
            p *= self.u()
        return k

    def digits(self, n: int) -> str:
        return "".join(str(self.int(0, 9)) for _ in range(n))


@dataclass
class Dataset:
    """Applications in ``applied_at`` order, each with its velocity features, label and pattern."""

    applications: list[dict[str, Any]] = field(default_factory=list)
    velocity: list[dict[str, int]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    seed: int = 0

    def __len__(self) -> int:
        return len(self.applications)

    @property
    def fraud_rate(self) -> float:
        return sum(self.labels) / len(self.labels)


class _World:
    def __init__(self, rng: _Rand, days: int):
        self.r = rng
        self.days = days
        self.n = 0
        self.rows: list[tuple[float, int, dict[str, Any], str]] = []
        self.nat_ips = [self.ip() for _ in range(200)]  # offices, campuses, mobile carriers' NAT
        self.dorms = [f"{rng.weighted(_REGIONS)}-D{rng.digits(6)}" for _ in range(60)]

    # identifiers --------------------------------------------------------------------------------
    def id_number(self, region: str) -> str:
        return f"{region}{self.r.digits(16)}"

    def mobile(self) -> str:
        return "1" + self.r.pick("3456789") + self.r.digits(9)

    def card(self) -> str:
        return "62" + self.r.digits(17)

    def address(self, region: str) -> str:
        return f"{region}-{self.r.digits(4)}-{self.r.digits(3)}"

    def device(self) -> str:
        return "dev-" + self.r.digits(12)

    def ip(self) -> str:
        r = self.r
        return f"{r.int(1, 223)}.{r.int(0, 255)}.{r.int(0, 255)}.{r.int(1, 254)}"

    # time -----------------------------------------------------------------------------------------
    def genuine_time(self) -> datetime:
        day = self.r.int(0, self.days - 1)
        hour = self.r.weighted(dict(enumerate(_HOUR_WEIGHTS)))
        return START + timedelta(days=day, hours=hour, seconds=self.r.int(0, 3599))

    def any_time(self, night_p: float) -> datetime:
        day = self.r.int(0, self.days - 1)
        hour = self.r.pick(_NIGHT_HOURS) if self.r.chance(night_p) else self.r.int(6, 23)
        return START + timedelta(days=day, hours=hour, seconds=self.r.int(0, 3599))

    def add(self, when: datetime, app: dict[str, Any], pattern: str) -> None:
        self.rows.append((when.timestamp(), self.n, {**app, "applied_at": when.isoformat()}, pattern))
        self.n += 1

    # a genuine person -------------------------------------------------------------------------------
    def person(self, *, region: str | None = None, age: tuple[int, int] | None = None) -> dict[str, Any]:
        r = self.r
        id_region = region or r.weighted(_REGIONS)
        a = r.int(*age) if age else int(min(62, max(20, 20 + abs(r.normal(0, 1)) * 11 + r.uniform(0, 6))))
        occupation = "student" if a <= 22 and r.chance(0.5) else r.weighted(_OCCUPATION_WEIGHTS)
        migrant = r.chance(0.25)
        residence = r.weighted(_MIGRANT_DESTINATIONS) if migrant else id_region
        mobile_region = (residence if r.chance(0.6) else id_region) if migrant else (
            r.weighted(_REGIONS) if r.chance(0.03) else id_region)
        ip_region = residence if r.chance(0.95) else r.weighted(_REGIONS)
        thin = r.chance(0.35 if a < 25 else 0.08)
        history = 0 if thin else r.int(6, max(6, (a - 18) * 12))
        util6 = None if thin else min(1.0, r.u() ** 1.6)
        util = None if thin else min(1.05, max(0.0, util6 + r.normal(0, 0.08)))
        if util is not None and r.chance(0.04):  # a big purchase this month
            util = min(1.05, util + r.uniform(0.2, 0.5))
        q1 = r.poisson(0.4 if not r.chance(0.05) else 3.0)  # 5 % shop around
        fill = r.lognormal(300, 0.6) if not r.chance(0.03) else r.uniform(35, 90)  # autofill
        return {
            "id_number": self.id_number(id_region),
            "id_region": id_region,
            "age": a,
            "occupation": occupation,
            "monthly_income": round(r.lognormal(OCCUPATION_INCOME_NORM[occupation], 0.45), -1),
            "mobile": self.mobile(),
            "mobile_region": mobile_region,
            "mobile_tenure_months": r.int(0, 5) if r.chance(0.05) else int(6 + r.u() ** 1.5 * 174),
            "carrier_name_match": not r.chance(0.04),
            "contact_mobile": self.mobile(),
            "bank_card": self.card(),
            "address": self.address(residence),
            "device_id": self.device(),
            "device_emulator": r.chance(0.004),
            "ip_address": r.pick(self.nat_ips) if r.chance(0.10) else self.ip(),
            "ip_region": ip_region,
            "form_fill_seconds": round(fill, 1),
            "paste_count": r.int(2, 3) if r.chance(0.10) else r.int(0, 1),
            "bureau_thin_file": thin,
            "bureau_accounts": 0 if thin else r.int(1, 12),
            "bureau_history_months": history,
            "bureau_utilisation": None if util is None else round(util, 3),
            "bureau_utilisation_6m_avg": None if util6 is None else round(util6, 3),
            "bureau_queries_1m": q1,
            "bureau_queries_3m": q1 + r.poisson(0.8),
        }

    def genuine_household(self) -> None:
        r = self.r
        head = self.person()
        size = 1 if r.chance(0.8) else r.int(2, 3)
        members = [head] + [
            {**self.person(region=head["id_region"]), "address": head["address"], "ip_region": head["ip_region"]}
            for _ in range(size - 1)
        ]
        if r.chance(0.03) and head["occupation"] in ("student", "manual_worker", "private_employee"):
            head["address"] = r.pick(self.dorms)  # dormitories: many people, one address
        for m in members[1:]:
            if r.chance(0.5):
                m["contact_mobile"] = head["contact_mobile"]  # siblings name the same parent
            if r.chance(0.3):
                m["device_id"] = head["device_id"]  # a shared phone
            if r.chance(0.6):
                m["ip_address"] = head["ip_address"]  # the home router
            if r.chance(0.05):
                m["bank_card"] = head["bank_card"]  # a spouse's card
        when = self.genuine_time()
        for i, m in enumerate(members):
            t = when + timedelta(hours=r.uniform(0, 72)) if i else when
            self.add(t, m, GENUINE)
            if r.chance(0.08):  # applies again after a refusal or a typo, same phone
                self.add(t + timedelta(minutes=r.uniform(2, 2880)),
                         {**m, "form_fill_seconds": round(r.uniform(40, 200), 1)}, GENUINE)

    # fraud patterns -----------------------------------------------------------------------------
    def device_farm(self) -> None:
        r = self.r
        devices = [self.device() for _ in range(r.int(1, 2))]
        ips = [self.ip() for _ in range(r.int(1, 2))]
        start = self.any_time(night_p=0.4)
        hours = r.uniform(1, 6)
        emulator = r.chance(0.5)
        for _ in range(r.int(5, 14)):
            p = self.person(age=(20, 35))
            p.update(device_id=r.pick(devices), ip_address=r.pick(ips), device_emulator=emulator and r.chance(0.9))
            if r.chance(0.6):
                p["form_fill_seconds"] = round(r.uniform(15, 80), 1)
            if r.chance(0.4):
                p["mobile_tenure_months"] = r.int(0, 3)
            self.add(start + timedelta(seconds=r.uniform(0, hours * HOUR)), p, "device_farm")

    def identity_ring(self) -> None:
        r = self.r
        shared = {"contact_mobile": self.mobile(), "bank_card": self.card(), "address": self.address(r.weighted(_REGIONS))}
        keys = [k for k in shared if r.chance(0.5)] or [r.pick(list(shared))]
        ip = self.ip()
        start = self.any_time(night_p=0.2)
        span = r.uniform(1, 25)
        for _ in range(r.int(3, 8)):
            p = self.person(age=(22, 45))
            p.update({k: shared[k] for k in keys})
            if r.chance(0.3):
                p["ip_address"] = ip
            if r.chance(0.4):
                p["monthly_income"] = round(p["monthly_income"] * r.uniform(1.5, 3), -1)
            self.add(start + timedelta(days=r.uniform(0, span)), p, "identity_ring")

    def synthetic_identity(self) -> None:
        r = self.r
        p = self.person(age=(20, 32))
        if r.chance(0.9):
            p.update(bureau_thin_file=True, bureau_accounts=0, bureau_history_months=0,
                     bureau_utilisation=None, bureau_utilisation_6m_avg=None)
        if r.chance(0.85):
            p["mobile_tenure_months"] = r.int(0, 2)
        if r.chance(0.7):
            p["carrier_name_match"] = False
        if r.chance(0.5):
            p["monthly_income"] = round(OCCUPATION_INCOME_NORM[p["occupation"]] * r.uniform(1.5, 3), -1)
        self.add(self.any_time(night_p=0.15), p, "synthetic_identity")

    def bust_out(self) -> None:
        r = self.r
        p = self.person(age=(30, 55))
        util6 = r.uniform(0.1, 0.45)
        q1 = r.int(3, 10) if r.chance(0.85) else r.int(0, 2)
        p.update(bureau_thin_file=False, bureau_accounts=r.int(4, 15), bureau_history_months=r.int(36, 180),
                 bureau_utilisation_6m_avg=round(util6, 3),
                 bureau_utilisation=round(r.uniform(0.85, 1.0) if r.chance(0.9) else util6 + r.uniform(0.2, 0.4), 3),
                 bureau_queries_1m=q1, bureau_queries_3m=q1 + r.int(2, 8))
        self.add(self.genuine_time(), p, "bust_out")

    def form_anomaly(self) -> None:
        r = self.r
        p = self.person()
        p["form_fill_seconds"] = round(r.uniform(8, 60), 1) if r.chance(0.85) else p["form_fill_seconds"]
        p["paste_count"] = r.int(3, 12) if r.chance(0.8) else p["paste_count"]
        if r.chance(0.8):
            p["monthly_income"] = round(OCCUPATION_INCOME_NORM[p["occupation"]] * r.uniform(2.5, 8), -1)
        self.add(self.any_time(night_p=0.3), p, "form_anomaly")

    def geo_mismatch(self) -> None:
        r = self.r
        p = self.person()
        if r.chance(0.95):
            regions = list(_REGIONS)
            mobile = r.pick([x for x in regions if x != p["id_region"]])
            ip = r.pick([x for x in regions if x not in (p["id_region"], mobile)])
            p.update(mobile_region=mobile, ip_region=ip)
        if r.chance(0.4):
            p["mobile_tenure_months"] = r.int(0, 8)
        self.add(self.any_time(night_p=0.5), p, "geo_mismatch")



def generate(seed: int = 20250301, *, households: int = 34_000, patterns: Mapping[str, int] | None = None,
             days: int = 60) -> Dataset:
    """Applications over ``days`` days: ``households`` genuine households and ``patterns`` fraud groups.

    Returns them in ``applied_at`` order with ids ``A0000000``.., each with its velocity features
    computed against the applications before it (:class:`VelocityTracker`).
    """
    patterns = dict(DEFAULT_PATTERNS if patterns is None else patterns)
    unknown = set(patterns) - set(PATTERNS)
    if unknown:
        raise ValueError(f"unknown patterns: {sorted(unknown)}")
    w = _World(_Rand(seed), days)
    for _ in range(households):
        w.genuine_household()
    for name in PATTERNS:  # a fixed order, so a seed means the same thing whatever the dict's order
        for _ in range(patterns.get(name, 0)):
            getattr(w, name)()
    w.rows.sort(key=lambda row: (row[0], row[1]))
    ds = Dataset(seed=seed)
    tracker = VelocityTracker()
    for i, (_, _, app, pattern) in enumerate(w.rows):
        app = {"application_id": f"A{i:07d}", **app}
        ds.applications.append(app)
        ds.velocity.append(tracker.observe(app))
        ds.labels.append(int(pattern != GENUINE))
        ds.patterns.append(pattern)
    return ds
