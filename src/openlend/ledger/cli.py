"""``openlend ledger``: the ledger from the command line (same service and rules as the API).

    openlend ledger accounts [--type T] [--limit N] [--cursor CODE]     the chart with balances
    openlend ledger accounts show CODE
    openlend ledger accounts add --code 1010.ICBC --name "ICBC 6222" [--currency CNY] [--type asset]
                                 [--normal-side debit|credit] [--header] [--parent CODE] [--shards N]
    openlend ledger entries [ID] [--limit N] [--cursor C] [--source-type T --source-id ID]
    openlend ledger post --id je_x --date 2024-01-31 --memo m \\
                         --line 1010.ICBC:debit:100.00 --line 3000:credit:100.00 [--currency CNY]
    openlend ledger post < entry.json          (the POST /v1/ledger/entries body on stdin)
    openlend ledger reverse je_x --id je_y [--date D] [--memo M]
    openlend ledger trial-balance [--as-of 2024-01-31] [--currency CNY]
    openlend ledger statement CODE [--from D] [--to D] [--currency C] [--limit N] [--cursor C]

Output is JSON, the object as the API shows it.  A refused request prints one line on stderr
(the problem's detail, and the first field's pointer) and exits 1; unusable arguments or input
exit 2.  ``post`` and ``reverse`` are idempotent on the entry id, like the API.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from pydantic import ValidationError

from ..errors import Problem


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("ledger", help="double-entry ledger: accounts, entries, trial balance, statements")
    sub = p.add_subparsers(dest="ledger_command", required=True)

    a = sub.add_parser("accounts", help="the chart of accounts with balances (or: accounts show|add)")
    a.add_argument("--type", choices=["asset", "liability", "equity", "income", "expense"])
    a.add_argument("--limit", type=int, default=500)
    a.add_argument("--cursor", help="next_cursor of the previous page")
    a.set_defaults(func=_accounts)
    asub = a.add_subparsers(dest="accounts_command")
    s = asub.add_parser("show", help="one account with its balances")
    s.add_argument("code")
    s.set_defaults(func=_account_show)
    add = asub.add_parser("add", help="add an account (idempotent on the code)")
    add.add_argument("--code", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--type", dest="account_type", choices=["asset", "liability", "equity", "income", "expense"],
                     help="default: the parent's")
    add.add_argument("--normal-side", choices=["debit", "credit"])
    add.add_argument("--currency", help="bind the account to one currency")
    add.add_argument("--parent", help="parent code (default: the code before the last dot, if it exists)")
    add.add_argument("--header", action="store_true", help="a header account (groups others, takes no postings)")
    add.add_argument("--shards", type=int, default=1)
    add.add_argument("--description")
    add.set_defaults(func=_account_add)

    e = sub.add_parser("entries", help="journal entries, newest first; or one entry by id")
    e.add_argument("id", nargs="?")
    e.add_argument("--limit", type=int, default=20)
    e.add_argument("--cursor")
    e.add_argument("--source-type")
    e.add_argument("--source-id")
    e.set_defaults(func=_entries)

    po = sub.add_parser("post", help="post a journal entry (--line ACCOUNT:debit|credit:AMOUNT[:CURRENCY], "
                                     "or the API's JSON body on stdin)")
    po.add_argument("--id", dest="entry_id")
    po.add_argument("--date", help="effective date (default: today)")
    po.add_argument("--memo")
    po.add_argument("--currency", help="currency of lines that name none (default: OPENLEND_DEFAULT_CURRENCY)")
    po.add_argument("--line", action="append", default=[], metavar="ACCOUNT:SIDE:AMOUNT[:CURRENCY]")
    po.add_argument("--metadata", help="a JSON object")
    po.set_defaults(func=_post)

    r = sub.add_parser("reverse", help="reverse a journal entry")
    r.add_argument("entry", help="the entry to reverse")
    r.add_argument("--id", dest="reversal_id", required=True, help="the reversal's own entry id")
    r.add_argument("--date", help="effective date (default: the original's)")
    r.add_argument("--memo")
    r.set_defaults(func=_reverse)

    t = sub.add_parser("trial-balance", help="trial balance as of a date (default: all entries)")
    t.add_argument("--as-of")
    t.add_argument("--currency")
    t.set_defaults(func=_trial_balance)

    st = sub.add_parser("statement", help="an account's lines with the running balance")
    st.add_argument("code")
    st.add_argument("--from", dest="date_from")
    st.add_argument("--to", dest="date_to")
    st.add_argument("--currency")
    st.add_argument("--limit", type=int, default=100)
    st.add_argument("--cursor")
    st.set_defaults(func=_statement)


class _BadInput(Exception):
    pass


def _date(value: str | None, flag: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _BadInput(f"{flag} must be a date such as 2024-01-31, not {value!r}") from None


def _one_line(exc: Problem) -> str:
    text = exc.detail
    if exc.errors and exc.errors[0]["pointer"] not in text:
        text += f" ({exc.errors[0]['pointer']}: {exc.errors[0]['detail']})"
    return text.replace("\n", " ")


def _validation_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    pointer = "/" + "/".join(str(p) for p in err.get("loc", ()))
    msg = err.get("msg", "invalid")
    msg = "unknown field" if err.get("type") == "extra_forbidden" else msg.removeprefix("Value error, ")
    return f"{pointer}: {msg}"


def _run(work, *, database=None) -> int:
    """``work(conn)`` in one transaction; print its JSON; a problem is one line on stderr."""
    from ..cli import fail, open_database, print_json

    try:
        database = database or open_database()
    except Exception as exc:  # noqa: BLE001 - a database that cannot be reached is one line too
        return fail(f"cannot open the database: {exc}".splitlines()[0], 1)
    try:
        with database.transaction() as conn:
            out = work(conn)
        print_json(out)
    except Problem as exc:
        return fail(_one_line(exc), 1)
    except ValidationError as exc:
        return fail(_validation_line(exc), 2)
    except _BadInput as exc:
        return fail(str(exc), 2)
    finally:
        database.close()
    return 0


def _guard(fn):
    """Argument problems found before the database opens: exit 2."""
    def wrapper(args: argparse.Namespace) -> int:
        from ..cli import fail
        try:
            return fn(args)
        except _BadInput as exc:
            return fail(str(exc), 2)
        except ValidationError as exc:
            return fail(_validation_line(exc), 2)
        except Problem as exc:
            return fail(_one_line(exc), 1)
    return wrapper


@_guard
def _accounts(args: argparse.Namespace) -> int:
    from . import schemas, service

    if not 1 <= args.limit <= 10000:
        raise _BadInput("--limit must be between 1 and 10000")

    def work(conn):
        rows, more = service.list_accounts(conn, type=args.type, limit=args.limit, after=args.cursor)
        return schemas.render_account_list(rows, more)
    return _run(work)


@_guard
def _account_show(args: argparse.Namespace) -> int:
    from . import schemas, service

    return _run(lambda conn: schemas.render_account(service.get_account(conn, args.code)))


@_guard
def _account_add(args: argparse.Namespace) -> int:
    from . import schemas, service

    body = schemas.AccountCreate(
        code=args.code, name=args.name, type=args.account_type, normal_side=args.normal_side,
        usage="header" if args.header else "detail", currency=args.currency, parent_code=args.parent,
        shards=args.shards, description=args.description)

    def work(conn):
        account, created = service.create_account(conn, **body.model_dump())
        return schemas.render_account(account, replayed=not created)
    return _run(work)


@_guard
def _entries(args: argparse.Namespace) -> int:
    from . import schemas, service

    if args.id:
        return _run(lambda conn: schemas.render_entry(service.get_entry(conn, args.id)))
    if not 1 <= args.limit <= 1000:
        raise _BadInput("--limit must be between 1 and 1000")
    source = (args.source_type, args.source_id) if args.source_type or args.source_id else None

    def work(conn):
        rows, next_cursor = service.list_entries(conn, limit=args.limit, cursor=args.cursor, source=source)
        return schemas.render_entry_list(rows, next_cursor)
    return _run(work)


def _parse_line(text: str, i: int) -> dict:
    parts = text.split(":")
    if len(parts) not in (3, 4) or parts[1] not in ("debit", "credit"):
        raise _BadInput(f"--line {text!r}: expected ACCOUNT:debit|credit:AMOUNT[:CURRENCY], such as 1010.ICBC:debit:100.00")
    line = {"account": parts[0], parts[1]: parts[2]}
    if len(parts) == 4:
        line["currency"] = parts[3]
    return line


def _post_body(args: argparse.Namespace) -> dict:
    from ..settings import get_settings

    if args.line:
        body: dict[str, Any] = {
            "id": args.entry_id, "effective_date": args.date or dt.date.today().isoformat(),
            "currency": args.currency or get_settings().default_currency,
            "lines": [_parse_line(t, i) for i, t in enumerate(args.line)]}
        if args.entry_id is None:
            raise _BadInput("--id is required: the entry id makes a retry harmless (such as je_2024_01_capital)")
        if args.memo is not None:
            body["memo"] = args.memo
        if args.metadata is not None:
            try:
                body["metadata"] = json.loads(args.metadata)
            except json.JSONDecodeError as exc:
                raise _BadInput(f"--metadata is not valid JSON ({exc.msg})") from None
        return body
    if sys.stdin.isatty():
        raise _BadInput("give --line ACCOUNT:debit|credit:AMOUNT (twice or more), or the entry as JSON on stdin")
    text = sys.stdin.read()
    try:
        body = json.loads(text, parse_float=float)
    except json.JSONDecodeError as exc:
        raise _BadInput(f"stdin is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(body, dict):
        raise _BadInput("stdin must hold one JSON object: the POST /v1/ledger/entries body")
    for flag, key, value in (("--id", "id", args.entry_id), ("--date", "effective_date", args.date),
                             ("--memo", "memo", args.memo), ("--currency", "currency", args.currency)):
        if value is not None:
            body[key] = value
    return body


@_guard
def _post(args: argparse.Namespace) -> int:
    from . import schemas, service

    entry = schemas.EntryCreate.model_validate(_post_body(args))
    lines = entry.signed_lines()

    def work(conn):
        posted = service.post_entry(conn, entry_id=entry.id, effective_date=entry.effective_date, lines=lines,
                                    memo=entry.memo, metadata=entry.metadata)
        return schemas.render_entry(service.get_entry(conn, entry.id), replayed=posted.replayed)
    return _run(work)


@_guard
def _reverse(args: argparse.Namespace) -> int:
    from . import schemas, service

    date = _date(args.date, "--date")

    def work(conn):
        posted = service.reverse_entry(conn, entry_id=args.entry, reversal_id=args.reversal_id,
                                       effective_date=date, memo=args.memo)
        return schemas.render_entry(service.get_entry(conn, posted.id), replayed=posted.replayed)
    return _run(work)


@_guard
def _trial_balance(args: argparse.Namespace) -> int:
    from . import schemas, service

    as_of = _date(args.as_of, "--as-of")
    return _run(lambda conn: schemas.render_trial_balance(
        service.trial_balance(conn, as_of=as_of, currency=args.currency)))


@_guard
def _statement(args: argparse.Namespace) -> int:
    from . import schemas, service

    date_from, date_to = _date(args.date_from, "--from"), _date(args.date_to, "--to")
    if not 1 <= args.limit <= 10000:
        raise _BadInput("--limit must be between 1 and 10000")
    return _run(lambda conn: schemas.render_statement(service.statement(
        conn, args.code, currency=args.currency, date_from=date_from, date_to=date_to,
        limit=args.limit, cursor=args.cursor)))
