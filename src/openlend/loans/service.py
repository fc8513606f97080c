"""Loan use cases over the caller's psycopg connection and transaction: the drawdown that creates a
loan, and the reads.  (Servicing — repayments, prepayment, COB — builds on :func:`load_for_update`,
:func:`schedule_terms` and :func:`servicing_rules`.)

A drawdown, in one transaction and few round trips:

1. read the line with its product version (one query);
2. check the request and make the schedule from the line's product version (no database);
3. reserve the limit: one guarded ``UPDATE`` (:func:`openlend.lines.service.reserve`);
4. write the loan, its receipt number (``LN`` + yyyymmdd + an 8-digit sequence), schedule version 1
   as scheduled, the current installments, the disbursement transaction and the posted totals:
   one statement of data-modifying CTEs;
5. hand the payout to the disburser (:mod:`.disbursement`), which books the journal entry.

Any refusal raises a :class:`~openlend.errors.Problem` before the commit, so nothing is written.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

from .. import errors
from ..errors import Problem, field_error
from ..ids import has_prefix, new_id
from ..ledger import service as ledger
from ..lines import service as lines
from ..money import MONEY_CONTEXT, MoneyError, currency_places, to_str, validate_currency
from ..products import rules
from ..products import service as products
from ..schedule.engine import Schedule, ScheduleTerms, generate
from ..schedule.io import parse_terms
from ..settings import get_settings
from ..listing import id_cursor, page
from ..web import iso_ts
from .disbursement import ClearingDisburser, Disbursement, DisbursementResult, Disburser, get_disburser

RATE_PLACES = 6  # loans.annual_rate is numeric(12, 6)


def _livemode() -> bool:
    return get_settings().livemode


def _rate(value: Decimal) -> str:
    """A rate as the API shows it: no trailing zeros ("18", "12.5")."""
    return format(value.normalize(), "f")


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


# --- the terms snapshot -----------------------------------------------------------------------------

def terms_to_json(t: ScheduleTerms) -> dict[str, Any]:
    """Schedule terms in the ``openlend schedule`` JSON contract (:func:`schedule.io.parse_terms` reads it back)."""
    return {
        "principal": format(t.principal, "f"),
        "annual_rate": format(t.annual_rate, "f"),
        "method": t.method,
        "term": t.term,
        "frequency": {"unit": t.frequency.unit, "every": t.frequency.every},
        "disbursement_date": t.disbursement_date.isoformat(),
        "first_due_date": _iso(t.first_due_date),
        "interest_basis": t.interest_basis,
        "day_count": t.day_count,
        "rounding": {"places": t.rounding_places, "mode": t.rounding_mode},
        "installment_multiple": None if t.installment_multiple is None else format(t.installment_multiple, "f"),
        "installment_rounding": t.installment_rounding,
        "grace_principal_periods": t.grace_principal_periods,
        "grace_interest_periods": t.grace_interest_periods,
        "interest_free_periods": t.interest_free_periods,
        "fees": [{"name": f.name, "amount": format(f.amount, "f"), "when": f.when} for f in t.fees],
    }


def schedule_terms(loan: dict[str, Any]) -> ScheduleTerms:
    """The loan's schedule terms as made at drawdown (from its ``terms`` snapshot)."""
    return parse_terms(loan["terms"])


def servicing_rules(loan: dict[str, Any]) -> dict[str, Any]:
    """The loan's servicing rules in native form: ``penalty_annual_rate`` (Decimal, percent a year),
    ``penalty``, ``allocation`` {order, strategy}, ``prepayment_fee`` {calculation, value: Decimal|None}."""
    r = dict(loan["rules"])
    r["penalty_annual_rate"] = Decimal(r["penalty_annual_rate"])
    pre = r["prepayment_fee"]
    r["prepayment_fee"] = {**pre, "value": None if pre["value"] is None else Decimal(pre["value"])}
    pen = r["penalty"]
    r["penalty"] = {**pen, "value": None if pen["value"] is None else Decimal(pen["value"])}
    return r


def _rules_json(product: dict[str, Any], annual_rate: Decimal) -> dict[str, Any]:
    pen = product["penalty"]
    pre = product["prepayment_fee"]
    return {
        "penalty": {"calculation": pen["calculation"], "value": None if pen["value"] is None else format(pen["value"], "f")},
        "penalty_annual_rate": format(rules.penalty_annual_rate(product, annual_rate), "f"),
        "allocation": {"order": list(product["allocation"]["order"]), "strategy": product["allocation"]["strategy"]},
        "prepayment_fee": {"calculation": pre["calculation"],
                           "value": None if pre["value"] is None else format(pre["value"], "f")},
    }


# --- rendering --------------------------------------------------------------------------------------

_LOAN_COLS = ("l.id, l.receipt_no, l.line_id, l.customer_id, l.product_id, l.product_version, l.currency, l.principal, "
              "l.annual_rate, l.term, l.method, l.disbursement_date, l.first_due_date, l.maturity_date, l.next_due_date, "
              "l.upfront_fees, l.net_disbursed, l.apr_nominal, l.apr_effective, l.status, l.days_past_due, l.bucket, "
              "l.principal_outstanding, l.closed_on, l.schedule_version, l.terms, l.rules, l.livemode, l.created_at, "
              "l.updated_at")
_DISB_COLS = ("d.id AS disb_id, d.status AS disb_txn_status, d.channel AS disb_channel, d.entry_ids AS disb_entry_ids, "
              "d.details AS disb_details")


def _places(loan: dict[str, Any]) -> int:
    return loan["terms"]["rounding"]["places"]


def _fixed(places: int):
    """``lambda v: to_str(v, places)``, without to_str's per-call lookups."""
    q = Decimal(1).scaleb(-places)
    quantize = Decimal.quantize
    return lambda v: format(quantize(v, q, context=MONEY_CONTEXT), "f")


def render_installment(r: dict[str, Any], places: int, outstanding: Decimal | None = None,
                       s=None) -> dict[str, Any]:
    s = s or _fixed(places)
    total = r["principal"] + r["interest"] + r["fees"] + r.get("penalty", 0)
    out = {
        "number": r["number"],
        "from_date": r["from_date"].isoformat(),
        "due_date": r["due_date"].isoformat(),
        "days": (r["due_date"] - r["from_date"]).days,
        "principal": s(r["principal"]),
        "interest": s(r["interest"]),
        "fees": s(r["fees"]),
    }
    if "penalty" in r:   # the current schedule: what was charged and paid so far
        paid = r["paid_principal"] + r["paid_interest"] + r["paid_fees"] + r["paid_penalty"]
        out.update({
            "penalty": s(r["penalty"]),
            "total": s(total),
            "paid": {"principal": s(r["paid_principal"]), "interest": s(r["paid_interest"]),
                     "fees": s(r["paid_fees"]), "penalty": s(r["paid_penalty"]), "total": s(paid)},
            "outstanding_total": s(total - paid),
            "accrued_interest": s(r["accrued_interest"]),
            "status": r["status"],
            "paid_on": _iso(r["paid_on"]),
        })
    else:
        out["total"] = s(total)
    if outstanding is not None:
        out["principal_outstanding_after"] = s(outstanding)
    return out


def render_schedule(loan: dict[str, Any], rows: list[dict[str, Any]], *, version: int, reason: str | None,
                    effective_date: dt.date | None) -> dict[str, Any]:
    places = _places(loan)
    s = _fixed(places)
    balance = sum((r["principal"] for r in rows), Decimal(0))
    items = []
    for r in rows:
        balance -= r["principal"]
        items.append(render_installment(r, places, r.get("outstanding", balance), s))
    tp = sum((r["principal"] for r in rows), Decimal(0))
    ti = sum((r["interest"] for r in rows), Decimal(0))
    tf = sum((r["fees"] for r in rows), Decimal(0))
    tpen = sum((r.get("penalty", Decimal(0)) for r in rows), Decimal(0))
    return {
        "object": "loan_schedule",
        "loan_id": loan["id"],
        "version": version,
        "current": version == loan["schedule_version"],
        "reason": reason,
        "effective_date": _iso(effective_date),
        "currency": loan["currency"],
        "installments": items,
        "total_principal": s(tp),
        "total_interest": s(ti),
        "total_fees": s(tf),
        "total_penalty": s(tpen),
        "total": s(tp + ti + tf + tpen),
    }


def render(loan: dict[str, Any], schedule: dict[str, Any] | None = None) -> dict[str, Any]:
    c = loan["currency"]
    m = lambda v: to_str(v, max(currency_places(c), _places(loan)))  # noqa: E731
    t = loan["terms"]
    out: dict[str, Any] = {
        "object": "loan",
        "id": loan["id"],
        "receipt_no": loan["receipt_no"],
        "customer_id": loan["customer_id"],
        "credit_line_id": loan["line_id"],
        "product_id": loan["product_id"],
        "product_version": loan["product_version"],
        "status": loan["status"],
        "currency": c,
        "principal": m(loan["principal"]),
        "annual_rate": _rate(loan["annual_rate"]),
        "term": loan["term"],
        "method": loan["method"],
        "frequency": t["frequency"],
        "disbursement_date": loan["disbursement_date"].isoformat(),
        "first_due_date": loan["first_due_date"].isoformat(),
        "maturity_date": loan["maturity_date"].isoformat(),
        "next_due_date": _iso(loan["next_due_date"]),
        "upfront_fees": m(loan["upfront_fees"]),
        "net_disbursed": m(loan["net_disbursed"]),
        "apr": {"nominal": to_str(loan["apr_nominal"], 4), "effective": to_str(loan["apr_effective"], 4)},
        "principal_outstanding": m(loan["principal_outstanding"]),
        "days_past_due": loan["days_past_due"],
        "bucket": loan["bucket"],
        "closed_on": _iso(loan["closed_on"]),
        "schedule_version": loan["schedule_version"],
    }
    if loan.get("disb_id"):
        details = loan["disb_details"] or {}
        out["disbursement"] = {
            "transaction_id": loan["disb_id"],
            "status": details.get("disbursement_status"),
            "channel": loan["disb_channel"],
            "amount": m(loan["net_disbursed"]),
            "entry_ids": list(loan["disb_entry_ids"] or []),
        }
    if schedule is not None:
        out["schedule"] = schedule
    out["created_at"] = iso_ts(loan["created_at"])
    out["livemode"] = loan["livemode"]
    return out


# --- reads ------------------------------------------------------------------------------------------

def _check_id(loan_id: str) -> None:
    if not has_prefix(loan_id, "loan"):
        raise errors.not_found("loan", loan_id)


def load(conn: psycopg.Connection, loan_id: str, *, for_update: bool = False) -> dict[str, Any]:
    """The loan's row in native form (Decimals, dates, ``terms``/``rules`` JSON); 404 Problem when unknown."""
    _check_id(loan_id)
    if for_update:   # the posted totals first, then the loan: the lock order close of business uses too
        row = conn.execute(f"SELECT {_LOAN_COLS} FROM loan_posted_totals pt JOIN loans l ON l.id = pt.loan_id "
                           "WHERE pt.loan_id = %s AND l.livemode = %s FOR UPDATE OF pt, l",
                           [loan_id, _livemode()], prepare=True).fetchone()
    else:
        row = conn.execute(f"SELECT {_LOAN_COLS} FROM loans l WHERE l.id = %s AND l.livemode = %s",
                           [loan_id, _livemode()], prepare=True).fetchone()
    if row is None:
        raise errors.not_found("loan", loan_id)
    return row


