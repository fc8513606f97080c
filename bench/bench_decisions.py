"""Decisions per second and their latency through the API, with the stand-ins answering at once
and with realistic latencies.

    PYTHONPATH=src python bench/bench_decisions.py [--quick] [-n N] [--clients 8] [--latency-ms 300]

One run, on one embedded PostgreSQL (temporary):

1. The three stand-ins (``sim/smsc``, ``sim/funder``, and ``sim/providers`` twice: ``--latency-ms 0``
   for run A and ``--latency-ms 300`` for run B) and a real ``openlend.app:create_app`` under
   uvicorn in its own process (as ``openlend serve`` runs it, 1 worker).
2. ONE application walked through the API to ``data_collected`` with every check performed (code
   via the SMSC stand-in, a rendered ID card with a pasted portrait read by OCR, the selfie against
   it, factors, consents, declared data), then cloned in SQL into ``N`` (run A) + ``N`` (run B) +
   warm-up applications in ``data_collected`` (the row and its documents; each clone its own
   ``device_id`` and ``client_ip`` so that the velocity features do not grow with the clone count).
   What is measured is the decision step, not OCR.
3. ``POST /v1/applications/{id}/decision`` over the clones from ``--clients`` keep-alive httpx
   clients (threads of this process, on the same cores as the server): decisions/s, p50, p99, the
   outcomes.  Run A against the providers answering at once, run B (the API server restarted with
   ``OPENLEND_RISK_BASE_URL`` pointing at the slow providers) against 300 ms on every provider call:
   the three calls of a decision (court, multi-lending, bureau) fan out, so its p50 should be about
   300 ms plus run A's p50, not 900 ms.
4. From the ``decisions`` table: how much of a decision (``decisions.seconds``, from the start of
   the decision to the record being stored: the funder call and the line come after it) was spent
   waiting on the providers (the slowest of the concurrent calls, ``provider_data.*.ms``).

The box is shared and noisy: read ``uptime`` (printed at the start and the end) with the figures.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import datetime as dt
import json
import os
import queue
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from pathlib import Path

warnings.filterwarnings("ignore")

ROOT = Path(__file__).resolve().parents[1]
for p in (str(ROOT), str(ROOT / "src"), str(ROOT / "bench"), str(ROOT / "tests")):
    if p not in sys.path:
        sys.path.insert(0, p)

# The data key encrypts the applicant's ID number and images; the database is throwaway, so a
# random one is fine (set before anything reads the keyring).
os.environ.setdefault("OPENLEND_DATA_KEY", base64.b64encode(secrets.token_bytes(32)).decode())
BENCH_TOKEN = "bench_" + secrets.token_urlsafe(18)

import bench_ledger as bl  # noqa: E402
import httpx  # noqa: E402
import psycopg  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402

from openlend import db as dbmod  # noqa: E402
from openlend import migrate  # noqa: E402
from openlend.ids import new_id  # noqa: E402
from sample_documents import b64, card_images, selfie  # noqa: E402
from sim.funder.testing import running_funder  # noqa: E402
from sim.providers.testing import running_providers  # noqa: E402
from sim.smsc.testing import running_smsc  # noqa: E402

PRODUCT_CODE = "APP-CASH"
CLEAN = ("张三", "110105198503019010", "13800000001", "6222020000000010009")   # a sim/providers identity
DATA = {   # the declared data of tests/applications/test_application_flow.py
    "occupation": "professional", "industry": "it", "housing": "rent", "education": "bachelor",
    "monthly_income": "24000",
    "session": {"form_fill_seconds": 240, "paste_count": 0, "device_emulator": False, "ip_region": "11",
                "mobile_region": "11"},
    "scorecard": {"checking_account": "none", "duration_months": 12, "credit_history": "current_credits_repaid_duly",
                  "purpose": "furniture", "credit_amount": 3000, "savings": "below_100", "employment_duration": "4_to_7y",
                  "installment_rate": 2, "property": "real_estate", "other_installment_plans": "none",
                  "housing": "own", "telephone": "yes"},
}


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except Exception:  # noqa: BLE001
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def percentile(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


# --- the application, walked once through the API -----------------------------------------------

def expect(r: httpx.Response, status: int, what: str) -> dict:
    if r.status_code != status:
        raise SystemExit(f"{what}: HTTP {r.status_code}: {r.text[:1000]}")
    return r.json()


def walk(client: httpx.Client, smsc, product_id: str, who=CLEAN) -> dict:
    """One application to data_collected, every check really performed; the application."""
    name, number, mobile, bank_card = who
    e164 = "+86" + mobile
    before = len(smsc.messages(e164))
    app = expect(client.post("/v1/applications", json={"mobile": mobile, "product_id": product_id,
                                                       "device_id": "dev-" + number[-6:], "ip_address": "203.0.113.7"}),
                 201, "start")
    msgs = smsc.wait_for(e164, count=before + 1, timeout=15)
    code = re.search(r"(\d{6})", msgs[-1]["text"]).group(1)
    expect(client.post(f"/v1/applications/{app['id']}/verify", json={"code": code}), 200, "verify")
    front, back = card_images(name, number)
    expect(client.post(f"/v1/applications/{app['id']}/id-card", json={"front": b64(front), "back": b64(back)}),
           200, "id card")
    r = expect(client.post(f"/v1/applications/{app['id']}/selfie", json={"image": b64(selfie())}), 200, "selfie")
    if not r["face"]["match"]:
        raise SystemExit(f"selfie did not match the card: {r['face']}")
    r = expect(client.post(f"/v1/applications/{app['id']}/factors", json={"bank_card": bank_card}), 200, "factors")
    if r["status"] != "identity_verified":
        raise SystemExit(f"factors: {r['status']}, {r['factors']}")
    texts = expect(client.get("/v1/consent-texts"), 200, "consent texts")["data"]
    expect(client.post(f"/v1/applications/{app['id']}/consents", json={"consent_texts": [t["id"] for t in texts]}),
           200, "consents")
    r = expect(client.post(f"/v1/applications/{app['id']}/data", json=DATA), 200, "data")
    if r["status"] != "data_collected":
        raise SystemExit(f"data: {r['status']}")
    return r


def clone(url: str, app_id: str, n: int, tag: str) -> list[str]:
    """``n`` copies of the application (row and documents) in data_collected, each with its own id,
    device and IP (the velocity features count apps per device and per IP)."""
    ids = [new_id("app") for _ in range(n)]
    devices = [f"bench-{tag}-{i:05d}" for i in range(n)]
    ips = [f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}" for i in range(1, n + 1)] if tag == "a" else \
        [f"10.{128 + ((i >> 16) & 127)}.{(i >> 8) & 255}.{i & 255}" for i in range(1, n + 1)]
    with psycopg.connect(url) as conn:
        cols = [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'applications' "
            "AND table_schema = current_schema() ORDER BY ordinal_position")]
        special = {"id": "c.new_id", "device_id": "c.dev", "client_ip": "c.ip::inet", "status": "'data_collected'",
                   "created_at": "now()", "updated_at": "now()"}
        select = ", ".join(special.get(c, "a." + c) for c in cols)
        conn.execute(
            f"INSERT INTO applications ({', '.join(cols)}) SELECT {select} FROM applications a, "
            "unnest(%s::text[], %s::text[], %s::text[]) AS c(new_id, dev, ip) WHERE a.id = %s",
            [ids, devices, ips, app_id])
        dcols = [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'application_documents' "
            "AND table_schema = current_schema() ORDER BY ordinal_position")]
        dselect = ", ".join("c.new_id" if c == "application_id" else "d." + c for c in dcols)
        conn.execute(f"INSERT INTO application_documents ({', '.join(dcols)}) SELECT {dselect} "
                     "FROM application_documents d, unnest(%s::text[]) AS c(new_id) WHERE d.application_id = %s",
                     [ids, app_id])
        conn.execute("INSERT INTO application_events (application_id, from_status, to_status, actor, note) "
                     "SELECT c.new_id, NULL, 'data_collected', 'bench', 'cloned from ' || %s "
                     "FROM unnest(%s::text[]) AS c(new_id)", [app_id, ids])
    return ids


# --- the API server -------------------------------------------------------------------------------

class Server(bl.ApiServer):
    """The API server (:class:`bench_ledger.ApiServer`) with an authorised httpx client."""

    def __init__(self, env: dict[str, str], workdir: Path, tag: str):
        super().__init__(env, workdir / f"server-{tag}.log")

    def client(self, timeout: float = 120) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=timeout,
                            headers={"Authorization": f"Bearer {BENCH_TOKEN}"})


# --- the measurement ------------------------------------------------------------------------------

def decide_all(server: Server, ids: list[str], clients: int) -> dict:
    """POST /decision for every id from ``clients`` keep-alive clients; latencies and outcomes."""
    work: queue.Queue[str] = queue.Queue()
    for i in ids:
        work.put(i)
    lat: list[float] = []
    statuses: Counter[str] = Counter()
    errors: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1)

    def worker() -> None:
        with server.client() as c:
            c.get("/health")   # the keep-alive connection is open before the clock starts
            ready.wait()
            while True:
                try:
                    app_id = work.get_nowait()
                except queue.Empty:
                    return
                t0 = time.perf_counter()
                try:
                    r = c.post(f"/v1/applications/{app_id}/decision")
                    t1 = time.perf_counter()
                    ok = r.status_code == 200
                    label = r.json().get("status", "?") if ok else f"HTTP {r.status_code}"
                    err = None if ok else f"{app_id}: HTTP {r.status_code}: {r.text[:300]}"
                except httpx.HTTPError as exc:
                    t1, label, err = time.perf_counter(), type(exc).__name__, f"{app_id}: {exc!r}"
                with lock:
                    lat.append(t1 - t0)
                    statuses[label] += 1
                    if err:
                        errors.append(err)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    ready.wait()
    t_start = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t_start
    return {"n": len(lat), "wall_s": wall, "rate": len(lat) / wall if wall > 0 else float("nan"),
            "p50_ms": percentile(lat, 50) * 1000, "p99_ms": percentile(lat, 99) * 1000,
            "max_ms": max(lat) * 1000 if lat else float("nan"),
            "outcomes": dict(statuses), "errors": errors}


def provider_share(url: str, ids: list[str]) -> dict:
    """From ``decisions``: the decision's own seconds and the slowest provider call of each (they run
    concurrently, so the slowest is the wait), and the per-provider medians."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows = conn.execute("SELECT seconds, provider_data FROM decisions WHERE application_id = ANY(%s)",
                            [ids]).fetchall()
    secs, waits, sums = [], [], []
    per: dict[str, list[float]] = {}
    for r in rows:
        pd = r["provider_data"] or {}
        ms = {k: float(v["ms"]) for k, v in pd.items() if isinstance(v, dict) and "ms" in v and "ok" in v}
        if r["seconds"] is None or not ms:
            continue
        secs.append(float(r["seconds"]))
        waits.append(max(ms.values()) / 1000)
        sums.append(sum(ms.values()) / 1000)
        for k, v in ms.items():
            per.setdefault(k, []).append(v)
    if not secs:
        return {"n": 0}
    return {"n": len(secs), "share": sum(waits) / sum(secs), "decision_p50_ms": percentile(secs, 50) * 1000,
            "wait_p50_ms": percentile(waits, 50) * 1000, "sum_p50_ms": percentile(sums, 50) * 1000,
            "per_provider_p50_ms": {k: percentile(v, 50) for k, v in sorted(per.items())}}


