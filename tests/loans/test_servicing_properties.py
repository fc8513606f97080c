"""Property (DB-backed, few examples): random repayments, backdated ones and reversals keep the loan
subledger equal to the GL control accounts, the line's used amount equal to the outstanding principal,
and the posted totals equal to a fresh fold of the active events."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_servicing_api import BusinessDate, bd, make_loan, recon_ok  # noqa: E402,F401

from openlend.errors import Problem  # noqa: E402
from openlend.loans import engine as eng  # noqa: E402
from openlend.loans import posting  # noqa: E402
from openlend.loans import service as loans  # noqa: E402
from servicing_helpers import D, line_row  # noqa: E402

START = dt.date(2024, 1, 1)
step = st.one_of(
    st.tuples(st.just("pay"), st.integers(1, 40), st.integers(1, 6000), st.integers(0, 40)),
    st.tuples(st.just("reverse"), st.integers(0, 20), st.just(0), st.just(0)))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=6))
def test_random_repayments_and_reversals_keep_reconciliation_exact(database, bd, steps):
    bd.set(2024, 1, 1)
    x = make_loan(database, bd, amount="300.00", limit="100000.00")
    lid = x["loan_id"]
    day = START
    done: list[str] = []
    for kind, days, cents, back in steps:
        day = day + dt.timedelta(days=days)
        bd.value = day
        try:
            with database.transaction() as conn:
                if kind == "pay":
                    vd = max(START, day - dt.timedelta(days=back))
                    r = loans.repay(conn, lid, amount=D(cents) / 100, value_date=vd)
                    done.append(r["transaction"]["id"])
                elif done:
                    loans.reverse(conn, lid, done.pop(back % len(done)))
        except Problem as exc:
            assert exc.status_code in (409, 422), exc
        recon_ok(database)
        with database.transaction() as conn:
            loan = loans.load(conn, lid)
            state = eng.run(loans.loan_terms(loan), loans._events(conn, lid), day)
            posted = conn.execute("SELECT * FROM loan_posted_totals WHERE loan_id = %s", [lid]).fetchone()
        if posted["as_of"] == day:   # the last event was booked today: posted = the fold
            assert {k: posted[k] for k in posting.FIGURES} == {k: getattr(state.totals, k) for k in posting.FIGURES}
        assert line_row(database, lid and x["line_id"])["used_amount"] == loan["principal_outstanding"]
