"""The credit report: strict parsing (a report that does not parse is reported, never guessed) and
features computed by hand for two documented reports."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal

import pytest

from openlend.risk.bureau import FEATURE_NAMES, BureauParseError, features, parse_report
from sim.providers import data
from sim.providers.identities import BY_KEY

from risk_standin import AS_OF


def report(key: str, as_of: date = AS_OF) -> dict:
    p = BY_KEY[key]
    return data.credit_report(p.name, p.id_number, "loan_approval", as_of)


def test_clean_thick_file_features_by_hand():
    # Cards 12000+3000 used of 50000+30000; loans: mortgage 512345.67 open, consumption loan closed.
    # Queries (as of 2024-06-15): self 05-26, post-loan 05-06, card approval 03-07, loan approval 2023-11-28.
    f = features(parse_report(report("clean")))
    assert f == {
        "revolving_utilisation": Decimal("0.1875"), "total_credit_limit": Decimal("80000.00"),
        "total_balance": Decimal("527345.67"), "worst_status_24m": 0, "months_since_last_delinquency": None,
        "accounts_total": 4, "accounts_open": 3, "accounts_active": 3, "credit_history_months": 96,
        "overdue_records_count": 0, "public_records_count": 0, "thin_file": False,
        "hard_queries_1m": 0, "hard_queries_3m": 0, "hard_queries_6m": 1,  # card approval 100 days back
        "queries_loan_approval_1m": 0, "queries_loan_approval_3m": 0, "queries_loan_approval_6m": 0,
        "queries_card_approval_1m": 0, "queries_card_approval_3m": 0, "queries_card_approval_6m": 1,
        "queries_post_loan_1m": 0, "queries_post_loan_3m": 1, "queries_post_loan_6m": 1,
        "queries_self_1m": 1, "queries_self_3m": 1, "queries_self_6m": 1,
    }


def test_serious_delinquency_features_by_hand():
    # Loan L01 "...12345677" ending this month (7 = 180+ days, last one this month); card C01 99% used,
    # "...12333" ending last month; a closed auto loan with a 1 twenty months ago; a closed card.
    # Queries: self -2d, post-loan -5d, loan approvals -10d and -25d, post-loan -35d, card approval -60d.
    f = features(parse_report(report("delinquent")))
    assert f["revolving_utilisation"] == Decimal("0.9900")  # 19800 / 20000, the closed card's limit left out
    assert f["total_credit_limit"] == Decimal("20000.00")
    assert f["total_balance"] == Decimal("57800.00")  # 38000.00 + 19800.00
    assert f["worst_status_24m"] == 7
    assert f["months_since_last_delinquency"] == 0
    assert (f["accounts_total"], f["accounts_open"], f["accounts_active"]) == (4, 2, 2)
    assert f["credit_history_months"] == 70
    assert (f["overdue_records_count"], f["public_records_count"], f["thin_file"]) == (3, 1, False)
    assert (f["hard_queries_1m"], f["hard_queries_3m"], f["hard_queries_6m"]) == (2, 3, 3)
    assert (f["queries_post_loan_1m"], f["queries_post_loan_3m"]) == (1, 2)  # post-loan is not a hard query
    assert (f["queries_self_1m"], f["queries_card_approval_1m"], f["queries_card_approval_3m"]) == (1, 0, 1)


def test_months_since_last_delinquency_counts_from_the_status_month():
    raw = report("clean")
    raw["credit_cards"][0]["status_month"] = "2024-04"          # two months before the report
    raw["credit_cards"][0]["repayment_status_24m"] = "N" * 20 + "12NN"  # a 2 one month before that
    f = features(parse_report(raw))
    assert (f["worst_status_24m"], f["months_since_last_delinquency"]) == (2, 4)


def test_thin_file():
    f = features(parse_report(report("thin")))
    assert f["thin_file"] is True and f["accounts_total"] == 0
    assert f["revolving_utilisation"] is None and f["credit_history_months"] is None
    assert f["queries_self_1m"] == 1 and f["hard_queries_6m"] == 0


def test_many_recent_queries():
    f = features(parse_report(report("shopper")))
    assert (f["hard_queries_1m"], f["hard_queries_3m"], f["hard_queries_6m"]) == (10, 16, 16)


def test_features_are_exactly_the_documented_names():
    assert tuple(features(parse_report(report("clean")))) == FEATURE_NAMES


def test_malformed_documented_report_names_the_path():
    with pytest.raises(BureauParseError) as e:
        parse_report(report("malformed"))
    assert e.value.path == "loans[0].repayment_status_24m" and "'X'" in str(e.value)


def _mutated(mutate) -> dict:
    raw = copy.deepcopy(report("delinquent"))
    mutate(raw)
    return raw


@pytest.mark.parametrize("mutate,path", [
    (lambda r: r.pop("credit_cards"), "credit_cards"),
    (lambda r: r.pop("header"), "header"),
    (lambda r: r["header"].pop("report_time"), "header.report_time"),
    (lambda r: r.update(loans={}), "loans"),
    (lambda r: r["loans"][0].update(balance=38000.0), "loans[0].balance"),       # a JSON number, not a string
    (lambda r: r["loans"][0].update(balance="-1.00"), "loans[0].balance"),
    (lambda r: r["loans"][1].update(amount=None), "loans[1].amount"),
    (lambda r: r["credit_cards"][0].update(credit_limit="20,000"), "credit_cards[0].credit_limit"),
    (lambda r: r["credit_cards"][1].update(repayment_status_24m="N" * 23), "credit_cards[1].repayment_status_24m"),
    (lambda r: r["credit_cards"][0].update(repayment_status_24m="N" * 23 + "8"), "credit_cards[0].repayment_status_24m"),
    (lambda r: r["loans"][0].update(status="good"), "loans[0].status"),
    (lambda r: r["loans"][0].update(open_date="2024-13-01"), "loans[0].open_date"),
    (lambda r: r["loans"][0].update(status_month="2024-07"), "loans[0].status_month"),
    (lambda r: r["queries"][2].update(reason="marketing"), "queries[2].reason"),
    (lambda r: r["queries"][0].update(date="2024-06-16"), "queries[0].date"),
    (lambda r: r["overdue_records"][0].update(months_overdue="7"), "overdue_records[0].months_overdue"),
    (lambda r: r["summary"].update(loan_accounts=3), "summary.loan_accounts"),
    (lambda r: r["summary"].update(card_accounts=True), "summary.card_accounts"),
])
def test_a_report_that_does_not_parse_names_the_path(mutate, path):
    with pytest.raises(BureauParseError) as e:
        parse_report(_mutated(mutate))
    assert e.value.path == path


def test_not_an_object():
    with pytest.raises(BureauParseError) as e:
        parse_report(["header"])
    assert e.value.path == "$"


def test_unknown_extra_fields_are_ignored():
    raw = _mutated(lambda r: (r.update(new_section={}), r["loans"][0].update(new_field=1)))
    assert parse_report(raw).loans[0].balance == Decimal("38000.00")
