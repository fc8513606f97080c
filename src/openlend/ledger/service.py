"""The ledger's use cases: plain functions over a psycopg connection in the caller's transaction.

Other domains call :func:`post_entry` (and :func:`reverse_entry`) inside their own transaction, in
the same transaction as their business row; nothing here commits.  A posting is one round trip:
one call of the SQL function ``ledger_post`` (migration 0002), which inserts the entry and its
lines; the database's triggers then check the lines and move the sharded balances, and check at
COMMIT that the entry balances.  Python validates first anyway, so that bad input gets a clean
problem (with a JSON pointer) before anything reaches the database.

Signs: a line's ``amount`` is signed, debit positive and credit negative; ``net`` balances are in
the same sign.  A *balance* (what reports show) is in the account's normal side: an asset with
100 debited shows 100, a liability with 100 credited shows 100.

If a problem comes from the database (unknown account, an entry id reused with other content,
...), the transaction is aborted: the caller's use case fails as a whole, which is what a money
movement wants.  A standalone posting may run on an autocommit connection: then the one call is
the whole transaction (one round trip in all).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

import psycopg
from psycopg import errors as pgerr
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb

from .. import errors
from ..errors import Problem, field_error
from ..money import MoneyError, currency_places, validate_currency
from .chart import ACCOUNT_TYPES, NORMAL_SIDE

# Problem types ------------------------------------------------------------------------------------
UNBALANCED = errors.problem_type(
    "unbalanced-entry", "Unbalanced journal entry", 422,
    "A journal entry's debits must equal its credits in every currency; `imbalances` lists the "
    "currencies where they differ.")
UNKNOWN_ACCOUNT = errors.problem_type(
    "unknown-account", "Unknown ledger account", 422,
    "A line names an account that is not in the chart of accounts; `errors[0].pointer` names the line.")
ACCOUNT_CURRENCY = errors.problem_type(
    "account-currency-mismatch", "Wrong currency for the account", 422,
    "The account is kept in one currency and the line is in another.")
HEADER_ACCOUNT = errors.problem_type(
    "header-account", "Header account takes no postings", 422,
    "A header account only groups other accounts; post to one of its detail accounts.")
ENTRY_ID_CONFLICT = errors.problem_type(
    "entry-id-conflict", "Entry id already used", 409,
    "A journal entry with this id exists with other content. A retry must send the same content "
    "(then the booked entry is returned); a new entry needs a new id.")
ALREADY_REVERSED = errors.problem_type(
    "entry-already-reversed", "Entry already reversed", 409,
    "A journal entry can be reversed once; `reversed_by` names the reversal.")
NOT_REVERSIBLE = errors.problem_type(
    "entry-not-reversible", "Entry cannot be reversed", 409,
    "A reversal entry cannot itself be reversed; post a new entry instead.")
ACCOUNT_CONFLICT = errors.problem_type(
    "account-code-conflict", "Account code already used", 409,
    "A ledger account with this code exists with other attributes; accounts are never changed or removed.")

ENTRY_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
ACCOUNT_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")
MAX_LINES = 1000
MAX_AMOUNT = Decimal(10) ** 16  # numeric(20, 4)


class Line(NamedTuple):
    """One journal line: ``amount`` signed, debit positive, credit negative."""

    account: str
    currency: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class PostedEntry:
    id: str
    effective_date: dt.date
    booked_at: dt.datetime
    replayed: bool  # True: this id was booked before with the same content; nothing new was written


# Validation (no database) ------------------------------------------------------------------------
def _line_error(i: int, field: str, detail: str, pt: errors.ProblemType = errors.VALIDATION) -> Problem:
    return field_error(pt, f"/lines/{i}/{field}", f"line {i}: {detail}")


def validate_entry_id(entry_id: Any, field: str = "id") -> str:
    if not isinstance(entry_id, str) or not ENTRY_ID_RE.match(entry_id):
        raise field_error(errors.VALIDATION, field,
                          "an entry id is 1 to 64 characters of letters, digits and _ . : - (such as je_01J...)")
    return entry_id


def validate_lines(lines: Iterable[Sequence[Any]]) -> tuple[list[str], list[str], list[Decimal]]:
    """Check lines ``(account, currency, signed amount)``; return them as three arrays.

    Refuses fewer than two lines, a zero amount, more decimals than the currency has, and debits
    that differ from credits in any currency (``/problems/unbalanced-entry``)."""
    accounts: list[str] = []
    currencies: list[str] = []
    amounts: list[Decimal] = []
    totals: dict[str, list[Decimal]] = {}
    for i, line in enumerate(lines):
        try:
            account, currency, amount = line
        except (TypeError, ValueError):
            raise field_error(errors.VALIDATION, f"/lines/{i}", f"line {i}: expected (account, currency, amount)") from None
        if not isinstance(account, str) or not ACCOUNT_CODE_RE.match(account):
            raise _line_error(i, "account", "an account code such as 1100 or 1010.ICBC")
        try:
            validate_currency(currency)
        except MoneyError as exc:
            raise _line_error(i, "currency", str(exc)) from None
        if not isinstance(amount, Decimal) or not amount.is_finite():
            raise _line_error(i, "amount", "the amount must be a finite Decimal")
        if amount == 0:
            raise _line_error(i, "amount", "the amount must not be zero")
        if abs(amount) >= MAX_AMOUNT:
            raise _line_error(i, "amount", "the amount is too large")
        places = currency_places(currency)
        if amount.as_tuple().exponent < -places and amount != amount.quantize(Decimal(1).scaleb(-places)):  # type: ignore[operator]
            raise _line_error(i, "amount", f"{currency} amounts have at most {places} decimal places")
        accounts.append(account)
        currencies.append(currency)
        amounts.append(amount)
        t = totals.setdefault(currency, [Decimal(0), Decimal(0)])
        t[0 if amount > 0 else 1] += abs(amount)
    if len(accounts) < 2:
        raise field_error(errors.VALIDATION, "/lines", "a journal entry needs at least two lines")
    if len(accounts) > MAX_LINES:
        raise field_error(errors.VALIDATION, "/lines", f"a journal entry has at most {MAX_LINES} lines")
    off = [(c, d, k) for c, (d, k) in sorted(totals.items()) if d != k]
    if off:
        text = "; ".join(f"{c}: debits {_fmt(d, c)} and credits {_fmt(k, c)}" for c, d, k in off)
        raise Problem(UNBALANCED, f"Debits must equal credits in each currency ({text}).",
                      errors=[{"pointer": "/lines", "detail": text}],
                      extra={"imbalances": [{"currency": c, "debit": _fmt(d, c), "credit": _fmt(k, c),
                                             "difference": _fmt(d - k, c)} for c, d, k in off]})
    return accounts, currencies, amounts


def _fmt(amount: Decimal, currency: str) -> str:
    """An amount with its currency's places, never losing digits a raw SQL writer may have added."""
    q = Decimal(1).scaleb(-currency_places(currency))
    rounded = amount.quantize(q)
    return format(rounded if rounded == amount else amount.normalize(), "f")


