"""SMS verification codes: sent through the SMPP stand-in, stored only as a keyed hash, single use,
expiring, locked after 5 wrong tries, rate-limited per number and per IP."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest

from openlend.origination import codes

MOBILE = "+8613812345678"


def send(client, mobile=MOBILE, purpose="registration", ip="203.0.113.7"):
    return client.post("/v1/verification-codes", json={"mobile": mobile, "purpose": purpose, "ip_address": ip})


def verify(client, code_id, code):
    return client.post(f"/v1/verification-codes/{code_id}/verify", json={"code": code})


def assert_problem(r, status, type_):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    p = r.json()
    assert p["type"] == f"/problems/{type_}", p
    return p


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_code_arrives_at_the_smsc_and_verifies_once(client, phones, clock):
    r = send(client, mobile="138 1234 5678")
    assert r.status_code == 201, r.text
    vc = r.json()
    assert vc["object"] == "verification_code" and vc["id"].startswith("vc_")
    assert vc["mobile"] == MOBILE and vc["status"] == "pending" and vc["attempts_remaining"] == 5
    assert "code" not in vc
    code = phones.last_code(MOBILE)
    assert code not in json.dumps(vc)
    [sms] = phones.inbox(MOBILE)
    assert sms["data_coding"] == 8 and "注册验证码" in sms["text"]  # Chinese text goes as UCS2

    r = verify(client, vc["id"], code)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "verified"
    assert_problem(verify(client, vc["id"], code), 409, "verification-code-used")
    assert client.get(f"/v1/verification-codes/{vc['id']}").json()["status"] == "verified"


def test_expired_code_fails(client, phones, clock):
    vc = send(client).json()
    code = phones.last_code(MOBILE)
    clock.advance(299)
    assert client.get(f"/v1/verification-codes/{vc['id']}").json()["status"] == "pending"
    clock.advance(1)
    assert_problem(verify(client, vc["id"], code), 409, "verification-code-expired")


def test_ttl_is_configurable(client, phones, clock, monkeypatch):
    monkeypatch.setenv("OPENLEND_OTP_TTL_SECONDS", "3600")   # the seed patent's hour
    vc = send(client).json()
    code = phones.last_code(MOBILE)
    assert "60分钟内有效" in phones.inbox(MOBILE)[-1]["text"]
    clock.advance(3599)
    assert verify(client, vc["id"], code).status_code == 200


def test_five_wrong_tries_lock_the_code(client, phones, clock):
    vc = send(client).json()
    code = phones.last_code(MOBILE)
    for left in (4, 3, 2, 1):
        p = assert_problem(verify(client, vc["id"], wrong(code)), 422, "verification-code-incorrect")
        assert p["attempts_remaining"] == left and p["errors"][0]["pointer"] == "/code"
    p = assert_problem(verify(client, vc["id"], wrong(code)), 409, "verification-code-locked")
    assert p["attempts_remaining"] == 0
    assert_problem(verify(client, vc["id"], code), 409, "verification-code-locked")  # even the right one
    assert client.get(f"/v1/verification-codes/{vc['id']}").json()["status"] == "locked"


def test_a_malformed_code_is_a_422_and_costs_no_attempt(client, phones, clock):
    vc = send(client).json()
    r = verify(client, vc["id"], "12ab56")
    assert_problem(r, 422, "validation-error")
    assert client.get(f"/v1/verification-codes/{vc['id']}").json()["attempts_remaining"] == 5


def test_resend_too_early_is_refused_and_a_later_code_supersedes(client, phones, clock):
    first = send(client).json()
    old = phones.last_code(MOBILE)
    clock.advance(30)
    r = send(client)
    assert_problem(r, 429, "verification-code-resend-too-early")
    assert r.headers["Retry-After"] == "30"
    assert len(phones.inbox(MOBILE)) == 1
    clock.advance(30)
    second = send(client).json()
    new = phones.last_code(MOBILE, count=2)
    assert_problem(verify(client, first["id"], old), 409, "verification-code-superseded")
    assert verify(client, second["id"], new).status_code == 200


def test_per_number_limit(client, phones, clock):
    for _ in range(5):
        assert send(client).status_code == 201
        clock.advance(61)
    r = send(client)
    p = assert_problem(r, 429, "rate-limited")
    assert p["limit"] == "per_mobile"
    assert int(r.headers["Retry-After"]) == 3600 - 5 * 61
    clock.advance(3600 - 5 * 61)
    assert send(client).status_code == 201   # the first code has left the window


def test_per_ip_limit(client, phones, clock, monkeypatch):
    monkeypatch.setenv("OPENLEND_OTP_PER_IP_PER_HOUR", "3")
    for i in range(3):
        assert send(client, mobile=f"+861391234500{i}").status_code == 201
    p = assert_problem(send(client, mobile="+8613912345009"), 429, "rate-limited")
    assert p["limit"] == "per_ip"
    assert send(client, mobile="+8613912345009", ip="198.51.100.1").status_code == 201  # another IP


def test_default_limits_are_the_issue_s(monkeypatch):
    from openlend.origination.settings import OriginationSettings
    s = OriginationSettings()
    assert (s.otp_ttl_seconds, s.otp_resend_seconds, s.otp_max_attempts) == (300, 60, 5)
    assert (s.otp_per_mobile_per_hour, s.otp_per_ip_per_hour) == (5, 20)


@pytest.mark.parametrize("bad", ["+12025550123", "12345", "+861012345678", "+8612812345678", "abc", "1381234567"])
def test_numbers_that_are_not_mainland_mobiles_are_refused(client, phones, bad):
    p = assert_problem(send(client, mobile=bad), 422, "validation-error")
    assert p["errors"][0]["pointer"] == "/mobile"


@pytest.mark.parametrize("given", ["13812345678", "+86 138 1234 5678", "008613812345678", "+86-138-1234-5678"])
def test_mobile_numbers_normalise_to_e164(given):
    assert codes.normalise_mobile(given) == MOBILE


def test_purpose_is_bound_into_the_code(client, phones, clock):
    vc = send(client, purpose="login").json()
    code = phones.last_code(MOBILE)
    assert "登录验证码" in phones.inbox(MOBILE)[-1]["text"]
    assert verify(client, vc["id"], code).status_code == 200
    texts = client.get("/v1/consent-texts").json()["data"]
    r = client.post("/v1/consents", json={"verification_code": vc["id"], "consent_texts": [t["id"] for t in texts]})
    assert_problem(r, 409, "verification-required")   # a login code does not register anyone


def test_smsc_down_is_a_502_and_counts_toward_no_limit(client, phones, clock, monkeypatch, database):
    monkeypatch.setenv("OPENLEND_SMSC_PORT", "1")   # nothing listens there
    assert_problem(send(client), 502, "sms-send-failed")
    monkeypatch.setenv("OPENLEND_SMSC_PORT", str(phones.proc.port))
    assert send(client).status_code == 201          # no resend wait after a failure
    with database.transaction() as conn:
        rows = conn.execute("SELECT status FROM verification_codes ORDER BY created_at, id").fetchall()
    assert sorted(r["status"] for r in rows) == ["active", "failed"]


def test_wrong_smsc_password_is_a_502(client, phones, monkeypatch):
    monkeypatch.setenv("OPENLEND_SMSC_PASSWORD", "nope")
    p = assert_problem(send(client), 502, "sms-send-failed")
    assert "nope" not in json.dumps(p)


def test_the_code_is_never_logged_nor_stored_in_clear(client, phones, clock, database, caplog):
    caplog.set_level(logging.DEBUG)
    vc = send(client).json()
    code = phones.last_code(MOBILE)
    verify(client, vc["id"], wrong(code))
    assert verify(client, vc["id"], code).status_code == 200

    ucs2_hex = code.encode("utf-16-be").hex()
    for record in caplog.records:
        line = record.getMessage() + " " + json.dumps({k: v for k, v in record.__dict__.items()
                                                       if k.startswith("ctx_")}, default=str)
        assert code not in line and ucs2_hex not in line.lower(), line
    assert caplog.records, "expected some log lines (the SMS submit, the requests)"

    with database.transaction() as conn:
        row = conn.execute("SELECT * FROM verification_codes WHERE id = %s", [vc["id"]]).fetchone()
    for key, value in row.items():
        if isinstance(value, str):
            assert code not in value, key
    stored = bytes(row["code_hash"])
    assert len(stored) == 32
    assert stored != hashlib.sha256(code.encode()).digest()   # keyed, not a plain hash
    assert stored == codes.code_hash(vc["id"], "registration", MOBILE, code)
    assert codes.code_hash(vc["id"], "login", MOBILE, code) != stored   # bound to the purpose
