"""The ledger's use cases, as other domains call them (inside their own transaction)."""

from __future__ import annotations

import datetime as dt
import threading

import psycopg
import pytest
from psycopg.rows import dict_row

from openlend.errors import Problem
from openlend.ledger import service
from ledger_helpers import D, JAN31, add_bank, balance, post


def problem(fn, *args, **kwargs) -> Problem:
    with pytest.raises(Problem) as e:
        fn(*args, **kwargs)
    return e.value


# Posting and balances -----------------------------------------------------------------------------
def test_posting_moves_balances_on_each_accounts_normal_side(conn):
    add_bank(conn)
    posted = post(conn, "je_cap", ("1010.ICBC", "1000.00"), ("3000", "-1000.00"), memo="capital")
    post(conn, "je_loan", ("1100", "300.00"), ("1010.ICBC", "-300.00"))
    conn.commit()
    assert posted.replayed is False and posted.booked_at.tzinfo is not None
    assert balance(conn, "1010.ICBC") == D("700.00")
    assert balance(conn, "3000") == D("1000.00")  # equity: credit-normal, shown positive
    assert balance(conn, "1100") == D("300.00")
    assert balance(conn, "1100", "USD") == 0
    entry = service.get_entry(conn, "je_cap")
    assert entry["memo"] == "capital" and entry["lines"] == [("1010.ICBC", "CNY", D("1000.00")), ("3000", "CNY", D("-1000.00"))]


def test_post_entry_never_commits_the_callers_transaction(database):
    with database.pool.connection() as c:
        post(c, "je_1", ("1100", "50"), ("4000", "-50"))
        c.rollback()  # the caller's use case failed after posting
        assert problem(service.get_entry, c, "je_1").status_code == 404
        assert balance(c, "1100") == 0


def test_standalone_posting_on_an_autocommit_connection(database_url):
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as c:
        post(c, "je_auto", ("1100", "5"), ("4000", "-5"))
        assert balance(c, "1100") == 5
        with pytest.raises(psycopg.errors.CheckViolation):  # the one statement is the transaction: checked at its end
            c.execute("SELECT ledger_post('je_bad', '2024-01-31', ARRAY['1100'], ARRAY['CNY'], ARRAY[5]::numeric[])")


def test_multi_currency_entry_balances_per_currency(conn):
    posted = service.post_entry(conn, entry_id="je_fx", effective_date=JAN31, lines=[
        ("1100", "CNY", D("700")), ("2000", "CNY", D("-700")), ("1100", "USD", D("100")), ("2000", "USD", D("-100"))])
    assert not posted.replayed
    assert balance(conn, "1100", "USD") == 100 and balance(conn, "1100", "CNY") == 700
    p = problem(service.post_entry, conn, entry_id="je_fx2", effective_date=JAN31, lines=[
        ("1100", "CNY", D("700")), ("2000", "USD", D("-700"))])
    assert p.type.slug == "unbalanced-entry"
    assert {i["currency"] for i in p.extra["imbalances"]} == {"CNY", "USD"}


def test_retry_with_same_id_and_content_is_harmless(conn):
    first = post(conn, "je_1", ("1100", "100.00"), ("4000", "-100.00"), memo="m")
    conn.commit()
    again = post(conn, "je_1", ("1100", "100"), ("4000", "-100"), memo="m")
    conn.commit()
    assert again.replayed is True and again.booked_at == first.booked_at
    assert balance(conn, "1100") == 100


def test_same_id_with_other_content_is_a_409(conn):
    kwargs = dict(entry_id="je_1", effective_date=JAN31, memo="m",
                  lines=[("1100", "CNY", D("100")), ("4000", "CNY", D("-100"))])
    service.post_entry(conn, **kwargs)
    conn.commit()
    for change in (dict(lines=[("1100", "CNY", D("101")), ("4000", "CNY", D("-101"))]),
                   dict(lines=[("4000", "CNY", D("-100")), ("1100", "CNY", D("100"))]),  # order is content
                   dict(memo="other"), dict(memo=None), dict(effective_date=dt.date(2024, 2, 1)),
                   dict(metadata={"k": 1}), dict(source=("loan_transaction", "txn_1"))):
        p = problem(service.post_entry, conn, **{**kwargs, **change})
        assert p.status_code == 409 and p.type.slug == "entry-id-conflict", change
        conn.rollback()
    assert balance(conn, "1100") == 100