# Errors from the database -> problems --------------------------------------------------------------
def _detail(exc: psycopg.Error) -> dict:
    try:
        return json.loads(exc.diag.message_detail or "{}")
    except ValueError:
        return {}


def _first_line(accounts: Sequence[str] | None, code: str | None) -> int | None:
    if accounts is None or code is None:
        return None
    try:
        return list(accounts).index(code)
    except ValueError:
        return None


def _translate(exc: psycopg.Error, accounts: Sequence[str] | None = None) -> Problem | None:
    """The problem for an error raised by the ledger's functions and triggers (None: not ours)."""
    constraint = exc.diag.constraint_name or ""
    primary = exc.diag.message_primary or str(exc)
    info = _detail(exc)
    if isinstance(exc, pgerr.ForeignKeyViolation) and constraint == "journal_lines_account_code_fkey":
        code = info.get("account")
        line = info.get("line")
        i = int(line) - 1 if line else _first_line(accounts, code)
        pointer = f"/lines/{i}/account" if i is not None else "/lines"
        return Problem(UNKNOWN_ACCOUNT, f"No ledger account {code}." if code else "A line names an unknown account.",
                       errors=[{"pointer": pointer, "detail": f"no ledger account {code}"}])
    if isinstance(exc, pgerr.CheckViolation) and constraint in ("journal_lines_account_currency", "journal_lines_detail_account"):
        line = info.get("line")
        pointer = f"/lines/{int(line) - 1}/{'currency' if 'currency' in constraint else 'account'}" if line else "/lines"
        pt = ACCOUNT_CURRENCY if "currency" in constraint else HEADER_ACCOUNT
        return Problem(pt, primary[0].upper() + primary[1:] + ".", errors=[{"pointer": pointer, "detail": primary}])
    if isinstance(exc, pgerr.UniqueViolation) and constraint == "journal_entries_pkey":
        return Problem(ENTRY_ID_CONFLICT, f"Journal entry {info.get('entry', '')} already exists with other content; "
                       "a retry must send the same content, a new entry needs a new id.",
                       errors=[{"pointer": "/id", "detail": "already used for another entry"}])
    if isinstance(exc, pgerr.UniqueViolation) and constraint == "journal_entries_reverses_key":
        by = info.get("reversed_by")
        return Problem(ALREADY_REVERSED, f"Journal entry {info.get('entry', '')} is already reversed"
                       + (f" by {by}." if by else "."), extra={"reversed_by": by} if by else {})
    if isinstance(exc, pgerr.CheckViolation) and constraint == "journal_entries_no_reversal_of_reversal":
        return Problem(NOT_REVERSIBLE, primary[0].upper() + primary[1:] + ".")
    if isinstance(exc, pgerr.CheckViolation) and constraint == "journal_entries_reversal_date":
        return field_error(errors.VALIDATION, "/effective_date", primary[0].upper() + primary[1:] + ".")
    if isinstance(exc, pgerr.NoDataFound) and "entry" in info:
        return errors.not_found("journal entry", info["entry"])
    if isinstance(exc, pgerr.NumericValueOutOfRange):
        return field_error(errors.VALIDATION, "/lines", "an amount is too large")
    return None


