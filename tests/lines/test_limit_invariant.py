"""The limit invariant under real concurrency, against PostgreSQL: 50 simultaneous drawdowns on one
line, each in its own connection and transaction, never take the line past its limit; the ones that
fail fail cleanly (422) and leave nothing behind.  Plus a Hypothesis property over random sequences
of drawdowns, limit changes, releases, freezes."""

from __future__ import annotations

import threading
import time
from collections import Counter
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row
from servicing_helpers import D, make_customer, make_product, setup_line

from openlend.errors import Problem
from openlend.lines import service as lines
from openlend.loans import service as loans


def _run_concurrently(n: int, work) -> list:
    """Run ``work(i, start)`` in ``n`` threads; each calls ``start()`` when it is ready (its
    connection open), and all go on together from there.  Returns their results."""
    barrier = threading.Barrier(n, timeout=60)
    results: list = [None] * n

    def run(i: int) -> None:
        try:
            results[i] = work(i, barrier.wait)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    """The largest number of the intervals that were open at one moment."""
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def _check_line_and_books(database, line_id: str, *, limit: Decimal, amount: Decimal, successes: int) -> None:
    with database.transaction() as conn:
        line = lines.load(conn, line_id)
        loans_made = conn.execute("SELECT count(*) AS n, coalesce(sum(principal), 0) AS s FROM loans WHERE line_id = %s",
                                  [line_id]).fetchone()
        ledger = conn.execute("SELECT coalesce(sum(balance), 0) AS b FROM account_balances WHERE account_code = '1100'"
                              ).fetchone()["b"]
        receipts = conn.execute("SELECT count(DISTINCT receipt_no) AS n FROM loans WHERE line_id = %s",
                                [line_id]).fetchone()["n"]
        orphans = conn.execute(
            "SELECT (SELECT count(*) FROM loan_installments i WHERE NOT EXISTS "
            "        (SELECT 1 FROM loans l WHERE l.id = i.loan_id)) AS n").fetchone()["n"]
    assert line["used_amount"] <= line["limit_amount"] == limit
    assert line["used_amount"] == successes * amount == loans_made["s"] == ledger
    assert loans_made["n"] == successes == receipts
    assert orphans == 0


