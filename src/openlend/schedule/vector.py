"""Portfolio-wide schedule projections in numpy: many loans at once, in integer cents.

This is the batch twin of :func:`openlend.schedule.engine.generate` for the plain monthly case
(``frequency`` one month, ``interest_basis="period"``, ``rounding_places=2``,
``rounding_mode="half_even"``, no first due date, grace, installment multiple or fee).  For those
terms every row of every loan is *identical* to the Decimal engine's, bit for bit; the tests in
``tests/schedule/test_vector.py`` check it against ``generate`` row by row, field by field.

Units
    Money is ``int64`` **cents** everywhere, never a float.  The annual rate is an ``int64`` in
    units of 0.0001 percent (``rate_e4``): 12 % is ``120000``, 7.2315 % is ``72315``; so the
    periodic (monthly) rate is exactly ``rate_e4 / 12_000_000`` and the rate must have at most
    four decimals as a percent (:func:`rate_e4` converts and refuses more).

How each row is computed (the engine's convention, in integers)
    ``interest = round_half_even(balance * rate_e4 / 12_000_000)`` with one ``floor_divide`` and a
    tie test, no float: the exact value rounded half-even, as the engine rounds it (see
    ``engine._Plan``).  ``principal = min(installment - interest, balance)`` (equal installment)
    or ``min(equal_principal, balance)``; the last row takes the whole balance; a loan that
    rounding pays off early stops there, as the engine's does: its later rows are all zero and
    ``n_rows`` says how many rows it really has.

Installment (equal installment only)
    The annuity ``P r / (1 - (1 + r)^-n)`` is the one figure worked out in float64
    (``-expm1(-n log1p r)``, relative error a few 1e-16), then rounded to cents.  It is then
    *verified*: when the float lies within ``1e-6 + 1e-13 * |x|`` cents of a half-cent (the only
    place where a float error could change the rounded cent), that loan's installment is
    recomputed in Decimal exactly as the engine does (``fallback`` marks those loans: 3 to 5 in a
    million random loans, and every loan whose annuity is an exact half cent).
    Zero-rate loans use ``round_half_even(P / n)`` in integers, as the engine's ``P / n``.  As in
    the engine, an installment that rounds to zero becomes one cent (tiny principals).

Overflow bounds (checked, ``ValueError`` when exceeded)
    The largest intermediate is ``balance * rate_e4 + 6_000_000``, so
    ``max(principal_cents) * max(rate_e4) < 2**63 - 6e6``.  With the engine's 1000 % cap
    (``rate_e4 <= 10_000_000``) that allows principals up to 9.2e11 cents (9.2 billion in
    currency units); at 36 % (``360000``) up to 2.5e13 cents.  ``rate_e4`` must be 0..10_000_000
    (the engine's 0..1000 %) and the principal above zero; terms are 1..1200.

Layout and speed
    The results are period-major arrays ``(term, n_loans)`` (each period's row of a million loans
    is contiguous, so the loop over periods writes memory in order), returned as their transposed
    views of shape ``(n_loans, term)``; ``np.ascontiguousarray`` gives a row-major copy.  The loop
    runs over the periods (36 passes over the loans), never over the loans, on chunks of the book
    that fit in the cache, on ``workers`` threads (numpy releases the GIL inside its loops).
    1M loans x 36 months take about 0.25-0.4 s on the 2-core box once the process's memory is warm
    (``bench/bench_schedules.py``); the first touch of the 1.1 GiB of outputs in a fresh process
    costs about another second on that VM.
"""

from __future__ import annotations

import decimal
import os
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import numpy as np

from openlend.money import MONEY_CONTEXT

__all__ = ["RATE_DEN", "project_equal_installment", "project_equal_principal", "project", "rate_e4",
           "installment_cents_exact", "MAX_RATE_E4", "MAX_TERM"]

