"""Loan servicing through the API and the service: repayments with their GL difference entries and
line release, payoff quote and payoff (Fineract 83.81), backdated replay and reversal, prepayment,
due-day change, reschedule, write-off, the reconciliation and portfolio-at-risk reports; refusals
write nothing."""

from __future__ import annotations

import datetime as dt
import itertools
import threading

import pytest


from servicing_helpers import D, assert_problem, counts, line_row, make_product, setup_line  # noqa: E402

from openlend.lines import service as lines  # noqa: E402
from openlend.loans import service as loans  # noqa: E402
from openlend.reports import service as reports  # noqa: E402

FINERACT = {"code": "FINERACT-7", "name": "Fineract 7%", "currency": "CNY", "method": "equal_installment",
            "interest_basis": "period", "day_count": "30/360", "rate": {"min": "7", "max": "7", "default": "7"},
            "term": {"allowed": [6, 12]}, "amount": {"min": "1.00", "max": "100000.00"}, "fees": []}


class BusinessDate:
    def __init__(self, monkeypatch):
        self.value = dt.date(2024, 1, 1)
        monkeypatch.setattr(lines, "today", lambda: self.value)

    def set(self, y, m, d):
        self.value = dt.date(y, m, d)



@pytest.fixture
def bd(monkeypatch):
    return BusinessDate(monkeypatch)


_codes = itertools.count(1)


def make_loan(database, bd, amount="100.00", term=6, limit="1000.00", disb=dt.date(2024, 1, 1)):
    with database.transaction() as conn:
        prod = make_product(conn, **{**FINERACT, "code": f"FINERACT-7-{next(_codes)}"})
    ids = setup_line(database, limit=limit, product=prod)
    with database.transaction() as conn:
        loan = loans.drawdown(conn, ids["line_id"], amount=D(amount), term=term, disbursement_date=disb)
    return {**ids, "loan_id": loan["id"], "loan": loan}


def recon_ok(database):
    with database.transaction() as conn:
        r = reports.reconciliation(conn)
    assert r["ok"], r
    return r


def post(client, path, body=None, key="k1"):
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(path, json=body if body is not None else {}, headers=headers)


def entries(database, loan_id):
    with database.transaction() as conn:
        return conn.execute("SELECT e.id, e.effective_date, array_agg(l.account_code || ':' || l.amount::text "
                            "ORDER BY l.line_no) AS lines FROM journal_entries e JOIN journal_lines l ON "
                            "l.entry_id = e.id WHERE e.metadata->>'loan_id' = %s GROUP BY e.id, e.effective_date "
                            "ORDER BY e.booked_at, e.id", [loan_id]).fetchall()


def test_repayment_allocates_posts_the_difference_and_frees_the_line(client, database, bd):
    x = make_loan(database, bd)
    recon_ok(database)
    assert line_row(database, x["line_id"])["used_amount"] == D("100")
    bd.set(2024, 2, 1)
    r = post(client, f"/v1/loans/{x['loan_id']}/repayments", {"amount": "17.01"})
    assert r.status_code == 201, r.text
    txn, loan = r.json()["transaction"], r.json()["loan"]
    a = txn["details"]["allocation"]
    assert (a["principal"], a["interest"], a["fees"], a["penalty"], a["overpayment"]) == (
        "16.43", "0.58", "0.00", "0.00", "0.00")
    assert txn["type"] == "repayment" and txn["value_date"] == "2024-02-01" and txn["entry_ids"] == ["je_" + txn["id"]]
    assert loan["principal_outstanding"] == "83.57" and loan["status"] == "active"
    assert loan["schedule"]["installments"][0]["status"] == "paid"
    assert loan["schedule"]["installments"][0]["paid_on"] == "2024-02-01"
    # the GL entry: accrual of the first period's interest, then the cash and where it went
    e = [x_ for x_ in entries(database, x["loan_id"]) if x_["id"] == "je_" + txn["id"]][0]
    got = sorted(e["lines"])
    assert got == sorted(["1110:0.5800", "4000:-0.5800", "1310:17.0100", "1100:-16.4300", "1110:-0.5800"]), got
    assert e["effective_date"] == dt.date(2024, 2, 1)
    assert line_row(database, x["line_id"])["used_amount"] == D("83.57")
    recon_ok(database)

    # idempotent replay: same key, same body -> the same response, nothing new
    before = counts(database)
    r2 = post(client, f"/v1/loans/{x['loan_id']}/repayments", {"amount": "17.01"})
    assert r2.status_code == 201 and r2.headers.get("idempotent-replayed") == "true"
    assert r2.json() == r.json() and counts(database) == before
    # the key is required for money movements
    assert_problem(post(client, f"/v1/loans/{x['loan_id']}/repayments", {"amount": "1.00"}, key=None),
                   400, "idempotency-key-required")


