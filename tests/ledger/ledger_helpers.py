"""Small builders for the ledger tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from openlend.ledger import service

D = Decimal
JAN31 = dt.date(2024, 1, 31)


def add_bank(conn, code: str = "1010.ICBC", currency: str | None = "CNY", shards: int = 1) -> dict:
    account, _ = service.create_account(conn, code=code, name=f"{code} settlement account", currency=currency,
                                        shards=shards)
    return account


def post(conn, entry_id: str, *lines, date: dt.date = JAN31, memo: str | None = None, currency: str = "CNY"):
    """``post(conn, "je_1", ("1100", "100"), ("4000", "-100"))``: amounts signed, one currency."""
    return service.post_entry(conn, entry_id=entry_id, effective_date=date, memo=memo,
                              lines=[(a, currency, D(m)) for a, m in lines])


def balance(conn, code: str, currency: str = "CNY") -> Decimal:
    return service.balance(conn, code, currency)
