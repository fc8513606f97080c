"""Velocity features on hand-made histories, the streaming tracker, and the velocity rules."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from openlend.antifraud.generate import generate
from openlend.antifraud.velocity import (
    DEFAULT_RULES,
    VELOCITY_FEATURES,
    VelocityTracker,
    check_velocity,
    most_severe,
    velocity_features,
)

T0 = datetime(2025, 3, 10, 12, 0, tzinfo=timezone(timedelta(hours=8)))


def app(app_id, *, ago=timedelta(0), person="P1", **keys):
    rec = {"application_id": app_id, "applied_at": (T0 - ago).isoformat(), "id_number": person,
           "device_id": None, "ip_address": None, "bank_card": None, "contact_mobile": None, "address": None}
    rec.update(keys)
    return rec


def test_an_empty_history_gives_zero_everywhere():
    assert velocity_features(app("A", device_id="d1"), []) == dict.fromkeys(VELOCITY_FEATURES, 0)


def test_device_windows_are_open_at_the_old_end_and_closed_at_now():
    current = app("A", device_id="d1")
    history = [
        app("H1", ago=timedelta(minutes=59, seconds=59), device_id="d1", person="P2"),
        app("H2", ago=timedelta(hours=1), device_id="d1", person="P3"),  # exactly 1 h old: outside 1 h
        app("H3", ago=timedelta(hours=23, minutes=59), device_id="d1", person="P3"),
        app("H4", ago=timedelta(hours=24), device_id="d1", person="P4"),  # exactly 24 h: outside
        app("H5", ago=timedelta(0), device_id="d1", person="P1"),  # same second, same person: counts as an app
        app("H6", ago=-timedelta(seconds=1), device_id="d1", person="P5"),  # dated after now: ignored
        app("H7", ago=timedelta(minutes=5), device_id="d2", person="P6"),  # another device
    ]
    v = velocity_features(current, history)
    assert v["device_apps_1h"] == 2  # H1, H5
    assert v["device_apps_24h"] == 4  # H1, H2, H3, H5
    assert v["device_identities_24h"] == 2  # P2, P3 (P1 is the applicant)


def test_the_application_itself_and_empty_keys_never_count():
    current = app("A", ip_address="1.2.3.4", bank_card="", device_id="d1")
    history = [current, app("H1", ago=timedelta(minutes=1), ip_address="1.2.3.4", bank_card="", person="P9"),
               app("H2", ago=timedelta(minutes=1), device_id=None, person="P9")]
    v = velocity_features(current, history)
    assert v["ip_apps_1h"] == 1 and v["ip_apps_24h"] == 1
    assert v["card_identities_30d"] == 0  # "" is no key, like NULL in SQL
    assert v["device_apps_1h"] == 0


def test_shared_identifiers_count_distinct_other_people_over_30_days():
    current = app("A", bank_card="6222", contact_mobile="13800000000", address="44-1-1")
    history = [
        app("H1", ago=timedelta(days=1), person="P2", bank_card="6222"),
        app("H2", ago=timedelta(days=2), person="P2", bank_card="6222"),  # same other person twice: 1
        app("H3", ago=timedelta(days=29, hours=23), person="P3", bank_card="6222"),
        app("H4", ago=timedelta(days=30), person="P4", bank_card="6222"),  # 30 days old: outside
        app("H5", ago=timedelta(days=3), person="P1", bank_card="6222"),  # the applicant earlier: not a ring
        app("H6", ago=timedelta(days=3), person="P5", contact_mobile="13800000000"),
        app("H7", ago=timedelta(days=3), person="P6", contact_mobile="13800000000"),
        app("H8", ago=timedelta(days=3), person="P7", address="44-1-1"),
    ]
    v = velocity_features(current, history)
    assert (v["card_identities_30d"], v["contact_identities_30d"], v["address_identities_30d"]) == (2, 2, 1)


def test_the_tracker_reproduces_the_reference_definition_on_a_generated_stream():
    ds = generate(5, households=600, patterns={"device_farm": 4, "identity_ring": 5}, days=10)
    for i in range(0, len(ds), 7):
        assert ds.velocity[i] == velocity_features(ds.applications[i], ds.applications[:i]), i
    assert max(v["device_identities_24h"] for v in ds.velocity) >= 3  # the farms are visible


def test_the_tracker_refuses_an_out_of_order_stream():
    t = VelocityTracker()
    t.observe(app("A"))
    with pytest.raises(ValueError):
        t.observe(app("B", ago=timedelta(seconds=1)))


def test_rules_fire_at_their_thresholds_and_the_most_severe_action_wins():
    quiet = dict.fromkeys(VELOCITY_FEATURES, 0)
    assert check_velocity(quiet) == []
    for rule in DEFAULT_RULES:
        below = {**quiet, rule.feature: rule.at_least - 1}
        at = {**quiet, rule.feature: rule.at_least}
        assert rule.code not in {h.code for h in check_velocity(below)}
        assert rule.code in {h.code for h in check_velocity(at)}
    hits = check_velocity({**quiet, "card_identities_30d": 3, "device_apps_1h": 3})
    assert [h.code for h in hits] == ["V01", "V05", "V06"]
    assert most_severe(h.action for h in hits) == "decline"
    assert most_severe([]) == "pass"
