"""Money movements per second on the loan servicing path (issue 4): drawdowns and repayments through
the service layer and through the HTTP API, against pgbench on the same PostgreSQL in the same run.

    python bench/bench_servicing.py [--seconds 20] [--quick] [--rounds 2] [--http-workers 1]
    python bench/bench_servicing.py --profile drawdown|repay [--ops 500]

In one run, on one server (the embedded one in a temporary directory unless DATABASE_URL is set):

  * anchors (as bench/bench_ledger.py and /work/shared/PERFORMANCE.md measure them): pgbench TPC-B
    (``-i -s 10``, ``-c 8 -j 2 -M prepared``) and the raw-SQL ledger transfer through pgbench;
  * service layer: ``openlend.loans.service.drawdown`` and ``repay``, one transaction each, 8 and
    16 client threads, each thread with its own connection; a thread draws on its own credit line
    (one line per customer: the line's row lock is the limit invariant and is meant to serialise
    drawdowns on ONE line) and repays loans of its own line, round robin, small amounts (the loans
    stay open);
  * HTTP: the same through a real uvicorn server process running ``openlend.app:create_app`` (as
    ``openlend serve`` does), ``POST /v1/credit-lines/{id}/drawdowns`` and
    ``POST /v1/loans/{id}/repayments`` with an ``Idempotency-Key`` each, 8 and 16 concurrent clients
    (keep-alive ``http.client`` connections, one per client thread);
  * hot account: 16 drawdown writers whose entries all hit the production chart's accounts (1100
    principal, 1300 disbursement clearing, 4100 fee income: every drawdown debits and credits the
    same accounts) against the uncontended case, where each writer's entry goes to accounts of its
    own (same lines, same statements, a :class:`ClearingDisburser` with per-writer account codes);
    and, for reference, all 16 on three single-shard accounts.

``--profile OP`` instead runs OP single-threaded (one connection, one transaction each) after a
warm-up and prints what one operation costs: wall time, the bench process's CPU, the server backend's
CPU (read from /proc: the embedded server only), then the same loop under cProfile (top entries).

Every figure is printed with its ratio to the TPC-B and raw-SQL figures of the same round; medians
over rounds.  The books are checked at the end (trial balance balanced, balances = lines, loan
subledger = GL).  The box is noisy: compare ratios taken in one run, not absolute figures across runs.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import random
import secrets
import statistics
import sys
import threading
import time
import uuid
import warnings
from decimal import Decimal
from pathlib import Path

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parent))

# The server and this process need a data key (customers' ID numbers are encrypted); the bench's own
# database is throwaway, so a random one is fine.  An admin token for the HTTP server likewise.
os.environ.setdefault("OPENLEND_DATA_KEY", base64.b64encode(secrets.token_bytes(32)).decode())
BENCH_TOKEN = "bench_" + secrets.token_urlsafe(18)

import psycopg  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402

import bench_ledger as bl  # noqa: E402
from openlend import migrate  # noqa: E402
from openlend.customers import service as customers  # noqa: E402
from openlend.ledger import service as ledger  # noqa: E402
from openlend.lines import service as lines  # noqa: E402
from openlend.loans import batch  # noqa: E402
from openlend.loans import disbursement  # noqa: E402
from openlend.loans import service as loans  # noqa: E402
from openlend.products import service as products  # noqa: E402

D = Decimal
PRODUCT = {
    "code": "BENCH-12M", "name": "Bench product", "currency": "CNY", "method": "equal_installment",
    "rate": {"min": "12", "max": "18", "default": "18"}, "term": {"allowed": [6, 12]},
    "amount": {"min": "1000.00", "max": "1000000.00"},
    "fees": [{"name": "arrangement", "kind": "upfront", "calculation": "fixed", "value": "5.00"},
             {"name": "service", "kind": "each_installment", "calculation": "percent", "value": "0.1"}],
}
MAX_WRITERS = 16


def id_number(seq: int) -> str:
    body = f"110105{1950 + seq // 1000 % 50}0101{seq % 1000:03d}"
    return body + customers.id_check_char(body)


def setup_servicing(server_url: str) -> tuple[str, list[str], dict[str, list[list[str]]]]:
    """A migrated database, one product, 16 customers with one line each (limit 10^12), and the
    ledger accounts of the hot-account variants; a few loans per line to repay from the start."""
    url = bl.fresh_database(server_url, "bench_servicing")
    migrate.upgrade(url)
    with psycopg.connect(url, row_factory=dict_row) as conn:
        prod = products.create_product(conn, PRODUCT)
        line_ids = []
        for i in range(MAX_WRITERS):
            cus = customers.create_customer(conn, {"name": f"Bench {i}", "mobile": f"1381234{i:04d}",
                                                   "id_number": id_number(i + 1)})
            line = lines.create_line(conn, customer_id=cus["id"], product_id=prod["id"], limit=D("1000000000000.00"))
            line_ids.append(line["id"])
        accounts: dict[str, list[list[str]]] = {"own": [], "hot1": []}
        for kind, types in (("P", "asset"), ("C", "asset"), ("F", "income")):
            ledger.create_account(conn, code=f"BHOT1.{kind}", name=f"bench hot {kind}, 1 shard", type=types)
        accounts["hot1"] = [["BHOT1.P", "BHOT1.C", "BHOT1.F"]] * MAX_WRITERS
        for i in range(MAX_WRITERS):
            codes = []
            for kind, types in (("P", "asset"), ("C", "asset"), ("F", "income")):
                code = f"BW{i:02d}.{kind}"
                ledger.create_account(conn, code=code, name=f"bench writer {i} {kind}", type=types)
                codes.append(code)
            accounts["own"].append(codes)
        conn.commit()
        for line_id in line_ids:
            for _ in range(20):
                loans.drawdown(conn, line_id, amount=D("5000.00"), term=12)
            conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return url, line_ids, accounts


def _disburser(accounts: list[str] | None):
    if accounts is None:
        return None
    return disbursement.ClearingDisburser(principal_account=accounts[0], clearing_account=accounts[1],
                                          fee_account=accounts[2])


def _open_loans(url: str, line_ids: list[str]) -> list[list[str]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows = conn.execute("SELECT line_id, id FROM loans WHERE status = 'active' AND line_id = ANY(%s) "
                            "ORDER BY id", [line_ids]).fetchall()
    by_line: dict[str, list[str]] = {lid: [] for lid in line_ids}
    for r in rows:
        by_line[r["line_id"]].append(r["id"])
    return [by_line[lid] for lid in line_ids]


def run_threads(writers: int, seconds: float, warmup: float, make_worker) -> dict:
    """``writers`` threads calling ``op = make_worker(i)`` (which returns a callable doing one operation)
    for ``warmup + seconds``; rate and latencies over the timed window."""
    stop = threading.Event()
    done: list[list[tuple[float, float]]] = [[] for _ in range(writers)]
    failures: list[BaseException] = []
    ready = threading.Barrier(writers + 1)

    def worker(i: int) -> None:
        try:
            op, close = make_worker(i)
        except BaseException as exc:  # noqa: BLE001
            failures.append(exc)
            ready.abort()
            return
        out = done[i]
        try:
            ready.wait()
            while not stop.is_set():
                t0 = time.perf_counter()
                op()
                t1 = time.perf_counter()
                out.append((t1, t1 - t0))
        except BaseException as exc:  # noqa: BLE001
            failures.append(exc)
        finally:
            close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(writers)]
    for t in threads:
        t.start()
    try:
        ready.wait()
    except threading.BrokenBarrierError:
        pass
    t_begin = time.perf_counter()
    time.sleep(warmup + seconds)
    stop.set()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    start, end = t_begin + warmup, t_begin + warmup + seconds
    window = [lat for per in done for (t, lat) in per if start <= t <= end]
    p50, p99 = bl.percentiles(window)
    return {"rate": len(window) / seconds, "p50": p50, "p99": p99, "n": len(window)}


def service_workload(url: str, line_ids: list[str], *, op: str, writers: int, seconds: float, warmup: float,
                     accounts: list[list[str]] | None = None, tag: str = "") -> dict:
    targets = _open_loans(url, line_ids) if op == "repay" else None

    def make_worker(i: int):
        conn = psycopg.connect(url, row_factory=dict_row)
        rnd = random.Random(f"{tag}{i}")
        line_id = line_ids[i]
        disb = _disburser(accounts[i] if accounts else None)
        mine = targets[i] if targets else []
        k = [rnd.randrange(len(mine))] if mine else [0]

        def drawdown() -> None:
            with conn.transaction():
                loans.drawdown(conn, line_id, amount=D(rnd.randint(1000, 50000)), term=12, disburser=disb)

        def repay() -> None:
            loan_id = mine[k[0] % len(mine)]
            k[0] += 1
            with conn.transaction():
                loans.repay(conn, loan_id, amount=D(rnd.randint(100, 2000)).scaleb(-2))

        return (drawdown if op == "drawdown" else repay), conn.close

    return run_threads(writers, seconds, warmup, make_worker)


def group_commit_workload(url: str, line_ids: list[str], *, op: str, writers: int, seconds: float, warmup: float,
                          leaders: int = 2, max_batch: int = 64, tag: str = "") -> dict:
    """As :func:`service_workload`, each thread one movement at a time, but through one
    :class:`openlend.loans.batch.GroupCommit` shared by the threads (batches of whatever has queued up)."""
    targets = _open_loans(url, line_ids) if op == "repay" else None
    gc = batch.GroupCommit(url, max_batch=max_batch, leaders=leaders)

    def make_worker(i: int):
        rnd = random.Random(f"gc{tag}{i}")
        line_id = line_ids[i]
        mine = targets[i] if targets else []
        k = [rnd.randrange(len(mine))] if mine else [0]

        def drawdown() -> None:
            gc.drawdown(line_id, amount=D(rnd.randint(1000, 50000)), term=12)

        def repay() -> None:
            loan_id = mine[k[0] % len(mine)]
            k[0] += 1
            gc.repay(loan_id, amount=D(rnd.randint(100, 2000)).scaleb(-2))

        return (drawdown if op == "drawdown" else repay), (lambda: None)

    try:
        r = run_threads(writers, seconds, warmup, make_worker)
    finally:
        gc.close()
    r["batch"] = gc.movements / max(gc.batches, 1)
    r["fallbacks"] = gc.fallbacks
    return r


# --- HTTP -----------------------------------------------------------------------------------------

def api_server(url: str, workers: int, workdir: str) -> bl.ApiServer:
    env = dict(os.environ, DATABASE_URL=url, OPENLEND_ADMIN_TOKEN=BENCH_TOKEN, OPENLEND_LOG_LEVEL="WARNING")
    return bl.ApiServer(env, os.path.join(workdir, "server.log"), workers=workers)


def http_workload(server: bl.ApiServer, url: str, line_ids: list[str], *, op: str, writers: int, seconds: float,
                  warmup: float, tag: str = "") -> dict:
    targets = _open_loans(url, line_ids) if op == "repay" else None

    def make_worker(i: int):
        c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        rnd = random.Random(f"http{tag}{i}")
        mine = targets[i] if targets else []
        k = [rnd.randrange(len(mine))] if mine else [0]
        headers = {"Authorization": f"Bearer {BENCH_TOKEN}", "Content-Type": "application/json"}

        def call() -> None:
            if op == "drawdown":
                path = f"/v1/credit-lines/{line_ids[i]}/drawdowns"
                body = {"amount": f"{rnd.randint(1000, 50000)}.00", "term": 12}
            else:
                path = f"/v1/loans/{mine[k[0] % len(mine)]}/repayments"
                k[0] += 1
                body = {"amount": format(D(rnd.randint(100, 2000)).scaleb(-2), "f")}
            c.request("POST", path, body=json.dumps(body),
                      headers={**headers, "Idempotency-Key": uuid.uuid4().hex})
            r = c.getresponse()
            data = r.read()
            if r.status != 201:
                raise RuntimeError(f"{path}: HTTP {r.status}: {data[:500]!r}")

        return call, c.close

    return run_threads(writers, seconds, warmup, make_worker)


# --- checks and the table -------------------------------------------------------------------------

def profile(url: str, line_ids: list[str], op: str, ops: int) -> None:
    """One thread, one connection: ``ops`` operations timed (wall, client CPU, backend CPU), then
    ``ops`` more under cProfile."""
    import cProfile
    import pstats

    conn = psycopg.connect(url, row_factory=dict_row)
    rnd = random.Random(1)
    mine = _open_loans(url, line_ids)[0]
    k = [0]

    def drawdown() -> None:
        with conn.transaction():
            loans.drawdown(conn, line_ids[0], amount=D(rnd.randint(1000, 50000)), term=12)

    def repay() -> None:
        loan_id = mine[k[0] % len(mine)]
        k[0] += 1
        with conn.transaction():
            loans.repay(conn, loan_id, amount=D(rnd.randint(100, 2000)).scaleb(-2))

    fn = drawdown if op == "drawdown" else repay
    for _ in range(50):
        fn()
    pid = conn.execute("SELECT pg_backend_pid() AS p").fetchone()["p"]
    conn.commit()

    def backend_cpu() -> float | None:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                f = stat.read().rsplit(")", 1)[1].split()
        except OSError:   # not a local server
            return None
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    b0, c0, t0 = backend_cpu(), time.process_time(), time.perf_counter()
    for _ in range(ops):
        fn()
    t1, c1, b1 = time.perf_counter(), time.process_time(), backend_cpu()
    backend = f"{1000 * (b1 - b0) / ops:.2f} ms" if b0 is not None and b1 is not None else "n/a"
    print(f"{op}, 1 thread: {ops / (t1 - t0):,.0f}/s; per operation: wall {1000 * (t1 - t0) / ops:.2f} ms, "
          f"client CPU {1000 * (c1 - c0) / ops:.2f} ms, server backend CPU {backend}", flush=True)
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(ops):
        fn()
    pr.disable()
    conn.close()
    st = pstats.Stats(pr)
    st.sort_stats("tottime").print_stats(25)
    st.sort_stats("cumulative").print_stats(30)


def check_books(url: str) -> tuple[bool, str]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        tb = ledger.trial_balance(conn)
        bad_balances = ledger.verify_balances(conn)
        n_loans = conn.execute("SELECT count(*) AS n FROM loans").fetchone()["n"]
        n_txn = conn.execute("SELECT count(*) AS n FROM loan_transactions").fetchone()["n"]
        sub = conn.execute("""
            SELECT sum(disbursed - principal_repaid - written_off_principal) AS p,
                   sum(interest_accrued - interest_repaid - written_off_interest) AS i
              FROM loan_posted_totals""").fetchone()
        gl = {r["account_code"]: r["b"] for r in conn.execute(
            "SELECT account_code, sum(balance) AS b FROM account_balances WHERE account_code IN ('1100', '1110') "
            "GROUP BY 1").fetchall()}
        own = conn.execute("SELECT coalesce(sum(balance), 0) AS b FROM account_balances "
                           "WHERE account_code LIKE 'BW%%.P' OR account_code = 'BHOT1.P'").fetchone()["b"]
        recon = (sub["p"] == gl.get("1100", 0) + own) and (sub["i"] or 0) == gl.get("1110", 0)
    ok = tb["balanced"] and not bad_balances and recon
    return ok, f"{n_loans:,} loans, {n_txn:,} loan transactions"


def fmt_rate(r: dict) -> str:
    extra = f", {r['batch']:.1f}/batch" if "batch" in r else ""
    return f"{r['rate']:,.0f}/s (p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms{extra})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=20, help="timed seconds per workload (default 20)")
    ap.add_argument("--quick", action="store_true", help="5 s per workload, 1 round")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 2; --quick: 1)")
    ap.add_argument("--http-workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    ap.add_argument("--profile", choices=("drawdown", "repay"), default=None,
                    help="only profile OP single-threaded (cost per operation, cProfile top entries)")
    ap.add_argument("--ops", type=int, default=500, help="operations per --profile loop (default 500)")
    ap.add_argument("--leaders", type=int, default=2, help="group commit: batches booked at once (default 2)")
    ap.add_argument("--only", default=None, help="only the workloads whose label contains this (and the anchors)")
    args = ap.parse_args(argv)
    seconds = 5 if args.quick else args.seconds
    rounds = args.rounds or (1 if args.quick else 2)
    warmup = 1.0

    server_url, where, pg, workdir = bl.start_server()
    print(f"server: {where}, {pg}; "
          f"{os.cpu_count()} CPUs; {seconds} s per workload (+{warmup:.0f} s warm-up), {rounds} round(s); "
          f"HTTP: uvicorn, {args.http_workers} worker(s)", flush=True)
    print("setting up: product, 16 customers and lines, 320 loans ...", flush=True)
    t0 = time.perf_counter()
    url, line_ids, accounts = setup_servicing(server_url)
    print(f"  done in {time.perf_counter() - t0:.1f} s", flush=True)
    if args.profile:
        profile(url, line_ids, args.profile, args.ops)
        return 0

    # (label, kind, kwargs, goal)
    svc = [
        *[(f"{where} {what}{how}, {n} {who}", kind, dict(op=op, writers=n), "main" if n == 8 and kind != "http" else "")
          for kind, where, how, who in (("svc", "service", "", "threads"), ("gc", "service", ", group commit", "threads"),
                                        ("http", "HTTP", "", "clients"))
          for op, what in (("drawdown", "drawdown"), ("repay", "repayment")) for n in (8, 16)],
        ("hot: 16 drawdown writers, one chart (1100/1300/4100)", "svc",
         dict(op="drawdown", writers=16), "hot"),
        ("uncontended: 16 drawdown writers, own accounts each", "svc",
         dict(op="drawdown", writers=16, accounts=accounts["own"]), "cold"),
        ("16 drawdown writers, three 1-shard accounts", "svc",
         dict(op="drawdown", writers=16, accounts=accounts["hot1"]), ""),
    ]
    if args.only:
        svc = [w for w in svc if args.only in w[0]]
    runs: dict[str, list[dict]] = {"tpcb": [], "raw": [], **{label: [] for label, *_ in svc}}
    for rnd in range(rounds):
        print(f"round {rnd + 1}/{rounds}", flush=True)
        tpcb_url = bl.setup_tpcb(server_url)
        runs["tpcb"].append(bl.run_pgbench(tpcb_url, [], workdir, seconds))
        bl.drop_database(server_url, "bench_tpcb")
        print(f"  pgbench TPC-B: {fmt_rate(runs['tpcb'][-1])}", flush=True)
        raw_url, raw_script = bl.setup_raw_ledger(server_url, workdir)
        runs["raw"].append(bl.run_pgbench(raw_url, ["-n", "-f", raw_script], workdir, seconds))
        bl.drop_database(server_url, "bench_raw_ledger")
        print(f"  raw-SQL ledger transfer: {fmt_rate(runs['raw'][-1])}", flush=True)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        server = None
        try:
            for i, (label, kind, kw, _) in enumerate(svc):
                if kind == "http":
                    if server is None:
                        server = api_server(url, args.http_workers, workdir)
                    r = http_workload(server, url, line_ids, seconds=seconds, warmup=warmup, tag=f"r{rnd}v{i}",
                                      **kw)
                else:
                    if server is not None:
                        server.close()
                        server = None
                    if kind == "gc":
                        r = group_commit_workload(url, line_ids, seconds=seconds, warmup=warmup, tag=f"r{rnd}v{i}",
                                                  leaders=args.leaders, **kw)
                    else:
                        r = service_workload(url, line_ids, seconds=seconds, warmup=warmup, tag=f"r{rnd}v{i}", **kw)
                runs[label].append(r)
                print(f"  {label}: {fmt_rate(r)}", flush=True)
        finally:
            if server is not None:
                server.close()
    books_ok, books = check_books(url)
    if os.environ.get("DATABASE_URL"):
        bl.drop_database(server_url, "bench_servicing")

    def med(label: str) -> dict:
        keys = ("rate", "p50", "p99") + (("batch",) if "batch" in runs[label][0] else ())
        return {k: statistics.median(r[k] for r in runs[label]) for k in keys}

    def ratio(label: str, anchor: str) -> float:
        return statistics.median(a["rate"] / b["rate"] for a, b in zip(runs[label], runs[anchor]))

    head = ("figure", "value", "/ TPC-B", "/ raw SQL", "goal")
    rows = [("pgbench TPC-B, prepared, 8 clients", fmt_rate(med("tpcb")), "1.00", f"{ratio('tpcb', 'raw'):.2f}", ""),
            ("raw-SQL ledger transfer, pgbench prepared", fmt_rate(med("raw")), f"{ratio('raw', 'tpcb'):.2f}",
             "1.00", "")]
    goals_met = []
    for label, _, _, goal in svc:
        g = ""
        if goal == "main":
            g = ">= 2,000/s and >= 0.40 raw"
            goals_met.append((label, med(label)["rate"] >= 2000 and ratio(label, "raw") >= 0.40))
        rows.append((label, fmt_rate(med(label)), f"{ratio(label, 'tpcb'):.2f}", f"{ratio(label, 'raw'):.2f}", g))
    hot = next((label for label, *_, goal in svc if goal == "hot"), None)
    cold = next((label for label, *_, goal in svc if goal == "cold"), None)
    if hot and cold:
        hot_ratio = ratio(hot, cold)
        goals_met.append(("hot account / uncontended", hot_ratio >= 0.50))
        rows.append(("hot account / uncontended (16 writers)",
                     f"{med(hot)['rate']:,.0f} vs {med(cold)['rate']:,.0f}/s", "",
                     f"{hot_ratio:.2f} (of uncontended)", ">= 0.50"))
    rows.append(("books: trial balance, balances = lines, loans = GL", str(books_ok), "", books, "True"))
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(5)]
    line = " | ".join("{:<%d}" % w for w in widths)
    print(f"\nmedians over {rounds} round(s) of {seconds} s; ratios are medians of per-round ratios\n")
    print(line.format(*head))
    print("-|-".join("-" * w for w in widths))
    for r in rows:
        print(line.format(*r))
    for label, ok in goals_met:
        print(f"goal for '{label}': {'met' if ok else 'NOT met'}")
    return 0 if books_ok else 1


if __name__ == "__main__":
    sys.exit(main())