def test_concurrent_posts_of_one_id_book_it_once(database):
    results = []
    barrier = threading.Barrier(4)

    def worker():
        with database.transaction() as c:
            barrier.wait()
            results.append(post(c, "je_race", ("1100", "10"), ("4000", "-10")).replayed)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(results) == [False, True, True, True]
    with database.transaction() as c:
        assert balance(c, "1100") == 10


BAD_LINES = [
    ([("1100", "CNY", D("100"))], "/lines", "validation-error"),
    ([("1100", "CNY", D("0")), ("4000", "CNY", D("0"))], "/lines/0/amount", "validation-error"),
    ([("1100", "CNY", D("1.005")), ("4000", "CNY", D("-1.005"))], "/lines/0/amount", "validation-error"),
    ([("1100", "JPY", D("1.5")), ("4000", "JPY", D("-1.5"))], "/lines/0/amount", "validation-error"),
    ([("1100", "CNY", D("1")), ("4000", "cny", D("-1"))], "/lines/1/currency", "validation-error"),
    ([("1100", "CNY", D("100")), ("4000", "CNY", D("-90"))], "/lines", "unbalanced-entry"),
    ([("1100", "CNY", 100), ("4000", "CNY", D("-100"))], "/lines/0/amount", "validation-error"),
    ([("1100", "CNY", D("NaN")), ("4000", "CNY", D("-100"))], "/lines/0/amount", "validation-error"),
    ([("1100", "CNY", D("1E+20")), ("4000", "CNY", D("-1E+20"))], "/lines/0/amount", "validation-error"),
    ([("1100", "CNY"), ("4000", "CNY", D("-1"))], "/lines/0", "validation-error"),
    ([("", "CNY", D("1")), ("4000", "CNY", D("-1"))], "/lines/0/account", "validation-error"),
]


def test_bad_lines_are_refused_in_python_with_a_pointer(conn):
    for lines, pointer, slug in BAD_LINES:
        p = problem(service.post_entry, conn, entry_id="je_x", effective_date=JAN31, lines=lines)
        assert (p.type.slug, p.errors[0]["pointer"]) == (slug, pointer), lines
    assert conn.execute("SELECT count(*) AS n FROM journal_entries").fetchone()["n"] == 0


def test_trailing_zeros_beyond_the_currencys_places_are_fine(conn):
    assert not post(conn, "je_z", ("1100", "1.5000"), ("4000", "-1.50")).replayed


def test_entry_ids_are_short_and_url_safe(conn):
    for entry_id in ("", "a b", "x" * 65, "je/1", "_je", None):
        p = problem(service.post_entry, conn, entry_id=entry_id, effective_date=JAN31,
                    lines=[("1100", "CNY", D("1")), ("4000", "CNY", D("-1"))])
        assert p.errors[0]["pointer"] == "/id", entry_id
    for entry_id in ("je_01J0ABC", "txn_1:fee", "x" * 64, "2024-01-31.accrual"):
        assert not post(conn, entry_id, ("1100", "1"), ("4000", "-1")).replayed


def test_effective_date_must_be_a_date(conn):
    p = problem(service.post_entry, conn, entry_id="je_1", effective_date=dt.datetime(2024, 1, 1),
                lines=[("1100", "CNY", D("1")), ("4000", "CNY", D("-1"))])
    assert p.errors[0]["pointer"] == "/effective_date"


def test_unknown_account_names_the_line(conn):
    p = problem(post, conn, "je_1", ("1100", "5"), ("9999", "-5"))
    assert p.status_code == 422 and p.type.slug == "unknown-account"
    assert p.errors[0]["pointer"] == "/lines/1/account" and "9999" in p.detail


def test_currency_bound_account_refuses_another_currency(conn):
    add_bank(conn, "1010.ICBC", "CNY")
    p = problem(post, conn, "je_1", ("1100", "5"), ("1010.ICBC", "-5"), currency="USD")
    assert p.type.slug == "account-currency-mismatch" and p.errors[0]["pointer"] == "/lines/1/currency"


def test_header_account_refuses_postings(conn):
    p = problem(post, conn, "je_1", ("1010", "5"), ("3000", "-5"))
    assert p.type.slug == "header-account" and p.errors[0]["pointer"] == "/lines/0/account"


def test_source_and_metadata_are_kept_and_listable(conn):
    service.post_entry(conn, entry_id="je_s", effective_date=JAN31, source=("loan_transaction", "txn_1"),
                       metadata={"loan": "loan_1"}, lines=[("1100", "CNY", D("5")), ("1300", "CNY", D("-5"))])
    post(conn, "je_other", ("1100", "1"), ("4000", "-1"))
    entry = service.get_entry(conn, "je_s")
    assert (entry["source_type"], entry["source_id"], entry["metadata"]) == ("loan_transaction", "txn_1", {"loan": "loan_1"})
    rows, _ = service.list_entries(conn, source=("loan_transaction", "txn_1"))
    assert [r["id"] for r in rows] == ["je_s"]


