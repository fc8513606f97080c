"""Request and response shapes of the ledger's API and CLI, and the functions that render the
service's rows into them (one rendering for both, so the CLI prints what the API returns)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .. import errors
from ..errors import field_error
from ..money import currency_places
from ..settings import get_settings
from ..web import Amount, Model, iso_ts
from . import service

AccountType = Literal["asset", "liability", "equity", "income", "expense"]
Side = Literal["debit", "credit"]
CURRENCY = r"^[A-Z]{3}$"
ENTRY_ID = service.ENTRY_ID_RE.pattern
ACCOUNT_CODE = service.ACCOUNT_CODE_RE.pattern


# Requests ----------------------------------------------------------------------------------------
class AccountCreate(Model):
    code: str = Field(pattern=ACCOUNT_CODE, description="Unique; a dotted code (1010.ICBC) goes under the code "
                                                       "before its last dot when that account exists.")
    name: str = Field(min_length=1, max_length=200)
    type: AccountType | None = Field(None, description="Defaults to the parent account's type.")
    normal_side: Side | None = Field(None, description="Defaults from the type (asset, expense: debit; others: "
                                                       "credit); give it for a contra account.")
    usage: Literal["detail", "header"] = Field("detail", description="A header account groups others and takes no postings.")
    currency: str | None = Field(None, pattern=CURRENCY, description="Bind the account to one currency; null: any.")
    parent_code: str | None = Field(None, pattern=ACCOUNT_CODE)
    shards: int = Field(1, ge=1, le=64, description="Balance rows for a hot account (hit by every posting).")
    description: str | None = Field(None, max_length=1000)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"code": "1010.ICBC", "name": "ICBC settlement account 6222", "currency": "CNY"}]})


class LineIn(Model):
    account: str = Field(description="Account code, such as 1010.ICBC")
    debit: Amount | None = None
    credit: Amount | None = None
    currency: str | None = Field(None, pattern=CURRENCY, description="Defaults to the entry's currency.")


class EntryCreate(Model):
    id: str = Field(pattern=ENTRY_ID, description="Chosen by the caller, so that a retry is harmless: the same id "
                                                  "with the same content returns the booked entry.")
    effective_date: dt.date = Field(description="Business (value) date")
    currency: str | None = Field(None, pattern=CURRENCY, description="Currency of lines that name none.")
    memo: str | None = Field(None, max_length=1000)
    lines: list[LineIn] = Field(min_length=2, max_length=service.MAX_LINES,
                                description="Each line has exactly one of debit or credit, a positive decimal string.")
    metadata: dict[str, Any] | None = None

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": "je_capital_2024_01", "effective_date": "2024-01-31", "currency": "CNY", "memo": "Paid-in capital",
        "lines": [{"account": "1010.ICBC", "debit": "1000000.00"}, {"account": "3000", "credit": "1000000.00"}]}]})

    def signed_lines(self) -> list[service.Line]:
        """The lines as the service takes them (signed), with a pointer for each bad field."""
        out = []
        for i, line in enumerate(self.lines):
            currency = line.currency or self.currency
            if currency is None:
                raise field_error(errors.VALIDATION, f"/lines/{i}/currency",
                                  "give the currency on the line or on the entry")
            if (line.debit is None) == (line.credit is None):
                raise field_error(errors.VALIDATION, f"/lines/{i}", "give exactly one of debit or credit")
            field, amount = ("debit", line.debit) if line.debit is not None else ("credit", line.credit)
            assert amount is not None
            if amount <= 0:
                raise field_error(errors.VALIDATION, f"/lines/{i}/{field}", "must be greater than zero")
            if amount >= service.MAX_AMOUNT:
                raise field_error(errors.VALIDATION, f"/lines/{i}/{field}", "the amount is too large")
            places = currency_places(currency)
            if amount.as_tuple().exponent < -places and amount != round(amount, places):  # type: ignore[operator]
                raise field_error(errors.VALIDATION, f"/lines/{i}/{field}",
                                  f"{currency} amounts have at most {places} decimal places")
            out.append(service.Line(line.account, currency, amount if field == "debit" else -amount))
        return out


class ReversalCreate(Model):
    id: str = Field(pattern=ENTRY_ID, description="The reversal's own entry id (a retry with it is harmless).")
    effective_date: dt.date | None = Field(None, description="Defaults to the original entry's; never earlier.")
    memo: str | None = Field(None, max_length=1000, description="Defaults to 'Reversal of <id>'.")
    metadata: dict[str, Any] | None = None

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"id": "je_capital_2024_01_rev", "memo": "Booked twice by mistake"}]})


# Responses (documentation; the routes render plain dicts) ------------------------------------------
class BalanceOut(BaseModel):
    currency: str
    balance: str = Field(description="On the account's normal side: an asset debited 100 shows \"100.00\".")


class AccountOut(BaseModel):
    object: Literal["ledger_account"] = "ledger_account"
    id: str
    code: str
    name: str
    type: AccountType
    normal_side: Side
    usage: Literal["detail", "header"]
    currency: str | None
    parent_code: str | None
    shards: int
    description: str | None
    balances: list[BalanceOut]
    created_at: str
    livemode: bool

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "object": "ledger_account", "id": "1010.ICBC", "code": "1010.ICBC", "name": "ICBC settlement account 6222",
        "type": "asset", "normal_side": "debit", "usage": "detail", "currency": "CNY", "parent_code": "1010",
        "shards": 1, "description": None, "balances": [{"currency": "CNY", "balance": "1000000.00"}],
        "created_at": "2024-01-31T08:00:00Z", "livemode": False}]})


class LineOut(BaseModel):
    line_no: int
    account: str
    currency: str
    debit: str | None
    credit: str | None


class EntryOut(BaseModel):
    object: Literal["journal_entry"] = "journal_entry"
    id: str
    effective_date: dt.date
    booked_at: str
    created_at: str
    memo: str | None
    reverses: str | None
    reversed_by: str | None
    source: dict[str, str] | None
    metadata: dict[str, Any] | None
    lines: list[LineOut]
    livemode: bool

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "object": "journal_entry", "id": "je_capital_2024_01", "effective_date": "2024-01-31",
        "booked_at": "2024-01-31T08:00:00Z", "created_at": "2024-01-31T08:00:00Z", "memo": "Paid-in capital",
        "reverses": None, "reversed_by": None, "source": None, "metadata": None,
        "lines": [{"line_no": 1, "account": "1010.ICBC", "currency": "CNY", "debit": "1000000.00", "credit": None},
                  {"line_no": 2, "account": "3000", "currency": "CNY", "debit": None, "credit": "1000000.00"}],
        "livemode": False}]})


class EntryPosted(EntryOut):
    replayed: bool = Field(description="True when this id was booked before with the same content and nothing "
                                       "new was written (HTTP 200); false for a new entry (HTTP 201).")


class AccountCreated(AccountOut):
    replayed: bool = Field(description="True when the account existed with the same attributes (HTTP 200).")


class TrialBalanceRow(BaseModel):
    account: str
    name: str
    type: AccountType
    normal_side: Side
    currency: str
    debit: str
    credit: str
    balance: str


class TrialBalanceTotal(BaseModel):
    currency: str
    debit: str
    credit: str
    difference: str
    balanced: bool


class TrialBalanceOut(BaseModel):
    object: Literal["trial_balance"] = "trial_balance"
    as_of: dt.date | None = Field(description="Entries with an effective date up to this day; null: all entries.")
    currency: str | None
    accounts: list[TrialBalanceRow]
    totals: list[TrialBalanceTotal]
    balanced: bool = Field(description="Debits equal credits in every currency.")
    generated_at: str
    livemode: bool

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "object": "trial_balance", "as_of": "2024-01-31", "currency": None,
        "accounts": [
            {"account": "1010.ICBC", "name": "ICBC settlement account 6222", "type": "asset", "normal_side": "debit",
             "currency": "CNY", "debit": "1000000.00", "credit": "0.00", "balance": "1000000.00"},
            {"account": "3000", "name": "Equity", "type": "equity", "normal_side": "credit",
             "currency": "CNY", "debit": "0.00", "credit": "1000000.00", "balance": "1000000.00"}],
        "totals": [{"currency": "CNY", "debit": "1000000.00", "credit": "1000000.00", "difference": "0.00",
                    "balanced": True}],
        "balanced": True, "generated_at": "2024-02-01T00:00:00Z", "livemode": False}]})


class StatementLineOut(BaseModel):
    object: Literal["statement_line"] = "statement_line"
    entry_id: str
    line_no: int
    effective_date: dt.date
    booked_at: str
    memo: str | None
    currency: str
    debit: str | None
    credit: str | None
    balance: str = Field(description="Running balance after this line, on the account's normal side.")


class StatementOut(BaseModel):
    object: Literal["list"] = "list"
    account: str
    data: list[StatementLineOut]
    has_more: bool
    next_cursor: str | None

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "object": "list", "account": "1010.ICBC", "has_more": False, "next_cursor": None,
        "data": [{"object": "statement_line", "entry_id": "je_capital_2024_01", "line_no": 1,
                  "effective_date": "2024-01-31", "booked_at": "2024-01-31T08:00:00Z", "memo": "Paid-in capital",
                  "currency": "CNY", "debit": "1000000.00", "credit": None, "balance": "1000000.00"}]}]})


class AccountList(BaseModel):
    object: Literal["list"] = "list"
    data: list[AccountOut]
    has_more: bool
    next_cursor: str | None


class EntryList(BaseModel):
    object: Literal["list"] = "list"
    data: list[EntryOut]
    has_more: bool
    next_cursor: str | None


# Rendering ---------------------------------------------------------------------------------------
def money(amount: Decimal, currency: str) -> str:
    return service._fmt(amount, currency)


def _livemode() -> bool:
    return get_settings().livemode


def render_account(row: dict, replayed: bool | None = None) -> dict:
    side = row["normal_side"]
    out = {
        "object": "ledger_account", "id": row["code"], "code": row["code"], "name": row["name"], "type": row["type"],
        "normal_side": side, "usage": row["usage"], "currency": row["currency"], "parent_code": row["parent_code"],
        "shards": row["shards"], "description": row["description"],
        "balances": [{"currency": c, "balance": money(service.normal_balance(n, side), c)}
                     for c, n in sorted(row["nets"].items())],
        "created_at": iso_ts(row["created_at"]), "livemode": _livemode(),
    }
    if replayed is not None:
        out["replayed"] = replayed
    return out


def render_line(no: int, line: service.Line) -> dict:
    debit = line.amount > 0
    amount = money(abs(line.amount), line.currency)
    return {"line_no": no, "account": line.account, "currency": line.currency,
            "debit": amount if debit else None, "credit": None if debit else amount}


def render_entry(row: dict, replayed: bool | None = None) -> dict:
    out = {
        "object": "journal_entry", "id": row["id"], "effective_date": row["effective_date"].isoformat(),
        "booked_at": iso_ts(row["booked_at"]), "created_at": iso_ts(row["booked_at"]), "memo": row["memo"],
        "reverses": row.get("reverses"), "reversed_by": row.get("reversed_by"),
        "source": {"type": row["source_type"], "id": row["source_id"]} if row.get("source_type") else None,
        "metadata": row.get("metadata"),
        "lines": [render_line(i, line) for i, line in enumerate(row["lines"], 1)],
        "livemode": _livemode(),
    }
    if replayed is not None:
        out["replayed"] = replayed
    return out


def render_trial_balance(tb: dict) -> dict:
    accounts = []
    for r in tb["accounts"]:
        c, net = r["currency"], r["net"]
        accounts.append({
            "account": r["code"], "name": r["name"], "type": r["type"], "normal_side": r["normal_side"],
            "currency": c, "debit": money(net if net > 0 else Decimal(0), c),
            "credit": money(-net if net < 0 else Decimal(0), c),
            "balance": money(service.normal_balance(net, r["normal_side"]), c)})
    totals = [{"currency": c, "debit": money(t["debit"], c), "credit": money(t["credit"], c),
               "difference": money(t["debit"] - t["credit"], c), "balanced": t["debit"] == t["credit"]}
              for c, t in sorted(tb["totals"].items())]
    return {"object": "trial_balance", "as_of": tb["as_of"].isoformat() if tb["as_of"] else None,
            "currency": tb["currency"], "accounts": accounts, "totals": totals, "balanced": tb["balanced"],
            "generated_at": iso_ts(dt.datetime.now(dt.timezone.utc)), "livemode": _livemode()}


def render_statement(st: dict) -> dict:
    side = st["account"]["normal_side"]
    data = []
    for r in st["lines"]:
        c, amt = r["currency"], r["amount"]
        data.append({"object": "statement_line", "entry_id": r["entry_id"], "line_no": r["line_no"],
                     "effective_date": r["effective_date"].isoformat(), "booked_at": iso_ts(r["booked_at"]),
                     "memo": r["memo"], "currency": c,
                     "debit": money(amt, c) if amt > 0 else None, "credit": money(-amt, c) if amt < 0 else None,
                     "balance": money(service.normal_balance(r["net_after"], side), c)})
    return {"object": "list", "account": st["account"]["code"], "data": data, "has_more": st["has_more"],
            "next_cursor": st["next_cursor"]}


def render_account_list(rows: list[dict], more: bool) -> dict:
    """The chart page as the API and the CLI show it (code order; the cursor is the last code)."""
    return {"object": "list", "data": [render_account(r) for r in rows], "has_more": more,
            "next_cursor": rows[-1]["code"] if more and rows else None}


def render_entry_list(rows: list[dict], next_cursor: str | None) -> dict:
    """A page of journal entries as the API and the CLI show it."""
    return {"object": "list", "data": [render_entry(r) for r in rows], "has_more": next_cursor is not None,
            "next_cursor": next_cursor}
