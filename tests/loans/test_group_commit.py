"""Group commit (``openlend.loans.batch``): many drawdowns or repayments in one transaction give exactly
what the single path gives, refuse exactly what it refuses (and write nothing of it), and keep the
limit invariant under real concurrency."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from servicing_helpers import D, counts, setup_line

from openlend.errors import Problem
from openlend.ledger import service as ledger
from openlend.lines import service as lines
from openlend.loans import batch
from openlend.loans import disbursement
from openlend.loans import service as loans

# what differs between two loans booked alike: their own ids, numbers and timestamps
_OWN = ("id", "receipt_no", "line_id", "credit_line_id", "customer_id", "created_at", "updated_at", "loan_id", "transaction_id",
        "entry_ids")


def _same(x):
    """A loan's or a transaction's answer without what is its own (ids, numbers, timestamps)."""
    if isinstance(x, dict):
        return {k: _same(v) for k, v in x.items() if k not in _OWN}
    if isinstance(x, list):
        return [_same(v) for v in x]
    return x


def _rows(conn, loan_id: str) -> dict:
    """Everything stored about a loan, without its own ids."""
    q = {
        "loan": "SELECT principal, annual_rate, term, method, disbursement_date, first_due_date, maturity_date, "
                "upfront_fees, net_disbursed, apr_nominal, apr_effective, principal_outstanding, terms, rules, "
                "status, schedule_version, next_due_date, days_past_due, bucket FROM loans WHERE id = %s",
        "installments": "SELECT number, from_date, due_date, principal, interest, fees, penalty, paid_principal, "
                        "paid_interest, paid_fees, paid_penalty, status, paid_on FROM loan_installments "
                        "WHERE loan_id = %s ORDER BY number",
        "scheduled": "SELECT version, number, from_date, due_date, principal, interest, fees, outstanding "
                     "FROM loan_scheduled_installments WHERE loan_id = %s ORDER BY version, number",
        "versions": "SELECT version, reason, effective_date FROM loan_schedule_versions WHERE loan_id = %s "
                    "ORDER BY version",
        "txns": "SELECT type, value_date, amount, channel, status, details - 'allocation' AS d, "
                "details -> 'allocation' AS a, cardinality(entry_ids) AS n FROM loan_transactions "
                "WHERE loan_id = %s ORDER BY seq",
        "totals": "SELECT * FROM loan_posted_totals WHERE loan_id = %s",
        "entries": "SELECT e.effective_date, regexp_replace(e.memo, 'LN[0-9]+', 'LN') AS memo, e.source_type, "
                   "e.metadata ->> 'value_date' AS vd, l.line_no, l.account_code, l.currency, l.amount "
                   "FROM loan_transactions t JOIN journal_entries e ON e.source_id = t.id "
                   "JOIN journal_lines l ON l.entry_id = e.id WHERE t.loan_id = %s ORDER BY t.seq, l.line_no",
    }
    out = {}
    for k, sql in q.items():
        rows = conn.execute(sql, [loan_id]).fetchall()
        out[k] = [{c: v for c, v in r.items() if c not in _OWN} for r in rows]
    return out


REQUESTS = [("3000.00", 3), ("1250.50", 6), ("10000.00", 12), ("1000.00", 6), ("4321.09", 12)]


def test_a_batch_of_drawdowns_books_what_the_single_path_books(database):
    a = setup_line(database, limit="100000.00")
    b = setup_line(database, limit="100000.00", product={"id": a["product_id"]})
    with database.transaction() as conn:
        single = [loans.drawdown(conn, a["line_id"], amount=D(amt), term=t) for amt, t in REQUESTS]
    with database.transaction() as conn:
        many = batch.drawdown_many(conn, [batch.DrawdownRequest(b["line_id"], D(amt), t) for amt, t in REQUESTS])
    assert all(isinstance(m, dict) for m in many), many
    assert [_same(m) for m in many] == [_same(s) for s in single]
    assert len({m["receipt_no"] for m in many}) == len(many)
    with database.transaction() as conn:
        for s, m in zip(single, many):
            assert _rows(conn, m["id"]) == _rows(conn, s["id"])
            assert loans.get_loan(conn, m["id"]) == {**loans.get_loan(conn, m["id"]), **m}   # the answer = a read
        assert lines.load(conn, a["line_id"])["used_amount"] == lines.load(conn, b["line_id"])["used_amount"] \
            == sum(D(amt) for amt, _ in REQUESTS)
        assert ledger.trial_balance(conn)["balanced"] and not ledger.verify_balances(conn)


def test_refusals_in_a_batch_are_each_its_own_and_write_nothing(database):
    a = setup_line(database, limit="10000.00")
    frozen = setup_line(database, limit="10000.00", product={"id": a["product_id"]})
    with database.transaction() as conn:
        lines.freeze(conn, frozen["line_id"], reason="test")
    reqs = [batch.DrawdownRequest(a["line_id"], D("6000.00"), 6),
            batch.DrawdownRequest(a["line_id"], D("5000.00"), 6),          # over what is left after the first
            batch.DrawdownRequest("line_nosuchline", D("1000.00"), 6),
            batch.DrawdownRequest(a["line_id"], D("1000.001"), 6),         # more decimals than CNY has
            batch.DrawdownRequest(a["line_id"], D("1000.00"), 7),          # a term the product does not offer
            batch.DrawdownRequest(frozen["line_id"], D("1000.00"), 6),
            batch.DrawdownRequest(a["line_id"], D("3000.00"), 3)]          # still fits: 9,000 used
    before = counts(database)
    with database.transaction() as conn:
        out = batch.drawdown_many(conn, reqs)
    kinds = [o["object"] if isinstance(o, dict) else o.type.slug for o in out]
    assert kinds == ["loan", "insufficient-available-limit", "not-found", "validation-error",
                     "outside-product-limits", "credit-line-frozen", "loan"], kinds
    after = counts(database)
    assert after["loans"] == before["loans"] + 2 and after["journal_entries"] == before["journal_entries"] + 2
    with database.transaction() as conn:
        assert lines.load(conn, a["line_id"])["used_amount"] == D("9000.00")
        assert lines.load(conn, frozen["line_id"])["used_amount"] == 0


def _two_loans_alike(database, amounts: list[str]) -> tuple[list[str], list[str]]:
    a = setup_line(database, limit="1000000.00")
    b = setup_line(database, limit="1000000.00", product={"id": a["product_id"]})
    with database.transaction() as conn:
        la = [loans.drawdown(conn, a["line_id"], amount=D(x), term=6)["id"] for x in amounts]
        lb = [loans.drawdown(conn, b["line_id"], amount=D(x), term=6)["id"] for x in amounts]
    return la, lb


def test_a_batch_of_repayments_books_what_the_single_path_books(database):
    amounts = ["3000.00", "5000.00", "2000.00", "8000.00"]
    la, lb = _two_loans_alike(database, amounts)
    pays = ["100.00", "530.12", "2500.00", "9999999.00"]   # the last pays its loan off (an overpayment held)
    for rnd in range(3):
        with database.transaction() as conn:
            single = []
            for loan_id, p in zip(la, pays):
                try:
                    single.append(loans.repay(conn, loan_id, amount=D(p)))
                except Problem as exc:
                    single.append(exc)
        with database.transaction() as conn:
            many = batch.repay_many(conn, [batch.RepaymentRequest(loan_id, D(p)) for loan_id, p in zip(lb, pays)])
        for s, m in zip(single, many):
            if isinstance(s, Problem):   # a paid-off loan takes no more repayments, in both
                assert isinstance(m, Problem) and m.type is s.type and rnd > 0
            else:
                assert _same(m) == _same(s)
    with database.transaction() as conn:
        for x, y in zip(la, lb):
            assert _rows(conn, y) == _rows(conn, x)
        ra, rb = (conn.execute("SELECT used_amount FROM credit_lines c JOIN loans l ON l.line_id = c.id "
                               "WHERE l.id = %s", [ids[0]]).fetchone()["used_amount"] for ids in (la, lb))
        assert ra == rb
        assert ledger.trial_balance(conn)["balanced"] and not ledger.verify_balances(conn)


def test_refused_repayments_in_a_batch_write_nothing(database):
    la, _ = _two_loans_alike(database, ["3000.00", "4000.00"])
    before = counts(database)
    with database.transaction() as conn:
        out = batch.repay_many(conn, [batch.RepaymentRequest(la[0], D("0")),
                                      batch.RepaymentRequest("loan_nosuchloan", D("10.00")),
                                      batch.RepaymentRequest(la[1], D("10.00"), currency="USD")])
    assert [o.type.slug for o in out] == ["validation-error", "not-found", "validation-error"]
    assert counts(database) == before
    with pytest.raises(ValueError):
        with database.transaction() as conn:
            batch.repay_many(conn, [batch.RepaymentRequest(la[0], D("1.00"))] * 2)


def _draw_at_once(gc: batch.GroupCommit, line_id: str, n: int) -> list:
    """``n`` threads, released together, each drawing 1,000.00 through ``gc``: their answers or problems."""
    start = threading.Barrier(n)
    answers: list = [None] * n

    def draw(i: int) -> None:
        start.wait()
        try:
            answers[i] = gc.drawdown(line_id, amount=D("1000.00"), term=3)
        except Problem as exc:
            answers[i] = exc

    threads = [threading.Thread(target=draw, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_group_commit_keeps_the_limit_under_50_concurrent_drawdowns(database, database_url):
    ids = setup_line(database, limit="37000.00")
    with batch.GroupCommit(database_url, max_batch=16, leaders=2) as gc:
        answers = _draw_at_once(gc, ids["line_id"], 50)
        assert gc.movements == 50 and gc.batches < 50   # batches of more than one were booked
    booked = [a for a in answers if isinstance(a, dict)]
    refused = [a for a in answers if isinstance(a, Problem)]
    assert len(booked) == 37 and len(refused) == 13
    assert {p.type.slug for p in refused} == {"insufficient-available-limit"}
    with database.transaction() as conn:
        assert lines.load(conn, ids["line_id"])["used_amount"] == D("37000.00")
        n = conn.execute("SELECT count(*) AS n FROM loans WHERE line_id = %s", [ids["line_id"]]).fetchone()["n"]
        assert n == 37
        assert ledger.trial_balance(conn)["balanced"] and not ledger.verify_balances(conn)


def test_group_commit_repayments_from_many_threads_keep_the_books(database, database_url):
    la, _ = _two_loans_alike(database, ["3000.00"] * 6)
    per_loan = 5
    with batch.GroupCommit(database_url, max_batch=8, leaders=2) as gc:
        def pay(loan_id: str) -> None:
            for _ in range(per_loan):
                gc.repay(loan_id, amount=D("10.00"))

        threads = [threading.Thread(target=pay, args=(x,)) for x in la for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    with database.transaction() as conn:
        for x in la:
            n = conn.execute("SELECT count(*) AS n FROM loan_transactions WHERE loan_id = %s AND type = 'repayment'",
                             [x]).fetchone()["n"]
            assert n == 2 * per_loan
        assert ledger.trial_balance(conn)["balanced"] and not ledger.verify_balances(conn)
        sub = conn.execute("SELECT sum(disbursed - principal_repaid - written_off_principal) AS p "
                           "FROM loan_posted_totals").fetchone()["p"]
        assert sub == ledger.balance(conn, "1100", "CNY")


def test_a_batch_the_database_refuses_is_booked_one_by_one(database, database_url):
    ids = setup_line(database, limit="100000.00")
    before = counts(database)
    bad = disbursement.ClearingDisburser(clearing_account="9999.NONE")
    with batch.GroupCommit(database_url, max_batch=4, leaders=1, disburser=bad) as gc:
        out = _draw_at_once(gc, ids["line_id"], 4)
        assert gc.fallbacks >= 1
    assert all(isinstance(o, Problem) and o.type is ledger.UNKNOWN_ACCOUNT for o in out), out
    assert counts(database) == before


def test_amounts_are_decimals_in_and_out(database):
    ids = setup_line(database, limit="100000.00")
    with database.transaction() as conn:
        (loan,) = batch.drawdown_many(conn, [batch.DrawdownRequest(ids["line_id"], Decimal("2000.00"), 3)])
    assert loan["principal"] == "2000.00" and isinstance(loan["schedule"]["installments"][0]["total"], str)


def test_an_unknown_disburser_account_refuses_the_batch_with_the_single_paths_problem(database):
    ids = setup_line(database, limit="100000.00")
    before = counts(database)
    with pytest.raises(Problem) as exc:
        with database.transaction() as conn:
            batch.drawdown_many(conn, [batch.DrawdownRequest(ids["line_id"], D("1000.00"), 3)] * 2,
                                disburser=disbursement.ClearingDisburser(clearing_account="9999.NONE"))
    assert exc.value.type is ledger.UNKNOWN_ACCOUNT
    assert counts(database) == before
