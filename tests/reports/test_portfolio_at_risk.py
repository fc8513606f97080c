"""Portfolio at risk from the stored loan state: loans in every bucket (made overdue by backdated
disbursements and brought up to date by a fold), sums and shares per bucket checked by hand, several
currencies, paid-off and written-off loans left out."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from servicing_helpers import D, make_product, setup_line

from openlend.lines import service as lines
from openlend.loans import service as loans
from openlend.reports import service as reports

TODAY = dt.date(2024, 6, 15)
PRODUCT = {"name": "PAR test", "method": "equal_installment", "interest_basis": "period", "day_count": "30/360",
           "rate": {"min": "7", "max": "7", "default": "7"}, "term": {"allowed": [6, 12]},
           "amount": {"min": "1.00", "max": "100000.00"}, "fees": []}
_codes = itertools.count(1)


@pytest.fixture
def today(monkeypatch):
    monkeypatch.setattr(lines, "today", lambda: TODAY)
    return TODAY


def loan(database, amount: str, disb: dt.date, currency: str = "CNY") -> str:
    """A loan disbursed on ``disb`` (first due a month later), folded as of today by a small charge so
    that its stored status, days past due and bucket are today's; its id."""
    with database.transaction() as conn:
        prod = make_product(conn, **{**PRODUCT, "currency": currency, "code": f"PAR-{next(_codes)}"})
    ids = setup_line(database, limit="100000.00", product=prod)
    with database.transaction() as conn:
        lid = loans.drawdown(conn, ids["line_id"], amount=D(amount), term=6, disbursement_date=disb)["id"]
    with database.transaction() as conn:
        loans.charge(conn, lid, amount=D("1.00"), name="statement")
    return lid


def test_portfolio_at_risk_by_bucket_and_currency(client, database, today):
    made = {
        "m0": loan(database, "1000.00", dt.date(2024, 6, 1)),     # first due 2024-07-01: not yet due
        "m1a": loan(database, "2000.00", dt.date(2024, 5, 1)),    # due 2024-06-01: 14 days past due
        "m1b": loan(database, "500.00", dt.date(2024, 5, 10)),    # due 2024-06-10: 5
        "m2": loan(database, "3000.00", dt.date(2024, 4, 1)),     # due 2024-05-01: 45
        "m3": loan(database, "4000.00", dt.date(2024, 3, 1)),     # due 2024-04-01: 75
        "m4": loan(database, "5000.00", dt.date(2024, 2, 1)),     # due 2024-03-01: 106
        "usd_m0": loan(database, "800.00", dt.date(2024, 6, 1), "USD"),
        "usd_m2": loan(database, "200.00", dt.date(2024, 4, 1), "USD"),
    }
    # left out: a loan paid off today and a (long overdue) loan written off today
    paid = loan(database, "700.00", dt.date(2024, 6, 1))
    with database.transaction() as conn:
        loans.payoff(conn, paid)
    written = loan(database, "900.00", dt.date(2024, 1, 1))
    with database.transaction() as conn:
        loans.write_off(conn, written, reason="fraud")

    want = {"m0": (0, "M0"), "m1a": (14, "M1"), "m1b": (5, "M1"), "m2": (45, "M2"), "m3": (75, "M3"),
            "m4": (106, "M4+"), "usd_m0": (0, "M0"), "usd_m2": (45, "M2")}
    for k, lid in made.items():
        got = client.get(f"/v1/loans/{lid}").json()
        assert (got["days_past_due"], got["bucket"]) == want[k], (k, got["days_past_due"], got["bucket"])
        assert got["status"] == ("active" if want[k][0] == 0 else "overdue")
    statuses = {client.get(f"/v1/loans/{lid}").json()["status"] for lid in (paid, written)}
    assert statuses == {"paid_off", "written_off"}

    r = client.get("/v1/reports/portfolio-at-risk")
    assert r.status_code == 200, r.text
    par = r.json()
    assert par["object"] == "portfolio_at_risk" and par["as_of"] == "2024-06-15"
    assert [c["currency"] for c in par["currencies"]] == ["CNY", "USD"]
    cny, usd = par["currencies"]
    # CNY: 1000 + 2000 + 500 + 3000 + 4000 + 5000 = 15,500 open; the paid-off 700 and written-off 900 left out
    assert (cny["loans"], cny["principal_outstanding"]) == (6, "15500.00")
    assert [(b["bucket"], b["loans"], b["principal_outstanding"], b["share"]) for b in cny["buckets"]] == [
        ("M0", 1, "1000.00", "6.45"),     # 1000 / 15500 = 6.4516 %
        ("M1", 2, "2500.00", "16.13"),    # 2500 / 15500 = 16.1290 %
        ("M2", 1, "3000.00", "19.35"),    # 19.3548 %
        ("M3", 1, "4000.00", "25.81"),    # 25.8064 %
        ("M4+", 1, "5000.00", "32.26"),   # 32.2580 %
    ]
    assert sum(D(b["principal_outstanding"]) for b in cny["buckets"]) == D(cny["principal_outstanding"])
    assert sum(b["loans"] for b in cny["buckets"]) == cny["loans"]
    assert cny["par1"] == "93.55"         # (15500 - 1000) / 15500 = 93.5483 %
    # USD: 800 current, 200 in M2; nothing else
    assert (usd["loans"], usd["principal_outstanding"], usd["par1"]) == (2, "1000.00", "20.00")
    assert [(b["bucket"], b["loans"], b["principal_outstanding"], b["share"]) for b in usd["buckets"]] == [
        ("M0", 1, "800.00", "80.00"), ("M1", 0, "0.00", "0.00"), ("M2", 1, "200.00", "20.00"),
        ("M3", 0, "0.00", "0.00"), ("M4+", 0, "0.00", "0.00")]

    # a repayment of principal moves the figures: the M4+ loan pays its overdue installments and more
    with database.transaction() as conn:
        q = loans.payoff_quote(conn, made["m4"])
        loans.payoff(conn, made["m4"])
    assert D(q["principal"]) == D("5000.00")
    with database.transaction() as conn:
        cny = reports.portfolio_at_risk(conn)["currencies"][0]
    assert (cny["loans"], cny["principal_outstanding"], cny["par1"]) == (5, "10500.00", "90.48")   # 9500 / 10500
    assert cny["buckets"][4] == {"bucket": "M4+", "loans": 0, "principal_outstanding": "0.00", "share": "0.00"}
    # and the reconciliation still holds with all of it
    with database.transaction() as conn:
        assert reports.reconciliation(conn)["ok"]


def test_no_open_loans_no_currencies(client, database, today):
    assert client.get("/v1/reports/portfolio-at-risk").json()["currencies"] == []
    paid = loan(database, "100.00", dt.date(2024, 6, 1))
    with database.transaction() as conn:
        loans.payoff(conn, paid)
    assert client.get("/v1/reports/portfolio-at-risk").json()["currencies"] == []