def load_for_update(conn: psycopg.Connection, loan_id: str) -> dict[str, Any]:
    """:func:`load` with the loan's row locked until the transaction ends (servicing serialises on it)."""
    return load(conn, loan_id, for_update=True)


_INSTALLMENTS = (
    "SELECT i.number, i.from_date, i.due_date, i.principal, i.interest, i.fees, i.penalty, i.paid_principal, "
    "i.paid_interest, i.paid_fees, i.paid_penalty, "
    "CASE WHEN l.status IN ('active', 'overdue') THEN installment_accrued(i.interest, i.interest_fixed, "
    "  i.paid_interest, i.from_date, i.due_date, i.interest_from, pt.as_of, (l.terms -> 'rounding' ->> 'places')::int) "
    "  ELSE i.accrued_interest END AS accrued_interest, i.status, i.paid_on "
    "FROM loan_installments i JOIN loans l ON l.id = i.loan_id JOIN loan_posted_totals pt ON pt.loan_id = l.id "
    "WHERE i.loan_id = %s ORDER BY i.number")


def _installments(conn: psycopg.Connection, loan_id: str) -> list[dict[str, Any]]:
    """The current installments; accrued interest as of the loan's state date (close of business moves
    it every day without rewriting each row: ``installment_accrued`` is the design's accrual rule)."""
    return conn.execute(_INSTALLMENTS, [loan_id], prepare=True).fetchall()


_LOAD_WITH_DISBURSEMENT = (
    f"SELECT {_LOAN_COLS}, {_DISB_COLS}, v.reason AS schedule_reason, v.effective_date AS schedule_effective_date "
    f"FROM loans l "
    f"LEFT JOIN LATERAL (SELECT * FROM loan_transactions t WHERE t.loan_id = l.id AND t.type = 'disbursement' "
    f"                   ORDER BY t.seq LIMIT 1) d ON true "
    f"LEFT JOIN loan_schedule_versions v ON v.loan_id = l.id AND v.version = l.schedule_version "
    f"WHERE l.id = %s AND l.livemode = %s")


def _load_with_disbursement(conn: psycopg.Connection, loan_id: str) -> dict[str, Any]:
    _check_id(loan_id)
    row = conn.execute(_LOAD_WITH_DISBURSEMENT, [loan_id, _livemode()]).fetchone()
    if row is None:
        raise errors.not_found("loan", loan_id)
    return row


def get_loan(conn: psycopg.Connection, loan_id: str, *, with_schedule: bool = True) -> dict[str, Any]:
    """The loan as the API shows it (with its current schedule unless ``with_schedule`` is false)."""
    loan = _load_with_disbursement(conn, loan_id)
    schedule = None
    if with_schedule:
        schedule = render_schedule(loan, _installments(conn, loan_id), version=loan["schedule_version"],
                                   reason=loan["schedule_reason"], effective_date=loan["schedule_effective_date"])
    return render(loan, schedule)


def _send_get_loan(conn: psycopg.Connection, loan_id: str):
    """:func:`get_loan`'s statements sent (in a pipeline) and not yet read: give the result to
    :func:`_read_get_loan` once the pipeline is synced."""
    return (conn.execute(_LOAD_WITH_DISBURSEMENT, [loan_id, _livemode()], prepare=True),
            conn.execute(_INSTALLMENTS, [loan_id], prepare=True))


def _read_get_loan(loan_id: str, sent) -> dict[str, Any]:
    loan = sent[0].fetchone()
    if loan is None:
        raise errors.not_found("loan", loan_id)
    schedule = render_schedule(loan, sent[1].fetchall(), version=loan["schedule_version"],
                               reason=loan["schedule_reason"], effective_date=loan["schedule_effective_date"])
    return render(loan, schedule)


def get_schedule(conn: psycopg.Connection, loan_id: str, version: int | None = None) -> dict[str, Any]:
    """The current schedule (installments with what was paid), or schedule ``version`` as it was made."""
    loan = _load_with_disbursement(conn, loan_id)
    if version is None or version == loan["schedule_version"]:
        return render_schedule(loan, _installments(conn, loan_id), version=loan["schedule_version"],
                               reason=loan["schedule_reason"], effective_date=loan["schedule_effective_date"])
    v = conn.execute("SELECT version, reason, effective_date FROM loan_schedule_versions WHERE loan_id = %s "
                     "AND version = %s", [loan_id, version]).fetchone()
    if v is None:
        raise Problem(errors.NOT_FOUND, f"Loan {loan_id} has no schedule version {version}.",
                      errors=[{"pointer": "/query/version", "detail": "no such version"}])
    rows = conn.execute(
        "SELECT number, from_date, due_date, principal, interest, fees, outstanding FROM loan_scheduled_installments "
        "WHERE loan_id = %s AND version = %s ORDER BY number", [loan_id, version]).fetchall()
    return render_schedule(loan, rows, version=version, reason=v["reason"], effective_date=v["effective_date"])


