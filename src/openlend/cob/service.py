"""Close of business (COB): close business day D, set-based, in SQL over batches of loans.

``close_day(db, D)`` brings every open loan from its state *as of D* (what the loan service
keeps during business day D) to its state *as of D + 1*, exactly as
:func:`openlend.loans.engine.run` would (``docs/design/servicing.md``, *Daily rules*), and moves
the business date to D + 1:

* interest accrual: each installment's accrued interest to D + 1 by the accrual rule
  (``interest_fixed + round_half_even((interest - interest_fixed) * (D+1 - interest_from) /
  (due - interest_from))``, never below the interest paid);
* installments falling due on D + 1: their fees are charged, their status becomes ``due``; those
  due on D and still unpaid become ``overdue``;
* penalty interest for day D + 1 on the overdue principal at its start, one rounding per loan,
  charged to the oldest installment past due with anything unpaid;
* days past due, bucket, status and next due date of the loans whose ageing can change;
* the loan's posted totals, and per batch ONE journal entry per currency and kind (interest
  accrual 1110/4000, fees 1120/4100, penalty 1130/4200) with a deterministic id, so the loan
  subledger still equals the GL control accounts;
* reminders (due soon, due today, overdue on chosen days) queued in ``notifications_outbox``.

A loan "in step" (its posted state is as of D) is done by the set-based SQL.  A loan whose state
is older (a backdated drawdown, a loan a crashed run missed) is brought forward by the loan
service's own fold (:func:`openlend.loans.engine.run`), so it too ends as of D + 1; a loan
already as of D + 1 or later is left alone.

Idempotent: a date whose run is ``done`` is not run again.  Resumable: the batches (ranges of loan
ids) are planned when the run starts and stored with it; each batch commits its work together with
its ``cob_batches`` row, so a run killed mid-way and started again skips the batches already done
and ends exactly where an uninterrupted run would.  Batches run on ``workers`` connections at once
(they lock disjoint loans).
"""

from __future__ import annotations

import calendar
import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from .. import errors
from ..db import Database
from ..errors import Problem
from ..ledger import service as ledger
from ..loans import posting

DEFAULT_BATCH = 20_000
DUE_SOON_DAYS = 3
OVERDUE_REMINDER_DAYS = (1, 3, 7, 15, 30, 60, 90)
_ONE_DAY = dt.timedelta(days=1)

COB_RUNNING = errors.problem_type(
    "cob-running", "Close of business running", 409,
    "Another close of business holds the run lock; one runs at a time (wait for it, or look at openlend cob --status).")
COB_DATE_NOT_OPEN = errors.problem_type(
    "cob-date-not-open", "Business date not open", 409,
    "Close of business closes the open business date; a later date waits for the ones before it.")

_KINDS = (("interest", "interest_accrued", posting.INTEREST, posting.INTEREST_INCOME, "interest accrual"),
          ("fees", "fees_charged", posting.FEES, posting.FEE_INCOME, "fees falling due"),
          ("penalty", "penalty_charged", posting.PENALTY, posting.PENALTY_INCOME, "penalty interest"))


# --- the business date --------------------------------------------------------------------------

def open_business_date(conn: psycopg.Connection) -> dt.date | None:
    """The open business day, or None before the first close of business (then the calendar's)."""
    r = conn.execute("SELECT business_date FROM system_state").fetchone()
    return r["business_date"] if r else None


def set_business_date(conn: psycopg.Connection, d: dt.date) -> None:
    conn.execute("UPDATE system_state SET business_date = %s, updated_at = now()", [d])


def never_closed(conn: psycopg.Connection) -> bool:
    """No close of business has run and no business date is set: the book still follows the calendar."""
    return open_business_date(conn) is None and conn.execute("SELECT 1 FROM cob_runs LIMIT 1").fetchone() is None


# --- the batch SQL ------------------------------------------------------------------------------

# The loans of one batch that are in step (state as of %(d)s).  Their posted totals are locked
# against the loan service, which locks a loan's posted totals first too (loans.service.load_for_update):
# one lock order, no deadlock, and nothing changes under the batch.
_SELECT_BATCH = """
CREATE TEMP TABLE cob_b ON COMMIT DROP AS
SELECT l.id, l.currency, l.customer_id, l.receipt_no, l.status, l.next_due_date,
       (l.terms -> 'rounding' ->> 'places')::int AS places,
       (l.rules ->> 'penalty_annual_rate')::numeric AS pen_rate,
       CASE l.terms ->> 'day_count' WHEN '30/360' THEN 365 WHEN 'ACT/365' THEN 365 WHEN 'ACT/360' THEN 360
                                    WHEN 'ACT/364' THEN 364 ELSE %(year)s END AS pen_year
  FROM loan_posted_totals pt JOIN loans l ON l.id = pt.loan_id
 WHERE pt.loan_id BETWEEN %(first)s AND %(last)s AND pt.as_of = %(d)s AND l.status IN ('active', 'overdue')
   FOR UPDATE OF pt"""

