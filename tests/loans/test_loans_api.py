"""``/v1/loans`` reads: one loan, lists by customer (newest first, cursor), schedules and their
versions; and the service functions the servicing layer builds on."""

from __future__ import annotations


import psycopg
import pytest


from servicing_helpers import D, assert_problem, make_customer, setup_line  # noqa: E402

from openlend.errors import Problem  # noqa: E402
from openlend.lines import service as lines  # noqa: E402
from openlend.loans import service as loans  # noqa: E402



def draw(client, line_id, key, amount="1000.00", term=3):
    r = client.post(f"/v1/credit-lines/{line_id}/drawdowns", json={"amount": amount, "term": term},
                    headers={"Idempotency-Key": key})
    assert r.status_code == 201, r.text
    return r.json()


def test_get_a_loan(client, database):
    ids = setup_line(database)
    loan = draw(client, ids["line_id"], "a", amount="1200.00", term=6)
    got = client.get(f"/v1/loans/{loan['id']}").json()
    assert got == loan
    assert got["schedule"]["installments"][0]["status"] == "pending"
    assert_problem(client.get("/v1/loans/loan_nope"), 404, "not-found")
    assert_problem(client.get("/v1/loans/line_nope"), 404, "not-found")


def test_list_loans_by_customer_newest_first(client, database):
    a = setup_line(database, limit="20000.00")
    with database.transaction() as conn:
        other = make_customer(conn, name="李四")
        line_b = lines.create_line(conn, customer_id=other["id"], product_id=a["product_id"], limit=D("5000.00"))
    mine = [draw(client, a["line_id"], f"a{i}") for i in range(3)]
    theirs = draw(client, line_b["id"], "b0")

    page = client.get(f"/v1/loans?customer_id={a['customer_id']}&limit=2").json()
    assert [x["id"] for x in page["data"]] == [mine[2]["id"], mine[1]["id"]] and page["has_more"]
    assert all("schedule" not in x for x in page["data"])
    assert page["data"][0]["receipt_no"] == mine[2]["receipt_no"] and page["data"][0]["disbursement"]["status"] == "pending"
    rest = client.get(f"/v1/loans?customer_id={a['customer_id']}&limit=2&cursor={page['next_cursor']}").json()
    assert [x["id"] for x in rest["data"]] == [mine[0]["id"]] and not rest["has_more"]

    everything = client.get("/v1/loans").json()["data"]
    assert [x["id"] for x in everything] == [theirs["id"]] + [m["id"] for m in reversed(mine)]
    assert [x["id"] for x in client.get(f"/v1/loans?credit_line_id={line_b['id']}").json()["data"]] == [theirs["id"]]
    assert len(client.get("/v1/loans?status=active").json()["data"]) == 4
    assert client.get("/v1/loans?status=paid_off").json()["data"] == []
    assert client.get("/v1/loans?customer_id=cus_nobody").json()["data"] == []
    assert_problem(client.get("/v1/loans?cursor=xyz"), 422, "validation-error", "/query/cursor")
    assert_problem(client.get("/v1/loans?status=gone"), 422, "validation-error")


def test_schedule_current_and_by_version(client, database):
    ids = setup_line(database)
    loan = draw(client, ids["line_id"], "s", amount="3000.00", term=6)
    cur = client.get(f"/v1/loans/{loan['id']}/schedule").json()
    assert cur == loan["schedule"]
    assert cur["object"] == "loan_schedule" and cur["version"] == 1 and cur["current"]
    v1 = client.get(f"/v1/loans/{loan['id']}/schedule?version=1").json()
    assert v1 == cur
    assert_problem(client.get(f"/v1/loans/{loan['id']}/schedule?version=2"), 404, "not-found", "/query/version")
    assert_problem(client.get(f"/v1/loans/{loan['id']}/schedule?version=0"), 422, "validation-error")
    assert_problem(client.get("/v1/loans/loan_nope/schedule"), 404, "not-found")


def test_an_old_schedule_version_shows_as_scheduled(client, database):
    """A later version (as servicing will write it) leaves version 1 as it was made."""
    ids = setup_line(database)
    loan = draw(client, ids["line_id"], "v", amount="3000.00", term=3)
    with database.transaction() as conn:
        conn.execute("INSERT INTO loan_schedule_versions (loan_id, version, reason, effective_date) "
                     "VALUES (%s, 2, 'reschedule', current_date)", [loan["id"]])
        conn.execute("UPDATE loans SET schedule_version = 2 WHERE id = %s", [loan["id"]])
        conn.execute("UPDATE loan_installments SET interest = interest + 1, paid_principal = principal, "
                     "status = 'paid', paid_on = current_date WHERE loan_id = %s AND number = 1", [loan["id"]])
    old = client.get(f"/v1/loans/{loan['id']}/schedule?version=1").json()
    assert not old["current"] and old["reason"] == "disbursement"
    assert [i["interest"] for i in old["installments"]] == [i["interest"] for i in loan["schedule"]["installments"]]
    assert "paid" not in old["installments"][0]
    cur = client.get(f"/v1/loans/{loan['id']}/schedule").json()
    assert cur["version"] == 2 and cur["current"] and cur["reason"] == "reschedule"
    assert cur["installments"][0]["status"] == "paid" and cur["installments"][0]["paid"]["principal"] == \
        loan["schedule"]["installments"][0]["principal"]


def test_schedule_history_is_immutable(client, database):
    ids = setup_line(database)
    loan = draw(client, ids["line_id"], "i")
    for sql in ("UPDATE loan_scheduled_installments SET interest = 0 WHERE loan_id = %s",
                "DELETE FROM loan_schedule_versions WHERE loan_id = %s"):
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation):
            with database.transaction() as conn:
                conn.execute(sql, [loan["id"]])
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation):
        with database.transaction() as conn:
            conn.execute("DELETE FROM credit_line_limit_changes")


def test_service_reads_and_the_row_lock(database, database_url):
    ids = setup_line(database)
    with database.transaction() as conn:
        made = loans.drawdown(conn, ids["line_id"], amount=D("1000.00"), term=3)
    with database.transaction() as conn:
        assert loans.get_loan(conn, made["id"]) == made
        assert "schedule" not in loans.get_loan(conn, made["id"], with_schedule=False)
        row = loans.load_for_update(conn, made["id"])
        assert row["principal"] == D("1000") and row["status"] == "active"
        with psycopg.connect(database_url) as other:   # the row is locked until this transaction ends
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("SELECT 1 FROM loans WHERE id = %s FOR UPDATE NOWAIT", [made["id"]])
        with pytest.raises(Problem) as exc:
            loans.load_for_update(conn, "loan_missing")
        assert exc.value.status_code == 404
