"""``openlend ledger ...``: JSON out, one line on stderr and a non-zero exit on a refusal."""

from __future__ import annotations

import io
import json

import pytest

from openlend import cli, db as dbmod
from openlend.settings import get_settings


@pytest.fixture
def run(database_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()

    def run(*argv: str, stdin: str | None = None):
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = cli.main(["ledger", *argv])
        out, err = capsys.readouterr()
        return code, (json.loads(out) if out.strip() else None), err

    yield run
    dbmod.set_database(None)
    get_settings.cache_clear()


def test_post_reverse_and_report_from_the_command_line(run):
    code, acct, _ = run("accounts", "add", "--code", "1010.ICBC", "--name", "ICBC 6222", "--currency", "CNY")
    assert code == 0 and acct["parent_code"] == "1010" and acct["replayed"] is False
    code, entry, err = run("post", "--id", "je_cap", "--date", "2024-01-31", "--memo", "capital",
                           "--line", "1010.ICBC:debit:1000.00", "--line", "3000:credit:1000.00", "--currency", "CNY")
    assert code == 0, err
    assert entry["object"] == "journal_entry" and entry["replayed"] is False and entry["lines"][0]["debit"] == "1000.00"
    code, entry, _ = run("post", "--id", "je_cap", "--date", "2024-01-31", "--memo", "capital",
                         "--line", "1010.ICBC:debit:1000", "--line", "3000:credit:1000", "--currency", "CNY")
    assert code == 0 and entry["replayed"] is True

    body = {"id": "je_loan", "effective_date": "2024-02-01", "currency": "CNY",
            "lines": [{"account": "1100", "debit": "300.00"}, {"account": "1010.ICBC", "credit": "300.00"}]}
    code, entry, err = run("post", stdin=json.dumps(body))
    assert code == 0 and entry["id"] == "je_loan", err

    code, accounts, _ = run("accounts")
    assert {a["code"]: a["balances"] for a in accounts["data"]}["1010.ICBC"] == [{"currency": "CNY", "balance": "700.00"}]
    code, one, _ = run("accounts", "show", "1100")
    assert one["balances"] == [{"currency": "CNY", "balance": "300.00"}]

    code, tb, _ = run("trial-balance", "--as-of", "2024-01-31")
    assert code == 0 and tb["balanced"] and [a["account"] for a in tb["accounts"]] == ["1010.ICBC", "3000"]
    code, st, _ = run("statement", "1010.ICBC")
    assert [line["balance"] for line in st["data"]] == ["1000.00", "700.00"]

    code, rev, _ = run("reverse", "je_loan", "--id", "je_loan_rev")
    assert code == 0 and rev["reverses"] == "je_loan"
    code, entries, _ = run("entries", "--limit", "10")
    assert [e["id"] for e in entries["data"]] == ["je_loan_rev", "je_loan", "je_cap"]
    code, one, _ = run("entries", "je_loan")
    assert one["reversed_by"] == "je_loan_rev"


REFUSALS = [
    (["post", "--id", "je_1", "--line", "1100:debit:100", "--line", "4000:credit:90"], None, 1, "Debits must equal"),
    (["post", "--id", "je_1", "--line", "1100:debit:100", "--line", "9999:credit:100"], None, 1, "9999"),
    (["post", "--id", "je_1", "--line", "1100:up:100", "--line", "4000:credit:100"], None, 2, "--line"),
    (["post"], '{"id": "je_1", "effective_date": "2024-01-31", "currency": "CNY", "lines": '
               '[{"account": "1100", "debit": 1.5}, {"account": "4000", "credit": "1.50"}]}', 2, "/lines/0/debit"),
    (["post"], "{not json", 2, "not valid JSON"),
    (["reverse", "je_nope", "--id", "je_r"], None, 1, "No journal entry with id je_nope"),
    (["trial-balance", "--as-of", "soon"], None, 2, "--as-of"),
    (["statement", "9999"], None, 1, "No ledger account with id 9999"),
    (["post", "--line", "1100:debit:1", "--line", "4000:credit:1"], None, 2, "--id is required"),
]


def test_refusals_are_one_line_on_stderr(run):
    for argv, stdin, exit_code, message in REFUSALS:
        code, out, err = run(*argv, stdin=stdin)
        assert code == exit_code and out is None, (argv, err)
        assert message in err and err.count("\n") == 1 and err.startswith("openlend: "), (argv, err)
