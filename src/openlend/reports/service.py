"""Reports (reads only, in the caller's transaction).

``reconciliation``: per currency, the loan subledger — the sum over loans of the cumulative figures
posted for each (``loan_posted_totals``, turned into balances by :func:`openlend.loans.posting.balances`)
— against the GL balances of the control accounts 1100/1110/1120/1130/2100, with the difference and an
ok flag; principal is also checked against the loans' own ``principal_outstanding`` (the stored state).

``portfolio_at_risk``: per currency and ageing bucket (M0..M4+), the open loans (active or overdue),
their outstanding principal and its share of the currency's outstanding principal.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg

from ..loans import posting
from ..loans.service import business_date
from ..money import currency_places, to_str
from ..settings import get_settings

ACCOUNTS = {posting.PRINCIPAL: "principal", posting.INTEREST: "interest", posting.FEES: "fees",
            posting.PENALTY: "penalty", posting.OVERPAYMENTS: "overpayment"}
BUCKETS = ("M0", "M1", "M2", "M3", "M4+")

_SUB = """
SELECT t.currency, sum(t.disbursed) AS disbursed, {sums}, count(*) AS loans,
       sum(l.principal_outstanding) AS state_principal
  FROM loan_posted_totals t JOIN loans l ON l.id = t.loan_id
 WHERE l.livemode = %s GROUP BY t.currency"""


def reconciliation(conn: psycopg.Connection) -> dict[str, Any]:
    sums = ", ".join(f"sum(t.{k}) AS {k}" for k in posting.FIGURES)
    sub = {r["currency"]: r for r in conn.execute(_SUB.format(sums=sums), [get_settings().livemode]).fetchall()}
    gl: dict[str, dict[str, Decimal]] = {}
    for r in conn.execute(
            "SELECT b.currency, b.account_code, sum(b.balance) AS net, a.normal_side FROM account_balances b "
            "JOIN ledger_accounts a ON a.code = b.account_code WHERE b.account_code = ANY(%s) "
            "GROUP BY b.currency, b.account_code, a.normal_side", [list(ACCOUNTS)]).fetchall():
        gl.setdefault(r["currency"], {})[r["account_code"]] = r["net"] if r["normal_side"] == "debit" else -r["net"]
    out = []
    zero = Decimal(0)
    for c in sorted(set(sub) | set(gl)):
        places = currency_places(c)
        s = sub.get(c)
        bal = posting.balances(s) if s else {a: zero for a in ACCOUNTS}
        accounts = []
        for code, name in ACCOUNTS.items():
            g = gl.get(c, {}).get(code, zero)
            accounts.append({"account": code, "component": name, "subledger": to_str(bal[code], places),
                             "gl": to_str(g, places), "difference": to_str(bal[code] - g, places),
                             "ok": bal[code] == g})
        state_p = s["state_principal"] if s else zero
        state_ok = state_p == bal[posting.PRINCIPAL]
        out.append({"currency": c, "loans": s["loans"] if s else 0, "accounts": accounts,
                    "loan_state_principal": to_str(state_p, places), "loan_state_ok": state_ok,
                    "ok": state_ok and all(a["ok"] for a in accounts)})
    return {"object": "reconciliation", "as_of": business_date(conn).isoformat(), "currencies": out,
            "ok": all(x["ok"] for x in out)}


def portfolio_at_risk(conn: psycopg.Connection) -> dict[str, Any]:
    rows = conn.execute(
        "SELECT currency, bucket, count(*) AS loans, sum(principal_outstanding) AS principal FROM loans "
        "WHERE livemode = %s AND status IN ('active', 'overdue') GROUP BY currency, bucket",
        [get_settings().livemode]).fetchall()
    by: dict[str, dict[str, Any]] = {}
    for r in rows:
        by.setdefault(r["currency"], {})[r["bucket"]] = r
    out = []
    for c in sorted(by):
        places = currency_places(c)
        total = sum((r["principal"] for r in by[c].values()), Decimal(0))
        buckets = []
        for b in BUCKETS:
            r = by[c].get(b)
            p = r["principal"] if r else Decimal(0)
            share = (p / total * 100).quantize(Decimal("0.01")) if total else Decimal(0)
            buckets.append({"bucket": b, "loans": r["loans"] if r else 0, "principal_outstanding": to_str(p, places),
                            "share": to_str(share, 2)})
        at_risk = sum((by[c][b]["principal"] for b in BUCKETS[1:] if b in by[c]), Decimal(0))
        out.append({"currency": c, "loans": sum(r["loans"] for r in by[c].values()),
                    "principal_outstanding": to_str(total, places), "buckets": buckets,
                    "par1": to_str((at_risk / total * 100).quantize(Decimal("0.01")) if total else Decimal(0), 2)})
    return {"object": "portfolio_at_risk", "as_of": business_date(conn).isoformat(), "currencies": out}
