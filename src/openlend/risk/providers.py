"""Clients for the risk-data providers: one small interface per kind, and HTTP implementations.

The interfaces (``typing.Protocol``) are what decisioning depends on; :class:`HttpIdentityVerifier`
and friends speak the provider protocol that ``sim/providers`` stands in for, so a real provider
is a matter of settings (``OPENLEND_RISK_*``: base URL, API key, timeout, per kind if need be).
Each kind comes twice: blocking (``httpx.Client``) for scripts and the worker, and ``Async*``
(``httpx.AsyncClient``) so that a decision fans its calls out at once with ``asyncio.gather``.

Every call returns a typed result or raises :class:`ProviderError` whose ``kind`` says what went
wrong: ``timeout`` (no answer within the timeout), ``unavailable`` (could not connect, 5xx, 429),
``unauthorized`` (the provider refused our API key: configuration), ``rejected`` (the provider
refused the request as invalid, 4xx) or ``bad_response`` (an answer we cannot read: not JSON,
fields missing or of the wrong type).  "No record of this subject" is not an error: carrier,
multi-lending and bureau return ``None``; a factor check says ``not_found``.

ID numbers, mobiles and card numbers never reach a log line or an error message in clear.
"""

from __future__ import annotations

import logging
import contextlib
import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Protocol, runtime_checkable

import httpx
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger("openlend.risk.providers")

ErrorKind = Literal["timeout", "unavailable", "unauthorized", "rejected", "bad_response"]
FactorResult = Literal["match", "mismatch", "not_found"]
CarrierStatus = Literal["active", "suspended", "cancelled"]
QueryReason = Literal["loan_approval", "card_approval", "post_loan", "self"]
KINDS = ("identity", "carrier", "court", "multi_lending", "bureau")


# --- masking -------------------------------------------------------------------------------------

def mask_id_number(value: str) -> str:
    """``110105********9010`` style: region and last four only (no birth date)."""
    return value[:6] + "*" * max(0, len(value) - 10) + value[-4:] if len(value) > 10 else "*" * len(value)


def mask_card(value: str) -> str:
    return value[:6] + "*" * max(0, len(value) - 10) + value[-4:] if len(value) > 10 else "*" * len(value)


def mask_mobile(value: str) -> str:
    return value[:3] + "****" + value[-4:] if len(value) == 11 else "*" * len(value)


# --- results and errors --------------------------------------------------------------------------

class ProviderError(Exception):
    """A provider call that gave no usable answer; ``kind`` is one of :data:`ErrorKind`."""

    def __init__(self, kind: ErrorKind, provider: str, operation: str, detail: str, status: int | None = None):
        super().__init__(f"{provider}.{operation}: {kind}: {detail}")
        self.kind, self.provider, self.operation, self.detail, self.status = kind, provider, operation, detail, status


@dataclass(frozen=True)
class FactorCheck:
    factors: int                 # 2, 3 or 4
    result: FactorResult
    request_id: str

    @property
    def matched(self) -> bool:
        return self.result == "match"


@dataclass(frozen=True)
class CarrierProfile:
    carrier: str                 # "China Mobile", "China Unicom", "China Telecom", ...
    status: CarrierStatus
    tenure_months: int
    request_id: str


@dataclass(frozen=True)
class CourtHit:
    case_number: str
    court: str
    filed_on: date
    amount: Decimal
    performance: str             # unperformed / partially_performed / ...


@dataclass(frozen=True)
class CourtSearch:
    hits: tuple[CourtHit, ...]
    request_id: str


@dataclass(frozen=True)
class LendingWindow:
    days: int
    lenders: int
    applications: int


@dataclass(frozen=True)
class MultiLendingCounts:
    windows: dict[int, LendingWindow]  # keyed by days: 7, 30, 90
    request_id: str


# --- settings ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProviderConfig:
    base_url: str
    api_key: SecretStr
    timeout_s: float = 3.0
    connect_timeout_s: float = 1.0
    api_key_header: str = "X-Api-Key"


