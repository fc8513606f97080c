"""Velocity features over past applications, and the rule-based velocity checks.

Pure code (standard library only).  The reference definition is :func:`velocity_features`, a
function of one application and the list of application records stored *before* it; the SQL
version that will read the ``applications`` table must give the same numbers (see
``docs/design/antifraud.md`` for the query).  :class:`VelocityTracker` computes the same features
incrementally over a stream in time order (the generator uses it; a test checks the two agree).

Definitions, for the application ``a`` being scored at ``t = a.applied_at``:

* a *prior* record ``p`` is any stored application with ``p.application_id != a.application_id``
  and ``t - window < p.applied_at <= t`` (the window is open at its old end, closed at ``t``; a
  record dated after ``t`` is ignored, so a replay against a later snapshot gives the same answer);
* keys are compared exactly as stored (the caller normalises them: card digits only, the
  address's normalised key, the IP as text); an empty or missing key never matches anything,
  like NULL in SQL;
* ``*_apps_*`` count prior records (rows) with the same key, whoever the applicant;
* ``*_identities_*`` count the *distinct* ``id_number`` among prior records with the same key,
  leaving out the applicant's own ``id_number`` (one person re-applying is not a ring).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

HOUR = 3600
DAY = 24 * HOUR

# name -> (key field, window in seconds, what is counted)
VELOCITY_SPEC: dict[str, tuple[str, int, str]] = {
    "device_apps_1h": ("device_id", HOUR, "apps"),
    "device_apps_24h": ("device_id", DAY, "apps"),
    "device_identities_24h": ("device_id", DAY, "identities"),
    "ip_apps_1h": ("ip_address", HOUR, "apps"),
    "ip_apps_24h": ("ip_address", DAY, "apps"),
    "card_identities_30d": ("bank_card", 30 * DAY, "identities"),
    "contact_identities_30d": ("contact_mobile", 30 * DAY, "identities"),
    "address_identities_30d": ("address", 30 * DAY, "identities"),
}
VELOCITY_FEATURES: tuple[str, ...] = tuple(VELOCITY_SPEC)
MAX_WINDOW = max(w for _, w, _ in VELOCITY_SPEC.values())
KEY_FIELDS: tuple[str, ...] = tuple(dict.fromkeys(k for k, _, _ in VELOCITY_SPEC.values()))


def timestamp(value: Any) -> float:
    """Seconds since the epoch of an aware datetime or an ISO 8601 string with an offset."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if dt.tzinfo is None:
        raise ValueError(f"applied_at must carry a UTC offset: {value!r}")
    return dt.timestamp()


def _key(record: Mapping[str, Any], field: str) -> str | None:
    v = record.get(field)
    return None if v is None or v == "" else str(v)


