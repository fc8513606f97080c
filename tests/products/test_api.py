"""``/v1/products`` over HTTP against a real PostgreSQL: create, replay, list, get, versions, retire,
and refusals that write nothing."""

from __future__ import annotations

import copy

import psycopg
import pytest

from openlend.products.demo import DEMO_PRODUCTS, seed_demo

BODY = {
    "code": "CASH-12M",
    "name": "Cash loan, 3-12 months",
    "currency": "CNY",
    "method": "equal_installment",
    "rate": {"min": "12", "max": "18", "default": "18"},
    "term": {"allowed": [3, 6, 9, 12]},
    "amount": {"min": "1000.00", "max": "50000.00"},
    "fees": [{"name": "service", "kind": "each_installment", "calculation": "percent", "value": "0.1"}],
}


def body(**changes) -> dict:
    b = copy.deepcopy(BODY)
    b.update(changes)
    return b


def counts(database) -> tuple[int, int]:
    with database.transaction() as conn:
        p = conn.execute("SELECT count(*) AS n FROM loan_products").fetchone()["n"]
        v = conn.execute("SELECT count(*) AS n FROM loan_product_versions").fetchone()["n"]
    return p, v


def create(client, b=None, key=None):
    headers = {"Idempotency-Key": key} if key else {}
    r = client.post("/v1/products", json=b or BODY, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def assert_problem(r, status: int, type_: str, pointer: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    p = r.json()
    assert p["type"] == f"/problems/{type_}" and p["status"] == status and p["detail"]
    if pointer is not None:
        assert pointer in [e["pointer"] for e in p.get("errors", [])], p
    return p


# --- create ---------------------------------------------------------------------------------------

def test_create_returns_the_product_at_version_1_with_every_default(client, database):
    p = create(client)
    assert p["object"] == "loan_product" and p["id"].startswith("prod_")
    assert (p["code"], p["name"], p["status"], p["version"], p["current_version"]) == (
        "CASH-12M", "Cash loan, 3-12 months", "active", 1, 1)
    assert p["livemode"] is False and p["created_at"].endswith("Z") and p["retired_at"] is None
    assert p["rate"] == {"min": "12", "max": "18", "default": "18"}
    assert p["term"] == {"min": 3, "max": 12, "allowed": [3, 6, 9, 12]}
    assert p["amount"] == {"min": "1000.00", "max": "50000.00"}
    assert p["frequency"] == {"unit": "month", "every": 1}
    assert (p["interest_basis"], p["day_count"]) == ("period", "30/360")
    assert p["penalty"] == {"calculation": "multiplier", "value": "1.5"}
    assert p["prepayment_fee"] == {"calculation": "none", "value": "0"}
    assert p["allocation"] == {"order": ["penalty", "fees", "interest", "principal"], "strategy": "installment_first"}
    assert p["rounding"] == {"places": 2, "mode": "half_even", "installment_multiple": None,
                             "installment_rounding": "half_even"}
    assert p["apr_cap"] is None
    w = p["worst_case_apr"]
    assert w["cap"] == "24" and w["annual_rate"] == "18" and float(w["nominal"]) <= 24
    assert set(w) == {"nominal", "effective", "cap", "annual_rate", "amount", "term", "disbursement_date"}
    assert counts(database) == (1, 1)


def test_same_key_and_body_replays_the_stored_response(client, database):
    r1 = client.post("/v1/products", json=BODY, headers={"Idempotency-Key": "k-1"})
    r2 = client.post("/v1/products", json=BODY, headers={"Idempotency-Key": "k-1"})
    assert r1.status_code == r2.status_code == 201
    assert r2.json() == r1.json() and r2.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in r1.headers
    r3 = client.post("/v1/products", json=body(name="Other"), headers={"Idempotency-Key": "k-1"})
    assert_problem(r3, 422, "idempotency-key-reused")
    assert counts(database) == (1, 1)


def test_a_code_is_unique(client, database):
    create(client)
    r = client.post("/v1/products", json=body(name="Again"))
    assert_problem(r, 409, "product-code-exists", "/code")
    assert counts(database) == (1, 1)


# --- refusals write nothing -----------------------------------------------------------------------

def test_a_json_number_for_a_rate_is_refused_with_its_pointer(client, database):
    r = client.post("/v1/products", json=body(rate={"min": 12, "max": "18", "default": "18"}))
    p = assert_problem(r, 422, "validation-error", "/rate/min")
    assert "decimal string" in p["errors"][0]["detail"]
    r = client.post("/v1/products", json=body(amount={"min": 1000.0, "max": "50000.00"}))
    assert_problem(r, 422, "validation-error", "/amount/min")
    assert counts(database) == (0, 0)


def test_an_unknown_field_is_refused(client, database):
    r = client.post("/v1/products", json=body(rate={"min": "12", "max": "18", "default": "18", "maximum": "20"}))
    p = assert_problem(r, 422, "validation-error", "/rate/maximum")
    assert p["errors"][0]["detail"] == "unknown field"
    assert_problem(client.post("/v1/products", json=body(colour="red")), 422, "validation-error", "/colour")
    assert counts(database) == (0, 0)


def test_an_unknown_enum_value_is_refused(client, database):
    assert_problem(client.post("/v1/products", json=body(method="balloon")), 422, "validation-error", "/method")
    assert_problem(client.post("/v1/products", json=body(day_count="30/365")), 422, "validation-error", "/day_count")
    assert counts(database) == (0, 0)


@pytest.mark.parametrize("change, pointer", [
    ({"rate": {"min": "20", "max": "18", "default": "18"}}, "/rate/max"),
    ({"amount": {"min": "5000.00", "max": "1000.00"}}, "/amount/max"),
    ({"term": {"min": 12, "max": 3}}, "/term/max"),
    ({"currency": "RMB"}, "/currency"),
    ({"allocation": {"order": ["principal", "interest"]}}, "/allocation/order"),
    ({"fees": [{"name": "x", "kind": "upfront", "calculation": "percent", "value": "120"}]}, "/fees/0/value"),
    ({"apr_cap": "30"}, "/apr_cap"),
])
def test_a_broken_rule_is_a_422_invalid_product_and_writes_nothing(client, database, change, pointer):
    r = client.post("/v1/products", json=body(**change), headers={"Idempotency-Key": "same-key"})
    assert_problem(r, 422, "invalid-product", pointer)
    assert counts(database) == (0, 0)
    # The key was not spent: the corrected request goes through with it.
    assert client.post("/v1/products", json=BODY, headers={"Idempotency-Key": "same-key"}).status_code == 201


def test_a_product_over_the_apr_cap_is_refused_with_the_combination(client, database):
    r = client.post("/v1/products", json=body(
        rate={"default": "20"}, term={"min": 3, "max": 12},
        fees=[{"name": "arrangement", "kind": "upfront", "calculation": "percent", "value": "5"}]))
    p = assert_problem(r, 422, "apr-cap-exceeded", "/rate/max")
    w = p["worst_case"]
    assert (w["annual_rate"], w["term"], w["cap"]) == ("20", 3, "24")
    assert float(w["nominal"]) > 24
    assert "3 periods" in p["detail"] and "24%" in p["detail"]
    assert counts(database) == (0, 0)


def test_a_product_may_choose_a_lower_cap(client):
    r = client.post("/v1/products", json=body(apr_cap="15"))
    p = assert_problem(r, 422, "apr-cap-exceeded")
    assert p["worst_case"]["cap"] == "15"
    ok = create(client, body(apr_cap="21"))
    assert ok["apr_cap"] == "21" and ok["worst_case_apr"]["cap"] == "21"


# --- read -----------------------------------------------------------------------------------------

def test_list_is_newest_first_with_a_cursor_and_a_status_filter(client):
    made = [create(client, body(code=f"P{i}", name=f"Product {i}"))["id"] for i in range(5)]
    page1 = client.get("/v1/products", params={"limit": 2}).json()
    assert page1["object"] == "list" and page1["has_more"] is True
    assert [p["id"] for p in page1["data"]] == made[::-1][:2]
    page2 = client.get("/v1/products", params={"limit": 2, "cursor": page1["next_cursor"]}).json()
    page3 = client.get("/v1/products", params={"limit": 2, "cursor": page2["next_cursor"]}).json()
    assert [p["id"] for p in page2["data"] + page3["data"]] == made[::-1][2:]
    assert page3["has_more"] is False and page3["next_cursor"] is None
    client.post(f"/v1/products/{made[0]}/retire")
    retired = client.get("/v1/products", params={"status": "retired"}).json()["data"]
    assert [p["id"] for p in retired] == [made[0]]
    assert len(client.get("/v1/products", params={"status": "active"}).json()["data"]) == 4
    assert_problem(client.get("/v1/products", params={"limit": 101}), 422, "validation-error", "/query/limit")
    assert_problem(client.get("/v1/products", params={"cursor": "nope"}), 422, "validation-error", "/query/cursor")


def test_get_by_id_and_unknown_ids(client):
    p = create(client)
    assert client.get(f"/v1/products/{p['id']}").json() == p
    assert_problem(client.get("/v1/products/prod_00000000000000000000000000"), 404, "not-found")
    assert_problem(client.get("/v1/products/cus_123"), 404, "not-found")
    assert_problem(client.get(f"/v1/products/{p['id']}", params={"version": 2}), 404, "not-found")


# --- versions -------------------------------------------------------------------------------------

def test_a_new_version_keeps_the_old_one_retrievable(client, database):
    p = create(client)
    r = client.post(f"/v1/products/{p['id']}/versions", json={"rate": {"max": "20", "default": "19"},
                                                              "term": {"allowed": [6, 12]}, "name": "Cash loan v2"})
    assert r.status_code == 201, r.text
    v2 = r.json()
    assert (v2["id"], v2["version"], v2["current_version"], v2["name"]) == (p["id"], 2, 2, "Cash loan v2")
    assert v2["rate"] == {"min": "12", "max": "20", "default": "19"}
    assert v2["term"] == {"min": 6, "max": 12, "allowed": [6, 12]}  # min/max were never set: they follow
    assert v2["fees"] == p["fees"] and v2["code"] == p["code"] and v2["created_at"] == p["created_at"]

    current = client.get(f"/v1/products/{p['id']}").json()
    assert current == v2
    old = client.get(f"/v1/products/{p['id']}", params={"version": 1}).json()
    assert (old["version"], old["current_version"], old["name"], old["rate"]) == (1, 2, p["name"], p["rate"])
    versions = client.get(f"/v1/products/{p['id']}/versions").json()
    assert [v["version"] for v in versions["data"]] == [2, 1]
    assert versions["data"][0] == v2
    one = client.get(f"/v1/products/{p['id']}/versions", params={"limit": 1}).json()
    assert one["has_more"] and one["next_cursor"] == "2"
    rest = client.get(f"/v1/products/{p['id']}/versions", params={"limit": 1, "cursor": "2"}).json()
    assert [v["version"] for v in rest["data"]] == [1] and rest["has_more"] is False
    assert counts(database) == (1, 2)
    listed = client.get("/v1/products").json()["data"]
    assert listed == [v2]


def test_a_patch_with_null_puts_a_field_back_to_its_default(client):
    p = create(client, body(allocation={"order": ["principal", "interest", "fees", "penalty"],
                                        "strategy": "component_first"}))
    r = client.post(f"/v1/products/{p['id']}/versions", json={"allocation": None, "fees": []})
    assert r.status_code == 201, r.text
    v2 = r.json()
    assert v2["allocation"] == {"order": ["penalty", "fees", "interest", "principal"], "strategy": "installment_first"}
    assert v2["fees"] == []


def test_a_bad_patch_is_refused_and_writes_nothing(client, database):
    p = create(client)
    url = f"/v1/products/{p['id']}/versions"
    assert_problem(client.post(url, json={"rate": {"max": 20}}), 422, "validation-error", "/rate/max")
    assert_problem(client.post(url, json={"rate": {"colour": "20"}}), 422, "validation-error", "/rate/colour")
    assert_problem(client.post(url, json={"rate": {"max": "10"}}), 422, "invalid-product", "/rate/max")
    assert_problem(client.post(url, json={"code": "NEW"}), 422, "validation-error", "/code")
    assert_problem(client.post(url, json={}), 422, "invalid-product")
    assert_problem(client.post(url, json={"rate": {"max": "18"}}), 422, "invalid-product")  # changes nothing
    assert_problem(client.post(url, json={"fees": [{"name": "x", "kind": "upfront", "calculation": "percent",
                                                    "value": "10"}]}), 422, "apr-cap-exceeded")
    assert_problem(client.post(url, json=[1, 2]), 422, "validation-error")
    assert_problem(client.post("/v1/products/prod_00000000000000000000000000/versions", json={"name": "x"}),
                   404, "not-found")
    assert counts(database) == (1, 1)
    assert client.get(f"/v1/products/{p['id']}").json() == p


def test_new_versions_are_idempotent(client, database):
    p = create(client)
    url = f"/v1/products/{p['id']}/versions"
    r1 = client.post(url, json={"name": "v2"}, headers={"Idempotency-Key": "nv-1"})
    r2 = client.post(url, json={"name": "v2"}, headers={"Idempotency-Key": "nv-1"})
    assert r1.status_code == r2.status_code == 201 and r1.json() == r2.json()
    assert r2.headers["idempotent-replayed"] == "true"
    assert counts(database) == (1, 2)


def test_versions_are_immutable_in_the_database(client, database):
    p = create(client)
    with database.transaction() as conn:
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="immutable"):
            conn.execute("UPDATE loan_product_versions SET config = '{}' WHERE product_id = %s", [p["id"]])
    with database.transaction() as conn:
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="immutable"):
            conn.execute("DELETE FROM loan_product_versions WHERE product_id = %s", [p["id"]])
    assert counts(database) == (1, 1)


