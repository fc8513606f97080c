"""The credit report (PBOC 个人信用报告 shape): a strict parser and the features a scorecard reads.

Pure: no I/O.  :func:`parse_report` turns the bureau's JSON into a :class:`CreditReport` or raises
:class:`BureauParseError` naming the path of the first thing wrong (``loans[0].repayment_status_24m``):
a required section or field missing, a value of the wrong type (an amount must be a decimal string,
never a JSON number), a status outside its vocabulary, a date that is no date, a summary count that
disagrees with its section, a month after the report's.  A report that does not parse is reported,
never guessed at: nothing is defaulted, coerced or skipped.  Unknown extra fields are ignored, so a
bureau that adds one does not stop decisions.

The repayment-status string (还款状态) has 24 characters, oldest month first; its last character is the
account's ``status_month``.  ``N`` paid as agreed, ``1``-``7`` months past due (7 = 180 days or more),
``C`` closed that month, ``/`` no record (not open yet, or after closing).  Any other character is
refused (the real report's rarer codes ``*``, ``#``, ``G``, ``D``, ``Z``, ``B`` are to be mapped
deliberately when a real bureau is connected, not guessed now).

:func:`features` computes the documented feature set (docs/design/risk-data.md) as a flat dict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable

REPAYMENT_CHARS = frozenset("N1234567C/")
LOAN_TYPES = ("mortgage", "auto", "personal_consumption", "business", "student", "other")
LOAN_STATUSES = ("normal", "overdue", "closed", "bad_debt", "transferred")
CARD_STATUSES = ("normal", "overdue", "closed", "frozen", "bad_debt", "inactive")
QUERY_REASONS = ("loan_approval", "card_approval", "post_loan", "self")
HARD_QUERY_REASONS = ("loan_approval", "card_approval")  # a lender deciding on new credit
PUBLIC_RECORD_TYPES = ("civil_judgment", "enforcement", "tax_arrears", "administrative_penalty", "other")
QUERY_WINDOWS_MONTHS = (1, 3, 6)
THIN_FILE_MAX_ACCOUNTS = 1  # a file with at most this many credit accounts, ever, is thin
_MONEY = re.compile(r"^-?\d{1,15}(\.\d{1,2})?$")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
RATIO_PLACES = Decimal("0.0001")


class BureauParseError(ValueError):
    """The report does not parse; ``path`` says where (``loans[0].balance``)."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path, self.message = path, message


# --- the structure -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Header:
    report_id: str
    report_time: datetime
    query_reason: str


@dataclass(frozen=True)
class Identity:
    name: str
    id_type: str
    id_number: str


@dataclass(frozen=True)
class Summary:
    loan_accounts: int
    open_loan_accounts: int
    card_accounts: int
    open_card_accounts: int
    overdue_accounts: int
    first_credit_month: str | None


@dataclass(frozen=True)
class LoanAccount:
    account_id: str
    institution: str
    type: str
    currency: str
    open_date: date
    amount: Decimal
    balance: Decimal
    status: str
    status_month: tuple[int, int]   # (year, month) of the last character of the status string
    repayment_status_24m: str

    @property
    def exposure(self) -> Decimal:
        return self.balance


@dataclass(frozen=True)
class CardAccount:
    account_id: str
    institution: str
    currency: str
    open_date: date
    credit_limit: Decimal
    used: Decimal
    status: str
    status_month: tuple[int, int]
    repayment_status_24m: str

    @property
    def exposure(self) -> Decimal:
        return self.used


@dataclass(frozen=True)
class OverdueRecord:
    account_id: str
    month: tuple[int, int]
    months_overdue: int
    amount: Decimal


@dataclass(frozen=True)
class PublicRecord:
    type: str
    authority: str
    date: date
    amount: Decimal | None


@dataclass(frozen=True)
class QueryRecord:
    date: date
    institution: str
    reason: str


@dataclass(frozen=True)
class CreditReport:
    header: Header
    identity: Identity
    summary: Summary
    loans: tuple[LoanAccount, ...]
    cards: tuple[CardAccount, ...]
    overdue_records: tuple[OverdueRecord, ...]
    public_records: tuple[PublicRecord, ...]
    queries: tuple[QueryRecord, ...]

    @property
    def as_of(self) -> date:
        return self.header.report_time.date()


# --- strict field readers ------------------------------------------------------------------------