def _raise_translated(exc: psycopg.Error, accounts: Sequence[str] | None = None) -> None:
    problem = _translate(exc, accounts)
    if problem is None:
        raise exc
    raise problem from None


# Posting -----------------------------------------------------------------------------------------
_POST = ("SELECT booked_at, replayed FROM ledger_post(%s, %s, %s::text[], %s::text[], %s::numeric[], "
         "%s, %s, %s, %s, NULL)")
_REVERSE = ("SELECT booked_at, replayed, effective_date FROM ledger_reverse(%s, %s, %s::date, %s, %s, %s, %s)")


def _source(source: Sequence[str] | None) -> tuple[str | None, str | None]:
    if source is None:
        return None, None
    try:
        stype, sid = source
    except (TypeError, ValueError):
        raise field_error(errors.VALIDATION, "source", "source is a pair (type, id), such as ('loan_transaction', 'txn_...')") from None
    if not isinstance(stype, str) or not isinstance(sid, str) or not stype or not sid:
        raise field_error(errors.VALIDATION, "source", "source is a pair of non-empty strings (type, id)")
    return stype, sid


def _check_date(value: Any, field: str = "effective_date") -> dt.date:
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise field_error(errors.VALIDATION, field, "an effective date is a date (2024-01-31), not a timestamp")
    return value


