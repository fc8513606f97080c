"""The ``openlend schedule`` JSON contract: parsing terms, refusing bad ones, the output shape."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal as D

import pytest

from openlend.schedule.engine import Fee, Frequency, ScheduleInputError, generate
from openlend.schedule.io import parse_terms, schedule_to_dict

MINIMAL = {"principal": "5000", "annual_rate": "12", "method": "equal_installment", "term": 18,
           "disbursement_date": "2022-11-01"}

FULL = {
    "principal": "5000", "annual_rate": "12", "method": "equal_installment", "term": 18,
    "frequency": {"unit": "month", "every": 1},
    "disbursement_date": "2022-11-01", "first_due_date": "2022-12-01",
    "interest_basis": "period", "day_count": "30/360",
    "rounding": {"places": 2, "mode": "half_even"},
    "installment_multiple": "1", "installment_rounding": "half_even",
    "grace_principal_periods": 0, "grace_interest_periods": 0, "interest_free_periods": 0,
    "fees": [{"name": "service", "amount": "50", "when": "upfront"}],
}


def with_(**changes):
    obj = json.loads(json.dumps(MINIMAL))
    obj.update(changes)
    return obj


def test_minimal_terms_take_the_documented_defaults():
    t = parse_terms(MINIMAL)
    assert t.principal == D("5000") and t.annual_rate == D("12")
    assert t.frequency == Frequency("month", 1)
    assert t.first_due_date is None
    assert t.interest_basis == "period" and t.day_count == "30/360"
    assert (t.rounding_places, t.rounding_mode) == (2, "half_even")
    assert t.installment_multiple is None and t.installment_rounding == "half_even"
    assert (t.grace_principal_periods, t.grace_interest_periods, t.interest_free_periods) == (0, 0, 0)
    assert t.fees == ()


def test_daily_basis_defaults_to_act_365():
    assert parse_terms(with_(interest_basis="daily")).day_count == "ACT/365"


def test_full_terms_parse():
    t = parse_terms(FULL)
    assert t.first_due_date == date(2022, 12, 1)
    assert t.installment_multiple == D("1")
    assert t.fees == (Fee("service", D("50"), "upfront"),)


def test_fee_when_defaults_to_upfront():
    t = parse_terms(with_(fees=[{"name": "svc", "amount": "10"}]))
    assert t.fees[0].when == "upfront"


def test_nulls_for_optional_dates_and_multiple_mean_the_default():
    t = parse_terms(with_(first_due_date=None, installment_multiple=None, day_count=None))
    assert t.first_due_date is None and t.installment_multiple is None and t.day_count == "30/360"


@pytest.mark.parametrize("field", ["principal", "annual_rate", "method", "term", "disbursement_date"])
def test_required_fields(field):
    obj = dict(MINIMAL)
    del obj[field]
    with pytest.raises(ScheduleInputError) as e:
        parse_terms(obj)
    assert e.value.field == field


@pytest.mark.parametrize("obj, field", [
    (with_(principal=5000), "principal"),
    (with_(principal=5000.5), "principal"),
    (with_(annual_rate=12), "annual_rate"),
    (with_(installment_multiple=1), "installment_multiple"),
    (with_(fees=[{"name": "svc", "amount": 50}]), "fees[0].amount"),
    (with_(fees=[{"name": "a", "amount": "1"}, {"name": "svc", "amount": 5.0, "when": "upfront"}]), "fees[1].amount"),
])
def test_json_numbers_are_refused_where_an_amount_is_expected(obj, field):
    with pytest.raises(ScheduleInputError) as e:
        parse_terms(obj)
    assert e.value.field == field


@pytest.mark.parametrize("obj, field", [
    (with_(term="18"), "term"),
    (with_(term=True), "term"),
    (with_(term=18.0), "term"),
    (with_(frequency={"unit": "week", "every": "2"}), "frequency.every"),
    (with_(frequency={"unit": "week", "every": False}), "frequency.every"),
    (with_(rounding={"places": 2.0}), "rounding.places"),
    (with_(grace_principal_periods="1"), "grace_principal_periods"),
    (with_(interest_free_periods=True), "interest_free_periods"),
])
def test_counts_must_be_json_integers(obj, field):
    with pytest.raises(ScheduleInputError) as e:
        parse_terms(obj)
    assert e.value.field == field


@pytest.mark.parametrize("obj, field", [
    (with_(colour="red"), "colour"),
    (with_(frequency={"unit": "month", "every": 1, "day": 5}), "frequency.day"),
    (with_(rounding={"places": 2, "scale": 2}), "rounding.scale"),
    (with_(fees=[{"name": "svc", "amount": "1", "currency": "CNY"}]), "fees[0].currency"),
])
def test_unknown_fields_are_refused(obj, field):
    with pytest.raises(ScheduleInputError) as e:
        parse_terms(obj)
    assert e.value.field == field


@pytest.mark.parametrize("obj, field", [
    ([], "$"),
    ("terms", "$"),
    (with_(frequency="monthly"), "frequency"),
    (with_(frequency={"unit": "fortnight"}), "frequency.unit"),
    (with_(frequency={"unit": "month", "every": 0}), "frequency.every"),
    (with_(rounding=[2]), "rounding"),
    (with_(rounding={"mode": "bankers"}), "rounding.mode"),
    (with_(rounding={"places": 99}), "rounding.places"),
    (with_(fees={"name": "svc"}), "fees"),
    (with_(fees=["svc"]), "fees[0]"),
    (with_(fees=[{"amount": "1"}]), "fees[0].name"),
    (with_(fees=[{"name": "svc"}]), "fees[0].amount"),
    (with_(fees=[{"name": "svc", "amount": "1", "when": "later"}]), "fees[0].when"),
    (with_(fees=[{"name": "svc", "amount": "-1"}]), "fees[0].amount"),
    (with_(fees=[{"name": "svc", "amount": "1e2"}]), "fees[0].amount"),
    (with_(principal="abc"), "principal"),
    (with_(principal="NaN"), "principal"),
    (with_(principal="1e3"), "principal"),
    (with_(principal="-100"), "principal"),
    (with_(principal="0"), "principal"),
    (with_(annual_rate=""), "annual_rate"),
    (with_(method="annuity"), "method"),
    (with_(method=1), "method"),
    (with_(disbursement_date="2022/11/01"), "disbursement_date"),
    (with_(disbursement_date="2022-02-30"), "disbursement_date"),
    (with_(disbursement_date="2022-11-01T00:00:00"), "disbursement_date"),
    (with_(disbursement_date=20221101), "disbursement_date"),
    (with_(first_due_date="2022-10-01"), "first_due_date"),
    (with_(interest_basis="weekly"), "interest_basis"),
    (with_(day_count="ACT/366"), "day_count"),
    (with_(installment_rounding="nearest"), "installment_rounding"),
    (with_(grace_principal_periods=18), "grace_principal_periods"),
])
def test_errors_name_the_field_with_a_json_path(obj, field):
    with pytest.raises(ScheduleInputError) as e:
        parse_terms(obj)
    assert e.value.field == field


def test_output_shape_and_formats():
    out = schedule_to_dict(generate(parse_terms(FULL)))
    assert set(out) == {"installments", "total_principal", "total_interest", "total_fees", "total", "apr"}
    first = out["installments"][0]
    assert first == {"number": 1, "from_date": "2022-11-01", "due_date": "2022-12-01", "days": 30,
                     "principal": "255.00", "interest": "50.00", "fees": "0.00", "total": "305.00",
                     "outstanding": "4745.00"}
    assert out["installments"][-1]["total"] == "303.22"
    assert (out["total_principal"], out["total_interest"], out["total_fees"], out["total"]) == \
        ("5000.00", "488.22", "50.00", "5538.22")
    assert set(out["apr"]) == {"nominal", "effective"}
    for v in out["apr"].values():
        assert isinstance(v, str) and len(v.split(".")[1]) == 4
    json.dumps(out)   # plain JSON types only


def test_amounts_are_padded_to_the_rounding_places():
    out = schedule_to_dict(generate(parse_terms(with_(method="bullet", term=1, rounding={"places": 3}))),
                           apr=False)
    row = out["installments"][0]
    assert row["principal"] == "5000.000" and row["interest"] == "50.000" and row["outstanding"] == "0.000"
    assert "apr" not in out
    out = schedule_to_dict(generate(parse_terms(with_(rounding={"places": 0}))), apr=False)
    assert out["installments"][0]["interest"] == "50"


def test_output_amounts_parse_back_to_the_schedule():
    s = generate(parse_terms(FULL))
    out = schedule_to_dict(s)
    for row, r in zip(out["installments"], s.installments):
        assert D(row["principal"]) == r.principal and D(row["total"]) == r.total
        assert date.fromisoformat(row["due_date"]) == r.due_date
    assert D(out["apr"]["nominal"]) == s.apr().nominal
