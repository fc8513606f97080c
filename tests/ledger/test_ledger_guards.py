"""The database itself keeps the journal honest: raw SQL, bypassing the service, is refused."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from psycopg import errors as pgerr

from ledger_helpers import D, add_bank, post


def insert_entry(raw, entry_id: str, date: str = "2024-01-31") -> None:
    raw.execute("INSERT INTO journal_entries (id, effective_date) VALUES (%s, %s)", [entry_id, date])


def insert_line(raw, entry_id: str, no: int, account: str, amount: str, currency: str = "CNY",
                date: str = "2024-01-31") -> None:
    raw.execute("INSERT INTO journal_lines (entry_id, line_no, account_code, currency, amount, effective_date) "
                "VALUES (%s, %s, %s, %s, %s, %s)", [entry_id, no, account, currency, Decimal(amount), date])


def entry_count(raw) -> int:
    raw.rollback()
    return raw.execute("SELECT count(*) AS n FROM journal_entries").fetchone()["n"]


def test_balanced_raw_sql_entry_commits_and_moves_balances(raw):
    insert_entry(raw, "je_raw")
    insert_line(raw, "je_raw", 1, "1100", "250.00")
    insert_line(raw, "je_raw", 2, "4000", "-250.00")
    raw.commit()
    rows = raw.execute("SELECT account_code, sum(balance) AS b FROM account_balances GROUP BY 1 ORDER BY 1").fetchall()
    assert [(r["account_code"], r["b"]) for r in rows] == [("1100", D("250")), ("4000", D("-250"))]


def test_unbalanced_raw_sql_entry_is_refused_at_commit(raw):
    insert_entry(raw, "je_bad")
    insert_line(raw, "je_bad", 1, "1100", "100.00")
    insert_line(raw, "je_bad", 2, "4000", "-99.99")
    with pytest.raises(pgerr.CheckViolation) as e:
        raw.commit()
    assert e.value.diag.constraint_name == "journal_entry_balanced"
    assert "unbalanced" in str(e.value)
    assert entry_count(raw) == 0


def test_entry_balanced_overall_but_not_per_currency_is_refused(raw):
    insert_entry(raw, "je_fx")
    insert_line(raw, "je_fx", 1, "1100", "100.00", "CNY")
    insert_line(raw, "je_fx", 2, "4000", "-100.00", "USD")
    with pytest.raises(pgerr.CheckViolation) as e:
        raw.commit()
    assert e.value.diag.constraint_name == "journal_entry_balanced"


def test_entry_with_fewer_than_two_lines_is_refused(raw):
    for n_lines in (0, 1):
        insert_entry(raw, "je_thin")
        if n_lines:
            insert_line(raw, "je_thin", 1, "1100", "5")
        with pytest.raises(pgerr.CheckViolation) as e:
            raw.commit()
        assert e.value.diag.constraint_name == "journal_entry_min_lines"
        assert entry_count(raw) == 0


def test_lines_cannot_be_appended_to_a_booked_entry(conn, raw):
    post(conn, "je_1", ("1100", "100"), ("4000", "-100"))
    conn.commit()
    with pytest.raises(pgerr.CheckViolation) as e:  # even a balanced pair of lines
        raw.execute("INSERT INTO journal_lines (entry_id, line_no, account_code, currency, amount, effective_date) "
                    "VALUES ('je_1', 3, '1100', 'CNY', 5, '2024-01-31'), ('je_1', 4, '4000', 'CNY', -5, '2024-01-31')")
    assert e.value.diag.constraint_name == "journal_lines_same_transaction"
    raw.rollback()
    assert raw.execute("SELECT count(*) AS n FROM journal_lines WHERE entry_id = 'je_1'").fetchone()["n"] == 2


def test_a_line_must_carry_its_entrys_effective_date(raw):
    insert_entry(raw, "je_d", "2024-01-31")
    with pytest.raises(pgerr.CheckViolation) as e:
        insert_line(raw, "je_d", 1, "1100", "5", date="2024-02-01")
    assert e.value.diag.constraint_name == "journal_lines_entry_date"


JOURNAL_CHANGES = [statement.format(t=table) for table in ("journal_entries", "journal_lines") for statement in (
    "UPDATE {t} SET effective_date = '2020-01-01'", "DELETE FROM {t}", "DELETE FROM {t} WHERE false",
    "TRUNCATE {t} CASCADE")]


def test_journal_refuses_update_delete_and_truncate(conn, raw):
    post(conn, "je_1", ("1100", "100"), ("4000", "-100"))
    conn.commit()
    for statement in JOURNAL_CHANGES:
        with pytest.raises(pgerr.RestrictViolation, match="append-only"):
            raw.execute(statement)
        raw.rollback()
    assert raw.execute("SELECT count(*) AS n FROM journal_lines").fetchone()["n"] == 2
    assert raw.execute("SELECT effective_date FROM journal_entries").fetchone()["effective_date"].year == 2024


def test_balances_can_only_be_moved_by_the_journal(conn, raw):
    post(conn, "je_1", ("1100", "100"), ("4000", "-100"))
    conn.commit()
    for statement in ("UPDATE account_balances SET balance = balance + 1", "DELETE FROM account_balances",
                      "TRUNCATE account_balances", "INSERT INTO account_balances VALUES ('1100', 'CNY', 9, 1000)"):
        with pytest.raises(pgerr.RestrictViolation, match="kept by the journal"):
            raw.execute(statement)
        raw.rollback()
    assert raw.execute("SELECT sum(balance) AS b FROM account_balances WHERE account_code = '1100'").fetchone()["b"] == 100


def test_header_accounts_take_no_postings(raw):
    insert_entry(raw, "je_h")
    with pytest.raises(pgerr.CheckViolation) as e:
        insert_line(raw, "je_h", 1, "1010", "5")
    assert e.value.diag.constraint_name == "journal_lines_detail_account"


def test_a_currency_bound_account_refuses_other_currencies(conn, raw):
    add_bank(conn, "1010.ICBC", "CNY")
    conn.commit()
    insert_entry(raw, "je_c")
    with pytest.raises(pgerr.CheckViolation) as e:
        insert_line(raw, "je_c", 1, "1010.ICBC", "5", currency="USD")
    assert e.value.diag.constraint_name == "journal_lines_account_currency"


def test_unknown_accounts_are_refused(raw):
    insert_entry(raw, "je_u")
    with pytest.raises(pgerr.ForeignKeyViolation) as e:
        insert_line(raw, "je_u", 1, "9999", "5")
    assert e.value.diag.constraint_name == "journal_lines_account_code_fkey"


def test_lines_of_an_entry_that_does_not_exist_are_refused(raw):
    with pytest.raises(pgerr.ForeignKeyViolation) as e:
        insert_line(raw, "je_ghost", 1, "1100", "5")
    assert e.value.diag.constraint_name == "journal_lines_entry_id_fkey"


def test_accounts_are_never_deleted_and_keep_their_nature(raw):
    for statement in ("DELETE FROM ledger_accounts WHERE code = '5200'", "TRUNCATE ledger_accounts CASCADE",
                      "UPDATE ledger_accounts SET type = 'income' WHERE code = '5200'",
                      "UPDATE ledger_accounts SET currency = 'USD' WHERE code = '5200'"):
        with pytest.raises(pgerr.RestrictViolation):
            raw.execute(statement)
        raw.rollback()
    raw.execute("UPDATE ledger_accounts SET name = 'Bank charges', shards = 4 WHERE code = '5200'")
    raw.commit()
    assert raw.execute("SELECT name FROM ledger_accounts WHERE code = '5200'").fetchone()["name"] == "Bank charges"


def test_ledger_post_sql_function_is_idempotent_on_the_id(raw):
    call = ("SELECT * FROM ledger_post('je_f', '2024-01-31', ARRAY['1100','4000'], ARRAY['CNY','CNY'], "
            "ARRAY[%s, %s]::numeric[], 'memo')")
    first = raw.execute(call, [D("10.00"), D("-10.00")]).fetchone()
    again = raw.execute(call, [D("10"), D("-10")]).fetchone()  # same values, other scale
    assert first["replayed"] is False and again["replayed"] is True
    with pytest.raises(pgerr.UniqueViolation):
        raw.execute(call, [D("11"), D("-11")])
    raw.rollback()


def test_schema_can_be_downgraded_and_upgraded(database_url):
    from openlend import migrate

    migrate.downgrade(database_url, "0001")
    with psycopg.connect(database_url) as c:
        assert c.execute("SELECT to_regclass('journal_lines')").fetchone()[0] is None
    migrate.upgrade(database_url)
    with psycopg.connect(database_url) as c:
        assert c.execute("SELECT count(*) FROM ledger_accounts").fetchone()[0] >= 20
