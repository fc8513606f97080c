"""Product rules without a database: field rules, the worst-case APR against the cap, and a loan's
schedule terms from a product version."""

from __future__ import annotations

import copy
import itertools
from datetime import date
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openlend.products import rules
from openlend.products.demo import DEMO_PRODUCTS
from openlend.products.schemas import ProductConfig, to_native
from openlend.schedule.engine import generate

CAP = D(24)


def product(**changes) -> dict:
    """A valid product (native form), with top-level fields replaced by ``changes``."""
    body = {
        "name": "Cash loan",
        "currency": "CNY",
        "method": "equal_installment",
        "rate": {"min": "12", "max": "18", "default": "15"},
        "term": {"min": 3, "max": 12},
        "amount": {"min": "1000.00", "max": "50000.00"},
    }
    body.update(changes)
    return to_native(ProductConfig.model_validate(body))


def fields(config, cap=CAP) -> set[str]:
    return {v.field for v in rules.violations(rules.normalize(config), platform_cap=cap)}


# --- defaults -------------------------------------------------------------------------------------

def test_normalize_writes_every_default_in():
    c = rules.normalize(product())
    assert c["frequency"] == {"unit": "month", "every": 1}
    assert c["interest_basis"] == "period" and c["day_count"] == "30/360"
    assert c["grace"] == {"principal_periods": 0, "interest_periods": 0, "interest_free_periods": 0}
    assert c["penalty"] == {"calculation": "multiplier", "value": D("1.5")}
    assert rules.normalize(product(penalty={"value": "2"}))["penalty"] == {"calculation": "multiplier", "value": D(2)}
    assert c["prepayment_fee"] == {"calculation": "none", "value": D(0)}
    assert c["allocation"] == {"order": ["penalty", "fees", "interest", "principal"], "strategy": "installment_first"}
    assert c["rounding"] == {"places": 2, "mode": "half_even", "installment_multiple": None,
                             "installment_rounding": "half_even"}
    assert c["term"]["allowed"] is None and c["apr_cap"] is None


def test_rounding_places_default_from_the_currency_and_day_count_from_the_basis():
    c = rules.normalize(product(currency="JPY", amount={"min": "100000", "max": "500000"}, interest_basis="daily"))
    assert c["rounding"]["places"] == 0
    assert c["day_count"] == "ACT/365"
    assert rules.violations(c, platform_cap=CAP) == []


def test_single_rate_and_allowed_terms_fill_their_ranges():
    c = rules.normalize(product(rate={"default": "18"}, term={"allowed": [12, 3, 6]}))
    assert c["rate"] == {"min": D(18), "max": D(18), "default": D(18)}
    assert c["term"] == {"min": 3, "max": 12, "allowed": [3, 6, 12]}


def test_the_json_form_round_trips_with_amounts_padded_to_the_currency():
    c = rules.normalize(product(fees=[{"name": "svc", "kind": "upfront", "calculation": "fixed", "value": "10"}],
                                amount={"min": "1000", "max": "50000.5"}))
    j = rules.config_to_json(c)
    assert j["amount"] == {"min": "1000.00", "max": "50000.50"}
    assert j["fees"][0]["value"] == "10.00"
    assert j["rate"] == {"min": "12", "max": "18", "default": "15"}
    back = rules.config_from_json(j)
    assert back == c


# --- field rules ----------------------------------------------------------------------------------

def test_a_valid_product_has_no_violations():
    assert fields(product()) == set()


