"""Consents: versioned immutable texts with their SHA-256, accepted together with a verified code."""

from __future__ import annotations

import hashlib

import psycopg
import pytest

MOBILE = "+8613912340000"


def verified_code(client, phones, mobile=MOBILE):
    vc = client.post("/v1/verification-codes", json={"mobile": mobile, "purpose": "registration"}).json()
    assert client.post(f"/v1/verification-codes/{vc['id']}/verify",
                       json={"code": phones.last_code(mobile)}).status_code == 200
    return vc["id"]


def current_texts(client):
    return {t["kind"]: t for t in client.get("/v1/consent-texts").json()["data"]}


def test_consent_texts_are_versioned_with_their_sha256(client):
    texts = current_texts(client)
    assert set(texts) == {"credit_inquiry_authorization", "personal_information"}
    for t in texts.values():
        assert t["version"] == 1 and t["sha256"] == hashlib.sha256(t["body"].encode()).hexdigest()
    assert "征信" in texts["credit_inquiry_authorization"]["body"]
    assert "个人信息保护法" in texts["personal_information"]["body"]


def test_registration_consent_is_stored_with_time_ip_device_and_hashes(client, phones, clock, database):
    code_id = verified_code(client, phones)
    texts = current_texts(client)
    body = {"verification_code": code_id, "consent_texts": [t["id"] for t in texts.values()],
            "ip_address": "203.0.113.9", "user_agent": "openlend-app/1.0 (iPhone)", "device_id": "dev-42"}
    r = client.post("/v1/consents", json=body)
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["object"] == "consent" and c["mobile"] == MOBILE and c["ip_address"] == "203.0.113.9"
    assert c["device_id"] == "dev-42" and c["accepted_at"]
    assert {(a["kind"], a["sha256"]) for a in c["consent_texts"]} == {(k, t["sha256"]) for k, t in texts.items()}
    assert client.get(f"/v1/consents/{c['id']}").json() == c
    r = client.post("/v1/consents", json=body)   # the code is used up
    assert r.status_code == 409 and r.json()["type"] == "/problems/verification-code-used"
    with pytest.raises(psycopg.errors.RestrictViolation), database.transaction() as conn:
        conn.execute("UPDATE consents SET device_id = 'other'")


def test_both_texts_are_needed(client, phones, clock):
    code_id = verified_code(client, phones)
    texts = current_texts(client)
    r = client.post("/v1/consents", json={"verification_code": code_id,
                                          "consent_texts": [texts["personal_information"]["id"]]})
    assert r.status_code == 422 and r.json()["type"] == "/problems/consent-texts-incomplete"


def test_a_new_version_makes_the_old_one_outdated_and_leaves_it_unchanged(client, phones, clock, database):
    old = current_texts(client)
    r = client.post("/v1/consent-texts", json={"kind": "personal_information", "title": "个人信息处理授权书",
                                               "body": old["personal_information"]["body"] + "\n（第二版）"})
    assert r.status_code == 201 and r.json()["version"] == 2
    code_id = verified_code(client, phones)
    r = client.post("/v1/consents", json={"verification_code": code_id,
                                          "consent_texts": [t["id"] for t in old.values()]})
    assert r.status_code == 409 and r.json()["type"] == "/problems/consent-text-outdated"
    assert client.get(f"/v1/consent-texts/{old['personal_information']['id']}").json() == old["personal_information"]
    with pytest.raises(psycopg.errors.RestrictViolation), database.transaction() as conn:
        conn.execute("UPDATE consent_texts SET body = 'changed'")
    r = client.post("/v1/consents", json={"verification_code": code_id,
                                          "consent_texts": [t["id"] for t in current_texts(client).values()]})
    assert r.status_code == 201, r.text


def test_an_unverified_code_does_not_consent(client, phones, clock):
    vc = client.post("/v1/verification-codes", json={"mobile": MOBILE, "purpose": "registration"}).json()
    r = client.post("/v1/consents", json={"verification_code": vc["id"],
                                          "consent_texts": [t["id"] for t in current_texts(client).values()]})
    assert r.status_code == 409 and r.json()["type"] == "/problems/verification-required"


def test_a_verified_code_is_good_for_15_minutes(client, phones, clock):
    code_id = verified_code(client, phones)
    clock.advance(901)
    r = client.post("/v1/consents", json={"verification_code": code_id,
                                          "consent_texts": [t["id"] for t in current_texts(client).values()]})
    assert r.status_code == 409 and r.json()["type"] == "/problems/verification-code-expired"
