"""The default chart of accounts, as data.

Codes follow the habit of Apache Fineract's GL codes (four digits, 1xxx assets, 2xxx liabilities,
3xxx equity, 4xxx income, 5xxx expenses).  A dotted code is a sub-account of the code before its
last dot: ``1010.ICBC`` is the ICBC settlement account under the header ``1010`` (cash at banks);
operators add one per bank through ``POST /v1/ledger/accounts``.

``CHART_0002`` is what migration 0002 seeds.  It is frozen history: never edit it (a database
migrated last year must look like one migrated today); add accounts in a later migration with
a ``CHART_00NN`` of its own.

Balance sides: an asset or expense account normally carries a debit balance, a liability, equity
or income account a credit balance.  A contra account (the loan-loss allowance: an asset account
with a credit balance) says so with an explicit ``normal_side``.

``shards`` spreads the balance of a hot account (one hit by every drawdown or every repayment)
over several rows, so that concurrent postings do not queue on one row lock; its balance is the
sum of its shards.
"""

from __future__ import annotations

from typing import NamedTuple

ACCOUNT_TYPES = ("asset", "liability", "equity", "income", "expense")
NORMAL_SIDE = {"asset": "debit", "expense": "debit", "liability": "credit", "equity": "credit", "income": "credit"}


class ChartAccount(NamedTuple):
    code: str
    name: str
    type: str
    normal_side: str | None = None  # None: the type's normal side
    usage: str = "detail"           # "header" accounts group others and take no postings
    parent_code: str | None = None
    currency: str | None = None     # None: any currency
    shards: int = 1
    description: str = ""


CHART_0002: tuple[ChartAccount, ...] = (
    # assets
    ChartAccount("1010", "Cash at banks", "asset", usage="header",
                 description="One sub-account per bank account, e.g. 1010.ICBC; added by operators."),
    ChartAccount("1100", "Loans receivable - principal", "asset",
                 description="Outstanding principal of disbursed loans."),
    ChartAccount("1110", "Loans receivable - interest", "asset",
                 description="Interest accrued or billed and not yet repaid."),
    ChartAccount("1120", "Loans receivable - fees", "asset",
                 description="Fees charged and not yet repaid."),
    ChartAccount("1130", "Loans receivable - penalty", "asset",
                 description="Penalty interest charged on overdue amounts and not yet repaid."),
    ChartAccount("1190", "Allowance for loan losses", "asset", normal_side="credit",
                 description="Contra-asset: provisions against loans receivable."),
    ChartAccount("1300", "Disbursement clearing", "asset", shards=8,
                 description="Disbursements booked on the loan and not yet confirmed by the bank."),
    ChartAccount("1310", "Repayment clearing", "asset", shards=8,
                 description="Repayments collected from customers and not yet settled into a bank account."),
    ChartAccount("1900", "Suspense", "asset",
                 description="Money received or paid that cannot be matched yet; cleared by operators."),
    # liabilities
    ChartAccount("2000", "Funder payable", "liability", shards=8,
                 description="Owed to the funding partner(s) for the loans they fund."),
    ChartAccount("2100", "Customer overpayments", "liability",
                 description="Money received beyond what a customer owes; refunded or applied later."),
    # equity
    ChartAccount("3000", "Equity", "equity", description="Paid-in capital."),
    ChartAccount("3100", "Retained earnings", "equity"),
    # income
    ChartAccount("4000", "Interest income", "income"),
    ChartAccount("4100", "Fee income", "income"),
    ChartAccount("4200", "Penalty income", "income"),
    ChartAccount("4300", "Recoveries of written-off loans", "income"),
    # expenses
    ChartAccount("5000", "Loan write-off expense", "expense"),
    ChartAccount("5100", "Loan-loss provision expense", "expense"),
    ChartAccount("5200", "Bank and channel fees", "expense"),
)


def rows(chart: tuple[ChartAccount, ...]) -> list[dict]:
    """The chart as rows for ``ledger_accounts`` (the normal side filled in from the type)."""
    return [
        {"code": a.code, "name": a.name, "type": a.type, "normal_side": a.normal_side or NORMAL_SIDE[a.type],
         "usage": a.usage, "parent_code": a.parent_code, "currency": a.currency, "shards": a.shards,
         "description": a.description or None}
        for a in chart
    ]