def reasons(url: str, ids: list[str]) -> dict[str, int]:
    """Why the applications ended where they did: the status with the decision's reason codes (or, for
    a decision that approved and then did not open a line, the last event's note)."""
    out: Counter[str] = Counter()
    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT a.status, d.outcome, d.record -> 'reasons' AS reasons, d.provider_data, "
            "(SELECT e.actor || ': ' || coalesce(e.note, '') FROM application_events e WHERE e.application_id = a.id "
            " ORDER BY e.id DESC LIMIT 1) AS last FROM applications a LEFT JOIN decisions d ON d.id = a.decision_id "
            "WHERE a.id = ANY(%s)", [ids]).fetchall()
    for r in rows:
        codes = sorted({(x.get("code") if isinstance(x, dict) else str(x)) for x in (r["reasons"] or [])})
        if r["status"] == "line_opened":
            out["line_opened"] += 1
        elif r["outcome"] == "approve":   # approved by the policy, then not by the funder (or not yet)
            out[f"{r['status']} after approve ({r['last']})"] += 1
        else:
            failed = sorted(f"{k} {v.get('error')}" for k, v in (r["provider_data"] or {}).items()
                            if isinstance(v, dict) and v.get("ok") is False)
            out[f"{r['status']} ({r['outcome']}: {', '.join(codes) or '-'}"
                + (f"; failed: {', '.join(failed)}" if failed else "") + ")"] += 1
    return dict(out)


