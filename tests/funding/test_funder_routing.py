"""Choosing the bank for an application: by product, priority, quota left, and a deterministic
split by share."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from pydantic import SecretStr

from openlend.funding import FunderConfig, FundingConfig, choose_funder, route


def funder(code: str, *, share: str = "1", priority: int = 1, enabled: bool = True) -> FunderConfig:
    return FunderConfig(code, f"https://{code.lower()}.example", SecretStr("s" * 16), share=Decimal(share),
                        priority=priority, enabled=enabled)


AMOUNT = Decimal(20000)
IDS = [f"app_{i}" for i in range(20_000)]


def test_applications_are_split_by_share():
    funders = [funder("BANKA", share="0.6"), funder("BANKB", share="0.3"), funder("BANKC", share="0.1")]
    counts = Counter(choose_funder(funders, i, AMOUNT).bank_code for i in IDS)
    for code, share in (("BANKA", 0.6), ("BANKB", 0.3), ("BANKC", 0.1)):
        assert abs(counts[code] / len(IDS) - share) < 0.015, counts


def test_the_same_application_always_goes_to_the_same_bank():
    funders = [funder("BANKA"), funder("BANKB")]
    first = [choose_funder(funders, i, AMOUNT).bank_code for i in IDS[:500]]
    assert first == [choose_funder(funders, i, AMOUNT).bank_code for i in IDS[:500]]
    assert set(first) == {"BANKA", "BANKB"}


def test_a_lower_priority_bank_is_used_only_when_the_first_group_cannot_take_it():
    funders = [funder("BANKA", priority=1), funder("BANKB", priority=2)]
    assert {choose_funder(funders, i, AMOUNT).bank_code for i in IDS[:200]} == {"BANKA"}
    assert choose_funder(funders, "app_1", AMOUNT, quota_left={"BANKA": Decimal("19999.99")}).bank_code == "BANKB"
    assert choose_funder(funders, "app_1", AMOUNT, exclude={"BANKA"}).bank_code == "BANKB"
    assert [f.bank_code for f in route(funders, "app_1", AMOUNT)] == ["BANKA", "BANKB"]


def test_a_bank_out_of_quota_gives_its_share_to_the_others_in_its_group():
    funders = [funder("BANKA", share="0.5"), funder("BANKB", share="0.25"), funder("BANKC", share="0.25")]
    counts = Counter(choose_funder(funders, i, AMOUNT, quota_left={"BANKA": Decimal(0)}).bank_code
                     for i in IDS[:10_000])
    assert set(counts) == {"BANKB", "BANKC"} and abs(counts["BANKB"] / 10_000 - 0.5) < 0.02


def test_disabled_and_zero_share_banks_are_never_chosen_and_none_when_nobody_can():
    funders = [funder("BANKA", enabled=False), funder("BANKB", share="0"), funder("BANKC")]
    assert {choose_funder(funders, i, AMOUNT).bank_code for i in IDS[:200]} == {"BANKC"}
    assert choose_funder(funders, "app_1", AMOUNT, exclude={"BANKC"}) is None
    assert route([], "app_1", AMOUNT) == []


def test_the_fallback_order_lists_every_eligible_bank_once():
    funders = [funder("BANKA", share="2"), funder("BANKB"), funder("BANKC", priority=5), funder("BANKD", priority=5)]
    for i in IDS[:300]:
        order = [f.bank_code for f in route(funders, i, AMOUNT)]
        assert sorted(order[:2]) == ["BANKA", "BANKB"] and sorted(order[2:]) == ["BANKC", "BANKD"]


def test_funders_are_configured_per_product():
    cfg = FundingConfig.from_mapping({"products": {
        "cash_loan": [{"bank_code": "BANKA", "base_url": "https://a.example", "secret": "a-secret-123",
                       "share": "0.7"},
                      {"bank_code": "BANKB", "base_url": "https://b.example", "secret": "b-secret-123",
                       "share": 0.3, "priority": 1, "timeout_s": 3}],
        "car_loan": [{"bank_code": "BANKC", "base_url": "https://c.example", "secret": "c-secret-123"}]}})
    assert [f.bank_code for f in cfg.funders_for("cash_loan")] == ["BANKA", "BANKB"]
    assert cfg.funders_for("cash_loan")[1].share == Decimal("0.3")
    assert cfg.funders_for("nothing") == ()
    assert cfg.funder("BANKC").secret.get_secret_value() == "c-secret-123"
    assert "c-secret-123" not in repr(cfg)
    with pytest.raises(ValueError):
        FundingConfig.from_mapping({"products": {"x": [{"bank_code": "A", "base_url": "u", "secret": "s",
                                                        "sharee": 1}]}})
