"""The vectorised schedule path (openlend.schedule.vector) against the Decimal engine, bit for bit.

Every comparison is row by row and field by field (principal, interest, total, outstanding) and on
the number of rows, against ``generate`` itself, never against a re-implementation.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openlend.schedule import vector as V
from openlend.schedule.engine import ScheduleTerms, generate

DISB = date(2024, 1, 31)   # a month end: the dates are the engine's business, the amounts ours
FIELDS = ("principal", "interest", "total", "outstanding")


def engine_rows(b: int, k: int, term: int, method: str) -> np.ndarray:
    """The engine's rows of one loan as int cents, shape (rows, 4)."""
    s = generate(ScheduleTerms(principal=Decimal(b).scaleb(-2), annual_rate=Decimal(k).scaleb(-4),
                               method=method, term=term, disbursement_date=DISB))
    return np.array([[int(getattr(r, f).scaleb(2)) for f in FIELDS] for r in s.installments], dtype=np.int64)


def assert_identical(b, k, t, method="equal_installment", **kw) -> dict:
    b = np.asarray(b, dtype=np.int64)
    k = np.broadcast_to(np.asarray(k, dtype=np.int64), b.shape)
    res = V.project(b, k, t, method=method, **kw)
    terms = np.broadcast_to(np.asarray(t, dtype=np.int64), b.shape)
    got = np.stack([res[f] for f in FIELDS], axis=-1)          # (loans, max_term, 4)
    mismatches = []
    for i in range(b.size):
        exp = engine_rows(int(b[i]), int(k[i]), int(terms[i]), method)
        n = exp.shape[0]
        ok = (res["n_rows"][i] == n and np.array_equal(got[i, :n], exp)
              and not got[i, n:].any())                          # rows past the end are zero
        if not ok:
            mismatches.append((int(b[i]), int(k[i]), int(terms[i])))
    assert not mismatches, f"{len(mismatches)} loans differ from the engine, e.g. {mismatches[:5]}"
    return res


# --- identity on random books ---------------------------------------------------------------------

def random_book(n: int, seed: int):
    rng = np.random.default_rng(seed)
    b = rng.integers(100_00, 500_000_00 + 1, n)        # 100.00 .. 500,000.00
    k = rng.integers(1, 36_0000 + 1, n)                # 0.0001 % .. 36 %, four decimals
    t = rng.integers(1, 61, n)                         # 1 .. 60 months
    return b, k, t


def test_equal_installment_identical_to_engine_on_2000_random_loans():
    b, k, t = random_book(2000, seed=20240131)
    res = assert_identical(b, k, t)
    assert res["principal"].shape == (2000, 60)
    assert res["principal"].dtype == np.int64


def test_equal_principal_identical_to_engine_on_1000_random_loans():
    b, k, t = random_book(1000, seed=7)
    assert_identical(b, k, t, method="equal_principal")


def test_common_rates_and_round_principals():
    # products price in whole or half percents and lend round amounts: many exact ties
    rng = np.random.default_rng(3)
    b = rng.integers(1, 5000, 800) * 100_00 // rng.choice([1, 2, 4, 8], 800)
    k = rng.choice(np.arange(1, 73) * 5000, 800)          # 0.5 % .. 36 % in half percents
    t = rng.choice([3, 6, 9, 12, 18, 24, 36, 48, 60], 800)
    assert_identical(b, k, t)
    assert_identical(b, k, t, method="equal_principal")


def test_scalar_term_36_months_one_rate():
    b, _, _ = random_book(300, seed=11)
    assert_identical(b, 120000, 36)


@settings(max_examples=150, deadline=None)
@given(b=st.integers(1, 10**10), k=st.integers(0, V.MAX_RATE_E4), t=st.integers(1, 72),
       method=st.sampled_from(["equal_installment", "equal_principal"]))
def test_any_single_loan_is_identical(b, k, t, method):
    assert_identical([b], k, t, method=method)


# --- edge cases ----------------------------------------------------------------------------------

def test_zero_rate():
    b = np.array([1, 2, 3, 5, 35, 100, 12345, 100_000_00, 99_999_99])
    for t in (1, 2, 3, 4, 7, 12, 36, 60):
        res = assert_identical(b, 0, t)
        assert not res["interest"].any()
        assert_identical(b, 0, t, method="equal_principal")


def test_tiny_principals_including_early_payoff_by_rounding():
    b = np.repeat(np.arange(1, 301), 3)
    rng = np.random.default_rng(5)
    k = rng.integers(0, 36_0000, b.size)
    t = rng.integers(1, 61, b.size)
    ei = assert_identical(b, k, t)
    ep = assert_identical(b, k, t, method="equal_principal")
    # rounding the level amount up pays some of these off before the term: the path is exercised
    assert (ep["n_rows"] < t).any()
    assert (ei["n_rows"] <= t).all()


