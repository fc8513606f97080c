"""``/v1/credit-lines`` over HTTP: open, read, list, limit changes with history, freeze, unfreeze,
close; every refusal a problem that writes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from servicing_helpers import D, assert_problem, counts, make_customer, make_product

from openlend.products import service as products


@pytest.fixture
def ids(database):
    with database.transaction() as conn:
        prod = make_product(conn)
        cus = make_customer(conn)
    return {"customer_id": cus["id"], "product_id": prod["id"]}


def open_line(client, ids, key=None, **changes):
    body = {"customer_id": ids["customer_id"], "product_id": ids["product_id"], "limit": "50000.00", **changes}
    return client.post("/v1/credit-lines", json=body, headers={"Idempotency-Key": key} if key else {})


def test_open_a_line(client, ids):
    expires = (dt.date.today() + dt.timedelta(days=365)).isoformat()
    r = open_line(client, ids, currency="CNY", expires_on=expires)
    assert r.status_code == 201, r.text
    line = r.json()
    assert line["object"] == "credit_line" and line["id"].startswith("line_")
    assert (line["customer_id"], line["product_id"], line["product_version"], line["currency"]) == (
        ids["customer_id"], ids["product_id"], 1, "CNY")
    assert (line["limit"], line["used"], line["available"], line["status"], line["expires_on"]) == (
        "50000.00", "0.00", "50000.00", "active", expires)
    assert line["livemode"] is False and line["created_at"].endswith("Z")
    assert client.get(f"/v1/credit-lines/{line['id']}").json() == line
    hist = client.get(f"/v1/credit-lines/{line['id']}/limit-changes").json()
    assert [(h["kind"], h["previous_limit"], h["limit"]) for h in hist["data"]] == [("initial", "0.00", "50000.00")]


def test_the_currency_defaults_to_the_products(client, ids):
    assert open_line(client, ids).json()["currency"] == "CNY"


@pytest.mark.parametrize("changes, status, type_, pointer", [
    ({"customer_id": "cus_nope"}, 404, "not-found", "/customer_id"),
    ({"product_id": "prod_nope"}, 404, "not-found", "/product_id"),
    ({"currency": "USD"}, 422, "validation-error", "/currency"),
    ({"currency": "usd"}, 422, "validation-error", "/currency"),
    ({"limit": "100.001"}, 422, "validation-error", "/limit"),
    ({"limit": "0"}, 422, "validation-error", "/limit"),
    ({"limit": 5000}, 422, "validation-error", "/limit"),
    ({"expires_on": "2001-01-01"}, 422, "validation-error", "/expires_on"),
    ({"expires_on": "tomorrow"}, 422, "validation-error", "/expires_on"),
    ({"colour": "red"}, 422, "validation-error", "/colour"),
])
def test_refusals_to_open_write_nothing(client, database, ids, changes, status, type_, pointer):
    before = counts(database)
    assert_problem(open_line(client, ids, key="k", **changes), status, type_, pointer)
    assert counts(database) == before


def test_one_open_line_per_customer_and_product(client, database, ids):
    first = open_line(client, ids).json()
    before = counts(database)
    p = assert_problem(open_line(client, ids), 409, "credit-line-exists")
    assert p["credit_line_id"] == first["id"]
    assert counts(database) == before
    # once closed, a new one may be opened
    assert client.post(f"/v1/credit-lines/{first['id']}/close").status_code == 200
    assert open_line(client, ids).status_code == 201


def test_a_retired_product_opens_no_lines(client, database, ids):
    with database.transaction() as conn:
        products.retire_product(conn, ids["product_id"])
    before = counts(database)
    assert_problem(open_line(client, ids), 409, "product-retired")
    assert counts(database) == before


def test_open_is_idempotent(client, database, ids):
    r1 = open_line(client, ids, key="open-1")
    r2 = open_line(client, ids, key="open-1")
    assert r2.status_code == 201 and r2.headers["idempotent-replayed"] == "true" and r2.json() == r1.json()
    assert counts(database)["credit_lines"] == 1


def test_limit_changes_and_history(client, database, ids):
    line = open_line(client, ids).json()
    url = f"/v1/credit-lines/{line['id']}"
    r = client.post(url + "/limit", json={"limit": "80000.00", "reason": "annual review"})
    assert r.status_code == 200, r.text
    assert (r.json()["limit"], r.json()["available"]) == ("80000.00", "80000.00")
    draw = client.post(url + "/drawdowns", json={"amount": "20000.00", "term": 12}, headers={"Idempotency-Key": "d"})
    assert draw.status_code == 201, draw.text
    r = client.post(url + "/limit", json={"limit": "20000.00", "reason": "risk review"})
    assert r.status_code == 200 and (r.json()["limit"], r.json()["used"], r.json()["available"]) == (
        "20000.00", "20000.00", "0.00")

    before = counts(database)
    p = assert_problem(client.post(url + "/limit", json={"limit": "19999.99", "reason": "too low"}),
                       422, "limit-below-used", "/limit")
    assert p["used"] == "20000.00" and "never drops below what is drawn" in p["detail"]
    assert_problem(client.post(url + "/limit", json={"limit": "20000.00", "reason": "same"}), 422,
                   "validation-error", "/limit")
    assert_problem(client.post(url + "/limit", json={"limit": "30000.00"}), 422, "validation-error", "/reason")
    assert_problem(client.post(url + "/limit", json={"limit": "30000.001", "reason": "x"}), 422,
                   "validation-error", "/limit")
    assert_problem(client.post("/v1/credit-lines/line_nope/limit", json={"limit": "1.00", "reason": "x"}), 404,
                   "not-found")
    assert counts(database) == before

    hist = client.get(url + "/limit-changes").json()["data"]
    assert [(h["kind"], h["previous_limit"], h["limit"], h["used"], h["reason"]) for h in hist] == [
        ("decrease", "80000.00", "20000.00", "20000.00", "risk review"),
        ("increase", "50000.00", "80000.00", "0.00", "annual review"),
        ("initial", "0.00", "50000.00", "0.00", "line opened")]
    assert all(h["changed_by"] == "admin" for h in hist)
    page1 = client.get(url + "/limit-changes?limit=2").json()
    assert page1["has_more"] and len(page1["data"]) == 2
    page2 = client.get(url + f"/limit-changes?limit=2&cursor={page1['next_cursor']}").json()
    assert [h["kind"] for h in page2["data"]] == ["initial"] and not page2["has_more"]


def test_freeze_unfreeze_close(client, database, ids):
    line = open_line(client, ids).json()
    url = f"/v1/credit-lines/{line['id']}"
    r = client.post(url + "/freeze", json={"reason": "suspected fraud"})
    assert r.status_code == 200 and (r.json()["status"], r.json()["status_reason"]) == ("frozen", "suspected fraud")
    before = counts(database)
    assert_problem(client.post(url + "/freeze"), 409, "credit-line-frozen")
    assert counts(database) == before
    assert client.post(url + "/unfreeze").json()["status"] == "active"
    assert_problem(client.post(url + "/unfreeze"), 409, "credit-line-not-frozen")

    client.post(url + "/drawdowns", json={"amount": "1000.00", "term": 3}, headers={"Idempotency-Key": "d"})
    before = counts(database)
    p = assert_problem(client.post(url + "/close"), 409, "credit-line-in-use")
    assert p["used"] == "1000.00"
    assert counts(database) == before

    with database.transaction() as conn:   # the loan is repaid: the line is free again
        from openlend.lines import service as lines
        lines.release(conn, line["id"], D("1000.00"))
    closed = client.post(url + "/close", json={"reason": "customer request"}).json()
    assert closed["status"] == "closed" and closed["closed_at"] and closed["used"] == "0.00"
    for action, type_ in (("close", "credit-line-closed"), ("freeze", "credit-line-closed"),
                          ("unfreeze", "credit-line-closed")):
        assert_problem(client.post(url + f"/{action}"), 409, type_)
    assert_problem(client.post(url + "/limit", json={"limit": "1.00", "reason": "x"}), 409, "credit-line-closed")
    assert_problem(client.post("/v1/credit-lines/line_nope/freeze"), 404, "not-found")


def test_state_changes_are_idempotent(client, ids):
    line = open_line(client, ids).json()
    url = f"/v1/credit-lines/{line['id']}/freeze"
    r1 = client.post(url, headers={"Idempotency-Key": "f1"})
    r2 = client.post(url, headers={"Idempotency-Key": "f1"})
    assert r1.status_code == r2.status_code == 200 and r2.headers["idempotent-replayed"] == "true"
    assert r1.json() == r2.json()


def test_list_lines(client, database, ids):
    lines_ = [open_line(client, ids).json()]
    with database.transaction() as conn:
        for i in range(2):
            cus = make_customer(conn, name=f"客户{i}")
            lines_.append({"customer_id": cus["id"]})
    for extra in lines_[1:]:
        extra.update(open_line(client, {"customer_id": extra["customer_id"], "product_id": ids["product_id"]}).json())
    got = client.get("/v1/credit-lines?limit=2").json()
    assert [x["id"] for x in got["data"]] == [lines_[2]["id"], lines_[1]["id"]] and got["has_more"]
    rest = client.get(f"/v1/credit-lines?limit=2&cursor={got['next_cursor']}").json()
    assert [x["id"] for x in rest["data"]] == [lines_[0]["id"]] and not rest["has_more"]
    mine = client.get(f"/v1/credit-lines?customer_id={ids['customer_id']}").json()
    assert [x["id"] for x in mine["data"]] == [lines_[0]["id"]]
    client.post(f"/v1/credit-lines/{lines_[1]['id']}/freeze")
    assert [x["id"] for x in client.get("/v1/credit-lines?status=frozen").json()["data"]] == [lines_[1]["id"]]
    assert_problem(client.get("/v1/credit-lines?cursor=bad"), 422, "validation-error", "/query/cursor")
    assert_problem(client.get("/v1/credit-lines/line_nope"), 404, "not-found")


def test_openapi_documents_the_routes(client):
    doc = client.get("/openapi.json").json()
    for path in ("/v1/credit-lines", "/v1/credit-lines/{line_id}/drawdowns", "/v1/credit-lines/{line_id}/limit",
                 "/v1/credit-lines/{line_id}/freeze", "/v1/credit-lines/{line_id}/limit-changes", "/v1/customers",
                 "/v1/loans", "/v1/loans/{loan_id}", "/v1/loans/{loan_id}/schedule"):
        assert path in doc["paths"], path
    drawdown = doc["paths"]["/v1/credit-lines/{line_id}/drawdowns"]["post"]
    assert "/problems/insufficient-available-limit" in drawdown["responses"]["422"]["description"]
    types = {p["type"] for p in client.get("/problems").json()["data"]}
    assert {"/problems/insufficient-available-limit", "/problems/limit-below-used", "/problems/credit-line-frozen",
            "/problems/customer-exists"} <= types
