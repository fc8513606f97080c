"""``/v1/ledger``: shapes, problem+json, idempotency."""

from __future__ import annotations

import pytest

ENTRY = {"id": "je_cap", "effective_date": "2024-01-31", "currency": "CNY", "memo": "Paid-in capital",
         "lines": [{"account": "1010.ICBC", "debit": "1000.00"}, {"account": "3000", "credit": "1000.00"}]}


def with_lines(*lines, **fields):
    return {**ENTRY, **fields, "lines": list(lines)}


@pytest.fixture
def bank(client):
    r = client.post("/v1/ledger/accounts", json={"code": "1010.ICBC", "name": "ICBC 6222", "currency": "CNY"})
    assert r.status_code == 201, r.text
    return r.json()


def problem_of(r, status: int, slug: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"] == f"/problems/{slug}" and body["status"] == status and body["detail"]
    return body


def entry_count(client) -> int:
    return len(client.get("/v1/ledger/entries", params={"limit": 100}).json()["data"])


def test_accounts_list_and_create(client, bank):
    assert bank["object"] == "ledger_account" and bank["id"] == "1010.ICBC" and bank["parent_code"] == "1010"
    assert bank["type"] == "asset" and bank["livemode"] is False and bank["created_at"].endswith("Z")
    assert bank["replayed"] is False and bank["balances"] == []
    again = client.post("/v1/ledger/accounts", json={"code": "1010.ICBC", "name": "ICBC 6222", "currency": "CNY"})
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.headers["idempotent-replayed"] == "true"
    problem_of(client.post("/v1/ledger/accounts", json={"code": "1010.ICBC", "name": "other"}), 409,
               "account-code-conflict")
    codes = [a["code"] for a in client.get("/v1/ledger/accounts").json()["data"]]
    assert codes == sorted(codes) and {"1010.ICBC", "1100", "1110", "1120", "1130", "2000", "2100", "1900", "3000",
                                       "4000", "4100", "4200", "5000"} <= set(codes)
    page = client.get("/v1/ledger/accounts", params={"limit": 3}).json()
    assert page["has_more"] and len(page["data"]) == 3
    rest = client.get("/v1/ledger/accounts", params={"limit": 100, "cursor": page["next_cursor"]}).json()
    assert [a["code"] for a in page["data"] + rest["data"]] == codes
    assert {a["type"] for a in client.get("/v1/ledger/accounts", params={"type": "income"}).json()["data"]} == {"income"}
    problem_of(client.get("/v1/ledger/accounts/9999"), 404, "not-found")


def test_post_entry_and_read_it_back(client, bank):
    r = client.post("/v1/ledger/entries", json=ENTRY)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["object"] == "journal_entry" and body["id"] == "je_cap" and body["replayed"] is False
    assert body["lines"] == [
        {"line_no": 1, "account": "1010.ICBC", "currency": "CNY", "debit": "1000.00", "credit": None},
        {"line_no": 2, "account": "3000", "currency": "CNY", "debit": None, "credit": "1000.00"}]
    got = client.get("/v1/ledger/entries/je_cap").json()
    assert {k: v for k, v in body.items() if k != "replayed"} == got
    assert client.get("/v1/ledger/accounts/1010.ICBC").json()["balances"] == [{"currency": "CNY", "balance": "1000.00"}]
    assert client.get("/v1/ledger/accounts/3000").json()["balances"] == [{"currency": "CNY", "balance": "1000.00"}]


def test_retry_with_the_entry_id_is_a_replay_and_other_content_a_409(client, bank):
    assert client.post("/v1/ledger/entries", json=ENTRY).status_code == 201
    r = client.post("/v1/ledger/entries", json=ENTRY)
    assert r.status_code == 200 and r.json()["replayed"] is True and r.headers["idempotent-replayed"] == "true"
    other = with_lines({"account": "1010.ICBC", "debit": "999.00"}, {"account": "3000", "credit": "999.00"})
    problem_of(client.post("/v1/ledger/entries", json=other), 409, "entry-id-conflict")
    assert client.get("/v1/ledger/accounts/1010.ICBC").json()["balances"][0]["balance"] == "1000.00"


def test_idempotency_key_replays_the_stored_response(client, bank):
    h = {"Idempotency-Key": "k-1"}
    r1 = client.post("/v1/ledger/entries", json=ENTRY, headers=h)
    r2 = client.post("/v1/ledger/entries", json=ENTRY, headers=h)
    assert r1.status_code == r2.status_code == 201 and r1.json() == r2.json()
    assert r2.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in r1.headers
    problem_of(client.post("/v1/ledger/entries", json={**ENTRY, "memo": "x"}, headers=h), 422, "idempotency-key-reused")


BAD_BODIES = [
    (with_lines({"account": "1010.ICBC", "debit": 1000.0}, {"account": "3000", "credit": "1000.00"}), "/lines/0/debit"),
    (with_lines({"account": "1010.ICBC", "debit": 1000}, {"account": "3000", "credit": "1000.00"}), "/lines/0/debit"),
    (with_lines({"account": "1010.ICBC", "debit": "1000.00", "side": "x"}, {"account": "3000", "credit": "1000.00"}),
     "/lines/0/side"),
    ({**ENTRY, "colour": "red"}, "/colour"),
    (with_lines({"account": "1010.ICBC", "debit": "1000.00", "credit": "1.00"}, {"account": "3000", "credit": "999.00"}),
     "/lines/0"),
    (with_lines({"account": "1010.ICBC"}, {"account": "3000", "credit": "1000.00"}), "/lines/0"),
    (with_lines({"account": "1010.ICBC", "debit": "-5.00"}, {"account": "3000", "debit": "5.00"}), "/lines/0/debit"),
    (with_lines({"account": "1010.ICBC", "debit": "0"}, {"account": "3000", "credit": "0"}), "/lines/0/debit"),
    (with_lines({"account": "1010.ICBC", "debit": "1.001"}, {"account": "3000", "credit": "1.001"}), "/lines/0/debit"),
    (with_lines({"account": "1010.ICBC", "debit": "1e3"}, {"account": "3000", "credit": "1000"}), "/lines/0/debit"),
    (with_lines({"account": "1010.ICBC", "debit": "1"}, {"account": "3000", "credit": "1"}, currency=None),
     "/lines/0/currency"),
    (with_lines({"account": "1010.ICBC", "debit": "1"}), "/lines"),
    ({**ENTRY, "id": "je cap"}, "/id"),
    ({**ENTRY, "effective_date": "31/01/2024"}, "/effective_date"),
]


def test_bad_requests_are_422_with_a_pointer_and_write_nothing(client, bank):
    for body, pointer in BAD_BODIES:
        problem = problem_of(client.post("/v1/ledger/entries", json=body), 422, "validation-error")
        assert problem["errors"][0]["pointer"] == pointer, (body, problem)
    assert entry_count(client) == 0


def test_business_rule_problems(client, bank):
    b = problem_of(client.post("/v1/ledger/entries", json=with_lines(
        {"account": "1010.ICBC", "debit": "100.00"}, {"account": "3000", "credit": "90.00"})), 422, "unbalanced-entry")
    assert b["imbalances"] == [{"currency": "CNY", "debit": "100.00", "credit": "90.00", "difference": "10.00"}]
    b = problem_of(client.post("/v1/ledger/entries", json=with_lines(
        {"account": "1010.ICBC", "debit": "1"}, {"account": "9999", "credit": "1"})), 422, "unknown-account")
    assert b["errors"][0]["pointer"] == "/lines/1/account"
    b = problem_of(client.post("/v1/ledger/entries", json=with_lines(
        {"account": "1010.ICBC", "debit": "1", "currency": "USD"}, {"account": "3000", "credit": "1", "currency": "USD"})),
        422, "account-currency-mismatch")
    assert b["errors"][0]["pointer"] == "/lines/0/currency"
    problem_of(client.post("/v1/ledger/entries", json=with_lines(
        {"account": "1010", "debit": "1"}, {"account": "3000", "credit": "1"})), 422, "header-account")
    assert entry_count(client) == 0
    problem_of(client.get("/v1/ledger/entries/je_nope"), 404, "not-found")


def test_reversal_routes(client, bank):
    client.post("/v1/ledger/entries", json=ENTRY)
    r = client.post("/v1/ledger/entries/je_cap/reversals", json={"id": "je_cap_rev", "memo": "booked twice"})
    assert r.status_code == 201, r.text
    rev = r.json()
    assert rev["reverses"] == "je_cap" and rev["effective_date"] == "2024-01-31" and rev["replayed"] is False
    assert [(line["debit"], line["credit"]) for line in rev["lines"]] == [(None, "1000.00"), ("1000.00", None)]
    assert client.get("/v1/ledger/entries/je_cap").json()["reversed_by"] == "je_cap_rev"
    again = client.post("/v1/ledger/entries/je_cap/reversals", json={"id": "je_cap_rev", "memo": "booked twice"})
    assert again.status_code == 200 and again.json()["replayed"] is True
    b = problem_of(client.post("/v1/ledger/entries/je_cap/reversals", json={"id": "je_cap_rev2"}), 409,
                   "entry-already-reversed")
    assert b["reversed_by"] == "je_cap_rev"
    problem_of(client.post("/v1/ledger/entries/je_cap_rev/reversals", json={"id": "je_x"}), 409, "entry-not-reversible")
    problem_of(client.post("/v1/ledger/entries/je_nope/reversals", json={"id": "je_y"}), 404, "not-found")
    b = problem_of(client.post("/v1/ledger/entries/je_cap/reversals", json={"id": "je_z", "effective_date": "2024-01-01"}),
                   422, "validation-error")
    assert b["errors"][0]["pointer"] == "/effective_date"
    problem_of(client.post("/v1/ledger/entries/je%20cap/reversals", json={"id": "je_z"}), 404, "not-found")
    assert client.get("/v1/ledger/accounts/1010.ICBC").json()["balances"][0]["balance"] == "0.00"


def test_list_entries_newest_first_with_cursor(client, bank):
    for i in range(5):
        r = client.post("/v1/ledger/entries", json={**ENTRY, "id": f"je_{i}"})
        assert r.status_code == 201
    page = client.get("/v1/ledger/entries", params={"limit": 2}).json()
    assert page["object"] == "list" and page["has_more"] and len(page["data"]) == 2
    ids = [e["id"] for e in page["data"]]
    while page["has_more"]:
        page = client.get("/v1/ledger/entries", params={"limit": 2, "cursor": page["next_cursor"]}).json()
        ids += [e["id"] for e in page["data"]]
    assert ids == ["je_4", "je_3", "je_2", "je_1", "je_0"]
    problem_of(client.get("/v1/ledger/entries", params={"cursor": "garbage"}), 422, "validation-error")


def test_trial_balance_and_statement_routes(client, bank):
    client.post("/v1/ledger/entries", json=ENTRY)
    client.post("/v1/ledger/entries", json=with_lines({"account": "1100", "debit": "300.00"},
                                                      {"account": "1010.ICBC", "credit": "300.00"},
                                                      id="je_loan", effective_date="2024-02-10"))
    tb = client.get("/v1/ledger/trial-balance", params={"as_of": "2024-01-31"}).json()
    assert tb["object"] == "trial_balance" and tb["as_of"] == "2024-01-31" and tb["balanced"] is True
    assert [(a["account"], a["debit"], a["credit"], a["balance"]) for a in tb["accounts"]] == [
        ("1010.ICBC", "1000.00", "0.00", "1000.00"), ("3000", "0.00", "1000.00", "1000.00")]
    assert tb["totals"] == [{"currency": "CNY", "debit": "1000.00", "credit": "1000.00", "difference": "0.00",
                             "balanced": True}]
    tb = client.get("/v1/ledger/trial-balance").json()
    assert tb["as_of"] is None and tb["totals"][0]["debit"] == "1000.00" and len(tb["accounts"]) == 3 and tb["balanced"]
    problem_of(client.get("/v1/ledger/trial-balance", params={"as_of": "yesterday"}), 422, "validation-error")

    st = client.get("/v1/ledger/accounts/1010.ICBC/entries", params={"limit": 1}).json()
    assert st["account"] == "1010.ICBC" and st["has_more"] is True
    assert st["data"][0] | {"booked_at": None} == {
        "object": "statement_line", "entry_id": "je_cap", "line_no": 1, "effective_date": "2024-01-31",
        "booked_at": None, "memo": "Paid-in capital", "currency": "CNY", "debit": "1000.00", "credit": None,
        "balance": "1000.00"}
    st = client.get("/v1/ledger/accounts/1010.ICBC/entries", params={"cursor": st["next_cursor"]}).json()
    assert [(x["entry_id"], x["credit"], x["balance"]) for x in st["data"]] == [("je_loan", "300.00", "700.00")]
    st = client.get("/v1/ledger/accounts/1010.ICBC/entries", params={"from": "2024-02-01", "to": "2024-02-28"}).json()
    assert [x["entry_id"] for x in st["data"]] == ["je_loan"] and not st["has_more"]
    problem_of(client.get("/v1/ledger/accounts/9999/entries"), 404, "not-found")


def test_openapi_documents_the_ledger(client):
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/v1/ledger/entries"]["post"]
    assert "422" in post["responses"] and "409" in post["responses"] and "200" in post["responses"]
    schemas = spec["components"]["schemas"]
    assert schemas["EntryCreate"]["examples"] and schemas["EntryOut"]["examples"]
    assert schemas["TrialBalanceOut"]["examples"] and schemas["AccountOut"]["examples"]
    for slug in ("unbalanced-entry", "unknown-account", "entry-id-conflict", "entry-already-reversed"):
        assert client.get(f"/problems/{slug}").status_code == 200