# The arrays go as PostgreSQL array literals in one text parameter each: a third less client CPU
# per posting than psycopg's list adaptation, and safe because every element was validated first
# (codes and currencies hold no quote, backslash, comma or brace; amounts are plain decimals).
def _array(items: list[str]) -> str:
    return '{"' + '","'.join(items) + '"}'


def _numeric_array(amounts: list[Decimal]) -> str:
    return "{" + ",".join(format(a, "f") for a in amounts) + "}"


def post_entry(conn: psycopg.Connection, *, entry_id: str, effective_date: dt.date,
               lines: Iterable[Sequence[Any]], memo: str | None = None,
               source: Sequence[str] | None = None, metadata: Mapping[str, Any] | None = None) -> PostedEntry:
    """Book one balanced journal entry in the caller's transaction: one round trip, no commit.

    ``lines``: ``(account_code, currency, amount)`` with ``amount`` a signed Decimal (debit > 0,
    credit < 0), e.g. ``[("1100", "CNY", Decimal("5000")), ("1300", "CNY", Decimal("-5000"))]``.
    ``source``: the business object behind the entry, ``("loan_transaction", "txn_...")``.

    Idempotent on ``entry_id``: the same id with the same content returns the booked entry with
    ``replayed=True``; the same id with other content raises a 409 problem (``entry-id-conflict``).
    """
    validate_entry_id(entry_id)
    _check_date(effective_date)
    accounts, currencies, amounts = validate_lines(lines)
    stype, sid = _source(source)
    if memo is not None and len(memo) > 1000:
        raise field_error(errors.VALIDATION, "memo", "a memo is at most 1000 characters")
    try:
        row = conn.cursor(row_factory=tuple_row).execute(
            _POST, (entry_id, effective_date, _array(accounts), _array(currencies), _numeric_array(amounts),
                    memo, stype, sid, Jsonb(dict(metadata)) if metadata is not None else None),
            prepare=True).fetchone()
    except psycopg.Error as exc:
        _raise_translated(exc, accounts)
    assert row is not None
    return PostedEntry(entry_id, effective_date, row[0], row[1])


def reverse_entry(conn: psycopg.Connection, *, entry_id: str, reversal_id: str,
                  effective_date: dt.date | None = None, memo: str | None = None,
                  source: Sequence[str] | None = None, metadata: Mapping[str, Any] | None = None) -> PostedEntry:
    """Book the reversal of ``entry_id`` under the new id ``reversal_id``: the original's lines
    negated, ``reverses`` pointing at the original.  An entry is reversed once; a reversal is not
    itself reversible.  ``effective_date`` defaults to the original's and may not be earlier.
    Idempotent on ``reversal_id`` like :func:`post_entry`."""
    validate_entry_id(entry_id, "entry_id")
    validate_entry_id(reversal_id)
    if effective_date is not None:
        _check_date(effective_date)
    stype, sid = _source(source)
    try:
        row = conn.cursor(row_factory=tuple_row).execute(
            _REVERSE, (entry_id, reversal_id, effective_date, memo, stype, sid,
                       Jsonb(dict(metadata)) if metadata is not None else None)).fetchone()
    except psycopg.Error as exc:
        _raise_translated(exc)
    assert row is not None
    return PostedEntry(reversal_id, row[2], row[0], row[1])


# Accounts ----------------------------------------------------------------------------------------
_ACCOUNT_COLUMNS = ("code", "name", "type", "normal_side", "usage", "currency", "parent_code", "shards", "description")

_ACCOUNT_SELECT = """
SELECT a.code, a.name, a.type, a.normal_side, a.usage, a.currency, a.parent_code, a.shards, a.description,
       a.created_at, bal.currencies AS balance_currencies, bal.nets AS balance_nets
  FROM ledger_accounts a
  LEFT JOIN LATERAL (
        SELECT array_agg(s.currency ORDER BY s.currency) AS currencies, array_agg(s.net ORDER BY s.currency) AS nets
          FROM (SELECT b.currency, sum(b.balance) AS net FROM account_balances b
                 WHERE b.account_code = a.code GROUP BY b.currency) s) bal ON true
"""


