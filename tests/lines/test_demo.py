"""The demo seed: customers with valid (made-up) ID numbers, a line each, loans disbursed in the past."""

from __future__ import annotations

from openlend.customers import service as customers
from openlend.demo import seed
from openlend.lines.demo import DEMO_CUSTOMERS


def test_seed_makes_customers_lines_and_loans_once(database):
    for _, _, body, *_ in DEMO_CUSTOMERS:
        customers.normalise_id_number(body + customers.id_check_char(body))   # valid checksums
    first = seed(database)
    assert "4 demo customers, 4 credit lines, 4 loans" in first
    with database.transaction() as conn:
        n = {t: conn.execute(f"SELECT count(*) AS n FROM {t}").fetchone()["n"]
             for t in ("customers", "credit_lines", "loans", "loan_installments")}
        used = conn.execute("SELECT sum(used_amount) AS s FROM credit_lines").fetchone()["s"]
        past = conn.execute("SELECT count(*) AS n FROM loan_installments WHERE due_date < current_date").fetchone()["n"]
    assert (n["customers"], n["credit_lines"], n["loans"]) == (4, 4, 4) and n["loan_installments"] == 12 + 3 + 24 + 1
    assert used == 12000 + 3000 + 60000 + 2000
    assert past >= 3   # the oldest cash loan has installments already due
    second = seed(database)
    assert "demo customers" not in second
    with database.transaction() as conn:
        assert conn.execute("SELECT count(*) AS n FROM loans").fetchone()["n"] == 4