# Accrual (read-only: the rows whose accrual moves from d to t), penalty for day t = d + 1, the rows
# that fall due, turn overdue or take the penalty (written), then the posted totals of every loan of
# the batch (deltas and as_of), and the batch's sums per currency.  An installment's stored
# accrued_interest is as of its last write; readers compute it as of the loan's date with
# installment_accrued(), as this statement does.
_INSTALLMENTS_AND_TOTALS = """
WITH cur AS (
    SELECT i.loan_id,
           sum(installment_accrued(i.interest, i.interest_fixed, i.paid_interest, i.from_date, i.due_date,
                                   i.interest_from, %(t)s, b.places)
               - installment_accrued(i.interest, i.interest_fixed, i.paid_interest, i.from_date, i.due_date,
                                     i.interest_from, %(d)s, b.places)) AS d_acc
      FROM cob_b b JOIN loan_installments i ON i.loan_id = b.id
     WHERE i.loan_id BETWEEN %(first)s AND %(last)s AND i.from_date < %(t)s AND i.due_date >= %(t)s
     GROUP BY i.loan_id),
ov AS (
    SELECT i.loan_id, sum(i.principal - i.paid_principal) AS overdue,
           min(i.number) FILTER (WHERE i.principal <> i.paid_principal OR i.interest <> i.paid_interest
                                    OR i.fees <> i.paid_fees OR i.penalty <> i.paid_penalty) AS target
      FROM cob_b b JOIN loan_installments i ON i.loan_id = b.id
     WHERE i.loan_id BETWEEN %(first)s AND %(last)s AND i.due_date < %(t)s
       AND (b.status = 'overdue' OR b.next_due_date <= %(d)s)
     GROUP BY i.loan_id),
pen AS (
    SELECT ov.loan_id, ov.target,
           round_half_even_div(ov.overdue * b.pen_rate, 100 * b.pen_year, b.places) AS amount
      FROM ov JOIN cob_b b ON b.id = ov.loan_id
     WHERE ov.overdue > 0 AND ov.target IS NOT NULL AND b.pen_rate > 0),
w AS (
    SELECT i.loan_id, i.number
      FROM cob_b b JOIN loan_installments i ON i.loan_id = b.id
     WHERE i.loan_id BETWEEN %(first)s AND %(last)s AND b.next_due_date <= %(t)s
       AND i.due_date IN (%(d)s, %(t)s) AND i.status <> 'paid'
    UNION
    SELECT loan_id, target FROM pen WHERE amount > 0),
upd AS (
    UPDATE loan_installments i
       SET accrued_interest = installment_accrued(i.interest, i.interest_fixed, i.paid_interest, i.from_date,
                                                  i.due_date, i.interest_from, %(t)s, b.places),
           fees_charged = CASE WHEN i.due_date <= %(t)s THEN greatest(i.fees, i.paid_fees) ELSE i.fees_charged END,
           penalty = i.penalty + coalesce(pen.amount, 0),
           status = CASE WHEN i.principal = i.paid_principal AND i.interest = i.paid_interest
                              AND i.fees = i.paid_fees AND i.penalty + coalesce(pen.amount, 0) = i.paid_penalty
                         THEN 'paid'
                         WHEN i.due_date < %(t)s THEN 'overdue'
                         WHEN i.due_date = %(t)s THEN 'due' ELSE 'pending' END
      FROM w JOIN cob_b b ON b.id = w.loan_id
      LEFT JOIN pen ON pen.loan_id = w.loan_id AND pen.target = w.number
     WHERE i.loan_id = w.loan_id AND i.number = w.number
 RETURNING i.loan_id, new.fees_charged - old.fees_charged AS d_fees, new.penalty - old.penalty AS d_pen),
x AS (
    SELECT loan_id, sum(d_fees) AS d_fees, sum(d_pen) AS d_pen FROM upd GROUP BY loan_id),
tot AS (
    UPDATE loan_posted_totals pt
       SET interest_accrued = pt.interest_accrued + coalesce(c.d_acc, 0),
           fees_charged = pt.fees_charged + coalesce(x.d_fees, 0),
           penalty_charged = pt.penalty_charged + coalesce(x.d_pen, 0),
           as_of = %(t)s, updated_at = now()
      FROM cob_b b LEFT JOIN cur c ON c.loan_id = b.id LEFT JOIN x ON x.loan_id = b.id
     WHERE pt.loan_id = b.id
 RETURNING b.currency, coalesce(c.d_acc, 0) AS d_acc, coalesce(x.d_fees, 0) AS d_fees, coalesce(x.d_pen, 0) AS d_pen)
SELECT currency, count(*) AS loans, sum(d_acc) AS interest, sum(d_fees) AS fees, sum(d_pen) AS penalty
  FROM tot GROUP BY currency ORDER BY currency"""

