"""The ``openlend schedule`` JSON contract: terms in, schedule out.

Input (only ``principal``, ``annual_rate``, ``method``, ``term`` and ``disbursement_date`` are
required)::

    {"principal": "5000", "annual_rate": "12", "method": "equal_installment", "term": 18,
     "frequency": {"unit": "month", "every": 1},
     "disbursement_date": "2022-11-01", "first_due_date": "2022-12-01",
     "interest_basis": "period", "day_count": "30/360",
     "rounding": {"places": 2, "mode": "half_even"},
     "installment_multiple": "1", "installment_rounding": "half_even",
     "grace_principal_periods": 0, "grace_interest_periods": 0, "interest_free_periods": 0,
     "fees": [{"name": "service", "amount": "50", "when": "upfront"}]}

Defaults: monthly every 1; first due date one period after disbursement; period basis;
``day_count`` "30/360" with the period basis and "ACT/365" with the daily basis (the usual
consumer-loan convention for daily interest; a lender on ACT/360 says so); half-even to 2 places;
no installment multiple (``installment_rounding`` half-even); no grace; no fees.

Rules: amounts, rates and the multiple are decimal *strings* (a JSON number has already been
through a float; it is refused, naming the field); counts (``term``, ``every``, ``places``, the
grace counts) are JSON integers (a boolean, a string or ``18.0`` is refused); dates are ISO
``YYYY-MM-DD``; unknown fields are refused, so a typo never passes silently.  Every error is a
:class:`~openlend.schedule.engine.ScheduleInputError` whose ``field`` is a JSON-ish path:
``"term"``, ``"frequency.unit"``, ``"fees[0].amount"``.

Output: ``{"installments": [{"number", "from_date", "due_date", "days", "principal", "interest",
"fees", "total", "outstanding"}], "total_principal", "total_interest", "total_fees", "total",
"apr": {"nominal", "effective"}}``; amounts are decimal strings padded to the rounding places
("305.00"), APR figures are percent strings with 4 places ("12.6825"), dates ISO, ``number`` and
``days`` integers.  ``total_fees`` and ``total`` include upfront fees (see the engine).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from openlend.money import MoneyError, parse_amount, to_str

from .engine import Fee, Frequency, Schedule, ScheduleInputError, ScheduleTerms

REQUIRED = ("principal", "annual_rate", "method", "term", "disbursement_date")
FIELDS = frozenset(REQUIRED + (
    "frequency", "first_due_date", "interest_basis", "day_count", "rounding", "installment_multiple",
    "installment_rounding", "grace_principal_periods", "grace_interest_periods", "interest_free_periods", "fees"))
_FREQUENCY_FIELDS = frozenset(("unit", "every"))
_ROUNDING_FIELDS = frozenset(("places", "mode"))
_FEE_FIELDS = frozenset(("name", "amount", "when"))
_FEE_REQUIRED = ("name", "amount")


def _object(value: Any, field: str, allowed: frozenset[str], required: tuple[str, ...] = ()) -> dict:
    if not isinstance(value, dict):
        raise ScheduleInputError(field or "$", "must be a JSON object")
    prefix = f"{field}." if field else ""
    for key in value:
        if key not in allowed:
            raise ScheduleInputError(f"{prefix}{key}", "is not a known field")
    for key in required:
        if key not in value:
            raise ScheduleInputError(f"{prefix}{key}", "is required")
    return value


def _decimal(value: Any, field: str) -> Decimal:
    try:
        return parse_amount(value, field, allow_zero=True, allow_negative=False)
    except MoneyError as exc:
        raise ScheduleInputError(field, str(exc).removeprefix(f"{field} ")) from None


def _integer(value: Any, field: str) -> int:
    if type(value) is not int:   # bool is refused: True is not 1 period
        raise ScheduleInputError(field, "must be a JSON integer")
    return value


def _string(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise ScheduleInputError(field, "must be a string")
    return value


def _date(value: Any, field: str) -> date:
    if not isinstance(value, str) or len(value) != 10:
        raise ScheduleInputError(field, "must be an ISO date such as \"2024-01-31\"")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ScheduleInputError(field, "must be an ISO date such as \"2024-01-31\"") from None


def parse_terms(obj: Any) -> ScheduleTerms:
    """Terms from a decoded JSON object; raises ScheduleInputError naming the field."""
    _object(obj, "", FIELDS, REQUIRED)
    kw: dict[str, Any] = {
        "principal": _decimal(obj["principal"], "principal"),
        "annual_rate": _decimal(obj["annual_rate"], "annual_rate"),
        "method": _string(obj["method"], "method"),
        "term": _integer(obj["term"], "term"),
        "disbursement_date": _date(obj["disbursement_date"], "disbursement_date"),
    }
    if "frequency" in obj:
        f = _object(obj["frequency"], "frequency", _FREQUENCY_FIELDS)
        kw["frequency"] = Frequency(unit=_string(f.get("unit", "month"), "frequency.unit"),
                                    every=_integer(f.get("every", 1), "frequency.every"))
    if obj.get("first_due_date") is not None:
        kw["first_due_date"] = _date(obj["first_due_date"], "first_due_date")
    if "interest_basis" in obj:
        kw["interest_basis"] = _string(obj["interest_basis"], "interest_basis")
    if obj.get("day_count") is not None:
        kw["day_count"] = _string(obj["day_count"], "day_count")
    if "rounding" in obj:
        r = _object(obj["rounding"], "rounding", _ROUNDING_FIELDS)
        if "places" in r:
            kw["rounding_places"] = _integer(r["places"], "rounding.places")
        if "mode" in r:
            kw["rounding_mode"] = _string(r["mode"], "rounding.mode")
    if obj.get("installment_multiple") is not None:
        kw["installment_multiple"] = _decimal(obj["installment_multiple"], "installment_multiple")
    if "installment_rounding" in obj:
        kw["installment_rounding"] = _string(obj["installment_rounding"], "installment_rounding")
    for name in ("grace_principal_periods", "grace_interest_periods", "interest_free_periods"):
        if name in obj:
            kw[name] = _integer(obj[name], name)
    if "fees" in obj:
        fees = obj["fees"]
        if not isinstance(fees, list):
            raise ScheduleInputError("fees", "must be a JSON array")
        parsed = []
        for i, fee in enumerate(fees):
            path = f"fees[{i}]"
            _object(fee, path, _FEE_FIELDS, _FEE_REQUIRED)
            parsed.append(Fee(name=_string(fee["name"], f"{path}.name"),
                              amount=_decimal(fee["amount"], f"{path}.amount"),
                              when=_string(fee.get("when", "upfront"), f"{path}.when")))
        kw["fees"] = tuple(parsed)
    return ScheduleTerms(**kw)   # the engine names its fields as this contract does


def schedule_to_dict(schedule: Schedule, *, apr: bool = True) -> dict[str, Any]:
    """The contract's output object (``apr=False`` leaves out the costly APR, for internal use)."""
    places = schedule.terms.rounding_places
    rows = [{
        "number": r.number,
        "from_date": r.from_date.isoformat(),
        "due_date": r.due_date.isoformat(),
        "days": r.days,
        "principal": to_str(r.principal, places),
        "interest": to_str(r.interest, places),
        "fees": to_str(r.fees, places),
        "total": to_str(r.total, places),
        "outstanding": to_str(r.outstanding, places),
    } for r in schedule.installments]
    out: dict[str, Any] = {
        "installments": rows,
        "total_principal": to_str(schedule.total_principal, places),
        "total_interest": to_str(schedule.total_interest, places),
        "total_fees": to_str(schedule.total_fees, places),
        "total": to_str(schedule.total, places),
    }
    if apr:
        a = schedule.apr()
        out["apr"] = {"nominal": to_str(a.nominal, 4), "effective": to_str(a.effective, 4)}
    return out