RATE_SCALE = 10_000                 # rate_e4 units per percent
RATE_DEN = 100 * 12 * RATE_SCALE    # monthly rate = rate_e4 / RATE_DEN exactly (12_000_000)
MAX_RATE_E4 = 1000 * RATE_SCALE     # the engine's 1000 % cap
MAX_TERM = 1200
_HALF = RATE_DEN // 2
_INT64_MAX = 2**63 - 1
_CHUNK = 32768                      # loans per chunk: a chunk's working arrays stay in L2


# --- inputs ----------------------------------------------------------------------------------------

def rate_e4(annual_rate: Decimal | str | int) -> int:
    """An annual percent rate as an integer of 0.0001 percent (``Decimal("12") -> 120000``).

    Refuses floats and more than four decimals, which the integer path cannot represent.
    """
    if isinstance(annual_rate, float):
        raise TypeError("a rate is a Decimal or a string, never a float")
    d = Decimal(annual_rate) * RATE_SCALE
    if d != d.to_integral_value():
        raise ValueError(f"rate {annual_rate} has more than 4 decimal places")
    return int(d)


def _as_int64(name: str, a) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind == "f":
        raise TypeError(f"{name} must be integers (cents / 0.0001 percent), never floats")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array")
    return np.ascontiguousarray(arr, dtype=np.int64).reshape(-1)


def _check(principal_cents, annual_rate_e4, term):
    b = _as_int64("principal_cents", principal_cents)
    k = _as_int64("annual_rate_e4", annual_rate_e4)
    if k.size == 1 and b.size != 1:
        k = np.full(b.size, int(k[0]), dtype=np.int64)
    if b.shape != k.shape:
        raise ValueError("principal_cents and annual_rate_e4 must have the same length")
    if b.size:
        if int(b.min()) <= 0:
            raise ValueError("principal_cents must be greater than zero")
        kmin, kmax = int(k.min()), int(k.max())
        if kmin < 0 or kmax > MAX_RATE_E4:
            raise ValueError(f"annual_rate_e4 must be between 0 and {MAX_RATE_E4} (0..1000 %)")
        if int(b.max()) * kmax > _INT64_MAX - _HALF:
            raise ValueError("principal_cents * annual_rate_e4 would overflow int64 "
                             f"(max principal at this rate: {(_INT64_MAX - _HALF) // max(kmax, 1)} cents)")
    if isinstance(term, (int, np.integer)) and not isinstance(term, bool):
        terms = None
        n = int(term)
        if not 1 <= n <= MAX_TERM:
            raise ValueError(f"term must be between 1 and {MAX_TERM}")
    else:
        terms = _as_int64("term", term)
        if terms.shape != b.shape:
            raise ValueError("a per-loan term must have one entry per loan")
        if terms.size and (int(terms.min()) < 1 or int(terms.max()) > MAX_TERM):
            raise ValueError(f"term must be between 1 and {MAX_TERM}")
        n = int(terms.max()) if terms.size else 1
    return b, k, n, terms


# --- rounding ----------------------------------------------------------------------------------------

def _div_half_even(num: np.ndarray, den) -> np.ndarray:
    """round_half_even(num / den) for non-negative int64 ``num`` and positive ``den`` (scalar or array)."""
    q, r = np.divmod(num, den)
    twice = 2 * r
    q += (twice > den) | ((twice == den) & (q & 1 == 1))
    return q


def _fix_ties(acc: np.ndarray, mask: np.ndarray) -> None:
    """Turn ``acc`` (rounded half-up) half-even where ``mask`` marks exact half-cent ties.

    On a tie m + 1/2 the half-up result is m + 1; half-even keeps it when m + 1 is even and
    takes m otherwise.
    """
    idx = np.flatnonzero(mask)
    up = acc[idx]
    acc[idx] = up - (up & 1)


# --- installment ---------------------------------------------------------------------------------------