def test_a_product_cannot_point_at_a_version_that_does_not_exist(client, database):
    p = create(client)
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        with database.transaction() as conn:
            conn.execute("UPDATE loan_products SET current_version = 5 WHERE id = %s", [p["id"]])


# --- retire ---------------------------------------------------------------------------------------

def test_retire_then_no_new_versions_and_no_second_retire(client, database):
    p = create(client)
    r = client.post(f"/v1/products/{p['id']}/retire")
    assert r.status_code == 200, r.text
    retired = r.json()
    assert retired["status"] == "retired" and retired["retired_at"].endswith("Z") and retired["version"] == 1
    assert_problem(client.post(f"/v1/products/{p['id']}/retire"), 409, "product-retired")
    assert_problem(client.post(f"/v1/products/{p['id']}/versions", json={"name": "x"}), 409, "product-retired")
    assert client.get(f"/v1/products/{p['id']}").json()["status"] == "retired"
    assert counts(database) == (1, 1)


def test_retire_with_a_key_replays(client):
    p = create(client)
    r1 = client.post(f"/v1/products/{p['id']}/retire", headers={"Idempotency-Key": "r-1"})
    r2 = client.post(f"/v1/products/{p['id']}/retire", headers={"Idempotency-Key": "r-1"})
    assert r1.status_code == r2.status_code == 200 and r2.headers["idempotent-replayed"] == "true"


# --- demo, docs -----------------------------------------------------------------------------------

def test_seed_demo_creates_the_demo_products_once(client, database):
    with database.transaction() as conn:
        assert seed_demo(conn) == f"{len(DEMO_PRODUCTS)} loan products ({len(DEMO_PRODUCTS)} new)"
    with database.transaction() as conn:
        assert seed_demo(conn) == f"{len(DEMO_PRODUCTS)} loan products (0 new)"
    codes = {p["code"] for p in client.get("/v1/products").json()["data"]}
    assert codes == {p["code"] for p in DEMO_PRODUCTS}


def test_openapi_documents_the_product_routes(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert {"/v1/products", "/v1/products/{product_id}", "/v1/products/{product_id}/versions",
            "/v1/products/{product_id}/retire"} <= set(paths)
    create_op = paths["/v1/products"]["post"]
    assert "201" in create_op["responses"] and "422" in create_op["responses"]
    assert "apr-cap-exceeded" in create_op["responses"]["422"]["description"]
    assert client.get("/problems/apr-cap-exceeded").status_code == 200