class RiskSettings(BaseSettings):
    """``OPENLEND_RISK_BASE_URL`` / ``_API_KEY`` / ``_TIMEOUT_S`` for all kinds, and
    ``OPENLEND_RISK_<KIND>_BASE_URL`` (``_API_KEY``, ``_TIMEOUT_S``) to send one kind elsewhere, e.g.
    ``OPENLEND_RISK_BUREAU_BASE_URL``.  The defaults point at ``python -m sim.providers``."""

    model_config = SettingsConfigDict(env_prefix="OPENLEND_RISK_", extra="ignore")

    base_url: str = "http://127.0.0.1:8090"
    api_key: SecretStr = SecretStr("sandbox-key")
    timeout_s: float = 3.0
    connect_timeout_s: float = 1.0
    api_key_header: str = "X-Api-Key"
    identity_base_url: str | None = None
    identity_api_key: SecretStr | None = None
    identity_timeout_s: float | None = None
    carrier_base_url: str | None = None
    carrier_api_key: SecretStr | None = None
    carrier_timeout_s: float | None = None
    court_base_url: str | None = None
    court_api_key: SecretStr | None = None
    court_timeout_s: float | None = None
    multi_lending_base_url: str | None = None
    multi_lending_api_key: SecretStr | None = None
    multi_lending_timeout_s: float | None = None
    bureau_base_url: str | None = None
    bureau_api_key: SecretStr | None = None
    bureau_timeout_s: float | None = None

    def config_for(self, kind: str) -> ProviderConfig:
        if kind not in KINDS:
            raise ValueError(f"unknown provider kind {kind!r}")
        pick = lambda field: getattr(self, f"{kind}_{field}") or getattr(self, field)  # noqa: E731
        return ProviderConfig(pick("base_url"), pick("api_key"), pick("timeout_s"), self.connect_timeout_s,
                              self.api_key_header)


# --- the interfaces ------------------------------------------------------------------------------

@runtime_checkable
class IdentityVerifier(Protocol):
    def two_factor(self, name: str, id_number: str) -> FactorCheck: ...
    def three_factor(self, name: str, id_number: str, mobile: str) -> FactorCheck: ...
    def four_factor(self, name: str, id_number: str, mobile: str, bank_card: str) -> FactorCheck: ...


@runtime_checkable
class CarrierData(Protocol):
    def profile(self, mobile: str) -> CarrierProfile | None: ...


@runtime_checkable
class CourtList(Protocol):
    def search(self, name: str, id_number: str) -> CourtSearch: ...


@runtime_checkable
class MultiLending(Protocol):
    def counts(self, id_number: str) -> MultiLendingCounts | None: ...


@runtime_checkable
class CreditBureau(Protocol):
    def fetch_report(self, name: str, id_number: str, reason: QueryReason = "loan_approval") -> dict[str, Any] | None:
        """The raw report (parse it with :func:`openlend.risk.bureau.parse_report`), or None when
        the bureau has no record of the person."""
        ...


@runtime_checkable
class AsyncIdentityVerifier(Protocol):
    async def two_factor(self, name: str, id_number: str) -> FactorCheck: ...
    async def three_factor(self, name: str, id_number: str, mobile: str) -> FactorCheck: ...
    async def four_factor(self, name: str, id_number: str, mobile: str, bank_card: str) -> FactorCheck: ...


@runtime_checkable
class AsyncCarrierData(Protocol):
    async def profile(self, mobile: str) -> CarrierProfile | None: ...


@runtime_checkable
class AsyncCourtList(Protocol):
    async def search(self, name: str, id_number: str) -> CourtSearch: ...


@runtime_checkable
class AsyncMultiLending(Protocol):
    async def counts(self, id_number: str) -> MultiLendingCounts | None: ...


@runtime_checkable
class AsyncCreditBureau(Protocol):
    async def fetch_report(self, name: str, id_number: str,
                           reason: QueryReason = "loan_approval") -> dict[str, Any] | None: ...


# --- decoding answers (shared by the blocking and async clients) --------------------------------

class _Bad(Exception):
    """A field of an answer that is missing or of the wrong type (becomes bad_response)."""


def _get(body: Any, key: str, typ: type | tuple[type, ...]) -> Any:
    if not isinstance(body, dict) or key not in body:
        raise _Bad(f"missing {key}")
    value = body[key]
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise _Bad(f"{key} has the wrong type")
    return value


