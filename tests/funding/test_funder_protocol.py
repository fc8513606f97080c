"""The wire: signatures required and verified both ways, replays and stale clocks refused,
idempotency on the application id, retries on 5xx and timeouts, errors mapped to FunderError."""

from __future__ import annotations

import json
import socket
import time

import pytest
from funder_helpers import HANG_MS, app_id, config_for, raw_post, request
from pydantic import SecretStr

from openlend.funding import FunderError, HttpFunder
from openlend.funding.client import response_string, sign
from sim.funder import BAD_SIGNATURE_APPLICANT, FAIL_ONCE_APPLICANT, TIMEOUT_APPLICANT


def test_an_unsigned_request_is_refused(bank):
    r, _ = raw_post(bank, request().body(), headers={})
    assert r.status_code == 401 and r.json()["type"] == "/problems/signature-required"
    assert r.headers["content-type"].startswith("application/problem+json")


def test_a_request_signed_with_the_wrong_secret_is_refused(bank):
    r, _ = raw_post(bank, request().body(), secret="not-the-shared-secret")
    assert r.status_code == 401 and r.json()["type"] == "/problems/bad-signature"
    with HttpFunder(config_for(bank, secret=SecretStr("not-the-shared-secret"))) as funder, \
            pytest.raises(FunderError) as e:
        funder.submit(request())
    assert (e.value.kind, e.value.status, e.value.problem_type) == ("rejected_signature", 401,
                                                                    "/problems/bad-signature")


def test_a_tampered_body_is_refused(bank):
    body = request().body()
    raw = json.dumps(body).encode()
    from openlend.funding.client import signed_headers
    headers = signed_headers(bank.secret, bank.partner_id, "POST", "/v1/applications", raw)
    body["requested_limit"]["amount"] = "29000.00"
    r, _ = raw_post(bank, body, headers=headers)
    assert r.status_code == 401 and r.json()["type"] == "/problems/bad-signature"


def test_a_replayed_request_is_refused(bank):
    body = request().body()
    first, headers = raw_post(bank, body)
    assert first.status_code == 200 and first.json()["status"] == "approved"
    again, _ = raw_post(bank, body, headers=headers)
    assert again.status_code == 401 and again.json()["type"] == "/problems/replayed-request"


def test_a_stale_or_future_timestamp_is_refused(bank):
    for offset in (-400, 400):
        r, _ = raw_post(bank, request().body(), now=time.time() + offset)
        assert r.status_code == 401 and r.json()["type"] == "/problems/clock-skew"


def test_the_banks_answer_is_signed_over_the_request_nonce(bank):
    r, headers = raw_post(bank, request().body())
    assert r.status_code == 200
    ts, nonce, sig = r.headers["X-Timestamp"], r.headers["X-Nonce"], r.headers["X-Signature"]
    assert sig == sign(bank.secret, response_string(200, headers["X-Nonce"], ts, nonce, r.content))
    assert sig != sign(bank.secret, response_string(200, "another-request-nonce", ts, nonce, r.content))


def test_an_answer_with_a_wrong_signature_is_not_acted_on(funder):
    with pytest.raises(FunderError) as e:
        funder.submit(request(masked=BAD_SIGNATURE_APPLICANT))
    assert e.value.kind == "rejected_signature" and "signature does not match" in e.value.detail


def test_resubmitting_an_application_answers_the_same_decision(funder):
    req = request(limit="45000")
    first = funder.submit(req)
    again = funder.submit(req)
    assert again.replayed and not first.replayed
    assert (again.status, again.approved_limit, again.funder_reference) == (
        first.status, first.approved_limit, first.funder_reference)


def test_resubmitting_an_application_id_with_another_body_is_a_conflict(funder):
    req = request()
    funder.submit(req)
    with pytest.raises(FunderError) as e:
        funder.submit(request(req.application_id, limit="25000"))
    assert (e.value.kind, e.value.status, e.value.problem_type) == ("rejected", 409, "/problems/idempotency-conflict")


def test_an_invalid_application_is_rejected_not_retried(bank):
    sleeps: list[float] = []
    with HttpFunder(config_for(bank), sleep=sleeps.append) as funder, pytest.raises(FunderError) as e:
        funder.submit(request(masked="110105199001019010"))  # a clear ID number never goes to the bank
    assert (e.value.kind, e.value.status) == ("rejected", 422) and sleeps == []


def test_a_500_is_retried_with_the_same_application_id_and_then_succeeds(bank):
    sleeps: list[float] = []
    req = request(masked=FAIL_ONCE_APPLICANT)
    with HttpFunder(config_for(bank, backoff_s=0.05), sleep=sleeps.append) as funder:
        d = funder.submit(req)
    assert (d.application_id, d.status, d.replayed) == (req.application_id, "approved", False)
    assert sleeps == [0.05]
    assert "POST /v1/applications 500" in bank.log() and req.application_id in bank.log()


def test_a_bank_that_does_not_answer_in_time_is_a_timeout_after_the_retries(bank):
    sleeps: list[float] = []
    started = time.monotonic()
    with HttpFunder(config_for(bank, timeout_s=0.3, max_attempts=2, backoff_s=0.01), sleep=sleeps.append) as funder, \
            pytest.raises(FunderError) as e:
        funder.submit(request(masked=TIMEOUT_APPLICANT))
    assert (e.value.kind, e.value.attempts) == ("timeout", 2) and sleeps == [0.01]
    assert time.monotonic() - started < HANG_MS / 1000


def test_a_bank_that_cannot_be_reached_is_unavailable(bank):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        sleeps: list[float] = []
        cfg = config_for(bank, base_url=f"http://127.0.0.1:{port}", backoff_s=0.1, max_backoff_s=0.15)
        with HttpFunder(cfg, sleep=sleeps.append) as funder, pytest.raises(FunderError) as e:
            funder.submit(request())
    assert (e.value.kind, e.value.attempts) == ("unavailable", 3) and sleeps == [0.1, 0.15]


def test_an_answer_for_another_application_is_a_bad_response(bank):
    import httpx

    def handler(req: httpx.Request) -> httpx.Response:
        body = json.dumps({"object": "funder_application", "funder": "BANKA", "application_id": "app_other",
                           "funder_reference": "X", "decision_id": None, "status": "declined",
                           "approved_limit": None, "annual_rate": None, "decline_reason": "x",
                           "created_at": None, "decided_at": None}).encode()
        ts, nonce = str(int(time.time())), "n" * 32
        sig = sign(bank.secret, response_string(200, req.headers["X-Nonce"], ts, nonce, body))
        return httpx.Response(200, content=body, headers={"X-Timestamp": ts, "X-Nonce": nonce, "X-Signature": sig})

    client = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://bank.test")
    with pytest.raises(FunderError) as e:
        HttpFunder(config_for(bank), client).submit(request(app_id()))
    assert e.value.kind == "bad_response"