def test_payoff_quote_and_payoff_fineract_83_81(client, database, bd):
    x = make_loan(database, bd)
    bd.set(2024, 2, 1)
    assert post(client, f"/v1/loans/{x['loan_id']}/repayments", {"amount": "17.01"}).status_code == 201
    bd.set(2024, 2, 15)
    q = client.get(f"/v1/loans/{x['loan_id']}/payoff-quote", params={"date": "2024-02-15"})
    assert q.status_code == 200, q.text
    q = q.json()
    assert (q["principal"], q["interest"], q["total"], q["valid_until"]) == ("83.57", "0.24", "83.81", "2024-02-15")
    # a stale amount is refused and writes nothing
    before = counts(database)
    assert_problem(post(client, f"/v1/loans/{x['loan_id']}/payoff", {"date": "2024-02-15", "amount": "83.80"},
                        key="p0"), 422, "payoff-quote-changed", "/amount")
    assert counts(database) == before
    r = post(client, f"/v1/loans/{x['loan_id']}/payoff", {"date": "2024-02-15", "amount": "83.81"}, key="p1")
    assert r.status_code == 201, r.text
    loan = r.json()["loan"]
    assert (loan["status"], loan["closed_on"], loan["principal_outstanding"]) == ("paid_off", "2024-02-15", "0.00")
    assert r.json()["transaction"]["amount"] == "83.81"
    assert line_row(database, x["line_id"])["used_amount"] == 0
    recon_ok(database)
    # a closed loan takes no new events: 409, nothing written
    before = counts(database)
    assert_problem(post(client, f"/v1/loans/{x['loan_id']}/repayments", {"amount": "1.00"}, key="c1"),
                   409, "loan-closed")
    assert counts(database) == before


def test_refusals_write_nothing(client, database, bd):
    x = make_loan(database, bd)
    bd.set(2024, 2, 1)
    lid = x["loan_id"]
    before = counts(database)
    assert_problem(post(client, f"/v1/loans/{lid}/repayments", {"amount": "1.00", "value_date": "2023-12-31"}),
                   422, "before-disbursement", "/value_date")
    assert_problem(post(client, f"/v1/loans/{lid}/repayments", {"amount": "1.00", "value_date": "2024-02-02"}),
                   422, "future-value-date", "/value_date")
    assert_problem(post(client, f"/v1/loans/{lid}/repayments", {"amount": "1.00", "currency": "USD"}),
                   422, "validation-error", "/currency")
    assert_problem(post(client, f"/v1/loans/{lid}/repayments", {"amount": "1.001"}), 422, "validation-error",
                   "/amount")
    assert_problem(post(client, f"/v1/loans/{lid}/repayments", {"amount": "0"}), 422, "validation-error", "/amount")
    assert_problem(post(client, "/v1/loans/loan_nope/repayments", {"amount": "1.00"}), 404, "not-found")
    assert_problem(post(client, f"/v1/loans/{lid}/change-due-day", {"new_day": 1}), 422, "due-day-unchanged")
    assert_problem(post(client, f"/v1/loans/{lid}/transactions/txn_nope/reversal"), 404, "not-found")
    assert counts(database) == before