def _account(row: dict) -> dict:
    nets = dict(zip(row.pop("balance_currencies") or [], row.pop("balance_nets") or []))
    row["nets"] = nets  # signed, debit positive
    return row


def get_account(conn: psycopg.Connection, code: str) -> dict:
    row = conn.cursor(row_factory=dict_row).execute(_ACCOUNT_SELECT + " WHERE a.code = %s", [code]).fetchone()
    if row is None:
        raise errors.not_found("ledger account", code)
    return _account(row)


def list_accounts(conn: psycopg.Connection, *, type: str | None = None, limit: int = 100,
                  after: str | None = None) -> tuple[list[dict], bool]:
    """Accounts in code order with their balances; ``after``: the last code of the previous page."""
    where, params = [], []
    if type is not None:
        where.append("a.type = %s")
        params.append(type)
    if after is not None:
        where.append("a.code > %s")
        params.append(after)
    sql = _ACCOUNT_SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY a.code LIMIT %s"
    rows = conn.cursor(row_factory=dict_row).execute(sql, [*params, limit + 1]).fetchall()
    return [_account(r) for r in rows[:limit]], len(rows) > limit


def create_account(conn: psycopg.Connection, *, code: str, name: str, type: str | None = None,
                   normal_side: str | None = None, usage: str = "detail", currency: str | None = None,
                   parent_code: str | None = None, shards: int = 1,
                   description: str | None = None) -> tuple[dict, bool]:
    """Add an account to the chart; returns ``(account, created)``.

    A dotted code's parent defaults to the code before its last dot when that account exists
    (``1010.ICBC`` goes under ``1010``), and the type defaults to the parent's.  Idempotent on the
    code: the same attributes again return the account with ``created=False``; other attributes
    are a 409 problem (accounts never change)."""
    if not isinstance(code, str) or not ACCOUNT_CODE_RE.match(code):
        raise field_error(errors.VALIDATION, "code", "an account code is 1 to 64 letters, digits and . _ - (such as 1010.ICBC)")
    if not isinstance(name, str) or not 1 <= len(name) <= 200:
        raise field_error(errors.VALIDATION, "name", "a name is 1 to 200 characters")
    if description is not None and len(description) > 1000:
        raise field_error(errors.VALIDATION, "description", "at most 1000 characters")
    cur = conn.cursor(row_factory=dict_row)
    parent = None
    if parent_code is None and "." in code:
        candidate = code.rsplit(".", 1)[0]
        parent = cur.execute("SELECT code, type, usage FROM ledger_accounts WHERE code = %s", [candidate]).fetchone()
        parent_code = parent["code"] if parent else None
    elif parent_code is not None:
        parent = cur.execute("SELECT code, type, usage FROM ledger_accounts WHERE code = %s", [parent_code]).fetchone()
        if parent is None:
            raise field_error(errors.VALIDATION, "parent_code", f"no ledger account {parent_code}")
    if type is None:
        if parent is None:
            raise field_error(errors.VALIDATION, "type", f"give the account type: one of {', '.join(ACCOUNT_TYPES)}")
        type = parent["type"]
    if type not in ACCOUNT_TYPES:
        raise field_error(errors.VALIDATION, "type", f"one of {', '.join(ACCOUNT_TYPES)}")
    if parent is not None and parent["type"] != type:
        raise field_error(errors.VALIDATION, "type", f"the parent account {parent['code']} is {parent['type']}; "
                                                     "a sub-account has its parent's type")
    normal_side = normal_side or NORMAL_SIDE[type]
    if normal_side not in ("debit", "credit"):
        raise field_error(errors.VALIDATION, "normal_side", "debit or credit")
    if usage not in ("detail", "header"):
        raise field_error(errors.VALIDATION, "usage", "detail or header")
    if currency is not None:
        try:
            validate_currency(currency)
        except MoneyError as exc:
            raise field_error(errors.VALIDATION, "currency", str(exc)) from None
    if not isinstance(shards, int) or not 1 <= shards <= 64:
        raise field_error(errors.VALIDATION, "shards", "from 1 to 64")
    wanted = {"code": code, "name": name, "type": type, "normal_side": normal_side, "usage": usage,
              "currency": currency, "parent_code": parent_code, "shards": shards, "description": description}
    row = cur.execute(
        "INSERT INTO ledger_accounts (code, name, type, normal_side, usage, currency, parent_code, shards, description) "
        "VALUES (%(code)s, %(name)s, %(type)s, %(normal_side)s, %(usage)s, %(currency)s, %(parent_code)s, "
        "%(shards)s, %(description)s) ON CONFLICT (code) DO NOTHING RETURNING code", wanted).fetchone()
    account = get_account(conn, code)
    if row is None:
        differs = [k for k in _ACCOUNT_COLUMNS if account[k] != wanted[k]]
        if differs:
            raise Problem(ACCOUNT_CONFLICT, f"Ledger account {code} exists with another {', '.join(differs)}.",
                          errors=[{"pointer": f"/{k}", "detail": f"is {account[k]!r} on the existing account"}
                                  for k in differs])
        return account, False
    return account, True


