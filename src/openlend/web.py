"""What every domain's ``api.py`` shares: request base model, amount and rate fields, list
envelopes, admin auth, and the idempotent-POST helper."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema

from . import errors
from .db import Database, get_database
from .errors import Problem
from .money import MoneyError, parse_amount, to_str
from .settings import get_settings


class Model(BaseModel):
    """Request bodies: unknown fields are refused, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


def _amount(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    try:
        return parse_amount(value, "amount", allow_negative=True)
    except MoneyError as exc:
        raise ValueError(str(exc).replace("amount ", "", 1)) from None


def _rate(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    try:
        return parse_amount(value, "rate", allow_negative=False)
    except MoneyError as exc:
        raise ValueError(str(exc).replace("rate ", "", 1)) from None


# An amount in JSON: a decimal string ("1500.00"); a JSON number is refused with 422.
Amount = Annotated[
    Decimal,
    BeforeValidator(_amount),
    PlainSerializer(lambda d: to_str(d), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "examples": ["1500.00"]}),
]
# A rate in percent per year as a decimal string ("12.5").
Rate = Annotated[
    Decimal,
    BeforeValidator(_rate),
    PlainSerializer(lambda d: to_str(d), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d+)?$", "examples": ["12.5"]}),
]

def iso_ts(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def require_admin(request: Request) -> str:
    """Every /v1 route: ``Authorization: Bearer <OPENLEND_ADMIN_TOKEN>``. Returns the principal."""
    token = get_settings().admin_token
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if not token:
        raise Problem(errors.UNAUTHORIZED, "No admin token is configured on this server (OPENLEND_ADMIN_TOKEN).")
    if scheme.lower() != "bearer" or not given:
        raise Problem(errors.UNAUTHORIZED, "Missing bearer token.", headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise Problem(errors.UNAUTHORIZED, "Invalid bearer token.", headers={"WWW-Authenticate": "Bearer"})
    return "admin"


def db() -> Database:
    return get_database()


DB = Annotated[Database, Depends(db)]
Principal = Annotated[str, Depends(require_admin)]


def _canonical(body: Any) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def idempotent(request: Request, database: Database, principal: str, body: Any,
               run: Callable[[psycopg.Connection], tuple[int, Any]], *, required: bool = False) -> JSONResponse:
    """Run ``run(conn)`` in one transaction under Stripe's idempotency semantics.

    Same key and same body: the stored response is replayed (``Idempotent-Replayed: true``).
    Same key, other body: 422.  Same key while the first request still runs: 409 (a transaction
    -scoped advisory lock on the key tells us, without waiting).  The key and its response are
    written in the same transaction as the effect, so a crash leaves neither; an error response
    stores nothing, so the client can fix the request and retry with the same key.
    """
    key = request.headers.get("idempotency-key")
    if key is not None and not (1 <= len(key) <= 255):
        raise errors.field_error(errors.VALIDATION, "/headers/Idempotency-Key", "Idempotency-Key must be 1 to 255 characters.")
    if key is None and required:
        raise Problem(errors.IDEMPOTENCY_REQUIRED, "This request moves money: send an Idempotency-Key header.")
    with database.transaction() as conn:
        if key is None:
            status, payload = run(conn)
            return JSONResponse(payload, status_code=status)
        scope = f"{principal} {request.method} {request.url.path}"
        digest = hashlib.sha256(_canonical(body)).hexdigest()
        locked = conn.execute("SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 7))",
                              [scope + " " + key]).fetchone()
        if not next(iter(locked.values())):
            raise Problem(errors.IDEMPOTENCY_IN_FLIGHT, "A request with this Idempotency-Key is still in progress.")
        row = conn.execute(
            "SELECT request_hash, status_code, response_body FROM idempotency_keys WHERE scope = %s AND key = %s",
            [scope, key]).fetchone()
        if row is not None:
            if row["request_hash"] != digest:
                raise Problem(errors.IDEMPOTENCY_MISMATCH,
                              "This Idempotency-Key was used with a different request body.")
            return JSONResponse(row["response_body"], status_code=row["status_code"],
                                headers={"Idempotent-Replayed": "true"})
        status, payload = run(conn)
        conn.execute(
            "INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response_body) "
            "VALUES (%s, %s, %s, %s, %s)",
            [scope, key, digest, status, psycopg.types.json.Jsonb(payload)])
        return JSONResponse(payload, status_code=status)


def purge_idempotency_keys(conn: psycopg.Connection, hours: int | None = None) -> int:
    hours = hours or get_settings().idempotency_retention_hours
    cur = conn.execute("DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => %s)", [hours])
    return cur.rowcount


def problems(*types: errors.ProblemType) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problem types a route can answer with."""
    out: dict[int | str, dict[str, Any]] = {}
    for pt in types:
        entry = out.setdefault(pt.status, {"description": "", "content": {"application/problem+json": {}}})
        entry["description"] = (entry["description"] + ", " if entry["description"] else "") + f"/problems/{pt.slug}"
    return out


def caller_ip(request: Request) -> str | None:
    """The caller's address when it is one (a test client's is a name)."""
    import ipaddress

    host = request.client.host if request.client else None
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None
