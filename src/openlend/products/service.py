"""Loan-product use cases (plain functions over one psycopg connection: the caller owns the
transaction), and what other domains use: :func:`get_product_version`,
:func:`get_active_product_version` and :func:`schedule_terms_for`.

Two forms of a product
    *JSON form*: what the API shows (amounts and rates as decimal strings, timestamps as ISO
    strings): :func:`create_product`, :func:`get_product`, :func:`new_version`, ...
    *Native form*: the same keys with ``Decimal`` amounts and rates and ``datetime`` timestamps:
    :func:`get_product_version`, for a loan to price and schedule itself from.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from pydantic import ValidationError

from .. import errors
from ..errors import Problem, problem_type
from ..ids import has_prefix, new_id
from ..schedule.engine import ScheduleInputError, ScheduleTerms
from ..settings import get_settings
from ..listing import id_cursor, page
from ..web import iso_ts
from . import rules
from .schemas import ProductConfig, ProductCreate, to_native

INVALID_PRODUCT = problem_type(
    "invalid-product", "Invalid loan product", 422,
    "The product configuration breaks a rule (a range whose minimum exceeds its maximum, a default outside "
    "its range, grace longer than the shortest term, a percent fee over 100, an allocation order that is not "
    "a permutation of penalty, fees, interest and principal, ...); `errors` points at each field.")
APR_CAP_EXCEEDED = problem_type(
    "apr-cap-exceeded", "APR cap exceeded", 422,
    "At some combination of the product's limits (its maximum rate, smallest or largest amount, a term it "
    "offers) with all its fees, the APR (IRR x periods a year) exceeds the cap: the product's own `apr_cap` or "
    "the platform's (OPENLEND_APR_CAP_PERCENT, 24 by default). `worst_case` names the combination and its APR.")
PRODUCT_CODE_EXISTS = problem_type(
    "product-code-exists", "Product code already exists", 409,
    "Another loan product already has this code; codes are unique and never change.")
PRODUCT_RETIRED = problem_type(
    "product-retired", "Product retired", 409,
    "The loan product is retired: it takes no new versions and no new loans, and cannot be retired again.")
OUTSIDE_PRODUCT_LIMITS = problem_type(
    "outside-product-limits", "Outside the product's limits", 422,
    "The principal, term or rate is not one the loan product offers; `errors` points at each.")

# The order of an object's keys in the API (jsonb keeps its own order).
CONFIG_KEYS = ("currency", "method", "frequency", "interest_basis", "day_count", "rate", "term", "amount",
               "grace", "fees", "penalty", "prepayment_fee", "allocation", "rounding", "apr_cap")
_NESTED_ORDER = {
    "frequency": ("unit", "every"),
    "rate": ("min", "max", "default"),
    "term": ("min", "max", "allowed"),
    "amount": ("min", "max"),
    "grace": ("principal_periods", "interest_periods", "interest_free_periods"),
    "penalty": ("calculation", "value"),
    "prepayment_fee": ("calculation", "value"),
    "allocation": ("order", "strategy"),
    "rounding": ("places", "mode", "installment_multiple", "installment_rounding"),
}
_FEE_ORDER = ("name", "kind", "calculation", "value")
_APR_ORDER = ("nominal", "effective", "cap", "annual_rate", "amount", "term", "disbursement_date")


def platform_apr_cap() -> Decimal:
    return Decimal(get_settings().apr_cap_percent)


def _livemode() -> bool:
    return get_settings().livemode


# --- parsing and checking -----------------------------------------------------------------------

def validation_problem(exc: ValidationError, prefix: str = "") -> Problem:
    """A pydantic error as the same 422 the web layer gives for a bad request body."""
    return errors.validation_problem(list(exc.errors()), prefix)


def parse_product(doc: Any) -> ProductCreate:
    """A create request (JSON, as a client sends it) as a validated model, or a 422 validation problem."""
    if not isinstance(doc, dict):
        raise errors.field_error(errors.VALIDATION, "/", "The product must be one JSON object.")
    try:
        return ProductCreate.model_validate(doc)
    except ValidationError as exc:
        raise validation_problem(exc) from None


def _given(model: ProductConfig) -> dict[str, Any]:
    """The fields a request set, in JSON form (what a later patch applies to)."""
    given = model.model_dump(mode="json", exclude_unset=True)
    given.pop("code", None)
    return given


def _violations_problem(found: list[rules.Violation]) -> Problem:
    errs = [{"pointer": "/" + v.field.replace(".", "/") if v.field else "", "detail": v.detail} for v in found]
    detail = "; ".join(f"{v.field}: {v.detail}" if v.field else v.detail for v in found[:5])
    return Problem(INVALID_PRODUCT, detail, errors=errs)


def check_config(config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Normalise and check a config (native form): ``(config, worst_case_apr JSON)`` or a Problem."""
    cap = platform_apr_cap()
    try:
        c, worst = rules.check_product(config, platform_cap=cap)
    except rules.InvalidProduct as exc:
        raise _violations_problem(exc.violations) from None
    except rules.AprCapExceeded as exc:
        worst_json = rules.corner_to_json(exc.worst, exc.cap, exc.currency)
        raise Problem(APR_CAP_EXCEEDED, str(exc),
                      errors=[{"pointer": "/rate/max",
                               "detail": f"the APR reaches {exc.worst.nominal}% at "
                                         f"{exc.worst.describe(exc.currency)}; the cap is {exc.cap}%"}],
                      extra={"worst_case": _ordered(worst_json, _APR_ORDER)}) from None
    return c, rules.corner_to_json(worst, rules.effective_cap(c, cap), c["currency"])