def balance(conn: psycopg.Connection, code: str, currency: str) -> Decimal:
    """The account's balance in ``currency`` on its normal side (an asset debited 100 shows 100)."""
    row = conn.cursor(row_factory=tuple_row).execute(
        "SELECT a.normal_side, (SELECT coalesce(sum(b.balance), 0) FROM account_balances b "
        "WHERE b.account_code = a.code AND b.currency = %s) FROM ledger_accounts a WHERE a.code = %s",
        [currency, code]).fetchone()
    if row is None:
        raise errors.not_found("ledger account", code)
    return row[1] if row[0] == "debit" else -row[1]


def normal_balance(net: Decimal, normal_side: str) -> Decimal:
    return net if normal_side == "debit" else -net


# Entries -----------------------------------------------------------------------------------------
_ENTRY_SELECT = """
SELECT e.id, e.effective_date, e.booked_at, e.memo, e.reverses, e.source_type, e.source_id, e.metadata,
       (SELECT r.id FROM journal_entries r WHERE r.reverses = e.id) AS reversed_by,
       l.accounts, l.currencies, l.amounts
  FROM {from_} e
  CROSS JOIN LATERAL (
        SELECT array_agg(jl.account_code ORDER BY jl.line_no) AS accounts,
               array_agg(jl.currency ORDER BY jl.line_no) AS currencies,
               array_agg(jl.amount ORDER BY jl.line_no) AS amounts
          FROM journal_lines jl WHERE jl.entry_id = e.id) l
"""


def _entry(row: dict) -> dict:
    row["lines"] = [Line(a, c, m) for a, c, m in zip(row.pop("accounts") or [], row.pop("currencies") or [],
                                                      row.pop("amounts") or [])]
    return row


def get_entry(conn: psycopg.Connection, entry_id: str) -> dict:
    """An entry with its lines (``Line`` tuples, signed) and ``reversed_by``."""
    row = conn.cursor(row_factory=dict_row).execute(
        _ENTRY_SELECT.format(from_="journal_entries") + " WHERE e.id = %s", [entry_id]).fetchone()
    if row is None:
        raise errors.not_found("journal entry", entry_id)
    return _entry(row)


def encode_cursor(*parts: Any) -> str:
    raw = json.dumps([p.isoformat() if isinstance(p, (dt.date, dt.datetime)) else p for p in parts],
                     separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, n: int) -> list:
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(parts, list) or len(parts) != n:
            raise ValueError
        return parts
    except (ValueError, TypeError):
        raise field_error(errors.VALIDATION, "/query/cursor", "not a cursor this list returned") from None