# Ageing of the loans whose days past due, status or next due date can change on t: the overdue
# ones and those with an installment that was due on d.
_AGEING = """
WITH st AS (
    SELECT b.id,
           min(i.due_date) FILTER (WHERE i.status <> 'paid') AS oldest_unpaid,
           min(i.due_date) FILTER (WHERE i.status <> 'paid' AND i.due_date >= %(t)s) AS next_due,
           sum(i.principal + i.interest + i.fees + i.penalty - i.paid_principal - i.paid_interest - i.paid_fees
               - i.paid_penalty) FILTER (WHERE i.due_date < %(t)s) AS amount_overdue
      FROM cob_b b JOIN loan_installments i ON i.loan_id = b.id
     WHERE i.loan_id BETWEEN %(first)s AND %(last)s AND (b.status = 'overdue' OR b.next_due_date <= %(d)s)
     GROUP BY b.id),
x AS (
    SELECT id, next_due, amount_overdue,
           CASE WHEN oldest_unpaid < %(t)s THEN %(t)s - oldest_unpaid ELSE 0 END AS dpd
      FROM st),
a AS (
    UPDATE loans l
       SET days_past_due = x.dpd,
           bucket = CASE WHEN x.dpd = 0 THEN 'M0' WHEN x.dpd <= 30 THEN 'M1' WHEN x.dpd <= 60 THEN 'M2'
                         WHEN x.dpd <= 90 THEN 'M3' ELSE 'M4+' END,
           status = CASE WHEN x.dpd > 0 THEN 'overdue' ELSE 'active' END,
           next_due_date = x.next_due, updated_at = now()
      FROM x
     WHERE l.id = x.id
 RETURNING l.id, l.customer_id, l.receipt_no, l.currency, l.days_past_due, l.bucket, x.amount_overdue)
-- overdue reminders on the chosen days past due
INSERT INTO notifications_outbox (id, kind, customer_id, loan_id, business_date, payload)
SELECT 'ntf_' || md5('overdue:' || a.id || ':' || %(t)s::text), 'overdue', a.customer_id, a.id, %(t)s,
       jsonb_build_object('receipt_no', a.receipt_no, 'days_past_due', a.days_past_due, 'bucket', a.bucket,
                          'currency', a.currency, 'amount_overdue', a.amount_overdue::text)
  FROM a WHERE a.days_past_due = ANY(%(reminder_days)s)
ON CONFLICT (kind, loan_id, business_date) DO NOTHING"""

# Reminders before the due date: due in DUE_SOON_DAYS, due today.  Deterministic ids: a re-run
# queues nothing twice.
_REMINDERS = """
INSERT INTO notifications_outbox (id, kind, customer_id, loan_id, business_date, payload)
SELECT 'ntf_' || md5(r.kind || ':' || r.loan_id || ':' || %(t)s::text), r.kind, r.customer_id, r.loan_id, %(t)s,
       r.payload
  FROM (
    SELECT CASE WHEN i.due_date = %(t)s THEN 'due_today' ELSE 'due_soon' END AS kind, b.id AS loan_id,
           b.customer_id,
           jsonb_build_object('receipt_no', b.receipt_no, 'installment', i.number, 'due_date', i.due_date,
                              'currency', b.currency,
                              'amount_due', (i.principal + i.interest + i.fees + i.penalty
                                             - i.paid_principal - i.paid_interest - i.paid_fees - i.paid_penalty)::text)
           AS payload
      FROM cob_b b JOIN loan_installments i ON i.loan_id = b.id
     WHERE i.loan_id BETWEEN %(first)s AND %(last)s AND i.due_date IN (%(t)s, %(soon)s) AND i.status <> 'paid') r
ON CONFLICT (kind, loan_id, business_date) DO NOTHING"""