def _one_of(body: Any, key: str, allowed: tuple[str, ...]) -> str:
    value = _get(body, key, str)
    if value not in allowed:
        raise _Bad(f"{key} is not one of {allowed}")
    return value


def _factor(body: Any, factors: int) -> FactorCheck:
    result = _one_of(body, "result", ("match", "mismatch", "not_found"))
    if _get(body, "factors", int) != factors:
        raise _Bad("factors differs from the check asked for")
    return FactorCheck(factors, result, _get(body, "request_id", str))  # type: ignore[arg-type]


def _carrier(body: Any) -> CarrierProfile:
    tenure = _get(body, "tenure_months", int)
    if tenure < 0:
        raise _Bad("tenure_months is negative")
    return CarrierProfile(_get(body, "carrier", str), _one_of(body, "status", ("active", "suspended", "cancelled")),  # type: ignore[arg-type]
                          tenure, _get(body, "request_id", str))


def _court(body: Any) -> CourtSearch:
    hits = []
    for hit in _get(body, "hits", list):
        try:
            amount = Decimal(_get(hit, "amount", str))
            filed = date.fromisoformat(_get(hit, "filed_on", str))
        except (InvalidOperation, ValueError):
            raise _Bad("a hit's amount or filed_on does not parse") from None
        hits.append(CourtHit(_get(hit, "case_number", str), _get(hit, "court", str), filed, amount,
                             _get(hit, "performance", str)))
    return CourtSearch(tuple(hits), _get(body, "request_id", str))


def _multi(body: Any) -> MultiLendingCounts:
    windows = {}
    for w in _get(body, "windows", list):
        days = _get(w, "days", int)
        windows[days] = LendingWindow(days, _get(w, "lenders", int), _get(w, "applications", int))
    if not {7, 30, 90} <= windows.keys():
        raise _Bad("windows must cover 7, 30 and 90 days")
    return MultiLendingCounts(windows, _get(body, "request_id", str))


