"""The stand-in's wire protocol: documented identities, authentication, latency, errors."""

from __future__ import annotations

import time

import httpx
import pytest
from stdnum import luhn
from stdnum.cn import ric

from sim.providers.identities import BY_KEY, IDENTITIES, id_check_char, make_id_number, valid_id_number

from risk_standin import AS_OF


_http = httpx.Client(timeout=5)  # one client: building one per request costs an SSL context each time


def post(p, path, body, **headers):
    return _http.post(p.base_url + path, json=body, headers={"X-Api-Key": p.api_key, **headers})


def test_documented_identities_are_well_formed_and_generated_by_code():
    for person in IDENTITIES:
        ric.validate(person.id_number)  # region, birth date and GB 11643 check character
        luhn.validate(person.bank_card)
        assert valid_id_number(person.id_number)
        assert person.id_number == make_id_number(person.id_number[:6], ric.get_birth_date(person.id_number),
                                                  int(person.id_number[14:17]))
    assert len({p.id_number for p in IDENTITIES}) == len(IDENTITIES)


def test_check_character_matches_the_standard_example():
    # GB 11643-1999's own worked example: 11010519491231002 -> X
    assert id_check_char("11010519491231002") == "X"


def test_every_route_refuses_a_missing_or_wrong_api_key(providers):
    for path in ("/v1/identity/two-factor", "/v1/carrier/profile", "/v1/court/dishonest-debtors",
                 "/v1/multi-lending", "/v1/credit-reports"):
        r = _http.post(providers.base_url + path, json={})
        assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"] == "/problems/unauthorized"
        assert _http.post(providers.base_url + path, json={}, headers={"X-Api-Key": "wrong"}).status_code == 401


@pytest.mark.parametrize("key,two,three,four", [
    ("clean", "match", "match", "match"),
    ("thin", "match", "match", "match"),
    ("delinquent", "match", "match", "match"),
    ("shopper", "match", "match", "match"),
    ("malformed", "match", "match", "match"),
    ("mismatch", "match", "mismatch", "mismatch"),
    ("not_found", "not_found", "not_found", "not_found"),
])
def test_factor_checks_answer_as_documented(providers, key, two, three, four):
    p = BY_KEY[key]
    assert post(providers, "/v1/identity/two-factor", {"name": p.name, "id_number": p.id_number}).json()["result"] == two
    r = post(providers, "/v1/identity/three-factor", {"name": p.name, "id_number": p.id_number, "mobile": p.mobile})
    assert r.json()["result"] == three and r.json()["carrier"] == "China Mobile"
    assert post(providers, "/v1/identity/four-factor", {"name": p.name, "id_number": p.id_number, "mobile": p.mobile,
                                                        "bank_card": p.bank_card}).json()["result"] == four


def test_a_wrong_name_mobile_or_card_is_a_mismatch(providers):
    p = BY_KEY["clean"]
    assert post(providers, "/v1/identity/two-factor", {"name": "张四", "id_number": p.id_number}).json()["result"] == "mismatch"
    other = BY_KEY["thin"]
    body = {"name": p.name, "id_number": p.id_number, "mobile": other.mobile}
    assert post(providers, "/v1/identity/three-factor", body).json()["result"] == "mismatch"
    body = {"name": p.name, "id_number": p.id_number, "mobile": p.mobile, "bank_card": other.bank_card}
    assert post(providers, "/v1/identity/four-factor", body).json()["result"] == "mismatch"


def test_an_invalid_id_number_is_refused_not_answered(providers):
    bad = BY_KEY["clean"].id_number[:17] + ("0" if BY_KEY["clean"].id_number[17] != "0" else "1")
    r = post(providers, "/v1/identity/two-factor", {"name": "张三", "id_number": bad})
    assert r.status_code == 422 and r.json()["type"] == "/problems/invalid-request"
    assert post(providers, "/v1/identity/two-factor", {"name": "张三"}).status_code == 422
    r = _http.post(providers.base_url + "/v1/multi-lending", content=b"{not json",
                   headers={"X-Api-Key": providers.api_key})
    assert r.status_code == 400


