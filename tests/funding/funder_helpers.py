"""Shared by the funding tests: the bank's rules, a request builder, raw signed calls."""

from __future__ import annotations

import itertools
import json
import os
import queue
import threading
from dataclasses import replace
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

import httpx
from pydantic import SecretStr

from openlend.funding import ApplicantSummary, FunderConfig, FundingRequest
from openlend.funding.client import signed_headers

HANG_MS = 3000
BANK_RULES = {"min_score": 600, "max_limit": "30000", "band_limits": {"C": "10000"}, "min_rate": "7.2",
              "max_rate": "24", "review_ms": 150, "products": ["cash_loan", "consumer_installment"]}
MASKED = "110105********9010"
_seq = itertools.count()


def app_id(prefix: str = "app") -> str:
    return f"{prefix}_{os.getpid()}_{next(_seq)}"


def config_for(bank, **overrides) -> FunderConfig:
    cfg = FunderConfig(bank_code=bank.bank_code, base_url=bank.base_url, secret=SecretStr(bank.secret),
                       partner_id=bank.partner_id, timeout_s=2.0, connect_timeout_s=1.0, max_attempts=3,
                       backoff_s=0.05)
    return replace(cfg, **overrides)


def request(application_id: str | None = None, *, score: int = 700, band: str = "B", age: int = 30,
            limit: str = "20000.00", rate: str = "12.5", masked: str = MASKED, product: str = "cash_loan",
            callback_url: str | None = None) -> FundingRequest:
    return FundingRequest(application_id=application_id or app_id(), product_code=product,
                          applicant=ApplicantSummary(masked, age, score, band), requested_limit=Decimal(limit),
                          requested_rate=Decimal(rate), decision_id="dec_test", callback_url=callback_url)


def raw_post(bank, body: dict, *, secret: str | None = None, headers: dict | None = None,
             now: float | None = None) -> tuple[httpx.Response, dict[str, str]]:
    """POST /v1/applications signed by hand (or with ``headers`` as given), for protocol tests."""
    raw = json.dumps(body).encode()
    if headers is None:
        headers = signed_headers(secret or bank.secret, bank.partner_id, "POST", "/v1/applications", raw, now=now)
    r = httpx.post(bank.base_url + "/v1/applications", content=raw,
                   headers={**headers, "Content-Type": "application/json"}, timeout=5)
    return r, headers


class CallbackReceiver:
    """A little HTTP server standing in for the platform's callback endpoint."""

    def __init__(self, status: int = 200):
        self.received: queue.Queue = queue.Queue()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.received.put(("POST", self.path, dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
