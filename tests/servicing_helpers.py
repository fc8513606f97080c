"""Helpers shared by the tests of customers, credit lines, drawdowns and servicing (``tests/`` is on
sys.path through the root conftest, so any test can ``from servicing_helpers import ...``)."""

from __future__ import annotations

import base64
import itertools
import threading
from decimal import Decimal
from typing import Any

from openlend.customers import service as customers
from openlend.lines import service as lines
from openlend.products import service as products

D = Decimal
TEST_DATA_KEY = base64.b64encode(bytes(range(32))).decode()

PRODUCT: dict[str, Any] = {
    "code": "LINE-TEST-12M",
    "name": "Line test product",
    "currency": "CNY",
    "method": "equal_installment",
    "rate": {"min": "12", "max": "18", "default": "18"},
    "term": {"allowed": [3, 6, 12]},
    "amount": {"min": "1000.00", "max": "100000.00"},
    "fees": [{"name": "arrangement", "kind": "upfront", "calculation": "fixed", "value": "5.00"},
             {"name": "service", "kind": "each_installment", "calculation": "percent", "value": "0.1"}],
}

_seq = itertools.count(1)
_seq_lock = threading.Lock()


def make_id_number(region: str = "110105", birth: str = "19900101", seq: int | None = None) -> str:
    """A fake resident ID number with a valid GB 11643 check character."""
    if seq is None:
        with _seq_lock:
            seq = next(_seq)
    body = f"{region}{birth}{seq % 1000:03d}"
    if seq >= 1000:  # more than 1000 people: move the birthday
        body = f"{region}{1950 + seq // 1000 % 50}0101{seq % 1000:03d}"
    return body + customers.id_check_char(body)


def make_customer(conn, name: str = "张三", mobile: str = "13812345678", id_number: str | None = None) -> dict:
    return customers.create_customer(conn, {"name": name, "mobile": mobile,
                                            "id_number": id_number or make_id_number()})


def make_product(conn, **changes) -> dict:
    body = {**PRODUCT, **changes}
    return products.create_product(conn, body)


def setup_line(database, limit: str = "10000.00", product: dict | None = None, **kw) -> dict:
    """A customer, a product (made unless given) and a line on it; committed. Returns their ids."""
    with database.transaction() as conn:
        prod = product or make_product(conn)
        cus = make_customer(conn)
        line = lines.create_line(conn, customer_id=cus["id"], product_id=prod["id"], limit=D(limit), **kw)
    return {"customer_id": cus["id"], "product_id": prod["id"], "line_id": line["id"]}


TABLES = ("customers", "credit_lines", "credit_line_limit_changes", "loans", "loan_schedule_versions",
          "loan_scheduled_installments", "loan_installments", "loan_transactions", "loan_posted_totals",
          "journal_entries", "journal_lines", "idempotency_keys")


def counts(database) -> dict[str, Any]:
    """Rows per table, the lines' used and limit totals and the ledger's balances: what must not
    change when a request is refused."""
    with database.transaction() as conn:
        out: dict[str, Any] = {t: conn.execute(f"SELECT count(*) AS n FROM {t}").fetchone()["n"] for t in TABLES}
        out["lines"] = [tuple(r.values()) for r in conn.execute(
            "SELECT id, limit_amount, used_amount, status FROM credit_lines ORDER BY id").fetchall()]
        out["balances"] = [tuple(r.values()) for r in conn.execute(
            "SELECT account_code, currency, sum(balance) FROM account_balances GROUP BY 1, 2 ORDER BY 1, 2").fetchall()]
    return out


def line_row(database, line_id: str) -> dict:
    with database.transaction() as conn:
        return lines.load(conn, line_id)


def assert_problem(r, status: int, type_: str, pointer: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    p = r.json()
    assert p["type"] == f"/problems/{type_}" and p["status"] == status and p["detail"], p
    if pointer is not None:
        assert pointer in [e["pointer"] for e in p.get("errors", [])], p
    return p
