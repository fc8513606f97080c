"""Credit applications: from a mobile number to an approved credit line, or a decline with reasons.

The state machine (every move recorded in ``application_events``; any other move is refused with
409 ``application-state``)::

    started --code--> code_verified --id card + selfie + factors--> identity_verified
      --consents--> consented --data--> data_collected --decision--> approved | manual_review | declined
    manual_review --review--> approved | declined
    approved --funder--> funder_approved --line--> line_opened    (or declined by the funder)
    any state before a decision --cancel--> cancelled

Every check is really performed: the code goes out by SMS (:mod:`openlend.origination.codes`), the
ID card is read by OCR and checked (:mod:`openlend.identity.idcard`), the selfie is compared with the
card's portrait (:mod:`openlend.identity.face`), the factors are asked of the data provider, and the
decision (:mod:`.decision`) asks the bureau, the court list, the multi-lending service and the
carrier at once, scores, runs the anti-fraud model and the policy, and records everything.

ID numbers, bank-card numbers and images are stored encrypted (the customers' keyring: AES-256-GCM
with key ids, rotation without downtime), looked up by keyed hash, shown masked.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from .. import errors
from ..customers import crypto
from ..customers import service as customers
from ..db import Database
from ..errors import Problem, field_error
from ..ids import has_prefix, new_id
from ..listing import id_cursor, page
from ..origination import codes
from ..risk.providers import mask_card
from ..settings import get_settings
from ..web import iso_ts

APPLICATION_STATE = errors.problem_type(
    "application-state", "Not allowed in the application's state", 409,
    "The application is not in a state that allows this step (see the state machine in the API docs).")
ID_CARD_REJECTED = errors.problem_type(
    "id-card-rejected", "ID card rejected", 422,
    "The ID card did not pass its checks (fields that did not read, check digit, dates, validity); "
    "`failures` lists each one. Take a clearer photo and send it again.")
FACE_REJECTED = errors.problem_type(
    "face-rejected", "Face check failed", 422,
    "The selfie could not be compared with the ID card's portrait (no face, several faces, unreadable "
    "image), or the liveness challenge failed.")

MAX_IMAGE_BYTES = 8 * 1024 * 1024
BEFORE_DECISION = ("started", "code_verified", "identity_verified", "consented", "data_collected")


def _livemode() -> bool:
    return get_settings().livemode


# --- encryption of documents --------------------------------------------------------------------

def encrypt_bytes(data: bytes) -> tuple[bytes, str]:
    """Envelope encryption: a fresh 256-bit data key per document encrypts it (AES-256-GCM); the data
    key is wrapped by the current key of the keyring (the key id is kept).  Rotating the keyring
    re-wraps 60-byte data keys, never re-encrypts images.  Layout: ``len(wrapped) (2 bytes) || wrapped
    || nonce (12) || ciphertext+tag``."""
    import os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    dek = AESGCM.generate_key(bit_length=256)
    wrapped, kid = crypto.keyring().encrypt(base64.b64encode(dek).decode())
    nonce = os.urandom(12)
    body = AESGCM(dek).encrypt(nonce, data, b"openlend.document")
    return len(wrapped).to_bytes(2, "big") + wrapped + nonce + body, kid


def decrypt_bytes(blob: bytes, key_id: str) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    blob = bytes(blob)
    n = int.from_bytes(blob[:2], "big")
    dek = base64.b64decode(crypto.keyring().decrypt(blob[2:2 + n], key_id))
    nonce, body = blob[2 + n:14 + n], blob[14 + n:]
    return AESGCM(dek).decrypt(nonce, body, b"openlend.document")


def decode_image(value: Any, pointer: str) -> bytes:
    """A base64 image from a JSON body (at most 8 MB)."""
    if not isinstance(value, str) or not value:
        raise field_error(errors.VALIDATION, pointer, "an image as a base64 string")
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise field_error(errors.VALIDATION, pointer, "not valid base64") from None
    if not data or len(data) > MAX_IMAGE_BYTES:
        raise field_error(errors.VALIDATION, pointer, f"an image of 1 byte to {MAX_IMAGE_BYTES} bytes")
    return data


def _store_document(conn: psycopg.Connection, app_id: str, kind: str, data: bytes) -> None:
    cipher, kid = encrypt_bytes(data)
    conn.execute(
        "INSERT INTO application_documents (application_id, kind, cipher, key_id, sha256, content_type) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (application_id, kind) DO UPDATE SET cipher = EXCLUDED.cipher, "
        "key_id = EXCLUDED.key_id, sha256 = EXCLUDED.sha256, created_at = now()",
        [app_id, kind, cipher, kid, hashlib.sha256(data).digest(), _content_type(data)])


def load_document(conn: psycopg.Connection, app_id: str, kind: str) -> bytes | None:
    r = conn.execute("SELECT cipher, key_id FROM application_documents WHERE application_id = %s AND kind = %s",
                     [app_id, kind]).fetchone()
    return None if r is None else decrypt_bytes(bytes(r["cipher"]), r["key_id"])


def _content_type(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    return "application/octet-stream"


# --- rows, rendering, transitions ---------------------------------------------------------------

def _check_id(app_id: str) -> None:
    if not has_prefix(app_id, "app"):
        raise errors.not_found("application", app_id)


def load(conn: psycopg.Connection, app_id: str, *, for_update: bool = False) -> dict[str, Any]:
    _check_id(app_id)
    row = conn.execute("SELECT * FROM applications WHERE id = %s AND livemode = %s"
                       + (" FOR UPDATE" if for_update else ""), [app_id, _livemode()]).fetchone()
    if row is None:
        raise errors.not_found("application", app_id)
    return row


def _money(v: Decimal | None) -> str | None:
    return None if v is None else format(v.quantize(Decimal("0.01")), "f")


def render(row: dict[str, Any]) -> dict[str, Any]:
    face = row["face"] or None
    return {
        "object": "application",
        "id": row["id"],
        "status": row["status"],
        "product_id": row["product_id"],
        "mobile": mask_mobile(row["mobile"]),
        "verification_code_id": row["verification_code_id"],
        "consent_id": row["consent_id"],
        "applicant": {"name": row["name"], "sex": row["sex"],
                      "birth_date": row["birth_date"].isoformat() if row["birth_date"] else None,
                      "id_number_masked": row["id_number_masked"], "bank_card_masked": row["bank_card_masked"]},
        "id_card": row["id_card"],
        "face": face,
        "factors": row["factors"],
        "declared": row["applicant"],
        "decision_id": row["decision_id"],
        "outcome": row["outcome"],
        "approved_limit": _money(row["approved_limit"]),
        "approved_rate": None if row["approved_rate"] is None else format(row["approved_rate"].normalize(), "f"),
        "funder": {"code": row["funder_code"], "reference": row["funder_reference"]} if row["funder_code"] else None,
        "customer_id": row["customer_id"],
        "credit_line_id": row["line_id"],
        "livemode": row["livemode"],
        "created_at": iso_ts(row["created_at"]),
        "updated_at": iso_ts(row["updated_at"]),
    }


def _refuse_state(row: dict[str, Any], allowed: tuple[str, ...], step: str) -> None:
    if row["status"] not in allowed:
        raise Problem(APPLICATION_STATE,
                      f"Application {row['id']} is {row['status']}; {step} needs it to be "
                      + " or ".join(allowed) + ".", extra={"status": row["status"], "allowed": list(allowed)})


def move(conn: psycopg.Connection, row: dict[str, Any], to: str, *, actor: str = "applicant",
         note: str | None = None, details: dict[str, Any] | None = None, **sets: Any) -> dict[str, Any]:
    """Set the status (and ``sets`` columns) and record the event; the new row."""
    cols = {"status": to, **sets}
    assign = ", ".join(f"{k} = %({k})s" for k in cols)
    params = {k: (Jsonb(v) if isinstance(v, (dict, list)) else v) for k, v in cols.items()}
    new = conn.execute(f"UPDATE applications SET {assign}, updated_at = now() WHERE id = %(app_id)s RETURNING *",
                       {**params, "app_id": row["id"]}).fetchone()
    conn.execute("INSERT INTO application_events (application_id, from_status, to_status, actor, note, details) "
                 "VALUES (%s, %s, %s, %s, %s, %s)", [row["id"], row["status"], to, actor, note, Jsonb(details or {})])
    return new


# --- the steps ----------------------------------------------------------------------------------

def create(database: Database, *, mobile: Any, product_id: Any, device_id: Any = None,
           ip_address: Any = None) -> dict[str, Any]:
    """Start an application and send its registration code by SMS; the application and the code
    (without the code itself)."""
    mobile = codes.normalise_mobile(mobile)
    ip = codes.parse_ip(ip_address)
    if device_id is not None and (not isinstance(device_id, str) or not 1 <= len(device_id) <= 200):
        raise field_error(errors.VALIDATION, "/device_id", "a device fingerprint of 1 to 200 characters")
    with database.transaction() as conn:
        prod = None
        if isinstance(product_id, str) and has_prefix(product_id, "prod"):
            prod = conn.execute("SELECT id, status FROM loan_products WHERE id = %s AND livemode = %s",
                                [product_id, _livemode()]).fetchone()
        if prod is None:
            raise field_error(errors.NOT_FOUND, "/product_id", f"No loan product with id {product_id}.")
        if prod["status"] != "active":
            raise field_error(errors.VALIDATION, "/product_id", f"Loan product {product_id} is retired.")
    code = codes.issue_code(database, mobile=mobile, purpose="registration", ip_address=ip)
    app_id = new_id("app")
    with database.transaction() as conn:
        row = conn.execute(
            "INSERT INTO applications (id, product_id, mobile, status, verification_code_id, device_id, client_ip, "
            "livemode) VALUES (%s, %s, %s, 'started', %s, %s, %s::inet, %s) RETURNING *",
            [app_id, product_id, mobile, code["id"], device_id, ip, _livemode()]).fetchone()
        conn.execute("INSERT INTO application_events (application_id, from_status, to_status, actor) "
                     "VALUES (%s, NULL, 'started', 'applicant')", [app_id])
    return {**render(row), "verification_code": code}


def resend_code(database: Database, app_id: str, *, ip_address: Any = None) -> dict[str, Any]:
    with database.transaction() as conn:
        row = load(conn, app_id)
        _refuse_state(row, ("started", "code_verified", "identity_verified"), "a new code")
    code = codes.issue_code(database, mobile=row["mobile"], purpose="registration",
                            ip_address=ip_address or (str(row["client_ip"]) if row["client_ip"] else None))
    with database.transaction() as conn:
        conn.execute("UPDATE applications SET verification_code_id = %s, updated_at = now() WHERE id = %s",
                     [code["id"], app_id])
        row = load(conn, app_id)
    return {**render(row), "verification_code": code}


def verify_code(database: Database, app_id: str, code: Any) -> dict[str, Any]:
    with database.transaction() as conn:
        row = load(conn, app_id)
        _refuse_state(row, ("started", "code_verified", "identity_verified"), "verifying the code")
    codes.verify_code(database, row["verification_code_id"], code)   # a wrong code raises (attempt counted)
    with database.transaction() as conn:
        row = load(conn, app_id, for_update=True)
        if row["status"] == "started":
            row = move(conn, row, "code_verified")
        return render(row)


def _field_json(f) -> dict[str, Any]:
    v = f.value
    return {"value": v.isoformat() if isinstance(v, dt.date) else v, "confidence": round(float(f.confidence), 4)}


def submit_id_card(database: Database, app_id: str, *, front: bytes, back: bytes,
                   as_of: dt.date | None = None) -> dict[str, Any]:
    """Read both sides by OCR and check them; store the number encrypted and the images encrypted.
    A card that fails a check is 422 ``id-card-rejected`` with every failure, and nothing is kept."""
    from ..identity import idcard

    with database.transaction() as conn:
        row = load(conn, app_id)
        _refuse_state(row, ("code_verified",), "the ID card")
    f, b = idcard.read_front(front), idcard.read_back(back)
    result = idcard.check(f, b, as_of=as_of or dt.date.today())
    if not result.passed:
        raise Problem(ID_CARD_REJECTED, f"The ID card did not pass {len(result.failures)} check(s).",
                      extra={"failures": [{"code": x.code, "field": x.field, "detail": x.detail}
                                          for x in result.failures]})
    number = customers.normalise_id_number(f.number.value, "/front")
    fields = {k: _field_json(v) for k, v in {**f.fields(), **b.fields()}.items()}
    fields["number"] = {"value": customers.mask_id_number(number), "confidence": fields["number"]["confidence"]}
    fields["address"] = {"value": "(kept encrypted)", "confidence": fields["address"]["confidence"]}
    # the address only as a keyed hash (whitespace dropped): the anti-fraud velocity of shared addresses
    address_hash = crypto.keyring().lookup_hash("".join(str(f.address.value).split()), "address").hex()
    cipher, kid = crypto.keyring().encrypt(number)
    with database.transaction() as conn:
        row = load(conn, app_id, for_update=True)
        _refuse_state(row, ("code_verified",), "the ID card")
        _store_document(conn, app_id, "id_front", front)
        _store_document(conn, app_id, "id_back", back)
        conn.execute(
            "UPDATE applications SET name = %s, sex = %s, birth_date = %s, id_number_cipher = %s, "
            "id_number_key_id = %s, id_number_hash = %s, id_number_masked = %s, id_card = %s, updated_at = now() "
            "WHERE id = %s",
            [f.name.value, "M" if f.sex.value == "男" else "F", f.birth_date.value, cipher, kid,
             customers.id_number_hash(number), customers.mask_id_number(number),
             Jsonb({"fields": fields, "checks": "passed", "address_hash": address_hash}), app_id])
        conn.execute("INSERT INTO application_events (application_id, from_status, to_status, actor, note) "
                     "VALUES (%s, %s, %s, 'applicant', 'id card read and checked')", [app_id, row["status"], row["status"]])
        return _maybe_identity_verified(conn, load(conn, app_id, for_update=True))


def submit_selfie(database: Database, app_id: str, *, selfie: bytes, frames: list[bytes] | None = None,
                  challenge: str | None = None) -> dict[str, Any]:
    """Compare the selfie with the ID card's portrait (and check liveness when frames come with a
    challenge).  The score is stored whatever it is: the policy decides what a low score means."""
    from ..identity import face, liveness

    with database.transaction() as conn:
        row = load(conn, app_id)
        _refuse_state(row, ("code_verified",), "the selfie")
        portrait = load_document(conn, app_id, "id_front")
    if portrait is None:
        raise Problem(APPLICATION_STATE, f"Application {app_id} has no ID card yet: send the ID card first.",
                      extra={"status": row["status"], "allowed": ["code_verified"]})
    try:
        m = face.compare(selfie, portrait)
    except face.FaceError as exc:
        raise Problem(FACE_REJECTED, str(exc), extra={"code": getattr(exc, "code", "face-error")}) from None
    out: dict[str, Any] = {"score": m.score, "distance": m.distance, "threshold": m.threshold, "match": m.match,
                           "notes": list(m.quality_notes)}
    if frames:
        lv = liveness.check_liveness(frames, challenge or "blink")
        out["liveness"] = {"passed": lv.passed, "challenge": lv.challenge, "code": lv.code, "detail": lv.detail}
        if not lv.passed:
            raise Problem(FACE_REJECTED, f"The liveness challenge failed: {lv.detail}", extra={"code": lv.code})
    with database.transaction() as conn:
        row = load(conn, app_id, for_update=True)
        _refuse_state(row, ("code_verified",), "the selfie")
        _store_document(conn, app_id, "selfie", selfie)
        conn.execute("UPDATE applications SET face = %s, updated_at = now() WHERE id = %s", [Jsonb(out), app_id])
        return _maybe_identity_verified(conn, load(conn, app_id, for_update=True))


def _maybe_identity_verified(conn: psycopg.Connection, row: dict[str, Any]) -> dict[str, Any]:
    """code_verified -> identity_verified once the card, the face and the factors are all in."""
    if row["status"] == "code_verified" and row["id_card"] and row["face"] and row["factors"]:
        row = move(conn, row, "identity_verified", details={"face_score": row["face"]["score"],
                                                            "factors": row["factors"].get("summary")})
    return render(row)


def reveal_id_number(row: dict[str, Any]) -> str:
    return crypto.keyring().decrypt(bytes(row["id_number_cipher"]), row["id_number_key_id"])


def submit_consents(database: Database, app_id: str, *, consent_texts: Any, ip_address: Any = None,
                    user_agent: Any = None) -> dict[str, Any]:
    from ..origination import consents

    with database.transaction() as conn:
        row = load(conn, app_id, for_update=True)
        _refuse_state(row, ("identity_verified",), "the consents")
        c = consents.create_consent(conn, {"consent_texts": consent_texts, "verification_code": row["verification_code_id"],
                                           "ip_address": ip_address or (str(row["client_ip"]) if row["client_ip"] else None),
                                           "user_agent": user_agent, "device_id": row["device_id"]})
        return render(move(conn, row, "consented", consent_id=c["id"], details={"consent_id": c["id"]}))


def cancel(database: Database, app_id: str, *, reason: str | None = None) -> dict[str, Any]:
    with database.transaction() as conn:
        row = load(conn, app_id, for_update=True)
        _refuse_state(row, BEFORE_DECISION, "cancelling")
        return render(move(conn, row, "cancelled", note=reason))


def get(conn: psycopg.Connection, app_id: str) -> dict[str, Any]:
    return render(load(conn, app_id))


def events(conn: psycopg.Connection, app_id: str) -> dict[str, Any]:
    load(conn, app_id)
    rows = conn.execute("SELECT from_status, to_status, actor, note, details, created_at FROM application_events "
                        "WHERE application_id = %s ORDER BY id", [app_id]).fetchall()
    return {"object": "list", "data": [{**r, "created_at": iso_ts(r["created_at"])} for r in rows],
            "has_more": False, "next_cursor": None}


def list_applications(conn: psycopg.Connection, *, status: str | None = None, limit: int = 20,
                      cursor: str | None = None) -> dict[str, Any]:
    after = id_cursor(cursor, "app", "an application id")
    rows = conn.execute(
        "SELECT * FROM applications WHERE livemode = %s AND (%s::text IS NULL OR status = %s) "
        "AND (%s::text IS NULL OR id < %s) ORDER BY id DESC LIMIT %s",
        [_livemode(), status, status, after, after, limit + 1]).fetchall()
    return page(rows, limit, render)


# --- factors (the data provider) ----------------------------------------------------------------

def mask_mobile(e164: str) -> str:
    """+86138****0001: what every response shows of a mobile number."""
    return e164[:6] + "****" + e164[-4:]


def normalise_card(value: Any, pointer: str = "/bank_card") -> str:
    """A bank card number: 12 to 19 digits with a valid Luhn check digit."""
    from stdnum import luhn

    card = "".join(str(value or "").split())
    if not card.isdigit() or not 12 <= len(card) <= 19 or not luhn.is_valid(card):
        raise field_error(errors.VALIDATION, pointer, "a bank card number: 12 to 19 digits with a valid check digit")
    return card


def submit_factors(database: Database, app_id: str, *, bank_card: Any = None, providers=None) -> dict[str, Any]:
    """2-factor (name + ID number), 3-factor (+ mobile) and, with a bank card, 4-factor checks and
    the carrier's data for the number, from the data provider.  A provider that fails or times out
    leaves that check ``not_checked`` with the error's kind: the policy refers such an application
    to manual review; nothing here is a 500."""
    from ..risk import providers as risk

    card = normalise_card(bank_card) if bank_card is not None else None
    with database.transaction() as conn:
        row = load(conn, app_id)
        _refuse_state(row, ("code_verified",), "the factor checks")
        if not row["id_number_cipher"]:
            raise Problem(APPLICATION_STATE, f"Application {app_id} has no ID card yet: send the ID card first.",
                          extra={"status": row["status"], "allowed": ["code_verified"]})
    id_number, name, mobile = reveal_id_number(row), row["name"], row["mobile"].removeprefix("+86")
    own = providers is None
    p = providers or risk.build_providers()
    out: dict[str, Any] = {}
    try:
        def call(key: str, fn, *args) -> None:
            try:
                r = fn(*args)
            except risk.ProviderError as exc:
                out[key] = {"result": "not_checked", "error": exc.kind}
                return
            if r is None:
                out[key] = {"result": "not_found"}
            elif isinstance(r, risk.FactorCheck):
                out[key] = {"result": r.result, "request_id": r.request_id}
            else:
                out[key] = {"carrier": r.carrier, "status": r.status, "tenure_months": r.tenure_months,
                            "request_id": r.request_id}
        call("two_factor", p.identity.two_factor, name, id_number)
        call("three_factor", p.identity.three_factor, name, id_number, mobile)
        if card:
            call("four_factor", p.identity.four_factor, name, id_number, mobile, card)
        call("carrier", p.carrier.profile, mobile)
    finally:
        if own:
            p.close()

    def verdict(key: str) -> str:
        r = out.get(key)
        if r is None or r["result"] == "not_checked":
            return "not_checked"
        return "pass" if r["result"] == "match" else "fail"

    out["summary"] = {"id_2factor": verdict("two_factor"), "id_3factor": verdict("three_factor"),
                      "id_4factor": verdict("four_factor")}
    with database.transaction() as conn:
        row = load(conn, app_id, for_update=True)
        _refuse_state(row, ("code_verified",), "the factor checks")
        conn.execute("UPDATE applications SET factors = %s, bank_card_hash = %s, bank_card_masked = %s, "
                     "updated_at = now() WHERE id = %s",
                     [Jsonb(out), crypto.keyring().lookup_hash(card, "bank_card") if card else None,
                      mask_card(card) if card else None, app_id])
        return _maybe_identity_verified(conn, load(conn, app_id, for_update=True))


# --- declared data ------------------------------------------------------------------------------

def submit_data(database: Database, app_id: str, doc: dict[str, Any]) -> dict[str, Any]:
    """The applicant's declared data: occupation, industry, housing, education, monthly income (the
    policy's inputs) and the scorecard's fields (``scorecard``).  Checked against the policy's and the
    scorecard's vocabularies now, so a decision never fails on a typo."""
    from . import decision

    declared = decision.check_declared(doc)
    with database.transaction() as conn:
        row = load(conn, app_id, for_update=True)
        _refuse_state(row, ("consented", "data_collected"), "the declared data")
        if row["status"] == "data_collected":
            conn.execute("UPDATE applications SET applicant = %s, updated_at = now() WHERE id = %s",
                         [Jsonb(declared), app_id])
            return render(load(conn, app_id))
        return render(move(conn, row, "data_collected", applicant=declared))
