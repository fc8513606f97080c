"""Customer use cases (plain functions over the caller's psycopg connection and transaction).

A customer is minimal: a name, a mainland mobile number (stored in E.164, ``+8613812345678``) and
a PRC resident ID number (居民身份证号码, GB 11643-1999: 17 digits and a check character).  The ID
number is stored only encrypted (AES-256-GCM, :mod:`.crypto`), as a keyed HMAC for look-up and
uniqueness, and masked (``1101**********1234``) for display; it is never returned, logged or put
into an error message.  One customer per ID number (and mode): a second create is 409
``/problems/customer-exists`` naming the customer.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import psycopg

from .. import errors
from ..errors import Problem, field_error, problem_type
from ..ids import has_prefix, new_id
from ..settings import get_settings
from ..listing import id_cursor, page
from ..web import iso_ts
from . import crypto

CUSTOMER_EXISTS = problem_type(
    "customer-exists", "Customer already exists", 409,
    "A customer with this ID number already exists; `customer_id` names them. A person is one customer.")

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
# Province-level codes (GB/T 2260) that begin a resident ID number; 81-83: Hong Kong, Macao and
# Taiwan residents' residence permits.
_PROVINCES = frozenset({11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
                        50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83})
_ID_RE = re.compile(r"^[0-9]{17}[0-9X]$")
_MOBILE_RE = re.compile(r"^1[3-9][0-9]{9}$")
_MOBILE_SEPARATORS = re.compile(r"[\s\-()]")


def id_check_char(first17: str) -> str:
    """The GB 11643 check character (ISO 7064 MOD 11-2) of the first 17 digits."""
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS)) % 11]


def normalise_id_number(value: Any, field: str = "/id_number") -> str:
    """An 18-character resident ID number, upper-case ``X``, or a 422 problem that never repeats it."""
    if not isinstance(value, str):
        raise field_error(errors.VALIDATION, field, "id_number must be a string of 18 characters")
    text = value.strip().upper()
    if not _ID_RE.match(text):
        raise field_error(errors.VALIDATION, field,
                          "id_number must be 18 characters: 17 digits and a digit or X (GB 11643)")
    if int(text[:2]) not in _PROVINCES:
        raise field_error(errors.VALIDATION, field, "id_number does not begin with a province code")
    try:
        born = dt.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        raise field_error(errors.VALIDATION, field, "id_number does not hold a valid date of birth") from None
    if born.year < 1800 or born > dt.date.today():
        raise field_error(errors.VALIDATION, field, "id_number does not hold a valid date of birth")
    if id_check_char(text[:17]) != text[17]:
        raise field_error(errors.VALIDATION, field, "id_number's check character is wrong (GB 11643)")
    return text


def normalise_mobile(value: Any, field: str = "/mobile") -> str:
    """A mainland China mobile number in E.164 (``+8613812345678``), from ``13812345678``,
    ``+86 138-1234-5678``, ``008613812345678`` and the like; else a 422 problem."""
    if not isinstance(value, str):
        raise field_error(errors.VALIDATION, field, "mobile must be a string")
    text = _MOBILE_SEPARATORS.sub("", value)
    for prefix in ("+86", "0086"):
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    else:
        if len(text) == 13 and text.startswith("86"):
            text = text[2:]
    if not _MOBILE_RE.match(text):
        raise field_error(errors.VALIDATION, field,
                          "mobile must be a mainland China mobile number: 11 digits starting 13-19, "
                          "optionally with +86")
    return "+86" + text


def mask_id_number(id_number: str) -> str:
    return id_number[:4] + "*" * (len(id_number) - 8) + id_number[-4:]


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise field_error(errors.VALIDATION, "/name", "name must be a non-empty string")
    text = " ".join(value.split())
    if len(text) > 200:
        raise field_error(errors.VALIDATION, "/name", "name is at most 200 characters")
    return text


def id_number_hash(id_number: str) -> bytes:
    """The keyed look-up hash of a (normalised) ID number."""
    return crypto.keyring().lookup_hash(id_number)


def _livemode() -> bool:
    return get_settings().livemode


_COLS = "id, name, mobile, id_number_masked, status, livemode, created_at, updated_at"


def render(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "customer",
        "id": row["id"],
        "name": row["name"],
        "mobile": row["mobile"],
        "id_number": row["id_number_masked"],
        "id_number_last4": row["id_number_masked"][-4:],
        "status": row["status"],
        "created_at": iso_ts(row["created_at"]),
        "livemode": row["livemode"],
    }


def parse_create(doc: dict[str, Any]) -> dict[str, Any]:
    """The create request's fields, normalised and checked (name, E.164 mobile, ID number)."""
    return {"name": _name(doc.get("name")), "mobile": normalise_mobile(doc.get("mobile")),
            "id_number": normalise_id_number(doc.get("id_number"))}