def list_loans(conn: psycopg.Connection, *, customer_id: str | None = None, line_id: str | None = None,
               status: str | None = None, limit: int = 20, cursor: str | None = None) -> dict[str, Any]:
    """Loans newest first (without their schedules), optionally a customer's or a line's, or by status."""
    id_cursor(cursor, "loan", "a loan id")
    where = ["l.livemode = %s"]
    params: list[Any] = [_livemode()]
    for column, value in (("l.customer_id", customer_id), ("l.line_id", line_id), ("l.status", status)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if cursor is not None:
        where.append("l.id < %s")
        params.append(cursor)
    params.append(limit + 1)
    rows = conn.execute(
        f"SELECT {_LOAN_COLS}, {_DISB_COLS} FROM loans l "
        f"LEFT JOIN LATERAL (SELECT * FROM loan_transactions t WHERE t.loan_id = l.id AND t.type = 'disbursement' "
        f"                   ORDER BY t.seq LIMIT 1) d ON true "
        f"WHERE {' AND '.join(where)} ORDER BY l.id DESC LIMIT %s", params).fetchall()
    return page(rows, limit, render)


# --- the drawdown -----------------------------------------------------------------------------------

_LINE_WITH_PRODUCT = """
    SELECT c.id, c.customer_id, c.product_id, c.product_version, c.currency, c.limit_amount, c.used_amount,
           c.status, c.expires_on, p.status AS product_status, v.config
      FROM credit_lines c
      JOIN loan_products p ON p.id = c.product_id
      JOIN loan_product_versions v ON v.product_id = c.product_id AND v.version = c.product_version
     WHERE c.id = %s AND c.livemode = %s"""
# the same, with the business date (:func:`business_date`) in the same round trip, and the product
# version's config as text (a version is immutable: :func:`_product_config` parses each text once)
_LINE_WITH_PRODUCT_AND_DATE = _LINE_WITH_PRODUCT.replace(
    "v.config\n", "v.config::text AS config, (SELECT s.business_date FROM system_state s) AS business_date\n", 1)

_CONFIGS: dict[str, dict[str, Any]] = {}


def _product_config(text: str) -> dict[str, Any]:
    """The product version's config in native form (:func:`rules.config_from_json`), parsed once per
    distinct text (the cache is keyed by the content, so it never goes stale).  Read-only."""
    c = _CONFIGS.get(text)
    if c is None:
        c = rules.config_from_json(json.loads(text))
        if len(_CONFIGS) >= 256:
            _CONFIGS.clear()
        _CONFIGS[text] = c
    return c

_INSERT_LOAN = """
WITH l AS (
    INSERT INTO loans (id, receipt_no, line_id, customer_id, product_id, product_version, currency, principal,
                       annual_rate, term, method, disbursement_date, first_due_date, maturity_date, next_due_date,
                       upfront_fees, net_disbursed, apr_nominal, apr_effective, principal_outstanding, terms, rules,
                       livemode)
    SELECT %(id)s, 'LN' || to_char(%(today)s::date, 'YYYYMMDD') || lpad(q.n::text, greatest(8, length(q.n::text)), '0'),
           %(line)s, %(customer)s, %(product)s, %(version)s, %(currency)s, %(principal)s, %(rate)s, %(term)s,
           %(method)s, %(disb)s, %(first)s, %(maturity)s, %(first)s, %(upfront)s, %(net)s, %(apr_n)s, %(apr_e)s,
           %(principal)s, %(terms)s, %(rules)s, %(lm)s
      FROM (SELECT nextval('loan_receipt_seq') AS n) q
    RETURNING *),
r AS (
    SELECT * FROM unnest(%(n)s::int[], %(from)s::date[], %(due)s::date[], %(p)s::numeric[], %(i)s::numeric[],
                         %(f)s::numeric[], %(o)s::numeric[])
        AS r(number, from_date, due_date, principal, interest, fees, outstanding)),
v AS (
    INSERT INTO loan_schedule_versions (loan_id, version, reason, effective_date, transaction_id)
    SELECT l.id, 1, 'disbursement', l.disbursement_date, %(txn)s FROM l RETURNING loan_id),
si AS (
    INSERT INTO loan_scheduled_installments (loan_id, version, number, from_date, due_date, principal, interest,
                                             fees, outstanding)
    SELECT v.loan_id, 1, r.number, r.from_date, r.due_date, r.principal, r.interest, r.fees, r.outstanding FROM v, r),
i AS (
    INSERT INTO loan_installments (loan_id, number, from_date, due_date, principal, interest, fees)
    SELECT l.id, r.number, r.from_date, r.due_date, r.principal, r.interest, r.fees FROM l, r),
t AS (
    INSERT INTO loan_transactions (id, loan_id, type, value_date, amount, channel, details, entry_ids, livemode)
    SELECT %(txn)s, l.id, 'disbursement', l.disbursement_date, l.principal, %(channel)s, %(details)s,
           %(entry_ids)s::text[], l.livemode FROM l),
pt AS (
    INSERT INTO loan_posted_totals (loan_id, currency, disbursed, fees_charged, fees_repaid, as_of)
    SELECT l.id, l.currency, l.principal, l.upfront_fees, l.upfront_fees, l.disbursement_date FROM l)
SELECT l.* FROM l"""


def plan_drawdown(line: dict[str, Any], today: dt.date, *, amount: Decimal, term: int,
                  annual_rate: Decimal | None = None, disbursement_date: dt.date | None = None,
                  first_due_date: dt.date | None = None,
                  currency: str | None = None) -> tuple[dict[str, Any], ScheduleTerms, Schedule]:
    """A drawdown's checks against ``line`` (a :data:`_LINE_WITH_PRODUCT_AND_DATE` row) and its schedule,
    before anything is written: the product config, the terms and the schedule, or the
    :class:`~openlend.errors.Problem` that refuses it (the limit as the line was read: the guarded
    write has the last word)."""
    c = line["currency"]
    if currency is not None:
        try:
            validate_currency(currency)
        except MoneyError as exc:
            raise field_error(errors.VALIDATION, "/currency", str(exc)) from None
        if currency != c:
            raise field_error(errors.VALIDATION, "/currency", f"the credit line lends in {c}, not {currency}")
    lines.check_amount(amount, c, "/amount")
    if line["product_status"] != "active":
        raise Problem(products.PRODUCT_RETIRED,
                      f"Loan product {line['product_id']} is retired; it takes no new loans.")
    problem = lines.refusal(line, amount, on=today)   # a state or limit refusal before any work
    if problem is not None:
        raise problem
    disb = disbursement_date or today
    if disb > today:
        raise field_error(errors.VALIDATION, "/disbursement_date", "disbursement_date must not be in the future")
    if annual_rate is not None and annual_rate != annual_rate.quantize(Decimal(1).scaleb(-RATE_PLACES)):
        raise field_error(errors.VALIDATION, "/annual_rate", f"annual_rate has at most {RATE_PLACES} decimal places")

    product = _product_config(line["config"])
    try:
        terms = products.schedule_terms_for(product, principal=amount, term=term, annual_rate=annual_rate,
                                            disbursement_date=disb, first_due_date=first_due_date)
    except Problem as exc:   # the product calls the amount "principal"; this request calls it "amount"
        for e in exc.errors:
            if e.get("pointer") == "/principal":
                e["pointer"] = "/amount"
        raise
    schedule = generate(terms)
    apr = schedule.apr()
    cap = rules.effective_cap(product, products.platform_apr_cap())
    if apr.nominal > cap:
        raise Problem(products.APR_CAP_EXCEEDED,
                      f"This loan's APR would be {to_str(apr.nominal, 4)}%, above the cap of {cap}% "
                      "(an odd first period can raise it: choose another first_due_date).",
                      errors=[{"pointer": "/first_due_date" if first_due_date else "/annual_rate",
                               "detail": f"the APR would exceed {cap}%"}])
    return product, terms, schedule


def drawdown(conn: psycopg.Connection, line_id: str, *, amount: Decimal, term: int,
             annual_rate: Decimal | None = None, disbursement_date: dt.date | None = None,
             first_due_date: dt.date | None = None, currency: str | None = None,
             disburser: Disburser | None = None) -> dict[str, Any]:
    """Draw ``amount`` on a credit line as a new loan (see the module docstring); the loan as the API shows it."""
    line = None
    if has_prefix(line_id, "line"):
        line = conn.execute(_LINE_WITH_PRODUCT_AND_DATE, [line_id, _livemode()], prepare=True).fetchone()
    if line is None:
        raise errors.not_found("credit line", line_id)
    today = line["business_date"] or lines.today()   # as business_date(conn) answers
    product, terms, schedule = plan_drawdown(line, today, amount=amount, term=term, annual_rate=annual_rate,
                                             disbursement_date=disbursement_date, first_due_date=first_due_date,
                                             currency=currency)
    disb = terms.disbursement_date
    disburser = disburser or get_disburser()
    if _books_in_sql(disburser):
        # reserve, loan, schedule, transaction, posted totals and the disbursement entry: one call
        loan = _insert_loan(conn, line, product, terms, schedule, today=today, disburser=disburser)
        result = DisbursementResult("pending", disburser.channel, (loan["_entry"],))
    else:
        lines.reserve(conn, line_id, amount, on=today)   # the limit invariant: one guarded statement
        loan = _insert_loan(conn, line, product, terms, schedule, today=today)
        result = _disburse(conn, loan, today, disburser)
    loan.update(disb_id=loan["_txn"], disb_txn_status="active", disb_channel=result.channel,
                disb_entry_ids=list(result.entry_ids), disb_details={"disbursement_status": result.status})
    return render(loan, _render_new_schedule(loan, schedule, disb))


def _render_new_schedule(loan: dict[str, Any], schedule: Schedule, disb: dt.date) -> dict[str, Any]:
    """What :func:`render_schedule` gives for a new loan's current schedule (nothing charged or paid
    beyond the schedule, nothing accrued), straight from the engine's rows."""
    places = _places(loan)
    zero = Decimal(0)

    def s(v: Decimal) -> str:   # to_str(v, places); the engine's amounts already carry the places
        return format(v, "f") if v.as_tuple().exponent == -places else to_str(v, places)

    z = s(zero)
    paid = {"principal": z, "interest": z, "fees": z, "penalty": z, "total": z}
    rows = schedule.installments
    balance = sum((r.principal for r in rows), zero)
    tp, ti, tf = balance, zero, zero
    items = []
    for r in rows:
        balance -= r.principal
        total = r.principal + r.interest + r.fees
        ti += r.interest
        tf += r.fees
        ts = s(total)
        items.append({
            "number": r.number, "from_date": r.from_date.isoformat(), "due_date": r.due_date.isoformat(),
            "days": (r.due_date - r.from_date).days, "principal": s(r.principal), "interest": s(r.interest),
            "fees": s(r.fees), "penalty": z, "total": ts, "paid": dict(paid), "outstanding_total": ts,
            "accrued_interest": z, "status": "pending", "paid_on": None, "principal_outstanding_after": s(balance)})
    return {
        "object": "loan_schedule", "loan_id": loan["id"], "version": 1, "current": loan["schedule_version"] == 1,
        "reason": "disbursement", "effective_date": disb.isoformat(), "currency": loan["currency"],
        "installments": items, "total_principal": s(tp), "total_interest": s(ti), "total_fees": s(tf),
        "total_penalty": z, "total": s(tp + ti + tf)}


def _books_in_sql(disburser: Disburser) -> bool:
    """Whether the drawdown's one SQL call books the disbursement entry itself: for the clearing
    disburser (whatever its account codes), whose ``disburse`` does nothing else."""
    return isinstance(disburser, ClearingDisburser) and type(disburser).disburse is ClearingDisburser.disburse \
        and type(disburser).journal_lines is ClearingDisburser.journal_lines


_DRAWDOWN_CALL = ("SELECT * FROM loan_drawdown(%(line)s, %(principal)s, %(today)s, %(id)s, %(customer)s, %(product)s, "
                  "%(version)s, %(currency)s, %(rate)s, %(term)s, %(method)s, %(disb)s, %(first)s, %(maturity)s, "
                  "%(upfront)s, %(net)s, %(apr_n)s, %(apr_e)s, %(terms)s, %(rules)s, %(lm)s, %(n)s::int[], "
                  "%(from)s::date[], %(due)s::date[], %(p)s::numeric[], %(i)s::numeric[], %(f)s::numeric[], "
                  "%(o)s::numeric[], %(txn)s, %(channel)s, %(details)s, %(entry_ids)s::text[], %(entry)s, "
                  "%(accounts)s::text[], %(currencies)s::text[], %(amounts)s::numeric[])")


# Arrays go to PostgreSQL as array literals in one text parameter each (cast in the statement): much
# less client CPU than psycopg's adaptation of lists, and safe as every element is an int, a date or
# a finite Decimal (format "f": no exponent), none of which needs quoting.  None is NULL.
def _int_array(items: list[int]) -> str:
    return "{" + ",".join(map(str, items)) + "}"


def _date_array(items: list[dt.date | None]) -> str:
    return "{" + ",".join("NULL" if d is None else d.isoformat() for d in items) + "}"


def _num_array(items: list[Decimal | None]) -> str:
    return "{" + ",".join("NULL" if v is None else format(v, "f") for v in items) + "}"


def _text_array(items: list[str]) -> str:
    """Only for words of letters, digits and underscores (statuses): nothing to quote."""
    return "{" + ",".join(items) + "}"


def loan_values(line: dict[str, Any], product: dict[str, Any], terms: ScheduleTerms, schedule: Schedule, *,
                loan_id: str, txn_id: str, entry_id: str) -> dict[str, Any]:
    """A new loan's own fields as the drawdown statements take them (``terms``, ``rules`` and the
    disbursement transaction's ``details`` as plain JSON values)."""
    rows = schedule.installments
    apr = schedule.apr()
    return {"id": loan_id, "line": line["id"], "customer": line["customer_id"], "product": line["product_id"],
            "version": line["product_version"], "currency": line["currency"], "principal": terms.principal,
            "rate": terms.annual_rate, "term": terms.term, "method": terms.method, "disb": terms.disbursement_date,
            "first": rows[0].due_date, "maturity": rows[-1].due_date, "upfront": schedule.upfront_fees,
            "net": schedule.net_disbursed, "apr_n": apr.nominal, "apr_e": apr.effective,
            "terms": terms_to_json(terms), "rules": _rules_json(product, terms.annual_rate), "txn": txn_id,
            "details": {"disbursement_status": "pending", "net_amount": format(schedule.net_disbursed, "f"),
                        "upfront_fees": format(schedule.upfront_fees, "f")}}


def disbursement_lines(disburser: ClearingDisburser, line: dict[str, Any], terms: ScheduleTerms,
                       schedule: Schedule, today: dt.date, *, loan_id: str, txn_id: str,
                       entry_id: str) -> tuple[list[str], list[str], list[Decimal]]:
    """The disbursement entry's lines as ``ledger_post`` takes them (accounts, currencies, amounts), checked."""
    d = Disbursement(loan_id=loan_id, receipt_no="", customer_id=line["customer_id"], transaction_id=txn_id,
                     entry_id=entry_id, currency=line["currency"], principal=terms.principal,
                     upfront_fees=schedule.upfront_fees, net_amount=schedule.net_disbursed,
                     value_date=terms.disbursement_date, booking_date=today)
    ledger.validate_entry_id(entry_id)
    return ledger.validate_lines(disburser.journal_lines(d))


def _insert_loan(conn: psycopg.Connection, line: dict[str, Any], product: dict[str, Any], terms: ScheduleTerms,
                 schedule: Schedule, *, today: dt.date, disburser: ClearingDisburser | None = None) -> dict[str, Any]:
    """Write the loan (see the module docstring).  With ``disburser`` (a :class:`ClearingDisburser`),
    also reserve the limit and book the disbursement entry, all in one call of ``loan_drawdown``
    (migration 0006); a refused reservation raises the line's refusal and writes nothing."""
    rows = schedule.installments
    loan_id, txn_id, entry_id = new_id("loan"), new_id("txn"), new_id("je")
    if disburser is not None:
        accounts, currencies, amounts = disbursement_lines(disburser, line, terms, schedule, today,
                                                           loan_id=loan_id, txn_id=txn_id, entry_id=entry_id)
        sql, extra = _DRAWDOWN_CALL, {"line": line["id"], "entry": entry_id, "accounts": ledger._array(accounts),
                                      "currencies": ledger._array(currencies),
                                      "amounts": ledger._numeric_array(amounts)}
    else:
        sql, extra = _INSERT_LOAN, {}
    values = loan_values(line, product, terms, schedule, loan_id=loan_id, txn_id=txn_id, entry_id=entry_id)
    for k in ("terms", "rules", "details"):
        values[k] = Jsonb(values[k])
    try:
        loan = conn.execute(sql, {**extra, **values, "today": today, "lm": _livemode(), "channel": "clearing",
                                  "entry_ids": ledger._array([entry_id]),
                                  "n": _int_array([r.number for r in rows]),
                                  "from": _date_array([r.from_date for r in rows]),
                                  "due": _date_array([r.due_date for r in rows]),
                                  "p": _num_array([r.principal for r in rows]),
                                  "i": _num_array([r.interest for r in rows]),
                                  "f": _num_array([r.fees for r in rows]),
                                  "o": _num_array([r.outstanding for r in rows])}, prepare=True).fetchone()
    except psycopg.Error as exc:
        if disburser is None:
            raise
        problem = ledger._translate(exc, accounts)   # an account of the disburser's that the chart lacks
        if problem is None:
            raise
        raise problem from None
    if loan is None:   # loan_drawdown: the line could not lend the amount, nothing was written
        problem = lines.refusal(lines.load(conn, line["id"]), terms.principal, on=today)
        if problem is None:  # cannot happen: the statement's guard is this check
            raise RuntimeError(f"reserve on {line['id']} refused for no reason")
        raise problem
    loan["_txn"], loan["_entry"] = txn_id, entry_id
    return loan


def _disburse(conn: psycopg.Connection, loan: dict[str, Any], today: dt.date, disburser: Disburser):
    d = Disbursement(loan_id=loan["id"], receipt_no=loan["receipt_no"], customer_id=loan["customer_id"],
                     transaction_id=loan["_txn"], entry_id=loan["_entry"], currency=loan["currency"],
                     principal=loan["principal"], upfront_fees=loan["upfront_fees"], net_amount=loan["net_disbursed"],
                     value_date=loan["disbursement_date"], booking_date=today)
    result = disburser.disburse(conn, d)
    if result.status == "failed":
        raise Problem(DISBURSEMENT_FAILED, f"The payout of loan {loan['receipt_no']} was refused by {result.channel}.")
    if (result.status, result.channel, tuple(result.entry_ids)) != ("pending", "clearing", (loan["_entry"],)):
        conn.execute("UPDATE loan_transactions SET channel = %s, entry_ids = %s, "
                     "details = details || jsonb_build_object('disbursement_status', %s::text) WHERE id = %s",
                     [result.channel, list(result.entry_ids), result.status, loan["_txn"]])
    return result


DISBURSEMENT_FAILED = errors.problem_type(
    "disbursement-failed", "Disbursement failed", 422,
    "The payment channel refused to pay the loan out; no loan was made and the limit was not used.")


# --- servicing ----------------------------------------------------------------------------------------
#
# Every money-moving use case, in the caller's transaction (one per request):
#   lock the loan row -> terms + active events -> add the new event -> fold (engine.run) as of the
#   business date -> write installments, schedule versions (when the schedule changed) and the loan's
#   summary -> the transaction row (allocation in ``details``) -> ONE journal entry with the
#   differences of the cumulative figures against ``loan_posted_totals`` (:mod:`.posting`), id
#   ``je_<txn id>`` -> the line: principal repaid (or written off) is released, principal that a
#   reversal brings back is reserved again.
# A refusal raises before the commit: nothing is written.

from . import engine as eng  # noqa: E402
from . import posting  # noqa: E402

LOAN_CLOSED = errors.problem_type(
    "loan-closed", "Loan closed", 409,
    "The loan is paid off or written off: it takes no new events (a reversal of its closing event reopens it).")
NOT_REVERSIBLE = errors.problem_type(
    "transaction-not-reversible", "Transaction cannot be reversed", 409,
    "Only an active repayment, prepayment, due-day change, reschedule, charge, write-off or refund can be reversed, "
    "once.")

_EVENT_TYPES = ("repayment", "prepayment", "due_day_change", "reschedule", "charge", "write_off", "refund")
_POINTERS = {"on": "/query/date", "as_of": "/value_date", "new_day": "/new_day", "new_term": "/new_term"}


def business_date(conn: psycopg.Connection) -> dt.date:
    """The open business day: ``system_state.business_date`` once close of business has run
    (``openlend cob --date D`` moves it to D + 1), else the server's calendar date."""
    r = conn.execute("SELECT business_date FROM system_state", prepare=True).fetchone()
    return r["business_date"] if r and r["business_date"] else lines.today()


def rule_problem(exc: eng.LoanRuleError, pointer: str | None = None) -> Problem:
    """A :class:`~.engine.LoanRuleError` as a 422 problem ``/problems/<code>`` (409 for a closed loan)."""
    if exc.code == "loan-closed":
        pt, status = LOAN_CLOSED, None
    else:
        pt = errors.PROBLEM_TYPES.get(exc.code) or errors.problem_type(
            exc.code, exc.code.replace("-", " ").capitalize(), 422,
            "A loan servicing rule refused the request; `errors` points at the field (docs/design/servicing.md).")
        status = 422
    ptr = pointer or _POINTERS.get(exc.field) or "/" + exc.field.replace(".", "/")
    extra = {"event_id": exc.event_id} if exc.event_id else {}
    return Problem(pt, exc.message, errors=[{"pointer": ptr, "detail": exc.message}], status=status, extra=extra)


def loan_terms(loan: dict[str, Any]) -> eng.LoanTerms:
    r = servicing_rules(loan)
    pre = r["prepayment_fee"]
    return eng.LoanTerms(schedule=schedule_terms(loan), penalty_annual_rate=r["penalty_annual_rate"],
                         allocation_order=tuple(r["allocation"]["order"]),
                         allocation_strategy=r["allocation"]["strategy"],
                         prepayment_fee=None if pre["calculation"] == "none" else pre, currency=loan["currency"])


def _event(t: dict[str, Any]):
    d, k = t["details"] or {}, t["type"]
    if k == "repayment":
        return eng.Repayment(t["id"], t["value_date"], t["amount"], seq=t["seq"])
    if k == "prepayment":
        return eng.Prepayment(t["id"], t["value_date"], t["amount"], mode=d["mode"], seq=t["seq"])
    if k == "due_day_change":
        return eng.ChangeDueDay(t["id"], t["value_date"], int(d["new_day"]), seq=t["seq"])
    if k == "reschedule":
        return eng.Reschedule(t["id"], t["value_date"], int(d["new_term"]), seq=t["seq"])
    if k == "charge":
        return eng.Charge(t["id"], t["value_date"], t["amount"], name=d.get("name", "charge"), seq=t["seq"])
    if k == "write_off":
        return eng.WriteOff(t["id"], t["value_date"], seq=t["seq"])
    if k == "refund":
        return eng.Refund(t["id"], t["value_date"], t["amount"], seq=t["seq"])
    raise AssertionError(k)


# The loan's active events; ``details`` only of the types whose event needs it (:func:`_event`): a
# repayment's details (its allocation, what it posted) are the bulk of the history and never needed.
_EVENTS = ("SELECT id, type, value_date, amount, seq, "
           "CASE WHEN type IN ('prepayment', 'due_day_change', 'reschedule', 'charge') THEN details END AS details "
           "FROM loan_transactions WHERE loan_id = %s AND status = 'active' AND type = ANY(%s::text[]) ORDER BY seq")
_EVENT_TYPES_ARRAY = "{" + ",".join(_EVENT_TYPES) + "}"


def _events(conn: psycopg.Connection, loan_id: str, *, leave_out: str | None = None) -> list:
    rows = conn.execute(_EVENTS, [loan_id, _EVENT_TYPES_ARRAY], prepare=True).fetchall()
    return [_event(t) for t in rows if t["id"] != leave_out]


def _run(terms: eng.LoanTerms, events: list, as_of: dt.date, pointer: str | None = None) -> eng.LoanState:
    try:
        return eng.run(terms, events, as_of)
    except eng.LoanRuleError as exc:
        raise rule_problem(exc, pointer) from None


def _next_seq(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT nextval(pg_get_serial_sequence('loan_transactions', 'seq')) AS n").fetchone()["n"]


def _open_loan(conn: psycopg.Connection, loan_id: str, currency: str | None = None) -> dict[str, Any]:
    loan = load_for_update(conn, loan_id)
    _check_open(loan, loan_id, currency)
    return loan


def _check_open(loan: dict[str, Any], loan_id: str, currency: str | None = None) -> None:
    if currency is not None and currency != loan["currency"]:
        raise field_error(errors.VALIDATION, "/currency", f"the loan is in {loan['currency']}, not {currency}")
    if loan["status"] in ("paid_off", "written_off"):
        raise Problem(LOAN_CLOSED, f"Loan {loan_id} was {loan['status'].replace('_', ' ')} on "
                                   f"{loan['closed_on'].isoformat()}; it takes no new events.")


def _money(d: Decimal) -> str:
    return format(d, "f")


def _allocation_json(a: eng.Allocation, places: int) -> dict[str, Any]:
    _money = lambda v: to_str(v, places)  # noqa: E731
    return {"amount": _money(a.amount), "principal": _money(a.principal), "interest": _money(a.interest),
            "fees": _money(a.fees), "penalty": _money(a.penalty), "overpayment": _money(a.overpayment),
            "reallocated": _money(a.reallocated), "prepayment_fee": _money(a.prepayment_fee),
            "closed_loan": a.closed_loan,
            "installments": [{"number": i.number, "principal": _money(i.principal), "interest": _money(i.interest),
                              "fees": _money(i.fees), "penalty": _money(i.penalty)} for i in a.installments]}


_UPSERT_INSTALLMENTS = """
WITH gone AS (DELETE FROM loan_installments WHERE loan_id = %(loan)s AND number > %(count)s)
INSERT INTO loan_installments (loan_id, number, from_date, due_date, principal, interest, fees, penalty,
                               paid_principal, paid_interest, paid_fees, paid_penalty, accrued_interest, status,
                               paid_on, interest_from, interest_fixed, fees_charged)
SELECT %(loan)s, r.* FROM unnest(%(n)s::int[], %(fr)s::date[], %(due)s::date[], %(p)s::numeric[], %(i)s::numeric[],
                                 %(f)s::numeric[], %(pen)s::numeric[], %(pp)s::numeric[], %(pi)s::numeric[],
                                 %(pf)s::numeric[], %(ppen)s::numeric[], %(acc)s::numeric[], %(st)s::text[],
                                 %(paid_on)s::date[], %(ifrom)s::date[], %(ifix)s::numeric[],
                                 %(fch)s::numeric[]) r
ON CONFLICT (loan_id, number) DO UPDATE SET
    from_date = EXCLUDED.from_date, due_date = EXCLUDED.due_date, principal = EXCLUDED.principal,
    interest = EXCLUDED.interest, fees = EXCLUDED.fees, penalty = EXCLUDED.penalty,
    paid_principal = EXCLUDED.paid_principal, paid_interest = EXCLUDED.paid_interest,
    paid_fees = EXCLUDED.paid_fees, paid_penalty = EXCLUDED.paid_penalty,
    accrued_interest = EXCLUDED.accrued_interest, status = EXCLUDED.status, paid_on = EXCLUDED.paid_on,
    interest_from = EXCLUDED.interest_from, interest_fixed = EXCLUDED.interest_fixed,
    fees_charged = EXCLUDED.fees_charged
WHERE (loan_installments.from_date, loan_installments.due_date, loan_installments.principal,
       loan_installments.interest, loan_installments.fees, loan_installments.penalty,
       loan_installments.paid_principal, loan_installments.paid_interest, loan_installments.paid_fees,
       loan_installments.paid_penalty, loan_installments.accrued_interest, loan_installments.status,
       loan_installments.paid_on, loan_installments.interest_from, loan_installments.interest_fixed,
       loan_installments.fees_charged)
      IS DISTINCT FROM
      (EXCLUDED.from_date, EXCLUDED.due_date, EXCLUDED.principal, EXCLUDED.interest, EXCLUDED.fees,
       EXCLUDED.penalty, EXCLUDED.paid_principal, EXCLUDED.paid_interest, EXCLUDED.paid_fees,
       EXCLUDED.paid_penalty, EXCLUDED.accrued_interest, EXCLUDED.status, EXCLUDED.paid_on,
       EXCLUDED.interest_from, EXCLUDED.interest_fixed, EXCLUDED.fees_charged)"""
# (a row the new state leaves as it was is not rewritten: no new row version, no index or WAL work)


def _paid_on(state: eng.LoanState) -> dict[int, dt.date]:
    """Per installment, the value date of the last payment that touched it."""
    out: dict[int, dt.date] = {}
    for a in state.allocations.values():
        for i in a.installments:
            if any((i.principal, i.interest, i.fees, i.penalty)):
                out[i.number] = max(out.get(i.number, a.value_date), a.value_date)
    return out


_STORED_SCHEDULE = ("SELECT number, from_date, due_date, principal, interest, fees FROM loan_scheduled_installments "
                    "WHERE loan_id = %s AND version = %s ORDER BY number")
# the same for the loan's current version, read in the first round trip of a servicing use case (after
# the loan's row lock: its schedule_version cannot move)
_STORED_CURRENT_SCHEDULE = (
    "SELECT s.number, s.from_date, s.due_date, s.principal, s.interest, s.fees FROM loan_scheduled_installments s "
    "JOIN loans l ON l.id = s.loan_id AND s.version = l.schedule_version WHERE s.loan_id = %s ORDER BY s.number")


def _store_state(conn: psycopg.Connection, loan: dict[str, Any], state: eng.LoanState, txn_id: str, *,
                 stored: list[tuple] | None = None,
                 update_loan: bool = True) -> tuple[int, str | None, dt.date | None]:
    """Write the state's installments, a new schedule version when the schedule changed, and the loan's
    summary.  ``stored``: the loan's current stored schedule as ``(number, from_date, due_date, principal,
    interest, fees)`` tuples when already read (else it is read here).  Answers the loan's schedule
    version now, with the reason and effective date of the version when it made one (else None, None).
    ``update_loan=False``: the caller writes the loan's summary (:func:`_loan_summary`) itself."""
    rows = state.installments
    paid_on = _paid_on(state)
    # the rows beyond the state's (a shorter schedule) go in the same statement: they are not the rows upserted
    conn.execute(_UPSERT_INSTALLMENTS, {
        "loan": loan["id"], "count": len(rows), "n": _int_array([r.number for r in rows]),
        "fr": _date_array([r.from_date for r in rows]),
        "due": _date_array([r.due_date for r in rows]), "p": _num_array([r.principal for r in rows]),
        "i": _num_array([r.interest for r in rows]), "f": _num_array([r.fees for r in rows]),
        "pen": _num_array([r.penalty for r in rows]), "pp": _num_array([r.paid_principal for r in rows]),
        "pi": _num_array([r.paid_interest for r in rows]), "pf": _num_array([r.paid_fees for r in rows]),
        "ppen": _num_array([r.paid_penalty for r in rows]), "acc": _num_array([r.accrued_interest for r in rows]),
        "st": _text_array(["pending" if r.status == "future" else r.status for r in rows]),
        "paid_on": _date_array([paid_on.get(r.number) if r.status == "paid" else None for r in rows]),
        "ifrom": _date_array([r.interest_from for r in rows]), "ifix": _num_array([r.interest_fixed for r in rows]),
        "fch": _num_array([r.fees_charged for r in rows])}, prepare=True)

    # a new schedule version when the engine's current schedule differs from the stored current one
    version = loan["schedule_version"]
    current = state.schedule_versions[-1]
    if stored is None:
        stored = conn.cursor(row_factory=tuple_row).execute(_STORED_SCHEDULE, [loan["id"], version]).fetchall()
    want = [(r.number, r.from_date, r.due_date, r.principal, r.interest, r.fees) for r in current.installments]
    made: tuple[str | None, dt.date | None] = (None, None)
    if stored != want:
        version += 1
        # the reason of the version the new event made (a same-day event of a lower rank is folded
        # before earlier-entered ones, so it need not be the last); else the schedule moved by replay
        reason = next((v.reason for v in state.schedule_versions if v.event_id == txn_id), "replay")
        conn.execute("INSERT INTO loan_schedule_versions (loan_id, version, reason, effective_date, transaction_id) "
                     "VALUES (%s, %s, %s, %s, %s)", [loan["id"], version, reason, current.effective_date, txn_id])
        made = (reason, current.effective_date)
        ins = current.installments
        conn.execute(
            "INSERT INTO loan_scheduled_installments (loan_id, version, number, from_date, due_date, principal, "
            "interest, fees, outstanding) SELECT %s, %s, r.* FROM unnest(%s::int[], %s::date[], %s::date[], "
            "%s::numeric[], %s::numeric[], %s::numeric[], %s::numeric[]) r",
            [loan["id"], version, _int_array([r.number for r in ins]), _date_array([r.from_date for r in ins]),
             _date_array([r.due_date for r in ins]), _num_array([r.principal for r in ins]),
             _num_array([r.interest for r in ins]), _num_array([r.fees for r in ins]),
             _num_array([r.outstanding for r in ins])])
    if update_loan:
        conn.execute(_UPDATE_LOAN, _loan_summary(loan, state, version), prepare=True)
    return version, made[0], made[1]


_UPDATE_LOAN_SET = ("status = %(status)s, days_past_due = %(dpd)s, bucket = %(bucket)s, principal_outstanding = "
                    "%(po)s, next_due_date = %(next)s, closed_on = %(closed)s, schedule_version = %(version)s, "
                    "maturity_date = %(maturity)s, updated_at = now()")
_UPDATE_LOAN = f"UPDATE loans SET {_UPDATE_LOAN_SET} WHERE id = %(loan)s"


def _loan_summary(loan: dict[str, Any], state: eng.LoanState, version: int) -> dict[str, Any]:
    """The parameters of the loan's summary update (:data:`_UPDATE_LOAN`)."""
    return {"status": state.status, "dpd": state.days_past_due, "bucket": state.bucket,
            "po": state.outstanding.principal, "next": state.next_due_date, "closed": state.closed_on,
            "version": version, "maturity": state.installments[-1].due_date, "loan": loan["id"]}


_TOTALS_COLS = ("disbursed",) + posting.FIGURES


def _post(conn: psycopg.Connection, loan: dict[str, Any], state: eng.LoanState, txn_id: str, today: dt.date,
          memo: str, value_date: dt.date) -> tuple[list[str], dict[str, Decimal]]:
    """Post the differences (one entry ``je_<txn id>``) and record the new totals; the entry ids and
    the differences."""
    posted = conn.execute(f"SELECT {', '.join(_TOTALS_COLS)} FROM loan_posted_totals WHERE loan_id = %s FOR UPDATE",
                          [loan["id"]], prepare=True).fetchone()
    new = state.totals._asdict()
    diff = posting.differences(new, posted)
    jl = posting.journal_lines(diff, loan["currency"])
    entry_ids: list[str] = []
    if jl:
        entry_id = "je_" + txn_id
        ledger.post_entry(conn, entry_id=entry_id, effective_date=today, lines=jl, memo=memo,
                          source=("loan_transaction", txn_id),
                          metadata={"loan_id": loan["id"], "value_date": value_date.isoformat()})
        entry_ids.append(entry_id)
    _update_posted_totals(conn, loan, new, today)
    return entry_ids, diff


# as_of: the date the stored state is as of (close of business carries it on from there)
_UPDATE_POSTED_TOTALS_SET = (f"{', '.join(f'{k} = %({k})s' for k in posting.FIGURES)}, "
                             f"written_off = %(wo)s, as_of = %(as_of)s, updated_at = now()")
_UPDATE_POSTED_TOTALS = f"UPDATE loan_posted_totals SET {_UPDATE_POSTED_TOTALS_SET} WHERE loan_id = %(loan)s"


def _posted_totals_params(loan: dict[str, Any], new: dict[str, Decimal], today: dt.date) -> dict[str, Any]:
    return {**{k: new[k] for k in posting.FIGURES}, "as_of": today, "loan": loan["id"],
            "wo": sum((new[k] for k in posting.WRITE_OFFS), Decimal(0))}


def _update_posted_totals(conn: psycopg.Connection, loan: dict[str, Any], new: dict[str, Decimal],
                          today: dt.date) -> None:
    conn.execute(_UPDATE_POSTED_TOTALS, _posted_totals_params(loan, new, today), prepare=True)


# The pipelined finish's writes other than the installments, the journal entry and the line (whose
# used_amount moves only by lines.reserve / lines.release), in one statement (rows of three tables,
# none written twice): the transaction (complete; its created_at answered), the loan's summary and the
# posted totals.
_FINISH_WRITES = f"""
WITH t AS (
    INSERT INTO loan_transactions (id, loan_id, type, value_date, amount, channel, seq, details, livemode, entry_ids)
    VALUES (%(txn)s, %(loan)s, %(type)s, %(value_date)s, %(amount)s, %(channel)s, %(seq)s, %(details)s, %(lm)s,
            %(entry_ids)s::text[])
    RETURNING created_at),
l AS (UPDATE loans SET {_UPDATE_LOAN_SET} WHERE id = %(loan)s),
p AS (UPDATE loan_posted_totals SET {_UPDATE_POSTED_TOTALS_SET} WHERE loan_id = %(loan)s)
SELECT t.created_at FROM t"""


def _move_line(conn: psycopg.Connection, loan: dict[str, Any], diff: dict[str, Decimal], today: dt.date,
               details: dict[str, Any]) -> None:
    """Release principal repaid or written off; reserve again what a reversal brings back.  When the line
    cannot take it back (frozen, expired, or its limit since lowered), the reversal still stands — the
    payment did not happen — and the line is used up to its limit: the shortfall is recorded on the
    reversal (``details.line_shortfall``) for an operator."""
    freed = diff["principal_repaid"] + diff["written_off_principal"]
    if freed > 0:
        lines.release(conn, loan["line_id"], freed)
    elif freed < 0:
        try:
            lines.reserve(conn, loan["line_id"], -freed, on=today)
        except Problem:
            want = -freed
            row = conn.execute(
                "WITH o AS (SELECT used_amount FROM credit_lines WHERE id = %(id)s FOR UPDATE) "
                "UPDATE credit_lines c SET used_amount = least(c.limit_amount, c.used_amount + %(amt)s), "
                "updated_at = now() FROM o WHERE c.id = %(id)s AND c.status <> 'closed' "
                "RETURNING c.used_amount - o.used_amount AS taken", {"id": loan["line_id"], "amt": want}).fetchone()
            taken = row["taken"] if row is not None else Decimal(0)
            details["line_shortfall"] = _money(want - taken)


def _insert_txn(conn: psycopg.Connection, loan: dict[str, Any], txn_id: str, seq: int, type_: str,
                value_date: dt.date, amount: Decimal, channel: str | None, details: dict[str, Any],
                entry_ids: list[str] | None = None) -> psycopg.Cursor | None:
    if entry_ids is None:
        conn.execute("INSERT INTO loan_transactions (id, loan_id, type, value_date, amount, channel, seq, details, "
                     "livemode) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                     [txn_id, loan["id"], type_, value_date, amount, channel, seq, Jsonb(details), loan["livemode"]])
    else:   # complete (details and entry ids), answering its created_at
        return conn.cursor(row_factory=tuple_row).execute(
            "INSERT INTO loan_transactions (id, loan_id, type, value_date, amount, channel, seq, details, "
            "livemode, entry_ids) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::text[]) RETURNING created_at",
            [txn_id, loan["id"], type_, value_date, amount, channel, seq, Jsonb(details), loan["livemode"],
             ledger._array(entry_ids) if entry_ids else "{}"], prepare=True)


def _finish(conn: psycopg.Connection, loan: dict[str, Any], state: eng.LoanState, *, txn_id: str, seq: int,
            type_: str, value_date: dt.date, amount: Decimal, channel: str | None, details: dict[str, Any],
            today: dt.date, memo: str, reverses: str | None = None, posted: dict[str, Decimal] | None = None,
            stored: list[tuple] | None = None, extras: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the event's effects and answer the transaction and the loan.  With ``posted`` (the loan's
    posted totals, read under its lock) and ``stored`` (its current stored schedule), everything is
    sent in one pipeline and read back in ONE round trip, unless a reversal must take principal back
    on the line (that needs the line's answer first)."""
    if posted is not None and stored is not None:
        diff = posting.differences(state.totals._asdict(), posted)
        if diff["principal_repaid"] + diff["written_off_principal"] >= 0:
            return _finish_pipelined(conn, loan, state, diff, stored, txn_id=txn_id, seq=seq, type_=type_,
                                     value_date=value_date, amount=amount, channel=channel, details=details,
                                     today=today, memo=memo, reverses=reverses, extras=extras)
    with conn.pipeline():   # the statements that read nothing back go with the next one that does
        return _finish_statements(conn, loan, state, txn_id=txn_id, seq=seq, type_=type_, value_date=value_date,
                                  amount=amount, channel=channel, details=details, today=today, memo=memo,
                                  reverses=reverses)


def _finish_pipelined(conn: psycopg.Connection, loan: dict[str, Any], state: eng.LoanState,
                      diff: dict[str, Decimal], stored: list[tuple], *, txn_id: str, seq: int, type_: str,
                      value_date: dt.date, amount: Decimal, channel: str | None, details: dict[str, Any],
                      today: dt.date, memo: str, reverses: str | None,
                      extras: dict[str, Any] | None) -> dict[str, Any]:
    """:func:`_finish_statements` when the differences to post are known up front (``diff`` from the
    posted totals read under the loan's lock) and the line only gives principal back (no reservation
    to wait for): the transaction row is written once, complete (details, entry ids), with the loan's
    summary and the posted totals in one statement (:data:`_FINISH_WRITES`), and everything is sent
    before anything is read: one round trip (the pipeline's sync at its end).  ``extras``:
    :data:`_LOAN_EXTRAS` as read under the loan's lock (then the answer is made from the state in hand,
    see :func:`_loan_after`)."""
    plan = _finish_plan(loan, state, diff, txn_id=txn_id, type_=type_, value_date=value_date, details=details,
                        today=today, memo=memo)
    try:
        with conn.pipeline():   # sent in order; all read back at the end, by the pipeline's one sync
            read = _finish_send(conn, plan, stored, seq=seq, amount=amount, channel=channel, reverses=reverses,
                                extras=extras)
    except psycopg.Error as exc:   # as ledger.post_entry translates its errors
        problem = ledger._translate(exc, plan["accounts"]) if plan["jl"] else None
        if problem is None:
            raise
        raise problem from None
    return read()


def _finish_plan(loan: dict[str, Any], state: eng.LoanState, diff: dict[str, Decimal], *, txn_id: str,
                 type_: str, value_date: dt.date, details: dict[str, Any], today: dt.date,
                 memo: str) -> dict[str, Any]:
    """What :func:`_finish_send` writes for an event, checked before anything is sent: the
    transaction's details (allocation, what it posted, the status after), the journal entry's lines
    (as ``ledger.post_entry`` checks them) and the principal the line gets back."""
    places = currency_places(loan["currency"])
    alloc = state.allocations.get(txn_id)
    if alloc is not None:
        details["allocation"] = _allocation_json(alloc, places)
    details["posted"] = {k: to_str(v, places) for k, v in diff.items() if v}
    details["status_after"] = state.status
    jl = posting.journal_lines(diff, loan["currency"])
    entry_ids: list[str] = []
    accounts: list[str] = []
    currencies: list[str] = []
    amounts: list[Decimal] = []
    if jl:   # as ledger.post_entry checks it, before anything is sent
        entry_id = "je_" + txn_id
        ledger.validate_entry_id(entry_id)
        ledger._check_date(today)
        accounts, currencies, amounts = ledger.validate_lines(jl)
        if len(memo) > 1000:
            raise field_error(errors.VALIDATION, "memo", "a memo is at most 1000 characters")
        entry_ids.append(entry_id)
    return {"loan": loan, "state": state, "txn_id": txn_id, "type": type_, "value_date": value_date,
            "details": details, "today": today, "memo": memo, "jl": bool(jl), "entry_ids": entry_ids,
            "accounts": accounts, "currencies": currencies, "amounts": amounts,
            "freed": diff["principal_repaid"] + diff["written_off_principal"]}


def _finish_send(conn: psycopg.Connection, plan: dict[str, Any], stored: list[tuple], *, seq: int,
                 amount: Decimal, channel: str | None, reverses: str | None, extras: dict[str, Any] | None,
                 post: bool = True, release: bool = True):
    """Send :func:`_finish_plan`'s writes (in a pipeline: nothing is read here) and answer the function
    that reads them back as the use case's answer, once the pipeline has synced.  ``post=False``: the
    journal entry is left to the caller (``plan`` has its lines: a batch books many entries at once);
    ``release=False``: so is giving ``plan["freed"]`` back to the line."""
    loan, state, txn_id, today = plan["loan"], plan["state"], plan["txn_id"], plan["today"]
    type_, value_date, details, entry_ids = plan["type"], plan["value_date"], plan["details"], plan["entry_ids"]
    freed = plan["freed"]
    # the loan's answer from the state in hand when its amounts are stored exactly (numeric(20,4)
    # columns: up to 4 places), else read back as get_loan reads it
    read_back = extras is None or loan["terms"]["rounding"]["places"] > 4
    entry = got = released = None
    if reverses is not None:
        conn.execute("UPDATE loan_transactions SET status = 'reversed', reversed_by = %s WHERE id = %s",
                     [txn_id, reverses])
    version, reason, effective = _store_state(conn, loan, state, txn_id, stored=stored, update_loan=False)
    written = conn.cursor(row_factory=tuple_row).execute(_FINISH_WRITES, {
        **_posted_totals_params(loan, state.totals._asdict(), today), **_loan_summary(loan, state, version),
        "txn": txn_id, "type": type_, "value_date": value_date, "amount": amount, "channel": channel,
        "seq": seq, "details": Jsonb(details), "lm": loan["livemode"],
        "entry_ids": ledger._array(entry_ids) if entry_ids else "{}"}, prepare=True)
    # the line before the ledger's balance rows: the lock order of every money path (loans, then
    # lines, then balances), so that a repayment and a drawdown on one line cannot deadlock
    if release and freed > 0:
        released = lines.send_release(conn, loan["line_id"], freed)
    if plan["jl"] and post:
        entry = conn.cursor(row_factory=tuple_row).execute(
            ledger._POST, (entry_ids[0], today, ledger._array(plan["accounts"]), ledger._array(plan["currencies"]),
                           ledger._numeric_array(plan["amounts"]), plan["memo"], "loan_transaction", txn_id,
                           Jsonb({"loan_id": loan["id"], "value_date": value_date.isoformat()})),
            prepare=True)
    if read_back:
        got = _send_get_loan(conn, loan["id"])

    def read() -> dict[str, Any]:
        if entry is not None:
            assert entry.fetchone() is not None
        created_at = written.fetchone()[0]
        if released is not None and released.fetchone() is None:
            raise errors.not_found("credit line", loan["line_id"])
        # the row as get_transaction reads it back: details in jsonb's key order, created_at as stored
        row = {"id": txn_id, "loan_id": loan["id"], "type": type_, "value_date": value_date, "amount": amount,
               "channel": channel, "status": "active", "reversed_by": None, "details": _as_jsonb(details),
               "entry_ids": entry_ids, "created_at": created_at}
        if got is not None:
            return {"transaction": _render_txn(row, loan["currency"]), "loan": _read_get_loan(loan["id"], got)}
        return {"transaction": _render_txn(row, loan["currency"]),
                "loan": _loan_after(loan, extras, state, version, reason, effective)}
    return read


# what get_loan reads beside the loan's own row (its disbursement and its current version's reason),
# with the business date and the next transaction sequence number (run after the loan's row lock)
_LOAN_EXTRAS = (
    f"SELECT (SELECT business_date FROM system_state) AS business_date, "
    f"nextval(pg_get_serial_sequence('loan_transactions', 'seq')) AS n, "
    f"{_DISB_COLS}, v.reason AS schedule_reason, v.effective_date AS schedule_effective_date "
    f"FROM loans l "
    f"LEFT JOIN LATERAL (SELECT * FROM loan_transactions t WHERE t.loan_id = l.id AND t.type = 'disbursement' "
    f"                   ORDER BY t.seq LIMIT 1) d ON true "
    f"LEFT JOIN loan_schedule_versions v ON v.loan_id = l.id AND v.version = l.schedule_version "
    f"WHERE l.id = %s")


def _loan_after(loan: dict[str, Any], extras: dict[str, Any], state: eng.LoanState, version: int,
                reason: str | None, effective: dt.date | None) -> dict[str, Any]:
    """:func:`get_loan` after :func:`_store_state` wrote ``state`` (and the posted totals were moved to
    its date), from what is in hand: ``loan`` (the row as read before), ``extras`` (:data:`_LOAN_EXTRAS`,
    read under the loan's lock), the state, and the version :func:`_store_state` answered.  The engine's
    accrued interest is the SQL ``installment_accrued`` of the state's date that :func:`get_loan` reads
    (the same accrual rule; tests/cob checks the two agree every day)."""
    rows = state.installments
    row = {**loan, **extras, "status": state.status, "days_past_due": state.days_past_due, "bucket": state.bucket,
           "principal_outstanding": state.outstanding.principal, "next_due_date": state.next_due_date,
           "closed_on": state.closed_on, "schedule_version": version, "maturity_date": rows[-1].due_date}
    if reason is not None:
        row["schedule_reason"], row["schedule_effective_date"] = reason, effective
    paid_on = _paid_on(state)
    items = []
    for r in rows:
        items.append({
            "number": r.number, "from_date": r.from_date, "due_date": r.due_date, "principal": r.principal,
            "interest": r.interest, "fees": r.fees, "penalty": r.penalty, "paid_principal": r.paid_principal,
            "paid_interest": r.paid_interest, "paid_fees": r.paid_fees, "paid_penalty": r.paid_penalty,
            "accrued_interest": r.accrued_interest,
            "status": "pending" if r.status == "future" else r.status,
            "paid_on": paid_on.get(r.number) if r.status == "paid" else None})
    return render(row, render_schedule(row, items, version=version, reason=row["schedule_reason"],
                                       effective_date=row["schedule_effective_date"]))


def _jsonb_key(k: str) -> tuple[int, bytes]:
    b = k.encode()
    return len(b), b


def _as_jsonb(v: Any) -> Any:
    """A JSON value as it reads back from a ``jsonb`` column: object keys shortest first, then in byte
    order (jsonb's storage order); strings, ints, booleans and None as they are."""
    if isinstance(v, dict):
        return {k: _as_jsonb(v[k]) for k in sorted(v, key=_jsonb_key)}
    if isinstance(v, (list, tuple)):
        return [_as_jsonb(x) for x in v]
    if v is None or isinstance(v, (str, bool, int)):
        return v
    raise TypeError(f"not a plain JSON value: {v!r}")


def _finish_statements(conn: psycopg.Connection, loan: dict[str, Any], state: eng.LoanState, *, txn_id: str,
                       seq: int, type_: str, value_date: dt.date, amount: Decimal, channel: str | None,
                       details: dict[str, Any], today: dt.date, memo: str, reverses: str | None) -> dict[str, Any]:
    alloc = state.allocations.get(txn_id)
    if alloc is not None:
        details["allocation"] = _allocation_json(alloc, currency_places(loan["currency"]))
    _insert_txn(conn, loan, txn_id, seq, type_, value_date, amount, channel, details)
    if reverses is not None:
        conn.execute("UPDATE loan_transactions SET status = 'reversed', reversed_by = %s WHERE id = %s",
                     [txn_id, reverses])
    _store_state(conn, loan, state, txn_id)
    entry_ids, diff = _post(conn, loan, state, txn_id, today, memo, value_date)
    _move_line(conn, loan, diff, today, details)
    details["posted"] = {k: to_str(v, currency_places(loan["currency"])) for k, v in diff.items() if v}
    details["status_after"] = state.status
    conn.execute("UPDATE loan_transactions SET entry_ids = %s, details = %s WHERE id = %s",
                 [entry_ids, Jsonb(details), txn_id])
    return {"transaction": get_transaction(conn, loan["id"], txn_id), "loan": get_loan(conn, loan["id"])}


def _render_txn(t: dict[str, Any], currency: str) -> dict[str, Any]:
    return {"object": "loan_transaction", "id": t["id"], "loan_id": t["loan_id"], "type": t["type"],
            "value_date": t["value_date"].isoformat(), "amount": to_str(t["amount"], currency_places(currency)),
            "currency": currency, "channel": t["channel"], "status": t["status"], "reversed_by": t["reversed_by"],
            "details": t["details"], "entry_ids": list(t["entry_ids"] or []), "created_at": iso_ts(t["created_at"])}


_TXN_COLS = "t.id, t.loan_id, t.type, t.value_date, t.amount, t.channel, t.status, t.reversed_by, t.seq, " \
            "t.details, t.entry_ids, t.created_at, l.currency"


_GET_TRANSACTION = (f"SELECT {_TXN_COLS} FROM loan_transactions t JOIN loans l ON l.id = t.loan_id "
                    "WHERE t.id = %s AND t.loan_id = %s")


def get_transaction(conn: psycopg.Connection, loan_id: str, txn_id: str) -> dict[str, Any]:
    row = conn.execute(_GET_TRANSACTION, [txn_id, loan_id]).fetchone()
    if row is None:
        raise errors.not_found("loan transaction", txn_id)
    return _render_txn(row, row["currency"])


def list_transactions(conn: psycopg.Connection, loan_id: str, *, limit: int = 20,
                      cursor: str | None = None) -> dict[str, Any]:
    """The loan's transactions in the order they were entered (reversed ones included, marked), a page at
    a time: ``cursor`` is the previous page's ``next_cursor`` (the id of its last transaction)."""
    load(conn, loan_id)
    id_cursor(cursor, "txn", "a transaction id")
    after = ""
    params: list[Any] = [loan_id]
    if cursor is not None:
        c = conn.execute("SELECT seq FROM loan_transactions WHERE id = %s AND loan_id = %s",
                         [cursor, loan_id]).fetchone()
        if c is None:
            raise field_error(errors.VALIDATION, "/query/cursor", "must be a transaction id of this loan from "
                              "next_cursor")
        after = " AND t.seq > %s"
        params.append(c["seq"])
    rows = conn.execute(f"SELECT {_TXN_COLS} FROM loan_transactions t JOIN loans l ON l.id = t.loan_id "
                        f"WHERE t.loan_id = %s{after} ORDER BY t.seq LIMIT %s", params + [limit + 1]).fetchall()
    return page(rows, limit, lambda r: _render_txn(r, r["currency"]))


# the loan's active events' ids in seq order, one text (what _FOLDS is keyed by)
_EVENT_IDS = ("SELECT coalesce(string_agg(id, ',' ORDER BY seq), '') AS ids FROM loan_transactions "
              "WHERE loan_id = %s AND status = 'active' AND type = ANY(%s::text[])")


_EVENT_READS = (
    # in this order, in one round trip (a pipeline): the row locks first (the posted totals, then the
    # loan, in one statement: the lock order of load_for_update and close of business), so that the
    # events are read after any concurrent event on the loan has committed; the posted totals come
    # with the loan (for the posting: they cannot move while locked)
    (f"SELECT {_LOAN_COLS}, {', '.join(f'pt.{c} AS pt_{c}' for c in _TOTALS_COLS)} "
     "FROM loan_posted_totals pt JOIN loans l ON l.id = pt.loan_id "
     "WHERE pt.loan_id = %s AND l.livemode = %s FOR UPDATE OF pt, l", "loan"),
    (_LOAN_EXTRAS, "id"),
    (_EVENT_IDS, "events"),
)


def _event_use_case(conn: psycopg.Connection, loan_id: str, make, *, type_: str, value_date: dt.date | None,
                    amount: Decimal, channel: str | None, details: dict[str, Any], memo: str,
                    currency: str | None = None, check=None) -> dict[str, Any]:
    """Lock the loan, fold in the new event ``make(txn_id, value_date, seq)`` and :func:`_finish`.
    ``check(loan)``: a check of the request against the loan, before the loan's state is (amounts in
    the loan's currency).  The reads (:func:`load_for_update`, :func:`business_date`, :func:`_events`,
    :func:`_next_seq`, what the answer needs and the stored current schedule) go in one round trip."""
    _check_id(loan_id)
    params = {"loan": [loan_id, _livemode()], "id": [loan_id], "events": [loan_id, _EVENT_TYPES_ARRAY]}
    with conn.pipeline():   # one round trip: read once the pipeline's sync at its end is answered
        cur = [conn.execute(sql, params[p], prepare=True) for sql, p in _EVENT_READS]
        sched = conn.cursor(row_factory=tuple_row).execute(_STORED_CURRENT_SCHEDULE, [loan_id], prepare=True)
    loan = cur[0].fetchone()
    if loan is None:
        raise errors.not_found("loan", loan_id)
    ids = cur[2].fetchone()["ids"]
    rows = None if cached_events(loan_id, ids) else conn.execute(_EVENTS, [loan_id, _EVENT_TYPES_ARRAY],
                                                                 prepare=True).fetchall()
    e = plan_event(loan, cur[1].fetchone(), ids, rows, sched.fetchall(), make, value_date=value_date,
                   currency=currency, check=check)
    return _finish(conn, e["loan"], e["state"], txn_id=e["txn_id"], seq=e["seq"], type_=type_,
                   value_date=e["value_date"], amount=amount, channel=channel, details=details, today=e["today"],
                   memo=f"Loan {loan['receipt_no']} {memo}", posted=e["posted"], stored=e["stored"],
                   extras=e["extras"])


# The last fold of recently served loans, to go on from: a new event dated on or after every other
# folds only itself (engine.run_from) instead of the loan's whole history, and the history is not even
# read.  Keyed by the loan's active events' ids in seq order, as read under the loan's lock
# (_EVENT_IDS), so a stale entry (another process's event, a reversal, a rolled-back transaction) is
# never used: it only costs reading the events and a full fold.  Per process, bounded.
_FOLDS: dict[str, tuple[str, eng.Folded]] = {}
_FOLDS_MAX = 4096

def cached_events(loan_id: str, event_ids: str) -> bool:
    """Whether :func:`plan_event` can go on from the loan's last fold (no need to read its events)."""
    hit = _FOLDS.get(loan_id)
    return hit is not None and hit[0] == event_ids


def plan_event(loan: dict[str, Any], extras: dict[str, Any], event_ids: str, event_rows: list[dict[str, Any]] | None,
               stored: list[tuple], make, *, value_date: dt.date | None, currency: str | None = None,
               check=None) -> dict[str, Any]:
    """A new event on a loan folded in, from what :data:`_EVENT_READS` read under the loan's lock
    (``loan`` with its ``pt_`` posted totals, ``extras``, the active events' ids, the stored current
    schedule) and the active events' rows (:data:`_EVENTS`; None when :func:`cached_events`): the
    loan's state after it, or the :class:`~openlend.errors.Problem` that refuses it."""
    posted = {c: loan.pop("pt_" + c) for c in _TOTALS_COLS}
    today = extras.pop("business_date") or lines.today()   # as business_date(conn)
    seq = extras.pop("n")
    hit = _FOLDS.get(loan["id"])
    if hit is not None and hit[0] == event_ids:
        snapshot, events = hit[1], hit[1].events
    elif event_rows is None:
        raise ValueError("the loan's events are needed: its last fold is not cached")
    else:
        snapshot, events = None, [_event(t) for t in event_rows]
    if check is not None:
        check(loan)
    _check_open(loan, loan["id"], currency)
    vd = value_date or today
    terms = loan_terms(loan)
    txn_id = new_id("txn")
    try:
        state, folded = eng.run_from(snapshot, terms, [*events, make(txn_id, vd, seq)], today)
    except eng.LoanRuleError as exc:
        raise rule_problem(exc) from None
    if len(_FOLDS) >= _FOLDS_MAX:
        _FOLDS.clear()
    _FOLDS[loan["id"]] = (f"{event_ids},{txn_id}" if event_ids else txn_id, folded)
    return {"loan": loan, "extras": extras, "posted": posted, "stored": stored, "today": today, "seq": seq,
            "value_date": vd, "txn_id": txn_id, "state": state}


def repay(conn: psycopg.Connection, loan_id: str, *, amount: Decimal, value_date: dt.date | None = None,
          channel: str | None = None, currency: str | None = None) -> dict[str, Any]:
    """A repayment (allocated by the product's order and strategy; at least the payoff figure pays the loan off)."""
    return _event_use_case(conn, loan_id, lambda i, d, s: eng.Repayment(i, d, amount, seq=s, channel=channel),
                           type_="repayment", value_date=value_date, amount=amount, channel=channel,
                           details={}, memo="repayment", currency=currency,
                           check=lambda loan: lines.check_amount(amount, loan["currency"], "/amount"))


def prepay(conn: psycopg.Connection, loan_id: str, *, amount: Decimal, mode: str = "reduce_installment",
           value_date: dt.date | None = None, channel: str | None = None,
           currency: str | None = None) -> dict[str, Any]:
    return _event_use_case(conn, loan_id,
                           lambda i, d, s: eng.Prepayment(i, d, amount, mode=mode, seq=s, channel=channel),
                           type_="prepayment", value_date=value_date, amount=amount, channel=channel,
                           details={"mode": mode}, memo=f"prepayment ({mode})", currency=currency,
                           check=lambda loan: lines.check_amount(amount, loan["currency"], "/amount"))


def change_due_day(conn: psycopg.Connection, loan_id: str, *, new_day: int,
                   value_date: dt.date | None = None) -> dict[str, Any]:
    return _event_use_case(conn, loan_id, lambda i, d, s: eng.ChangeDueDay(i, d, new_day, seq=s),
                           type_="due_day_change", value_date=value_date, amount=Decimal(0), channel=None,
                           details={"new_day": new_day}, memo=f"repayment day changed to {new_day}")


def reschedule(conn: psycopg.Connection, loan_id: str, *, new_term: int,
               value_date: dt.date | None = None) -> dict[str, Any]:
    return _event_use_case(conn, loan_id, lambda i, d, s: eng.Reschedule(i, d, new_term, seq=s),
                           type_="reschedule", value_date=value_date, amount=Decimal(0), channel=None,
                           details={"new_term": new_term}, memo=f"rescheduled over {new_term} installments")


def write_off(conn: psycopg.Connection, loan_id: str, *, value_date: dt.date | None = None,
              reason: str | None = None) -> dict[str, Any]:
    return _event_use_case(conn, loan_id, lambda i, d, s: eng.WriteOff(i, d, seq=s),
                           type_="write_off", value_date=value_date, amount=Decimal(0), channel=None,
                           details={"reason": reason} if reason else {}, memo="written off")


def _quote_date(loan: dict[str, Any], on: dt.date | None, today: dt.date) -> dt.date:
    on = on or today
    if on < loan["disbursement_date"]:
        raise field_error(errors.VALIDATION, "/query/date", "must not be before the disbursement date "
                          + loan["disbursement_date"].isoformat())
    return on


def _render_quote(loan: dict[str, Any], q: eng.Quote) -> dict[str, Any]:
    m = lambda v: to_str(v, currency_places(loan["currency"]))  # noqa: E731
    return {"object": "payoff_quote", "loan_id": loan["id"], "currency": loan["currency"], "date": q.on.isoformat(),
            "principal": m(q.principal), "interest": m(q.interest), "fees": m(q.fees), "penalty": m(q.penalty),
            "prepayment_fee": m(q.prepayment_fee), "total": m(q.total), "valid_until": q.valid_until.isoformat(),
            "overpayment_held": m(q.overpayment_held)}


def payoff_quote(conn: psycopg.Connection, loan_id: str, on: dt.date | None = None) -> dict[str, Any]:
    """What pays the loan off on ``on`` (default: the business date), valid until that date."""
    loan = load(conn, loan_id)
    if loan["status"] in ("paid_off", "written_off"):
        raise Problem(LOAN_CLOSED, f"Loan {loan_id} is {loan['status'].replace('_', ' ')}.")
    on = _quote_date(loan, on, business_date(conn))
    try:
        q = eng.payoff_quote(loan_terms(loan), _events(conn, loan_id), on)
    except eng.LoanRuleError as exc:
        raise rule_problem(exc) from None
    return _render_quote(loan, q)


def payoff(conn: psycopg.Connection, loan_id: str, *, on: dt.date | None = None, channel: str | None = None,
           expected_total: Decimal | None = None) -> dict[str, Any]:
    """Pay the payoff figure for ``on`` (default: the business date): closes the loan and frees the line.
    ``expected_total``: refuse (422 ``payoff-quote-changed``) when the figure is not this one."""
    loan = _open_loan(conn, loan_id)
    today = business_date(conn)
    on = _quote_date(loan, on, today)
    try:
        q = eng.payoff_quote(loan_terms(loan), _events(conn, loan_id), on)
    except eng.LoanRuleError as exc:
        raise rule_problem(exc, "/date") from None
    if expected_total is not None and expected_total != q.total:
        raise Problem(PAYOFF_QUOTE_CHANGED, f"The payoff figure on {on.isoformat()} is {q.total}, not {expected_total}.",
                      errors=[{"pointer": "/amount", "detail": f"the payoff figure is {q.total}"}],
                      extra={"quote": _render_quote(loan, q)})
    if q.total <= 0:
        raise Problem(errors.CONFLICT, f"Loan {loan_id} owes nothing on {on.isoformat()}.")
    amount = q.total
    return _event_use_case(conn, loan_id, lambda i, d, s: eng.Repayment(i, d, amount, seq=s, channel=channel),
                           type_="repayment", value_date=on, amount=amount, channel=channel,
                           details={"payoff": True, "quote": _render_quote(loan, q)}, memo="paid off")


PAYOFF_QUOTE_CHANGED = errors.problem_type(
    "payoff-quote-changed", "Payoff figure changed", 422,
    "The payoff figure for the date is not the amount given; get a new quote.")


def due_day_change_quote(conn: psycopg.Connection, loan_id: str, new_day: int,
                         on: dt.date | None = None) -> dict[str, Any]:
    loan = load(conn, loan_id)
    if loan["status"] in ("paid_off", "written_off"):
        raise Problem(LOAN_CLOSED, f"Loan {loan_id} is {loan['status'].replace('_', ' ')}.")
    on = _quote_date(loan, on, business_date(conn))
    try:
        q = eng.due_day_change_quote(loan_terms(loan), _events(conn, loan_id), on, new_day)
    except eng.LoanRuleError as exc:
        raise rule_problem(exc, "/query/new_day" if exc.field == "new_day" else None) from None
    places = _places(loan)
    rows = [{"number": r.number, "from_date": r.from_date, "due_date": r.due_date, "principal": r.principal,
             "interest": r.interest, "fees": r.fees, "outstanding": r.outstanding} for r in q.installments]
    m = lambda v: to_str(v, places)  # noqa: E731
    return {"object": "due_day_change_quote", "loan_id": loan_id, "currency": loan["currency"],
            "date": q.on.isoformat(), "new_day": q.new_day, "old_due_date": _iso(q.old_due_date),
            "new_due_date": q.new_due_date.isoformat(), "broken_period_from": q.broken_period_from.isoformat(),
            "broken_period_days": q.broken_period_days, "broken_period_interest": m(q.broken_period_interest),
            "installment_amount": m(q.installment_amount), "valid_until": q.valid_until.isoformat(),
            "installments": [render_installment(r, places, r["outstanding"]) for r in rows]}


def reverse(conn: psycopg.Connection, loan_id: str, txn_id: str, *, reason: str | None = None) -> dict[str, Any]:
    """Reverse an event: it is marked reversed and left out of the fold, which re-runs from the start; the
    differences are posted as a new entry (nothing earlier is changed).  A reversed payoff or write-off
    reopens the loan and takes its principal on the line again."""
    loan = load_for_update(conn, loan_id)
    t = conn.execute("SELECT id, type, status, value_date, amount FROM loan_transactions WHERE id = %s "
                     "AND loan_id = %s FOR UPDATE", [txn_id, loan_id]).fetchone()
    if t is None:
        raise errors.not_found("loan transaction", txn_id)
    if t["type"] not in _EVENT_TYPES or t["status"] != "active":
        raise Problem(NOT_REVERSIBLE, f"Transaction {txn_id} ({t['type']}, {t['status']}) cannot be reversed.")
    today = business_date(conn)
    state = _run(loan_terms(loan), _events(conn, loan_id, leave_out=txn_id), today)
    rev_id, seq = new_id("txn"), _next_seq(conn)
    details: dict[str, Any] = {"reverses": txn_id}
    if reason:
        details["reason"] = reason
    return _finish(conn, loan, state, txn_id=rev_id, seq=seq, type_="reversal", value_date=t["value_date"],
                   amount=t["amount"], channel=None, details=details, today=today,
                   memo=f"Loan {loan['receipt_no']} {t['type'].replace('_', ' ')} {txn_id} reversed", reverses=txn_id)


# --- charges, refunds, the transaction list ----------------------------------------------------------

def charge(conn: psycopg.Connection, loan_id: str, *, amount: Decimal, name: str,
           value_date: dt.date | None = None, currency: str | None = None) -> dict[str, Any]:
    """A fee charged on ``value_date`` (default: the business date), put on the installment whose period
    holds the date; recognised at once (Dr 1120 / Cr 4100 through the difference posting)."""
    loan = load(conn, loan_id)
    lines.check_amount(amount, loan["currency"], "/amount")
    return _event_use_case(conn, loan_id, lambda i, d, s: eng.Charge(i, d, amount, name=name, seq=s),
                           type_="charge", value_date=value_date, amount=amount, channel=None,
                           details={"name": name}, memo=f"charge {name}", currency=currency)


def refund(conn: psycopg.Connection, loan_id: str, *, amount: Decimal, value_date: dt.date | None = None,
           channel: str | None = None, currency: str | None = None) -> dict[str, Any]:
    """Pay back (part of) the overpayment held on the loan: Dr 2100 / Cr 1300 disbursement clearing (the
    money goes out to the borrower's account, as a payout does).  A paid-off loan takes it (that is where
    overpayment is left); more than is held on the value date is refused (422 ``refund-exceeds-overpayment``)."""
    loan = load_for_update(conn, loan_id)      # not _open_loan: a closed loan takes a refund
    if currency is not None and currency != loan["currency"]:
        raise field_error(errors.VALIDATION, "/currency", f"the loan is in {loan['currency']}, not {currency}")
    lines.check_amount(amount, loan["currency"], "/amount")
    today = business_date(conn)
    vd = value_date or today
    txn_id, seq = new_id("txn"), _next_seq(conn)
    state = _run(loan_terms(loan), _events(conn, loan_id) + [eng.Refund(txn_id, vd, amount, seq=seq, channel=channel)],
                 today)
    return _finish(conn, loan, state, txn_id=txn_id, seq=seq, type_="refund", value_date=vd, amount=amount,
                   channel=channel, details={}, today=today,
                   memo=f"Loan {loan['receipt_no']} overpayment refunded")