def list_entries(conn: psycopg.Connection, *, limit: int = 20, cursor: str | None = None,
                 source: Sequence[str | None] | None = None) -> tuple[list[dict], str | None]:
    """Entries newest first (by booking time); returns ``(entries, next_cursor)``.
    ``source``: ``(type, id)`` to list the entries of one business object (``id`` may be None)."""
    where, params = [], []
    if cursor:
        booked, last_id = decode_cursor(cursor, 2)
        try:
            booked = dt.datetime.fromisoformat(booked)
        except (TypeError, ValueError):
            raise field_error(errors.VALIDATION, "/query/cursor", "not a cursor this list returned") from None
        where.append("(x.booked_at, x.id) < (%s, %s)")
        params += [booked, last_id]
    if source is not None:
        stype, sid = source
        if stype is not None:
            where.append("x.source_type = %s")
            params.append(stype)
        if sid is not None:
            where.append("x.source_id = %s")
            params.append(sid)
    inner = ("(SELECT * FROM journal_entries x" + (" WHERE " + " AND ".join(where) if where else "")
             + " ORDER BY x.booked_at DESC, x.id DESC LIMIT %s)")
    rows = conn.cursor(row_factory=dict_row).execute(
        _ENTRY_SELECT.format(from_=inner) + " ORDER BY e.booked_at DESC, e.id DESC", [*params, limit + 1]).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["booked_at"], rows[-1]["id"]) if more and rows else None
    return [_entry(r) for r in rows], next_cursor


# Reports -----------------------------------------------------------------------------------------
def trial_balance(conn: psycopg.Connection, *, as_of: dt.date | None = None, currency: str | None = None) -> dict:
    """Per account and currency, the net of all lines with ``effective_date <= as_of`` (all lines
    when ``as_of`` is None), and per currency the total debit and credit balances.

    Computed set-based as the current balances minus the lines that take effect after ``as_of``:
    the work grows with the entries after ``as_of``, not with the whole journal (a month-end
    report reads one month of lines, not ten years)."""
    params: dict[str, Any] = {"as_of": as_of, "currency": currency}
    cur_b = "WHERE b.currency = %(currency)s" if currency else ""
    cur_l = "AND l.currency = %(currency)s" if currency else ""
    # Lines after as_of, account by account: a range of journal_lines_account for each account
    # (index-only), on any PostgreSQL version, instead of a scan of the whole journal.
    later = f"""
          UNION ALL
          SELECT a.code, l.currency, -sum(l.amount)
            FROM ledger_accounts a
            JOIN journal_lines l ON l.account_code = a.code AND l.effective_date > %(as_of)s {cur_l}
           GROUP BY a.code, l.currency""" if as_of is not None else ""
    sql = f"""
    SELECT a.code, a.name, a.type, a.normal_side, t.currency, sum(t.net) AS net
      FROM (SELECT b.account_code, b.currency, b.balance AS net FROM account_balances b {cur_b}
            {later}) t
      JOIN ledger_accounts a ON a.code = t.account_code
     GROUP BY a.code, t.currency
    HAVING sum(t.net) <> 0
     ORDER BY t.currency, a.code"""
    rows = conn.cursor(row_factory=dict_row).execute(sql, params).fetchall()
    totals: dict[str, dict[str, Decimal]] = {}
    for r in rows:
        t = totals.setdefault(r["currency"], {"debit": Decimal(0), "credit": Decimal(0)})
        if r["net"] > 0:
            t["debit"] += r["net"]
        else:
            t["credit"] -= r["net"]
    return {"as_of": as_of, "currency": currency, "accounts": rows, "totals": totals,
            "balanced": all(t["debit"] == t["credit"] for t in totals.values())}


