"""The funding-bank stand-in: a lending-cooperation (助贷/联合贷) interface over HTTP/1.1 JSON.

The platform submits a credit application for the bank's approval; the bank applies its own rules
(:mod:`.rules`) and answers ``approved`` / ``declined`` / ``pending``.  A pending application is
decided after the rules' ``review_ms``; the platform polls ``GET /v1/applications/{id}`` or, when it
gave a ``callback_url``, receives the final state there as a signed ``POST``.

Routes (all need a signed request, see :mod:`.signing`; every answer the bank can sign is signed):

* ``POST /v1/applications``: submit; idempotent on ``application_id`` (the same id and body answer
  the application's current state with ``Idempotent-Replayed: true``; the same id with another body
  is 409 ``/problems/idempotency-conflict``);
* ``GET /v1/applications/{application_id}``: the current state (404 if unknown);
* ``GET /v1/quota``: today's quota, used and remaining;
* ``GET /healthz``: unsigned liveness.

Request headers: ``X-Partner-Id`` (which partner, hence which secret), ``X-Timestamp`` (Unix
seconds, within ``max_skew_s`` of the bank's clock), ``X-Nonce`` (never seen before within the skew
window) and ``X-Signature``.  Failures are 401 problem+json: ``/problems/signature-required``,
``/problems/unknown-partner``, ``/problems/clock-skew``, ``/problems/bad-signature``,
``/problems/replayed-request``.

Test applicants, by ``applicant.id_number_masked`` (region 999999 does not exist, so no real
person's masked number collides):

* ``999999********0408``: the bank sleeps ``hang_ms`` (default 30 s) before answering: a timeout;
* ``999999********0500``: the first submission of each application id answers 500, later ones
  are processed normally;
* ``999999********0202``: always referred to manual review (``pending``);
* ``999999********0401``: the answer carries a wrong signature.

The stand-in keeps everything in memory and logs route, status, time and application id: never a
person's data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from . import signing
from .rules import Application, DayUsage, Outcome, Rules, price, referred, screen

log = logging.getLogger("sim.funder")

MAX_BODY = 64 * 1024
BANK_TZ = dt.timezone(dt.timedelta(hours=8))  # the bank's business day is China's
TIMEOUT_APPLICANT = "999999********0408"
FAIL_ONCE_APPLICANT = "999999********0500"
REFER_APPLICANT = "999999********0202"
BAD_SIGNATURE_APPLICANT = "999999********0401"
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
CLEAR_ID_RE = re.compile(r"^\d{17}[\dXx]$")
AMOUNT_RE = re.compile(r"^\d{1,12}(\.\d{1,2})?$")
RATE_RE = re.compile(r"^\d{1,3}(\.\d{1,6})?$")
SUBMIT_FIELDS = {"application_id", "product_code", "applicant", "requested_limit", "requested_rate",
                 "decision_id", "callback_url"}
APPLICANT_FIELDS = {"id_number_masked", "age", "score", "score_band"}


class Problem(Exception):
    def __init__(self, status: int, type_: str, detail: str):
        super().__init__(detail)
        self.status, self.type, self.detail = status, type_, detail


@dataclass
class Config:
    bank_code: str
    partners: dict[str, str]              # partner id -> shared secret
    rules: Rules
    latency_ms: int = 0
    hang_ms: int = 30_000
    max_skew_s: int = 300
    callback_attempts: int = 3


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Record:
    partner: str
    app: Application
    decision_id: str
    fingerprint: str
    reference: str
    callback_url: str | None
    created_at: dt.datetime
    outcome: Outcome
    decided_at: dt.datetime | None = None
    callback_attempts: int = 0
    callback_delivered: bool = False

    def as_json(self, bank_code: str) -> dict[str, Any]:
        o = self.outcome
        return {
            "object": "funder_application", "funder": bank_code, "application_id": self.app.application_id,
            "funder_reference": self.reference, "decision_id": self.decision_id, "status": o.status,
            "approved_limit": None if o.approved_limit is None else
            {"amount": str(o.approved_limit), "currency": self.app.currency},
            "annual_rate": None if o.annual_rate is None else str(o.annual_rate),
            "decline_reason": o.decline_reason, "created_at": _iso(self.created_at),
            "decided_at": _iso(self.decided_at), "livemode": False,
        }


@dataclass
class Bank:
    """All the bank's state, behind one lock (a stand-in: correctness over throughput)."""

    config: Config
    lock: threading.Lock = field(default_factory=threading.Lock)
    records: dict[tuple[str, str], Record] = field(default_factory=dict)
    nonces: dict[str, float] = field(default_factory=dict)
    failed_once: set[tuple[str, str]] = field(default_factory=set)
    usage: DayUsage = field(default_factory=lambda: DayUsage(""))
    seq: int = 0

    # -- signatures --------------------------------------------------------------------------------

    def authenticate(self, method: str, path: str, headers: Any, body: bytes) -> str:
        """The partner id of a correctly signed, fresh, never-seen request; Problem otherwise."""
        partner = headers.get("X-Partner-Id")
        ts, nonce, sig = headers.get("X-Timestamp"), headers.get("X-Nonce"), headers.get("X-Signature")
        if not partner or not ts or not nonce or not sig:
            raise Problem(401, "/problems/signature-required",
                          "X-Partner-Id, X-Timestamp, X-Nonce and X-Signature are required")
        secret = self.config.partners.get(partner)
        if secret is None:
            raise Problem(401, "/problems/unknown-partner", "unknown X-Partner-Id")
        if not signing.NONCE_RE.match(nonce):
            raise Problem(401, "/problems/signature-required", "X-Nonce must be 16-64 characters [A-Za-z0-9_-]")
        try:
            skew = abs(time.time() - int(ts))
        except ValueError:
            raise Problem(401, "/problems/signature-required", "X-Timestamp must be Unix seconds") from None
        if skew > self.config.max_skew_s:
            raise Problem(401, "/problems/clock-skew",
                          f"X-Timestamp is {skew:.0f} s from the bank's clock (at most {self.config.max_skew_s})")
        if not signing.verify(secret, signing.request_string(method, path, ts, nonce, body), sig):
            raise Problem(401, "/problems/bad-signature", "X-Signature does not match the request")
        now = time.time()
        with self.lock:
            # Nonces older than the skew window cannot come back: their timestamp would be refused.
            if len(self.nonces) > 10_000:
                horizon = now - 2 * self.config.max_skew_s
                self.nonces = {n: t for n, t in self.nonces.items() if t >= horizon}
            key = f"{partner}:{nonce}"
            if key in self.nonces:
                raise Problem(401, "/problems/replayed-request", "this X-Nonce was already used")
            self.nonces[key] = now
        return partner

    # -- applications ------------------------------------------------------------------------------

    def _usage_today(self) -> DayUsage:
        day = _utcnow().astimezone(BANK_TZ).date().isoformat()
        if self.usage.day != day:
            self.usage = DayUsage(day)
        return self.usage

    def submit(self, partner: str, app: Application, decision_id: str, callback_url: str | None,
               fingerprint: str) -> tuple[Record, bool]:
        """(the record, whether it already existed).  Raises Problem for a fail-once first try."""
        key = (partner, app.application_id)
        with self.lock:
            existing = self.records.get(key)
            if existing is not None:
                if existing.fingerprint != fingerprint:
                    raise Problem(409, "/problems/idempotency-conflict",
                                  f"application {app.application_id} was submitted with another body")
                return existing, True
            if app.id_number_masked == FAIL_ONCE_APPLICANT and key not in self.failed_once:
                self.failed_once.add(key)
                raise Problem(500, "/problems/internal-error", "the bank's core system failed (test applicant)")
            now = _utcnow()
            self.seq += 1
            reference = f"{self.config.bank_code}{now.astimezone(BANK_TZ):%Y%m%d}{self.seq:06d}"
            rules = self.config.rules
            outcome = screen(rules, app)
            if outcome is None and (app.id_number_masked == REFER_APPLICANT or referred(rules, app.application_id)):
                outcome = Outcome("pending")
            if outcome is None:
                outcome = price(rules, app, self._usage_today())
            record = Record(partner, app, decision_id, fingerprint, reference, callback_url, now, outcome,
                            None if outcome.status == "pending" else now)
            self.records[key] = record
        if outcome.status == "pending":
            t = threading.Timer(rules.review_ms / 1000, self._review, args=(key,))
            t.daemon = True
            t.start()
        log.info("application %s %s -> %s %s", app.application_id, reference, outcome.status,
                 outcome.decline_reason or "")
        return record, False

    def get(self, partner: str, application_id: str) -> Record:
        with self.lock:
            record = self.records.get((partner, application_id))
        if record is None:
            raise Problem(404, "/problems/application-not-found", f"no application {application_id}")
        return record

    def _review(self, key: tuple[str, str]) -> None:
        with self.lock:
            record = self.records[key]
            record.outcome = price(self.config.rules, record.app, self._usage_today())
            record.decided_at = _utcnow()
            body = json.dumps(record.as_json(self.config.bank_code), ensure_ascii=False).encode()
        log.info("application %s reviewed -> %s %s", key[1], record.outcome.status,
                 record.outcome.decline_reason or "")
        if record.callback_url:
            self._deliver(record, body)

    def _deliver(self, record: Record, body: bytes) -> None:
        """POST the final state to the platform, signed as a request; retried with backoff."""
        secret = self.config.partners[record.partner]
        parts = urlsplit(record.callback_url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        for attempt in range(1, self.config.callback_attempts + 1):
            ts, nonce = str(int(time.time())), secrets.token_hex(16)
            req = urllib.request.Request(record.callback_url, data=body, method="POST", headers={
                "Content-Type": "application/json", "X-Bank-Code": self.config.bank_code,
                "X-Partner-Id": record.partner, "X-Timestamp": ts, "X-Nonce": nonce,
                "X-Signature": signing.sign(secret, signing.request_string("POST", path, ts, nonce, body)),
            })
            record.callback_attempts = attempt
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:
                    if 200 <= resp.status < 300:
                        record.callback_delivered = True
                        log.info("callback %s delivered (attempt %d)", record.app.application_id, attempt)
                        return
            except (urllib.error.URLError, OSError) as exc:
                log.info("callback %s attempt %d failed: %s", record.app.application_id, attempt,
                         type(exc).__name__)
            time.sleep(0.2 * 2 ** (attempt - 1))
        log.warning("callback %s not delivered after %d attempts", record.app.application_id, attempt)

    def quota(self) -> dict[str, Any]:
        rules = self.config.rules
        with self.lock:
            usage = self._usage_today()
            money = lambda v: None if v is None else {"amount": str(Decimal(v).quantize(Decimal("0.01"))),
                                                      "currency": rules.currency}
            return {
                "object": "funder_quota", "funder": self.config.bank_code, "day": usage.day,
                "daily_quota": money(rules.daily_quota), "used": money(usage.amount),
                "remaining": money(None if rules.daily_quota is None else max(rules.daily_quota - usage.amount, 0)),
                "count_used": usage.count,
                "count_remaining": None if rules.daily_quota_count is None
                else max(rules.daily_quota_count - usage.count, 0),
            }


# -- parsing a submission ----------------------------------------------------------------------------

def _str(body: dict, name: str, pattern: re.Pattern | None = None, what: str = "") -> str:
    v = body.get(name)
    if not isinstance(v, str) or not v or (pattern is not None and not pattern.match(v)):
        raise Problem(422, "/problems/invalid-request", f"{name} must be {what or 'a non-empty string'}")
    return v


def _int(body: dict, name: str, lo: int, hi: int) -> int:
    v = body.get(name)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise Problem(422, "/problems/invalid-request", f"applicant.{name} must be an integer in [{lo}, {hi}]")
    return v


def parse_submission(raw: bytes) -> tuple[Application, str, str | None]:
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise Problem(400, "/problems/malformed-json", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise Problem(400, "/problems/malformed-json", "the body must be a JSON object")
    unknown = set(body) - SUBMIT_FIELDS
    if unknown:
        raise Problem(422, "/problems/invalid-request", f"unknown field(s): {', '.join(sorted(unknown))}")
    applicant = body.get("applicant")
    if not isinstance(applicant, dict) or set(applicant) - APPLICANT_FIELDS:
        raise Problem(422, "/problems/invalid-request",
                      f"applicant must be an object with only {', '.join(sorted(APPLICANT_FIELDS))}")
    masked = _str(applicant, "id_number_masked", what="a masked ID number")
    if CLEAR_ID_RE.match(masked) or "*" not in masked:
        raise Problem(422, "/problems/invalid-request", "applicant.id_number_masked must be masked")
    limit = body.get("requested_limit")
    if not isinstance(limit, dict) or set(limit) != {"amount", "currency"}:
        raise Problem(422, "/problems/invalid-request", "requested_limit must be {amount, currency}")
    amount = _str(limit, "amount", AMOUNT_RE, "a decimal string such as \"20000.00\"")
    currency = _str(limit, "currency", re.compile(r"^[A-Z]{3}$"), "an ISO 4217 code")
    rate = _str(body, "requested_rate", RATE_RE, "a decimal string in percent per year")
    callback = body.get("callback_url")
    if callback is not None and (not isinstance(callback, str) or urlsplit(callback).scheme not in ("http", "https")):
        raise Problem(422, "/problems/invalid-request", "callback_url must be an http(s) URL")
    try:
        app = Application(
            application_id=_str(body, "application_id", ID_RE, "1-64 characters [A-Za-z0-9_-]"),
            product_code=_str(body, "product_code"),
            id_number_masked=masked,
            age=_int(applicant, "age", 0, 150),
            score=_int(applicant, "score", 0, 10_000),
            score_band=_str(applicant, "score_band"),
            requested_limit=Decimal(amount).quantize(Decimal("0.01")),
            currency=currency,
            requested_rate=Decimal(rate),
        )
    except InvalidOperation:
        raise Problem(422, "/problems/invalid-request", "an amount or rate is not a decimal") from None
    return app, _str(body, "decision_id"), callback


def fingerprint(raw: bytes) -> str:
    """The same application resubmitted is the same JSON, whatever its key order or spacing."""
    return hashlib.sha256(json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# -- HTTP --------------------------------------------------------------------------------------------

def make_handler(bank: Bank) -> type[BaseHTTPRequestHandler]:
    config = bank.config

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        server_version = "openlend-sim-funder/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any], partner: str | None, *, problem: bool = False,
                  extra: dict[str, str] | None = None, wrong_signature: bool = False) -> None:
            raw = json.dumps(body, ensure_ascii=False).encode()
            try:
                self.send_response(status)
                ctype = "application/problem+json" if problem else "application/json"
                self.send_header("Content-Type", ctype + "; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("X-Bank-Code", config.bank_code)
                secret = config.partners.get(partner or "")
                if secret is not None:
                    ts, nonce = str(int(time.time())), secrets.token_hex(16)
                    message = signing.response_string(status, self.headers.get("X-Nonce") or "", ts, nonce, raw)
                    sig = signing.sign(secret, message)
                    if wrong_signature:
                        sig = signing.sign(secret + "-not-the-secret", message)
                    self.send_header("X-Timestamp", ts)
                    self.send_header("X-Nonce", nonce)
                    self.send_header("X-Signature", sig)
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the platform gave up (a timeout), as clients do

        def _handle(self, method: str) -> None:
            started, status, partner, app_id = time.monotonic(), 500, None, "-"
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    raise Problem(413, "/problems/too-large", "the body is too large")
                raw = self.rfile.read(length) if length else b""
                if method == "GET" and self.path == "/healthz":
                    status = 200
                    self._send(200, {"status": "ok", "funder": config.bank_code}, None)
                    return
                latency = int(self.headers.get("X-Sim-Latency-Ms") or config.latency_ms)
                if latency > 0:
                    time.sleep(latency / 1000)
                partner = bank.authenticate(method, self.path, self.headers, raw)
                wrong_signature, extra = False, {}
                if method == "POST" and self.path == "/v1/applications":
                    app, decision_id, callback = parse_submission(raw)
                    app_id = app.application_id
                    if app.id_number_masked == TIMEOUT_APPLICANT:
                        time.sleep(config.hang_ms / 1000)
                    wrong_signature = app.id_number_masked == BAD_SIGNATURE_APPLICANT
                    record, replayed = bank.submit(partner, app, decision_id, callback, fingerprint(raw))
                    if replayed:
                        extra["Idempotent-Replayed"] = "true"
                    with bank.lock:
                        body = record.as_json(config.bank_code)
                elif method == "GET" and self.path.startswith("/v1/applications/"):
                    app_id = self.path.removeprefix("/v1/applications/")
                    record = bank.get(partner, app_id)
                    wrong_signature = record.app.id_number_masked == BAD_SIGNATURE_APPLICANT
                    with bank.lock:
                        body = record.as_json(config.bank_code)
                elif method == "GET" and self.path == "/v1/quota":
                    body = bank.quota()
                else:
                    raise Problem(404, "/problems/not-found", "no such route")
                status = 200
                self._send(200, body, partner, extra=extra, wrong_signature=wrong_signature)
            except Problem as p:
                status = p.status
                self._send(p.status, {"type": p.type, "title": HTTPStatus(p.status).phrase, "status": p.status,
                                      "detail": p.detail, "instance": self.path}, partner, problem=True)
            except Exception:  # a bug in the stand-in still answers, as a bank's gateway would
                log.exception("unexpected error")
                self._send(500, {"type": "/problems/internal-error", "title": "Internal Server Error",
                                 "status": 500, "detail": "unexpected error", "instance": self.path},
                           partner, problem=True)
            finally:
                log.info("%s %s %d %.0fms app=%s", method, self.path.split("?")[0] if not self.path.startswith(
                    "/v1/applications/") else "/v1/applications/{id}", status,
                    (time.monotonic() - started) * 1000, app_id)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

    return Handler


class FunderServer(ThreadingHTTPServer):
    daemon_threads = True  # a request sleeping for the timeout applicant must not hold up shutdown
    block_on_close = False

    def __init__(self, address: tuple[str, int], config: Config):
        self.bank = Bank(config)
        super().__init__(address, make_handler(self.bank))

    def start_in_thread(self) -> threading.Thread:
        t = threading.Thread(target=self.serve_forever, name="sim-funder", daemon=True)
        t.start()
        return t
