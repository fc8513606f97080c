"""Customers: validation of the mobile and the resident ID number (GB 11643), the ID number stored
only encrypted and as a keyed hash, shown masked, never logged; one customer per person."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os

import pytest

from openlend.customers import crypto
from openlend.customers import service as customers
from openlend.errors import Problem
from openlend.settings import get_settings

# The worked examples of GB 11643-1999 (not real people).
ID_1 = "11010519491231002X"
ID_2 = "440524188001010014"


def valid_id(body17: str) -> str:
    return body17 + customers.id_check_char(body17)


def counts(database) -> tuple[int, int]:
    with database.transaction() as conn:
        return (conn.execute("SELECT count(*) AS n FROM customers").fetchone()["n"],
                conn.execute("SELECT count(*) AS n FROM idempotency_keys").fetchone()["n"])


def create(client, key=None, **body):
    doc = {"name": "张三", "mobile": "13812345678", "id_number": ID_1, **body}
    return client.post("/v1/customers", json=doc, headers={"Idempotency-Key": key} if key else {})


def assert_problem(r, status, type_, pointer=None):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    p = r.json()
    assert p["type"] == f"/problems/{type_}"
    if pointer:
        assert pointer in [e["pointer"] for e in p.get("errors", [])], p
    return p


# --- validation (no database) -----------------------------------------------------------------------

def test_gb11643_check_character():
    assert customers.id_check_char(ID_1[:17]) == "X"
    assert customers.id_check_char(ID_2[:17]) == "4"
    assert customers.normalise_id_number(ID_1.lower()) == ID_1
    assert customers.normalise_id_number(" " + ID_2 + " ") == ID_2


@pytest.mark.parametrize("bad, fix_check", [
    ("11010519491231002", False),          # 17 characters
    ("110105194912310021", False),         # wrong check character
    ("11010519491231002Y", False),         # not a digit or X
    ("1101051949123100X2", False),         # X not last
    ("11010519490230002", True),           # 30 February
    ("11010523000101001", True),           # born in 2300
    ("99010519491231002", True),           # no such province
    ("", False),
])
def test_bad_id_numbers_are_refused_without_repeating_them(bad, fix_check):
    if fix_check:  # a right check character: only the rule under test is broken
        bad = valid_id(bad)
    with pytest.raises(Problem) as exc:
        customers.normalise_id_number(bad)
    p = exc.value
    assert p.status_code == 422 and p.errors[0]["pointer"] == "/id_number"
    assert not bad or bad not in json.dumps(p.to_dict())


@pytest.mark.parametrize("given", ["13812345678", "+8613812345678", "+86 138 1234 5678", "008613812345678",
                                   "8613812345678", "138-1234-5678"])
def test_mobile_numbers_normalise_to_e164(given):
    assert customers.normalise_mobile(given) == "+8613812345678"


@pytest.mark.parametrize("bad", ["12812345678", "1381234567", "+1 415 555 0100", "138123456789", "abc", ""])
def test_bad_mobile_numbers(bad):
    with pytest.raises(Problem) as exc:
        customers.normalise_mobile(bad)
    assert exc.value.errors[0]["pointer"] == "/mobile"


def test_mask():
    assert customers.mask_id_number(ID_1) == "1101**********002X"


# --- the API ----------------------------------------------------------------------------------------

def test_create_shows_the_id_number_masked_and_stores_it_encrypted(client, database):
    r = create(client, mobile="+86 138-1234-5678", name="  张三  ")
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["object"] == "customer" and c["id"].startswith("cus_")
    assert (c["name"], c["mobile"], c["id_number"], c["id_number_last4"], c["status"], c["livemode"]) == (
        "张三", "+8613812345678", "1101**********002X", "002X", "active", False)
    assert ID_1 not in r.text

    with database.transaction() as conn:
        row = conn.execute("SELECT * FROM customers WHERE id = %s", [c["id"]]).fetchone()
        dump = json.dumps({k: (bytes(v).hex() if isinstance(v, (bytes, memoryview)) else str(v))
                           for k, v in row.items()})
        assert ID_1 not in dump and ID_1.encode().hex() not in dump
        ring = crypto.keyring()
        assert row["id_number_key_id"] == ring.current_id and row["id_number_key_id"].startswith("dk_")
        assert len(bytes(row["id_number_cipher"])) == 12 + 18 + 16
        assert ring.decrypt(row["id_number_cipher"], row["id_number_key_id"]) == ID_1
        assert bytes(row["id_number_hash"]) == ring.lookup_hash(ID_1) != hashlib.sha256(ID_1.encode()).digest()
        assert customers.reveal_id_number(conn, c["id"]) == ID_1
        # two customers' ciphertexts differ even for equal prefixes (a fresh nonce each)
        assert ring.encrypt(ID_1)[0] != ring.encrypt(ID_1)[0]

    assert client.get(f"/v1/customers/{c['id']}").json() == c


def test_the_id_number_never_reaches_the_logs_or_the_idempotency_store(client, database, caplog):
    caplog.set_level(logging.DEBUG)
    r = create(client, key="cust-1")
    assert r.status_code == 201
    assert_problem(create(client, key="cust-2"), 409, "customer-exists")
    assert_problem(create(client, id_number=ID_1[:17] + "1"), 422, "validation-error", "/id_number")
    text = caplog.text + "".join(str(rec.__dict__) for rec in caplog.records)
    assert ID_1 not in text and ID_1[:17] not in text
    with database.transaction() as conn:
        rows = conn.execute("SELECT request_hash, response_body::text AS body FROM idempotency_keys").fetchall()
    assert rows and all(ID_1 not in r["body"] for r in rows)
    # the request hash is over the keyed hash, not the ID number: it cannot be brute-forced offline
    plain = hashlib.sha256(json.dumps({"id_number": ID_1, "mobile": "13812345678", "name": "张三"}, sort_keys=True,
                                      separators=(",", ":")).encode()).hexdigest()
    assert all(r["request_hash"] != plain for r in rows)


def test_one_customer_per_id_number(client, database):
    first = create(client).json()
    before = counts(database)
    p = assert_problem(create(client, name="李四", mobile="13900000000", id_number=ID_1.lower()), 409,
                       "customer-exists", "/id_number")
    assert p["customer_id"] == first["id"]
    assert counts(database) == before
    assert create(client, id_number=ID_2).status_code == 201


@pytest.mark.parametrize("body, pointer", [
    ({"id_number": "110105194912310021"}, "/id_number"),
    ({"mobile": "12345"}, "/mobile"),
    ({"name": "   "}, "/name"),
    ({"name": ""}, "/name"),
    ({"email": "x@example.com"}, "/email"),
    ({"id_number": 110105194912310020}, "/id_number"),
])
def test_refusals_write_nothing(client, database, body, pointer):
    before = counts(database)
    assert_problem(create(client, key="k", **body), 422, "validation-error", pointer)
    assert counts(database) == before


def test_create_is_idempotent(client, database):
    r1 = create(client, key="c1")
    r2 = create(client, key="c1")
    assert r2.status_code == 201 and r2.headers["idempotent-replayed"] == "true" and r2.json() == r1.json()
    assert_problem(create(client, key="c1", name="王五"), 422, "idempotency-key-reused")
    assert counts(database)[0] == 1


def test_get_list_and_search(client, database):
    ids = [valid_id(f"31011519900101{i:03d}") for i in range(3)]
    made = [create(client, id_number=ids[i], mobile=f"1391234567{i}").json() for i in range(3)]
    assert_problem(client.get("/v1/customers/cus_nope"), 404, "not-found")
    assert_problem(client.get("/v1/customers/line_nope"), 404, "not-found")
    page = client.get("/v1/customers?limit=2").json()
    assert [c["id"] for c in page["data"]] == [made[2]["id"], made[1]["id"]] and page["has_more"]
    rest = client.get(f"/v1/customers?limit=2&cursor={page['next_cursor']}").json()
    assert [c["id"] for c in rest["data"]] == [made[0]["id"]] and not rest["has_more"]
    assert_problem(client.get("/v1/customers?cursor=zzz"), 422, "validation-error", "/query/cursor")

    found = client.post("/v1/customers/search", json={"id_number": ids[1]}).json()
    assert [c["id"] for c in found["data"]] == [made[1]["id"]]
    assert client.post("/v1/customers/search", json={"mobile": "+86 139 1234 5670"}).json()["data"][0]["id"] == made[0]["id"]
    assert client.post("/v1/customers/search", json={"id_number": ID_2}).json()["data"] == []
    assert_problem(client.post("/v1/customers/search", json={}), 422, "validation-error")
    assert_problem(client.post("/v1/customers/search", json={"id_number": "bad"}), 422, "validation-error",
                   "/id_number")


# --- keys -------------------------------------------------------------------------------------------

def test_keys_rotate_old_rows_still_decrypt_and_lookups_still_match(client, database, monkeypatch, data_key):
    old = create(client).json()
    new_key = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("OPENLEND_DATA_KEY", new_key)
    monkeypatch.setenv("OPENLEND_DATA_KEYS_PREVIOUS", data_key)
    newer = create(client, id_number=ID_2).json()
    with database.transaction() as conn:
        kids = {r["id"]: r["id_number_key_id"] for r in conn.execute(
            "SELECT id, id_number_key_id FROM customers").fetchall()}
        assert kids[old["id"]] != kids[newer["id"]] == crypto.keyring().current_id
        assert customers.reveal_id_number(conn, old["id"]) == ID_1
        assert customers.reveal_id_number(conn, newer["id"]) == ID_2
    # the look-up hash did not change with the data key: the old customer is still found, still unique
    assert [c["id"] for c in client.post("/v1/customers/search", json={"id_number": ID_1}).json()["data"]] == [old["id"]]
    assert_problem(create(client), 409, "customer-exists")
    # without the old key, the old row cannot be read (and says so, without the data)
    monkeypatch.delenv("OPENLEND_DATA_KEYS_PREVIOUS")
    with database.transaction() as conn:
        with pytest.raises(crypto.DataKeyError) as exc:
            customers.reveal_id_number(conn, old["id"])
    assert ID_1 not in str(exc.value)


def test_tampered_ciphertext_fails_authentication():
    ring = crypto.keyring()
    blob, kid = ring.encrypt(ID_1)
    broken = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(crypto.DataKeyError):
        ring.decrypt(broken, kid)


def test_a_sandbox_without_a_key_makes_one_in_the_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENLEND_DATA_KEY")
    monkeypatch.setenv("OPENLEND_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        ring = crypto.keyring()
        path = tmp_path / "data_key"
        assert path.exists() and (path.stat().st_mode & 0o777) == 0o600
        assert len(base64.b64decode(path.read_text().strip())) == 32
        assert crypto.keyring().current_id == ring.current_id
        monkeypatch.setenv("OPENLEND_LIVEMODE", "true")
        get_settings.cache_clear()
        with pytest.raises(crypto.DataKeyError):
            crypto.keyring()
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"short").decode()])
def test_malformed_keys_are_refused(monkeypatch, value):
    monkeypatch.setenv("OPENLEND_DATA_KEY", value)
    with pytest.raises(crypto.DataKeyError) as exc:
        crypto.keyring()
    assert value not in str(exc.value)