def test_equal_principal_paid_off_early():
    res = assert_identical([3], 0, 4, method="equal_principal")   # 0.03 over 4: 0.01 x 3, then done
    assert res["n_rows"][0] == 3
    assert res["principal"][0].tolist() == [1, 1, 1, 0]


def tie_loans(count: int, seed: int, max_balance: int = 10**10):
    """Loans whose first interest ``b * k / 12e6`` is exactly m + 1/2 cents, over all k % 3."""
    rng = np.random.default_rng(seed)
    D = V.RATE_DEN
    bs, ks = [], []
    while len(bs) < count:
        k = int(rng.integers(1, 36_0000 + 1))
        g = math.gcd(k, D)
        M = D // g
        if M % 2:
            continue
        base = (D // (2 * g)) * pow(k // g, -1, M) % M
        bal = base + M * int(rng.integers(0, max(1, max_balance // M)))
        if bal > 0:
            bs.append(bal)
            ks.append(k)
    b, k = np.array(bs, dtype=np.int64), np.array(ks, dtype=np.int64)
    assert ((b * k) % D == D // 2).all()
    return b, k


def test_half_cent_ties_go_half_even_like_the_engine():
    # Exact half-cent ties at every kind of rate, including those whose monthly rate
    # annual/1200 does not terminate (rate_e4 % 3 != 0): the engine and the vector path both
    # round the exact value half-even.  One-period loans show the raw interest.
    b, k = tie_loans(1500, seed=1)
    res = assert_identical(b, k, 1)
    m = (b * k) // V.RATE_DEN
    plain_half_even = m + (m & 1)
    assert res["interest"][:, 0].tolist() == plain_half_even.tolist()
    # both ways occur (m even: down, m odd: up), at all three rate_e4 % 3 classes
    for r in (0, 1, 2):
        sel = k % 3 == r
        assert (m[sel] & 1 == 0).any() and (m[sel] & 1 == 1).any()


def test_ties_inside_longer_schedules():
    b, k = tie_loans(300, seed=2, max_balance=50_000_000)
    assert_identical(b, k, 12)
    assert_identical(b, k, 12, method="equal_principal")


def test_installment_verified_against_decimal():
    rng = np.random.default_rng(9)
    b = rng.integers(1, 10**10, 5000)
    k = rng.integers(0, V.MAX_RATE_E4 + 1, 5000)
    t = rng.integers(1, 121, 5000)
    emi, fallback = V._installments(b, k, t)
    exact = [V.installment_cents_exact(int(x), int(y), int(z)) for x, y, z in zip(b, k, t)]
    assert emi.tolist() == exact


def test_exact_half_cent_annuity_goes_through_decimal():
    # one period: the annuity is P (1 + r), a half cent exactly for these loans
    b, k = tie_loans(200, seed=4)
    emi, fallback = V._installments(b, k, 1)
    assert fallback.all()
    assert emi.tolist() == [V.installment_cents_exact(int(x), int(y), 1) for x, y in zip(b, k)]


def test_largest_principal_at_the_highest_rate():
    top = (2**63 - 1 - V.RATE_DEN // 2) // V.MAX_RATE_E4
    assert_identical([top, top - 1], V.MAX_RATE_E4, 3)
    with pytest.raises(ValueError, match="overflow"):
        V.project([top + 1], V.MAX_RATE_E4, 3)


def test_chunks_threads_and_term_arrays_agree():
    b, k, _ = random_book(3000, seed=12)
    ref = V.project(b, k, 24, workers=1)
    for kw in (dict(workers=2, chunk=7), dict(workers=1, chunk=1000), dict(workers=2)):
        other = V.project(b, k, 24, **kw)
        for f in FIELDS + ("installment", "n_rows"):
            assert np.array_equal(ref[f], other[f]), (kw, f)
    per_loan = V.project(b, k, np.full(b.size, 24))
    for f in FIELDS:
        assert np.array_equal(ref[f], per_loan[f])


def test_inputs_are_checked():
    with pytest.raises(TypeError):
        V.project(np.array([100.0]), [120000], 12)
    with pytest.raises(TypeError):
        V.project([10000], np.array([12.0]), 12)
    with pytest.raises(ValueError):
        V.project([0], [120000], 12)
    with pytest.raises(ValueError):
        V.project([10000], [-1], 12)
    with pytest.raises(ValueError):
        V.project([10000], [V.MAX_RATE_E4 + 1], 12)
    with pytest.raises(ValueError):
        V.project([10000], [120000], 0)
    with pytest.raises(ValueError):
        V.project([10000], [120000], 12, method="flat")


def test_rate_e4():
    assert V.rate_e4(Decimal("12")) == 120000
    assert V.rate_e4("7.2315") == 72315
    assert V.rate_e4(Decimal("0.0001")) == 1
    with pytest.raises(ValueError):
        V.rate_e4("7.23155")
    with pytest.raises(TypeError):
        V.rate_e4(7.5)
