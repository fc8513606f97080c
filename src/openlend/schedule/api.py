"""``POST /v1/schedules/preview``: the same engine and the same JSON contract as ``openlend schedule``."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request

from .. import errors
from ..errors import Problem, field_error
from .engine import ScheduleInputError, generate
from .io import parse_terms, schedule_to_dict

router = APIRouter(prefix="/schedules", tags=["schedules"])

INVALID_TERMS = errors.problem_type(
    "invalid-schedule-terms", "Invalid schedule terms", 422,
    "The schedule terms break a rule (a required field, a range, an amount given as a JSON number); "
    "`errors[0].pointer` names the field.")

_EXAMPLE_IN = {"principal": "5000", "annual_rate": "12", "method": "equal_installment", "term": 18,
               "disbursement_date": "2022-11-01", "first_due_date": "2022-12-01", "installment_multiple": "1"}

_REQUEST_SCHEMA = {
    "type": "object",
    "required": ["principal", "annual_rate", "method", "term", "disbursement_date"],
    "additionalProperties": False,
    "properties": {
        "principal": {"type": "string", "examples": ["5000"]},
        "annual_rate": {"type": "string", "description": "percent per year", "examples": ["12"]},
        "method": {"enum": ["equal_installment", "equal_principal", "flat", "interest_only", "bullet"]},
        "term": {"type": "integer", "minimum": 1},
        "frequency": {"type": "object", "properties": {"unit": {"enum": ["month", "week", "day"]},
                                                        "every": {"type": "integer", "minimum": 1}}},
        "disbursement_date": {"type": "string", "format": "date"},
        "first_due_date": {"type": "string", "format": "date"},
        "interest_basis": {"enum": ["period", "daily"]},
        "day_count": {"enum": ["30/360", "ACT/360", "ACT/365", "ACT/364", "ACT/ACT"]},
        "rounding": {"type": "object", "properties": {"places": {"type": "integer"},
                                                       "mode": {"enum": ["half_even", "half_up", "up", "down"]}}},
        "installment_multiple": {"type": "string"},
        "installment_rounding": {"enum": ["half_even", "half_up", "up", "down"]},
        "grace_principal_periods": {"type": "integer", "minimum": 0},
        "grace_interest_periods": {"type": "integer", "minimum": 0},
        "interest_free_periods": {"type": "integer", "minimum": 0},
        "fees": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "amount": {"type": "string"},
            "when": {"enum": ["upfront", "each_installment"]}}}},
    },
}


def _problem(exc: ScheduleInputError) -> Problem:
    p = field_error(INVALID_TERMS, exc.field, f"{exc.field}: {exc.message}" if exc.field else exc.message)
    return p


@router.post(
    "/preview",
    summary="Preview a repayment schedule",
    description="Computes a schedule from terms without storing anything; same contract as `openlend schedule`.",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": _REQUEST_SCHEMA, "example": _EXAMPLE_IN}}}},
    responses={422: {"description": "Invalid terms (problem+json)", "content": {"application/problem+json": {}}}},
)
async def preview(request: Request) -> dict:
    raw = await request.body()
    try:
        body = json.loads(raw or b"null")
    except json.JSONDecodeError as exc:
        raise Problem(errors.MALFORMED_JSON, f"The request body is not valid JSON: {exc.msg}.") from None
    if not isinstance(body, dict):
        raise field_error(INVALID_TERMS, "", "The body must be one JSON object of schedule terms.")
    try:
        return schedule_to_dict(generate(parse_terms(body)))
    except ScheduleInputError as exc:
        raise _problem(exc) from None
