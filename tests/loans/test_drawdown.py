"""Drawdowns: a loan with its receipt number, schedule, transaction, posted totals and journal entry,
in one transaction; every refusal a problem that writes nothing."""

from __future__ import annotations

import datetime as dt
import re

import pytest


from servicing_helpers import (D, assert_problem, counts, line_row, make_product,  # noqa: E402
                               setup_line)

from openlend.errors import Problem  # noqa: E402
from openlend.lines import service as lines  # noqa: E402
from openlend.loans import disbursement  # noqa: E402
from openlend.loans import service as loans  # noqa: E402
from openlend.products import service as products  # noqa: E402
from openlend.schedule.engine import generate  # noqa: E402
from openlend.schedule.io import schedule_to_dict  # noqa: E402



@pytest.fixture
def line(database):
    return setup_line(database, limit="10000.00")


def draw(client, line_id, body=None, key="k1", **changes):
    b = {"amount": "3000.00", "term": 6, **(body or {}), **changes}
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(f"/v1/credit-lines/{line_id}/drawdowns", json=b, headers=headers)


def test_drawdown_makes_the_loan_and_returns_it(client, database, line):
    r = draw(client, line["line_id"])
    assert r.status_code == 201, r.text
    loan = r.json()
    today = dt.date.today()
    assert loan["object"] == "loan" and loan["id"].startswith("loan_")
    assert re.fullmatch(r"LN\d{8}\d{8,}", loan["receipt_no"]) and loan["receipt_no"][2:10] == today.strftime("%Y%m%d")
    assert (loan["status"], loan["currency"], loan["principal"], loan["annual_rate"], loan["term"]) == (
        "active", "CNY", "3000.00", "18", 6)
    assert (loan["customer_id"], loan["credit_line_id"], loan["product_id"], loan["product_version"]) == (
        line["customer_id"], line["line_id"], line["product_id"], 1)
    assert loan["disbursement_date"] == today.isoformat()
    assert (loan["upfront_fees"], loan["net_disbursed"], loan["principal_outstanding"]) == ("5.00", "2995.00", "3000.00")
    assert (loan["days_past_due"], loan["bucket"], loan["closed_on"], loan["schedule_version"]) == (0, "M0", None, 1)
    assert loan["disbursement"]["status"] == "pending" and loan["disbursement"]["channel"] == "clearing"
    assert loan["disbursement"]["amount"] == "2995.00" and len(loan["disbursement"]["entry_ids"]) == 1

    # the schedule and the APR are the engine's for the product's terms
    with database.transaction() as conn:
        product = products.get_product_version(conn, line["product_id"])
    terms = products.schedule_terms_for(product, principal=D("3000.00"), term=6, disbursement_date=today)
    expected = schedule_to_dict(generate(terms))
    assert loan["apr"] == expected["apr"]
    sched = loan["schedule"]
    assert sched["version"] == 1 and sched["current"] and sched["reason"] == "disbursement"
    assert len(sched["installments"]) == 6
    for got, want in zip(sched["installments"], expected["installments"]):
        for k in ("number", "from_date", "due_date", "days", "principal", "interest", "fees"):
            assert got[k] == want[k], (k, got, want)
        assert got["principal_outstanding_after"] == want["outstanding"]
        assert got["status"] == "pending" and got["paid"]["total"] == "0.00"
    assert sched["total_principal"] == "3000.00" and sched["total_interest"] == expected["total_interest"]
    assert loan["first_due_date"] == expected["installments"][0]["due_date"]
    assert loan["maturity_date"] == expected["installments"][-1]["due_date"]
    assert loan["next_due_date"] == loan["first_due_date"]

    # the line: used and available moved by the principal
    got = client.get(f"/v1/credit-lines/{line['line_id']}").json()
    assert (got["limit"], got["used"], got["available"]) == ("10000.00", "3000.00", "7000.00")


