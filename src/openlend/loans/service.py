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
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from .. import errors
from ..errors import Problem, field_error
from ..ids import has_prefix, new_id
from ..lines import service as lines
from ..money import MoneyError, currency_places, to_str, validate_currency
from ..products import rules
from ..products import service as products
from ..schedule.engine import Schedule, ScheduleTerms, generate
from ..schedule.io import parse_terms
from ..settings import get_settings
from ..web import iso_ts
from .disbursement import Disbursement, Disburser, get_disburser

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


def render_installment(r: dict[str, Any], places: int, outstanding: Decimal | None = None) -> dict[str, Any]:
    s = lambda v: to_str(v, places)  # noqa: E731
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
    balance = sum((r["principal"] for r in rows), Decimal(0))
    items = []
    for r in rows:
        balance -= r["principal"]
        items.append(render_installment(r, places, r.get("outstanding", balance)))
    s = lambda v: to_str(v, places)  # noqa: E731
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
    row = conn.execute(f"SELECT {_LOAN_COLS} FROM loans l WHERE l.id = %s AND l.livemode = %s"
                       + (" FOR UPDATE" if for_update else ""), [loan_id, _livemode()]).fetchone()
    if row is None:
        raise errors.not_found("loan", loan_id)
    return row


def load_for_update(conn: psycopg.Connection, loan_id: str) -> dict[str, Any]:
    """:func:`load` with the loan's row locked until the transaction ends (servicing serialises on it)."""
    return load(conn, loan_id, for_update=True)


def _installments(conn: psycopg.Connection, loan_id: str) -> list[dict[str, Any]]:
    return conn.execute(
        "SELECT number, from_date, due_date, principal, interest, fees, penalty, paid_principal, paid_interest, "
        "paid_fees, paid_penalty, accrued_interest, status, paid_on FROM loan_installments WHERE loan_id = %s "
        "ORDER BY number", [loan_id]).fetchall()


def _load_with_disbursement(conn: psycopg.Connection, loan_id: str) -> dict[str, Any]:
    _check_id(loan_id)
    row = conn.execute(
        f"SELECT {_LOAN_COLS}, {_DISB_COLS}, v.reason AS schedule_reason, v.effective_date AS schedule_effective_date "
        f"FROM loans l "
        f"LEFT JOIN LATERAL (SELECT * FROM loan_transactions t WHERE t.loan_id = l.id AND t.type = 'disbursement' "
        f"                   ORDER BY t.seq LIMIT 1) d ON true "
        f"LEFT JOIN loan_schedule_versions v ON v.loan_id = l.id AND v.version = l.schedule_version "
        f"WHERE l.id = %s AND l.livemode = %s", [loan_id, _livemode()]).fetchone()
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
    if cursor is not None and not has_prefix(cursor, "loan"):
        raise field_error(errors.VALIDATION, "/query/cursor", "must be a loan id from next_cursor")
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
    more = len(rows) > limit
    rows = rows[:limit]
    return {"object": "list", "data": [render(r) for r in rows], "has_more": more,
            "next_cursor": rows[-1]["id"] if more else None}


# --- the drawdown -----------------------------------------------------------------------------------

_LINE_WITH_PRODUCT = """
    SELECT c.id, c.customer_id, c.product_id, c.product_version, c.currency, c.limit_amount, c.used_amount,
           c.status, c.expires_on, p.status AS product_status, v.config
      FROM credit_lines c
      JOIN loan_products p ON p.id = c.product_id
      JOIN loan_product_versions v ON v.product_id = c.product_id AND v.version = c.product_version
     WHERE c.id = %s AND c.livemode = %s"""

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
    SELECT l.id, l.currency, l.principal, l.upfront_fees, l.upfront_fees, %(today)s FROM l)
SELECT l.* FROM l"""


def drawdown(conn: psycopg.Connection, line_id: str, *, amount: Decimal, term: int,
             annual_rate: Decimal | None = None, disbursement_date: dt.date | None = None,
             first_due_date: dt.date | None = None, currency: str | None = None,
             disburser: Disburser | None = None) -> dict[str, Any]:
    """Draw ``amount`` on a credit line as a new loan (see the module docstring); the loan as the API shows it."""
    today = lines.today()
    line = None
    if has_prefix(line_id, "line"):
        line = conn.execute(_LINE_WITH_PRODUCT, [line_id, _livemode()], prepare=True).fetchone()
    if line is None:
        raise errors.not_found("credit line", line_id)
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

    product = rules.config_from_json(line["config"])
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

    lines.reserve(conn, line_id, amount, on=today)   # the limit invariant: one guarded statement
    loan = _insert_loan(conn, line, product, terms, schedule, today=today)
    result = _disburse(conn, loan, today, disburser or get_disburser())
    loan.update(disb_id=loan["_txn"], disb_txn_status="active", disb_channel=result.channel,
                disb_entry_ids=list(result.entry_ids), disb_details={"disbursement_status": result.status})
    sched = render_schedule(loan, [
        {"number": r.number, "from_date": r.from_date, "due_date": r.due_date, "principal": r.principal,
         "interest": r.interest, "fees": r.fees, "penalty": Decimal(0), "paid_principal": Decimal(0),
         "paid_interest": Decimal(0), "paid_fees": Decimal(0), "paid_penalty": Decimal(0),
         "accrued_interest": Decimal(0), "status": "pending", "paid_on": None} for r in schedule.installments],
        version=1, reason="disbursement", effective_date=disb)
    return render(loan, sched)


def _insert_loan(conn: psycopg.Connection, line: dict[str, Any], product: dict[str, Any], terms: ScheduleTerms,
                 schedule: Schedule, *, today: dt.date) -> dict[str, Any]:
    rows = schedule.installments
    apr = schedule.apr()
    loan_id, txn_id, entry_id = new_id("loan"), new_id("txn"), new_id("je")
    loan = conn.execute(_INSERT_LOAN, {
        "id": loan_id, "today": today, "line": line["id"], "customer": line["customer_id"],
        "product": line["product_id"], "version": line["product_version"], "currency": line["currency"],
        "principal": terms.principal, "rate": terms.annual_rate, "term": terms.term, "method": terms.method,
        "disb": terms.disbursement_date, "first": rows[0].due_date, "maturity": rows[-1].due_date,
        "upfront": schedule.upfront_fees, "net": schedule.net_disbursed, "apr_n": apr.nominal,
        "apr_e": apr.effective, "terms": Jsonb(terms_to_json(terms)), "rules": Jsonb(_rules_json(product, terms.annual_rate)),
        "lm": _livemode(),
        "n": [r.number for r in rows], "from": [r.from_date for r in rows], "due": [r.due_date for r in rows],
        "p": [r.principal for r in rows], "i": [r.interest for r in rows], "f": [r.fees for r in rows],
        "o": [r.outstanding for r in rows],
        "txn": txn_id, "channel": "clearing", "details": Jsonb({"disbursement_status": "pending",
                                                                 "net_amount": format(schedule.net_disbursed, "f"),
                                                                 "upfront_fees": format(schedule.upfront_fees, "f")}),
        "entry_ids": [entry_id],
    }).fetchone()
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