def installment_cents_exact(principal_cents: int, annual_rate_e4: int, term: int) -> int:
    """The engine's level installment in cents, in Decimal exactly as ``generate`` works it out
    (``P / ((1 - (1 + r)^-n) / r)`` under MONEY_CONTEXT, half-even to cents, at least one cent)."""
    with decimal.localcontext(MONEY_CONTEXT):
        P = Decimal(int(principal_cents)).scaleb(-2)
        r = Decimal(int(annual_rate_e4)).scaleb(-4) / (Decimal(100) * 12)
        d = Decimal(term) if r == 0 else (Decimal(1) - (Decimal(1) + r) ** -term) / r
        emi = (P / d).quantize(Decimal("0.01"), decimal.ROUND_HALF_EVEN)
    return max(int(emi.scaleb(2)), 1)


def _installments(b: np.ndarray, k: np.ndarray, n) -> tuple[np.ndarray, np.ndarray]:
    """Level installment in cents per loan, and the mask of loans that went through Decimal."""
    n_arr = np.broadcast_to(np.asarray(n, dtype=np.int64), b.shape)
    bf = b.astype(np.float64)
    r = k / float(RATE_DEN)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = bf * r / -np.expm1(-n_arr * np.log1p(r))
    zero = k == 0
    x[zero] = 0.0
    fl = np.floor(x)
    frac = x - fl
    tol = 1e-6 + 1e-13 * x
    risky = (np.abs(frac - 0.5) <= tol) & ~zero
    emi = fl.astype(np.int64) + (frac > 0.5)
    if zero.any():
        emi[zero] = _div_half_even(b[zero], n_arr[zero])
    np.maximum(emi, 1, out=emi)          # the engine's floor: an installment of at least one cent
    for i in np.flatnonzero(risky):
        emi[i] = installment_cents_exact(int(b[i]), int(k[i]), int(n_arr[i]))
    return emi, risky


# --- the loop over periods ---------------------------------------------------------------------------------

def _run_chunk(b, k, level, equal_installment, n, PR, IN, TO, OU, s, e):
    m = e - s
    num = np.empty(m, np.int64)
    chk = np.empty(m, np.int64)
    mask = np.empty(m, np.bool_)
    bal = b[s:e]
    kk = k[s:e]
    lv = level[s:e]
    last = n - 1
    for i in range(n):
        acc = IN[i, s:e]
        np.multiply(bal, kk, out=num)
        num += _HALF
        np.floor_divide(num, RATE_DEN, out=acc)          # half-up ...
        np.multiply(acc, RATE_DEN, out=chk)
        np.equal(chk, num, out=mask)                      # ... exact only off the (rare) ties
        if mask.any():
            _fix_ties(acc, mask)
        prin = PR[i, s:e]
        if i == last:
            prin[...] = bal
            np.add(bal, acc, out=TO[i, s:e])
            OU[i, s:e] = 0
        else:
            if equal_installment:
                np.subtract(lv, acc, out=prin)
            else:
                prin[...] = lv
            np.minimum(prin, bal, out=prin)               # paid off early by rounding: stop there
            np.add(prin, acc, out=TO[i, s:e])
            out = OU[i, s:e]
            np.subtract(bal, prin, out=out)
            bal = out


def _project(b, k, n, level, equal_installment, workers, chunk):
    N = b.size
    PR = np.empty((n, N), np.int64)
    IN = np.empty((n, N), np.int64)
    TO = np.empty((n, N), np.int64)
    OU = np.empty((n, N), np.int64)
    bounds = [(s, min(s + chunk, N)) for s in range(0, N, chunk)]
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    if workers > 1 and len(bounds) > 1:
        with ThreadPoolExecutor(max_workers=workers) as ex:
            list(ex.map(lambda se: _run_chunk(b, k, level, equal_installment, n, PR, IN, TO, OU, *se), bounds))
    else:
        for s, e in bounds:
            _run_chunk(b, k, level, equal_installment, n, PR, IN, TO, OU, s, e)
    return PR, IN, TO, OU