@pytest.mark.parametrize("limit, amount", [(D("10000.00"), D("1000.00")), (D("10500.00"), D("1000.00"))])
def test_fifty_simultaneous_drawdowns_never_exceed_the_limit(database, database_url, limit, amount):
    ids = setup_line(database, limit=str(limit))

    def work(i: int, start):
        with psycopg.connect(database_url, row_factory=dict_row) as conn:
            start()
            began = time.perf_counter()
            try:
                loan = loans.drawdown(conn, ids["line_id"], amount=amount, term=3)
                conn.commit()
                return ("ok", loan["id"])
            except Problem as p:
                conn.rollback()
                return ("problem", p.status_code, p.type.slug, p.extra.get("available"))
            finally:
                spans.append((began, time.perf_counter()))

    spans: list[tuple[float, float]] = []
    results = _run_concurrently(50, work)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert _most_at_once(spans) >= 5, "the drawdowns did not overlap: the test proves nothing"
    kinds = Counter(r[0] for r in results)
    expected = int(limit // amount)
    assert kinds["ok"] == expected and kinds["problem"] == 50 - expected
    failures = {r[1:3] for r in results if r[0] == "problem"}
    assert failures == {(422, "insufficient-available-limit")}
    # each refusal saw less available than it asked for
    assert all(D(r[3]) < amount for r in results if r[0] == "problem")
    _check_line_and_books(database, ids["line_id"], limit=limit, amount=amount, successes=expected)


def test_simultaneous_drawdowns_over_http(client, database):
    ids = setup_line(database, limit="5000.00")
    url = f"/v1/credit-lines/{ids['line_id']}/drawdowns"

    def work(i: int, start):
        start()
        r = client.post(url, json={"amount": "1000.00", "term": 3}, headers={"Idempotency-Key": f"race-{i}"})
        return r.status_code, r.headers["content-type"], r.json()

    results = _run_concurrently(20, work)
    assert not [r for r in results if isinstance(r, BaseException)], results
    codes = Counter(r[0] for r in results)
    assert codes == {201: 5, 422: 15}, codes
    for status, ctype, body in results:
        if status == 422:
            assert ctype.startswith("application/problem+json")
            assert body["type"] == "/problems/insufficient-available-limit"
            assert body["errors"][0]["pointer"] == "/amount"
    _check_line_and_books(database, ids["line_id"], limit=D("5000.00"), amount=D("1000.00"), successes=5)
    with database.transaction() as conn:  # only the successes kept their idempotency keys
        assert conn.execute("SELECT count(*) AS n FROM idempotency_keys").fetchone()["n"] == 5


def test_drawdowns_racing_a_limit_cut_and_a_freeze(database, database_url):
    """Drawdowns race a limit cut to 3000 and a freeze: whatever the order, used <= limit."""
    ids = setup_line(database, limit="10000.00")

    def work(i: int, start):
        with psycopg.connect(database_url, row_factory=dict_row) as conn:
            start()
            try:
                if i == 0:
                    lines.change_limit(conn, ids["line_id"], D("3000.00"), "cut")
                elif i == 1:
                    lines.freeze(conn, ids["line_id"], "race")
                else:
                    loans.drawdown(conn, ids["line_id"], amount=D("1000.00"), term=3)
                conn.commit()
                return "ok"
            except Problem as p:
                conn.rollback()
                return p.type.slug

    results = _run_concurrently(30, work)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert set(results[2:]) <= {"ok", "insufficient-available-limit", "credit-line-frozen"}
    with database.transaction() as conn:
        line = lines.load(conn, ids["line_id"])
        n = conn.execute("SELECT count(*) AS n FROM loans").fetchone()["n"]
    assert line["used_amount"] <= line["limit_amount"]
    assert line["used_amount"] == n * D("1000.00") == results[2:].count("ok") * D("1000.00")
    assert line["limit_amount"] == (D("3000.00") if results[0] == "ok" else D("10000.00"))


def test_the_table_refuses_used_above_limit_whatever_the_sql(database):
    ids = setup_line(database, limit="1000.00")
    with pytest.raises(psycopg.errors.CheckViolation):
        with database.transaction() as conn:
            conn.execute("UPDATE credit_lines SET used_amount = 1000.01 WHERE id = %s", [ids["line_id"]])
    with pytest.raises(psycopg.errors.CheckViolation):
        with database.transaction() as conn:
            conn.execute("UPDATE credit_lines SET used_amount = -0.01 WHERE id = %s", [ids["line_id"]])


def test_release_frees_limit_and_never_goes_below_zero(database):
    ids = setup_line(database, limit="5000.00")
    with database.transaction() as conn:
        loans.drawdown(conn, ids["line_id"], amount=D("2000.00"), term=3)
        assert lines.release(conn, ids["line_id"], D("500.00"))["used_amount"] == D("1500.00")
        assert lines.release(conn, ids["line_id"], D("9999.00"))["used_amount"] == D("0")
        with pytest.raises(ValueError):
            lines.release(conn, ids["line_id"], D("-1"))
    with database.transaction() as conn:
        with pytest.raises(Problem):
            lines.release(conn, "line_unknown", D("1"))


# --- the property -----------------------------------------------------------------------------------

_amounts = st.integers(min_value=10, max_value=80).map(lambda h: D(h * 100))   # 1000.00 .. 8000.00
_ops = st.lists(st.one_of(
    st.tuples(st.just("draw"), _amounts),
    st.tuples(st.just("limit"), st.integers(min_value=0, max_value=200).map(lambda h: D(h * 100))),
    st.tuples(st.just("release"), st.integers(min_value=0, max_value=60).map(lambda h: D(h * 100))),
    st.tuples(st.just("freeze"), st.none()),
    st.tuples(st.just("unfreeze"), st.none()),
), min_size=1, max_size=12)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_ops)
def test_property_used_never_exceeds_limit(database, ops):
    with database.transaction() as conn:
        prod = conn.execute("SELECT id FROM loan_products WHERE code = 'LINE-TEST-12M'").fetchone()
        prod = {"id": prod["id"]} if prod else make_product(conn)
        cus = make_customer(conn)
        line_id = lines.create_line(conn, customer_id=cus["id"], product_id=prod["id"], limit=D("10000.00"))["id"]
    limit, used, status = D("10000.00"), D(0), "active"
    for op, value in ops:
        outcome = None
        try:
            with database.transaction() as conn:
                if op == "draw":
                    loans.drawdown(conn, line_id, amount=value, term=3)
                elif op == "limit":
                    lines.change_limit(conn, line_id, value, "property")
                elif op == "release":
                    lines.release(conn, line_id, value)
                elif op == "freeze":
                    lines.freeze(conn, line_id)
                else:
                    lines.unfreeze(conn, line_id)
        except Problem as p:
            outcome = p.type.slug
        # the model says what must have happened
        if op == "draw":
            if status == "frozen":
                assert outcome == "credit-line-frozen"
            elif used + value > limit:
                assert outcome == "insufficient-available-limit"
            else:
                assert outcome is None
                used += value
        elif op == "limit":
            if value < used:
                assert outcome == "limit-below-used"
            elif value == limit:
                assert outcome == "validation-error"
            else:
                assert outcome is None
                limit = value
        elif op == "release":
            assert outcome is None
            used = max(used - value, D(0))
        elif op == "freeze":
            assert outcome == (None if status == "active" else "credit-line-frozen")
            status = "frozen"
        else:
            assert outcome == (None if status == "frozen" else "credit-line-not-frozen")
            status = "active"
        with database.transaction() as conn:
            shown = lines.get_line(conn, line_id)
        assert D(shown["used"]) <= D(shown["limit"])
        assert D(shown["available"]) == D(shown["limit"]) - D(shown["used"]) >= 0
        assert (D(shown["limit"]), D(shown["used"]), shown["status"]) == (limit, used, status)
