"""The synthetic applications: deterministic, at a plausible fraud rate, each pattern with its signals."""

from __future__ import annotations

from statistics import median

import pytest

from openlend.antifraud.generate import DEFAULT_PATTERNS, OCCUPATION_INCOME_NORM, PATTERNS, generate


@pytest.fixture(scope="module")
def quarter():
    """A quarter of the default data set (the default takes about 6 s to generate)."""
    return generate(17, households=8500, patterns={p: max(1, n // 4) for p, n in DEFAULT_PATTERNS.items()})


def by(ds, pattern):
    return [a for a, p in zip(ds.applications, ds.patterns) if p == pattern]


def test_a_seed_gives_the_same_applications_and_another_seed_others():
    a = generate(1, households=300, patterns={"device_farm": 1, "bust_out": 3})
    b = generate(1, households=300, patterns={"device_farm": 1, "bust_out": 3})
    c = generate(2, households=300, patterns={"device_farm": 1, "bust_out": 3})
    assert a.applications == b.applications and a.velocity == b.velocity and a.labels == b.labels
    assert a.applications != c.applications


def test_the_fraud_rate_is_a_few_percent_and_every_pattern_is_present(quarter):
    assert 0.02 <= quarter.fraud_rate <= 0.05
    assert set(quarter.patterns) == {"genuine", *PATTERNS}
    assert quarter.labels == [int(p != "genuine") for p in quarter.patterns]
    times = [a["applied_at"] for a in quarter.applications]
    assert times == sorted(times) or all(x <= y for x, y in zip(times, times[1:]))


def test_each_pattern_carries_its_documented_signals(quarter):
    ds = quarter
    genuine = by(ds, "genuine")
    vel = {p: [v for v, q in zip(ds.velocity, ds.patterns) if q == p] for p in ("genuine", "device_farm", "identity_ring")}

    def share(rows, cond):
        return sum(map(cond, rows)) / len(rows)

    # the first application of a farm has no history yet
    assert share(vel["device_farm"], lambda v: v["device_identities_24h"] >= 1) >= 0.75
    assert share(vel["genuine"], lambda v: v["device_identities_24h"] >= 2) <= 0.01
    assert share(vel["identity_ring"], lambda v: max(v["card_identities_30d"], v["contact_identities_30d"],
                                                     v["address_identities_30d"]) >= 1) >= 0.7
    synthetic = by(ds, "synthetic_identity")
    assert share(synthetic, lambda a: a["bureau_thin_file"] and a["mobile_tenure_months"] < 3) >= 0.6
    assert share(genuine, lambda a: a["bureau_thin_file"] and a["mobile_tenure_months"] < 3) <= 0.02
    bust = by(ds, "bust_out")
    assert share(bust, lambda a: a["bureau_utilisation"] - a["bureau_utilisation_6m_avg"] >= 0.3) >= 0.8
    assert median(a["bureau_queries_1m"] for a in bust) >= 3
    form = by(ds, "form_anomaly")
    assert median(a["form_fill_seconds"] for a in form) < 60 < median(a["form_fill_seconds"] for a in genuine)
    assert share(form, lambda a: a["monthly_income"] / OCCUPATION_INCOME_NORM[a["occupation"]] >= 2.5) >= 0.6
    geo = by(ds, "geo_mismatch")
    distinct = lambda a: len({a["id_region"], a["ip_region"], a["mobile_region"]}) == 3
    assert share(geo, distinct) >= 0.9 and share(genuine, distinct) <= 0.03


def test_genuine_applicants_have_look_alikes_of_the_fraud_signals(quarter):
    """The classes overlap: households share devices and addresses, offices share IPs."""
    gv = [v for v, p in zip(quarter.velocity, quarter.patterns) if p == "genuine"]
    assert sum(v["device_identities_24h"] >= 1 for v in gv) > 50
    assert sum(v["address_identities_30d"] >= 1 for v in gv) > 500
    assert sum(v["ip_apps_24h"] >= 1 for v in gv) > 500
