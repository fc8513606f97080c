"""Close of business against the loan engine: after every day closed, every loan in the database
(installments, ageing, status, posted totals) equals ``engine.run(terms, events, D + 1)``, and the
subledger equals the GL.  Plus idempotency, resumption after a failure mid-run, catch-up, the
business date, reminders and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from decimal import Decimal

import pytest

from openlend.cob import service as cob
from openlend.errors import Problem
from openlend.lines import service as lines
from openlend.loans import engine as eng
from openlend.loans import posting
from openlend.loans import service as loans
from servicing_helpers import make_customer, make_id_number, make_product

D = Decimal
START = dt.date(2024, 1, 25)


def set_business_date(database, d: dt.date) -> None:
    with database.transaction() as conn:
        conn.execute("UPDATE system_state SET business_date = %s", [d])


def business_date(database) -> dt.date:
    with database.transaction() as conn:
        return loans.business_date(conn)


def make_book(database) -> dict[str, str]:
    """Loans on three products (period 30/360 with fees; daily ACT/ACT equal principal; daily
    ACT/360 component-first), drawn on START; one drawn backdated (disbursed 20 days before)."""
    set_business_date(database, START)
    out = {}
    with database.transaction() as conn:
        p1 = make_product(conn)
        p2 = make_product(conn, code="COB-DAILY-ACTACT", method="equal_principal", interest_basis="daily",
                          day_count="ACT/ACT", fees=[])
        p3 = make_product(conn, code="COB-ACT360", interest_basis="daily", day_count="ACT/360",
                          allocation={"strategy": "component_first"},
                          fees=[{"name": "service", "kind": "each_installment", "calculation": "fixed",
                                 "value": "1.50"}])
        for name, prod, draws in (("a", p1, [("3000.00", 3), ("1000.00", 6), ("5000.00", 12)]),
                                  ("b", p2, [("2000.00", 3), ("1200.00", 6)]),
                                  ("c", p3, [("4000.00", 3), ("1500.00", 6)])):
            cus = make_customer(conn, id_number=make_id_number(seq=hash(name) % 900 + 10))
            line = lines.create_line(conn, customer_id=cus["id"], product_id=prod["id"], limit=D("50000.00"))
            for i, (amount, term) in enumerate(draws):
                loan = loans.drawdown(conn, line["id"], amount=D(amount), term=term)
                out[f"{name}{i}"] = loan["id"]
        back = loans.drawdown(conn, line["id"], amount=D("1800.00"), term=3,
                              disbursement_date=START - dt.timedelta(days=20))
        out["late_booked"] = back["id"]
    return out


def engine_state(conn, loan_id: str, as_of: dt.date) -> eng.LoanState:
    loan = loans.load(conn, loan_id)
    return eng.run(loans.loan_terms(loan), loans._events(conn, loan_id), as_of)


def assert_matches_engine(database, loan_ids, as_of: dt.date) -> None:
    with database.transaction() as conn:
        for lid in loan_ids:
            loan = loans.load(conn, lid)
            if loan["status"] in ("paid_off", "written_off"):
                continue
            st = engine_state(conn, lid, as_of)
            fch = {r["number"]: r["fees_charged"] for r in conn.execute(
                "SELECT number, fees_charged FROM loan_installments WHERE loan_id = %s", [lid]).fetchall()}
            rows = [{k: r[k] for k in ("number", "from_date", "due_date", "principal", "interest", "fees", "penalty",
                                       "paid_principal", "paid_interest", "paid_fees", "paid_penalty",
                                       "accrued_interest", "status")} | {"fees_charged": fch[r["number"]]}
                    for r in loans._installments(conn, lid)]   # accrued as the API reads it
            want = [{"number": r.number, "from_date": r.from_date, "due_date": r.due_date, "principal": r.principal,
                     "interest": r.interest, "fees": r.fees, "penalty": r.penalty, "paid_principal": r.paid_principal,
                     "paid_interest": r.paid_interest, "paid_fees": r.paid_fees, "paid_penalty": r.paid_penalty,
                     "accrued_interest": r.accrued_interest,
                     "status": "pending" if r.status == "future" else r.status, "fees_charged": r.fees_charged}
                    for r in st.installments]
            assert rows == want, (lid, as_of)
            assert (loan["status"], loan["days_past_due"], loan["bucket"], loan["next_due_date"]) == \
                (st.status, st.days_past_due, st.bucket, st.next_due_date), (lid, as_of)
            pt = conn.execute("SELECT * FROM loan_posted_totals WHERE loan_id = %s", [lid]).fetchone()
            tot = st.totals._asdict()
            assert {k: pt[k] for k in posting.FIGURES} == {k: tot[k] for k in posting.FIGURES}, (lid, as_of)
            assert pt["as_of"] == as_of
        # the subledger equals the GL control accounts
        gl = {r["account_code"]: r["b"] for r in conn.execute(
            "SELECT account_code, sum(balance) AS b FROM account_balances WHERE currency = 'CNY' "
            "GROUP BY account_code").fetchall()}
        sub = conn.execute(
            "SELECT sum(disbursed - principal_repaid - written_off_principal) AS p, "
            "sum(interest_accrued - interest_repaid - written_off_interest) AS i, "
            "sum(fees_charged - fees_repaid - written_off_fees) AS f, "
            "sum(penalty_charged - penalty_repaid - written_off_penalty) AS pen FROM loan_posted_totals").fetchone()
        assert (gl.get("1100", 0), gl.get("1110", 0), gl.get("1120", 0), gl.get("1130", 0)) == \
            (sub["p"], sub["i"], sub["f"], sub["pen"])


def test_round_half_even_div_is_exact(database):
    with database.transaction() as conn:
        cases = [("0.125", "1", 2, "0.12"), ("0.135", "1", 2, "0.14"), ("-0.125", "1", 2, "-0.12"),
                 ("1", "3", 2, "0.33"), ("2", "3", 2, "0.67"), ("0.49", "2", 2, "0.24"), ("0.51", "2", 2, "0.26"),
                 ("-2", "3", 2, "-0.67"), ("5", "-2", 0, "-2"), ("7", "-2", 0, "-4"), ("100", "7", 4, "14.2857"),
                 ("12345.675", "1", 2, "12345.68"), ("12345.665", "1", 2, "12345.66")]
        for n, d, places, want in cases:
            got = conn.execute("SELECT round_half_even_div(%s::numeric, %s::numeric, %s) AS r", [n, d, places]
                               ).fetchone()["r"]
            assert got == D(want) and str(got) == want, (n, d, places, got)


def test_cob_agrees_with_the_engine_every_day_for_four_months(database):
    ids = make_book(database)
    ordered = sorted(ids.values())
    # what borrowers do, by business date (value date = that day)
    plan = {
        START + dt.timedelta(days=31): [("repay", "a0", "1020.00")],          # a0 pays its first installment
        START + dt.timedelta(days=40): [("repay", "a1", "50.00"),            # a1 pays part, late
                                        ("prepay", "b1", "300.00")],
        START + dt.timedelta(days=45): [("payoff", "c1", None)],
        START + dt.timedelta(days=62): [("payoff", "a0", None),
                                        ("repay", "b0", "5000.00")],         # b0 overpays: paid off, held
        START + dt.timedelta(days=75): [("repay", "c0", "500.00")],
    }
    d = START
    for _ in range(125):
        with database.transaction() as conn:
            for kind, who, amount in plan.get(d, []):
                if kind == "repay":
                    loans.repay(conn, ids[who], amount=D(amount))
                elif kind == "prepay":
                    loans.prepay(conn, ids[who], amount=D(amount), mode="reduce_installment")
                else:
                    loans.payoff(conn, ids[who])
        res = cob.close_day(database, d, batch_size=3)
        assert res.status == "closed"
        d += dt.timedelta(days=1)
        assert business_date(database) == d
        assert_matches_engine(database, ordered, d)
    with database.transaction() as conn:
        st = {r["id"]: r for r in conn.execute("SELECT id, status, bucket, days_past_due FROM loans").fetchall()}
        # the book ends in several states and buckets
        assert {st[ids[k]]["status"] for k in ("a0", "b0", "c1")} == {"paid_off"}
        assert st[ids["a2"]]["bucket"] == "M4+" and st[ids["a2"]]["days_past_due"] > 90
        kinds = {r["kind"] for r in conn.execute("SELECT DISTINCT kind FROM notifications_outbox").fetchall()}
        assert kinds == {"due_soon", "due_today", "overdue"}
        # every journal line of COB is in a balanced entry named after its batch
        n = conn.execute("SELECT count(*) AS n FROM journal_entries WHERE id LIKE 'je_cob_%'").fetchone()["n"]
        assert n > 100


def test_a_closed_date_is_not_run_again_and_other_dates_wait(database):
    ids = make_book(database)
    first = cob.close_day(database, START)
    assert first.status == "closed" and first.loans == len(ids) - 1 and first.replayed == 1
    with database.transaction() as conn:
        before = conn.execute("SELECT count(*) AS n, (SELECT count(*) FROM notifications_outbox) AS o, "
                              "(SELECT sum(interest_accrued) FROM loan_posted_totals) AS i "
                              "FROM journal_entries").fetchone()
    again = cob.close_day(database, START)
    assert again.status == "already_closed"
    with database.transaction() as conn:
        after = conn.execute("SELECT count(*) AS n, (SELECT count(*) FROM notifications_outbox) AS o, "
                             "(SELECT sum(interest_accrued) FROM loan_posted_totals) AS i "
                             "FROM journal_entries").fetchone()
    assert before == after
    with pytest.raises(Problem) as exc:
        cob.close_day(database, START + dt.timedelta(days=5))
    assert exc.value.type.slug == "cob-date-not-open"
    assert business_date(database) == START + dt.timedelta(days=1)


def test_a_run_that_fails_mid_way_resumes_and_ends_as_an_uninterrupted_run(database, monkeypatch):
    ids = make_book(database)
    for i in range(30):   # close a month first so there is penalty and falling due in the failing day
        cob.close_day(database, START + dt.timedelta(days=i), batch_size=2)
    d = START + dt.timedelta(days=30)
    real = cob._run_batch
    calls = {"n": 0}

    def flaky(conn, day, batch_no, first, last):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("killed")
        return real(conn, day, batch_no, first, last)

    monkeypatch.setattr(cob, "_run_batch", flaky)
    with pytest.raises(RuntimeError):
        cob.close_day(database, d, batch_size=2, workers=1)
    with database.transaction() as conn:
        done = conn.execute("SELECT count(*) AS n FROM cob_batches WHERE business_date = %s", [d]).fetchone()["n"]
        status = conn.execute("SELECT status FROM cob_runs WHERE business_date = %s", [d]).fetchone()["status"]
    assert done == 2 and status == "running"
    assert business_date(database) == d          # not moved: the day is not closed
    monkeypatch.setattr(cob, "_run_batch", real)
    res = cob.close_day(database, d, batch_size=2)
    assert res.status == "closed" and res.batches_skipped == 2
    assert_matches_engine(database, sorted(ids.values()), d + dt.timedelta(days=1))
    # stop_after: the same, without an error
    d2 = d + dt.timedelta(days=1)
    part = cob.close_day(database, d2, batch_size=2, stop_after=1)
    assert part.status == "interrupted"
    rest = cob.close_day(database, d2, batch_size=2)
    assert rest.status == "closed" and rest.batches_skipped == 1
    assert_matches_engine(database, sorted(ids.values()), d2 + dt.timedelta(days=1))


def test_catch_up_closes_every_open_date_in_order(database):
    ids = make_book(database)
    results = cob.catch_up(database, START + dt.timedelta(days=9), batch_size=4)
    assert [r.business_date for r in results] == [START + dt.timedelta(days=i) for i in range(10)]
    assert business_date(database) == START + dt.timedelta(days=10)
    assert cob.catch_up(database, START + dt.timedelta(days=9)) == []
    assert_matches_engine(database, sorted(ids.values()), START + dt.timedelta(days=10))


def test_servicing_after_cob_posts_only_the_difference(database):
    """A repayment on a business date after COB folds as of that date: the posted totals that COB
    kept are the base, so nothing is posted twice."""
    ids = make_book(database)
    cob.catch_up(database, START + dt.timedelta(days=34))
    with database.transaction() as conn:
        r = loans.repay(conn, ids["a2"], amount=D("200.00"))
    posted = r["transaction"]["details"]["posted"]
    assert "interest_accrued" not in posted and "penalty_charged" not in posted   # COB already booked them
    assert_matches_engine(database, sorted(ids.values()), START + dt.timedelta(days=35))


def test_cli_closes_the_open_date_and_prints_json(database, database_url, tmp_path):
    make_book(database)
    env = {"OPENLEND_DATABASE_URL": database_url, "DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "openlend.cli", "cob", "--to", str(START + dt.timedelta(days=1)),
                          "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    days = [json.loads(line) for line in out.stdout.splitlines()]
    assert [x["business_date"] for x in days] == [str(START), str(START + dt.timedelta(days=1))]
    assert all(x["status"] == "closed" for x in days)
    assert "batch 1/1" in out.stderr
    again = subprocess.run([sys.executable, "-m", "openlend.cli", "cob", "--date", str(START), "--json"],
                           capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 0 and json.loads(again.stdout)["status"] == "already_closed"
    bad = subprocess.run([sys.executable, "-m", "openlend.cli", "cob", "--date", "2030-01-01"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 1 and "open business date" in bad.stderr


def test_one_close_of_business_at_a_time(database, database_url):
    import psycopg
    make_book(database)
    with psycopg.connect(database_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtext('openlend.cob.run'))")
        with pytest.raises(Problem) as exc:
            cob.close_day(database, START)
        assert exc.value.type.slug == "cob-running"
        other.execute("SELECT pg_advisory_unlock(hashtext('openlend.cob.run'))")
    assert cob.close_day(database, START).status == "closed"


def test_the_scheduled_job_waits_for_its_time():
    now = dt.datetime(2026, 11, 24, 0, 30, 15)
    assert cob.seconds_until("00:45", now) == 14 * 60 + 45
    assert cob.seconds_until("00:30", now) == 24 * 3600 - 15      # just passed: tomorrow
    with pytest.raises(ValueError):
        cob.seconds_until("25:99x", now)
