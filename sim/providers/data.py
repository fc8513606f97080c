"""What the stand-in answers: identity checks, carrier, court list, multi-lending and bureau report.

Pure functions of the request and an ``as_of`` date.  Documented identities (see
:mod:`.identities`) answer their documented profile; any other well-formed ID number gets data
generated from a ``random.Random`` seeded with the SHA-256 of the number, so it is the same on every
call and every run.  Amounts are decimal strings, dates ISO 8601, as a real provider sends them.
"""

from __future__ import annotations

import hashlib
import random
from datetime import date, timedelta
from typing import Any

from .identities import BY_ID_NUMBER, BY_MOBILE, TestIdentity


class NotFound(Exception):
    """The provider holds nothing on this subject (answered 404)."""


def seeded(value: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(value.encode()).digest()[:8], "big"))


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.year * 12 + d.month - 1 + months, 12)
    m += 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(y, m, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def month(d: date) -> str:
    return f"{d:%Y-%m}"


# --- identity factor checks (二/三/四要素) ---------------------------------------------------------

def factor_check(name: str, id_number: str, mobile: str | None = None, bank_card: str | None = None) -> str:
    """``match`` / ``mismatch`` / ``not_found`` for 2, 3 (mobile given) or 4 (card too) factors."""
    person = BY_ID_NUMBER.get(id_number)
    if person is not None and person.key == "not_found":
        return "not_found"
    if person is None:
        # Sandbox default: an undocumented number matches, unless a documented mobile or card is
        # presented with it (those belong to someone else).
        if (mobile and mobile in BY_MOBILE) or (bank_card and any(bank_card == p.bank_card for p in BY_ID_NUMBER.values())):
            return "mismatch"
        return "match"
    if name != person.name:
        return "mismatch"
    if mobile is not None and (mobile != person.mobile or person.key == "mismatch"):
        return "mismatch"
    if bank_card is not None and bank_card != person.bank_card:
        return "mismatch"
    return "match"


# --- carrier (运营商) ------------------------------------------------------------------------------

_CARRIERS = (
    ("China Mobile", "中国移动", ("134", "135", "136", "137", "138", "139", "147", "150", "151", "152", "157",
                                  "158", "159", "172", "178", "182", "183", "184", "187", "188", "195", "197", "198")),
    ("China Unicom", "中国联通", ("130", "131", "132", "145", "155", "156", "166", "175", "176", "185", "186", "196")),
    ("China Telecom", "中国电信", ("133", "149", "153", "173", "177", "180", "181", "189", "190", "191", "193", "199")),
    ("China Broadnet", "中国广电", ("192",)),
)
_CARRIER_PROFILES = {  # key: (status, tenure in months)
    "clean": ("active", 148), "thin": ("active", 14), "delinquent": ("suspended", 96),
    "shopper": ("active", 3), "malformed": ("active", 60), "mismatch": ("cancelled", 40),
}


def carrier_of(mobile: str) -> tuple[str, str]:
    for en, zh, prefixes in _CARRIERS:
        if mobile[:3] in prefixes:
            return en, zh
    return "MVNO", "虚拟运营商"


def carrier_profile(mobile: str, as_of: date) -> dict[str, Any]:
    person = BY_MOBILE.get(mobile)
    if person is not None and person.key == "not_found":
        raise NotFound
    if person is not None:
        status, tenure = _CARRIER_PROFILES[person.key]
    else:
        rng = seeded(mobile)
        status, tenure = "active", rng.randint(6, 180)
    en, zh = carrier_of(mobile)
    return {"mobile": mobile[:3] + "****" + mobile[-4:], "carrier": en, "carrier_name": zh, "status": status,
            "tenure_months": tenure, "as_of": as_of.isoformat()}


# --- court dishonest-debtor list (失信被执行人) ------------------------------------------------------

def court_hits(name: str, id_number: str, as_of: date) -> list[dict[str, Any]]:
    person = BY_ID_NUMBER.get(id_number)
    if person is None or person.key != "delinquent" or person.name != name:
        return []
    return [
        {"case_number": f"({add_months(as_of, -14).year})沪0104执1234号", "court": "上海市徐汇区人民法院",
         "province": "上海", "filed_on": add_months(as_of, -14).isoformat(),
         "published_on": add_months(as_of, -12).isoformat(), "amount": "45000.00",
         "performance": "unperformed", "obligation": "偿还借款本金及利息"},
        {"case_number": f"({add_months(as_of, -7).year})沪0104执567号", "court": "上海市徐汇区人民法院",
         "province": "上海", "filed_on": add_months(as_of, -7).isoformat(),
         "published_on": add_months(as_of, -6).isoformat(), "amount": "8800.00",
         "performance": "partially_performed", "obligation": "支付信用卡欠款"},
    ]


# --- multi-lending (多头借贷) ----------------------------------------------------------------------

_MULTI = {  # key: ((lenders, applications) in 7, 30, 90 days)
    "clean": ((0, 0), (1, 1), (1, 2)), "thin": ((0, 0), (0, 0), (0, 0)),
    "delinquent": ((2, 3), (5, 8), (9, 16)), "shopper": ((6, 11), (14, 27), (22, 48)),
    "malformed": ((0, 0), (1, 1), (2, 2)), "mismatch": ((0, 0), (0, 0), (1, 1)),
}


def multi_lending(id_number: str, as_of: date) -> dict[str, Any]:
    person = BY_ID_NUMBER.get(id_number)
    if person is not None and person.key == "not_found":
        raise NotFound
    if person is not None:
        counts = _MULTI[person.key]
    else:
        rng = seeded(id_number + ":multi")
        l7 = rng.randint(0, 2)
        a7 = l7 + rng.randint(0, l7)
        l30 = l7 + rng.randint(0, 3)
        a30 = max(a7, l30) + rng.randint(0, 3)
        l90 = l30 + rng.randint(0, 4)
        a90 = max(a30, l90) + rng.randint(0, 4)
        counts = ((l7, a7), (l30, a30), (l90, a90))
    return {"as_of": as_of.isoformat(),
            "windows": [{"days": days, "lenders": lenders, "applications": apps}
                        for days, (lenders, apps) in zip((7, 30, 90), counts, strict=True)]}


# --- credit report (个人信用报告, PBOC-shaped) ------------------------------------------------------

def _loan(acct: str, inst: str, kind: str, opened: date, due: date, amount: str, balance: str, status: str,
          history: str, as_of_month: date) -> dict[str, Any]:
    assert len(history) == 24
    return {"account_id": acct, "institution": inst, "type": kind, "currency": "CNY",
            "open_date": opened.isoformat(), "due_date": due.isoformat(), "amount": amount, "balance": balance,
            "status": status, "status_month": month(as_of_month), "repayment_status_24m": history}


def _card(acct: str, inst: str, opened: date, limit: str, used: str, status: str, history: str,
          as_of_month: date) -> dict[str, Any]:
    assert len(history) == 24
    return {"account_id": acct, "institution": inst, "currency": "CNY", "open_date": opened.isoformat(),
            "credit_limit": limit, "used": used, "status": status, "status_month": month(as_of_month),
            "repayment_status_24m": history}


def _query(d: date, inst: str, reason: str) -> dict[str, Any]:
    return {"date": d.isoformat(), "institution": inst, "reason": reason}


BANK, CONSUMER, CARDS, AUTO, MICRO = ("沙盒商业银行", "沙盒消费金融有限公司", "沙盒银行信用卡中心",
                                       "沙盒汽车金融有限公司", "沙盒小额贷款有限公司")


def _documented_accounts(key: str, a: date) -> tuple[list, list, list, list, list]:
    """(loans, cards, overdue records, public records, queries) for a documented profile."""
    d = timedelta
    if key in ("clean", "malformed"):
        loans = [
            _loan("L01", BANK, "mortgage", add_months(a, -96), add_months(a, 264), "800000.00", "512345.67",
                  "normal", "N" * 24, a),
            _loan("L02", CONSUMER, "personal_consumption", add_months(a, -40), add_months(a, -10), "30000.00",
                  "0.00", "closed", "N" * 13 + "C" + "/" * 10, a),
        ]
        cards = [_card("C01", CARDS, add_months(a, -60), "50000.00", "12000.00", "normal", "N" * 24, a),
                 _card("C02", BANK, add_months(a, -20), "30000.00", "3000.00", "normal", "/" * 4 + "N" * 20, a)]
        queries = [_query(a - d(20), "本人", "self"), _query(a - d(40), BANK, "post_loan"),
                   _query(a - d(100), CARDS, "card_approval"), _query(a - d(200), CONSUMER, "loan_approval")]
        if key == "malformed":
            loans[0]["repayment_status_24m"] = "N" * 20 + "X" + "N" * 3
        return loans, cards, [], [], queries
    if key == "delinquent":
        prev = add_months(a, -1)
        loans = [
            _loan("L01", MICRO, "personal_consumption", add_months(a, -30), add_months(a, 6), "50000.00",
                  "38000.00", "overdue", "N" * 16 + "12345677", a),
            _loan("L02", AUTO, "auto", add_months(a, -60), add_months(a, -6), "120000.00", "0.00", "closed",
                  "NNN1" + "N" * 13 + "C" + "/" * 6, a),
        ]
        cards = [_card("C01", CARDS, add_months(a, -48), "20000.00", "19800.00", "overdue", "N" * 19 + "12333",
                       prev),
                 _card("C02", BANK, add_months(a, -70), "10000.00", "0.00", "closed", "N" * 10 + "C" + "/" * 13, a)]
        overdue = [{"account_id": "L01", "month": month(a), "months_overdue": 7, "amount": "12600.00"},
                   {"account_id": "C01", "month": month(prev), "months_overdue": 3, "amount": "2400.00"},
                   {"account_id": "L02", "month": month(add_months(a, -20)), "months_overdue": 1, "amount": "1580.00"}]
        public = [{"type": "civil_judgment", "authority": "上海市徐汇区人民法院",
                   "case_number": f"({add_months(a, -14).year})沪0104民初888号",
                   "date": add_months(a, -14).isoformat(), "amount": "45000.00", "status": "enforcement"}]
        queries = [_query(a - d(2), "本人", "self"), _query(a - d(5), MICRO, "post_loan"),
                   _query(a - d(10), CONSUMER, "loan_approval"), _query(a - d(25), BANK, "loan_approval"),
                   _query(a - d(35), CARDS, "post_loan"), _query(a - d(60), CARDS, "card_approval")]
        return loans, cards, overdue, public, queries
    if key == "shopper":
        loans = [_loan("L01", CONSUMER, "personal_consumption", add_months(a, -18), add_months(a, 6), "20000.00",
                       "6500.00", "normal", "/" * 6 + "N" * 18, a)]
        cards = [_card("C01", CARDS, add_months(a, -30), "15000.00", "9000.00", "normal", "N" * 24, a)]
        queries = [_query(a - d(3 + 5 * i), [CONSUMER, MICRO, BANK][i % 3], "loan_approval") for i in range(12)]
        queries += [_query(a - d(4 + 7 * i), CARDS, "card_approval") for i in range(4)]
        return loans, cards, [], [], sorted(queries, key=lambda q: q["date"], reverse=True)
    if key == "thin":
        return [], [], [], [], [_query(a - d(3), "本人", "self")]
    raise KeyError(key)


def _generated_accounts(id_number: str, a: date) -> tuple[list, list, list, list, list]:
    rng = seeded(id_number + ":bureau")

    def history(opened_months_ago: int) -> str:
        chars = ["N" if rng.random() > 0.04 else "1" for _ in range(24)]
        for i in range(max(0, 24 - opened_months_ago)):
            chars[i] = "/"
        return "".join(chars)

    loans, cards = [], []
    for i in range(rng.randint(0, 3)):
        age = rng.randint(3, 72)
        amount = rng.randrange(5000, 200000, 1000)
        bal = rng.randrange(0, amount, 100)
        loans.append(_loan(f"L{i + 1:02d}", rng.choice([BANK, CONSUMER, MICRO]), "personal_consumption",
                           add_months(a, -age), add_months(a, rng.randint(1, 36)), f"{amount}.00", f"{bal}.00",
                           "normal", history(age), a))
    for i in range(rng.randint(0, 3)):
        age = rng.randint(3, 120)
        limit = rng.randrange(2000, 100000, 1000)
        cards.append(_card(f"C{i + 1:02d}", rng.choice([CARDS, BANK]), add_months(a, -age), f"{limit}.00",
                           f"{rng.randrange(0, limit, 10)}.00", "normal", history(age), a))
    overdue = [{"account_id": acct["account_id"], "month": month(add_months(a, -(23 - i))), "months_overdue": 1,
                "amount": f"{rng.randrange(100, 3000)}.00"}
               for acct in loans + cards for i, c in enumerate(acct["repayment_status_24m"]) if c == "1"]
    reasons = ["loan_approval", "card_approval", "post_loan", "self"]
    queries = sorted((_query(a - timedelta(rng.randint(0, 720)), rng.choice([BANK, CONSUMER, CARDS]),
                             rng.choice(reasons)) for _ in range(rng.randint(0, 6))),
                     key=lambda q: q["date"], reverse=True)
    return loans, cards, overdue, [], queries


def credit_report(name: str, id_number: str, reason: str, as_of: date) -> dict[str, Any]:
    person: TestIdentity | None = BY_ID_NUMBER.get(id_number)
    if person is not None and person.key == "not_found":
        raise NotFound
    if person is not None:
        loans, cards, overdue, public, queries = _documented_accounts(person.key, as_of)
        mobile = person.mobile
    else:
        loans, cards, overdue, public, queries = _generated_accounts(id_number, as_of)
        mobile = None
    rng = seeded(id_number + ":report:" + as_of.isoformat())
    opened = [x["open_date"] for x in loans + cards]
    open_cards = [c for c in cards if c["status"] != "closed"]
    return {
        "header": {"report_id": f"{as_of:%Y%m%d}10000{rng.randrange(10**8):08d}", "report_version": "2.0.0",
                   "report_time": f"{as_of.isoformat()}T10:00:00+08:00", "query_institution": "openlend sandbox",
                   "query_reason": reason},
        "identity": {"name": name, "id_type": "resident_id", "id_number": id_number,
                     "gender": "male" if int(id_number[16]) % 2 else "female",
                     "birth_date": f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}",
                     "marital_status": rng.choice(["married", "single", "unknown"]),
                     "mobile": mobile, "address": "沙盒市示范区测试路1号"},
        "summary": {
            "loan_accounts": len(loans),
            "open_loan_accounts": sum(1 for x in loans if x["status"] != "closed"),
            "card_accounts": len(cards),
            "open_card_accounts": len(open_cards),
            "overdue_accounts": sum(1 for x in loans + cards if x["status"] == "overdue"),
            "first_credit_month": min(opened)[:7] if opened else None,
        },
        "loans": loans,
        "credit_cards": cards,
        "overdue_records": overdue,
        "public_records": public,
        "queries": queries,
    }