@pytest.mark.parametrize("key,status,tenure", [
    ("clean", "active", 148), ("thin", "active", 14), ("delinquent", "suspended", 96), ("shopper", "active", 3),
    ("malformed", "active", 60), ("mismatch", "cancelled", 40),
])
def test_carrier_profiles(providers, key, status, tenure):
    body = post(providers, "/v1/carrier/profile", {"mobile": BY_KEY[key].mobile}).json()
    assert (body["status"], body["tenure_months"], body["carrier"]) == (status, tenure, "China Mobile")
    assert body["mobile"] == BY_KEY[key].mobile[:3] + "****" + BY_KEY[key].mobile[-4:]


def test_not_found_subject_is_404_everywhere_but_the_court_list(providers):
    p = BY_KEY["not_found"]
    for path, body in (("/v1/carrier/profile", {"mobile": p.mobile}), ("/v1/multi-lending", {"id_number": p.id_number}),
                       ("/v1/credit-reports", {"name": p.name, "id_number": p.id_number})):
        r = post(providers, path, body)
        assert r.status_code == 404 and r.json()["type"] == "/problems/subject-not-found"
    assert post(providers, "/v1/court/dishonest-debtors", {"name": p.name, "id_number": p.id_number}).json()["hits"] == []


def test_court_list_hits_only_the_delinquent_identity(providers):
    for person in IDENTITIES:
        if person.key == "timeout":
            continue
        body = post(providers, "/v1/court/dishonest-debtors", {"name": person.name, "id_number": person.id_number}).json()
        assert body["hit_count"] == (2 if person.key == "delinquent" else 0)
    hits = post(providers, "/v1/court/dishonest-debtors",
                {"name": "王五", "id_number": BY_KEY["delinquent"].id_number}).json()["hits"]
    assert [(h["case_number"], h["court"], h["filed_on"], h["amount"]) for h in hits] == [
        ("(2023)沪0104执1234号", "上海市徐汇区人民法院", "2023-04-15", "45000.00"),
        ("(2023)沪0104执567号", "上海市徐汇区人民法院", "2023-11-15", "8800.00"),
    ]


def test_multi_lending_windows(providers):
    body = post(providers, "/v1/multi-lending", {"id_number": BY_KEY["shopper"].id_number}).json()
    assert [(w["days"], w["lenders"], w["applications"]) for w in body["windows"]] == [(7, 6, 11), (30, 14, 27), (90, 22, 48)]


def test_undocumented_numbers_are_deterministic(providers):
    idn = make_id_number("110108", AS_OF.replace(year=1993), 123)
    first = post(providers, "/v1/credit-reports", {"name": "某某", "id_number": idn}).json()
    again = post(providers, "/v1/credit-reports", {"name": "某某", "id_number": idn}).json()
    assert first == again
    assert post(providers, "/v1/multi-lending", {"id_number": idn}).json()["windows"] == \
        post(providers, "/v1/multi-lending", {"id_number": idn}).json()["windows"]


def test_reports_are_pinned_to_the_as_of_date_and_header_can_move_it(providers):
    p = BY_KEY["clean"]
    r = post(providers, "/v1/credit-reports", {"name": p.name, "id_number": p.id_number}).json()
    assert r["header"]["report_time"] == "2024-06-15T10:00:00+08:00"
    r = post(providers, "/v1/credit-reports", {"name": p.name, "id_number": p.id_number}, **{"X-Sim-As-Of": "2025-01-31"}).json()
    assert r["header"]["report_time"].startswith("2025-01-31")


def test_latency_header_delays_one_request(providers):
    p = BY_KEY["clean"]
    started = time.monotonic()
    post(providers, "/v1/identity/two-factor", {"name": p.name, "id_number": p.id_number}, **{"X-Sim-Latency-Ms": "200"})
    assert time.monotonic() - started >= 0.2


def test_stand_in_log_holds_no_id_number(providers):
    assert not any(person.id_number in providers.log() or person.mobile in providers.log() for person in IDENTITIES)
