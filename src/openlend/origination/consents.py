"""Consent texts (versioned, immutable, each with its SHA-256) and their acceptance.

Registration needs two texts accepted together: the credit-inquiry authorisation (征信查询授权书) and
the personal-information consent under PIPL (个人信息处理授权书).  Publishing a text again makes a
new version; versions never change (a trigger refuses UPDATE and DELETE).  A consent records the
current version of each required kind, by id and hash, with the verified registration code that
proves the number, the time, and the IP address, user agent and device the person used.
"""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg

from .. import errors
from ..errors import field_error, problem_type
from ..ids import has_prefix, new_id
from ..settings import get_settings
from ..web import iso_ts
from . import codes

KINDS = ("credit_inquiry_authorization", "personal_information")
REQUIRED_FOR_REGISTRATION = KINDS

CONSENT_TEXT_OUTDATED = problem_type(
    "consent-text-outdated", "Consent text outdated", 409,
    "A newer version of this consent text exists; show the person the current one (GET /v1/consent-texts) "
    "and send its id.")
CONSENT_TEXTS_INCOMPLETE = problem_type(
    "consent-texts-incomplete", "Consent texts missing", 422,
    "Registration needs the current credit-inquiry authorisation and personal-information consent "
    "accepted together, once each.")


def _livemode() -> bool:
    return get_settings().livemode


def render_text(row: dict[str, Any], *, with_body: bool = True) -> dict[str, Any]:
    out = {
        "object": "consent_text",
        "id": row["id"],
        "kind": row["kind"],
        "version": row["version"],
        "language": row["language"],
        "title": row["title"],
        "sha256": bytes(row["sha256"]).hex(),
        "created_at": iso_ts(row["created_at"]),
    }
    if with_body:
        out["body"] = row["body"]
    return out


_TEXT_COLS = "id, kind, version, language, title, body, sha256, created_at"


def list_texts(conn: psycopg.Connection, *, kind: str | None = None, all_versions: bool = False) -> dict[str, Any]:
    """The current version of each kind (or every version, newest first)."""
    if kind is not None and kind not in KINDS:
        raise field_error(errors.VALIDATION, "/query/kind", "kind must be one of " + ", ".join(KINDS))
    if all_versions:
        rows = conn.execute(f"SELECT {_TEXT_COLS} FROM consent_texts WHERE %s::text IS NULL OR kind = %s "
                            f"ORDER BY kind, version DESC", [kind, kind]).fetchall()
    else:
        rows = conn.execute(f"SELECT DISTINCT ON (kind) {_TEXT_COLS} FROM consent_texts "
                            f"WHERE %s::text IS NULL OR kind = %s ORDER BY kind, version DESC", [kind, kind]).fetchall()
    return {"object": "list", "data": [render_text(r) for r in rows], "has_more": False, "next_cursor": None}


def get_text(conn: psycopg.Connection, text_id: str) -> dict[str, Any]:
    row = None
    if has_prefix(text_id, "ctv"):
        row = conn.execute(f"SELECT {_TEXT_COLS} FROM consent_texts WHERE id = %s", [text_id]).fetchone()
    if row is None:
        raise errors.not_found("consent text", text_id)
    return render_text(row)


def publish_text(conn: psycopg.Connection, *, kind: Any, title: Any, body: Any, language: str = "zh-CN") -> dict[str, Any]:
    """A new version of a consent text (the previous versions stay, unchanged)."""
    if kind not in KINDS:
        raise field_error(errors.VALIDATION, "/kind", "kind must be one of " + ", ".join(KINDS))
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 5))", ["consent_texts " + kind])
    row = conn.execute(
        f"INSERT INTO consent_texts (id, kind, version, language, title, body, sha256) "
        f"SELECT %s, %s, coalesce(max(version), 0) + 1, %s, %s, %s, %s FROM consent_texts WHERE kind = %s "
        f"RETURNING {_TEXT_COLS}",
        [new_id("ctv"), kind, language, title, body, hashlib.sha256(body.encode()).digest(), kind]).fetchone()
    return render_text(row)


# --- consents ----------------------------------------------------------------------------------------