def statement(conn: psycopg.Connection, code: str, *, currency: str | None = None,
              date_from: dt.date | None = None, date_to: dt.date | None = None,
              limit: int = 50, cursor: str | None = None) -> dict:
    """The account's lines in date order (effective date, then entry id, then line) with the
    running balance after each line (signed net, per currency); cursor pagination forwards.

    The running balance of the first line on the page comes from the current balance less the
    lines from that point on (an index range over the account's recent lines, not its history)."""
    acct = conn.cursor(row_factory=dict_row).execute(
        "SELECT code, normal_side, currency FROM ledger_accounts WHERE code = %s", [code]).fetchone()
    if acct is None:
        raise errors.not_found("ledger account", code)
    where = ["l.account_code = %(code)s"]
    params: dict[str, Any] = {"code": code, "limit": limit + 1}
    if currency:
        where.append("l.currency = %(currency)s")
        params["currency"] = currency
    if date_from:
        where.append("l.effective_date >= %(from)s")
        params["from"] = date_from
    if date_to:
        where.append("l.effective_date <= %(to)s")
        params["to"] = date_to
    if cursor:
        d, e, n = decode_cursor(cursor, 3)
        try:
            params.update(cd=dt.date.fromisoformat(d), ce=str(e), cn=int(n))
        except (TypeError, ValueError):
            raise field_error(errors.VALIDATION, "/query/cursor", "not a cursor this list returned") from None
        where.append("(l.effective_date, l.entry_id, l.line_no) > (%(cd)s, %(ce)s, %(cn)s)")
    sql = f"""
    WITH page AS (
        SELECT l.entry_id, l.line_no, l.effective_date, l.currency, l.amount
          FROM journal_lines l
         WHERE {' AND '.join(where)}
         ORDER BY l.account_code, l.effective_date, l.entry_id, l.line_no
         LIMIT %(limit)s),
    first AS (SELECT p.effective_date, p.entry_id, p.line_no FROM page p
               ORDER BY p.effective_date, p.entry_id, p.line_no LIMIT 1),
    base AS (
        SELECT t.currency, sum(t.net) AS net FROM (
            SELECT b.currency, b.balance AS net FROM account_balances b WHERE b.account_code = %(code)s
            UNION ALL
            SELECT l.currency, -l.amount FROM journal_lines l, first f
             WHERE l.account_code = %(code)s
               AND (l.effective_date, l.entry_id, l.line_no) >= (f.effective_date, f.entry_id, f.line_no)) t
         GROUP BY t.currency)
    SELECT p.entry_id, p.line_no, p.effective_date, p.currency, p.amount, e.booked_at, e.memo,
           coalesce(b.net, 0) + sum(p.amount) OVER (PARTITION BY p.currency
                ORDER BY p.effective_date, p.entry_id, p.line_no) AS net_after
      FROM page p
      JOIN journal_entries e ON e.id = p.entry_id
      LEFT JOIN base b ON b.currency = p.currency
     ORDER BY p.effective_date, p.entry_id, p.line_no"""
    rows = conn.cursor(row_factory=dict_row).execute(sql, params).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["effective_date"], rows[-1]["entry_id"], rows[-1]["line_no"]) if more else None
    return {"account": acct, "lines": rows, "has_more": more, "next_cursor": next_cursor}


def verify_balances(conn: psycopg.Connection) -> list[dict]:
    """Accounts whose stored balance differs from the sum of their lines (always empty: the
    database keeps them equal; a check for auditors and tests)."""
    return conn.cursor(row_factory=dict_row).execute("""
        SELECT coalesce(b.account_code, l.account_code) AS account_code, coalesce(b.currency, l.currency) AS currency,
               b.net AS stored, l.net AS journal
          FROM (SELECT account_code, currency, sum(balance) AS net FROM account_balances GROUP BY 1, 2) b
          FULL JOIN (SELECT account_code, currency, sum(amount) AS net FROM journal_lines GROUP BY 1, 2) l
            ON l.account_code = b.account_code AND l.currency = b.currency
         WHERE b.net IS DISTINCT FROM l.net AND NOT (coalesce(b.net, 0) = 0 AND coalesce(l.net, 0) = 0)
         ORDER BY 1, 2""").fetchall()
