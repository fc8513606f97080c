"""The data-provider stand-in: one HTTP/1.1 JSON service for identity checks, carrier data, the court
dishonest-debtor list, multi-lending counts and a PBOC-shaped credit report.

Every route is ``POST`` with a JSON body (personal data never goes in a URL, where access logs keep
it) and needs the ``X-Api-Key`` header; without it, or with a wrong key, the answer is 401.  Errors
are problem+json.  What each documented identity answers is in :mod:`.data` and
``docs/design/risk-data.md``.

Knobs a bench or a test turns:

* ``--latency-ms N`` (or the ``X-Sim-Latency-Ms`` request header) sleeps that long before every answer,
  so a bench can simulate a 300 ms bureau;
* ``--hang-ms N``: how long the ``timeout`` identity sleeps (default 30 s, past any client's timeout);
* ``--as-of YYYY-MM-DD`` (or ``X-Sim-As-Of``): the date reports and windows are computed from
  (default: today), so a test can pin every date in a report.

It is threaded: concurrent requests sleep concurrently, as a real provider's would.  It logs the
route, status and time; ID numbers, mobiles and card numbers never reach its log in clear.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import date
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from . import data
from .identities import BY_ID_NUMBER, BY_MOBILE, valid_id_number

log = logging.getLogger("sim.providers")

API_KEY_HEADER = "X-Api-Key"
MAX_BODY = 64 * 1024
QUERY_REASONS = ("loan_approval", "card_approval", "post_loan", "self")


class Problem(Exception):
    def __init__(self, status: int, type_: str, detail: str):
        super().__init__(detail)
        self.status, self.type, self.detail = status, type_, detail


@dataclass
class Config:
    api_keys: frozenset[str]
    latency_ms: int = 0
    hang_ms: int = 30_000
    as_of: date | None = None


def _field(body: dict, name: str, check: Callable[[str], bool] | None = None, what: str = "") -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise Problem(422, "/problems/invalid-request", f"{name} is required and must be a string")
    if check is not None and not check(value):
        raise Problem(422, "/problems/invalid-request", f"{name} is not {what}")
    return value


def _mobile_ok(v: str) -> bool:
    return len(v) == 11 and v.isdigit() and v[0] == "1"


def _card_ok(v: str) -> bool:
    return 13 <= len(v) <= 19 and v.isdigit()


def _id(body: dict) -> str:
    return _field(body, "id_number", valid_id_number, "a resident ID number with a valid check character")


class Handlers:
    """Route -> function of (body, as_of) returning the JSON answer; ``_subject`` finds timeouts."""

    def __init__(self, config: Config):
        self.config = config
        self.routes: dict[str, Callable[[dict, date], dict[str, Any]]] = {
            "/v1/identity/two-factor": self.two_factor,
            "/v1/identity/three-factor": self.three_factor,
            "/v1/identity/four-factor": self.four_factor,
            "/v1/carrier/profile": self.carrier,
            "/v1/court/dishonest-debtors": self.court,
            "/v1/multi-lending": self.multi_lending,
            "/v1/credit-reports": self.credit_report,
        }

    @staticmethod
    def is_timeout_subject(body: dict) -> bool:
        person = BY_ID_NUMBER.get(body.get("id_number")) or BY_MOBILE.get(body.get("mobile"))
        return person is not None and person.key == "timeout"

    def two_factor(self, body: dict, as_of: date) -> dict[str, Any]:
        name, idn = _field(body, "name"), _id(body)
        return {"object": "factor_check", "factors": 2, "result": data.factor_check(name, idn)}

    def three_factor(self, body: dict, as_of: date) -> dict[str, Any]:
        name, idn, mobile = _field(body, "name"), _id(body), _field(body, "mobile", _mobile_ok, "an 11-digit mobile")
        en, _ = data.carrier_of(mobile)
        return {"object": "factor_check", "factors": 3, "result": data.factor_check(name, idn, mobile),
                "carrier": en}

    def four_factor(self, body: dict, as_of: date) -> dict[str, Any]:
        name, idn = _field(body, "name"), _id(body)
        mobile = _field(body, "mobile", _mobile_ok, "an 11-digit mobile")
        card = _field(body, "bank_card", _card_ok, "a 13-19 digit card number")
        return {"object": "factor_check", "factors": 4, "result": data.factor_check(name, idn, mobile, card)}

    def carrier(self, body: dict, as_of: date) -> dict[str, Any]:
        mobile = _field(body, "mobile", _mobile_ok, "an 11-digit mobile")
        return {"object": "carrier_profile", **data.carrier_profile(mobile, as_of)}

    def court(self, body: dict, as_of: date) -> dict[str, Any]:
        name, idn = _field(body, "name"), _id(body)
        hits = data.court_hits(name, idn, as_of)
        return {"object": "court_search", "list": "dishonest_debtors", "as_of": as_of.isoformat(),
                "hit_count": len(hits), "hits": hits}

    def multi_lending(self, body: dict, as_of: date) -> dict[str, Any]:
        return {"object": "multi_lending", **data.multi_lending(_id(body), as_of)}

    def credit_report(self, body: dict, as_of: date) -> dict[str, Any]:
        name, idn = _field(body, "name"), _id(body)
        reason = body.get("query_reason", "loan_approval")
        if reason not in QUERY_REASONS:
            raise Problem(422, "/problems/invalid-request", f"query_reason must be one of {', '.join(QUERY_REASONS)}")
        return data.credit_report(name, idn, reason, as_of)


def make_handler(config: Config) -> type[BaseHTTPRequestHandler]:
    handlers = Handlers(config)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
        server_version = "openlend-sim-providers/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            pass  # our own line per request, below; the stdlib's would add nothing

        def _send(self, status: int, body: dict[str, Any], request_id: str, content_type: str = "application/json") -> None:
            raw = json.dumps(body, ensure_ascii=False).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type + "; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("X-Request-Id", request_id)
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout), as clients do

        def _problem(self, p: Problem, request_id: str) -> None:
            body = {"type": p.type, "title": HTTPStatus(p.status).phrase, "status": p.status, "detail": p.detail,
                    "instance": self.path, "request_id": request_id}
            self._send(p.status, body, request_id, "application/problem+json")

        def do_GET(self) -> None:  # noqa: N802
            rid = "req_" + secrets.token_hex(8)
            if self.path == "/healthz":
                self._send(200, {"status": "ok"}, rid)
            else:
                self._problem(Problem(404, "/problems/not-found", "no such route"), rid)

        def do_POST(self) -> None:  # noqa: N802
            rid = "req_" + secrets.token_hex(8)
            started = time.monotonic()
            status = 500
            try:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(min(length, MAX_BODY)) if length else b""
                try:
                    status, body = 200, self._answer(raw, rid)
                    self._send(200, body, rid)
                except Problem as p:
                    status = p.status
                    self._problem(p, rid)
            finally:
                log.info("%s %s %d %.0fms %s", self.command, self.path, status,
                         (time.monotonic() - started) * 1000, rid)

        def _answer(self, raw: bytes, rid: str) -> dict[str, Any]:
            if self.headers.get(API_KEY_HEADER) not in config.api_keys:
                raise Problem(401, "/problems/unauthorized", f"missing or unknown {API_KEY_HEADER}")
            route = handlers.routes.get(self.path)
            if route is None:
                raise Problem(404, "/problems/not-found", "no such route")
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                raise Problem(400, "/problems/malformed-json", "the body is not JSON") from None
            if not isinstance(body, dict):
                raise Problem(400, "/problems/malformed-json", "the body must be a JSON object")
            as_of = config.as_of or date.today()
            if self.headers.get("X-Sim-As-Of"):
                try:
                    as_of = date.fromisoformat(self.headers["X-Sim-As-Of"])
                except ValueError:
                    raise Problem(400, "/problems/invalid-request", "X-Sim-As-Of is not a date") from None
            latency = config.latency_ms
            if self.headers.get("X-Sim-Latency-Ms"):
                latency = int(self.headers["X-Sim-Latency-Ms"])
            if handlers.is_timeout_subject(body):
                time.sleep(config.hang_ms / 1000)
                raise Problem(504, "/problems/upstream-timeout", "the upstream source did not answer")
            if latency > 0:
                time.sleep(latency / 1000)
            try:
                answer = route(body, as_of)
            except data.NotFound:
                raise Problem(404, "/problems/subject-not-found", "no record of this subject") from None
            return {"request_id": rid, **answer} if "header" not in answer else answer

    return Handler


class ProviderServer(ThreadingHTTPServer):
    daemon_threads = True  # a request sleeping for the timeout identity must not hold up shutdown
    block_on_close = False

    def __init__(self, address: tuple[str, int], config: Config):
        super().__init__(address, make_handler(config))
        self.config = config

    def start_in_thread(self) -> threading.Thread:
        """Serve from a daemon thread (for embedding); ``shutdown()`` stops it."""
        t = threading.Thread(target=self.serve_forever, name="sim-providers", daemon=True)
        t.start()
        return t
