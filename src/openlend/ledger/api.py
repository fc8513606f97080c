"""``/v1/ledger``: chart of accounts, journal entries, reversals, trial balance, account statements.

Thin routes: FastAPI parses, :mod:`.service` works, :mod:`.schemas` renders.

Idempotency of the POSTs: the object's own id is its natural idempotency key (an entry id, a
reversal's id, an account code), so a retry without any header is already harmless: the same id
with the same content answers 200 with the booked object, ``"replayed": true`` and the header
``Idempotent-Replayed: true``; the same id with other content answers 409.  An ``Idempotency-Key``
header is accepted as well and then has Stripe's semantics on top (the stored response replayed
byte for byte; the same key with another body: 422).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse

from .. import errors
from ..web import DB, Principal, idempotent, problems
from . import schemas, service
from .schemas import (AccountCreate, AccountCreated, AccountList, AccountOut, EntryCreate, EntryList, EntryOut,
                      EntryPosted, ReversalCreate, StatementOut, TrialBalanceOut)

router = APIRouter(prefix="/ledger", tags=["ledger"])

CURRENCY_Q = Query(pattern=schemas.CURRENCY, description="ISO 4217 code, such as CNY")


_KEYS = (errors.IDEMPOTENCY_MISMATCH, errors.IDEMPOTENCY_IN_FLIGHT)


def _post(request: Request, database, principal: str, body: Any, run) -> JSONResponse:
    """``web.idempotent`` plus the natural-key replay header."""
    replayed = {"flag": False}

    def wrapped(conn):
        status, payload = run(conn)
        replayed["flag"] = bool(payload.get("replayed"))
        return status, payload

    response = idempotent(request, database, principal, body, wrapped)
    if replayed["flag"]:
        response.headers["Idempotent-Replayed"] = "true"
    return response


# Accounts ----------------------------------------------------------------------------------------
@router.get("/accounts", response_model=AccountList, summary="List ledger accounts",
            description="The chart of accounts in code order, each with its balance per currency. "
                        "`next_cursor` is the last code of the page.")
def list_accounts(
    database: DB,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    type: Annotated[schemas.AccountType | None, Query()] = None,
):
    with database.transaction() as conn:
        rows, more = service.list_accounts(conn, type=type, limit=limit, after=cursor)
    return schemas.render_account_list(rows, more)


@router.post(
    "/accounts", status_code=201, response_model=AccountCreated, summary="Add a ledger account",
    description="Adds an account to the chart, such as a cash account per bank (`1010.ICBC` under the header "
                "`1010`). The code is the natural idempotency key: the same code with the same attributes "
                "answers 200 with `replayed: true`; with other attributes 409 (accounts never change). "
                "An `Idempotency-Key` header is honoured as well.",
    responses={200: {"description": "The account existed with the same attributes", "model": AccountCreated},
               **problems(errors.VALIDATION, service.ACCOUNT_CONFLICT, *_KEYS)},
)
def create_account(body: AccountCreate, request: Request, database: DB, principal: Principal):
    def run(conn):
        account, created = service.create_account(conn, **body.model_dump())
        return (201 if created else 200), schemas.render_account(account, replayed=not created)

    return _post(request, database, principal, body.model_dump(mode="json"), run)


@router.get("/accounts/{code}", response_model=AccountOut, summary="Retrieve a ledger account",
            responses=problems(errors.NOT_FOUND))
def get_account(code: str, database: DB):
    with database.transaction() as conn:
        return schemas.render_account(service.get_account(conn, code))


@router.get(
    "/accounts/{code}/entries", response_model=StatementOut, summary="Account statement",
    description="The account's journal lines in date order (effective date, then entry id, then line), oldest "
                "first as on a bank statement, each with the running balance after it (on the account's normal "
                "side, per currency). `from`/`to` bound the effective date; `next_cursor` pages forwards.",
    responses=problems(errors.NOT_FOUND, errors.VALIDATION))
def account_statement(
    code: str, database: DB,
    date_from: Annotated[dt.date | None, Query(alias="from", description="first effective date")] = None,
    date_to: Annotated[dt.date | None, Query(alias="to", description="last effective date")] = None,
    currency: Annotated[str | None, CURRENCY_Q] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
):
    with database.transaction() as conn:
        st = service.statement(conn, code, currency=currency, date_from=date_from, date_to=date_to,
                               limit=limit, cursor=cursor)
    return schemas.render_statement(st)


@router.get(
    "/trial-balance", response_model=TrialBalanceOut, summary="Trial balance",
    description="Every account's balance per currency from the entries with an effective date up to `as_of` "
                "(all entries when it is absent), in the debit or the credit column, with the totals per "
                "currency and `balanced` (debits equal credits).",
    responses=problems(errors.VALIDATION))
def trial_balance(
    database: DB,
    as_of: Annotated[dt.date | None, Query(description="last effective date included, such as 2024-01-31")] = None,
    currency: Annotated[str | None, CURRENCY_Q] = None,
):
    with database.transaction() as conn:
        return schemas.render_trial_balance(service.trial_balance(conn, as_of=as_of, currency=currency))


# Entries -----------------------------------------------------------------------------------------
@router.post(
    "/entries", status_code=201, response_model=EntryPosted, summary="Post a journal entry",
    description=(
        "A manual journal entry by an operator. Each line has exactly one of `debit` or `credit`, a positive "
        "decimal string (a JSON number is refused) with at most the currency's decimal places; the line's "
        "`currency` defaults to the entry's. Debits must equal credits per currency (422 "
        "`/problems/unbalanced-entry`); the database refuses an unbalanced entry too. The entry id is chosen by "
        "the caller and is the natural idempotency key: the same id with the same content answers 200 with "
        "`replayed: true` and nothing new is written; other content answers 409 `/problems/entry-id-conflict`. "
        "An `Idempotency-Key` header is honoured as well."),
    responses={200: {"description": "Replayed: this id was booked before with the same content",
                     "model": EntryPosted},
               **problems(errors.VALIDATION, service.UNBALANCED, service.UNKNOWN_ACCOUNT, service.ACCOUNT_CURRENCY,
                           service.HEADER_ACCOUNT, service.ENTRY_ID_CONFLICT, *_KEYS)},
)
def post_entry(body: Annotated[EntryCreate, Body()], request: Request, database: DB, principal: Principal):
    lines = body.signed_lines()  # field problems before any transaction

    def run(conn):
        posted = service.post_entry(conn, entry_id=body.id, effective_date=body.effective_date, lines=lines,
                                    memo=body.memo, metadata=body.metadata)
        if posted.replayed:  # render what is booked (it may have been reversed since)
            return 200, schemas.render_entry(service.get_entry(conn, body.id), replayed=True)
        row = {"id": body.id, "effective_date": body.effective_date, "booked_at": posted.booked_at,
               "memo": body.memo, "reverses": None, "reversed_by": None, "source_type": None, "source_id": None,
               "metadata": body.metadata, "lines": lines}
        return 201, schemas.render_entry(row, replayed=False)

    return _post(request, database, principal, body.model_dump(mode="json"), run)


@router.get("/entries", response_model=EntryList, summary="List journal entries",
            description="Newest first by booking time; `source_type`/`source_id` select the entries of one "
                        "business object (a loan transaction).")
def list_entries(
    database: DB,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    source_type: Annotated[str | None, Query(max_length=64)] = None,
    source_id: Annotated[str | None, Query(max_length=128)] = None,
):
    with database.transaction() as conn:
        rows, next_cursor = service.list_entries(
            conn, limit=limit, cursor=cursor,
            source=(source_type, source_id) if source_type or source_id else None)
    return schemas.render_entry_list(rows, next_cursor)


@router.get("/entries/{entry_id}", response_model=EntryOut, summary="Retrieve a journal entry",
            responses=problems(errors.NOT_FOUND))
def get_entry(entry_id: str, database: DB):
    with database.transaction() as conn:
        return schemas.render_entry(service.get_entry(conn, entry_id))


@router.post(
    "/entries/{entry_id}/reversals", status_code=201, response_model=EntryPosted, summary="Reverse a journal entry",
    description=(
        "Books a reversal: a new entry (its `id` chosen by the caller) whose lines are the original's negated, "
        "with `reverses` pointing at the original. An entry is reversed once (409 "
        "`/problems/entry-already-reversed`); a reversal cannot be reversed (409 `/problems/entry-not-reversible`). "
        "`effective_date` defaults to the original's, so the entry is undone as of the day it took effect and a "
        "retry on another day books the same thing; a later date is allowed, an earlier one is not. The same "
        "reversal id again answers 200 with `replayed: true`."),
    responses={200: {"description": "Replayed", "model": EntryPosted},
               **problems(errors.NOT_FOUND, errors.VALIDATION, service.ALREADY_REVERSED, service.NOT_REVERSIBLE,
                           service.ENTRY_ID_CONFLICT, *_KEYS)},
)
def reverse_entry(entry_id: str, body: ReversalCreate, request: Request, database: DB, principal: Principal):
    if not service.ENTRY_ID_RE.match(entry_id):  # no entry can have such an id
        raise errors.not_found("journal entry", entry_id)

    def run(conn):
        posted = service.reverse_entry(conn, entry_id=entry_id, reversal_id=body.id,
                                       effective_date=body.effective_date, memo=body.memo, metadata=body.metadata)
        return (200 if posted.replayed else 201), schemas.render_entry(service.get_entry(conn, body.id),
                                                                        replayed=posted.replayed)

    return _post(request, database, principal, body.model_dump(mode="json"), run)