@pytest.mark.parametrize("change, field", [
    ({"rate": {"min": "20", "max": "18", "default": "18"}}, "rate.max"),
    ({"rate": {"min": "12", "max": "18", "default": "19"}}, "rate.default"),
    ({"rate": {"min": "12", "max": "2000", "default": "15"}}, "rate.max"),
    ({"term": {"min": 12, "max": 3}}, "term.max"),
    ({"term": {"min": 3}}, "term.max"),
    ({"term": {"min": 3, "max": 12, "allowed": [3, 24]}}, "term.allowed"),
    ({"term": {"allowed": [3, 3, 6]}}, "term.allowed"),
    ({"amount": {"min": "5000", "max": "1000"}}, "amount.max"),
    ({"amount": {"min": "0", "max": "1000"}}, "amount.min"),
    ({"amount": {"min": "1000.001", "max": "5000"}}, "amount.min"),
    ({"currency": "RMB"}, "currency"),
    ({"currency": "cny"}, "currency"),
    ({"fees": [{"name": "a", "kind": "upfront", "calculation": "percent", "value": "101"}]}, "fees.0.value"),
    ({"fees": [{"name": "a", "kind": "upfront", "calculation": "fixed", "value": "-1"}]}, "fees.0.value"),
    ({"fees": [{"name": "a", "kind": "upfront", "calculation": "fixed", "value": "1.005"}]}, "fees.0.value"),
    ({"fees": [{"name": "a", "kind": "upfront", "calculation": "fixed", "value": "1"},
               {"name": "a", "kind": "upfront", "calculation": "fixed", "value": "2"}]}, "fees.1.name"),
    ({"fees": [{"name": "a", "kind": "upfront", "calculation": "fixed", "value": "1000"}]}, "fees"),
    ({"allocation": {"order": ["penalty", "fees", "interest"]}}, "allocation.order"),
    ({"allocation": {"order": ["penalty", "fees", "interest", "interest"]}}, "allocation.order"),
    ({"grace": {"principal_periods": 3}}, "grace.principal_periods"),
    ({"grace": {"interest_periods": 3}}, "grace.interest_periods"),
    ({"grace": {"interest_free_periods": 4}}, "grace.interest_free_periods"),
    ({"rounding": {"places": 3}}, "rounding.places"),
    ({"rounding": {"installment_multiple": "0"}}, "rounding.installment_multiple"),
    ({"method": "bullet", "rounding": {"installment_multiple": "1"}}, "rounding.installment_multiple"),
    ({"method": "bullet", "grace": {"principal_periods": 1}}, "grace.principal_periods"),
    ({"method": "interest_only", "grace": {"principal_periods": 1}}, "grace.principal_periods"),
    ({"penalty": {"calculation": "multiplier", "value": "11"}}, "penalty.value"),
    ({"penalty": {"calculation": "fixed_rate", "value": "-1"}}, "penalty.value"),
    ({"penalty": {"calculation": "fixed_rate"}}, "penalty.value"),
    ({"term": {"min": 3, "max": 12, "allowed": []}}, "term.allowed"),
    ({"prepayment_fee": {"calculation": "percent", "value": "150"}}, "prepayment_fee.value"),
    ({"prepayment_fee": {"calculation": "fixed"}}, "prepayment_fee.value"),
    ({"prepayment_fee": {"calculation": "none", "value": "5"}}, "prepayment_fee.value"),
    ({"apr_cap": "30"}, "apr_cap"),
    ({"apr_cap": "0"}, "apr_cap"),
])
def test_each_broken_rule_points_at_its_field(change, field):
    assert field in fields(product(**change))


def test_every_violation_is_reported_at_once():
    found = fields(product(rate={"min": "20", "max": "18", "default": "18"}, term={"min": 12, "max": 3},
                           amount={"min": "5000", "max": "1000"}))
    assert {"rate.max", "term.max", "amount.max"} <= found


def test_a_product_may_set_a_lower_cap_but_not_a_higher_one():
    assert fields(product(apr_cap="20")) == set()
    assert fields(product(apr_cap="24")) == set()
    assert "apr_cap" in fields(product(apr_cap="24.01"))


def test_every_allocation_order_that_is_a_permutation_is_accepted():
    for order in itertools.permutations(rules.COMPONENTS):
        assert fields(product(allocation={"order": list(order), "strategy": "component_first"})) == set()


# --- worst-case APR -------------------------------------------------------------------------------

