"""The bank's answers through the HTTP client: approve (perhaps for less), decline with a reason,
refer and decide later (polled or called back), the daily quota, the referral share."""

from __future__ import annotations

import time
from decimal import Decimal
from fractions import Fraction

import pytest
from funder_helpers import CallbackReceiver, app_id, config_for, request

from openlend.funding import CallbackVerifier, FunderError, HttpFunder
from sim.funder import REFER_APPLICANT
from sim.funder.rules import Rules, referred
from sim.funder.testing import running_funder


def test_approves_the_requested_limit_at_the_requested_rate(funder):
    d = funder.submit(request(limit="20000.00", rate="12.5"))
    assert (d.status, d.approved_limit, d.currency, d.annual_rate) == ("approved", Decimal("20000.00"), "CNY",
                                                                     Decimal("12.5"))
    assert d.funder_reference.startswith("BANKA") and d.decided_at is not None and not d.replayed
    assert d.decision_id == "dec_test"


def test_approves_less_than_requested_when_its_own_caps_are_lower(funder):
    assert funder.submit(request(limit="45000.00")).approved_limit == Decimal("30000.00")   # max_limit
    assert funder.submit(request(limit="45000.00", band="C")).approved_limit == Decimal("10000.00")  # band cap
    assert funder.submit(request(limit="12345.67")).approved_limit == Decimal("12300.00")   # hundreds


def test_lends_at_no_less_than_its_own_minimum_rate(funder):
    assert funder.submit(request(rate="5.0")).annual_rate == Decimal("7.2")


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"score": 580}, "score_below_minimum"),
    ({"age": 19}, "age_out_of_range"),
    ({"rate": "30"}, "rate_above_cap"),
    ({"product": "car_loan"}, "product_not_supported"),
    ({"limit": "500.00"}, "limit_below_minimum"),
])
def test_declines_by_its_own_rules_with_a_reason(funder, kwargs, reason):
    d = funder.submit(request(**kwargs))
    assert (d.status, d.decline_reason, d.approved_limit, d.annual_rate) == ("declined", reason, None, None)


def test_a_referred_application_is_pending_then_decided_when_polled(funder):
    req = request(masked=REFER_APPLICANT)
    d = funder.submit(req)
    assert d.status == "pending" and d.decided_at is None and not d.final
    assert funder.get(req.application_id).status in ("pending", "approved")
    final = funder.wait_for_decision(req.application_id, timeout_s=5, interval_s=0.05)
    assert (final.status, final.approved_limit, final.funder_reference) == ("approved", Decimal("20000.00"),
                                                                           d.funder_reference)


def test_a_referred_application_is_decided_by_a_signed_callback(funder, bank):
    with CallbackReceiver() as receiver:
        req = request(masked=REFER_APPLICANT, callback_url=receiver.url + "/hooks/funder?bank=BANKA")
        assert funder.submit(req).status == "pending"
        method, path, headers, body = receiver.received.get(timeout=5)
    assert path == "/hooks/funder?bank=BANKA" and headers["X-Bank-Code"] == "BANKA"
    verifier = CallbackVerifier([config_for(bank)])
    with pytest.raises(FunderError) as tampered:
        verifier.verify(method, path, headers, body.replace(b"approved", b"declined"))
    assert tampered.value.kind == "rejected_signature"
    d = verifier.verify(method, path, headers, body)
    assert (d.application_id, d.status, d.approved_limit) == (req.application_id, "approved", Decimal("20000.00"))
    with pytest.raises(FunderError) as replayed:
        verifier.verify(method, path, headers, body)
    assert replayed.value.kind == "rejected_signature" and "replayed" in replayed.value.detail


def test_a_callback_signed_with_another_secret_is_refused(funder, bank):
    with CallbackReceiver() as receiver:
        funder.submit(request(masked=REFER_APPLICANT, callback_url=receiver.url + "/cb"))
        method, path, headers, body = receiver.received.get(timeout=5)
    other = config_for(bank, secret=__import__("pydantic").SecretStr("not-the-shared-secret"))
    with pytest.raises(FunderError) as e:
        CallbackVerifier([other]).verify(method, path, headers, body)
    assert e.value.kind == "rejected_signature"
    with pytest.raises(FunderError) as stale:
        CallbackVerifier([config_for(bank)]).verify(method, path, headers, body, now=time.time() + 3600)
    assert stale.value.kind == "rejected_signature"


def test_the_daily_quota_once_spent_declines_with_a_reason_and_latency_is_applied(tmp_path):
    with running_funder(tmp_path, "--latency-ms", "150", bank_code="BANKQ",
                        rules={"daily_quota": "50000", "max_limit": "50000"}) as bank, \
            HttpFunder(config_for(bank)) as funder:
        started = time.monotonic()
        assert funder.submit(request(limit="30000")).status == "approved"
        assert time.monotonic() - started >= 0.15
        assert funder.quota().remaining == Decimal("20000.00")
        d = funder.submit(request(limit="30000"))
        assert (d.status, d.decline_reason) == ("declined", "daily_quota_exhausted")
        assert funder.submit(request(limit="20000")).status == "approved"
        q = funder.quota()
        assert (q.bank_code, q.remaining, q.count_remaining) == ("BANKQ", Decimal("0.00"), None)


def test_the_referral_share_is_drawn_from_the_seed():
    rules = Rules.from_mapping({"refer_share": "0.2", "seed": 7})
    ids = [f"app_{i}" for i in range(5000)]
    share = Fraction(sum(referred(rules, i) for i in ids), len(ids))
    assert abs(share - Fraction(1, 5)) < Fraction(2, 100)
    other_seed = Rules.from_mapping({"refer_share": "0.2", "seed": 8})
    assert [referred(rules, i) for i in ids] != [referred(other_seed, i) for i in ids]


def test_the_same_seed_refers_the_same_applications_in_another_process(tmp_path):
    ids = [f"app_seeded_{i}" for i in range(30)]
    pending = []
    for run in range(2):
        with running_funder(tmp_path / str(run), bank_code="BANKR",
                            rules={"refer_share": "0.3", "seed": 11, "review_ms": 60000}) as bank, \
                HttpFunder(config_for(bank)) as funder:
            pending.append({i for i in ids if funder.submit(request(i)).status == "pending"})
    assert pending[0] == pending[1] and 0 < len(pending[0]) < len(ids)
    assert pending[0] == {i for i in ids if referred(Rules.from_mapping({"refer_share": "0.3", "seed": 11}), i)}


def test_an_unknown_application_is_a_rejected_request(funder):
    with pytest.raises(FunderError) as e:
        funder.get(app_id("never"))
    assert (e.value.kind, e.value.status, e.value.problem_type) == ("rejected", 404,
                                                                    "/problems/application-not-found")
