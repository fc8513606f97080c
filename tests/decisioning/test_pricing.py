"""Limit and price (核算): limits worked by hand, debt service, rates inside the product's range and
APRs inside the cap."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openlend.decisioning import pricing
from openlend.decisioning.policy import EDUCATION, HOUSING, default_policy
from openlend.products import rules
from openlend.products.schemas import ProductConfig, to_native

POLICY = default_policy()
CAP = D(24)


def product(**changes) -> dict:
    body = {"name": "Cash loan", "currency": "CNY", "method": "equal_installment",
            "rate": {"min": "12", "max": "18", "default": "15"}, "term": {"min": 3, "max": 12},
            "amount": {"min": "1000.00", "max": "50000.00"}}
    body.update(changes)
    return rules.normalize(to_native(ProductConfig.model_validate(body)))


def limit(band="B", income="8000", debt="600", housing="own_mortgage", education="bachelor", prod=None, table=None):
    return pricing.compute_limit(table or POLICY.limit, band=band, monthly_income=D(income), debt_service=D(debt),
                                 housing=housing, education=education, product=prod or product())


# --- debt service ---------------------------------------------------------------------------------

def test_debt_service_is_the_stated_repayment_or_three_percent_of_the_balance():
    assert pricing.monthly_debt_service(outstanding_balance=D(20000), stated_monthly_repayment=None,
                                        debt_service_rate=D("0.03")) == D("600.00")
    assert pricing.monthly_debt_service(outstanding_balance=D(20000), stated_monthly_repayment=D("812.345"),
                                        debt_service_rate=D("0.03")) == D("812.35")
    assert pricing.monthly_debt_service(outstanding_balance=D("333.33"), stated_monthly_repayment=None,
                                        debt_service_rate=D("0.03")) == D("10.00")


def test_debt_to_income():
    assert pricing.debt_to_income(D(600), D(8000)) == D("0.0750")
    assert pricing.debt_to_income(D(1000), D(3000)) == D("0.3333")
    assert pricing.debt_to_income(D(1), D(0)) == D("99.9999")


# --- limits by hand -------------------------------------------------------------------------------

def test_income_binds():
    # band B: 30000 x 1.1 (own, mortgage) x 1.1 (bachelor) = 36300; income: 5 x (8000 - 600) = 37000
    # -> band 36300; with income 7000: 5 x 6400 = 32000 -> income binds
    r = limit(income="7000")
    assert (r.band_limit, r.income_limit, r.binding, r.limit) == (D("36300.00"), D("32000.00"), "income_limit",
                                                                  D("32000.00"))
    assert r.approved


def test_band_binds_and_factors_multiply():
    r = limit()
    assert (r.band_limit, r.income_limit, r.binding, r.limit) == (D("36300.00"), D("37000.00"), "band_limit",
                                                                  D("36300.00"))
    # band C, renting (0.9), high school (0.9): 20000 x 0.81 = 16200
    r = limit(band="C", housing="rent", education="high_school", income="20000")
    assert (r.band_limit, r.limit) == (D("16200.00"), D("16200.00"))


def test_the_limit_rounds_down_to_the_multiple():
    # band D: 3 x (4321.99 - 0) = 12965.97 -> income; band 10000 x 1.2 x 1.2 = 14400 -> income binds,
    # floored to 12900
    r = limit(band="D", income="4321.99", debt="0", housing="own_no_mortgage", education="postgraduate")
    assert (r.income_limit, r.binding, r.limit) == (D("12965.97"), "income_limit", D("12900.00"))


def test_the_product_max_and_the_policy_cap_bind():
    r = limit(band="A", income="100000", debt="0", housing="own_no_mortgage", education="postgraduate",
              prod=product(amount={"min": "1000.00", "max": "20000.00"}))
    assert (r.band_limit, r.binding, r.limit) == (D("72000.00"), "product_max", D("20000.00"))
    table = {**POLICY.limit, "policy_cap": D(5050)}
    r = limit(band="A", income="100000", debt="0", table=table)
    assert (r.binding, r.limit) == ("policy_cap", D("5000.00"))


def test_a_limit_below_the_product_minimum_is_not_approved():
    # band D: 3 x (3000 - 2700) = 900 < 1000
    r = limit(band="D", income="3000", debt="2700")
    assert (r.limit, r.approved) == (D("900.00"), False)
    # debts above income: capacity is negative, the limit is zero
    r = limit(band="D", income="3000", debt="3500")
    assert (r.income_limit, r.limit, r.approved) == (D("-1500.00"), D("0.00"), False)
    # band E lends nothing
    assert limit(band="E").limit == 0


@settings(max_examples=200, deadline=None)
@given(band=st.sampled_from("ABCDE"), income=st.decimals(0, 200000, places=2), debt=st.decimals(0, 50000, places=2),
       housing=st.sampled_from(HOUSING), education=st.sampled_from(EDUCATION))
def test_a_limit_is_a_multiple_of_100_under_every_bound(band, income, debt, housing, education):
    r = limit(band=band, income=str(income), debt=str(debt), housing=housing, education=education)
    assert r.limit % 100 == 0 and r.limit >= 0
    assert r.limit <= min(r.band_limit, max(r.income_limit, D(0)), r.policy_cap, r.product_max)
    assert r.limit + 100 > min(r.band_limit, r.income_limit, r.policy_cap, r.product_max)  # floored, not lower
    assert r.approved == (r.limit >= r.product_min)


# --- price ----------------------------------------------------------------------------------------

def price(band="B", prod=None, limit_=D(30000), cap=CAP):
    return pricing.compute_price(POLICY.pricing, band=band, product=prod or product(), limit=limit_,
                                 platform_apr_cap=cap)


def test_the_rate_follows_the_band_inside_the_product_range():
    # 12 + position x (18 - 12): A 0 -> 12, B 0.25 -> 13.5, C 0.5 -> 15, D 0.85 -> 17.1, E 1 -> 18
    assert [price(b).rate for b in "ABCDE"] == [D("12.00"), D("13.50"), D("15.00"), D("17.10"), D("18.00")]
    for b in "ABCDE":
        p = price(b)
        assert p.rate_min <= p.rate <= p.rate_max and p.apr_nominal <= p.apr_cap and p.within_cap


def test_the_band_rate_rounds_down():
    # 12 + 0.85 x 6.01 = 17.1085 -> 17.10
    p = price("D", prod=product(rate={"min": "12", "max": "18.01", "default": "15"}))
    assert (p.band_rate, p.rate) == (D("17.10"), D("17.10"))


def test_a_rate_whose_apr_rounds_over_the_cap_is_lowered_to_the_highest_step_within_it():
    # 24 % nominal: the rounding of the installments makes the APR 24.0031 % on 1000 over 5 months
    p = price("E", prod=product(rate={"min": "20", "max": "24", "default": "22"}))
    assert p.band_rate == D(24) and p.lowered_for_cap and p.within_cap
    assert p.rate == D("23.99") and p.apr_nominal <= CAP
    assert pricing.worst_apr_at(product(rate={"min": "20", "max": "24", "default": "22"}), D(24),
                                D(30000)).nominal > CAP


def test_the_products_own_lower_cap_applies():
    p = price("E", prod=product(apr_cap="16"))
    assert p.apr_cap == D(16) and p.rate <= D(16) and p.apr_nominal <= D(16) and p.lowered_for_cap


def test_no_rate_within_the_cap_is_reported():
    fee = [{"name": "service", "kind": "upfront", "calculation": "percent", "value": "3"}]
    p = price("A", prod=product(rate={"min": "20", "max": "23", "default": "22"}, fees=fee))
    assert not p.within_cap and p.rate == D(20) and p.apr_nominal > CAP


def test_the_worst_apr_is_sought_up_to_the_limit_not_the_product_max():
    fee = [{"name": "service", "kind": "upfront", "calculation": "fixed", "value": "30"}]
    prod = product(rate={"min": "12", "max": "18", "default": "15"}, fees=fee)
    small = pricing.worst_apr_at(prod, D(12), D(1000))
    assert small.amount == D("1000.00")
    assert pricing.worst_apr_at(prod, D(12), D(40000)).nominal == small.nominal  # a fixed fee: the min decides


@pytest.mark.parametrize("cap", [D(24), D(36)])
def test_a_valid_product_is_never_priced_over_the_cap(cap):
    for b in "ABCDE":
        assert price(b, cap=cap).apr_nominal <= cap