def velocity_features(application: Mapping[str, Any], history: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The reference definition: features of ``application`` from the records stored before it."""
    t = timestamp(application["applied_at"])
    own_id = application.get("id_number")
    own_app = application.get("application_id")
    keys = {f: _key(application, f) for f in KEY_FIELDS}
    apps = {name: 0 for name in VELOCITY_FEATURES}
    identities: dict[str, set[str]] = {name: set() for name in VELOCITY_FEATURES}
    for p in history:
        if own_app is not None and p.get("application_id") == own_app:
            continue
        age = t - timestamp(p["applied_at"])
        if age < 0 or age >= MAX_WINDOW:
            continue
        for name, (field, window, what) in VELOCITY_SPEC.items():
            k = keys[field]
            if k is None or age >= window or _key(p, field) != k:
                continue
            if what == "apps":
                apps[name] += 1
            elif p.get("id_number") not in (None, "", own_id):
                identities[name].add(p["id_number"])
    return {name: (apps[name] if VELOCITY_SPEC[name][2] == "apps" else len(identities[name]))
            for name in VELOCITY_FEATURES}


class VelocityTracker:
    """The same features over a stream: call :meth:`observe` on applications in ``applied_at`` order.

    ``observe`` returns the features of the application against everything observed before it, then
    records it.  Memory is bounded by the 30-day window.
    """

    def __init__(self) -> None:
        # field -> key -> deque of (t, application_id, id_number), oldest first
        self._seen: dict[str, dict[str, deque[tuple[float, Any, Any]]]] = {f: defaultdict(deque) for f in KEY_FIELDS}
        self._last_t = float("-inf")

    def features(self, application: Mapping[str, Any]) -> dict[str, int]:
        t = timestamp(application["applied_at"])
        own_id, own_app = application.get("id_number"), application.get("application_id")
        out: dict[str, int] = {}
        for name, (field, window, what) in VELOCITY_SPEC.items():
            k = _key(application, field)
            if k is None:
                out[name] = 0
                continue
            q = self._seen[field].get(k, ())
            rows = [(pt, pa, pi) for pt, pa, pi in q if 0 <= t - pt < window and pa != own_app]
            if what == "apps":
                out[name] = len(rows)
            else:
                out[name] = len({pi for _, _, pi in rows if pi not in (None, "", own_id)})
        return out

    def observe(self, application: Mapping[str, Any]) -> dict[str, int]:
        t = timestamp(application["applied_at"])
        if t < self._last_t:
            raise ValueError("observe applications in applied_at order")
        self._last_t = t
        out = self.features(application)
        for field in KEY_FIELDS:
            k = _key(application, field)
            if k is None:
                continue
            q = self._seen[field][k]
            while q and t - q[0][0] >= MAX_WINDOW:
                q.popleft()
            q.append((t, application.get("application_id"), application.get("id_number")))
        return out


# --------------------------------------------------------------------------------------------------
# Rule-based velocity checks

ACTIONS = ("pass", "refer", "decline")  # in order of severity


@dataclass(frozen=True)
class VelocityRule:
    code: str
    feature: str
    at_least: int
    action: str  # "refer" | "decline"
    text: str


# Thresholds set so that genuine applicants of the synthetic population almost never reach them
# (households share a device, an address or an emergency contact; campuses and offices share an IP):
# see docs/design/antifraud.md for the measured hit rates.
DEFAULT_RULES: tuple[VelocityRule, ...] = (
    VelocityRule("V01", "device_apps_1h", 3, "refer", "3 or more other applications from this device in the last hour"),
    VelocityRule("V02", "device_identities_24h", 3, "decline", "3 or more other people applied from this device in 24 hours"),
    VelocityRule("V03", "ip_apps_1h", 5, "refer", "5 or more other applications from this IP address in the last hour"),
    VelocityRule("V04", "ip_apps_24h", 10, "refer", "10 or more other applications from this IP address in 24 hours"),
    VelocityRule("V05", "card_identities_30d", 2, "refer", "2 or more other people gave this bank card in 30 days"),
    VelocityRule("V06", "card_identities_30d", 3, "decline", "3 or more other people gave this bank card in 30 days"),
    VelocityRule("V07", "contact_identities_30d", 3, "refer", "3 or more other people gave this contact mobile in 30 days"),
    VelocityRule("V08", "address_identities_30d", 8, "refer", "8 or more other people gave this address in 30 days"),
)


@dataclass(frozen=True)
class RuleHit:
    code: str
    action: str
    text: str
    feature: str
    value: int


def check_velocity(velocity: Mapping[str, int], rules: Iterable[VelocityRule] = DEFAULT_RULES) -> list[RuleHit]:
    """Every rule whose feature reaches its threshold, in rule order (a missing feature counts as 0)."""
    return [RuleHit(r.code, r.action, r.text, r.feature, int(velocity.get(r.feature, 0)))
            for r in rules if int(velocity.get(r.feature, 0)) >= r.at_least]


def most_severe(actions: Iterable[str]) -> str:
    return max(actions, key=ACTIONS.index, default="pass")