def test_a_rate_just_under_the_cap_with_no_fees_passes():
    c, worst = rules.check_product(product(rate={"min": "12", "max": "23.9", "default": "18"}), platform_cap=CAP)
    assert worst.annual_rate == D("23.9")
    assert D("23.8") <= worst.nominal < D("23.95")  # cent rounding moves it a hair
    assert worst.effective > CAP  # compounded it is over 24: the cap is on the nominal (IRR x 12) figure


def test_an_upfront_fee_on_a_short_term_breaks_the_cap():
    config = product(rate={"default": "20"}, term={"min": 3, "max": 12},
                     fees=[{"name": "arrangement", "kind": "upfront", "calculation": "percent", "value": "5"}])
    with pytest.raises(rules.AprCapExceeded) as exc:
        rules.check_product(config, platform_cap=CAP)
    worst = exc.value.worst
    assert worst.term == 3 and worst.annual_rate == 20
    assert worst.nominal > 50
    assert "3 periods" in str(exc.value) and "24" in str(exc.value)


def test_a_fixed_fee_weighs_most_on_the_smallest_amount_and_shortest_term():
    config = product(rate={"default": "12"}, term={"min": 3, "max": 12},
                     fees=[{"name": "service", "kind": "upfront", "calculation": "fixed", "value": "5.00"}])
    c, worst = rules.check_product(config, platform_cap=CAP)
    assert (worst.amount, worst.term) == (D("1000.00"), 3)


def test_a_per_installment_fixed_fee_weighs_most_on_the_longest_term():
    config = product(rate={"default": "12"}, term={"min": 3, "max": 12},
                     fees=[{"name": "service", "kind": "each_installment", "calculation": "fixed", "value": "5.00"}])
    c, worst = rules.check_product(config, platform_cap=CAP)
    assert (worst.amount, worst.term) == (D("1000.00"), 12)


def test_only_the_allowed_terms_are_weighed():
    fee = [{"name": "arrangement", "kind": "upfront", "calculation": "percent", "value": "1"}]
    # Any term from 1 to 12 months: a 1-month loan pays the 1 % fee in one month, far over 24 %.
    with pytest.raises(rules.AprCapExceeded):
        rules.check_product(product(rate={"default": "15"}, term={"min": 1, "max": 12}, fees=fee), platform_cap=CAP)
    # Only 6 or 12 months: the fee is spread and the product passes.
    c, worst = rules.check_product(product(rate={"default": "15"}, term={"allowed": [6, 12]}, fees=fee),
                                   platform_cap=CAP)
    assert worst.term == 6 and worst.nominal < CAP


def test_the_products_own_lower_cap_is_the_one_applied():
    config = product(rate={"default": "18"}, apr_cap="15")
    with pytest.raises(rules.AprCapExceeded) as exc:
        rules.check_product(config, platform_cap=CAP)
    assert exc.value.cap == 15


def test_the_platform_cap_is_configurable():
    config = product(rate={"default": "30"})
    with pytest.raises(rules.AprCapExceeded):
        rules.check_product(config, platform_cap=CAP)
    c, worst = rules.check_product(config, platform_cap=D(36))
    assert worst.nominal <= 36


def test_the_daily_basis_is_weighed_on_the_longest_months():
    # 23.9 % a year charged on actual days (ACT/365): a one-month loan over a 31-day month costs
    # 23.9 x 31/365 in the month, i.e. 24.34 % a year in IRR x 12 terms, over the cap; with 30/360
    # it is exactly 23.9 %.
    daily = product(rate={"default": "23.9"}, term={"min": 1, "max": 3}, interest_basis="daily", day_count="ACT/365")
    with pytest.raises(rules.AprCapExceeded) as exc:
        rules.check_product(daily, platform_cap=CAP)
    assert exc.value.worst.term == 1
    assert (exc.value.worst.disbursement_date.month, exc.value.worst.disbursement_date.day) != (2, 1)
    rules.check_product(product(rate={"default": "23.9"}, term={"min": 1, "max": 3}), platform_cap=CAP)


