"""The double-entry general ledger: chart of accounts, append-only journal, balances, reports.

Other domains post through :mod:`openlend.ledger.service` inside their own transaction::

    from openlend.ledger import service as ledger

    ledger.post_entry(conn, entry_id="je_...", effective_date=business_date,
                      lines=[("1100", "CNY", Decimal("5000.00")), ("1300", "CNY", Decimal("-5000.00"))],
                      memo="Loan L0001 disbursed", source=("loan_transaction", "txn_..."))

Amounts are signed (debit positive).  The database (migration 0002) enforces what matters on its
own: balanced entries, append-only journal, balances kept in step with the lines.
"""
