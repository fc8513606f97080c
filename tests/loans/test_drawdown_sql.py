"""The drawdown's one SQL call (``loan_drawdown``, migration 0006) and the hot accounts' shards."""

from __future__ import annotations

import pytest

from servicing_helpers import D, counts, setup_line  # noqa: E402

from openlend.errors import Problem  # noqa: E402
from openlend.ledger import service as ledger  # noqa: E402
from openlend.loans import disbursement  # noqa: E402
from openlend.loans import service as loans  # noqa: E402


def test_hot_accounts_have_32_shards(database):
    with database.transaction() as conn:
        rows = conn.execute("SELECT code, shards FROM ledger_accounts WHERE code IN "
                            "('1100', '1110', '1120', '1130', '1300', '1310', '2100', '4000', '4100', '4200')").fetchall()
    assert len(rows) == 10 and {r["shards"] for r in rows} == {32}


def test_clearing_disburser_books_in_the_same_call_one_entry(database):
    ids = setup_line(database)
    with database.transaction() as conn:
        loan = loans.drawdown(conn, ids["line_id"], amount=D("2000.00"), term=3)
        entry = loan["disbursement"]["entry_ids"][0]
        rows = conn.execute("SELECT e.memo, e.source_type, e.source_id, e.metadata, l.account_code, l.amount "
                            "FROM journal_entries e JOIN journal_lines l ON l.entry_id = e.id WHERE e.id = %s "
                            "ORDER BY l.line_no", [entry]).fetchall()
    assert [(r["account_code"], r["amount"]) for r in rows] == [("1100", D("2000")), ("1300", D("-1995")),
                                                                 ("4100", D("-5"))]
    assert rows[0]["memo"] == f"Loan {loan['receipt_no']} disbursed"
    assert (rows[0]["source_type"], rows[0]["source_id"]) == ("loan_transaction", loan["disbursement"]["transaction_id"])
    assert rows[0]["metadata"] == {"loan_id": loan["id"], "value_date": loan["disbursement_date"]}


def test_clearing_disburser_with_other_accounts(database):
    ids = setup_line(database)
    with database.transaction() as conn:
        ledger.create_account(conn, code="1300.FUNDER", name="funder clearing", type="asset")
        d = disbursement.ClearingDisburser(clearing_account="1300.FUNDER")
        loans.drawdown(conn, ids["line_id"], amount=D("2000.00"), term=3, disburser=d)
        assert ledger.balance(conn, "1300.FUNDER", "CNY") == D("-1995")


def test_an_unknown_disburser_account_is_a_problem_and_writes_nothing(database):
    ids = setup_line(database)
    before = counts(database)
    with pytest.raises(Problem) as exc:
        with database.transaction() as conn:
            loans.drawdown(conn, ids["line_id"], amount=D("2000.00"), term=3,
                           disburser=disbursement.ClearingDisburser(clearing_account="9999.NONE"))
    assert exc.value.type is ledger.UNKNOWN_ACCOUNT
    assert counts(database) == before


def test_a_reservation_refused_inside_the_call_writes_nothing(database):
    ids = setup_line(database, limit="3000.00")
    before = counts(database)
    with pytest.raises(Problem) as exc:
        with database.transaction() as conn:
            # the line is drawn by another writer between the check and the call: the call's guard refuses
            conn.execute("UPDATE credit_lines SET used_amount = 2500 WHERE id = %s", [ids["line_id"]])
            loan = conn.execute(
                "SELECT count(*) AS n FROM loan_drawdown(%s, 1000, current_date, 'loan_x', NULL, NULL, NULL, NULL, "
                "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
                "NULL, NULL, NULL, NULL, 'txn_x', NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
                [ids["line_id"]]).fetchone()
            assert loan["n"] == 0
            loans.drawdown(conn, ids["line_id"], amount=D("1000.00"), term=3)
    assert exc.value.type.slug == "insufficient-available-limit"
    assert counts(database) == before
