"""The demo seed: customers with valid (made-up) ID numbers, a line each, and a loan book in every
state made by living through 150 business days with close of business each day."""

from __future__ import annotations

import datetime as dt

from openlend.customers import service as customers
from openlend.demo import seed
from openlend.lines.demo import DEMO_CUSTOMERS
from openlend.reports import service as reports


def test_seed_makes_a_book_in_every_state_once(database):
    for _, _, body, *_ in DEMO_CUSTOMERS:
        customers.normalise_id_number(body + customers.id_check_char(body))   # valid checksums
    first = seed(database)
    assert "8 demo customers, 8 credit lines" in first and "9 loans through 150 business days" in first
    with database.transaction() as conn:
        rows = conn.execute("SELECT status, bucket FROM loans").fetchall()
        states = {(r["status"], r["bucket"]) for r in rows}
        business = conn.execute("SELECT business_date FROM system_state").fetchone()["business_date"]
        runs = conn.execute("SELECT count(*) AS n FROM cob_runs WHERE status = 'done'").fetchone()["n"]
        held = conn.execute("SELECT sum(overpayment) AS s FROM loan_posted_totals").fetchone()["s"]
        versions = conn.execute("SELECT count(*) AS n FROM loan_schedule_versions WHERE reason = 'prepayment'"
                                ).fetchone()["n"]
        kinds = {r["kind"] for r in conn.execute("SELECT DISTINCT kind FROM notifications_outbox")}
        recon = reports.reconciliation(conn)
    assert business == dt.date.today() and runs == 150
    assert {("active", "M0"), ("paid_off", "M0"), ("written_off", "M4+"), ("overdue", "M1"), ("overdue", "M2"),
            ("overdue", "M3"), ("overdue", "M4+")} <= states, states
    assert held == 100 and versions == 1 and kinds == {"due_soon", "due_today", "overdue"}
    assert recon["currencies"]
    for cur in recon["currencies"]:
        diffs = list(_differences(cur))
        assert len(diffs) >= 5 and all(float(v) == 0 for _, v in diffs), cur
    second = seed(database)
    assert "demo customers" not in second and "history" not in second
    with database.transaction() as conn:
        assert conn.execute("SELECT count(*) AS n FROM loans").fetchone()["n"] == 9


def _differences(cur: dict):
    for k, v in cur.items():
        if "difference" in k:
            yield k, v
        elif isinstance(v, dict):
            yield from _differences(v)
        elif isinstance(v, list):
            for x in v:
                if isinstance(x, dict):
                    yield from _differences(x)