# Reversals ---------------------------------------------------------------------------------------
def test_reversal_negates_the_lines_and_nets_to_zero(conn):
    post(conn, "je_1", ("1100", "100"), ("1110", "20"), ("4000", "-120"), date=dt.date(2024, 1, 10))
    rev = service.reverse_entry(conn, entry_id="je_1", reversal_id="je_1_rev")
    conn.commit()
    assert rev.replayed is False and rev.effective_date == dt.date(2024, 1, 10)  # defaults to the original's
    r = service.get_entry(conn, "je_1_rev")
    assert r["reverses"] == "je_1" and r["memo"] == "Reversal of je_1"
    assert [line.amount for line in r["lines"]] == [D("-100"), D("-20"), D("120")]
    assert service.get_entry(conn, "je_1")["reversed_by"] == "je_1_rev"
    for code in ("1100", "1110", "4000"):
        assert balance(conn, code) == 0
    assert service.trial_balance(conn)["accounts"] == []


def test_an_entry_is_reversed_only_once(conn):
    post(conn, "je_1", ("1100", "100"), ("4000", "-100"))
    service.reverse_entry(conn, entry_id="je_1", reversal_id="je_1_rev")
    conn.commit()
    again = service.reverse_entry(conn, entry_id="je_1", reversal_id="je_1_rev")  # a retry: harmless
    assert again.replayed is True
    p = problem(service.reverse_entry, conn, entry_id="je_1", reversal_id="je_1_rev2")
    assert p.status_code == 409 and p.type.slug == "entry-already-reversed" and p.extra["reversed_by"] == "je_1_rev"
    conn.rollback()
    p = problem(service.reverse_entry, conn, entry_id="je_1_rev", reversal_id="je_1_rev_rev")
    assert p.status_code == 409 and p.type.slug == "entry-not-reversible"
    conn.rollback()
    assert balance(conn, "1100") == 0


def test_reversal_dates(conn):
    post(conn, "je_1", ("1100", "100"), ("4000", "-100"), date=dt.date(2024, 1, 10))
    p = problem(service.reverse_entry, conn, entry_id="je_1", reversal_id="je_r", effective_date=dt.date(2024, 1, 9))
    assert p.status_code == 422 and p.errors[0]["pointer"] == "/effective_date"
    conn.rollback()
    post(conn, "je_1", ("1100", "100"), ("4000", "-100"), date=dt.date(2024, 1, 10))
    service.reverse_entry(conn, entry_id="je_1", reversal_id="je_r", effective_date=dt.date(2024, 2, 5))
    assert service.trial_balance(conn, as_of=dt.date(2024, 1, 31))["totals"]["CNY"]["debit"] == 100
    assert service.trial_balance(conn, as_of=dt.date(2024, 2, 5))["accounts"] == []


def test_reversing_an_unknown_entry_is_404(conn):
    assert problem(service.reverse_entry, conn, entry_id="je_nope", reversal_id="je_r").status_code == 404


# Reports -----------------------------------------------------------------------------------------
def test_trial_balance_as_of_a_date_excludes_later_entries(conn):
    add_bank(conn)
    post(conn, "je_cap", ("1010.ICBC", "1000"), ("3000", "-1000"), date=dt.date(2024, 1, 1))
    post(conn, "je_disb", ("1100", "400"), ("1010.ICBC", "-400"), date=dt.date(2024, 1, 15))
    post(conn, "je_int", ("1110", "12.34"), ("4000", "-12.34"), date=dt.date(2024, 2, 15))
    conn.commit()
    tb = service.trial_balance(conn, as_of=dt.date(2024, 1, 14))
    assert {(r["code"], r["net"]) for r in tb["accounts"]} == {("1010.ICBC", 1000), ("3000", -1000)}
    tb = service.trial_balance(conn, as_of=dt.date(2024, 1, 31))
    assert {(r["code"], r["net"]) for r in tb["accounts"]} == {("1010.ICBC", 600), ("1100", 400), ("3000", -1000)}
    assert tb["totals"]["CNY"] == {"debit": 1000, "credit": 1000} and tb["balanced"]
    full = service.trial_balance(conn)
    assert full["totals"]["CNY"] == {"debit": D("1012.34"), "credit": D("1012.34")} and full["balanced"]
    assert service.trial_balance(conn, as_of=dt.date(2023, 12, 31))["accounts"] == []
    assert service.trial_balance(conn, currency="USD")["accounts"] == []