def test_backdated_repayment_and_reversal_replay_and_add_entries(client, database, bd):
    x = make_loan(database, bd)
    lid = x["loan_id"]
    bd.set(2024, 3, 20)       # the first two installments are overdue: penalty and accrual run
    r = post(client, f"/v1/loans/{lid}/repayments", {"amount": "17.01", "value_date": "2024-03-20"}, key="a")
    assert r.status_code == 201, r.text
    late = r.json()["transaction"]
    outstanding_after_late = r.json()["loan"]["principal_outstanding"]
    assert D(late["details"]["allocation"]["penalty"]) > 0
    recon_ok(database)
    with database.transaction() as conn:
        snap = conn.execute("SELECT id, effective_date, memo FROM journal_entries ORDER BY id").fetchall()
        lines_before = conn.execute("SELECT entry_id, line_no, account_code, amount FROM journal_lines "
                                    "ORDER BY 1, 2").fetchall()
    # a backdated repayment on the first due date: the fold re-runs, the late one now pays installment 2
    r = post(client, f"/v1/loans/{lid}/repayments", {"amount": "17.01", "value_date": "2024-02-01"}, key="b")
    assert r.status_code == 201, r.text
    back = r.json()["transaction"]
    assert back["details"]["allocation"]["penalty"] == "0.00"
    assert back["details"]["posted"]["penalty_charged"].startswith("-")    # the penalty it prevented, reversed
    recon_ok(database)
    # history is never rewritten: every earlier entry and line is unchanged; one new entry
    with database.transaction() as conn:
        old = conn.execute("SELECT id, effective_date, memo FROM journal_entries WHERE id = ANY(%s) ORDER BY id",
                           [[s["id"] for s in snap]]).fetchall()
        old_lines = conn.execute("SELECT entry_id, line_no, account_code, amount FROM journal_lines "
                                 "WHERE entry_id = ANY(%s) ORDER BY 1, 2", [[s["id"] for s in snap]]).fetchall()
        n = conn.execute("SELECT count(*) AS n FROM journal_entries").fetchone()["n"]
    assert old == snap and old_lines == lines_before and n == len(snap) + 1
    loan = client.get(f"/v1/loans/{lid}").json()
    assert [i["status"] for i in loan["schedule"]["installments"][:3]] == ["paid", "paid", "pending"]

    # reversal of the backdated one: back to where we were, as a new entry
    r = post(client, f"/v1/loans/{lid}/transactions/{back['id']}/reversal", {"reason": "bounced"}, key="c")
    assert r.status_code == 201, r.text
    rev = r.json()["transaction"]
    assert rev["type"] == "reversal" and rev["details"]["reverses"] == back["id"]
    assert D(rev["details"]["posted"]["principal_repaid"]) < 0
    txns = client.get(f"/v1/loans/{lid}/transactions").json()["data"]
    orig = [t for t in txns if t["id"] == back["id"]][0]
    assert orig["status"] == "reversed" and orig["reversed_by"] == rev["id"]
    assert r.json()["loan"]["principal_outstanding"] == outstanding_after_late
    assert line_row(database, x["line_id"])["used_amount"] == D(outstanding_after_late)
    recon_ok(database)
    with database.transaction() as conn:
        posted = conn.execute("SELECT * FROM loan_posted_totals WHERE loan_id = %s", [lid]).fetchone()
    # as if the backdated repayment never came: the late one paid installment 1 with its penalty
    assert posted["penalty_charged"] > 0
    # reversed twice: 409, nothing written
    before = counts(database)
    assert_problem(post(client, f"/v1/loans/{lid}/transactions/{back['id']}/reversal", key="d"), 409,
                   "transaction-not-reversible")
    assert counts(database) == before


def test_reversing_a_payoff_reopens_the_loan_and_takes_the_line_again(client, database, bd):
    x = make_loan(database, bd)
    bd.set(2024, 1, 20)
    r = post(client, f"/v1/loans/{x['loan_id']}/payoff", {}, key="p")
    assert r.status_code == 201 and r.json()["loan"]["status"] == "paid_off"
    assert line_row(database, x["line_id"])["used_amount"] == 0
    r = post(client, f"/v1/loans/{x['loan_id']}/transactions/{r.json()['transaction']['id']}/reversal", key="r")
    assert r.status_code == 201, r.text
    assert r.json()["loan"]["status"] == "active" and r.json()["loan"]["closed_on"] is None
    assert line_row(database, x["line_id"])["used_amount"] == D("100")
    assert "line_shortfall" not in r.json()["transaction"]["details"]
    recon_ok(database)