# --- rendering ----------------------------------------------------------------------------------

def _ordered(d: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    out = {k: d[k] for k in keys if k in d}
    out.update({k: v for k, v in d.items() if k not in out})
    return out


def _config_ordered(cfg: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k in CONFIG_KEYS:
        v = cfg.get(k)
        if k in _NESTED_ORDER and isinstance(v, Mapping):
            v = _ordered(v, _NESTED_ORDER[k])
        elif k == "fees":
            v = [_ordered(f, _FEE_ORDER) for f in v or []]
        out[k] = v
    return out


def _render(p: Mapping[str, Any], v: Mapping[str, Any]) -> dict[str, Any]:
    """JSON form of product row ``p`` at version row ``v``."""
    cfg = v["config"]
    return {
        "object": "loan_product",
        "id": p["id"],
        "code": p["code"],
        "name": cfg["name"],
        "status": p["status"],
        "version": v["version"],
        "current_version": p["current_version"],
        **_config_ordered(cfg),
        "worst_case_apr": _ordered(v["worst_case_apr"], _APR_ORDER),
        "version_created_at": iso_ts(v["created_at"]),
        "created_at": iso_ts(p["created_at"]),
        "retired_at": iso_ts(p["retired_at"]),
        "livemode": p["livemode"],
    }


# --- queries ------------------------------------------------------------------------------------

_PRODUCT_COLS = "id, code, name, status, current_version, livemode, created_at, updated_at, retired_at"


def _product_row(conn: psycopg.Connection, product_id: str, *, for_update: bool = False) -> dict[str, Any]:
    if not has_prefix(product_id, "prod"):
        raise errors.not_found("loan product", product_id)
    row = conn.execute(
        f"SELECT {_PRODUCT_COLS} FROM loan_products WHERE id = %s AND livemode = %s"
        + (" FOR UPDATE" if for_update else ""), [product_id, _livemode()]).fetchone()
    if row is None:
        raise errors.not_found("loan product", product_id)
    return row


def _version_row(conn: psycopg.Connection, product_id: str, version: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT product_id, version, config, worst_case_apr, created_at FROM loan_product_versions "
        "WHERE product_id = %s AND version = %s", [product_id, version]).fetchone()
    if row is None:
        raise Problem(errors.NOT_FOUND, f"Loan product {product_id} has no version {version}.",
                      errors=[{"pointer": "/query/version", "detail": "no such version"}])
    return row


def _load(conn: psycopg.Connection, product_id: str, version: int | None = None):
    """Product and version rows in one round trip when the version is the current one."""
    if version is not None:
        p = _product_row(conn, product_id)
        return p, _version_row(conn, product_id, version)
    if not has_prefix(product_id, "prod"):
        raise errors.not_found("loan product", product_id)
    row = conn.execute(
        "SELECT p.id, p.code, p.name, p.status, p.current_version, p.livemode, p.created_at, p.updated_at, "
        "p.retired_at, v.version, v.config, v.worst_case_apr, v.created_at AS version_created_at "
        "FROM loan_products p JOIN loan_product_versions v ON v.product_id = p.id AND v.version = p.current_version "
        "WHERE p.id = %s AND p.livemode = %s", [product_id, _livemode()]).fetchone()
    if row is None:
        raise errors.not_found("loan product", product_id)
    return row, {"version": row["version"], "config": row["config"], "worst_case_apr": row["worst_case_apr"],
                 "created_at": row["version_created_at"]}


# --- use cases ----------------------------------------------------------------------------------

def create_product(conn: psycopg.Connection, doc: Mapping[str, Any]) -> dict[str, Any]:
    """Create a product at version 1 from a create request ``doc`` (JSON form, as a client sends it)."""
    model = parse_product(doc)
    native = to_native(model)
    code = native.pop("code")
    config, worst = check_config(native)
    p = conn.execute(
        f"INSERT INTO loan_products (id, code, name, current_version, livemode) VALUES (%s, %s, %s, 1, %s) "
        f"ON CONFLICT (livemode, code) DO NOTHING RETURNING {_PRODUCT_COLS}",
        [new_id("prod"), code, config["name"], _livemode()]).fetchone()
    if p is None:
        raise Problem(PRODUCT_CODE_EXISTS, f"A loan product with code {code} already exists.",
                      errors=[{"pointer": "/code", "detail": "already taken"}])
    v = conn.execute(
        "INSERT INTO loan_product_versions (product_id, version, config, given_config, worst_case_apr) "
        "VALUES (%s, 1, %s, %s, %s) RETURNING version, config, worst_case_apr, created_at",
        [p["id"], Jsonb(rules.config_to_json(config)), Jsonb(_given(model)), Jsonb(worst)]).fetchone()
    return _render(p, v)


def get_product(conn: psycopg.Connection, product_id: str, version: int | None = None) -> dict[str, Any]:
    """JSON form of a product at its current version, or at ``version``."""
    return _render(*_load(conn, product_id, version))


def list_products(conn: psycopg.Connection, *, limit: int = 20, cursor: str | None = None,
                  status: str | None = None) -> dict[str, Any]:
    """Products newest first, each at its current version; ``cursor`` is the last id of the previous page."""
    id_cursor(cursor, "prod", "a product id")
    sql = ("SELECT p.id, p.code, p.name, p.status, p.current_version, p.livemode, p.created_at, p.updated_at, "
           "p.retired_at, v.version, v.config, v.worst_case_apr, v.created_at AS version_created_at "
           "FROM loan_products p JOIN loan_product_versions v ON v.product_id = p.id AND v.version = p.current_version "
           "WHERE p.livemode = %s")
    params: list[Any] = [_livemode()]
    if status is not None:
        sql += " AND p.status = %s"
        params.append(status)
    if cursor is not None:
        sql += " AND p.id < %s"
        params.append(cursor)
    sql += " ORDER BY p.id DESC LIMIT %s"
    params.append(limit + 1)
    return page(conn.execute(sql, params).fetchall(), limit,
                lambda r: _render(r, {"version": r["version"], "config": r["config"],
                                      "worst_case_apr": r["worst_case_apr"], "created_at": r["version_created_at"]}))


def list_versions(conn: psycopg.Connection, product_id: str, *, limit: int = 20,
                  cursor: str | None = None) -> dict[str, Any]:
    """The product at each of its versions, newest first; ``cursor`` is the last version number shown."""
    p = _product_row(conn, product_id)
    before = None
    if cursor is not None:
        if not cursor.isdigit():
            raise errors.field_error(errors.VALIDATION, "/query/cursor", "must be a version number from next_cursor")
        before = int(cursor)
    rows = conn.execute(
        "SELECT version, config, worst_case_apr, created_at FROM loan_product_versions "
        "WHERE product_id = %s AND (%s::int IS NULL OR version < %s::int) ORDER BY version DESC LIMIT %s",
        [product_id, before, before, limit + 1]).fetchall()
    return page(rows, limit, lambda v: _render(p, v), key=lambda v: str(v["version"]))


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge key by key, ``null`` removes a key (so the field
    returns to its default), anything else (arrays included) replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def new_version(conn: psycopg.Connection, product_id: str, patch: Any) -> dict[str, Any]:
    """A new version from a JSON merge patch (RFC 7396) of the product's configuration.

    The patch applies to the configuration *as given*: the fields set on create and by earlier
    patches.  Fields it leaves out keep their values; ``null`` unsets a field, which then
    follows its default again; nested objects merge field by field; arrays (``fees``,
    ``term.allowed``, ``allocation.order``) are replaced whole.  Fields never set keep following
    their defaults, so after ``{"currency": "JPY"}`` the rounding places are JPY's 0, and after
    ``{"rate": {"default": "20"}}`` a single-rate product's min and max are 20 too.  ``code``
    never changes.  The result is validated and APR-checked as on create; a patch that changes
    nothing is refused.
    """
    if not isinstance(patch, dict):
        raise errors.field_error(errors.VALIDATION, "/", "The body must be one JSON object: a merge patch of the config.")
    if "code" in patch:
        raise errors.field_error(errors.VALIDATION, "/code", "A product's code never changes; create a new product instead.")
    p = _product_row(conn, product_id, for_update=True)
    if p["status"] == "retired":
        raise Problem(PRODUCT_RETIRED, f"Loan product {product_id} is retired; it takes no new versions.")
    current = conn.execute(
        "SELECT config, given_config FROM loan_product_versions WHERE product_id = %s AND version = %s",
        [product_id, p["current_version"]]).fetchone()
    try:
        model = ProductConfig.model_validate(merge_patch(current["given_config"], patch))
    except ValidationError as exc:
        raise validation_problem(exc) from None
    config, worst = check_config(to_native(model))
    stored = rules.config_to_json(config)
    if stored == current["config"]:
        raise Problem(INVALID_PRODUCT, f"The patch changes nothing: it would repeat version {p['current_version']}.")
    version = p["current_version"] + 1
    v = conn.execute(
        "INSERT INTO loan_product_versions (product_id, version, config, given_config, worst_case_apr) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING version, config, worst_case_apr, created_at",
        [product_id, version, Jsonb(stored), Jsonb(_given(model)), Jsonb(worst)]).fetchone()
    p = conn.execute(
        f"UPDATE loan_products SET current_version = %s, name = %s, updated_at = now() WHERE id = %s "
        f"RETURNING {_PRODUCT_COLS}", [version, config["name"], product_id]).fetchone()
    return _render(p, v)


def retire_product(conn: psycopg.Connection, product_id: str) -> dict[str, Any]:
    """Retire a product: no new versions, no new loans; existing loans keep their version."""
    p = _product_row(conn, product_id, for_update=True)
    if p["status"] == "retired":
        raise Problem(PRODUCT_RETIRED, f"Loan product {product_id} is already retired.")
    conn.execute("UPDATE loan_products SET status = 'retired', retired_at = now(), updated_at = now() "
                 "WHERE id = %s", [product_id])
    return get_product(conn, product_id)


# --- for other domains --------------------------------------------------------------------------

def get_product_version(conn: psycopg.Connection, product_id: str, version: int | None = None) -> dict[str, Any]:
    """A product at ``version`` (default: the current one) in native form: the API object's keys
    with ``Decimal`` amounts and rates and ``datetime`` timestamps.  404 Problem when unknown.

    Pass the result to :func:`schedule_terms_for`; store ``id`` and ``version`` on the loan.
    """
    p, v = _load(conn, product_id, version)
    cfg = rules.config_from_json(v["config"])
    return {
        "object": "loan_product", "id": p["id"], "code": p["code"], "name": cfg["name"], "status": p["status"],
        "version": v["version"], "current_version": p["current_version"], **_config_ordered(cfg),
        "worst_case_apr": v["worst_case_apr"], "version_created_at": v["created_at"],
        "created_at": p["created_at"], "retired_at": p["retired_at"], "livemode": p["livemode"],
    }


def get_active_product_version(conn: psycopg.Connection, product_id: str) -> dict[str, Any]:
    """The current version of a product that may take new loans: 409 ``product-retired`` if retired."""
    product = get_product_version(conn, product_id)
    if product["status"] != "active":
        raise Problem(PRODUCT_RETIRED, f"Loan product {product_id} is retired; it takes no new loans.")
    return product


def schedule_terms_for(product_config: Mapping[str, Any], *, principal: Decimal, term: int,
                       annual_rate: Decimal | None = None, disbursement_date: date,
                       first_due_date: date | None = None, check_limits: bool = True) -> ScheduleTerms:
    """The schedule engine's terms for a loan on a product version (see :func:`rules.schedule_terms_for`).

    Percent fees become amounts of ``principal``; rounding, grace, basis and day count come from
    the product; ``annual_rate`` defaults to the product's default rate.  A principal, term or rate
    the product does not offer raises 422 ``outside-product-limits`` (pointers ``/principal``,
    ``/term``, ``/annual_rate``); terms the engine refuses (a first due date before disbursement)
    raise 422 ``validation-error``.
    """
    try:
        return rules.schedule_terms_for(product_config, principal=principal, term=term, annual_rate=annual_rate,
                                        disbursement_date=disbursement_date, first_due_date=first_due_date,
                                        check_limits=check_limits)
    except rules.OutsideProductLimits as exc:
        raise Problem(OUTSIDE_PRODUCT_LIMITS, str(exc),
                      errors=[{"pointer": "/" + v.field, "detail": v.detail} for v in exc.violations]) from None
    except ScheduleInputError as exc:
        raise errors.field_error(errors.VALIDATION, exc.field, str(exc)) from None


penalty_annual_rate = rules.penalty_annual_rate
prepayment_fee_amount = rules.prepayment_fee_amount