_LAGGING = """
SELECT l.id FROM loans l JOIN loan_posted_totals pt ON pt.loan_id = l.id
 WHERE l.id BETWEEN %(first)s AND %(last)s AND l.status IN ('active', 'overdue') AND pt.as_of < %(d)s
 ORDER BY l.id"""


# --- runs ---------------------------------------------------------------------------------------

@dataclass
class BatchResult:
    batch_no: int
    loans: int
    replayed: int
    sums: dict[str, dict[str, Decimal]]        # currency -> interest/fees/penalty
    entry_ids: list[str]
    seconds: float


@dataclass
class DayResult:
    business_date: dt.date
    status: str                                # closed | already_closed
    loans: int = 0
    replayed: int = 0
    batches: int = 0
    batches_skipped: int = 0
    seconds: float = 0.0
    sums: dict[str, dict[str, Decimal]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"business_date": self.business_date.isoformat(), "status": self.status, "loans": self.loans,
                "replayed": self.replayed, "batches": self.batches, "batches_skipped": self.batches_skipped,
                "seconds": round(self.seconds, 3),
                "posted": {c: {k: format(v, "f") for k, v in s.items()} for c, s in sorted(self.sums.items())}}


def _year_days(d: dt.date) -> int:
    return 366 if calendar.isleap(d.year) else 365


def _plan(conn: psycopg.Connection, batch_size: int) -> list[tuple[str, str]]:
    """Ranges of loan ids over the open loans, ``batch_size`` loans each."""
    rows = conn.execute(
        "SELECT min(id) AS first, max(id) AS last FROM (SELECT id, (row_number() OVER (ORDER BY id) - 1) / %s AS b "
        "FROM loans WHERE status IN ('active', 'overdue')) s GROUP BY b ORDER BY b", [batch_size]).fetchall()
    return [(r["first"], r["last"]) for r in rows]


def _start_run(db: Database, d: dt.date, batch_size: int) -> tuple[str, list[tuple[str, str]], set[int]]:
    """Create (or find) the run of ``d``: its status, its batch plan and the batches already done."""
    with db.transaction() as conn:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('openlend.cob'))")
        run = conn.execute("SELECT status, summary FROM cob_runs WHERE business_date = %s FOR UPDATE", [d]).fetchone()
        if run is not None and run["status"] == "done":
            return "done", [], set()
        open_d = open_business_date(conn)
        if run is None:
            if open_d is not None and d != open_d:
                raise Problem(COB_DATE_NOT_OPEN,
                              f"The open business date is {open_d.isoformat()}; {d.isoformat()} cannot be closed now.")
            plan = _plan(conn, batch_size)
            conn.execute("INSERT INTO cob_runs (business_date, status, batch_size, summary) VALUES (%s, 'running', %s, %s)",
                         [d, batch_size, Jsonb({"plan": plan})])
            if open_d is None:
                set_business_date(conn, d)
            return "running", plan, set()
        plan = [tuple(p) for p in run["summary"]["plan"]]
        done = {r["batch_no"] for r in conn.execute("SELECT batch_no FROM cob_batches WHERE business_date = %s", [d])}
        return "running", plan, done


def _replay_loan(conn: psycopg.Connection, loan_id: str, d: dt.date, t: dt.date) -> dict[str, Decimal]:
    """Bring a lagging loan to ``t`` by the loan service's fold; the posted differences."""
    from ..loans import service as loans
    loan = loans.load_for_update(conn, loan_id)
    state = loans._run(loans.loan_terms(loan), loans._events(conn, loan_id), t)
    key = f"cob_{d:%Y%m%d}_{loan_id}"
    loans._store_state(conn, loan, state, key)
    _ids, diff = loans._post(conn, loan, state, key, d, f"Loan {loan['receipt_no']} close of business {d}", t)
    conn.execute("UPDATE loan_posted_totals SET as_of = %s WHERE loan_id = %s", [t, loan_id])
    return diff