def create_customer(conn: psycopg.Connection, doc: dict[str, Any]) -> dict[str, Any]:
    """Create a customer from ``{name, mobile, id_number}`` (one round trip)."""
    c = parse_create(doc)
    ring = crypto.keyring()
    blob, kid = ring.encrypt(c["id_number"])
    digest = ring.lookup_hash(c["id_number"])
    row = conn.execute(
        f"INSERT INTO customers (id, name, mobile, id_number_cipher, id_number_key_id, id_number_hash, "
        f"id_number_masked, livemode) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
        f"ON CONFLICT (livemode, id_number_hash) DO NOTHING RETURNING {_COLS}",
        [new_id("cus"), c["name"], c["mobile"], blob, kid, digest, mask_id_number(c["id_number"]),
         _livemode()]).fetchone()
    if row is None:
        other = conn.execute("SELECT id FROM customers WHERE livemode = %s AND id_number_hash = %s",
                             [_livemode(), digest]).fetchone()
        raise Problem(CUSTOMER_EXISTS, f"A customer with this ID number already exists: {other['id']}.",
                      errors=[{"pointer": "/id_number", "detail": "already belongs to a customer"}],
                      extra={"customer_id": other["id"]})
    return render(row)


def load(conn: psycopg.Connection, customer_id: str, *, pointer: str | None = None) -> dict[str, Any]:
    """The customer row (404 Problem when unknown; ``pointer`` names the request field that held the id)."""
    row = None
    if has_prefix(customer_id, "cus"):
        row = conn.execute(f"SELECT {_COLS} FROM customers WHERE id = %s AND livemode = %s",
                           [customer_id, _livemode()]).fetchone()
    if row is None:
        problem = errors.not_found("customer", customer_id)
        if pointer:
            problem.errors.append({"pointer": pointer, "detail": f"no customer {customer_id}"})
        raise problem
    return row


def get_customer(conn: psycopg.Connection, customer_id: str) -> dict[str, Any]:
    return render(load(conn, customer_id))


def list_customers(conn: psycopg.Connection, *, limit: int = 20, cursor: str | None = None) -> dict[str, Any]:
    """Customers newest first; ``cursor`` is the last id of the previous page."""
    id_cursor(cursor, "cus", "a customer id")
    rows = conn.execute(
        f"SELECT {_COLS} FROM customers WHERE livemode = %s AND (%s::text IS NULL OR id < %s::text) "
        f"ORDER BY id DESC LIMIT %s", [_livemode(), cursor, cursor, limit + 1]).fetchall()
    return page(rows, limit, render)


def search(conn: psycopg.Connection, *, id_number: Any = None, mobile: Any = None) -> dict[str, Any]:
    """Customers with this ID number (through its keyed hash) or mobile number."""
    if (id_number is None) == (mobile is None):
        raise field_error(errors.VALIDATION, "/", "give exactly one of id_number and mobile")
    if id_number is not None:
        rows = conn.execute(f"SELECT {_COLS} FROM customers WHERE livemode = %s AND id_number_hash = %s",
                            [_livemode(), id_number_hash(normalise_id_number(id_number))]).fetchall()
    else:
        rows = conn.execute(f"SELECT {_COLS} FROM customers WHERE livemode = %s AND mobile = %s "
                            f"ORDER BY id DESC LIMIT 100", [_livemode(), normalise_mobile(mobile)]).fetchall()
    return {"object": "list", "data": [render(r) for r in rows], "has_more": False, "next_cursor": None}


def reveal_id_number(conn: psycopg.Connection, customer_id: str) -> str:
    """The plaintext ID number (for a contract or a credit bureau file; never for a response or a log)."""
    load(conn, customer_id)
    row = conn.execute("SELECT id_number_cipher, id_number_key_id FROM customers WHERE id = %s",
                       [customer_id]).fetchone()
    return crypto.keyring().decrypt(row["id_number_cipher"], row["id_number_key_id"])