def _exact_worst(c) -> D:
    """The highest nominal APR over every corner, each computed exactly by the engine."""
    best = None
    for term in rules.corner_terms(c):
        for when in rules.corner_dates(c, term):
            for amount in {c["amount"]["min"], c["amount"]["max"]}:
                apr = generate(rules.schedule_terms_for(c, principal=amount, term=term, annual_rate=c["rate"]["max"],
                                                        disbursement_date=when, check_limits=False)).apr()
                best = apr.nominal if best is None else max(best, apr.nominal)
    return best


@pytest.mark.parametrize("body", DEMO_PRODUCTS, ids=[p["code"] for p in DEMO_PRODUCTS])
def test_the_screened_worst_case_is_the_exact_worst_case(body):
    c = rules.normalize(to_native(ProductConfig.model_validate({k: v for k, v in body.items() if k != "code"})))
    worst = rules.worst_case_apr(c)
    assert worst.nominal == _exact_worst(c)


@settings(max_examples=25, deadline=None)
@given(method=st.sampled_from(["equal_installment", "equal_principal", "flat", "interest_only"]),
       rate=st.decimals(min_value=0, max_value=40, places=2),
       tmin=st.integers(1, 6), span=st.integers(0, 6),
       upfront=st.decimals(min_value=0, max_value=3, places=1),
       each=st.decimals(min_value=0, max_value=5, places=0),
       basis=st.sampled_from(["period", "daily"]))
def test_the_screened_worst_case_matches_an_exact_scan(method, rate, tmin, span, upfront, each, basis):
    c = rules.normalize(product(
        method=method, interest_basis=basis, rate={"default": str(rate)}, term={"min": tmin, "max": tmin + span},
        fees=[{"name": "a", "kind": "upfront", "calculation": "percent", "value": str(upfront)},
              {"name": "b", "kind": "each_installment", "calculation": "fixed", "value": str(each)}]))
    assert rules.violations(c, platform_cap=CAP) == []
    worst = rules.worst_case_apr(c)
    assert worst.nominal == _exact_worst(c)


def test_the_demo_products_are_valid_and_within_the_cap():
    for body in DEMO_PRODUCTS:
        config = to_native(ProductConfig.model_validate({k: v for k, v in body.items() if k != "code"}))
        c, worst = rules.check_product(config, platform_cap=CAP)
        assert worst.nominal <= CAP, body["code"]


def test_a_wide_term_range_is_sampled_with_both_ends():
    terms = rules.corner_terms(rules.normalize(product(term={"min": 1, "max": 360})))
    assert terms[:36] == list(range(1, 37)) and terms[-1] == 360 and len(terms) == 48
    assert terms == sorted(set(terms))
    assert rules.corner_terms(rules.normalize(product(term={"min": 3, "max": 12}))) == list(range(3, 13))
    assert rules.corner_terms(rules.normalize(product(term={"allowed": [12, 3, 6]}))) == [3, 6, 12]


def test_dates_are_scanned_only_where_the_calendar_changes_the_interest():
    monthly_daily = rules.normalize(product(interest_basis="daily"))
    assert len(rules.corner_dates(monthly_daily, 12)) == 12
    assert len(rules.corner_dates(monthly_daily, 36)) == 3
    assert len(rules.corner_dates(rules.normalize(product()), 12)) == 1
    weekly_daily = rules.normalize(product(interest_basis="daily", frequency={"unit": "week", "every": 2}))
    assert len(rules.corner_dates(weekly_daily, 12)) == 1


# --- a loan's schedule terms from a product version -----------------------------------------------

def _demo(code: str) -> dict:
    body = next(p for p in DEMO_PRODUCTS if p["code"] == code)
    return rules.normalize(to_native(ProductConfig.model_validate({k: v for k, v in body.items() if k != "code"})))


