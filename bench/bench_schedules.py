"""Schedule benchmark: the Decimal engine's throughput and the vectorised path against a bare numpy anchor.

    PYTHONPATH=src python bench/bench_schedules.py [--quick] [--json PATH]

Prints, in one run:
  1. 36-month equal-installment schedules per second through ``generate`` (goal >= 30,000/s), on a
     book of varying principals, a dozen product rates and a few hundred disbursement dates (the
     engine's per-(date, rate) plan cache is legitimate there), and again with every loan at its
     own rate (the plan cache then never hits);
  2. the vectorised path (openlend.schedule.vector): 1M loans x 36 months, seconds, best and
     median of several runs after a first (cold-memory) run (goal <= 1 s);
  3. the anchor: a bare float64 numpy annuity (PMT + a 36-period amortization loop, no exactness)
     for the same loans, same outputs, and the ratio vectorised / bare;
  4. identity: a sample of the vectorised run's loans compared row by row with ``generate``.
Then a compact table (figure | value | anchor | ratio | goal) and, as the last line of stdout,
the figures as JSON (also written to ``--json PATH``).  The box is shared and noisy: compare the
ratios taken in one run, not absolute figures across runs (see /work/shared/PERFORMANCE.md).
The environment (OPENBLAS_CORETYPE included) is reported as found and never changed.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

try:
    import openlend  # noqa: F401
except ImportError:  # run from a checkout without PYTHONPATH=src
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from openlend.schedule import engine
from openlend.schedule import vector as V
from openlend.schedule.engine import ScheduleTerms, generate

TERM = 36
GOAL_ENGINE_PER_S = 30_000
GOAL_VECTOR_S = 1.0


def log(msg: str = "") -> None:
    print(msg, flush=True)


# --- 1. the Decimal engine ---------------------------------------------------------------------------

def engine_book(n: int, rng: np.random.Generator, distinct_rates: bool, n_rates: int, n_dates: int):
    dates = [date(2024, 1, 1) + timedelta(days=int(d)) for d in range(n_dates)]
    principals = rng.integers(1_000_00, 200_000_00 + 1, n)                   # 1,000.00 .. 200,000.00
    if distinct_rates:
        rates = rng.integers(1, 36_0000 + 1, n)                              # every loan its own rate
    else:
        book = rng.integers(400, 2400 + 1, n_rates) * 100                    # 4.00 % .. 24.00 %
        rates = rng.choice(book, n)
    days = rng.integers(0, n_dates, n)
    return [ScheduleTerms(principal=Decimal(int(p)).scaleb(-2), annual_rate=Decimal(int(k)).scaleb(-4),
                          method="equal_installment", term=TERM, disbursement_date=dates[int(d)])
            for p, k, d in zip(principals, rates, days)]


def plan_cache_info():
    info = getattr(getattr(engine, "_plan", None), "cache_info", None)
    return info() if info else None


def bench_engine(terms: list, seconds: float, label: str) -> dict:
    """Passes over ``terms`` until ``seconds`` have gone; the first pass also fills caches."""
    before = plan_cache_info()
    rates = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        for t in terms:
            generate(t)
        rates.append(len(terms) / (time.perf_counter() - t0))
        if time.perf_counter() - start >= seconds and len(rates) >= 4:
            break
    after = plan_cache_info()
    warm = rates[1:]
    out = {"first_pass_per_s": rates[0], "median_per_s": statistics.median(warm), "best_per_s": max(warm),
           "passes": len(rates), "loans_per_pass": len(terms)}
    if before and after:
        hits, misses = after.hits - before.hits, after.misses - before.misses
        out["plan_cache_hit_ratio"] = hits / max(1, hits + misses)
    log(f"  {label}: {out['median_per_s']:,.0f}/s median of {len(warm)} warm passes "
        f"(best {out['best_per_s']:,.0f}/s, first pass {out['first_pass_per_s']:,.0f}/s"
        + (f", plan-cache hits {out['plan_cache_hit_ratio']:.0%}" if "plan_cache_hit_ratio" in out else "") + ")")
    return out


def bench_terms_and_generate(rng: np.random.Generator, n: int, n_rates: int, n_dates: int) -> float:
    """The same book with ``ScheduleTerms(...)`` built inside the timing (what a caller pays)."""
    dates = [date(2024, 1, 1) + timedelta(days=int(d)) for d in range(n_dates)]
    book = [Decimal(int(k)).scaleb(-2) for k in rng.integers(400, 2400 + 1, n_rates)]
    principals = [Decimal(int(p)).scaleb(-2) for p in rng.integers(1_000_00, 200_000_00 + 1, n)]
    picks = [(book[int(i)], dates[int(d)]) for i, d in zip(rng.integers(0, n_rates, n), rng.integers(0, n_dates, n))]
    t0 = time.perf_counter()
    for p, (r, d) in zip(principals, picks):
        generate(ScheduleTerms(principal=p, annual_rate=r, method="equal_installment", term=TERM, disbursement_date=d))
    return n / (time.perf_counter() - t0)


# --- 2. and 3. vectorised and the bare anchor ------------------------------------------------------------

def bare_numpy(b: np.ndarray, k: np.ndarray, n: int):
    """The anchor: float64 annuity and amortization, the same four (period, loan) outputs, no exactness."""
    P = b.astype(np.float64)
    r = k / float(V.RATE_DEN)
    pmt = P * r / (1.0 - (1.0 + r) ** -n)
    N = b.size
    PR = np.empty((n, N))
    IN = np.empty((n, N))
    TO = np.empty((n, N))
    OU = np.empty((n, N))
    bal = P
    for i in range(n):
        np.multiply(bal, r, out=IN[i])
        if i == n - 1:
            PR[i] = bal
        else:
            np.subtract(pmt, IN[i], out=PR[i])
        np.add(PR[i], IN[i], out=TO[i])
        np.subtract(bal, PR[i], out=OU[i])
        bal = OU[i]
    return PR, IN, TO, OU


def touch_memory(nbytes: int) -> float:
    """Allocate and write ``nbytes`` once: on this VM the first touch of fresh memory in a process
    costs about 1 s per GiB (the host backs the pages), later allocations reuse warm pages."""
    t0 = time.perf_counter()
    a = np.empty(nbytes // 8, dtype=np.int64)
    a.fill(0)
    elapsed = time.perf_counter() - t0
    del a
    return elapsed


def interleaved_runs(fns: dict, runs: int) -> tuple[dict, object]:
    """A warm-up run of each, then ``runs`` rounds taking each in turn, so that the noise of the
    shared box falls on all of them alike; returns the stats and the first one's warm-up result."""
    stats = {}
    kept = None
    for label, fn in fns.items():
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        stats[label] = {"first_s": time.perf_counter() - t0, "runs_s": []}
        if kept is None:
            kept = result
        del result
    for _ in range(runs):
        for label, fn in fns.items():
            gc.collect()
            t0 = time.perf_counter()
            result = fn()
            stats[label]["runs_s"].append(time.perf_counter() - t0)
            del result
    for label, st in stats.items():
        times = st["runs_s"]
        st["best_s"] = min(times)
        st["median_s"] = statistics.median(times)
        log(f"  {label}: best {st['best_s']:.3f} s, median {st['median_s']:.3f} s of {runs} "
            f"(warm-up run {st['first_s']:.3f} s) [{', '.join(f'{t:.3f}' for t in times)}]")
    return stats, kept


