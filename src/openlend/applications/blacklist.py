"""The internal blacklist: ID numbers, mobiles, devices and bank cards by keyed hash, managed by
operators through the API (an entry is removed by marking it, never deleted); the decision asks it."""

from __future__ import annotations

from typing import Any

import psycopg

from .. import errors
from ..customers import crypto
from ..errors import field_error
from ..ids import new_id
from . import service as apps


BLACKLIST_KINDS = ("id_number", "mobile", "device", "bank_card")


def _hash(kind: str, value: str) -> bytes:
    return crypto.keyring().lookup_hash(value, "blacklist:" + kind)


def hits(conn: psycopg.Connection, row: dict[str, Any]) -> list[str]:
    """The kinds under which the applicant is on the internal blacklist."""
    probes = []
    if row["id_number_cipher"]:
        probes.append(("id_number", _hash("id_number", apps.reveal_id_number(row))))
    probes.append(("mobile", _hash("mobile", row["mobile"])))
    if row["device_id"]:
        probes.append(("device", _hash("device", row["device_id"])))
    if not probes:
        return []
    hits = conn.execute(
        "SELECT DISTINCT kind FROM blacklist_entries WHERE removed_at IS NULL AND livemode = %s "
        "AND (kind, value_hash) IN (SELECT * FROM unnest(%s::text[], %s::bytea[]))",
        [row["livemode"], [k for k, _ in probes], [h for _, h in probes]]).fetchall()
    return sorted(r["kind"] for r in hits)


def render_entry(r: dict[str, Any]) -> dict[str, Any]:
    from ..web import iso_ts
    return {"object": "blacklist_entry", "id": r["id"], "kind": r["kind"], "value_masked": r["value_masked"],
            "reason": r["reason"], "created_by": r["created_by"], "created_at": iso_ts(r["created_at"]),
            "removed_at": iso_ts(r["removed_at"]) if r["removed_at"] else None, "removed_by": r["removed_by"]}


def add_to_blacklist(conn: psycopg.Connection, *, kind: Any, value: Any, reason: Any, operator: str) -> dict[str, Any]:
    from ..customers import service as customers
    from ..origination import codes

    if kind not in BLACKLIST_KINDS:
        raise field_error(errors.VALIDATION, "/kind", "one of " + ", ".join(BLACKLIST_KINDS))
    if not isinstance(reason, str) or not 1 <= len(reason) <= 500:
        raise field_error(errors.VALIDATION, "/reason", "why, in 1 to 500 characters")
    if kind == "id_number":
        v = customers.normalise_id_number(value, "/value")
        masked = customers.mask_id_number(v)
    elif kind == "mobile":
        v = codes.normalise_mobile(value, "/value")
        masked = apps.mask_mobile(v)
    elif kind == "bank_card":
        v = apps.normalise_card(value, "/value")
        masked = apps.mask_card(v)
    else:
        if not isinstance(value, str) or not 1 <= len(value) <= 200:
            raise field_error(errors.VALIDATION, "/value", "a device fingerprint of 1 to 200 characters")
        v, masked = value, value[:4] + "…"
    h = _hash(kind, v)
    livemode = apps._livemode()
    existing = conn.execute("SELECT * FROM blacklist_entries WHERE livemode = %s AND kind = %s AND value_hash = %s "
                            "AND removed_at IS NULL", [livemode, kind, h]).fetchone()
    if existing is not None:
        return render_entry(existing)
    r = conn.execute("INSERT INTO blacklist_entries (id, kind, value_hash, value_masked, reason, created_by, livemode) "
                     "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING *",
                     [new_id("bl"), kind, h, masked, reason, operator, livemode]).fetchone()
    return render_entry(r)


def remove_from_blacklist(conn: psycopg.Connection, entry_id: str, *, operator: str) -> dict[str, Any]:
    r = conn.execute("UPDATE blacklist_entries SET removed_at = coalesce(removed_at, now()), "
                     "removed_by = coalesce(removed_by, %s) WHERE id = %s AND livemode = %s RETURNING *",
                     [operator, entry_id, apps._livemode()]).fetchone()
    if r is None:
        raise errors.not_found("blacklist entry", entry_id)
    return render_entry(r)


def list_blacklist(conn: psycopg.Connection, *, limit: int = 20, cursor: str | None = None) -> dict[str, Any]:
    from ..listing import id_cursor, page
    after = id_cursor(cursor, "bl", "a blacklist entry id")
    rows = conn.execute("SELECT * FROM blacklist_entries WHERE livemode = %s AND removed_at IS NULL "
                        "AND (%s::text IS NULL OR id < %s) ORDER BY id DESC LIMIT %s",
                        [apps._livemode(), after, after, limit + 1]).fetchall()
    return page(rows, limit, render_entry)


