"""Demo customers, credit lines and loans for ``openlend serve --demo``.

Four customers with the placeholder names 张三, 李四, 王五 and 赵六 (China's "John Doe") and made-up
ID numbers (a valid GB 11643 check character, dates of birth on the first of a month, sequence
numbers 9xx: test data, never real people), a line each on the demo products, and a few drawdowns
disbursed in the past, so that schedules have installments already due.  Idempotent: a customer
that exists (same ID number) is left as it is, with its line and loans.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg

D = Decimal

# (name, mobile, ID number without its check character, product code, limit, [(amount, term, days ago)])
DEMO_CUSTOMERS = [
    ("张三", "+8613900000001", "11010119900101901", "DEMO-CASH-12M", "50000.00",
     [("12000.00", 12, 95), ("3000.00", 3, 20)]),
    ("李四", "+8613900000002", "31010419850601902", "DEMO-EP-24M", "200000.00", [("60000.00", 24, 45)]),
    ("王五", "+8613900000003", "44030519920301903", "DEMO-BULLET-30D", "5000.00", [("2000.00", 14, 10)]),
    ("赵六", "+8613900000004", "51010719880901904", "DEMO-CASH-12M", "20000.00", []),
    ("孙七", "+8613900000005", "32010219870501905", "DEMO-CASH-12M", "30000.00", []),
    ("周八", "+8613900000006", "42010619910801906", "DEMO-CASH-12M", "30000.00", []),
    ("吴九", "+8613900000007", "35020319890201907", "DEMO-CASH-12M", "30000.00", []),
    ("郑十", "+8613900000008", "37020219930701908", "DEMO-CASH-12M", "30000.00", []),
]


def seed_demo(conn: psycopg.Connection, *, with_loans: bool = True) -> str:
    """Create the demo customers that are missing, each with a line and (``with_loans``) its drawdowns,
    disbursed in the past; say what was done.  Without loans, :mod:`openlend.loans.demo` lends on the
    lines through a replayed history instead."""
    from ..customers import service as customers
    from ..loans import service as loans
    from ..settings import get_settings
    from . import service as lines

    livemode = get_settings().livemode
    made = {"customers": 0, "lines": 0, "loans": 0}
    today = lines.today()
    for name, mobile, body, code, limit, draws in DEMO_CUSTOMERS:
        id_number = body + customers.id_check_char(body)
        if customers.search(conn, id_number=id_number)["data"]:
            continue
        product = conn.execute("SELECT id FROM loan_products WHERE livemode = %s AND code = %s AND status = 'active'",
                               [livemode, code]).fetchone()
        if product is None:  # the product demo was not seeded (or was retired): no line to open
            continue
        cus = customers.create_customer(conn, {"name": name, "mobile": mobile, "id_number": id_number})
        made["customers"] += 1
        line = lines.create_line(conn, customer_id=cus["id"], product_id=product["id"], limit=D(limit),
                                 expires_on=today.replace(year=today.year + 2, day=min(today.day, 28)),
                                 changed_by="demo")
        made["lines"] += 1
        for amount, term, days_ago in (draws if with_loans else []):
            loans.drawdown(conn, line["id"], amount=D(amount), term=term,
                           disbursement_date=today - dt.timedelta(days=days_ago))
            made["loans"] += 1
    if not any(made.values()):
        return ""
    return f"{made['customers']} demo customers, {made['lines']} credit lines, {made['loans']} loans"
