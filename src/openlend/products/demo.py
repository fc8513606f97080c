"""Demo loan products for ``openlend serve --demo``: three products a Chinese consumer lender offers,
all within the 24 % APR cap.  :func:`seed_demo` creates the ones missing (idempotent by code)."""

from __future__ import annotations

from typing import Any

import psycopg

DEMO_PRODUCTS: list[dict[str, Any]] = [
    {   # A revolving credit line's drawdowns: 等额本息, 3/6/9/12 months, a small monthly service fee.
        "code": "DEMO-CASH-12M",
        "name": "Cash drawdown, 3-12 months (等额本息)",
        "currency": "CNY",
        "method": "equal_installment",
        "frequency": {"unit": "month", "every": 1},
        "interest_basis": "period",
        "day_count": "30/360",
        "rate": {"min": "10.8", "max": "18", "default": "18"},
        "term": {"allowed": [3, 6, 9, 12]},
        "amount": {"min": "500.00", "max": "50000.00"},
        "fees": [{"name": "service", "kind": "each_installment", "calculation": "percent", "value": "0.1"}],
        "penalty": {"calculation": "multiplier", "value": "1.5"},
        "allocation": {"order": ["penalty", "fees", "interest", "principal"], "strategy": "installment_first"},
    },
    {   # A larger instalment loan: 等额本金 (equal principal), 6-24 months, a fixed arrangement fee.
        "code": "DEMO-EP-24M",
        "name": "Instalment loan, 6-24 months (等额本金)",
        "currency": "CNY",
        "method": "equal_principal",
        "frequency": {"unit": "month", "every": 1},
        "interest_basis": "daily",
        "day_count": "ACT/365",
        "rate": {"min": "7.2", "max": "15.4", "default": "12"},
        "term": {"min": 6, "max": 24},
        "amount": {"min": "10000.00", "max": "200000.00"},
        "fees": [{"name": "arrangement", "kind": "upfront", "calculation": "fixed", "value": "100.00"}],
        "prepayment_fee": {"calculation": "percent", "value": "1"},
        "allocation": {"order": ["penalty", "interest", "principal", "fees"], "strategy": "component_first"},
    },
    {   # A short bullet loan: principal and interest together after 7 to 30 days, daily interest.
        "code": "DEMO-BULLET-30D",
        "name": "Short-term loan, 7-30 days (到期一次还本付息)",
        "currency": "CNY",
        "method": "bullet",
        "frequency": {"unit": "day", "every": 1},
        "interest_basis": "daily",
        "day_count": "ACT/365",
        "rate": {"default": "18.25"},
        "term": {"allowed": [7, 14, 21, 30]},
        "amount": {"min": "200.00", "max": "5000.00"},
        "penalty": {"calculation": "fixed_rate", "value": "24"},
    },
]


def seed_demo(conn: psycopg.Connection) -> str:
    """Create the demo products that are missing (by code, in the current mode); say what was done."""
    from ..settings import get_settings
    from . import service

    livemode = get_settings().livemode
    have = {r["code"] for r in conn.execute(
        "SELECT code FROM loan_products WHERE livemode = %s AND code = ANY(%s)",
        [livemode, [p["code"] for p in DEMO_PRODUCTS]]).fetchall()}
    made = 0
    for body in DEMO_PRODUCTS:
        if body["code"] not in have:
            service.create_product(conn, body)
            made += 1
    return f"{len(DEMO_PRODUCTS)} loan products ({made} new)"