class _At:
    """A JSON object with its path, read field by field."""

    def __init__(self, obj: Any, path: str):
        if not isinstance(obj, dict):
            raise BureauParseError(path or "$", "must be an object")
        self.obj, self.path = obj, path

    def _p(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def raw(self, key: str, optional: bool = False) -> Any:
        if key not in self.obj:
            if optional:
                return None
            raise BureauParseError(self._p(key), "is missing")
        value = self.obj[key]
        if value is None and not optional:
            raise BureauParseError(self._p(key), "is null")
        return value

    def str(self, key: str, optional: bool = False) -> str | None:
        value = self.raw(key, optional)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise BureauParseError(self._p(key), "must be a non-empty string")
        return value

    def int(self, key: str, minimum: int = 0) -> int:
        value = self.raw(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise BureauParseError(self._p(key), f"must be an integer >= {minimum}")
        return value

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        value = self.str(key)
        if value not in allowed:
            raise BureauParseError(self._p(key), f"{value!r} is not one of {', '.join(allowed)}")
        return value

    def money(self, key: str, optional: bool = False, negative: bool = False) -> Decimal | None:
        value = self.raw(key, optional)
        if value is None:
            return None
        if not isinstance(value, str) or not _MONEY.match(value):
            raise BureauParseError(self._p(key), "must be a decimal string such as \"1500.00\"")
        amount = Decimal(value)
        if amount < 0 and not negative:
            raise BureauParseError(self._p(key), "must not be negative")
        return amount

    def date(self, key: str) -> date:
        value = self.str(key)
        try:
            return date.fromisoformat(value)  # type: ignore[arg-type]
        except ValueError:
            raise BureauParseError(self._p(key), f"{value!r} is not a date (YYYY-MM-DD)") from None

    def month(self, key: str) -> tuple[int, int]:
        value = self.str(key)
        m = _MONTH.match(value)  # type: ignore[arg-type]
        if not m:
            raise BureauParseError(self._p(key), f"{value!r} is not a month (YYYY-MM)")
        return int(m.group(1)), int(m.group(2))

    def timestamp(self, key: str) -> datetime:
        value = self.str(key)
        try:
            ts = datetime.fromisoformat(value)  # type: ignore[arg-type]
        except ValueError:
            raise BureauParseError(self._p(key), f"{value!r} is not an ISO 8601 timestamp") from None
        if ts.tzinfo is None:
            raise BureauParseError(self._p(key), "must carry a UTC offset")
        return ts

    def section(self, key: str) -> "_At":
        return _At(self.raw(key), self._p(key))

    def items(self, key: str, read: Callable[["_At"], Any]) -> tuple:
        value = self.raw(key)
        if not isinstance(value, list):
            raise BureauParseError(self._p(key), "must be a list")
        return tuple(read(_At(item, f"{self._p(key)}[{i}]")) for i, item in enumerate(value))

    def history(self, key: str) -> str:
        value = self.str(key)
        assert value is not None
        if len(value) != 24:
            raise BureauParseError(self._p(key), f"must have 24 characters, not {len(value)}")
        for i, ch in enumerate(value):
            if ch not in REPAYMENT_CHARS:
                raise BureauParseError(self._p(key), f"character {i} is {ch!r}, not one of N 1-7 C /")
        return value


# --- parsing -------------------------------------------------------------------------------------

def _loan(a: _At) -> LoanAccount:
    return LoanAccount(a.str("account_id"), a.str("institution"), a.choice("type", LOAN_TYPES), a.str("currency"),  # type: ignore[arg-type]
                       a.date("open_date"), a.money("amount"), a.money("balance"),  # type: ignore[arg-type]
                       a.choice("status", LOAN_STATUSES), a.month("status_month"), a.history("repayment_status_24m"))


def _card(a: _At) -> CardAccount:
    return CardAccount(a.str("account_id"), a.str("institution"), a.str("currency"), a.date("open_date"),  # type: ignore[arg-type]
                       a.money("credit_limit"), a.money("used"), a.choice("status", CARD_STATUSES),  # type: ignore[arg-type]
                       a.month("status_month"), a.history("repayment_status_24m"))


def _overdue(a: _At) -> OverdueRecord:
    months = a.int("months_overdue", minimum=1)
    return OverdueRecord(a.str("account_id"), a.month("month"), months, a.money("amount"))  # type: ignore[arg-type]


def _public(a: _At) -> PublicRecord:
    return PublicRecord(a.choice("type", PUBLIC_RECORD_TYPES), a.str("authority"), a.date("date"),  # type: ignore[arg-type]
                        a.money("amount", optional=True))


def _query(a: _At) -> QueryRecord:
    return QueryRecord(a.date("date"), a.str("institution"), a.choice("reason", QUERY_REASONS))  # type: ignore[arg-type]


def parse_report(raw: Any) -> CreditReport:
    """The report as a :class:`CreditReport`, or :class:`BureauParseError` naming what is wrong."""
    root = _At(raw, "")
    h = root.section("header")
    header = Header(h.str("report_id"), h.timestamp("report_time"), h.choice("query_reason", QUERY_REASONS))  # type: ignore[arg-type]
    i = root.section("identity")
    identity = Identity(i.str("name"), i.str("id_type"), i.str("id_number"))  # type: ignore[arg-type]
    s = root.section("summary")
    first = s.raw("first_credit_month", optional=True)
    if first is not None:
        s.month("first_credit_month")
    summary = Summary(s.int("loan_accounts"), s.int("open_loan_accounts"), s.int("card_accounts"),
                      s.int("open_card_accounts"), s.int("overdue_accounts"), first)
    report = CreditReport(header, identity, summary, root.items("loans", _loan), root.items("credit_cards", _card),
                          root.items("overdue_records", _overdue), root.items("public_records", _public),
                          root.items("queries", _query))
    _cross_check(report)
    return report


def _cross_check(r: CreditReport) -> None:
    """Agreements inside the report; a report that contradicts itself is not scored."""
    if r.summary.loan_accounts != len(r.loans):
        raise BureauParseError("summary.loan_accounts", f"says {r.summary.loan_accounts}, loans has {len(r.loans)}")
    if r.summary.card_accounts != len(r.cards):
        raise BureauParseError("summary.card_accounts",
                               f"says {r.summary.card_accounts}, credit_cards has {len(r.cards)}")
    report_month = _month_index(r.as_of.year, r.as_of.month)
    for section, accounts in (("loans", r.loans), ("credit_cards", r.cards)):
        for n, acct in enumerate(accounts):
            if _month_index(*acct.status_month) > report_month:
                raise BureauParseError(f"{section}[{n}].status_month", "is after the report's month")
            if acct.open_date > r.as_of:
                raise BureauParseError(f"{section}[{n}].open_date", "is after the report's date")
    for n, q in enumerate(r.queries):
        if q.date > r.as_of:
            raise BureauParseError(f"queries[{n}].date", "is after the report's date")


# --- features ------------------------------------------------------------------------------------

def _month_index(year: int, month: int) -> int:
    return year * 12 + month - 1


def _months_back(d: date, months: int) -> date:
    y, m = divmod(_month_index(d.year, d.month) - months, 12)
    m += 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(y, m, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _delinquencies(acct: LoanAccount | CardAccount, report_month: int) -> list[tuple[int, int]]:
    """(months ago, months past due) for every 1-7 in the status string."""
    lag = report_month - _month_index(*acct.status_month)
    return [(lag + 23 - i, int(ch)) for i, ch in enumerate(acct.repayment_status_24m) if ch.isdigit()]


FEATURE_NAMES: tuple[str, ...] = (
    "revolving_utilisation", "total_credit_limit", "total_balance", "worst_status_24m",
    "months_since_last_delinquency", "accounts_total", "accounts_open", "accounts_active",
    "credit_history_months", "overdue_records_count", "public_records_count", "thin_file",
    *[f"hard_queries_{n}m" for n in QUERY_WINDOWS_MONTHS],
    *[f"queries_{reason}_{n}m" for reason in QUERY_REASONS for n in QUERY_WINDOWS_MONTHS],
)


def features(report: CreditReport, as_of: date | None = None) -> dict[str, Any]:
    """The documented features (docs/design/risk-data.md), as of the report's date unless given.

    Money and ratios are Decimal; counts are int; a feature with no data behind it (utilisation
    without an open card, months since a delinquency that never happened) is None, never 0.
    """
    as_of = as_of or report.as_of
    report_month = _month_index(as_of.year, as_of.month)
    accounts: list[LoanAccount | CardAccount] = [*report.loans, *report.cards]
    open_accounts = [a for a in accounts if a.status != "closed"]
    open_cards = [c for c in report.cards if c.status != "closed"]

    limit = sum((c.credit_limit for c in open_cards), Decimal(0))
    used = sum((c.used for c in open_cards), Decimal(0))
    utilisation = (used / limit).quantize(RATIO_PLACES) if limit > 0 else None

    worst = 0
    last_delinquency: int | None = None
    for acct in accounts:
        for months_ago, level in _delinquencies(acct, report_month):
            if months_ago <= 23:
                worst = max(worst, level)
            last_delinquency = months_ago if last_delinquency is None else min(last_delinquency, months_ago)
    for rec in report.overdue_records:  # these can reach further back than the 24-month strings
        months_ago = report_month - _month_index(*rec.month)
        if months_ago >= 0:
            last_delinquency = months_ago if last_delinquency is None else min(last_delinquency, months_ago)

    opened = [a.open_date for a in accounts]
    history = None
    if opened:
        first = min(opened)
        history = report_month - _month_index(first.year, first.month) - (1 if as_of.day < first.day else 0)

    out: dict[str, Any] = {
        "revolving_utilisation": utilisation,
        "total_credit_limit": limit,
        "total_balance": sum((a.exposure for a in accounts), Decimal(0)),
        "worst_status_24m": worst,
        "months_since_last_delinquency": last_delinquency,
        "accounts_total": len(accounts),
        "accounts_open": len(open_accounts),
        "accounts_active": sum(1 for a in open_accounts if a.exposure > 0),
        "credit_history_months": history,
        "overdue_records_count": len(report.overdue_records),
        "public_records_count": len(report.public_records),
        "thin_file": len(accounts) <= THIN_FILE_MAX_ACCOUNTS,
    }
    for n in QUERY_WINDOWS_MONTHS:
        since = _months_back(as_of, n)
        in_window = [q for q in report.queries if since <= q.date <= as_of]
        for reason in QUERY_REASONS:
            out[f"queries_{reason}_{n}m"] = sum(1 for q in in_window if q.reason == reason)
        out[f"hard_queries_{n}m"] = sum(1 for q in in_window if q.reason in HARD_QUERY_REASONS)
    return {name: out[name] for name in FEATURE_NAMES}