def _run_batch(conn: psycopg.Connection, d: dt.date, batch_no: int, first: str, last: str) -> BatchResult:
    started = time.perf_counter()
    t = d + _ONE_DAY
    p = {"d": d, "t": t, "first": first, "last": last, "year": _year_days(t), "soon": t + dt.timedelta(DUE_SOON_DAYS),
         "reminder_days": list(OVERDUE_REMINDER_DAYS)}
    sums: dict[str, dict[str, Decimal]] = {}
    replayed = 0
    for r in conn.execute(_LAGGING, p).fetchall():
        _replay_loan(conn, r["id"], d, t)
        replayed += 1
    conn.execute(_SELECT_BATCH, p)
    conn.execute("ANALYZE cob_b")
    loans_n = 0
    for r in conn.execute(_INSTALLMENTS_AND_TOTALS, p).fetchall():
        loans_n += r["loans"]
        sums[r["currency"]] = {"interest": r["interest"], "fees": r["fees"], "penalty": r["penalty"]}
    conn.execute(_AGEING, p)
    conn.execute(_REMINDERS, p)
    entry_ids = []
    for cur, s in sorted(sums.items()):
        for kind, _fig, debit, credit, what in _KINDS:
            amount = s[kind]
            if amount == 0:
                continue
            eid = f"je_cob_{d:%Y%m%d}_{batch_no:05d}_{kind}_{cur}"
            ledger.post_entry(conn, entry_id=eid, effective_date=d,
                              lines=[(debit, cur, amount), (credit, cur, -amount)],
                              memo=f"Close of business {d.isoformat()}: {what}, batch {batch_no}",
                              source=("cob_batch", f"{d.isoformat()}/{batch_no}"),
                              metadata={"business_date": d.isoformat(), "batch": batch_no, "kind": kind})
            entry_ids.append(eid)
    seconds = time.perf_counter() - started
    tot = {k: sum((s[k] for s in sums.values()), Decimal(0)) for k in ("interest", "fees", "penalty")}
    conn.execute("INSERT INTO cob_batches (business_date, batch_no, first_loan_id, last_loan_id, loans, replayed, "
                 "interest, fees, penalty, entry_ids, seconds) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                 [d, batch_no, first, last, loans_n, replayed, tot["interest"], tot["fees"], tot["penalty"],
                  entry_ids, round(seconds, 3)])
    return BatchResult(batch_no, loans_n, replayed, sums, entry_ids, seconds)


Progress = Callable[[str], None]


def close_day(db: Database, d: dt.date, *, batch_size: int = DEFAULT_BATCH, workers: int = 2,
              progress: Progress | None = None, stop_after: int | None = None) -> DayResult:
    """Close business day ``d`` (see the module docstring).  ``stop_after``: run that many batches
    and return without finishing (tests of resumption).  One close of business at a time: a session
    advisory lock is held for the whole run (409 ``cob-running`` otherwise)."""
    with db.pool.connection() as guard:
        guard.autocommit = True
        if not guard.execute("SELECT pg_try_advisory_lock(hashtext('openlend.cob.run')) AS ok").fetchone()["ok"]:
            raise Problem(COB_RUNNING, "Another close of business is running; one runs at a time.")
        try:
            return _close_day(db, d, batch_size=batch_size, workers=workers, progress=progress,
                              stop_after=stop_after)
        finally:
            guard.execute("SELECT pg_advisory_unlock(hashtext('openlend.cob.run'))")
            guard.autocommit = False