def test_statement_running_balance_and_pages(conn):
    add_bank(conn)
    post(conn, "je_a", ("1010.ICBC", "1000"), ("3000", "-1000"), date=dt.date(2024, 1, 1))
    for day in range(2, 12):
        post(conn, f"je_d{day:02d}", ("1100", "50"), ("1010.ICBC", "-50"), date=dt.date(2024, 1, day))
    post(conn, "je_back", ("1010.ICBC", "5"), ("4100", "-5"), date=dt.date(2024, 1, 5))  # booked late, dated early
    conn.commit()
    lines, cursor = [], None
    while True:
        st = service.statement(conn, "1010.ICBC", limit=4, cursor=cursor)
        lines += st["lines"]
        cursor = st["next_cursor"]
        assert st["has_more"] == (cursor is not None)
        if not cursor:
            break
    assert len(lines) == 12
    assert [r["effective_date"] for r in lines] == sorted(r["effective_date"] for r in lines)
    running = D(0)
    for r in lines:
        running += r["amount"]
        assert r["net_after"] == running
    assert running == balance(conn, "1010.ICBC") == D("505")
    st = service.statement(conn, "1010.ICBC", date_from=dt.date(2024, 1, 10), date_to=dt.date(2024, 1, 10))
    assert [(r["entry_id"], r["net_after"]) for r in st["lines"]] == [("je_d10", D("555"))]


def test_statement_of_an_unknown_account_is_404(conn):
    assert problem(service.statement, conn, "9999").status_code == 404


# Accounts ----------------------------------------------------------------------------------------
def test_bank_accounts_go_under_1010_and_are_idempotent_on_the_code(conn):
    account, created = service.create_account(conn, code="1010.CCB", name="CCB 6217", currency="CNY")
    assert created and account["parent_code"] == "1010" and account["type"] == "asset"
    assert account["normal_side"] == "debit"
    again, created = service.create_account(conn, code="1010.CCB", name="CCB 6217", currency="CNY")
    assert not created and again["created_at"] == account["created_at"]
    p = problem(service.create_account, conn, code="1010.CCB", name="CCB 6217", currency="USD")
    assert p.status_code == 409 and p.errors[0]["pointer"] == "/currency"


def test_account_rules(conn):
    assert problem(service.create_account, conn, code="7000", name="x").errors[0]["pointer"] == "/type"
    assert problem(service.create_account, conn, code="1010.X", name="x", type="income").errors[0]["pointer"] == "/type"
    assert problem(service.create_account, conn, code="1 0", name="x", type="asset").errors[0]["pointer"] == "/code"
    p = problem(service.create_account, conn, code="6000", name="x", type="asset", parent_code="nope")
    assert p.errors[0]["pointer"] == "/parent_code"
    contra, _ = service.create_account(conn, code="1191", name="Specific allowance", type="asset", normal_side="credit")
    assert contra["normal_side"] == "credit"


def test_sharded_account_balance_is_the_sum_of_its_shards(database):
    with database.transaction() as c:
        add_bank(c, "1010.HOT", "CNY", shards=4)
    barrier = threading.Barrier(6)
    pids = set()

    def worker(n: int):
        with psycopg.connect(database.url, row_factory=dict_row) as c:  # own backends: own shards
            pids.add(c.info.backend_pid)
            barrier.wait()
            for i in range(5):
                post(c, f"je_{n}_{i}", ("1010.HOT", "10"), ("3000", "-10"))
                c.commit()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    with database.transaction() as c:
        shards = c.execute("SELECT shard, balance FROM account_balances WHERE account_code = '1010.HOT'").fetchall()
        assert {s["shard"] for s in shards} == {pid % 4 for pid in pids}  # spread by backend
        assert sum(s["balance"] for s in shards) == 300 == balance(c, "1010.HOT")
        assert service.get_account(c, "1010.HOT")["nets"] == {"CNY": 300}
        assert service.verify_balances(c) == []


def test_demo_ledger_seeds_once_and_balances(conn):
    from openlend.ledger.demo import seed_demo

    assert seed_demo(conn).startswith("ledger: 5")
    assert seed_demo(conn) == ""  # a second run books nothing
    tb = service.trial_balance(conn)
    assert tb["balanced"] and tb["totals"]["CNY"]["debit"] == D("1000000.00")
