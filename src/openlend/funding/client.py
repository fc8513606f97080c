"""Funding institutions (资金方): the interface the application flow depends on, and its HTTP client.

A loan the platform has approved is funded by a bank through a lending-cooperation interface: the
platform submits the application with its own decision, and the bank approves it (perhaps for a
lower limit), declines it, or refers it (``pending``: poll :meth:`Funder.get` or take the bank's
signed callback, :class:`CallbackVerifier`).  :class:`HttpFunder` speaks the protocol that
``sim/funder`` stands in for (``docs/design/funding.md``); a real bank is configuration
(:class:`FunderConfig`), one list per product (:class:`FundingConfig`).

Every call returns a :class:`FunderDecision` or raises :class:`FunderError` whose ``kind`` is one of

* ``timeout``: no answer within the timeout, on every attempt;
* ``unavailable``: could not connect, or 5xx / 429, on every attempt;
* ``rejected_signature``: a signature failed, either way: the bank refused ours (401: wrong secret,
  clock skew, replayed nonce) or its answer's signature is missing or wrong (we do not act on an
  answer we cannot attribute to the bank);
* ``rejected``: the bank refused the request as invalid (other 4xx: 404 unknown application, 409
  the same application id with another body, 422 a field);
* ``bad_response``: a signed answer we cannot read (not JSON, fields missing, another application's).

Timeouts and ``unavailable`` are retried with exponential backoff, each attempt freshly signed (a
new timestamp and nonce, since the bank refuses a replayed nonce) and with the same application id,
which is the bank's idempotency key: a retry of a submission the bank did receive answers the same
application instead of a second one.  A declined application is an answer, not an error.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Protocol, Self, runtime_checkable

import httpx
from pydantic import SecretStr

log = logging.getLogger("openlend.funding")

ErrorKind = Literal["timeout", "unavailable", "rejected_signature", "rejected", "bad_response"]
DecisionStatus = Literal["approved", "declined", "pending"]
STATUSES: tuple[str, ...] = ("approved", "declined", "pending")
NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


# --- errors ----------------------------------------------------------------------------------------

class FunderError(Exception):
    """A funder call that gave no usable answer; ``kind`` is one of :data:`ErrorKind`."""

    def __init__(self, kind: ErrorKind, bank_code: str, operation: str, detail: str, status: int | None = None,
                 problem_type: str | None = None, attempts: int = 1):
        super().__init__(f"{bank_code}.{operation}: {kind}: {detail}")
        self.kind, self.bank_code, self.operation, self.detail = kind, bank_code, operation, detail
        self.status, self.problem_type, self.attempts = status, problem_type, attempts


# --- signatures ------------------------------------------------------------------------------------

def request_string(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """What a request (or the bank's callback) is signed over: METHOD, PATH with query, X-Timestamp,
    X-Nonce and the body's SHA-256, one per line."""
    return "\n".join([method.upper(), path, timestamp, nonce, hashlib.sha256(body).hexdigest()]).encode()


def response_string(status: int, request_nonce: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """What the bank's answer is signed over: it names the request's nonce, so an old signed answer
    cannot pass for the answer to a new request."""
    return "\n".join([str(status), request_nonce, timestamp, nonce, hashlib.sha256(body).hexdigest()]).encode()


def sign(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, partner_id: str, method: str, path: str, body: bytes,
                   *, now: float | None = None) -> dict[str, str]:
    ts, nonce = str(int(time.time() if now is None else now)), secrets.token_hex(16)
    return {"X-Partner-Id": partner_id, "X-Timestamp": ts, "X-Nonce": nonce,
            "X-Signature": sign(secret, request_string(method, path, ts, nonce, body))}


# --- configuration ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class FunderConfig:
    """One bank behind one product: where it is, the shared secret, and how much of the product's
    applications it takes.  Within a product, funders of the lowest ``priority`` are tried first and
    split the applications among themselves by ``share`` (a weight; they need not sum to 1)."""

    bank_code: str
    base_url: str
    secret: SecretStr
    partner_id: str = "openlend"
    priority: int = 1
    share: Decimal = Decimal(1)
    timeout_s: float = 5.0
    connect_timeout_s: float = 1.0
    max_attempts: int = 3
    backoff_s: float = 0.2
    max_backoff_s: float = 2.0
    max_skew_s: int = 300
    enabled: bool = True

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> FunderConfig:
        kw = dict(raw)
        unknown = set(kw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown funder setting(s): {', '.join(sorted(unknown))}")
        kw["secret"] = kw["secret"] if isinstance(kw.get("secret"), SecretStr) else SecretStr(str(kw["secret"]))
        if "share" in kw:
            kw["share"] = Decimal(str(kw["share"]))
            if kw["share"] < 0:
                raise ValueError("a funder's share cannot be negative")
        if int(kw.get("max_attempts", 1)) < 1:
            raise ValueError("max_attempts must be at least 1")
        return cls(**kw)


@dataclass(frozen=True)
class FundingConfig:
    """The funders of every product: ``{"products": {"cash_loan": [{"bank_code": "BANKA", ...}]}}``."""

    products: Mapping[str, tuple[FunderConfig, ...]] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> FundingConfig:
        products = {}
        for code, funders in (raw.get("products") or {}).items():
            configs = tuple(FunderConfig.from_mapping(f) for f in funders)
            codes = [f.bank_code for f in configs]
            if len(set(codes)) != len(codes):
                raise ValueError(f"product {code} lists a bank twice")
            products[code] = configs
        return cls(products)

    def funders_for(self, product_code: str) -> tuple[FunderConfig, ...]:
        return tuple(self.products.get(product_code, ()))

    def funder(self, bank_code: str) -> FunderConfig | None:
        for funders in self.products.values():
            for f in funders:
                if f.bank_code == bank_code:
                    return f
        return None


# --- requests and answers --------------------------------------------------------------------------

@dataclass(frozen=True)
class ApplicantSummary:
    """What the bank sees of the person: never the clear ID number, name or mobile."""

    id_number_masked: str          # 110105********9010 (openlend.risk.providers.mask_id_number)
    age: int
    score: int
    score_band: str


@dataclass(frozen=True)
class FundingRequest:
    application_id: str            # the platform's id: the bank's idempotency key
    product_code: str
    applicant: ApplicantSummary
    requested_limit: Decimal
    requested_rate: Decimal        # percent per year
    decision_id: str               # the platform's decision record
    currency: str = "CNY"
    callback_url: str | None = None

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "application_id": self.application_id, "product_code": self.product_code,
            "applicant": {"id_number_masked": self.applicant.id_number_masked, "age": self.applicant.age,
                          "score": self.applicant.score, "score_band": self.applicant.score_band},
            "requested_limit": {"amount": str(self.requested_limit.quantize(Decimal("0.01"))),
                                "currency": self.currency},
            "requested_rate": str(self.requested_rate), "decision_id": self.decision_id,
        }
        if self.callback_url:
            out["callback_url"] = self.callback_url
        return out


@dataclass(frozen=True)
class FunderDecision:
    bank_code: str
    application_id: str
    status: DecisionStatus
    funder_reference: str
    approved_limit: Decimal | None = None
    currency: str | None = None
    annual_rate: Decimal | None = None
    decline_reason: str | None = None
    decision_id: str | None = None
    decided_at: dt.datetime | None = None
    replayed: bool = False         # the bank answered an application it already had

    @property
    def final(self) -> bool:
        return self.status != "pending"


@dataclass(frozen=True)
class FunderQuota:
    bank_code: str
    day: dt.date
    remaining: Decimal | None      # None: the bank sets no amount quota
    count_remaining: int | None


@runtime_checkable
class Funder(Protocol):
    bank_code: str

    def submit(self, request: FundingRequest) -> FunderDecision:
        """Submit for the bank's approval; safe to repeat with the same application id."""
        ...

    def get(self, application_id: str) -> FunderDecision: ...

    def quota(self) -> FunderQuota: ...


# --- decoding --------------------------------------------------------------------------------------

class _Bad(ValueError):
    pass


def _get(body: Any, key: str, typ: type | tuple[type, ...], nullable: bool = False) -> Any:
    if not isinstance(body, dict) or key not in body:
        raise _Bad(f"{key} is missing")
    value = body[key]
    if value is None and nullable:
        return None
    if not isinstance(value, typ) or isinstance(value, bool):
        raise _Bad(f"{key} has the wrong type")
    return value


def _decimal(text: str, key: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _Bad(f"{key} is not a decimal") from None
    if not value.is_finite() or value < 0:
        raise _Bad(f"{key} is not a non-negative decimal")
    return value


def _timestamp(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise _Bad("decided_at is not a timestamp") from None


def decode_decision(body: Any, bank_code: str, *, replayed: bool = False) -> FunderDecision:
    """A bank's ``funder_application`` as a :class:`FunderDecision`; ``_Bad`` when it is not one."""
    if _get(body, "object", str) != "funder_application":
        raise _Bad("not a funder_application")
    if _get(body, "funder", str) != bank_code:
        raise _Bad("the answer names another funder")
    status = _get(body, "status", str)
    if status not in STATUSES:
        raise _Bad(f"unknown status {status!r}")
    limit = _get(body, "approved_limit", dict, nullable=True)
    rate = _get(body, "annual_rate", str, nullable=True)
    reason = _get(body, "decline_reason", str, nullable=True)
    if status == "approved" and (limit is None or rate is None):
        raise _Bad("an approval without a limit or rate")
    if status == "declined" and not reason:
        raise _Bad("a decline without a reason")
    return FunderDecision(
        bank_code=bank_code, application_id=_get(body, "application_id", str), status=status,  # type: ignore[arg-type]
        funder_reference=_get(body, "funder_reference", str),
        approved_limit=None if limit is None else _decimal(_get(limit, "amount", str), "approved_limit"),
        currency=None if limit is None else _get(limit, "currency", str),
        annual_rate=None if rate is None else _decimal(rate, "annual_rate"),
        decline_reason=reason, decision_id=_get(body, "decision_id", str, nullable=True),
        decided_at=_timestamp(_get(body, "decided_at", str, nullable=True)), replayed=replayed)


def _problem_type(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("type") if isinstance(body, dict) and isinstance(body.get("type"), str) else None


# --- the HTTP client -------------------------------------------------------------------------------

class HttpFunder:
    """A bank over its lending-cooperation HTTP interface (blocking, ``httpx.Client``)."""

    def __init__(self, config: FunderConfig, client: httpx.Client | None = None, *,
                 sleep=time.sleep):
        self.config = config
        self.bank_code = config.bank_code
        self._client = client or httpx.Client(
            base_url=config.base_url.rstrip("/"),
            timeout=httpx.Timeout(config.timeout_s, connect=config.connect_timeout_s))
        self._owns_client = client is None
        self._sleep = sleep

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # the interface

    def submit(self, request: FundingRequest) -> FunderDecision:
        body = json.dumps(request.body(), ensure_ascii=False, separators=(",", ":")).encode()
        response = self._call("submit", "POST", "/v1/applications", body,
                              {"Idempotency-Key": request.application_id})
        decision = self._decode("submit", response, lambda b: decode_decision(
            b, self.bank_code, replayed=response.headers.get("Idempotent-Replayed") == "true"))
        if decision.application_id != request.application_id:
            raise FunderError("bad_response", self.bank_code, "submit", "the answer is for another application")
        return decision

    def get(self, application_id: str) -> FunderDecision:
        if not re.match(r"^[A-Za-z0-9_-]{1,64}$", application_id):
            raise ValueError("an application id is 1-64 characters [A-Za-z0-9_-]")
        response = self._call("get", "GET", f"/v1/applications/{application_id}", b"")
        decision = self._decode("get", response, lambda b: decode_decision(b, self.bank_code))
        if decision.application_id != application_id:
            raise FunderError("bad_response", self.bank_code, "get", "the answer is for another application")
        return decision

    def quota(self) -> FunderQuota:
        response = self._call("quota", "GET", "/v1/quota", b"")

        def decode(b: Any) -> FunderQuota:
            if _get(b, "object", str) != "funder_quota" or _get(b, "funder", str) != self.bank_code:
                raise _Bad("not this funder's quota")
            remaining = _get(b, "remaining", dict, nullable=True)
            try:
                day = dt.date.fromisoformat(_get(b, "day", str))
            except ValueError:
                raise _Bad("day is not a date") from None
            return FunderQuota(self.bank_code, day,
                               None if remaining is None else _decimal(_get(remaining, "amount", str), "remaining"),
                               _get(b, "count_remaining", int, nullable=True))

        return self._decode("quota", response, decode)

    def wait_for_decision(self, application_id: str, *, timeout_s: float = 30.0,
                          interval_s: float = 0.5) -> FunderDecision:
        """Poll until the bank decides a pending application (or ``timeout_s`` passes: the last,
        still pending, answer is returned; the caller decides what a long review means)."""
        deadline = time.monotonic() + timeout_s
        while True:
            decision = self.get(application_id)
            if decision.final or time.monotonic() >= deadline:
                return decision
            self._sleep(min(interval_s, max(0.0, deadline - time.monotonic())))

    # the wire

    def _call(self, operation: str, method: str, path: str, body: bytes,
              extra_headers: dict[str, str] | None = None) -> httpx.Response:
        cfg = self.config
        last: FunderError | None = None
        for attempt in range(1, cfg.max_attempts + 1):
            headers = signed_headers(cfg.secret.get_secret_value(), cfg.partner_id, method, path, body)
            headers.update(extra_headers or {})
            if body:
                headers["Content-Type"] = "application/json"
            started = time.monotonic()
            try:
                response = self._client.request(method, path, content=body or None, headers=headers)
            except httpx.TimeoutException:
                last = FunderError("timeout", self.bank_code, operation,
                                   f"no answer within {cfg.timeout_s} s", attempts=attempt)
            except httpx.TransportError as exc:
                last = FunderError("unavailable", self.bank_code, operation,
                                   f"could not reach the bank ({type(exc).__name__})", attempts=attempt)
            else:
                if response.status_code >= 500 or response.status_code == 429:
                    last = FunderError("unavailable", self.bank_code, operation,
                                       f"the bank answered {response.status_code}", response.status_code,
                                       _problem_type(response), attempts=attempt)
                else:
                    self._log(operation, path, attempt, started, str(response.status_code))
                    self._verify(operation, response, headers["X-Nonce"], attempt)
                    return response
            self._log(operation, path, attempt, started, last.kind)
            if attempt < cfg.max_attempts:
                self._sleep(min(cfg.backoff_s * 2 ** (attempt - 1), cfg.max_backoff_s))
        assert last is not None
        raise last

    def _verify(self, operation: str, response: httpx.Response, request_nonce: str, attempt: int) -> None:
        ts, nonce, sig = (response.headers.get(h) for h in ("X-Timestamp", "X-Nonce", "X-Signature"))
        problem = _problem_type(response) if response.status_code >= 400 else None
        if response.status_code == 401:
            raise FunderError("rejected_signature", self.bank_code, operation,
                              f"the bank refused our signature ({problem or 'no problem type'})", 401, problem,
                              attempts=attempt)
        expected = None if not (ts and nonce) else sign(
            self.config.secret.get_secret_value(),
            response_string(response.status_code, request_nonce, ts, nonce, response.content))
        if sig is None or expected is None or not hmac.compare_digest(expected, sig.strip().lower()):
            raise FunderError("rejected_signature", self.bank_code, operation,
                              "the bank's answer is unsigned or its signature does not match",
                              response.status_code, problem, attempts=attempt)
        if response.status_code >= 400:
            detail = problem or f"HTTP {response.status_code}"
            try:
                detail = f"{detail}: {response.json().get('detail')}"
            except (ValueError, AttributeError):
                pass
            raise FunderError("rejected", self.bank_code, operation, detail, response.status_code, problem,
                              attempts=attempt)

    def _decode(self, operation: str, response: httpx.Response, decode) -> Any:
        if response.status_code != 200:
            raise FunderError("bad_response", self.bank_code, operation, f"unexpected HTTP {response.status_code}",
                              response.status_code)
        try:
            return decode(response.json())
        except ValueError as exc:  # JSON errors and _Bad
            raise FunderError("bad_response", self.bank_code, operation, str(exc) or "not JSON",
                              response.status_code) from None

    def _log(self, operation: str, path: str, attempt: int, started: float, outcome: str) -> None:
        # The path holds at most the platform's application id: no personal data.
        log.info("funder %s %s %s attempt %d -> %s in %.0f ms", self.bank_code, operation, path, attempt, outcome,
                 (time.monotonic() - started) * 1000)


# --- callbacks -------------------------------------------------------------------------------------

class NonceStore(Protocol):
    def add(self, key: str, ttl_s: float) -> bool:
        """Remember ``key`` for ``ttl_s``; False when it was already there (a replay)."""
        ...


class MemoryNonceStore:
    """In one process only; behind several workers, use a shared store (a table with a unique key)."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, key: str, ttl_s: float) -> bool:
        now = time.monotonic()
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {k: t for k, t in self._seen.items() if t > now}
            expires = self._seen.get(key)
            if expires is not None and expires > now:
                return False
            self._seen[key] = now + ttl_s
            return True


class CallbackVerifier:
    """Checks a bank's callback (a ``POST`` to the ``callback_url`` of a submission) and reads it.

    The callback carries ``X-Bank-Code``, ``X-Timestamp``, ``X-Nonce`` and ``X-Signature`` signed as a
    request (:func:`request_string`) with that bank's secret.  An unknown bank, a stale timestamp, a
    wrong signature or a nonce seen before raise ``FunderError(kind="rejected_signature")``: answer
    401 and act on nothing; the bank retries, or the platform polls."""

    def __init__(self, funders: Iterable[FunderConfig], *, nonces: NonceStore | None = None):
        self._funders = {f.bank_code: f for f in funders}
        self._nonces = nonces or MemoryNonceStore()

    def verify(self, method: str, path: str, headers: Mapping[str, str], body: bytes,
               *, now: float | None = None) -> FunderDecision:
        h = httpx.Headers(dict(headers))
        bank_code = h.get("X-Bank-Code") or "?"
        funder = self._funders.get(bank_code)
        ts, nonce, sig = h.get("X-Timestamp"), h.get("X-Nonce"), h.get("X-Signature")

        def refuse(detail: str) -> FunderError:
            return FunderError("rejected_signature", bank_code, "callback", detail)

        if funder is None:
            raise refuse("unknown X-Bank-Code")
        if not (ts and nonce and sig) or not NONCE_RE.match(nonce):
            raise refuse("X-Timestamp, X-Nonce and X-Signature are required")
        try:
            skew = abs((time.time() if now is None else now) - int(ts))
        except ValueError:
            raise refuse("X-Timestamp is not Unix seconds") from None
        if skew > funder.max_skew_s:
            raise refuse(f"X-Timestamp is {skew:.0f} s off")
        expected = sign(funder.secret.get_secret_value(), request_string(method, path, ts, nonce, body))
        if not hmac.compare_digest(expected, sig.strip().lower()):
            raise refuse("X-Signature does not match")
        if not self._nonces.add(f"{bank_code}:{nonce}", 2 * funder.max_skew_s):
            raise refuse("replayed X-Nonce")
        try:
            return decode_decision(json.loads(body), bank_code)
        except ValueError as exc:
            raise FunderError("bad_response", bank_code, "callback", str(exc) or "not JSON") from None