def run_variant(label: str, env: dict[str, str], workdir: Path, ids: list[str], warm: list[str], serial: list[str],
                clients: int, url: str) -> dict:
    """Warm-up (untimed), then ``serial`` one at a time (the unloaded latency), then ``ids`` from
    ``clients`` clients (the figures)."""
    server = Server(env, workdir, label)
    try:
        if warm:
            decide_all(server, warm, clients)   # untimed: imports, pools, first connections
        one = decide_all(server, serial, 1) if serial else None
        res = decide_all(server, ids, clients)
    finally:
        server.close()
    res["providers"] = provider_share(url, ids)
    res["reasons"] = reasons(url, ids)
    if one is not None:
        one["providers"] = provider_share(url, serial)
        res["serial"] = one
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="N=100 decisions per run")
    ap.add_argument("-n", type=int, default=None, help="decisions per run (default 400; --quick: 100)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients (default 8)")
    ap.add_argument("--latency-ms", type=int, default=300, help="provider latency of run B (default 300)")
    ap.add_argument("--warmup", type=int, default=16, help="untimed decisions before each run (default 16)")
    ap.add_argument("--serial", type=int, default=None,
                    help="decisions one at a time per run, for the unloaded latency (default 40; --quick: 20)")
    ap.add_argument("--json", metavar="PATH", help="also write the figures to this file")
    args = ap.parse_args(argv)
    n = args.n or (100 if args.quick else 400)
    n1 = args.serial if args.serial is not None else (20 if args.quick else 40)
    lat_b = args.latency_ms

    try:
        from openlend.identity import render
        render.find_cjk_font()
    except Exception as exc:  # noqa: BLE001
        raise SystemExit(f"cannot render ID cards ({exc}); apt-get install fonts-wqy-zenhei") from None

    print(f"start: {uptime()}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="openlend-bench-dec-"))
    atexit.register(shutil.rmtree, workdir, True)   # registered first: runs after the server's cleanup
    server_url = dbmod.start_embedded(workdir / "pgdata", cleanup_mode="delete")
    with psycopg.connect(server_url, autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        conn.execute('CREATE DATABASE "bench_decisions"')
    url = dbmod.with_database(server_url, "bench_decisions")
    migrate.upgrade(url)
    print(f"server: embedded PostgreSQL {version} (temporary); {os.cpu_count()} CPUs; N={n} per run, "
          f"{args.clients} clients, {args.warmup} warm-up and {n1} one-at-a-time decisions per run; "
          f"run B: providers at {lat_b} ms",
          flush=True)

    today = dt.date.today().isoformat()
    with contextlib.ExitStack() as stack:
        smsc = stack.enter_context(running_smsc(workdir / "smsc"))
        prov0 = stack.enter_context(running_providers(workdir / "prov0", "--as-of", today, "--latency-ms", "0"))
        provb = stack.enter_context(running_providers(workdir / "provb", "--as-of", today,
                                                      "--latency-ms", str(lat_b)))
        bank = stack.enter_context(running_funder(workdir / "fund", bank_code="BANKA",
                                                  rules={"min_score": 0, "max_limit": "100000",
                                                         # no daily quota: 5,000,000.00 a day is
                                                         # about 170 of these approvals
                                                         "daily_quota": None}))
        base_env = dict(os.environ, DATABASE_URL=url, OPENLEND_ADMIN_TOKEN=BENCH_TOKEN, OPENLEND_LOG_LEVEL="WARNING",
                        OPENLEND_SMSC_HOST=smsc.host, OPENLEND_SMSC_PORT=str(smsc.port),
                        OPENLEND_SMSC_SYSTEM_ID=smsc.system_id, OPENLEND_SMSC_PASSWORD=smsc.password,
                        OPENLEND_RISK_TIMEOUT_S="1.5",
                        OPENLEND_FUNDERS=json.dumps({"products": {PRODUCT_CODE: [
                            {"bank_code": "BANKA", "base_url": bank.base_url, "secret": bank.secret,
                             "partner_id": bank.partner_id, "max_attempts": 2, "timeout_s": 3}]}}),
                        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]))
        env_a = {**base_env, "OPENLEND_RISK_BASE_URL": prov0.base_url}
        env_b = {**base_env, "OPENLEND_RISK_BASE_URL": provb.base_url}

        print("walking one application to data_collected through the API (OCR, face, factors) ...", flush=True)
        t0 = time.perf_counter()
        server = Server(env_a, workdir, "walk")
        try:
            with server.client() as c:
                product = expect(c.post("/v1/products", json={
                    "code": PRODUCT_CODE, "name": "Cash line", "currency": "CNY", "method": "equal_installment",
                    "rate": {"min": "9", "max": "18", "default": "18"}, "term": {"allowed": [3, 6, 12]},
                    "amount": {"min": "1000.00", "max": "100000.00"}}), 201, "product")
                app = walk(c, smsc, product["id"])
                t_walk = time.perf_counter() - t0
                w = args.warmup
                ids_a = clone(url, app["id"], w + n1 + n, "a")
                ids_b = clone(url, app["id"], w + n1 + n, "b")
                # The original is decided first, alone: it makes the customer and the line that the
                # clones' approvals (same person) then find, as a returning applicant's would.
                first = expect(c.post(f"/v1/applications/{app['id']}/decision"), 200, "first decision")
        finally:
            server.close()
        with psycopg.connect(url) as conn:
            doc_bytes = conn.execute("SELECT coalesce(sum(octet_length(cipher)), 0) FROM application_documents "
                                     "WHERE application_id = %s", [app["id"]]).fetchone()[0]
        print(f"  walked in {t_walk:.1f} s; first decision: {first['status']} (limit {first['approved_limit']}, "
              f"rate {first['approved_rate']}); cloned {2 * (w + n1 + n)} applications "
              f"({doc_bytes / 1e6:.2f} MB of documents each)", flush=True)
        if first["status"] != "line_opened":
            print(f"  NOTE: the walked application was not approved ({first['status']}); "
                  "the clones will decide the same way", flush=True)

        print(f"run A: providers at once, {n} decisions ...", flush=True)
        a = run_variant("a", env_a, workdir, ids_a[w + n1:], ids_a[:w], ids_a[w:w + n1], args.clients, url)
        print(f"  {a['rate']:.1f}/s, p50 {a['p50_ms']:.1f} ms, p99 {a['p99_ms']:.1f} ms, {a['outcomes']}", flush=True)
        print(f"run B: providers at {lat_b} ms, {n} decisions ...", flush=True)
        b = run_variant("b", env_b, workdir, ids_b[w + n1:], ids_b[:w], ids_b[w:w + n1], args.clients, url)
        print(f"  {b['rate']:.1f}/s, p50 {b['p50_ms']:.1f} ms, p99 {b['p99_ms']:.1f} ms, {b['outcomes']}", flush=True)
    end_load = uptime()

    ratio = b["p50_ms"] / lat_b if lat_b else float("nan")
    a1, b1 = a.get("serial"), b.get("serial")
    # One at a time, the server is not saturated: what 300 ms on every provider adds to a decision.
    # About 1 x the latency when the calls fan out, 3 x when they run one after the other.
    added = (b1["p50_ms"] - a1["p50_ms"]) / lat_b if a1 and b1 and lat_b else float("nan")

    def share(res: dict) -> str:
        p = res["providers"]
        if not p.get("n"):
            return "n/a"
        return (f"{p['share'] * 100:.0f} % (decision p50 {p['decision_p50_ms']:.0f} ms, "
                f"slowest call p50 {p['wait_p50_ms']:.0f} ms, sum of calls p50 {p['sum_p50_ms']:.0f} ms)")

    def outcomes(res: dict) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(res["outcomes"].items()))

    def met(ok: bool) -> str:
        return "yes" if ok else "NO"

    rows = [
        (f"A (at once), {args.clients} clients: decisions/s", f"{a['rate']:.1f}", "", ""),
        ("A: p50", f"{a['p50_ms']:.1f} ms", "", ""),
        ("A: p99", f"{a['p99_ms']:.1f} ms", "<= 100 ms (stretch 50)",
         ("yes" + (", stretch too" if a["p99_ms"] <= 50 else "")) if a["p99_ms"] <= 100 else "NO"),
        ("A: outcomes", outcomes(a), f"{n} x 200", met(not a["errors"])),
        ("A: time waiting on providers", share(a), "", ""),
    ]
    if a1:
        rows += [("A, 1 client: p50 / p99", f"{a1['p50_ms']:.1f} / {a1['p99_ms']:.1f} ms ({a1['rate']:.1f}/s)",
                  "", ""),
                 ("A, 1 client: time waiting on providers", share(a1), "", "")]
    rows += [
        (f"B ({lat_b} ms), {args.clients} clients: decisions/s", f"{b['rate']:.1f}", "", ""),
        ("B: p50", f"{b['p50_ms']:.1f} ms", "", ""),
        ("B: p99", f"{b['p99_ms']:.1f} ms", "", ""),
        ("B: outcomes", outcomes(b), f"{n} x 200", met(not b["errors"])),
        (f"B: p50 / {lat_b} ms (1 = fan-out, 3 = sequential)", f"{ratio:.2f}", "about 1",
         met(ratio <= 1.5) + ("" if ratio <= 1.5 or not added <= 1.5 else " (queueing: see the 1-client row)")),
        ("B: time waiting on providers", share(b), "", ""),
    ]
    if b1:
        rows += [("B, 1 client: p50 / p99", f"{b1['p50_ms']:.1f} / {b1['p99_ms']:.1f} ms ({b1['rate']:.1f}/s)",
                  "", ""),
                 ("B, 1 client: time waiting on providers", share(b1), "", ""),
                 (f"1 client: (B p50 - A p50) / {lat_b} ms (1 = fan-out, 3 = seq.)", f"{added:.2f}", "about 1",
                  met(added <= 1.5))]
    for tag, res in (("A", a), ("B", b)):
        per = res["providers"].get("per_provider_p50_ms")
        if per:
            missing = [k for k in ("court", "multi_lending", "bureau") if k not in per]
            rows.append((f"{tag}: provider call p50 (decisions.provider_data)",
                         ", ".join(f"{k} {v:.0f} ms" for k, v in per.items())
                         + (f"; no ms recorded for {', '.join(missing)}" if missing else ""), "", ""))
    hdr = ("figure", "value", "goal", "met")
    widths = [max(len(r[i]) for r in rows + [hdr]) for i in range(4)]
    line = " | ".join("{:<%d}" % wd for wd in widths)
    print(f"\n{n} decisions per run, {args.clients} clients (and {n1} one at a time); end: {end_load}\n")
    print(line.format(*hdr))
    print("-|-".join("-" * wd for wd in widths))
    for r in rows:
        print(line.format(*r))
    for tag, res in (("A", a), ("B", b)):
        for why, k in sorted(res["reasons"].items(), key=lambda x: -x[1]):
            print(f"{tag} outcome: {k} x {why}")
    for tag, res in (("A", a), ("B", b)):
        for e in res["errors"][:5]:
            print(f"{tag} error: {e}")
    figures = {"n": n, "clients": args.clients, "serial": n1, "latency_ms_b": lat_b, "a": a, "b": b,
               "b_p50_over_latency": ratio, "serial_added_over_latency": added}
    print(json.dumps(figures, default=str))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str))
    return 1 if a["errors"] or b["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