def _close_day(db: Database, d: dt.date, *, batch_size: int, workers: int, progress: Progress | None,
               stop_after: int | None) -> DayResult:
    started = time.perf_counter()
    status, plan, done = _start_run(db, d, batch_size)
    if status == "done":
        if progress:
            progress(f"cob {d.isoformat()}: already closed")
        return DayResult(d, "already_closed")
    todo = [(n, first, last) for n, (first, last) in enumerate(plan) if n not in done]
    if stop_after is not None:
        todo = todo[:stop_after]
    result = DayResult(d, "closed", batches=len(plan), batches_skipped=len(done))
    lock = threading.Lock()
    queue = list(todo)
    failures: list[BaseException] = []

    def worker() -> None:
        while True:
            with lock:
                if not queue or failures:
                    return
                n, first, last = queue.pop(0)
            try:
                with db.transaction() as conn:
                    b = _run_batch(conn, d, n, first, last)
            except BaseException as exc:   # noqa: BLE001 - reported after the other workers stop
                with lock:
                    failures.append(exc)
                return
            with lock:
                result.loans += b.loans
                result.replayed += b.replayed
                for cur, s in b.sums.items():
                    acc = result.sums.setdefault(cur, {"interest": Decimal(0), "fees": Decimal(0),
                                                       "penalty": Decimal(0)})
                    for k, v in s.items():
                        acc[k] += v
                finished = len(todo) - len(queue)
                if progress:
                    progress(f"cob {d.isoformat()}: batch {n + 1}/{len(plan)} ({finished}/{len(todo)} this run): "
                             f"{b.loans} loans, {b.replayed} replayed, {b.seconds:.2f} s")

    threads = [threading.Thread(target=worker, name=f"cob-{i}") for i in range(max(1, min(workers, len(todo))))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if failures:
        raise failures[0]
    if stop_after is not None and len(todo) + len(done) < len(plan):
        result.status = "interrupted"
        result.seconds = time.perf_counter() - started
        return result
    with db.transaction() as conn:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('openlend.cob'))")
        agg = conn.execute("SELECT coalesce(sum(loans), 0) AS loans, coalesce(sum(replayed), 0) AS replayed, "
                           "count(*) AS batches FROM cob_batches WHERE business_date = %s", [d]).fetchone()
        if agg["batches"] != len(plan):
            raise RuntimeError(f"close of business {d}: {agg['batches']} of {len(plan)} batches done")
        conn.execute("UPDATE cob_runs SET status = 'done', finished_at = now(), loans = %s, batches = %s, "
                     "summary = summary || %s WHERE business_date = %s",
                     [agg["loans"], agg["batches"], Jsonb({"replayed": int(agg["replayed"])}), d])
        set_business_date(conn, d + _ONE_DAY)
    result.seconds = time.perf_counter() - started
    if progress:
        progress(f"cob {d.isoformat()}: closed {result.loans} loans in {result.seconds:.2f} s; "
                 f"business date now {(d + _ONE_DAY).isoformat()}")
    return result


def close_range(db: Database, first: dt.date, last: dt.date, **kw: Any) -> list[DayResult]:
    """Close every business day from ``first`` to ``last`` in order (catching up)."""
    out = []
    d = first
    while d <= last:
        out.append(close_day(db, d, **kw))
        d += _ONE_DAY
    return out


def catch_up(db: Database, until: dt.date, **kw: Any) -> list[DayResult]:
    """Close every open business day up to and including ``until`` (the scheduled job closes up to
    yesterday).  Before any close of business, starts at ``until``."""
    with db.transaction() as conn:
        open_d = open_business_date(conn)
        running = conn.execute("SELECT min(business_date) AS d FROM cob_runs WHERE status = 'running'").fetchone()["d"]
    start = running or open_d or until
    if start > until:
        return []
    return close_range(db, start, until, **kw)


def seconds_until(at: str, now: dt.datetime) -> float:
    """Seconds from ``now`` to the next ``at`` ("HH:MM"); ValueError on a bad time."""
    hh, mm = (int(x) for x in at.split(":"))
    nxt = now.replace(hour=hh, minute=mm, second=0, microsecond=0)
    if nxt <= now:
        nxt += dt.timedelta(days=1)
    return (nxt - now).total_seconds()


def scheduler(db: Database, at: str, *, progress: Progress | None = None) -> threading.Thread:
    """A daemon thread that closes every open business date up to yesterday at ``at`` ("HH:MM", local
    time) each day (the scheduled job of ``openlend serve``); a failure is reported and retried the
    next day (the run resumes where it stopped)."""
    seconds_until(at, dt.datetime.now())   # a bad "HH:MM" fails here, at start-up
    stop = threading.Event()

    def loop() -> None:
        import logging
        log = logging.getLogger("openlend.cob")
        while not stop.is_set():
            if stop.wait(seconds_until(at, dt.datetime.now())):
                return
            try:
                for r in catch_up(db, dt.date.today() - _ONE_DAY, progress=progress):
                    log.info("close of business", extra={"cob": r.as_json()})
            except Exception:   # noqa: BLE001 - the next day's run resumes it
                log.exception("close of business failed; it resumes at the next run")

    th = threading.Thread(target=loop, name="cob-scheduler", daemon=True)
    th.stop = stop  # type: ignore[attr-defined]
    th.start()
    return th


def runs(conn: psycopg.Connection, limit: int = 30) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT business_date, status, batch_size, loans, batches, started_at, finished_at, "
                        "summary - 'plan' AS summary FROM cob_runs ORDER BY business_date DESC LIMIT %s",
                        [limit]).fetchall()
    return rows