# --- 4. identity -----------------------------------------------------------------------------------------

FIELDS = ("principal", "interest", "total", "outstanding")


def identity(res: dict, b: np.ndarray, k: np.ndarray, sample: int, rng: np.random.Generator) -> tuple[int, int, list]:
    idx = rng.choice(b.size, size=min(sample, b.size), replace=False)
    dates = [date(2024, 1, 1) + timedelta(days=int(d)) for d in range(300)]
    cols = {f: res[f] for f in FIELDS}
    same = 0
    bad = []
    for i in idx:
        i = int(i)
        s = generate(ScheduleTerms(principal=Decimal(int(b[i])).scaleb(-2), annual_rate=Decimal(int(k[i])).scaleb(-4),
                                   method="equal_installment", term=TERM, disbursement_date=dates[i % 300]))
        rows = s.installments
        ok = len(rows) == int(res["n_rows"][i])
        if ok:
            for f in FIELDS:
                got = cols[f][i, :len(rows)].tolist()
                if got != [int(getattr(r, f).scaleb(2)) for r in rows]:
                    ok = False
                    break
        if ok:
            same += 1
        else:
            bad.append((int(b[i]), int(k[i])))
    return same, len(idx), bad


# --- main ------------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter engine timing, 3 runs, 2,000-loan identity sample")
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    ap.add_argument("--loans", type=int, default=1_000_000, help="loans in the vectorised run (default 1,000,000)")
    ap.add_argument("--runs", type=int, help="timed runs of each vectorised figure (default 5, quick 3)")
    ap.add_argument("--engine-seconds", type=float, help="seconds per engine figure (default 3, quick 1)")
    ap.add_argument("--sample", type=int, help="loans in the identity check (default 10,000, quick 2,000)")
    ap.add_argument("--seed", type=int, default=20240131)
    args = ap.parse_args(argv)
    runs = args.runs or (3 if args.quick else 5)
    eng_s = args.engine_seconds or (1.0 if args.quick else 3.0)
    sample = args.sample or (2_000 if args.quick else 10_000)
    pool = 5_000 if args.quick else 10_000
    rng = np.random.default_rng(args.seed)
    workers = min(2, os.cpu_count() or 1)

    env = {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
           "machine": platform.machine(), "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
           "quick": args.quick}
    log(f"openlend schedule bench: Python {env['python']}, numpy {env['numpy']}, {env['cpus']} CPUs, "
        f"OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE'] or '(unset)'} (left as found)")

    # 1. engine
    log(f"\n1. Decimal engine, {TERM}-month equal installment, generate() on prebuilt terms, ~{eng_s:g} s each")
    book = bench_engine(engine_book(pool, rng, False, 12, 300), eng_s, "book (12 product rates x 300 dates)")
    distinct = bench_engine(engine_book(pool, rng, True, 0, 300), eng_s, "every loan its own rate (no plan-cache hits)")
    with_terms = bench_terms_and_generate(rng, pool, 12, 300)
    log(f"  book, ScheduleTerms(...) + generate(): {with_terms:,.0f}/s (one pass)")

    # 2. vectorised, 3. anchor
    N = args.loans
    b = rng.integers(100_00, 500_000_00 + 1, N)          # 100.00 .. 500,000.00
    k = rng.integers(1, 36_0000 + 1, N)                  # 0.0001 % .. 36 %, four decimals
    log(f"\n2. vectorised (openlend.schedule.vector): {N:,} loans x {TERM} months, int64 cents, {workers} threads")
    out_bytes = 4 * TERM * N * 8
    cold = touch_memory(2 * out_bytes)   # one result is kept for the identity check while the others run
    log(f"  (cold memory: a first touch of {2 * out_bytes / 2**30:.2f} GiB, twice the outputs, took {cold:.3f} s "
        "in this process; done before the runs, so no figure below carries it)")
    log(f"  runs interleaved with the anchor's (section 3), {runs} rounds after a warm-up run of each")
    fns = {"vectorised": lambda: V.project_equal_installment(b, k, TERM, workers=workers)}
    if workers > 1:
        fns["vectorised, 1 thread"] = lambda: V.project_equal_installment(b, k, TERM, workers=1)
    fns["bare numpy"] = lambda: bare_numpy(b, k, TERM)
    stats, res = interleaved_runs(fns, runs)
    vec, vec1, bare = stats["vectorised"], stats.get("vectorised, 1 thread"), stats["bare numpy"]
    fallbacks = int(res["fallback"].sum())
    log(f"  installments verified in Decimal (float within a hair of a half cent): {fallbacks}")
    t0 = time.perf_counter()
    same, total, bad = identity(res, b, k, sample, rng)
    id_s = time.perf_counter() - t0
    del res
    gc.collect()

    log(f"\n3. anchor: bare numpy float64 PMT + {TERM}-period amortization, same loans, same 4 outputs, 1 thread")
    log(f"  bare numpy: best {bare['best_s']:.3f} s, median {bare['median_s']:.3f} s (timed with section 2)")
    # how far the float anchor strays from exact cents (information only)
    head = V.project_equal_installment(b[:1000], k[:1000], TERM)
    fres = bare_numpy(b[:1000], k[:1000], TERM)
    drift = float(np.max(np.abs(fres[1] - head["interest"].T)))
    ratio = vec["median_s"] / bare["median_s"]
    log(f"  ratio vectorised / bare (medians): {ratio:.2f}   (the float anchor's interest strays up to "
        f"{drift:.2f} cents from the exact figures on the first 1,000 loans)")

    # 4. identity
    log(f"\n4. identity: {total:,} loans of the vectorised run against generate(), every row, every field")
    log(f"  identical: {same}/{total}  ({id_s:.1f} s)" + (f"  first differing: {bad[:3]}" if bad else ""))

    # table
    eng_ok = book["median_per_s"] >= GOAL_ENGINE_PER_S
    vec_ok = vec["median_s"] <= GOAL_VECTOR_S and N >= 1_000_000
    rows = [
        ("engine 36-mo schedules/s (book)", f"{book['median_per_s']:,.0f}/s", "-", "-",
         f">= {GOAL_ENGINE_PER_S:,}/s " + ("met" if eng_ok else "MISSED")),
        ("engine, every loan its own rate", f"{distinct['median_per_s']:,.0f}/s", "book",
         f"{distinct['median_per_s'] / book['median_per_s']:.2f}", "-"),
        ("engine, terms built + generate", f"{with_terms:,.0f}/s", "book", f"{with_terms / book['median_per_s']:.2f}", "-"),
        (f"vectorised {N / 1e6:g}M x {TERM}, median", f"{vec['median_s']:.3f} s", f"bare {bare['median_s']:.3f} s",
         f"{ratio:.2f}", f"<= {GOAL_VECTOR_S:g} s " + ("met" if vec_ok else "MISSED")),
        (f"vectorised {N / 1e6:g}M x {TERM}, best", f"{vec['best_s']:.3f} s", f"bare {bare['best_s']:.3f} s",
         f"{vec['best_s'] / bare['best_s']:.2f}", "-"),
    ]
    if vec1:
        rows.append(("vectorised, 1 thread, median", f"{vec1['median_s']:.3f} s", f"bare {bare['median_s']:.3f} s",
                     f"{vec1['median_s'] / bare['median_s']:.2f}", "-"))
    rows.append(("identity vs generate()", f"{same}/{total}", "-", "-", "all identical " + ("met" if same == total else "MISSED")))
    head = ("figure", "value", "anchor", "ratio", "goal")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(5)]
    log("\n" + " | ".join(h.ljust(w) for h, w in zip(head, widths)))
    log("-|-".join("-" * w for w in widths))
    for r in rows:
        log(" | ".join(str(c).ljust(w) for c, w in zip(r, widths)))

    figures = {
        "bench": "schedules", "env": env,
        "engine": {"book": book, "distinct_rates": distinct, "terms_and_generate_per_s": with_terms,
                   "goal_per_s": GOAL_ENGINE_PER_S, "met": eng_ok},
        "vectorised": {"loans": N, "term": TERM, "workers": workers, "cold_memory_touch_s": cold, **vec, "fallbacks": fallbacks,
                       "goal_s": GOAL_VECTOR_S, "met": vec_ok, "one_thread": vec1},
        "bare_numpy": bare, "ratio_vectorised_to_bare": ratio,
        "identity": {"identical": same, "sample": total, "met": same == total},
    }
    text = json.dumps(figures, default=float)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text, flush=True)
    return 0 if same == total else 1


if __name__ == "__main__":
    sys.exit(main())
