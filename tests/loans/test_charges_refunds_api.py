"""Charges, overpayment refunds and the paged transaction list, through the API: the GL entries, the
reconciliation, reversals, and refusals that write nothing."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from servicing_helpers import D, assert_problem, counts, make_product, setup_line

from openlend.lines import service as lines
from openlend.loans import service as loans
from openlend.reports import service as reports

FINERACT = {"code": "FINERACT-7", "name": "Fineract 7%", "currency": "CNY", "method": "equal_installment",
            "interest_basis": "period", "day_count": "30/360", "rate": {"min": "7", "max": "7", "default": "7"},
            "term": {"allowed": [6, 12]}, "amount": {"min": "1.00", "max": "100000.00"}, "fees": []}
_codes = itertools.count(1)


class BusinessDate:
    def __init__(self, monkeypatch):
        self.value = dt.date(2024, 1, 1)
        monkeypatch.setattr(lines, "today", lambda: self.value)

    def set(self, y, m, d):
        self.value = dt.date(y, m, d)


@pytest.fixture
def bd(monkeypatch):
    return BusinessDate(monkeypatch)


def make_loan(database, amount="100.00", term=6, limit="1000.00", disb=dt.date(2024, 1, 1)):
    with database.transaction() as conn:
        prod = make_product(conn, **{**FINERACT, "code": f"FINERACT-CR-{next(_codes)}"})
    ids = setup_line(database, limit=limit, product=prod)
    with database.transaction() as conn:
        loan = loans.drawdown(conn, ids["line_id"], amount=D(amount), term=term, disbursement_date=disb)
    return {**ids, "loan_id": loan["id"]}


def post(client, path, body=None, key="k1"):
    return client.post(path, json=body if body is not None else {}, headers={"Idempotency-Key": key} if key else {})


def entry_lines(database, entry_id):
    with database.transaction() as conn:
        return sorted(f"{r['account_code']}:{r['amount']}" for r in conn.execute(
            "SELECT account_code, amount FROM journal_lines WHERE entry_id = %s", [entry_id]).fetchall())


def gl(database, account):
    """The GL balance of ``account`` in CNY, signed (debit > 0)."""
    with database.transaction() as conn:
        return conn.execute("SELECT coalesce(sum(balance), 0) AS b FROM account_balances WHERE account_code = %s "
                            "AND currency = 'CNY'", [account]).fetchone()["b"]


def recon(database):
    with database.transaction() as conn:
        r = reports.reconciliation(conn)
    assert r["ok"], r
    assert all(a["difference"] == "0.00" for c in r["currencies"] for a in c["accounts"]), r
    return {a["account"]: D(a["gl"]) for a in r["currencies"][0]["accounts"]}


# --- charges -----------------------------------------------------------------------------------------

def test_charge_goes_on_the_installment_into_the_quote_and_posts_fee_income(client, database, bd):
    x = make_loan(database)
    lid = x["loan_id"]
    bd.set(2024, 1, 10)
    q0 = client.get(f"/v1/loans/{lid}/payoff-quote").json()
    r = post(client, f"/v1/loans/{lid}/charges", {"amount": "5.00", "name": "statement_fee"})
    assert r.status_code == 201, r.text
    txn, loan = r.json()["transaction"], r.json()["loan"]
    assert (txn["type"], txn["amount"], txn["value_date"], txn["details"]["name"]) == (
        "charge", "5.00", "2024-01-10", "statement_fee")
    assert txn["details"]["posted"]["fees_charged"] == "5.00"
    assert txn["entry_ids"] == ["je_" + txn["id"]]
    got = entry_lines(database, txn["entry_ids"][0])
    assert "1120:5.0000" in got and "4100:-5.0000" in got, got
    # on the installment whose period holds 2024-01-10: the first (due 2024-02-01)
    inst = loan["schedule"]["installments"]
    assert inst[0]["fees"] == "5.00" and all(i["fees"] == "0.00" for i in inst[1:])
    assert inst[0]["outstanding_total"] == str(D(inst[0]["total"]))
    # and in the payoff quote, on top of what it was
    q = client.get(f"/v1/loans/{lid}/payoff-quote").json()
    assert q["fees"] == "5.00" and D(q["total"]) == D(q0["total"]) + 5
    assert recon(database)["1120"] == D("5.00")
    # replay: the same response, nothing new
    before = counts(database)
    r2 = post(client, f"/v1/loans/{lid}/charges", {"amount": "5.00", "name": "statement_fee"})
    assert r2.status_code == 201 and r2.headers.get("idempotent-replayed") == "true" and r2.json() == r.json()
    assert counts(database) == before

    # a repayment pays the fee first (penalty, fees, interest, principal)
    r = post(client, f"/v1/loans/{lid}/repayments", {"amount": "6.00"}, key="r1")
    a = r.json()["transaction"]["details"]["allocation"]
    assert (a["fees"], a["interest"]) == ("5.00", "0.58")
    recon(database)


def test_charge_reversal_takes_the_fee_back(client, database, bd):
    x = make_loan(database)
    lid = x["loan_id"]
    bd.set(2024, 1, 10)
    c = post(client, f"/v1/loans/{lid}/charges", {"amount": "7.50", "name": "visit", "value_date": "2024-01-05"})
    assert c.status_code == 201, c.text
    c = c.json()["transaction"]
    assert c["value_date"] == "2024-01-05"
    r = post(client, f"/v1/loans/{lid}/transactions/{c['id']}/reversal", {"reason": "waived"}, key="rv")
    assert r.status_code == 201, r.text
    rev = r.json()["transaction"]
    assert rev["details"]["posted"] == {"fees_charged": "-7.50"}
    assert sorted(entry_lines(database, rev["entry_ids"][0])) == ["1120:-7.5000", "4100:7.5000"]
    assert r.json()["loan"]["schedule"]["installments"][0]["fees"] == "0.00"
    assert client.get(f"/v1/loans/{lid}/payoff-quote").json()["fees"] == "0.00"
    assert recon(database)["1120"] == 0


def test_charge_refusals_write_nothing(client, database, bd):
    x = make_loan(database)
    lid = x["loan_id"]
    bd.set(2024, 1, 10)
    before = counts(database)
    url = f"/v1/loans/{lid}/charges"
    assert_problem(post(client, url, {"amount": "0", "name": "f"}), 422, "validation-error", "/amount")
    assert_problem(post(client, url, {"amount": "0.00", "name": "f"}, key="k2"), 422, "validation-error", "/amount")
    assert_problem(post(client, url, {"amount": "-5.00", "name": "f"}, key="k3"), 422, "validation-error", "/amount")
    assert_problem(post(client, url, {"amount": "1.001", "name": "f"}, key="k4"), 422, "validation-error", "/amount")
    assert_problem(post(client, url, {"amount": "1.00"}, key="k5"), 422, "validation-error")
    assert_problem(post(client, url, {"amount": "1.00", "name": "f", "value_date": "2024-01-11"}, key="k6"),
                   422, "future-value-date", "/value_date")
    assert_problem(post(client, url, {"amount": "1.00", "name": "f", "currency": "USD"}, key="k7"),
                   422, "validation-error", "/currency")
    assert_problem(post(client, url, {"amount": "1.00", "name": "f"}, key=None), 400, "idempotency-key-required")
    assert_problem(post(client, "/v1/loans/loan_nope/charges", {"amount": "1.00", "name": "f"}, key="k8"),
                   404, "not-found")
    assert counts(database) == before
    # a closed loan: 409, nothing written
    assert post(client, f"/v1/loans/{lid}/payoff", {}, key="po").status_code == 201
    before = counts(database)
    assert_problem(post(client, url, {"amount": "1.00", "name": "f"}, key="k9"), 409, "loan-closed")
    assert counts(database) == before


# --- refunds -----------------------------------------------------------------------------------------

def test_refund_of_overpayment_on_a_paid_off_loan(client, database, bd):
    x = make_loan(database)
    lid = x["loan_id"]
    bd.set(2024, 1, 10)
    clearing_after_drawdown = gl(database, "1300")
    assert clearing_after_drawdown == D("-100")
    r = post(client, f"/v1/loans/{lid}/repayments", {"amount": "150.00"}, key="pay")
    assert r.status_code == 201, r.text
    pay = r.json()["transaction"]
    held = D(pay["details"]["allocation"]["overpayment"])
    assert r.json()["loan"]["status"] == "paid_off" and held > 10
    assert recon(database)["2100"] == held        # normal side: a liability
    url = f"/v1/loans/{lid}/refunds"

    # more than is held: refused, nothing written
    before = counts(database)
    p = assert_problem(post(client, url, {"amount": str(held + D("0.01"))}, key="too"), 422,
                       "refund-exceeds-overpayment", "/amount")
    assert str(held) in p["detail"]
    assert counts(database) == before

    r = post(client, url, {"amount": "10.00", "channel": "bank_transfer"}, key="f1")
    assert r.status_code == 201, r.text
    f1, loan = r.json()["transaction"], r.json()["loan"]
    assert (f1["type"], f1["amount"], f1["channel"], f1["value_date"]) == ("refund", "10.00", "bank_transfer",
                                                                          "2024-01-10")
    assert loan["status"] == "paid_off" and loan["closed_on"] == "2024-01-10"     # still closed
    assert f1["details"]["posted"] == {"overpayment": "-10.00", "overpayment_refunded": "10.00"}
    assert entry_lines(database, f1["entry_ids"][0]) == ["1300:-10.0000", "2100:10.0000"]   # Dr 2100 / Cr 1300
    assert recon(database)["2100"] == held - 10
    assert gl(database, "1300") == clearing_after_drawdown - 10
    assert gl(database, "1310") == D("150")        # the money received is untouched by the refund
    # replay with the same key: nothing new
    before = counts(database)
    r2 = post(client, url, {"amount": "10.00", "channel": "bank_transfer"}, key="f1")
    assert r2.headers.get("idempotent-replayed") == "true" and r2.json() == r.json() and counts(database) == before

    # the rest of it, backdated to the payoff date
    rest = held - 10
    r = post(client, url, {"amount": str(rest), "value_date": "2024-01-10"}, key="f2")
    assert r.status_code == 201, r.text
    f2 = r.json()["transaction"]
    assert recon(database)["2100"] == 0 and gl(database, "1300") == clearing_after_drawdown - held
    # nothing left: even a cent is refused
    assert_problem(post(client, url, {"amount": "0.01"}, key="f3"), 422, "refund-exceeds-overpayment")

    # the overpaying repayment cannot be reversed while its overpayment is refunded ...
    before = counts(database)
    p = assert_problem(post(client, f"/v1/loans/{lid}/transactions/{pay['id']}/reversal", key="rv0"), 422,
                       "refund-exceeds-overpayment")
    assert p["event_id"] in (f1["id"], f2["id"])
    assert counts(database) == before
    # ... reversing a refund: Dr 1300 / Cr 2100, the overpayment held again
    r = post(client, f"/v1/loans/{lid}/transactions/{f2['id']}/reversal", {"reason": "bounced"}, key="rv1")
    assert r.status_code == 201, r.text
    rv = r.json()["transaction"]
    assert rv["details"]["posted"] == {"overpayment": str(rest), "overpayment_refunded": str(-rest)}
    assert entry_lines(database, rv["entry_ids"][0]) == sorted([f"1300:{rest:.4f}", f"2100:{-rest:.4f}"])
    assert recon(database)["2100"] == rest
    r = post(client, f"/v1/loans/{lid}/transactions/{f1['id']}/reversal", key="rv2")
    assert r.status_code == 201, r.text
    assert recon(database)["2100"] == held and gl(database, "1300") == clearing_after_drawdown
    # with both refunds reversed the repayment can go: the loan is open again, nothing held
    r = post(client, f"/v1/loans/{lid}/transactions/{pay['id']}/reversal", key="rv3")
    assert r.status_code == 201, r.text
    assert r.json()["loan"]["status"] == "active"
    bal = recon(database)
    assert bal["2100"] == 0 and bal["1100"] == D("100") and gl(database, "1310") == 0
    with database.transaction() as conn:
        posted = conn.execute("SELECT overpayment FROM loan_posted_totals WHERE loan_id = %s", [lid]).fetchone()
    assert posted["overpayment"] == 0


def test_refund_refusals_write_nothing(client, database, bd):
    x = make_loan(database)
    lid = x["loan_id"]
    bd.set(2024, 1, 10)
    url = f"/v1/loans/{lid}/refunds"
    before = counts(database)
    assert_problem(post(client, url, {"amount": "1.00"}), 422, "refund-exceeds-overpayment", "/amount")
    assert_problem(post(client, url, {"amount": "0"}, key="a"), 422, "validation-error", "/amount")
    assert_problem(post(client, url, {"amount": "-1.00"}, key="b"), 422, "validation-error", "/amount")
    assert_problem(post(client, url, {"amount": "1.00", "currency": "USD"}, key="c"), 422, "validation-error",
                   "/currency")
    assert_problem(post(client, url, {"amount": "1.00"}, key=None), 400, "idempotency-key-required")
    assert_problem(post(client, "/v1/loans/loan_nope/refunds", {"amount": "1.00"}, key="d"), 404, "not-found")
    assert counts(database) == before
    # overpaid on 2024-01-10; a refund dated before the overpayment came is refused
    bd.set(2024, 1, 20)
    assert post(client, f"/v1/loans/{lid}/repayments", {"amount": "120.00", "value_date": "2024-01-10"},
                key="p").status_code == 201
    before = counts(database)
    assert_problem(post(client, url, {"amount": "1.00", "value_date": "2024-01-09"}, key="e"), 422,
                   "refund-exceeds-overpayment")
    assert_problem(post(client, url, {"amount": "1.00", "value_date": "2024-01-21"}, key="f"), 422,
                   "future-value-date")
    assert counts(database) == before
    assert post(client, url, {"amount": "1.00", "value_date": "2024-01-10"}, key="g").status_code == 201
    recon(database)


# --- the transaction list ----------------------------------------------------------------------------

def test_transactions_are_paged_in_entry_order(client, database, bd):
    x = make_loan(database, amount="1000.00")
    lid = x["loan_id"]
    bd.set(2024, 1, 15)
    for i in range(5):
        assert post(client, f"/v1/loans/{lid}/repayments", {"amount": "1.00"}, key=f"r{i}").status_code == 201
    full = client.get(f"/v1/loans/{lid}/transactions", params={"limit": 100}).json()
    assert full["has_more"] is False and full["next_cursor"] is None
    ids = [t["id"] for t in full["data"]]
    assert len(ids) == 6 and full["data"][0]["type"] == "disbursement"
    with database.transaction() as conn:
        seqs = [r["seq"] for r in conn.execute("SELECT seq FROM loan_transactions WHERE id = ANY(%s)",
                                                 [ids]).fetchall()]
        by_seq = [r["id"] for r in conn.execute("SELECT id FROM loan_transactions WHERE loan_id = %s ORDER BY seq",
                                                 [lid]).fetchall()]
    assert ids == by_seq and len(set(seqs)) == 6
    got, cursor, pages = [], None, 0
    while True:
        params = {"limit": 4} if cursor is None else {"limit": 4, "cursor": cursor}   # 4, then 2
        pg = client.get(f"/v1/loans/{lid}/transactions", params=params).json()
        pages += 1
        got += [t["id"] for t in pg["data"]]
        assert pg["object"] == "list"
        if not pg["has_more"]:
            assert pg["next_cursor"] is None
            break
        assert pg["next_cursor"] == pg["data"][-1]["id"]
        cursor = pg["next_cursor"]
    assert got == ids and pages == 2
    # exactly a page: has_more false
    pg = client.get(f"/v1/loans/{lid}/transactions", params={"limit": 2, "cursor": ids[3]}).json()
    assert [t["id"] for t in pg["data"]] == ids[4:] and pg["has_more"] is False
    # the default page size
    assert len(client.get(f"/v1/loans/{lid}/transactions").json()["data"]) == 6
    # bad cursors and limits
    assert_problem(client.get(f"/v1/loans/{lid}/transactions", params={"cursor": "loan_x"}), 422,
                   "validation-error", "/query/cursor")
    other = make_loan(database)
    theirs = client.get(f"/v1/loans/{other['loan_id']}/transactions").json()["data"][0]["id"]
    assert_problem(client.get(f"/v1/loans/{lid}/transactions", params={"cursor": theirs}), 422,
                   "validation-error", "/query/cursor")
    assert client.get(f"/v1/loans/{lid}/transactions", params={"limit": 0}).status_code == 422
    assert client.get(f"/v1/loans/{lid}/transactions", params={"limit": 101}).status_code == 422
    assert_problem(client.get("/v1/loans/loan_nope/transactions"), 404, "not-found")