def render_consent(row: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "object": "consent",
        "id": row["id"],
        "mobile": row["mobile"],
        "verification_code": row["verification_code_id"],
        "accepted_at": iso_ts(row["accepted_at"]),
        "ip_address": str(row["ip_address"]) if row["ip_address"] is not None else None,
        "user_agent": row["user_agent"],
        "device_id": row["device_id"],
        "consent_texts": [{"id": i["consent_text_id"], "kind": i["kind"], "version": i["version"],
                           "sha256": bytes(i["text_sha256"]).hex()} for i in items],
        "livemode": row["livemode"],
    }


def _load_consent(conn: psycopg.Connection, consent_id: str) -> dict[str, Any]:
    row = None
    if has_prefix(consent_id, "cns"):
        row = conn.execute("SELECT * FROM consents WHERE id = %s AND livemode = %s",
                           [consent_id, _livemode()]).fetchone()
    if row is None:
        raise errors.not_found("consent", consent_id)
    items = conn.execute("SELECT * FROM consent_acceptances WHERE consent_id = %s ORDER BY kind",
                         [consent_id]).fetchall()
    return render_consent(row, items)


def get_consent(conn: psycopg.Connection, consent_id: str) -> dict[str, Any]:
    return _load_consent(conn, consent_id)


def _texts_to_accept(conn: psycopg.Connection, text_ids: list[str]) -> list[dict[str, Any]]:
    chosen: dict[str, dict[str, Any]] = {}
    for i, text_id in enumerate(text_ids):
        pointer = f"/consent_texts/{i}"
        row = None
        if isinstance(text_id, str) and has_prefix(text_id, "ctv"):
            row = conn.execute("SELECT t.id, t.kind, t.version, t.sha256, "
                               "(SELECT max(version) FROM consent_texts c WHERE c.kind = t.kind) AS latest "
                               "FROM consent_texts t WHERE t.id = %s", [text_id]).fetchone()
        if row is None:
            raise field_error(errors.NOT_FOUND, pointer, f"No consent text with id {text_id}.")
        if row["version"] != row["latest"]:
            raise field_error(CONSENT_TEXT_OUTDATED, pointer,
                              f"Consent text {text_id} is version {row['version']} of {row['kind']}; "
                              f"the current version is {row['latest']}.")
        if row["kind"] in chosen:
            raise field_error(CONSENT_TEXTS_INCOMPLETE, pointer, f"{row['kind']} is given twice.")
        chosen[row["kind"]] = row
    missing = [k for k in REQUIRED_FOR_REGISTRATION if k not in chosen]
    if missing:
        raise field_error(CONSENT_TEXTS_INCOMPLETE, "/consent_texts", "missing: " + ", ".join(missing))
    return [chosen[k] for k in sorted(chosen)]


def create_consent(conn: psycopg.Connection, doc: dict[str, Any]) -> dict[str, Any]:
    """Record the acceptance of the current consent texts with a verified registration code
    (which this uses up), in the caller's transaction."""
    text_ids = doc.get("consent_texts")
    if not isinstance(text_ids, list) or not text_ids:
        raise field_error(CONSENT_TEXTS_INCOMPLETE, "/consent_texts", "consent_texts must list the texts accepted")
    ip = codes.parse_ip(doc.get("ip_address"))
    texts = _texts_to_accept(conn, text_ids)
    code = codes.consume_verification(conn, str(doc.get("verification_code") or ""), "registration")
    consent_id = new_id("cns")
    row = conn.execute(
        "INSERT INTO consents (id, mobile, verification_code_id, ip_address, user_agent, device_id, accepted_at, "
        "livemode) VALUES (%s, %s, %s, %s::inet, %s, %s, %s, %s) RETURNING *",
        [consent_id, code["mobile"], code["id"], ip, doc.get("user_agent"), doc.get("device_id"), codes.now(),
         _livemode()]).fetchone()
    items = []
    for t in texts:
        items.append(conn.execute(
            "INSERT INTO consent_acceptances (consent_id, consent_text_id, kind, version, text_sha256) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING *",
            [consent_id, t["id"], t["kind"], t["version"], t["sha256"]]).fetchone())
    return render_consent(row, items)

