"""A demo loan book in every state, made by living through its history.

On a database where close of business has never run, :func:`seed_history` moves the business date
back ``HISTORY_DAYS`` days and walks forward to today: on each business day the demo borrowers draw,
repay, prepay, pay off or stop paying as their script says, and close of business closes the day
(accrual, falling due, penalty, ageing, reminders).  So the book ends exactly as the platform would
have kept it: loans current, prepaid, paid off (one with an overpayment held), written off, and
overdue in M1, M2, M3 and M4+, each with its ledger entries, schedules, reminders and COB runs.

Idempotent: it runs only when no loan is on the demo lines and no close of business has run; the
customers and lines come from :mod:`openlend.lines.demo`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ..db import Database

D = Decimal
HISTORY_DAYS = 150

# ID number (without check character) -> [(day of history the loan is drawn, amount, term, script)]
# scripts: "pays" (every installment on its due date), "prepay" (pays, and prepays 10,000 on day 40),
# "payoff" (pays, and pays off on day 70 with 100.00 too much: an overpayment held), "stops" (never
# pays), "write_off" (never pays, written off on day 140)
SCRIPTS: dict[str, list[tuple[int, str, int, str]]] = {
    "11010119900101901": [(0, "12000.00", 12, "pays"), (10, "3000.00", 3, "payoff")],     # 张三
    "31010419850601902": [(5, "60000.00", 24, "prepay")],                                 # 李四
    "44030519920301903": [(HISTORY_DAYS - 10, "2000.00", 14, "pays")],                    # 王五
    "51010719880901904": [(HISTORY_DAYS - 46, "3000.00", 6, "stops")],                    # 赵六: M1
    "32010219870501905": [(HISTORY_DAYS - 76, "5000.00", 6, "stops")],                    # 孙七: M2
    "42010619910801906": [(HISTORY_DAYS - 106, "4000.00", 9, "stops")],                   # 周八: M3
    "35020319890201907": [(HISTORY_DAYS - 140, "6000.00", 12, "stops")],                  # 吴九: M4+
    "37020219930701908": [(1, "2500.00", 6, "write_off")],                                # 郑十
}


def seed_history(database: Database, *, today: dt.date | None = None, progress=None) -> str:
    from ..cob import service as cob
    from ..customers import service as customers
    from . import service as loans

    today = today or dt.date.today()
    start = today - dt.timedelta(days=HISTORY_DAYS)
    with database.transaction() as conn:
        if not cob.never_closed(conn):
            return ""
        lines_by_body = {}
        for body in SCRIPTS:
            found = customers.search(conn, id_number=body + customers.id_check_char(body))["data"]
            if not found:
                continue
            line = conn.execute("SELECT id FROM credit_lines WHERE customer_id = %s AND status = 'active' "
                                "ORDER BY created_at LIMIT 1", [found[0]["id"]]).fetchone()
            if line is None or conn.execute("SELECT 1 FROM loans WHERE line_id = %s LIMIT 1",
                                            [line["id"]]).fetchone():
                continue
            lines_by_body[body] = line["id"]
        if not lines_by_body:
            return ""
        cob.set_business_date(conn, start)

    book: list[tuple[str, str]] = []   # (loan id, script)
    made = 0
    d = start
    while d < today:
        day = (d - start).days
        with database.transaction() as conn:
            for body, line_id in lines_by_body.items():
                for draw_day, amount, term, script in SCRIPTS[body]:
                    if draw_day == day:
                        loan = loans.drawdown(conn, line_id, amount=D(amount), term=term)
                        book.append((loan["id"], script))
                        made += 1
            for loan_id, script in book:
                loan = loans.load(conn, loan_id)
                if loan["status"] in ("paid_off", "written_off"):
                    continue
                if script == "write_off" and day == 140:
                    loans.write_off(conn, loan_id, reason="demo: 90 days past due, no contact")
                    continue
                if script == "payoff" and day == 70:
                    quote = loans.payoff_quote(conn, loan_id)
                    loans.repay(conn, loan_id, amount=D(quote["total"]) + D("100.00"), channel="demo")
                    continue
                if script == "prepay" and day == 40:
                    loans.prepay(conn, loan_id, amount=D("10000.00"), mode="reduce_installment")
                if script in ("pays", "prepay", "payoff"):
                    due = conn.execute(
                        "SELECT sum(principal + interest + fees + penalty - paid_principal - paid_interest "
                        "- paid_fees - paid_penalty) AS due FROM loan_installments WHERE loan_id = %s "
                        "AND due_date <= %s", [loan_id, d]).fetchone()["due"]
                    if due and due > 0:
                        loans.repay(conn, loan_id, amount=due, channel="demo")
        cob.close_day(database, d, workers=1)
        if progress and day % 30 == 0:
            progress(f"demo history: {d.isoformat()} closed")
        d += dt.timedelta(days=1)
    return f"{made} loans through {HISTORY_DAYS} business days of history (close of business each day)"