def test_drawdown_writes_every_row_and_books_the_entry(client, database, line):
    loan = draw(client, line["line_id"]).json()
    with database.transaction() as conn:
        row = conn.execute("SELECT * FROM loans WHERE id = %s", [loan["id"]]).fetchone()
        assert row["principal"] == D("3000") and row["net_disbursed"] == D("2995")
        v = conn.execute("SELECT * FROM loan_schedule_versions WHERE loan_id = %s", [loan["id"]]).fetchall()
        assert [(x["version"], x["reason"]) for x in v] == [(1, "disbursement")]
        assert conn.execute("SELECT count(*) AS n FROM loan_scheduled_installments WHERE loan_id = %s",
                            [loan["id"]]).fetchone()["n"] == 6
        inst = conn.execute("SELECT * FROM loan_installments WHERE loan_id = %s ORDER BY number", [loan["id"]]).fetchall()
        assert len(inst) == 6 and sum(i["principal"] for i in inst) == D("3000")
        assert all(i["status"] == "pending" and i["paid_principal"] == 0 and i["accrued_interest"] == 0 for i in inst)
        txns = conn.execute("SELECT * FROM loan_transactions WHERE loan_id = %s", [loan["id"]]).fetchall()
        assert len(txns) == 1
        t = txns[0]
        assert (t["type"], t["amount"], t["status"], t["channel"], t["value_date"]) == (
            "disbursement", D("3000"), "active", "clearing", dt.date.today())
        assert t["id"] == loan["disbursement"]["transaction_id"] and t["entry_ids"] == loan["disbursement"]["entry_ids"]
        totals = conn.execute("SELECT * FROM loan_posted_totals WHERE loan_id = %s", [loan["id"]]).fetchone()
        assert (totals["disbursed"], totals["fees_charged"], totals["fees_repaid"], totals["principal_repaid"],
                totals["interest_accrued"]) == (D("3000"), D("5"), D("5"), 0, 0)
        entry = conn.execute("SELECT * FROM journal_entries WHERE id = %s", [t["entry_ids"][0]]).fetchone()
        assert (entry["source_type"], entry["source_id"]) == ("loan_transaction", t["id"])
        jl = conn.execute("SELECT account_code, currency, amount FROM journal_lines WHERE entry_id = %s ORDER BY line_no",
                          [entry["id"]]).fetchall()
        assert [(x["account_code"], x["amount"]) for x in jl] == [("1100", D("3000")), ("1300", D("-2995")),
                                                                 ("4100", D("-5"))]
        # the terms snapshot makes the same schedule again
        again = generate(loans.schedule_terms(row))
        assert [(i.due_date, i.principal, i.interest, i.fees) for i in again.installments] == [
            (i["due_date"], i["principal"], i["interest"], i["fees"]) for i in inst]
        r = loans.servicing_rules(row)
        assert r["penalty_annual_rate"] == D("27.0") and r["allocation"]["strategy"] == "installment_first"


def test_receipt_numbers_are_unique_and_sequential(client, database, line):
    nos = [draw(client, line["line_id"], key=f"k{i}", amount="1000.00", term=3).json()["receipt_no"] for i in range(3)]
    seqs = [int(n[10:]) for n in nos]
    assert len(set(nos)) == 3 and seqs == sorted(seqs) and seqs[-1] - seqs[0] == 2


def test_options_rate_dates_and_currency(client, database, line):
    past = dt.date.today() - dt.timedelta(days=40)
    first = past + dt.timedelta(days=45)
    r = draw(client, line["line_id"], annual_rate="12.5", disbursement_date=past.isoformat(),
             first_due_date=first.isoformat(), currency="CNY", term=3)
    assert r.status_code == 201, r.text
    loan = r.json()
    assert loan["annual_rate"] == "12.5" and loan["disbursement_date"] == past.isoformat()
    assert loan["first_due_date"] == first.isoformat()
    assert loan["schedule"]["installments"][0]["days"] == 45
    with database.transaction() as conn:
        t = conn.execute("SELECT value_date, entry_ids FROM loan_transactions WHERE loan_id = %s", [loan["id"]]).fetchone()
        e = conn.execute("SELECT effective_date FROM journal_entries WHERE id = %s", [t["entry_ids"][0]]).fetchone()
    # a backdated drawdown: the value date is on the transaction; the entry is booked on the business date
    assert t["value_date"] == past and e["effective_date"] == dt.date.today()


