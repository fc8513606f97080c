"""Properties of the ledger over random entries (Hypothesis), against the real database.

Each example runs in one transaction that is rolled back at the end; ``SET CONSTRAINTS ALL
IMMEDIATE`` first fires the deferred balance check on every entry the example booked."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from openlend.errors import Problem
from openlend.ledger import service
from openlend.money import currency_places

ACCOUNTS = ["1100", "1110", "1120", "1130", "1300", "1310", "1900", "2000", "2100", "3000", "4000", "4100", "5000"]
CURRENCIES = ["CNY", "JPY", "KWD"]
START = dt.date(2024, 1, 1)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def entries(draw):
    """A balanced entry: debits in minor units, the same total split over the credit lines."""
    currency = draw(st.sampled_from(CURRENCIES))
    unit = Decimal(1).scaleb(-currency_places(currency))
    debits = draw(st.lists(st.integers(1, 10**9), min_size=1, max_size=3))
    total = sum(debits)
    n_credit = draw(st.integers(1, min(3, total)))
    cuts = sorted(draw(st.lists(st.integers(1, total - 1), min_size=n_credit - 1, max_size=n_credit - 1,
                                unique=True))) if n_credit > 1 else []
    credits = [b - a for a, b in zip([0, *cuts], [*cuts, total])]
    accounts = draw(st.lists(st.sampled_from(ACCOUNTS), min_size=len(debits) + len(credits),
                             max_size=len(debits) + len(credits)))
    amounts = [d * unit for d in debits] + [-c * unit for c in credits]
    lines = list(zip(accounts, [currency] * len(amounts), amounts))
    order = draw(st.permutations(range(len(lines))))
    return draw(st.integers(0, 90)), [lines[i] for i in order]


def expected_nets(booked, as_of: dt.date | None = None) -> dict:
    nets: dict = defaultdict(Decimal)
    for date, lines in booked:
        if as_of is None or date <= as_of:
            for account, currency, amount in lines:
                nets[(account, currency)] += amount
    return {k: v for k, v in nets.items() if v != 0}


@SETTINGS
@given(batch=st.lists(entries(), min_size=1, max_size=8), as_of_day=st.integers(-1, 91), reverse=st.booleans())
def test_random_balanced_entries_keep_the_books_balanced(database, batch, as_of_day, reverse):
    with database.pool.connection() as conn:
        try:
            booked = []
            for n, (day, lines) in enumerate(batch):
                date = START + dt.timedelta(days=day)
                service.post_entry(conn, entry_id=f"je_p{n}", effective_date=date, lines=lines)
                booked.append((date, lines))
            if reverse:
                service.reverse_entry(conn, entry_id="je_p0", reversal_id="je_p0_rev")
                booked.append((booked[0][0], [(a, c, -m) for a, c, m in booked[0][1]]))

            for as_of in (None, START + dt.timedelta(days=as_of_day)):
                tb = service.trial_balance(conn, as_of=as_of)
                assert tb["balanced"]
                assert all(t["debit"] == t["credit"] for t in tb["totals"].values())
                assert {(r["code"], r["currency"]): r["net"] for r in tb["accounts"]} == expected_nets(booked, as_of)

            nets = expected_nets(booked)
            for account in {a for _, lines in booked for a, _, _ in lines}:
                stored = service.get_account(conn, account)["nets"]
                assert {c: v for c, v in stored.items() if v != 0} == {c: v for (a, c), v in nets.items() if a == account}
            assert service.verify_balances(conn) == []

            account, currency = next(iter(nets)) if nets else ("1100", "CNY")
            st_ = service.statement(conn, account, currency=currency, limit=1000)
            assert (st_["lines"][-1]["net_after"] if st_["lines"] else 0) == nets.get((account, currency), 0)

            conn.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the database's own check of every entry
        finally:
            conn.rollback()


@SETTINGS
@given(lines=st.lists(st.tuples(st.sampled_from(ACCOUNTS[:4]), st.sampled_from(["CNY", "USD"]),
                                st.integers(-500, 500).filter(bool).map(Decimal)), min_size=2, max_size=5))
def test_python_and_the_database_agree_on_what_balances(database, lines):
    sums: dict = defaultdict(Decimal)
    for _, currency, amount in lines:
        sums[currency] += amount
    balanced = all(v == 0 for v in sums.values())
    with database.pool.connection() as conn:
        try:
            try:
                service.post_entry(conn, entry_id="je_x", effective_date=START, lines=lines)
                assert balanced
            except Problem as exc:
                assert not balanced and exc.type.slug == "unbalanced-entry"
            conn.rollback()
            # The same lines straight into the SQL function: the database decides on its own.
            conn.execute("SELECT ledger_post('je_raw', %s, %s::text[], %s::text[], %s::numeric[])",
                         [START, [a for a, _, _ in lines], [c for _, c, _ in lines], [m for _, _, m in lines]])
            if balanced:
                conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
            else:
                with pytest.raises(psycopg.errors.CheckViolation):
                    conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
        finally:
            conn.rollback()