def test_schedule_terms_take_the_products_method_rounding_grace_and_fees():
    p = rules.normalize(product(
        interest_basis="daily", day_count="ACT/360", grace={"principal_periods": 1, "interest_free_periods": 1},
        rounding={"mode": "half_up", "installment_multiple": "1", "installment_rounding": "up"},
        fees=[{"name": "svc", "kind": "upfront", "calculation": "percent", "value": "1.234"},
              {"name": "sms", "kind": "each_installment", "calculation": "fixed", "value": "2.00"}]))
    t = rules.schedule_terms_for(p, principal=D("5000.00"), term=6, disbursement_date=date(2024, 3, 15),
                                 first_due_date=date(2024, 4, 20))
    assert t.annual_rate == D(15) and t.method == "equal_installment" and t.term == 6
    assert (t.interest_basis, t.day_count) == ("daily", "ACT/360")
    assert (t.rounding_places, t.rounding_mode, t.installment_multiple, t.installment_rounding) == (2, "half_up", D(1), "up")
    assert (t.grace_principal_periods, t.grace_interest_periods, t.interest_free_periods) == (1, 0, 1)
    assert t.first_due_date == date(2024, 4, 20)
    fees = {f.name: (f.amount, f.when) for f in t.fees}
    assert fees == {"svc": (D("61.70"), "upfront"), "sms": (D("2.00"), "each_installment")}  # 61.70 = 1.234 % of 5000
    s = generate(t)
    assert s.net_disbursed == D("4938.30") and len(s.installments) == 6


def test_schedule_terms_use_the_rate_given_within_the_range():
    p = _demo("DEMO-CASH-12M")
    t = rules.schedule_terms_for(p, principal=D("3000.00"), term=6, annual_rate=D("10.8"),
                                 disbursement_date=date(2024, 1, 31))
    assert t.annual_rate == D("10.8")
    assert [f.amount for f in t.fees] == [D("3.00")]


@pytest.mark.parametrize("kwargs, field", [
    ({"principal": D("499.99"), "term": 3}, "principal"),
    ({"principal": D("50000.01"), "term": 3}, "principal"),
    ({"principal": D("1000"), "term": 4}, "term"),
    ({"principal": D("1000"), "term": 3, "annual_rate": D("18.01")}, "annual_rate"),
    ({"principal": D("1000"), "term": 3, "annual_rate": D("10")}, "annual_rate"),
])
def test_schedule_terms_refuse_what_the_product_does_not_offer(kwargs, field):
    with pytest.raises(rules.OutsideProductLimits) as exc:
        rules.schedule_terms_for(_demo("DEMO-CASH-12M"), disbursement_date=date(2024, 1, 1), **kwargs)
    assert [v.field for v in exc.value.violations] == [field]


def test_a_bullet_product_gives_one_installment_with_daily_interest():
    p = _demo("DEMO-BULLET-30D")
    s = generate(rules.schedule_terms_for(p, principal=D("1000.00"), term=14, disbursement_date=date(2024, 5, 1)))
    assert len(s.installments) == 1
    row = s.installments[0]
    assert row.due_date == date(2024, 5, 15) and row.principal == D("1000.00")
    assert row.interest == D("7.00")  # 1000 x 18.25 % x 14/365


def test_penalty_rate_and_prepayment_fee_follow_the_product():
    cash, ep, bullet = _demo("DEMO-CASH-12M"), _demo("DEMO-EP-24M"), _demo("DEMO-BULLET-30D")
    assert rules.penalty_annual_rate(cash, D(18)) == D("27.0")
    assert rules.penalty_annual_rate(bullet, D("18.25")) == D(24)
    assert rules.prepayment_fee_amount(cash, D("1000.00")) == D("0.00")
    assert rules.prepayment_fee_amount(ep, D("12345.67")) == D("123.46")


def test_normalize_does_not_change_its_input():
    original = product(term={"allowed": [12, 3]})
    before = copy.deepcopy(original)
    rules.normalize(original)
    assert original == before