def _report(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _Bad("the report is not a JSON object")
    return body  # the structure is checked, strictly, by bureau.parse_report


# --- the HTTP clients ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Call:
    path: str
    operation: str
    payload: dict[str, Any]
    subject: str             # masked, for the log line
    not_found_is_none: bool = False


class _Base:
    provider = "provider"

    def __init__(self, config: ProviderConfig):
        self.config = config
        self._timeout = httpx.Timeout(config.timeout_s, connect=config.connect_timeout_s)
        self._headers = {config.api_key_header: config.api_key.get_secret_value(),
                         "Accept": "application/json", "User-Agent": "openlend-risk/1.0"}

    def _error(self, call: _Call, kind: ErrorKind, detail: str, status: int | None = None) -> ProviderError:
        return ProviderError(kind, self.provider, call.operation, detail, status)

    def _decode(self, call: _Call, response: httpx.Response, decode) -> Any:
        status = response.status_code
        if status == 404 and call.not_found_is_none and "subject-not-found" in response.text:
            return None
        if status in (401, 403):
            raise self._error(call, "unauthorized", f"HTTP {status}: the provider refused our credentials", status)
        if status == 429 or status >= 500:
            kind: ErrorKind = "timeout" if status == 504 else "unavailable"
            raise self._error(call, kind, f"HTTP {status}", status)
        if status >= 400:
            raise self._error(call, "rejected", f"HTTP {status}: {_problem_type(response)}", status)
        if status != 200:
            raise self._error(call, "bad_response", f"unexpected HTTP {status}", status)
        try:
            body = response.json()
        except ValueError:
            raise self._error(call, "bad_response", "the answer is not JSON", status) from None
        try:
            return decode(body)
        except _Bad as e:
            raise self._error(call, "bad_response", str(e), status) from None

    @contextlib.contextmanager
    def _calling(self, call: _Call):
        """Around one HTTP call (sync or async): transport failures become :class:`ProviderError`, and the
        call is logged (masked) with its outcome: ok, not_found (``result`` set to None) or the error kind."""
        started = time.monotonic()
        st: dict[str, Any] = {}
        outcome = "error"
        try:
            try:
                yield st
            except httpx.TimeoutException:
                raise self._error(call, "timeout", f"no answer within {self.config.timeout_s}s") from None
            except httpx.TransportError as e:
                raise self._error(call, "unavailable", type(e).__name__) from None
            if "result" in st:
                outcome = "ok" if st["result"] is not None else "not_found"
        except ProviderError as e:
            outcome = e.kind
            raise
        finally:
            self._log(call, started, outcome)

    def _log(self, call: _Call, started: float, outcome: str) -> None:
        log.info("risk provider call %s.%s subject=%s outcome=%s ms=%.0f", self.provider, call.operation,
                 call.subject, outcome, (time.monotonic() - started) * 1000)


def _problem_type(response: httpx.Response) -> str:
    try:
        body = response.json()
        return str(body.get("type")) if isinstance(body, dict) else "?"
    except ValueError:
        return "?"


class _SyncHttp(_Base):
    def __init__(self, config: ProviderConfig, client: httpx.Client | None = None):
        super().__init__(config)
        self._client = client or httpx.Client(base_url=config.base_url, timeout=self._timeout)

    def close(self) -> None:
        self._client.close()

    def _post(self, call: _Call, decode) -> Any:
        with self._calling(call) as st:
            response = self._client.post(call.path, json=call.payload, headers=self._headers, timeout=self._timeout)
            result = st["result"] = self._decode(call, response, decode)
            return result


class _AsyncHttp(_Base):
    def __init__(self, config: ProviderConfig, client: httpx.AsyncClient | None = None):
        super().__init__(config)
        self._client = client or httpx.AsyncClient(base_url=config.base_url, timeout=self._timeout)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _post(self, call: _Call, decode) -> Any:
        with self._calling(call) as st:
            response = await self._client.post(call.path, json=call.payload, headers=self._headers,
                                               timeout=self._timeout)
            result = st["result"] = self._decode(call, response, decode)
            return result


# The calls, described once for both clients.

def _two(name: str, idn: str) -> _Call:
    return _Call("/v1/identity/two-factor", "two_factor", {"name": name, "id_number": idn}, mask_id_number(idn))


def _three(name: str, idn: str, mobile: str) -> _Call:
    return _Call("/v1/identity/three-factor", "three_factor", {"name": name, "id_number": idn, "mobile": mobile},
                 f"{mask_id_number(idn)} {mask_mobile(mobile)}")


def _four(name: str, idn: str, mobile: str, card: str) -> _Call:
    return _Call("/v1/identity/four-factor", "four_factor",
                 {"name": name, "id_number": idn, "mobile": mobile, "bank_card": card},
                 f"{mask_id_number(idn)} {mask_mobile(mobile)} {mask_card(card)}")


def _carrier_call(mobile: str) -> _Call:
    return _Call("/v1/carrier/profile", "profile", {"mobile": mobile}, mask_mobile(mobile), not_found_is_none=True)


def _court_call(name: str, idn: str) -> _Call:
    return _Call("/v1/court/dishonest-debtors", "search", {"name": name, "id_number": idn}, mask_id_number(idn))


def _multi_call(idn: str) -> _Call:
    return _Call("/v1/multi-lending", "counts", {"id_number": idn}, mask_id_number(idn), not_found_is_none=True)


def _report_call(name: str, idn: str, reason: str) -> _Call:
    return _Call("/v1/credit-reports", "fetch_report", {"name": name, "id_number": idn, "query_reason": reason},
                 mask_id_number(idn), not_found_is_none=True)


class HttpIdentityVerifier(_SyncHttp):
    provider = "identity"

    def two_factor(self, name: str, id_number: str) -> FactorCheck:
        return self._post(_two(name, id_number), lambda b: _factor(b, 2))

    def three_factor(self, name: str, id_number: str, mobile: str) -> FactorCheck:
        return self._post(_three(name, id_number, mobile), lambda b: _factor(b, 3))

    def four_factor(self, name: str, id_number: str, mobile: str, bank_card: str) -> FactorCheck:
        return self._post(_four(name, id_number, mobile, bank_card), lambda b: _factor(b, 4))


class HttpCarrierData(_SyncHttp):
    provider = "carrier"

    def profile(self, mobile: str) -> CarrierProfile | None:
        return self._post(_carrier_call(mobile), _carrier)


class HttpCourtList(_SyncHttp):
    provider = "court"

    def search(self, name: str, id_number: str) -> CourtSearch:
        return self._post(_court_call(name, id_number), _court)


class HttpMultiLending(_SyncHttp):
    provider = "multi_lending"

    def counts(self, id_number: str) -> MultiLendingCounts | None:
        return self._post(_multi_call(id_number), _multi)


class HttpCreditBureau(_SyncHttp):
    provider = "bureau"

    def fetch_report(self, name: str, id_number: str, reason: QueryReason = "loan_approval") -> dict[str, Any] | None:
        return self._post(_report_call(name, id_number, reason), _report)


class AsyncHttpIdentityVerifier(_AsyncHttp):
    provider = "identity"

    async def two_factor(self, name: str, id_number: str) -> FactorCheck:
        return await self._post(_two(name, id_number), lambda b: _factor(b, 2))

    async def three_factor(self, name: str, id_number: str, mobile: str) -> FactorCheck:
        return await self._post(_three(name, id_number, mobile), lambda b: _factor(b, 3))

    async def four_factor(self, name: str, id_number: str, mobile: str, bank_card: str) -> FactorCheck:
        return await self._post(_four(name, id_number, mobile, bank_card), lambda b: _factor(b, 4))


class AsyncHttpCarrierData(_AsyncHttp):
    provider = "carrier"

    async def profile(self, mobile: str) -> CarrierProfile | None:
        return await self._post(_carrier_call(mobile), _carrier)


class AsyncHttpCourtList(_AsyncHttp):
    provider = "court"

    async def search(self, name: str, id_number: str) -> CourtSearch:
        return await self._post(_court_call(name, id_number), _court)


class AsyncHttpMultiLending(_AsyncHttp):
    provider = "multi_lending"

    async def counts(self, id_number: str) -> MultiLendingCounts | None:
        return await self._post(_multi_call(id_number), _multi)


class AsyncHttpCreditBureau(_AsyncHttp):
    provider = "bureau"

    async def fetch_report(self, name: str, id_number: str,
                           reason: QueryReason = "loan_approval") -> dict[str, Any] | None:
        return await self._post(_report_call(name, id_number, reason), _report)


# --- wiring --------------------------------------------------------------------------------------

@dataclass
class RiskProviders:
    identity: IdentityVerifier
    carrier: CarrierData
    court: CourtList
    multi_lending: MultiLending
    bureau: CreditBureau

    def close(self) -> None:
        for p in (self.identity, self.carrier, self.court, self.multi_lending, self.bureau):
            getattr(p, "close", lambda: None)()


@dataclass
class AsyncRiskProviders:
    identity: AsyncIdentityVerifier
    carrier: AsyncCarrierData
    court: AsyncCourtList
    multi_lending: AsyncMultiLending
    bureau: AsyncCreditBureau

    async def aclose(self) -> None:
        for p in (self.identity, self.carrier, self.court, self.multi_lending, self.bureau):
            close = getattr(p, "aclose", None)
            if close is not None:
                await close()


def build_providers(settings: RiskSettings | None = None) -> RiskProviders:
    s = settings or RiskSettings()
    return RiskProviders(HttpIdentityVerifier(s.config_for("identity")), HttpCarrierData(s.config_for("carrier")),
                         HttpCourtList(s.config_for("court")), HttpMultiLending(s.config_for("multi_lending")),
                         HttpCreditBureau(s.config_for("bureau")))


def build_async_providers(settings: RiskSettings | None = None) -> AsyncRiskProviders:
    s = settings or RiskSettings()
    return AsyncRiskProviders(AsyncHttpIdentityVerifier(s.config_for("identity")),
                              AsyncHttpCarrierData(s.config_for("carrier")),
                              AsyncHttpCourtList(s.config_for("court")),
                              AsyncHttpMultiLending(s.config_for("multi_lending")),
                              AsyncHttpCreditBureau(s.config_for("bureau")))