def test_replay_returns_the_same_loan_and_draws_once(client, database, line):
    r1 = draw(client, line["line_id"], key="same")
    before = counts(database)
    r2 = draw(client, line["line_id"], key="same")
    assert r2.status_code == 201 and r2.headers.get("idempotent-replayed") == "true"
    assert r2.json() == r1.json()
    assert counts(database) == before
    assert line_row(database, line["line_id"])["used_amount"] == D("3000")
    assert_problem(draw(client, line["line_id"], key="same", amount="3100.00"), 422, "idempotency-key-reused")


def test_the_post_response_equals_the_loan_read_back(client, line):
    loan = draw(client, line["line_id"]).json()
    assert client.get(f"/v1/loans/{loan['id']}").json() == loan


# --- refusals: a problem, and nothing written ------------------------------------------------------

@pytest.mark.parametrize("changes, status, type_, pointer", [
    ({"amount": "10000.01"}, 422, "insufficient-available-limit", "/amount"),
    ({"amount": "50.00"}, 422, "outside-product-limits", "/amount"),
    ({"term": 7}, 422, "outside-product-limits", "/term"),
    ({"annual_rate": "24"}, 422, "outside-product-limits", "/annual_rate"),
    ({"annual_rate": "12.1234567"}, 422, "validation-error", "/annual_rate"),
    ({"amount": "100.001"}, 422, "validation-error", "/amount"),
    ({"amount": "-5.00"}, 422, "validation-error", "/amount"),
    ({"amount": "0"}, 422, "validation-error", "/amount"),
    ({"amount": 3000}, 422, "validation-error", "/amount"),
    ({"term": "6"}, 422, "validation-error", "/term"),
    ({"currency": "USD"}, 422, "validation-error", "/currency"),
    ({"colour": "red"}, 422, "validation-error", "/colour"),
    ({"disbursement_date": +1}, 422, "validation-error", "/disbursement_date"),
    ({"first_due_date": -1}, 422, "validation-error", "/first_due_date"),
])
def test_refusals_write_nothing(client, database, line, changes, status, type_, pointer):
    draw(client, line["line_id"], key="first", amount="1000.00", term=3)
    before = counts(database)
    body = {"amount": "3000.00", "term": 6}
    body.update(changes)
    for field in ("disbursement_date", "first_due_date"):  # days from today, resolved now, not at collection
        if field in changes:
            body[field] = (dt.date.today() + dt.timedelta(days=changes[field])).isoformat()
    if changes.get("amount") == "10000.01":
        body["amount"] = "9000.01"  # 1000 is used: 9000 is available
    r = client.post(f"/v1/credit-lines/{line['line_id']}/drawdowns", json=body, headers={"Idempotency-Key": "k2"})
    p = assert_problem(r, status, type_, pointer)
    assert counts(database) == before
    if type_ == "insufficient-available-limit":
        assert p["detail"] == f"Drawdown of 9000.01 CNY exceeds the available 9000.00 CNY on {line['line_id']}."
        assert (p["available"], p["requested"], p["currency"]) == ("9000.00", "9000.01", "CNY")
        assert p["instance"] == f"/v1/credit-lines/{line['line_id']}/drawdowns"


def test_missing_idempotency_key_is_refused(client, database, line):
    before = counts(database)
    assert_problem(draw(client, line["line_id"], key=None), 400, "idempotency-key-required")
    assert counts(database) == before


def test_unknown_line_is_404(client, database, line):
    before = counts(database)
    assert_problem(draw(client, "line_nope"), 404, "not-found")
    assert_problem(draw(client, "loan_x", key="k2"), 404, "not-found")
    assert counts(database) == before


@pytest.mark.parametrize("state, type_", [("frozen", "credit-line-frozen"), ("closed", "credit-line-closed"),
                                          ("expired", "credit-line-expired")])
