"""Credit-line use cases (plain functions over the caller's psycopg connection and transaction).

A line belongs to one customer and one product version (the version current when the line was
opened: its drawdowns are priced and scheduled by it).  ``available = limit - used``.

The limit invariant (docs/design/servicing.md): ``used_amount`` moves only by one guarded
statement each way, :func:`reserve` (a drawdown) and :func:`release` (principal repaid).  The
row lock that the ``UPDATE`` takes serialises concurrent drawdowns on one line, and the guard
``used_amount + amount <= limit_amount`` in its ``WHERE`` is evaluated on the latest row version,
so no interleaving can take a line past its limit; the table's ``CHECK (used_amount >= 0 AND
used_amount <= limit_amount)`` backs it.  A limit may be lowered, but never below what is used.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import psycopg

from .. import errors
from ..errors import Problem, field_error, problem_type
from ..ids import has_prefix, new_id
from ..money import MoneyError, currency_places, to_str, validate_currency
from ..settings import get_settings
from ..listing import id_cursor, page
from ..web import iso_ts

INSUFFICIENT_LIMIT = problem_type(
    "insufficient-available-limit", "Insufficient available limit", 422,
    "The drawdown is larger than what is available on the credit line (limit less used); `available` says "
    "how much is.")
LINE_FROZEN = problem_type(
    "credit-line-frozen", "Credit line frozen", 409,
    "The credit line is frozen: it takes no drawdowns (or is already frozen) until it is unfrozen.")
LINE_NOT_FROZEN = problem_type(
    "credit-line-not-frozen", "Credit line not frozen", 409, "Only a frozen credit line can be unfrozen.")
LINE_CLOSED = problem_type(
    "credit-line-closed", "Credit line closed", 409, "The credit line is closed; a closed line never reopens.")
LINE_EXPIRED = problem_type(
    "credit-line-expired", "Credit line expired", 409,
    "The credit line's expiry date (`expires_on`) has passed: it takes no new drawdowns; its loans run on.")
LINE_EXISTS = problem_type(
    "credit-line-exists", "Credit line already exists", 409,
    "The customer already has an open credit line on this product; `credit_line_id` names it.")
LINE_IN_USE = problem_type(
    "credit-line-in-use", "Credit line in use", 409,
    "A credit line with principal outstanding (used > 0) cannot be closed; freeze it instead.")
LIMIT_BELOW_USED = problem_type(
    "limit-below-used", "Limit below the amount used", 422,
    "A credit line's limit may be lowered, but never below the principal already drawn and not repaid "
    "(`used`); `used` says how much that is.")

STATUSES = ("active", "frozen", "closed")
_COLS = ("id, customer_id, product_id, product_version, currency, limit_amount, used_amount, status, status_reason, "
         "expires_on, closed_at, livemode, created_at, updated_at")


def today() -> dt.date:
    """The business date new events happen on (the server's calendar date)."""
    return dt.date.today()


def _livemode() -> bool:
    return get_settings().livemode


def fmt(amount: Decimal, currency: str) -> str:
    return to_str(amount, currency_places(currency))


def render(row: dict[str, Any]) -> dict[str, Any]:
    c = row["currency"]
    return {
        "object": "credit_line",
        "id": row["id"],
        "customer_id": row["customer_id"],
        "product_id": row["product_id"],
        "product_version": row["product_version"],
        "currency": c,
        "limit": fmt(row["limit_amount"], c),
        "used": fmt(row["used_amount"], c),
        "available": fmt(row["limit_amount"] - row["used_amount"], c),
        "status": row["status"],
        "status_reason": row["status_reason"],
        "expires_on": row["expires_on"].isoformat() if row["expires_on"] else None,
        "closed_at": iso_ts(row["closed_at"]),
        "created_at": iso_ts(row["created_at"]),
        "updated_at": iso_ts(row["updated_at"]),
        "livemode": row["livemode"],
    }


def render_change(row: dict[str, Any], currency: str) -> dict[str, Any]:
    return {
        "object": "credit_line_limit_change",
        "id": row["id"],
        "credit_line_id": row["line_id"],
        "kind": row["kind"],
        "previous_limit": fmt(row["previous_limit"], currency),
        "limit": fmt(row["new_limit"], currency),
        "used": fmt(row["used_at_change"], currency),
        "reason": row["reason"],
        "changed_by": row["changed_by"],
        "created_at": iso_ts(row["created_at"]),
    }


def check_amount(amount: Decimal, currency: str, field: str, *, positive: bool = True) -> Decimal:
    """An amount in ``currency``: no more decimals than its minor units, positive (or zero)."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise field_error(errors.VALIDATION, field, f"{field.strip('/')} must be a decimal string")
    if amount < 0 or (positive and amount == 0):
        raise field_error(errors.VALIDATION, field,
                          f"{field.strip('/')} must be greater than zero" if positive else f"{field.strip('/')} must not be negative")
    places = currency_places(currency)
    if amount != amount.quantize(Decimal(1).scaleb(-places)):
        raise field_error(errors.VALIDATION, field, f"{currency} amounts have at most {places} decimal places")
    if amount >= Decimal(10) ** 16:
        raise field_error(errors.VALIDATION, field, f"{field.strip('/')} is too large")
    return amount


# --- queries ------------------------------------------------------------------------------------

def load(conn: psycopg.Connection, line_id: str, *, for_update: bool = False) -> dict[str, Any]:
    """The line's row (native: Decimals and dates); 404 Problem when unknown."""
    row = None
    if has_prefix(line_id, "line"):
        row = conn.execute(f"SELECT {_COLS} FROM credit_lines WHERE id = %s AND livemode = %s"
                           + (" FOR UPDATE" if for_update else ""), [line_id, _livemode()]).fetchone()
    if row is None:
        raise errors.not_found("credit line", line_id)
    return row


def get_line(conn: psycopg.Connection, line_id: str) -> dict[str, Any]:
    return render(load(conn, line_id))


def list_lines(conn: psycopg.Connection, *, customer_id: str | None = None, status: str | None = None,
               limit: int = 20, cursor: str | None = None) -> dict[str, Any]:
    """Lines newest first, optionally a customer's or by status; ``cursor`` is the last id shown."""
    id_cursor(cursor, "line", "a credit line id")
    sql = f"SELECT {_COLS} FROM credit_lines WHERE livemode = %s"
    params: list[Any] = [_livemode()]
    if customer_id is not None:
        sql += " AND customer_id = %s"
        params.append(customer_id)
    if status is not None:
        sql += " AND status = %s"
        params.append(status)
    if cursor is not None:
        sql += " AND id < %s"
        params.append(cursor)
    sql += " ORDER BY id DESC LIMIT %s"
    params.append(limit + 1)
    return page(conn.execute(sql, params).fetchall(), limit, render)


def list_limit_changes(conn: psycopg.Connection, line_id: str, *, limit: int = 20,
                       cursor: str | None = None) -> dict[str, Any]:
    """The line's limit history, newest first."""
    line = load(conn, line_id)
    id_cursor(cursor, "lchg", "a limit change id")
    rows = conn.execute(
        "SELECT id, line_id, kind, previous_limit, new_limit, used_at_change, reason, changed_by, created_at "
        "FROM credit_line_limit_changes WHERE line_id = %s AND (%s::text IS NULL OR id < %s::text) "
        "ORDER BY id DESC LIMIT %s", [line_id, cursor, cursor, limit + 1]).fetchall()
    return page(rows, limit, lambda r: render_change(r, line["currency"]))


# --- use cases ----------------------------------------------------------------------------------

def create_line(conn: psycopg.Connection, *, customer_id: str, product_id: str, limit: Decimal,
                currency: str | None = None, expires_on: dt.date | None = None,
                changed_by: str = "admin") -> dict[str, Any]:
    """Open a line for a customer on a product's current version (1 statement after the checks)."""
    from ..customers import service as customers
    from ..products import service as products

    customers.load(conn, customer_id, pointer="/customer_id")
    try:
        product = products.get_active_product_version(conn, product_id)
    except Problem as exc:
        if exc.type is errors.NOT_FOUND:
            exc.errors.append({"pointer": "/product_id", "detail": f"no loan product {product_id}"})
        raise
    if currency is None:
        currency = product["currency"]
    else:
        try:
            validate_currency(currency)
        except MoneyError as exc:
            raise field_error(errors.VALIDATION, "/currency", str(exc)) from None
        if currency != product["currency"]:
            raise field_error(errors.VALIDATION, "/currency",
                              f"the product lends in {product['currency']}, not {currency}")
    check_amount(limit, currency, "/limit")
    if expires_on is not None and expires_on < today():
        raise field_error(errors.VALIDATION, "/expires_on", "expires_on must not be in the past")
    row = conn.execute(f"""
        WITH l AS (
            INSERT INTO credit_lines (id, customer_id, product_id, product_version, currency, limit_amount,
                                      expires_on, livemode)
            VALUES (%(id)s, %(customer)s, %(product)s, %(version)s, %(currency)s, %(limit)s, %(expires)s, %(lm)s)
            ON CONFLICT (customer_id, product_id) WHERE status <> 'closed' DO NOTHING
            RETURNING {_COLS}),
        c AS (
            INSERT INTO credit_line_limit_changes (id, line_id, kind, previous_limit, new_limit, used_at_change,
                                                   reason, changed_by)
            SELECT %(change)s, l.id, 'initial', 0, l.limit_amount, 0, 'line opened', %(by)s FROM l)
        SELECT * FROM l""",
        {"id": new_id("line"), "customer": customer_id, "product": product["id"], "version": product["version"],
         "currency": currency, "limit": limit, "expires": expires_on, "lm": _livemode(),
         "change": new_id("lchg"), "by": changed_by}).fetchone()
    if row is None:
        other = conn.execute("SELECT id FROM credit_lines WHERE customer_id = %s AND product_id = %s "
                             "AND status <> 'closed'", [customer_id, product_id]).fetchone()
        raise Problem(LINE_EXISTS, f"Customer {customer_id} already has credit line {other['id']} on {product_id}.",
                      extra={"credit_line_id": other["id"]})
    return render(row)


def change_limit(conn: psycopg.Connection, line_id: str, new_limit: Decimal, reason: str,
                 changed_by: str = "admin") -> dict[str, Any]:
    """Raise or lower a line's limit (never below what is used) and keep the change in its history."""
    line = load(conn, line_id, for_update=True)
    c = line["currency"]
    check_amount(new_limit, c, "/limit", positive=False)
    if line["status"] == "closed":
        raise Problem(LINE_CLOSED, f"Credit line {line_id} is closed; its limit cannot change.")
    if new_limit < line["used_amount"]:
        raise Problem(LIMIT_BELOW_USED,
                      f"The limit of {line_id} cannot go below the {fmt(line['used_amount'], c)} {c} used "
                      f"(asked {fmt(new_limit, c)} {c}): a limit never drops below what is drawn.",
                      errors=[{"pointer": "/limit", "detail": f"must be at least {fmt(line['used_amount'], c)}"}],
                      extra={"used": fmt(line["used_amount"], c), "currency": c})
    if new_limit == line["limit_amount"]:
        raise field_error(errors.VALIDATION, "/limit", f"the limit is already {fmt(new_limit, c)}")
    row = conn.execute(f"""
        WITH u AS (
            UPDATE credit_lines SET limit_amount = %(new)s, updated_at = now()
             WHERE id = %(id)s AND status <> 'closed' AND used_amount <= %(new)s
            RETURNING {_COLS}),
        c AS (
            INSERT INTO credit_line_limit_changes (id, line_id, kind, previous_limit, new_limit, used_at_change,
                                                   reason, changed_by)
            SELECT %(change)s, u.id, %(kind)s, %(old)s, u.limit_amount, u.used_amount, %(reason)s, %(by)s FROM u)
        SELECT * FROM u""",
        {"new": new_limit, "id": line_id, "change": new_id("lchg"), "old": line["limit_amount"],
         "kind": "increase" if new_limit > line["limit_amount"] else "decrease", "reason": reason,
         "by": changed_by}).fetchone()
    assert row is not None  # the row is locked and was checked above
    return render(row)


def _set_status(conn: psycopg.Connection, line_id: str, *, to: str, allowed_from: tuple[str, ...],
                reason: str | None, extra_where: str = "") -> dict[str, Any] | None:
    return conn.execute(
        f"UPDATE credit_lines SET status = %s, status_reason = %s, updated_at = now()"
        f"{', closed_at = now()' if to == 'closed' else ''} "
        f"WHERE id = %s AND livemode = %s AND status = ANY(%s) {extra_where} RETURNING {_COLS}",
        [to, reason, line_id, _livemode(), list(allowed_from)]).fetchone()


def freeze(conn: psycopg.Connection, line_id: str, reason: str | None = None) -> dict[str, Any]:
    """Stop new drawdowns on an active line; its loans run on and repayments still free the limit."""
    row = _set_status(conn, line_id, to="frozen", allowed_from=("active",), reason=reason)
    if row is None:
        line = load(conn, line_id)
        if line["status"] == "frozen":
            raise Problem(LINE_FROZEN, f"Credit line {line_id} is already frozen.")
        raise Problem(LINE_CLOSED, f"Credit line {line_id} is closed.")
    return render(row)


def unfreeze(conn: psycopg.Connection, line_id: str, reason: str | None = None) -> dict[str, Any]:
    row = _set_status(conn, line_id, to="active", allowed_from=("frozen",), reason=reason)
    if row is None:
        line = load(conn, line_id)
        if line["status"] == "closed":
            raise Problem(LINE_CLOSED, f"Credit line {line_id} is closed.")
        raise Problem(LINE_NOT_FROZEN, f"Credit line {line_id} is {line['status']}, not frozen.")
    return render(row)


def close(conn: psycopg.Connection, line_id: str, reason: str | None = None) -> dict[str, Any]:
    """Close a line with nothing used (for good: a closed line never reopens)."""
    row = _set_status(conn, line_id, to="closed", allowed_from=("active", "frozen"), reason=reason,
                      extra_where="AND used_amount = 0")
    if row is None:
        line = load(conn, line_id)
        if line["status"] == "closed":
            raise Problem(LINE_CLOSED, f"Credit line {line_id} is already closed.")
        c = line["currency"]
        raise Problem(LINE_IN_USE, f"Credit line {line_id} has {fmt(line['used_amount'], c)} {c} drawn and not "
                      "repaid; it can be closed once that is repaid.", extra={"used": fmt(line["used_amount"], c)})
    return render(row)


# --- the limit invariant: the only two statements that move used_amount ---------------------------

_RESERVE = f"""
    UPDATE credit_lines SET used_amount = used_amount + %(amount)s, updated_at = now()
     WHERE id = %(id)s AND status = 'active' AND (expires_on IS NULL OR expires_on >= %(today)s)
       AND used_amount + %(amount)s <= limit_amount
    RETURNING {_COLS}"""


def reserve(conn: psycopg.Connection, line_id: str, amount: Decimal, *, on: dt.date | None = None,
            pointer: str = "/amount") -> dict[str, Any]:
    """Take ``amount`` of the line's available limit, atomically (one statement), or raise why not:
    422 ``insufficient-available-limit`` (with the amounts), 409 frozen, closed or expired, 404."""
    on = on or today()
    row = conn.execute(_RESERVE, {"amount": amount, "id": line_id, "today": on}, prepare=True).fetchone()
    if row is not None:
        return row
    line = load(conn, line_id)  # why not: read the line as it is now
    problem = refusal(line, amount, on=on, pointer=pointer)
    if problem is None:  # cannot happen: the statement's guard is this check
        raise RuntimeError(f"reserve on {line_id} refused for no reason")
    raise problem


def refusal(line: dict[str, Any], amount: Decimal, *, on: dt.date, pointer: str = "/amount") -> Problem | None:
    """Why ``line`` (a row) cannot lend ``amount`` on ``on``, as the problem to raise, or None."""
    line_id = line["id"]
    if line["status"] == "frozen":
        return Problem(LINE_FROZEN, f"Credit line {line_id} is frozen; it takes no drawdowns.")
    if line["status"] == "closed":
        return Problem(LINE_CLOSED, f"Credit line {line_id} is closed; it takes no drawdowns.")
    if line["expires_on"] is not None and line["expires_on"] < on:
        return Problem(LINE_EXPIRED, f"Credit line {line_id} expired on {line['expires_on'].isoformat()}; "
                       "it takes no new drawdowns.", extra={"expires_on": line["expires_on"].isoformat()})
    c = line["currency"]
    available = line["limit_amount"] - line["used_amount"]
    if amount > available:
        return Problem(INSUFFICIENT_LIMIT,
                       f"Drawdown of {fmt(amount, c)} {c} exceeds the available {fmt(available, c)} {c} on {line_id}.",
                       errors=[{"pointer": pointer, "detail": f"must be at most {fmt(available, c)}"}],
                       extra={"requested": fmt(amount, c), "available": fmt(available, c), "currency": c})
    return None


_RELEASE = (f"UPDATE credit_lines SET used_amount = greatest(used_amount - %s, 0), updated_at = now() "
            f"WHERE id = %s RETURNING {_COLS}")


def release(conn: psycopg.Connection, line_id: str, amount: Decimal) -> dict[str, Any]:
    """Give back ``amount`` of limit (principal repaid, a loan paid off or written off), in the
    caller's transaction; ``used`` never goes below zero.  Works on frozen and expired lines too."""
    row = send_release(conn, line_id, amount).fetchone()
    if row is None:
        raise errors.not_found("credit line", line_id)
    return row


def send_release(conn: psycopg.Connection, line_id: str, amount: Decimal) -> psycopg.Cursor:
    """:func:`release`'s statement, sent and not read (for a pipeline): the cursor gives the line's row,
    or none when there is no such line (then :func:`release` would have raised a 404)."""
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
        raise ValueError("release takes a non-negative Decimal amount")
    return conn.execute(_RELEASE, [amount, line_id], prepare=True)
