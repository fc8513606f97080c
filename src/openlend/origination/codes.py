"""One-time verification codes by SMS: issue, verify, and consume a verified code.

A code is 6 random digits (``secrets``), purpose-bound (registration, login, drawdown
confirmation), sent through the configured :class:`~.sms.SmsSender`, and stored only as
HMAC-SHA256 under the OTP key over ``id, purpose, mobile, code``; it is never stored, returned,
logged or put into an error.  It lives ``otp_ttl_seconds`` (5 minutes), verifies once, is locked
after ``otp_max_attempts`` (5) wrong tries, and is superseded by the next code sent for the same
number and purpose.  Sending is limited: ``otp_resend_seconds`` (60 s) between two codes to one
number, ``otp_per_mobile_per_hour`` (5) per number and ``otp_per_ip_per_hour`` (20) per client IP in
any rolling hour; a refusal is 429 with ``Retry-After``.

Two departures from "an error writes nothing", both on purpose: a wrong code's attempt is
committed before the 422 (else locking could never happen), and a code whose SMS failed is kept
with status ``failed`` (audit; it counts toward no limit and verifies never).

Time comes from :func:`now`, which tests replace to move the clock.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import ipaddress
import math
import re
import secrets
from typing import Any

import phonenumbers
import psycopg

from .. import errors
from ..db import Database
from ..errors import Problem, field_error, problem_type
from ..ids import has_prefix, new_id
from ..settings import get_settings
from ..web import iso_ts
from .settings import get_origination_settings
from .sms import SmsSender, SmsSendError, get_sms_sender

PURPOSES = ("registration", "login", "drawdown_confirmation")
_PURPOSE_TEXT = {"registration": "注册", "login": "登录", "drawdown_confirmation": "借款确认"}
_E164_CN_MOBILE = re.compile(r"^\+861[3-9][0-9]{9}$")
_HOUR = dt.timedelta(hours=1)

RESEND_TOO_EARLY = problem_type(
    "verification-code-resend-too-early", "Too early for another code", 429,
    "A code was sent to this number less than a minute ago (OPENLEND_OTP_RESEND_SECONDS); wait for "
    "Retry-After seconds. The code already sent stays valid.")
CODE_INCORRECT = problem_type(
    "verification-code-incorrect", "Incorrect code", 422,
    "The code does not match; `attempts_remaining` says how many tries are left before the code is locked.")
CODE_EXPIRED = problem_type(
    "verification-code-expired", "Code expired", 409,
    "The code's time is up (5 minutes by default); request a new one.")
CODE_LOCKED = problem_type(
    "verification-code-locked", "Code locked", 409,
    "Too many wrong codes were given (5 by default); this code can no longer be verified. Request a new one.")
CODE_USED = problem_type(
    "verification-code-used", "Code already used", 409,
    "The code was already verified (or its verification already used); a code works once.")
CODE_SUPERSEDED = problem_type(
    "verification-code-superseded", "Code superseded", 409,
    "A newer code was sent to this number for the same purpose; only the newest one verifies.")
VERIFICATION_REQUIRED = problem_type(
    "verification-required", "Verification required", 409,
    "This needs a verification code that was verified (POST /v1/verification-codes/{id}/verify) for the "
    "right purpose within the last 15 minutes (OPENLEND_OTP_VERIFIED_WINDOW_SECONDS).")
SMS_SEND_FAILED = problem_type(
    "sms-send-failed", "SMS not sent", 502,
    "The SMS centre could not be reached or refused the message; no code was sent. Retry later.")


def now() -> dt.datetime:
    """The clock every rule here reads (tests replace it)."""
    return dt.datetime.now(dt.timezone.utc)


def _livemode() -> bool:
    return get_settings().livemode


# --- inputs ------------------------------------------------------------------------------------------

def normalise_mobile(value: Any, field: str = "/mobile") -> str:
    """A mainland China mobile number in E.164 (``+8613812345678``) by ``phonenumbers`` (national
    ``13812345678``, ``+86 138 1234 5678``, ``008613812345678``, ...), else a 422 problem."""
    if not isinstance(value, str) or len(value) > 32:
        raise field_error(errors.VALIDATION, field, "mobile must be a string of at most 32 characters")
    try:
        number = phonenumbers.parse(value, "CN")
    except phonenumbers.NumberParseException:
        raise field_error(errors.VALIDATION, field, "mobile is not a phone number") from None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    kind = phonenumbers.number_type(number)
    if (number.country_code != 86 or not phonenumbers.is_valid_number(number)
            or kind not in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
            or not _E164_CN_MOBILE.match(e164)):
        raise field_error(errors.VALIDATION, field, "mobile must be a mainland China mobile number (+86 1xx xxxx xxxx)")
    return e164


def parse_purpose(value: Any, field: str = "/purpose") -> str:
    if value not in PURPOSES:
        raise field_error(errors.VALIDATION, field, "purpose must be one of " + ", ".join(PURPOSES))
    return value


def parse_ip(value: Any, field: str = "/ip_address") -> str | None:
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise field_error(errors.VALIDATION, field, "ip_address must be an IPv4 or IPv6 address") from None


# --- the code and its hash ---------------------------------------------------------------------------

def _otp_key() -> bytes:
    s = get_origination_settings()
    if s.otp_key:
        try:
            key = base64.b64decode(s.otp_key.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise RuntimeError("OPENLEND_OTP_KEY is not valid base64") from None
        if len(key) < 32:
            raise RuntimeError("OPENLEND_OTP_KEY must be at least 32 bytes (base64 of 32 random bytes)")
        return key
    # No key of its own: a sub-key of the personal-data look-up key (one secret, separated by label).
    from ..customers import crypto
    return hmac.new(crypto.keyring().mac_key, b"openlend/verification-code/hmac-sha256/v1", hashlib.sha256).digest()


def code_hash(code_id: str, purpose: str, mobile: str, code: str) -> bytes:
    """HMAC-SHA256 of the code bound to its id, purpose and number: a stored hash reveals nothing
    without the key, and cannot be replayed for another code, purpose or number."""
    msg = "\x00".join((code_id, purpose, mobile, code)).encode()
    return hmac.new(_otp_key(), msg, hashlib.sha256).digest()


def sms_text(code: str, purpose: str, ttl_seconds: int) -> str:
    s = get_origination_settings()
    minutes = max(1, ttl_seconds // 60)
    return (f"{s.sms_signature}您的{_PURPOSE_TEXT[purpose]}验证码是{code}，{minutes}分钟内有效。"
            f"请勿将验证码告诉他人。")


# --- rendering ---------------------------------------------------------------------------------------

_COLS = ("id, mobile, purpose, status, attempts, max_attempts, sms_status, livemode, created_at, expires_at, "
         "resend_after, verified_at, consumed_at")


def public_status(row: dict[str, Any], at: dt.datetime) -> str:
    if row["status"] == "active":
        return "expired" if at >= row["expires_at"] else "pending"
    return row["status"]


def render(row: dict[str, Any], at: dt.datetime) -> dict[str, Any]:
    return {
        "object": "verification_code",
        "id": row["id"],
        "mobile": row["mobile"],
        "purpose": row["purpose"],
        "status": public_status(row, at),
        "attempts_remaining": max(0, row["max_attempts"] - row["attempts"]),
        "expires_at": iso_ts(row["expires_at"]),
        "resend_after": iso_ts(row["resend_after"]),
        "verified_at": iso_ts(row["verified_at"]),
        "sms_status": row["sms_status"],
        "created_at": iso_ts(row["created_at"]),
        "livemode": row["livemode"],
    }


def _retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def _lock(conn: psycopg.Connection, name: str) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 5))", [name])


# --- issue -------------------------------------------------------------------------------------------

def _check_limits(conn: psycopg.Connection, *, mobile: str, ip: str | None, t: dt.datetime) -> None:
    s = get_origination_settings()
    live = _livemode()
    recent = conn.execute(
        "SELECT created_at FROM verification_codes WHERE livemode = %s AND mobile = %s AND status <> 'failed' "
        "AND created_at > %s ORDER BY created_at", [live, mobile, t - _HOUR]).fetchall()
    if len(recent) >= s.otp_per_mobile_per_hour:
        wait = (recent[len(recent) - s.otp_per_mobile_per_hour]["created_at"] + _HOUR - t).total_seconds()
        raise Problem(errors.RATE_LIMITED,
                      f"At most {s.otp_per_mobile_per_hour} codes per number per hour; retry in {math.ceil(wait)} s.",
                      extra={"limit": "per_mobile"}, headers=_retry_after(wait))
    if recent:
        wait = (recent[-1]["created_at"] + dt.timedelta(seconds=s.otp_resend_seconds) - t).total_seconds()
        if wait > 0:
            raise Problem(RESEND_TOO_EARLY, f"A code was sent to this number moments ago; retry in {math.ceil(wait)} s.",
                          headers=_retry_after(wait))
    if ip is not None:
        by_ip = conn.execute(
            "SELECT created_at FROM verification_codes WHERE livemode = %s AND client_ip = %s::inet "
            "AND status <> 'failed' AND created_at > %s ORDER BY created_at", [live, ip, t - _HOUR]).fetchall()
        if len(by_ip) >= s.otp_per_ip_per_hour:
            wait = (by_ip[len(by_ip) - s.otp_per_ip_per_hour]["created_at"] + _HOUR - t).total_seconds()
            raise Problem(errors.RATE_LIMITED,
                          f"At most {s.otp_per_ip_per_hour} codes per IP address per hour; retry in {math.ceil(wait)} s.",
                          extra={"limit": "per_ip"}, headers=_retry_after(wait))


_RECEIPT_STATES = {"delivered", "undeliverable", "expired", "rejected", "unknown"}


def issue_code(database: Database, *, mobile: Any, purpose: Any, ip_address: Any = None,
               sender: SmsSender | None = None) -> dict[str, Any]:
    """Send a new code to ``mobile`` for ``purpose``: check the limits and write the hashed code
    (one transaction, serialised per number and per IP), send the SMS outside any transaction,
    then record the SMSC's message id and retire the number's older codes for the purpose."""
    mobile = normalise_mobile(mobile)
    purpose = parse_purpose(purpose)
    ip = parse_ip(ip_address)
    s = get_origination_settings()
    t = now()
    code = f"{secrets.randbelow(1_000_000):06d}"
    code_id = new_id("vc")
    with database.transaction() as conn:
        _lock(conn, "otp mobile " + mobile)   # always the number first, then the IP: no deadlock
        if ip is not None:
            _lock(conn, "otp ip " + ip)
        _check_limits(conn, mobile=mobile, ip=ip, t=t)
        conn.execute(
            "INSERT INTO verification_codes (id, mobile, purpose, code_hash, max_attempts, client_ip, livemode, "
            "created_at, expires_at, resend_after) VALUES (%s, %s, %s, %s, %s, %s::inet, %s, %s, %s, %s)",
            [code_id, mobile, purpose, code_hash(code_id, purpose, mobile, code), s.otp_max_attempts, ip,
             _livemode(), t, t + dt.timedelta(seconds=s.otp_ttl_seconds),
             t + dt.timedelta(seconds=s.otp_resend_seconds)])
    try:
        sent = (sender or get_sms_sender()).send(mobile, sms_text(code, purpose, s.otp_ttl_seconds))
    except SmsSendError as exc:
        with database.transaction() as conn:
            conn.execute("UPDATE verification_codes SET status = 'failed', sms_status = 'failed' WHERE id = %s",
                         [code_id])
        raise Problem(SMS_SEND_FAILED, f"The code could not be sent: {exc}") from None
    finally:
        del code  # nothing below may see it
    with database.transaction() as conn:
        conn.execute("UPDATE verification_codes SET sms_message_id = %s, sms_status = 'submitted' WHERE id = %s",
                     [sent.message_ids[0] if sent.message_ids else None, code_id])
        conn.execute("UPDATE verification_codes SET status = 'superseded' WHERE livemode = %s AND mobile = %s "
                     "AND purpose = %s AND status = 'active' AND id <> %s", [_livemode(), mobile, purpose, code_id])
        for receipt in sent.receipts:
            conn.execute("UPDATE verification_codes SET sms_status = %s WHERE sms_message_id = %s",
                         [receipt.state if receipt.state in _RECEIPT_STATES else "unknown", receipt.message_id])
        row = conn.execute(f"SELECT {_COLS} FROM verification_codes WHERE id = %s", [code_id]).fetchone()
    return render(row, t)


# --- verify ------------------------------------------------------------------------------------------

def _load_for_update(conn: psycopg.Connection, code_id: str) -> dict[str, Any]:
    row = None
    if has_prefix(code_id, "vc"):
        row = conn.execute(f"SELECT {_COLS}, code_hash FROM verification_codes WHERE id = %s AND livemode = %s "
                           f"FOR UPDATE", [code_id, _livemode()]).fetchone()
    if row is None:
        raise errors.not_found("verification code", code_id)
    return row


def _refuse_unusable(row: dict[str, Any], t: dt.datetime) -> None:
    status = public_status(row, t)
    if status in ("verified", "consumed"):
        raise Problem(CODE_USED, f"Verification code {row['id']} was already used.")
    if status == "locked":
        raise Problem(CODE_LOCKED, f"Verification code {row['id']} is locked after too many wrong codes; "
                                   f"request a new one.")
    if status == "superseded":
        raise Problem(CODE_SUPERSEDED, f"A newer code was sent after {row['id']}; use that one.")
    if status in ("expired", "failed"):
        raise Problem(CODE_EXPIRED, f"Verification code {row['id']} has expired; request a new one.")


def get_code(conn: psycopg.Connection, code_id: str) -> dict[str, Any]:
    row = None
    if has_prefix(code_id, "vc"):
        row = conn.execute(f"SELECT {_COLS} FROM verification_codes WHERE id = %s AND livemode = %s",
                           [code_id, _livemode()]).fetchone()
    if row is None:
        raise errors.not_found("verification code", code_id)
    return render(row, now())


def verify_code(database: Database, code_id: str, code: Any) -> dict[str, Any]:
    """Check ``code`` against verification code ``code_id`` (constant-time comparison of HMACs).
    Right: the code is verified (once). Wrong: the attempt is committed, then 422 with the attempts
    left, or 409 locked when none are."""
    t = now()
    given = code if isinstance(code, str) else ""
    wrong: Problem | None = None
    with database.transaction() as conn:
        row = _load_for_update(conn, code_id)
        _refuse_unusable(row, t)
        expected = bytes(row["code_hash"])
        actual = code_hash(row["id"], row["purpose"], row["mobile"], given)
        if hmac.compare_digest(expected, actual):
            row = conn.execute(f"UPDATE verification_codes SET status = 'verified', verified_at = %s WHERE id = %s "
                               f"RETURNING {_COLS}", [t, row["id"]]).fetchone()
            return render(row, t)
        attempts = row["attempts"] + 1
        locked = attempts >= row["max_attempts"]
        conn.execute("UPDATE verification_codes SET attempts = %s, status = %s WHERE id = %s",
                     [attempts, "locked" if locked else "active", row["id"]])
        left = row["max_attempts"] - attempts
        if locked:
            wrong = Problem(CODE_LOCKED, f"Wrong code; verification code {row['id']} is now locked. "
                                         f"Request a new one.", extra={"attempts_remaining": 0})
        else:
            wrong = field_error(CODE_INCORRECT, "/code", f"Wrong code; {left} attempt(s) left.",
                                attempts_remaining=left)
    raise wrong  # after the commit: the attempt counts


def consume_verification(conn: psycopg.Connection, code_id: str, purpose: str, *,
                         pointer: str = "/verification_code") -> dict[str, Any]:
    """Use a verified code once for ``purpose`` (in the caller's transaction): the code must be
    verified, for this purpose, within the verified window, and not used before. Returns its row."""
    t = now()
    row = _load_for_update(conn, code_id) if has_prefix(code_id, "vc") else None
    if row is None:
        raise field_error(errors.NOT_FOUND, pointer, f"No verification code with id {code_id}.")
    window = dt.timedelta(seconds=get_origination_settings().otp_verified_window_seconds)
    if row["purpose"] != purpose:
        raise field_error(VERIFICATION_REQUIRED, pointer,
                          f"Verification code {code_id} is for {row['purpose']}, not {purpose}.")
    if row["status"] == "consumed":
        raise field_error(CODE_USED, pointer, f"Verification code {code_id} was already used.")
    if row["status"] != "verified":
        raise field_error(VERIFICATION_REQUIRED, pointer, f"Verification code {code_id} has not been verified.")
    if t > row["verified_at"] + window:
        raise field_error(CODE_EXPIRED, pointer, f"Verification code {code_id} was verified too long ago; "
                                                 f"verify a new code.")
    conn.execute("UPDATE verification_codes SET status = 'consumed', consumed_at = %s WHERE id = %s", [t, code_id])
    return row