def test_a_line_that_takes_no_drawdowns_is_409(client, database, line, state, type_):
    with database.transaction() as conn:
        if state == "frozen":
            lines.freeze(conn, line["line_id"], "test")
        elif state == "closed":
            lines.close(conn, line["line_id"], "test")
        else:
            conn.execute("UPDATE credit_lines SET expires_on = current_date - 1 WHERE id = %s", [line["line_id"]])
    before = counts(database)
    assert_problem(draw(client, line["line_id"]), 409, type_)
    assert counts(database) == before


def test_a_line_expiring_today_still_lends(client, database, line):
    with database.transaction() as conn:
        conn.execute("UPDATE credit_lines SET expires_on = %s WHERE id = %s", [dt.date.today(), line["line_id"]])
    assert draw(client, line["line_id"]).status_code == 201


def test_a_retired_product_takes_no_new_loans(client, database, line):
    with database.transaction() as conn:
        products.retire_product(conn, line["product_id"])
    before = counts(database)
    assert_problem(draw(client, line["line_id"]), 409, "product-retired")
    assert counts(database) == before


def test_the_line_keeps_its_product_version(client, database, line):
    with database.transaction() as conn:
        products.new_version(conn, line["product_id"], {"rate": {"default": "15"}})
    loan = draw(client, line["line_id"]).json()
    assert loan["product_version"] == 1 and loan["annual_rate"] == "18"


def test_a_failing_disburser_leaves_nothing(database, line):
    class Refusing:
        def disburse(self, conn, loan):
            disbursement.book(conn, loan)  # even what it booked goes
            return disbursement.DisbursementResult("failed", "bank", ())

    before = counts(database)
    with pytest.raises(Problem) as exc:
        with database.transaction() as conn:
            loans.drawdown(conn, line["line_id"], amount=D("1000.00"), term=3, disburser=Refusing())
    assert exc.value.type.slug == "disbursement-failed"
    assert counts(database) == before


def test_a_plugged_in_disburser_sets_channel_and_status(database, line):
    class Bank:
        def disburse(self, conn, loan):
            return disbursement.DisbursementResult("succeeded", "bank:icbc", (disbursement.book(conn, loan),))

    disbursement.set_disburser(Bank())
    try:
        with database.transaction() as conn:
            loan = loans.drawdown(conn, line["line_id"], amount=D("1000.00"), term=3)
        with database.transaction() as conn:
            again = loans.get_loan(conn, loan["id"])
    finally:
        disbursement.set_disburser(None)
    assert loan["disbursement"]["status"] == again["disbursement"]["status"] == "succeeded"
    assert loan["disbursement"]["channel"] == again["disbursement"]["channel"] == "bank:icbc"
    assert isinstance(disbursement.get_disburser(), disbursement.ClearingDisburser)


def test_no_upfront_fee_books_two_lines(database):
    with database.transaction() as conn:
        prod = make_product(conn, code="NOFEE", fees=[])
    ids = setup_line(database, product=prod)
    with database.transaction() as conn:
        loan = loans.drawdown(conn, ids["line_id"], amount=D("1000.00"), term=3)
        jl = conn.execute("SELECT account_code, amount FROM journal_lines WHERE entry_id = %s ORDER BY line_no",
                          [loan["disbursement"]["entry_ids"][0]]).fetchall()
    assert [(x["account_code"], x["amount"]) for x in jl] == [("1100", D("1000")), ("1300", D("-1000"))]
    assert loan["net_disbursed"] == "1000.00" and loan["upfront_fees"] == "0.00"


def test_bullet_and_daily_products(database):
    from openlend.products.demo import DEMO_PRODUCTS
    with database.transaction() as conn:
        bullet = products.create_product(conn, DEMO_PRODUCTS[2])
    ids = setup_line(database, limit="5000.00", product=bullet)
    with database.transaction() as conn:
        loan = loans.drawdown(conn, ids["line_id"], amount=D("2000.00"), term=14)
    assert len(loan["schedule"]["installments"]) == 1
    assert loan["maturity_date"] == (dt.date.today() + dt.timedelta(days=14)).isoformat()
    assert loan["frequency"] == {"unit": "day", "every": 1}
