"""The HTTP clients against the stand-in: typed results, typed errors, concurrency, masking."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from openlend.risk import providers as rp
from openlend.risk.bureau import BureauParseError, parse_report
from sim.providers.identities import BY_KEY, IDENTITIES

from risk_standin import CLIENT_TIMEOUT_S, SHORT_TIMEOUT_S


def settings_for(proc, timeout=CLIENT_TIMEOUT_S, **overrides) -> rp.RiskSettings:
    return rp.RiskSettings(base_url=proc.base_url, api_key=SecretStr(proc.api_key), timeout_s=timeout, **overrides)


@pytest.fixture(scope="module")
def clients(providers):
    built = rp.build_providers(settings_for(providers))
    yield built
    built.close()


@pytest.fixture(scope="module")
def quick_clients(providers):
    built = rp.build_providers(settings_for(providers, timeout=SHORT_TIMEOUT_S))
    yield built
    built.close()


def test_clients_satisfy_the_interfaces(clients):
    assert isinstance(clients.identity, rp.IdentityVerifier)
    assert isinstance(clients.carrier, rp.CarrierData)
    assert isinstance(clients.court, rp.CourtList)
    assert isinstance(clients.multi_lending, rp.MultiLending)
    assert isinstance(clients.bureau, rp.CreditBureau)
    a = rp.build_async_providers(rp.RiskSettings())
    assert isinstance(a.identity, rp.AsyncIdentityVerifier) and isinstance(a.bureau, rp.AsyncCreditBureau)
    asyncio.run(a.aclose())


def test_each_kind_can_point_at_its_own_provider():
    s = rp.RiskSettings(base_url="http://a", bureau_base_url="https://bureau.example", bureau_timeout_s=8.0,
                        bureau_api_key=SecretStr("b"))
    assert s.config_for("identity").base_url == "http://a"
    bureau = s.config_for("bureau")
    assert (bureau.base_url, bureau.timeout_s, bureau.api_key.get_secret_value()) == ("https://bureau.example", 8.0, "b")


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("OPENLEND_RISK_BASE_URL", "https://risk.example")
    monkeypatch.setenv("OPENLEND_RISK_COURT_TIMEOUT_S", "1.5")
    s = rp.RiskSettings()
    assert s.config_for("court").base_url == "https://risk.example" and s.config_for("court").timeout_s == 1.5


@pytest.mark.parametrize("key,expected", [
    ("clean", ("match", "match", "match")), ("mismatch", ("match", "mismatch", "mismatch")),
    ("not_found", ("not_found", "not_found", "not_found")),
])
def test_factor_checks(clients, key, expected):
    p = BY_KEY[key]
    got = (clients.identity.two_factor(p.name, p.id_number), clients.identity.three_factor(p.name, p.id_number, p.mobile),
           clients.identity.four_factor(p.name, p.id_number, p.mobile, p.bank_card))
    assert tuple(c.result for c in got) == expected and [c.factors for c in got] == [2, 3, 4]
    assert got[0].matched == (expected[0] == "match")


def test_carrier_court_multi_lending(clients):
    d = BY_KEY["delinquent"]
    prof = clients.carrier.profile(d.mobile)
    assert (prof.carrier, prof.status, prof.tenure_months) == ("China Mobile", "suspended", 96)
    court = clients.court.search(d.name, d.id_number)
    assert [(h.case_number, h.amount) for h in court.hits] == [("(2023)沪0104执1234号", Decimal("45000.00")),
                                                               ("(2023)沪0104执567号", Decimal("8800.00"))]
    assert clients.court.search(BY_KEY["clean"].name, BY_KEY["clean"].id_number).hits == ()
    ml = clients.multi_lending.counts(d.id_number)
    assert {k: (w.lenders, w.applications) for k, w in ml.windows.items()} == {7: (2, 3), 30: (5, 8), 90: (9, 16)}


def test_not_found_is_none_not_an_error(clients):
    p = BY_KEY["not_found"]
    assert clients.carrier.profile(p.mobile) is None
    assert clients.multi_lending.counts(p.id_number) is None
    assert clients.bureau.fetch_report(p.name, p.id_number) is None


@pytest.mark.parametrize("key", ["clean", "thin", "delinquent", "shopper"])
def test_documented_reports_parse(clients, key):
    p = BY_KEY[key]
    report = parse_report(clients.bureau.fetch_report(p.name, p.id_number))
    assert report.identity.id_number == p.id_number


def test_malformed_report_is_reported_not_guessed(clients):
    p = BY_KEY["malformed"]
    raw = clients.bureau.fetch_report(p.name, p.id_number)
    with pytest.raises(BureauParseError) as e:
        parse_report(raw)
    assert e.value.path == "loans[0].repayment_status_24m"


def test_the_timeout_identity_raises_a_timeout_on_every_call(quick_clients):
    clients = quick_clients
    p = BY_KEY["timeout"]
    calls = [lambda: clients.identity.two_factor(p.name, p.id_number),
             lambda: clients.identity.three_factor(p.name, p.id_number, p.mobile),
             lambda: clients.identity.four_factor(p.name, p.id_number, p.mobile, p.bank_card),
             lambda: clients.carrier.profile(p.mobile), lambda: clients.court.search(p.name, p.id_number),
             lambda: clients.multi_lending.counts(p.id_number), lambda: clients.bureau.fetch_report(p.name, p.id_number)]
    for call in calls:
        started = time.monotonic()
        with pytest.raises(rp.ProviderError) as e:
            call()
        assert e.value.kind == "timeout"
        assert time.monotonic() - started < SHORT_TIMEOUT_S + 0.5


def test_async_timeout(providers):
    async def go():
        a = rp.build_async_providers(settings_for(providers, timeout=SHORT_TIMEOUT_S))
        try:
            p = BY_KEY["timeout"]
            with pytest.raises(rp.ProviderError) as e:
                await a.bureau.fetch_report(p.name, p.id_number)
            return e.value
        finally:
            await a.aclose()
    assert asyncio.run(go()).kind == "timeout"


def test_a_wrong_api_key_is_unauthorized(providers):
    client = rp.HttpIdentityVerifier(rp.ProviderConfig(providers.base_url, SecretStr("wrong-key")))
    with pytest.raises(rp.ProviderError) as e:
        client.two_factor("张三", BY_KEY["clean"].id_number)
    assert (e.value.kind, e.value.status) == ("unauthorized", 401)


def test_an_invalid_request_is_rejected(clients):
    with pytest.raises(rp.ProviderError) as e:
        clients.identity.two_factor("张三", "110105198503019011")  # wrong check character
    assert (e.value.kind, e.value.status) == ("rejected", 422)


def test_nobody_listening_is_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = rp.HttpCarrierData(rp.ProviderConfig(f"http://127.0.0.1:{port}", SecretStr("k"), timeout_s=0.5))
    with pytest.raises(rp.ProviderError) as e:
        client.profile("13800000001")
    assert e.value.kind == "unavailable"


@pytest.mark.parametrize("status,body,kind", [
    (200, b"<html>gateway</html>", "bad_response"),
    (200, b'{"request_id": "r", "factors": 2, "result": "maybe"}', "bad_response"),
    (200, b'{"request_id": "r", "factors": "2", "result": "match"}', "bad_response"),
    (503, b"", "unavailable"),
    (429, b"", "unavailable"),
])
def test_answers_that_cannot_be_read(status, body, kind):
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
    config = rp.ProviderConfig("http://provider", SecretStr("k"))
    client = rp.HttpIdentityVerifier(config, httpx.Client(base_url=config.base_url, transport=transport))
    with pytest.raises(rp.ProviderError) as e:
        client.two_factor("张三", BY_KEY["clean"].id_number)
    assert e.value.kind == kind


def test_five_calls_fan_out_concurrently(slow_providers):
    """Each stand-in call takes 300 ms; gathered, the five take about one call's time, not 1.5 s."""
    p = BY_KEY["clean"]

    async def decision() -> float:
        a = rp.build_async_providers(settings_for(slow_providers, timeout=3.0))
        try:
            await a.identity.two_factor(p.name, p.id_number)  # connections warm, as in a running service
            started = time.monotonic()
            results = await asyncio.gather(
                a.identity.three_factor(p.name, p.id_number, p.mobile), a.carrier.profile(p.mobile),
                a.court.search(p.name, p.id_number), a.multi_lending.counts(p.id_number),
                a.bureau.fetch_report(p.name, p.id_number))
            elapsed = time.monotonic() - started
            assert results[0].matched and results[1].status == "active" and results[4] is not None
            return elapsed
        finally:
            await a.aclose()

    elapsed = asyncio.run(decision())
    print(f"five concurrent 300 ms calls: {elapsed * 1000:.0f} ms")
    assert 0.3 <= elapsed < 0.6, elapsed


def test_id_numbers_mobiles_and_cards_never_reach_the_logs_in_clear(quick_clients, caplog):
    clients = quick_clients
    caplog.set_level(logging.DEBUG)
    for p in IDENTITIES:
        for call in (lambda p=p: clients.identity.four_factor(p.name, p.id_number, p.mobile, p.bank_card),
                     lambda p=p: clients.carrier.profile(p.mobile),
                     lambda p=p: clients.bureau.fetch_report(p.name, p.id_number)):
            try:
                call()
            except rp.ProviderError as e:
                logging.getLogger("test").error("provider failed: %s", e)
    text = caplog.text
    assert "risk provider call" in text and "fetch_report" in text
    for p in IDENTITIES:
        assert p.id_number not in text and p.bank_card not in text and p.mobile not in text
    assert rp.mask_id_number(BY_KEY["clean"].id_number) in text  # masked, still traceable
    assert rp.mask_id_number("110105198503019010") == "110105********9010"
    assert rp.mask_card("6222020000000010009") == "622202*********0009"
    assert rp.mask_mobile("13800000001") == "138****0001"