def _n_rows(OU: np.ndarray, n: int) -> np.ndarray:
    """Rows each loan really has: ``n`` unless rounding paid it off early (rare)."""
    N = OU.shape[1]
    rows = np.full(N, n, dtype=np.int64)
    if n > 1:
        early = np.flatnonzero(OU[n - 2] == 0)
        if early.size:
            rows[early] = np.argmax(OU[:, early] == 0, axis=0) + 1
    return rows


def project(principal_cents, annual_rate_e4, term, *, method: str = "equal_installment",
            workers: int | None = None, chunk: int = _CHUNK) -> dict[str, np.ndarray]:
    """Monthly schedules of many loans at once, identical to ``generate`` row by row.

    ``principal_cents``: int64 array (cents); ``annual_rate_e4``: int64 array or scalar, the
    annual rate in 0.0001 percent (12 % = 120000, see :func:`rate_e4`); ``term``: months, one
    int for all loans or an int array per loan; ``method``: ``"equal_installment"`` or
    ``"equal_principal"``.

    Returns a dict of int64 arrays:
    ``principal``, ``interest``, ``total``, ``outstanding``: shape ``(n_loans, max_term)``
    (transposed views of period-major arrays; rows past a loan's ``n_rows`` are zero);
    ``installment``: ``(n_loans,)`` the level installment (equal installment) or the equal
    principal (equal principal) in cents; ``n_rows``: ``(n_loans,)`` the rows each loan has
    (its term unless rounding paid it off early); ``fallback``: ``(n_loans,)`` bool, the loans
    whose installment was verified in Decimal because the float annuity was within a hair of a
    half cent.
    """
    if method not in ("equal_installment", "equal_principal"):
        raise ValueError("method must be equal_installment or equal_principal")
    b, k, n, terms = _check(principal_cents, annual_rate_e4, term)
    ei = method == "equal_installment"
    nn = n if terms is None else terms
    if ei:
        level, fallback = _installments(b, k, nn)
    else:
        level = _div_half_even(b, nn)
        fallback = np.zeros(b.size, dtype=np.bool_)
    if ei and b.size:
        # the engine's fast path needs the first interest <= installment (true for any annuity;
        # checked so that the loop's principal can never go below zero)
        first = _div_half_even(b * k, RATE_DEN)
        if bool((first > level).any()):
            raise AssertionError("installment below the first interest")  # pragma: no cover

    if terms is None:
        PR, IN, TO, OU = _project(b, k, n, level, ei, workers, chunk)
        rows = _n_rows(OU, n)
    else:
        N = b.size
        PR = np.zeros((n, N), np.int64)
        IN = np.zeros((n, N), np.int64)
        TO = np.zeros((n, N), np.int64)
        OU = np.zeros((n, N), np.int64)
        rows = np.empty(N, np.int64)
        for t in np.unique(terms):
            t = int(t)
            idx = np.flatnonzero(terms == t)
            sub = _project(b[idx], k[idx], t, level[idx], ei, workers, chunk)
            for dst, src in zip((PR, IN, TO, OU), sub):
                dst[:t, idx] = src
            rows[idx] = _n_rows(sub[3], t)
    return {"principal": PR.T, "interest": IN.T, "total": TO.T, "outstanding": OU.T,
            "installment": level, "n_rows": rows, "fallback": fallback}


def project_equal_installment(principal_cents, annual_rate_e4, term, *, workers: int | None = None,
                              chunk: int = _CHUNK) -> dict[str, np.ndarray]:
    """Equal-installment (annuity) monthly schedules; see :func:`project`."""
    return project(principal_cents, annual_rate_e4, term, method="equal_installment", workers=workers, chunk=chunk)


def project_equal_principal(principal_cents, annual_rate_e4, term, *, workers: int | None = None,
                            chunk: int = _CHUNK) -> dict[str, np.ndarray]:
    """Equal-principal monthly schedules; see :func:`project`."""
    return project(principal_cents, annual_rate_e4, term, method="equal_principal", workers=workers, chunk=chunk)
