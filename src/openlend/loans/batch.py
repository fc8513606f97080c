"""Group commit: many drawdowns, or many repayments, in one transaction and a few round trips.

A money movement on the single path (:func:`.service.drawdown`, :func:`.service.repay`) costs a
transaction of its own: its round trips, its statements, its commit.  On a busy server the
database's work per transaction (parse, plan and execute each statement, take and give back its
locks, write and flush the commit record) and the client's (one round trip per step) dominate, and
they are the same for one movement as for fifty.  So, as TigerBeetle batches transfers and
PostgreSQL batches commit flushes, this module books many movements per transaction:

* :func:`drawdown_many` — the drawdowns' checks and schedules as :func:`.service.plan_drawdown`
  makes them, one read of all their lines, then ONE call of ``loan_drawdown_many`` (migration 0009):
  per drawdown the very guarded limit reservation of the single path (lines in id order), then every
  table's rows for all the loans in one multi-row statement each, and all the disbursement entries'
  lines in one ledger statement (each balance row moved once per batch);
* :func:`repay_many` — all the loans locked and read in one round trip (posted totals then loans, in
  id order: the lock order of the single path and close of business), each repayment folded by the
  engine as :func:`.service.repay` folds it, then every loan's writes, the lines' releases (one per
  line, in id order) and all the journal entries (``ledger_post_many``) in one round trip;
* :class:`GroupCommit` — the executor that makes batches out of single calls: threads call
  ``drawdown(...)`` / ``repay(...)`` one movement at a time and block for their own answer; the first
  caller to find no batch running becomes a leader and books whatever has queued up (up to
  ``max_batch``), so batches grow exactly as fast as requests pile up behind a running one (at low
  load a batch is one movement: no added latency).

Every movement keeps its own answer, its own problem and its own journal entry.  A movement refused
by a rule (a check, the limit, a closed loan) is answered with its problem and writes nothing; the
others in its batch are booked.  When the database refuses a batch as a whole (a deadlock, a lost
connection, an error no rule foresaw), nothing of it is written and :class:`GroupCommit` books each
of its movements again on the single path, one transaction each, so that one bad movement cannot
take others down with it.  The limit invariant holds exactly as on the single path: every drawdown's
reservation is the same guarded ``UPDATE`` on the line's row, under that row's lock.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb

from .. import errors
from ..errors import Problem
from ..ids import has_prefix, new_id
from ..ledger import service as ledger
from ..lines import service as lines
from . import engine as eng
from . import posting
from . import service as svc
from .disbursement import Disburser, get_disburser


@dataclass(frozen=True, slots=True)
class DrawdownRequest:
    line_id: str
    amount: Decimal
    term: int
    annual_rate: Decimal | None = None
    disbursement_date: dt.date | None = None
    first_due_date: dt.date | None = None
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class RepaymentRequest:
    loan_id: str
    amount: Decimal
    value_date: dt.date | None = None
    channel: str | None = None
    currency: str | None = None


class Retry(Exception):
    """A movement the batch could not settle (its reservation was refused and the line, read again,
    says nothing against it: another transaction gave limit back in between): book it alone."""


Outcome = dict[str, Any] | Exception

_LINES_WITH_PRODUCT_AND_DATE = svc._LINE_WITH_PRODUCT_AND_DATE.replace(
    "WHERE c.id = %s AND", "WHERE c.id = ANY(%s::text[]) AND", 1)
assert _LINES_WITH_PRODUCT_AND_DATE != svc._LINE_WITH_PRODUCT_AND_DATE

_DRAWDOWN_MANY = ("SELECT * FROM loan_drawdown_many(%(today)s, %(lm)s, 'clearing', %(line)s::text[], "
                  "%(principal)s::numeric[], %(id)s::text[], %(customer)s::text[], %(product)s::text[], "
                  "%(version)s::int[], %(currency)s::text[], %(rate)s::numeric[], %(term)s::int[], "
                  "%(method)s::text[], %(disb)s::date[], %(first)s::date[], %(maturity)s::date[], "
                  "%(upfront)s::numeric[], %(net)s::numeric[], %(apr_n)s::numeric[], %(apr_e)s::numeric[], "
                  "%(terms)s, %(rules)s, %(txn)s::text[], %(details)s, %(entry)s::text[], "
                  "%(ik)s::int[], %(n)s::int[], %(from)s::date[], %(due)s::date[], %(p)s::numeric[], "
                  "%(i)s::numeric[], %(f)s::numeric[], %(o)s::numeric[], "
                  "%(lk)s::int[], %(accounts)s::text[], %(currencies)s::text[], %(amounts)s::numeric[])")

# per-item fields of loan_drawdown_many and how each goes as one array literal
_ITEM_ARRAYS: tuple[tuple[str, Callable[[list], str]], ...] = (
    ("line", svc._text_array), ("principal", svc._num_array), ("id", svc._text_array),
    ("customer", svc._text_array), ("product", svc._text_array), ("version", svc._int_array),
    ("currency", svc._text_array), ("rate", svc._num_array), ("term", svc._int_array),
    ("method", svc._text_array), ("disb", svc._date_array), ("first", svc._date_array),
    ("maturity", svc._date_array), ("upfront", svc._num_array), ("net", svc._num_array),
    ("apr_n", svc._num_array), ("apr_e", svc._num_array), ("txn", svc._text_array))


def drawdown_many(conn: psycopg.Connection, requests: Sequence[DrawdownRequest], *,
                  disburser: Disburser | None = None) -> list[Outcome]:
    """Book ``requests`` in the caller's transaction; per request, in order, the loan as
    :func:`.service.drawdown` answers it, or the :class:`~openlend.errors.Problem` that refused it
    (nothing of it written), or :class:`Retry`.  A database error aborts the whole batch (raised; a
    ledger account the disburser names and the chart lacks as the single path's problem)."""
    disburser = disburser or get_disburser()
    out: list[Outcome] = [errors.not_found("credit line", r.line_id) for r in requests]
    if not svc._books_in_sql(disburser):   # a payout channel of its own: the single path, one by one
        for k, r in enumerate(requests):
            out[k] = _single(conn, lambda r=r: _drawdown_alone(conn, r, disburser))
        return out
    ids = sorted({r.line_id for r in requests if has_prefix(r.line_id, "line")})
    found = {row["id"]: row for row in conn.execute(_LINES_WITH_PRODUCT_AND_DATE, [svc._text_array(ids),
                                                                                  svc._livemode()],
                                                    prepare=True).fetchall()} if ids else {}
    today = next((row["business_date"] for row in found.values()), None) or lines.today()
    arrays: dict[str, list] = {name: [] for name, _ in _ITEM_ARRAYS}
    terms_json: list = []
    rules_json: list = []
    details_json: list = []
    entries: list[str] = []
    inst: dict[str, list] = {k: [] for k in ("ik", "n", "from", "due", "p", "i", "f", "o")}
    jl: dict[str, list] = {k: [] for k in ("lk", "accounts", "currencies", "amounts")}
    planned: list[tuple[int, dict[str, Any], Any, str]] = []   # (request index, values, schedule, entry id)
    for k, r in enumerate(requests):
        line = found.get(r.line_id)
        if line is None:
            continue
        try:
            product, terms, schedule = svc.plan_drawdown(
                line, today, amount=r.amount, term=r.term, annual_rate=r.annual_rate,
                disbursement_date=r.disbursement_date, first_due_date=r.first_due_date, currency=r.currency)
            loan_id, txn_id, entry_id = new_id("loan"), new_id("txn"), new_id("je")
            accounts, currencies, amounts = svc.disbursement_lines(disburser, line, terms, schedule, today,
                                                                   loan_id=loan_id, txn_id=txn_id,
                                                                   entry_id=entry_id)
        except Problem as exc:
            out[k] = exc
            continue
        values = svc.loan_values(line, product, terms, schedule, loan_id=loan_id, txn_id=txn_id, entry_id=entry_id)
        planned.append((k, values, schedule, entry_id))
        n = len(planned)   # this drawdown's ordinal in the call (1-based)
        for name, _ in _ITEM_ARRAYS:
            arrays[name].append(values[name])
        terms_json.append(values["terms"])
        rules_json.append(values["rules"])
        details_json.append(values["details"])
        entries.append(entry_id)
        for row in schedule.installments:
            inst["ik"].append(n)
            inst["n"].append(row.number)
            inst["from"].append(row.from_date)
            inst["due"].append(row.due_date)
            inst["p"].append(row.principal)
            inst["i"].append(row.interest)
            inst["f"].append(row.fees)
            inst["o"].append(row.outstanding)
        jl["lk"].extend([n] * len(accounts))
        jl["accounts"].extend(accounts)
        jl["currencies"].extend(currencies)
        jl["amounts"].extend(amounts)
    if not planned:
        return out
    params: dict[str, Any] = {name: conv(arrays[name]) for name, conv in _ITEM_ARRAYS}
    params.update(
        today=today, lm=svc._livemode(), terms=Jsonb(terms_json), rules=Jsonb(rules_json),
        details=Jsonb(details_json), entry=svc._text_array(entries), ik=svc._int_array(inst["ik"]),
        n=svc._int_array(inst["n"]), due=svc._date_array(inst["due"]), p=svc._num_array(inst["p"]),
        i=svc._num_array(inst["i"]), f=svc._num_array(inst["f"]), o=svc._num_array(inst["o"]),
        lk=svc._int_array(jl["lk"]), accounts=ledger._array(jl["accounts"]),
        currencies=ledger._array(jl["currencies"]), amounts=ledger._numeric_array(jl["amounts"]))
    params["from"] = svc._date_array(inst["from"])
    try:
        written = {row["id"]: row for row in conn.execute(_DRAWDOWN_MANY, params, prepare=True).fetchall()}
    except psycopg.Error as exc:   # as the single path says it: an account the disburser names that the chart lacks
        problem = ledger._translate(exc, jl["accounts"])
        if problem is None:
            raise
        raise problem from None
    refused = [(k, values) for k, values, _, _ in planned if values["id"] not in written]
    if refused:   # why: each line as it is now (under this transaction's view)
        now = {row["id"]: row for row in conn.execute(
            f"SELECT {lines._COLS} FROM credit_lines WHERE id = ANY(%s::text[])",
            [svc._text_array(sorted({v["line"] for _, v in refused}))]).fetchall()}
        for k, values in refused:
            problem = lines.refusal(now[values["line"]], values["principal"], on=today)
            out[k] = problem if problem is not None else Retry(values["line"])
    for k, values, schedule, entry_id in planned:
        loan = written.get(values["id"])
        if loan is None:
            continue
        loan.update(disb_id=values["txn"], disb_txn_status="active", disb_channel=disburser.channel,
                    disb_entry_ids=[entry_id], disb_details={"disbursement_status": "pending"})
        out[k] = svc.render(loan, svc._render_new_schedule(loan, schedule, values["disb"]))
    return out


def _drawdown_alone(conn: psycopg.Connection, r: DrawdownRequest, disburser: Disburser | None) -> dict[str, Any]:
    """``r`` on the single path (:func:`.service.drawdown`)."""
    return svc.drawdown(conn, r.line_id, amount=r.amount, term=r.term, annual_rate=r.annual_rate,
                        disbursement_date=r.disbursement_date, first_due_date=r.first_due_date,
                        currency=r.currency, disburser=disburser)


def _single(conn: psycopg.Connection, op: Callable[[], dict[str, Any]]) -> Outcome:
    """``op`` in a savepoint of the caller's transaction: its answer, or its problem (rolled back)."""
    try:
        with conn.transaction():
            return op()
    except Problem as exc:
        return exc


# --- repayments -------------------------------------------------------------------------------------

_LOCK_MANY = (f"SELECT {svc._LOAN_COLS}, {', '.join(f'pt.{c} AS pt_{c}' for c in svc._TOTALS_COLS)} "
              "FROM loan_posted_totals pt JOIN loans l ON l.id = pt.loan_id "
              "WHERE pt.loan_id = ANY(%s::text[]) AND l.livemode = %s ORDER BY pt.loan_id FOR UPDATE OF pt, l")
_EXTRAS_MANY = svc._LOAN_EXTRAS.replace(
    "SELECT (SELECT business_date", "SELECT l.id AS loan_id_, (SELECT business_date", 1).replace(
    "WHERE l.id = %s", "WHERE l.id = ANY(%s::text[])", 1)
_EVENT_IDS_MANY = ("SELECT loan_id, string_agg(id, ',' ORDER BY seq) AS ids FROM loan_transactions "
                   "WHERE loan_id = ANY(%s::text[]) AND status = 'active' AND type = ANY(%s::text[]) GROUP BY loan_id")
_EVENTS_MANY = svc._EVENTS.replace("SELECT id, type,", "SELECT loan_id, id, type,", 1).replace(
    "WHERE loan_id = %s AND", "WHERE loan_id = ANY(%s::text[]) AND", 1).replace("ORDER BY seq", "ORDER BY loan_id, seq")
_SCHEDULES_MANY = svc._STORED_CURRENT_SCHEDULE.replace("SELECT s.number,", "SELECT s.loan_id, s.number,", 1).replace(
    "WHERE s.loan_id = %s ORDER BY s.number", "WHERE s.loan_id = ANY(%s::text[]) ORDER BY s.loan_id, s.number", 1)
assert "loan_id_" in _EXTRAS_MANY and "ANY" in _EXTRAS_MANY and "ANY" in _EVENTS_MANY and "ANY" in _SCHEDULES_MANY

_POST_MANY = ("SELECT ledger_post_many(%s, %s::text[], %s::text[], %s::text[], %s, %s::int[], %s::text[], "
              "%s::text[], %s::text[], %s::numeric[])")


def repay_many(conn: psycopg.Connection, requests: Sequence[RepaymentRequest]) -> list[Outcome]:
    """Book ``requests`` (at most one per loan) in the caller's transaction; per request, in order,
    what :func:`.service.repay` answers, or the problem that refused it (nothing of it written), or
    :class:`Retry`.  A database error aborts the whole batch (raised)."""
    if len({r.loan_id for r in requests}) != len(requests):
        raise ValueError("repay_many takes one repayment per loan")
    out: list[Outcome] = [errors.not_found("loan", r.loan_id) for r in requests]
    ids = sorted(r.loan_id for r in requests if has_prefix(r.loan_id, "loan"))
    if not ids:
        return out
    arr = svc._text_array(ids)
    with conn.pipeline():   # one round trip: the locks first, then what the fold and the answer need
        locked = conn.execute(_LOCK_MANY, [arr, svc._livemode()], prepare=True)
        extras = conn.execute(_EXTRAS_MANY, [arr], prepare=True)
        event_ids = conn.execute(_EVENT_IDS_MANY, [arr, svc._EVENT_TYPES_ARRAY], prepare=True)
        scheds = conn.cursor(row_factory=tuple_row).execute(_SCHEDULES_MANY, [arr], prepare=True)
    loans = {row["id"]: row for row in locked.fetchall()}
    extra = {row.pop("loan_id_"): row for row in extras.fetchall()}
    ids_of = {row["loan_id"]: row["ids"] for row in event_ids.fetchall()}
    cold = [i for i in loans if not svc.cached_events(i, ids_of.get(i, ""))]
    evs: dict[str, list] = {i: [] for i in cold}
    if cold:   # loans whose last fold is not in hand: their events, in one more round trip
        for row in conn.execute(_EVENTS_MANY, [svc._text_array(cold), svc._EVENT_TYPES_ARRAY],
                                prepare=True).fetchall():
            evs[row.pop("loan_id")].append(row)
    stored: dict[str, list[tuple]] = {}
    for row in scheds.fetchall():
        stored.setdefault(row[0], []).append(row[1:])

    plans: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    for k, r in enumerate(requests):
        loan = loans.get(r.loan_id)
        if loan is None:
            continue
        amount, channel = r.amount, r.channel
        try:
            e = svc.plan_event(loan, extra[r.loan_id], ids_of.get(r.loan_id, ""), evs.get(r.loan_id),
                               stored.get(r.loan_id, []),
                               lambda i, d, s, amount=amount, channel=channel: eng.Repayment(
                                   i, d, amount, seq=s, channel=channel),
                               value_date=r.value_date, currency=r.currency,
                               check=lambda ln, amount=amount: lines.check_amount(amount, ln["currency"], "/amount"))
            diff = posting.differences(e["state"].totals._asdict(), e["posted"])
            plan = svc._finish_plan(e["loan"], e["state"], diff, txn_id=e["txn_id"], type_="repayment",
                                    value_date=e["value_date"], details={}, today=e["today"],
                                    memo=f"Loan {loan['receipt_no']} repayment")
        except Problem as exc:
            out[k] = exc
            continue
        if plan["freed"] < 0:   # a repayment never takes principal back; if it did, the single path knows how
            out[k] = Retry(r.loan_id)
            continue
        plans.append((k, e, plan))
    if not plans:
        return out

    freed: dict[str, Decimal] = {}
    post: dict[str, list] = {k: [] for k in ("ids", "memos", "src", "meta", "lk", "lk_ids", "accounts", "currencies",
                                             "amounts")}
    today = plans[0][1]["today"]
    readers = []
    with conn.pipeline():   # one round trip: every loan's writes, the lines, then all the entries
        for k, e, plan in plans:
            r = requests[k]
            readers.append((k, svc._finish_send(conn, plan, e["stored"], seq=e["seq"], amount=r.amount,
                                                channel=r.channel, reverses=None, extras=e["extras"], post=False,
                                                release=False)))
            if plan["freed"] > 0:
                line_id = e["loan"]["line_id"]
                freed[line_id] = freed.get(line_id, Decimal(0)) + plan["freed"]
            if plan["jl"]:
                assert plan["today"] == today
                entry_id = plan["entry_ids"][0]
                post["ids"].append(entry_id)
                post["memos"].append(plan["memo"])
                post["src"].append(plan["txn_id"])
                post["meta"].append({"loan_id": e["loan"]["id"], "value_date": plan["value_date"].isoformat()})
                n = len(post["ids"])
                post["lk_ids"].append(entry_id)
                post["lk"].extend([n] * len(plan["accounts"]))
                post["accounts"].extend(plan["accounts"])
                post["currencies"].extend(plan["currencies"])
                post["amounts"].extend(plan["amounts"])
        released = [(line_id, lines.send_release(conn, line_id, freed[line_id])) for line_id in sorted(freed)]
        if post["ids"]:
            conn.execute(_POST_MANY, [today, ledger._array(post["ids"]), _quoted_array(post["memos"]),
                                      ledger._array(post["src"]), Jsonb(post["meta"]), svc._int_array(post["lk"]),
                                      ledger._array(post["lk_ids"]), ledger._array(post["accounts"]),
                                      ledger._array(post["currencies"]), ledger._numeric_array(post["amounts"])],
                         prepare=True)
    for line_id, cur in released:
        if cur.fetchone() is None:
            raise errors.not_found("credit line", line_id)
    for k, read in readers:
        out[k] = read()
    return out


def _quoted_array(items: list[str]) -> str:
    """A text[] literal of arbitrary strings (memos): each element quoted, with \\ and " escaped."""
    return "{" + ",".join('"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"' for s in items) + "}"


# --- the executor -----------------------------------------------------------------------------------

@dataclass(eq=False)
class _Item:
    kind: str
    request: Any
    done: threading.Event = field(default_factory=threading.Event)
    outcome: Outcome | None = None


class GroupCommit:
    """Batches of single movements (see the module docstring): ``drawdown`` and ``repay`` answer what
    :func:`.service.drawdown` and :func:`.service.repay` answer (or raise the same problems), each
    booked in a batch transaction with whatever else was waiting.  Up to ``leaders`` batches run at
    once, each on a connection of its own (opened from ``conninfo`` when first needed)."""

    def __init__(self, conninfo: str, *, max_batch: int = 64, leaders: int = 2,
                 disburser: Disburser | None = None):
        if max_batch < 1 or leaders < 1:
            raise ValueError("max_batch and leaders are at least 1")
        self.conninfo = conninfo
        self.max_batch = max_batch
        self.max_leaders = leaders
        self.disburser = disburser
        self._mu = threading.Lock()
        self._pending: deque[_Item] = deque()
        self._leaders = 0
        self._conns: list[psycopg.Connection] = []
        self._all: list[psycopg.Connection] = []
        self.batches = 0
        self.movements = 0
        self.fallbacks = 0

    def drawdown(self, line_id: str, *, amount: Decimal, term: int, annual_rate: Decimal | None = None,
                 disbursement_date: dt.date | None = None, first_due_date: dt.date | None = None,
                 currency: str | None = None) -> dict[str, Any]:
        return self._submit("drawdown", DrawdownRequest(line_id, amount, term, annual_rate, disbursement_date,
                                                        first_due_date, currency))

    def repay(self, loan_id: str, *, amount: Decimal, value_date: dt.date | None = None,
              channel: str | None = None, currency: str | None = None) -> dict[str, Any]:
        return self._submit("repay", RepaymentRequest(loan_id, amount, value_date, channel, currency))

    def close(self) -> None:
        with self._mu:
            conns, self._all, self._conns = self._all, [], []
        for c in conns:
            c.close()

    def __enter__(self) -> GroupCommit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the leader/follower queue --

    def _submit(self, kind: str, request: Any) -> dict[str, Any]:
        item = _Item(kind, request)
        with self._mu:
            self._pending.append(item)
            lead = self._leaders < self.max_leaders
            if lead:
                self._leaders += 1
        if lead:
            self._lead(item)
        item.done.wait()
        if isinstance(item.outcome, BaseException):
            raise item.outcome
        assert item.outcome is not None
        return item.outcome

    def _lead(self, mine: _Item) -> None:
        """Book batches until none is waiting (or until this caller's own movement is booked and
        another leader is there to go on)."""
        with self._mu:
            conn = self._conns.pop() if self._conns else None
        try:
            while True:
                with self._mu:
                    if not self._pending or (mine.done.is_set() and self._leaders > 1):
                        self._leaders -= 1
                        return
                    batch = self._take()
                try:
                    conn = self._book(conn, batch)
                except Exception as exc:   # noqa: BLE001 — no connection to be had: every caller hears why
                    for item in batch:
                        if not item.done.is_set():
                            item.outcome = exc
                            item.done.set()
        finally:
            if conn is not None and not conn.closed:
                with self._mu:
                    self._conns.append(conn)

    def _connect(self) -> psycopg.Connection:
        conn = psycopg.connect(self.conninfo, row_factory=dict_row)
        with self._mu:
            self._all.append(conn)
        return conn

    def _take(self) -> list[_Item]:
        """The next batch (under the lock): queued movements of the first one's kind, in order, at most
        one per loan for repayments (a second one waits for the next batch)."""
        kind = self._pending[0].kind
        batch: list[_Item] = []
        keep: list[_Item] = []
        loans: set[str] = set()
        while self._pending and len(batch) < self.max_batch:
            item = self._pending.popleft()
            if item.kind != kind or (kind == "repay" and item.request.loan_id in loans):
                keep.append(item)
                continue
            if kind == "repay":
                loans.add(item.request.loan_id)
            batch.append(item)
        self._pending.extendleft(reversed(keep))
        return batch

    def _book(self, conn: psycopg.Connection | None, batch: list[_Item]) -> psycopg.Connection:
        """Book ``batch`` (in one transaction; failing that, each movement alone); the connection to
        go on with."""
        if conn is None or conn.closed:
            conn = self._connect()
        reqs = [i.request for i in batch]
        outcomes: list[Outcome] | None
        try:
            with conn.transaction():
                if batch[0].kind == "drawdown":
                    outcomes = drawdown_many(conn, reqs, disburser=self.disburser)
                else:
                    outcomes = repay_many(conn, reqs)
        except Exception:   # noqa: BLE001 — nothing of the batch was written: each goes alone
            outcomes = None
            if conn.broken:
                conn.close()
                conn = self._connect()
        alone = 0
        for j, item in enumerate(batch):
            out = outcomes[j] if outcomes is not None else None
            if out is None or isinstance(out, Retry):
                alone += 1
                out = self._alone(conn, item)
            item.outcome = out
            item.done.set()
        with self._mu:
            self.batches += 1
            self.movements += len(batch)
            self.fallbacks += alone
        return conn

    def _alone(self, conn: psycopg.Connection, item: _Item) -> Outcome:
        """The single path, in a transaction of its own."""
        r = item.request
        try:
            with conn.transaction():
                if item.kind == "drawdown":
                    return _drawdown_alone(conn, r, self.disburser)
                return svc.repay(conn, r.loan_id, amount=r.amount, value_date=r.value_date, channel=r.channel,
                                 currency=r.currency)
        except Exception as exc:   # noqa: BLE001 — the caller's to raise
            return exc