def test_prepayment_due_day_change_reschedule_and_write_off(client, database, bd):
    x = make_loan(database, bd, amount="1200.00", term=12, limit="2000.00")
    lid = x["loan_id"]
    bd.set(2024, 2, 10)
    assert post(client, f"/v1/loans/{lid}/repayments", {"amount": "103.83", "value_date": "2024-02-01"},
                key="r1").status_code == 201
    r = post(client, f"/v1/loans/{lid}/prepayments", {"amount": "300.00", "mode": "reduce_term"}, key="p1")
    assert r.status_code == 201, r.text
    loan = r.json()["loan"]
    assert loan["schedule_version"] == 2 and loan["schedule"]["reason"] == "prepayment"
    assert len(loan["schedule"]["installments"]) < 12
    recon_ok(database)
    assert line_row(database, x["line_id"])["used_amount"] == D(loan["principal_outstanding"])

    bd.set(2024, 2, 12)
    q = client.get(f"/v1/loans/{lid}/due-day-change-quote", params={"new_day": 20})
    assert q.status_code == 200, q.text
    q = q.json()
    assert q["new_due_date"] == "2024-03-20" and q["broken_period_days"] > 0
    r = post(client, f"/v1/loans/{lid}/change-due-day", {"new_day": 20}, key="d1")
    assert r.status_code == 201, r.text
    loan = r.json()["loan"]
    assert loan["next_due_date"] == "2024-03-20" and loan["schedule"]["reason"] == "due_day_change"
    assert loan["schedule"]["installments"][1]["interest"] == q["installments"][1]["interest"]
    recon_ok(database)

    r = post(client, f"/v1/loans/{lid}/reschedule", {"new_term": 18}, key="s1")
    assert r.status_code == 201, r.text
    loan = r.json()["loan"]
    assert loan["schedule"]["reason"] == "reschedule" and loan["schedule_version"] == 4
    recon_ok(database)
    with database.transaction() as conn:
        versions = conn.execute("SELECT version, reason FROM loan_schedule_versions WHERE loan_id = %s "
                                "ORDER BY version", [lid]).fetchall()
    assert [v["reason"] for v in versions] == ["disbursement", "prepayment", "due_day_change", "reschedule"]

    bd.set(2024, 9, 1)
    par = client.get("/v1/reports/portfolio-at-risk").json()   # stored bucket: as of the last event
    assert par["currencies"][0]["loans"] == 1
    r = post(client, f"/v1/loans/{lid}/write-off", {"reason": "fraud"}, key="w1")
    assert r.status_code == 201, r.text
    loan = r.json()["loan"]
    assert loan["status"] == "written_off" and loan["principal_outstanding"] == "0.00"
    posted = r.json()["transaction"]["details"]["posted"]
    assert D(posted["written_off_principal"]) > 0 and D(posted["penalty_charged"]) > 0
    assert line_row(database, x["line_id"])["used_amount"] == 0
    rec = recon_ok(database)
    assert all(a["subledger"] == "0.00" for a in rec["currencies"][0]["accounts"] if a["account"] != "2100")
    assert client.get("/v1/reports/reconciliation").json()["ok"] is True
    assert client.get("/v1/reports/portfolio-at-risk").json()["currencies"] == []


def test_overpayment_is_held_on_2100(client, database, bd):
    x = make_loan(database, bd)
    bd.set(2024, 1, 10)
    r = post(client, f"/v1/loans/{x['loan_id']}/repayments", {"amount": "150.00"})
    assert r.status_code == 201, r.text
    a = r.json()["transaction"]["details"]["allocation"]
    assert a["closed_loan"] and D(a["overpayment"]) > 0
    rec = recon_ok(database)
    ov = [x_ for x_ in rec["currencies"][0]["accounts"] if x_["account"] == "2100"][0]
    assert D(ov["gl"]) == D(a["overpayment"])


def test_concurrent_repayments_on_one_loan_serialise(database, bd):
    x = make_loan(database, bd, amount="1000.00", limit="5000.00")
    bd.set(2024, 1, 15)
    errs = []
    barrier = threading.Barrier(6)

    def pay():
        try:
            barrier.wait()
            with database.transaction() as conn:
                loans.repay(conn, x["loan_id"], amount=D("10.00"))
        except Exception as exc:   # pragma: no cover - reported below
            errs.append(exc)

    ts = [threading.Thread(target=pay) for _ in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errs == []
    with database.transaction() as conn:
        txns = conn.execute("SELECT details FROM loan_transactions WHERE loan_id = %s AND type = 'repayment'",
                            [x["loan_id"]]).fetchall()
        posted = conn.execute("SELECT * FROM loan_posted_totals WHERE loan_id = %s", [x["loan_id"]]).fetchone()
    assert len(txns) == 6
    assert posted["principal_repaid"] + posted["interest_repaid"] + posted["fees_repaid"] \
        + posted["penalty_repaid"] + posted["overpayment"] == D("60.00")
    assert line_row(database, x["line_id"])["used_amount"] == D("1000") - posted["principal_repaid"]
    recon_ok(database)
