"""``openlend products``: the same use cases from the command line."""

from __future__ import annotations

import io
import json

import pytest

from openlend import db as dbmod
from openlend.cli import main
from openlend.settings import get_settings

PRODUCT = {
    "code": "CLI-1",
    "name": "CLI product",
    "currency": "CNY",
    "method": "equal_principal",
    "rate": {"default": "12"},
    "term": {"min": 6, "max": 12},
    "amount": {"min": "1000.00", "max": "20000.00"},
}


@pytest.fixture
def cli_env(database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield
    dbmod.set_database(None)
    get_settings.cache_clear()


def run(capsys, *argv, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["products", *argv])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def test_create_get_new_version_list_and_retire(cli_env, tmp_path, capsys, monkeypatch):
    f = tmp_path / "product.json"
    f.write_text(json.dumps(PRODUCT))
    code, p, _ = run(capsys, "create", "--file", str(f))
    assert code == 0 and p["object"] == "loan_product" and p["version"] == 1 and p["term"]["allowed"] is None

    code, v2, _ = run(capsys, "new-version", p["id"], "--file", "-", stdin='{"rate": {"max": "14"}}',
                      monkeypatch=monkeypatch)
    assert code == 0 and v2["version"] == 2 and v2["rate"] == {"min": "12", "max": "14", "default": "12"}

    code, old, _ = run(capsys, "get", p["id"], "--version", "1")
    assert code == 0 and old["rate"]["max"] == "12"
    code, versions, _ = run(capsys, "versions", p["id"])
    assert [v["version"] for v in versions["data"]] == [2, 1]
    code, listed, _ = run(capsys, "list")
    assert [x["id"] for x in listed["data"]] == [p["id"]]

    code, retired, _ = run(capsys, "retire", p["id"])
    assert code == 0 and retired["status"] == "retired"
    code, out, err = run(capsys, "retire", p["id"])
    assert code == 1 and out is None and "already retired" in err


def test_a_refused_product_prints_the_pointers_and_exits_1(cli_env, capsys, monkeypatch):
    bad = dict(PRODUCT, rate={"min": "15", "max": "12", "default": "12"}, amount={"min": 1000, "max": "20000.00"})
    code, out, err = run(capsys, "create", "--file", "-", stdin=json.dumps(bad), monkeypatch=monkeypatch)
    assert code == 1 and out is None
    assert "/amount/min" in err  # the type error is reported first; the rule check runs on valid types
    code, out, err = run(capsys, "create", "--file", "-", stdin=json.dumps(dict(PRODUCT, rate={"min": "15", "max": "12", "default": "12"})),
                         monkeypatch=monkeypatch)
    assert code == 1 and "/rate/max" in err


def test_unreadable_input_exits_2(cli_env, tmp_path, capsys, monkeypatch):
    code, out, err = run(capsys, "create", "--file", str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read" in err
    code, out, err = run(capsys, "create", "--file", "-", stdin="{nope", monkeypatch=monkeypatch)
    assert code == 2 and "not valid JSON" in err
