"""What other domains use: a product version in native form, the active-product guard, and a loan's
schedule terms; plus concurrent new versions."""

from __future__ import annotations

import threading
from datetime import date, datetime
from decimal import Decimal as D

import pytest

from openlend.errors import Problem
from openlend.products import service
from openlend.products.demo import DEMO_PRODUCTS
from openlend.schedule.engine import generate

CASH = next(p for p in DEMO_PRODUCTS if p["code"] == "DEMO-CASH-12M")


@pytest.fixture
def cash(database):
    with database.transaction() as conn:
        return service.create_product(conn, CASH)


def test_get_product_version_gives_decimals_and_dates(database, cash):
    with database.transaction() as conn:
        p = service.get_product_version(conn, cash["id"])
    assert (p["id"], p["code"], p["version"], p["status"]) == (cash["id"], "DEMO-CASH-12M", 1, "active")
    assert p["rate"] == {"min": D("10.8"), "max": D(18), "default": D(18)}
    assert p["amount"] == {"min": D("500.00"), "max": D("50000.00")}
    assert p["fees"] == [{"name": "service", "kind": "each_installment", "calculation": "percent", "value": D("0.1")}]
    assert p["penalty"]["value"] == D("1.5") and p["rounding"]["installment_multiple"] is None
    assert isinstance(p["created_at"], datetime) and isinstance(p["version_created_at"], datetime)


def test_a_loan_keeps_its_version_after_the_product_changes(database, cash):
    with database.transaction() as conn:
        service.new_version(conn, cash["id"], {"rate": {"max": "20", "default": "20"}})
    with database.transaction() as conn:
        v1 = service.get_product_version(conn, cash["id"], 1)
        v2 = service.get_product_version(conn, cash["id"])
    assert (v1["version"], v1["rate"]["default"]) == (1, D(18))
    assert (v2["version"], v2["rate"]["default"]) == (2, D(20))
    t1 = service.schedule_terms_for(v1, principal=D("1200.00"), term=12, disbursement_date=date(2024, 1, 15))
    t2 = service.schedule_terms_for(v2, principal=D("1200.00"), term=12, disbursement_date=date(2024, 1, 15))
    assert (t1.annual_rate, t2.annual_rate) == (D(18), D(20))
    s = generate(t1)
    assert len(s.installments) == 12 and s.installments[0].fees == D("1.20")


def test_schedule_terms_outside_the_product_are_a_problem_with_pointers(database, cash):
    with database.transaction() as conn:
        p = service.get_product_version(conn, cash["id"])
    with pytest.raises(Problem) as exc:
        service.schedule_terms_for(p, principal=D("100.00"), term=5, annual_rate=D(30), disbursement_date=date(2024, 1, 1))
    assert exc.value.type.slug == "outside-product-limits" and exc.value.status_code == 422
    assert [e["pointer"] for e in exc.value.errors] == ["/principal", "/term", "/annual_rate"]
    with pytest.raises(Problem) as exc:
        service.schedule_terms_for(p, principal=D("1000.00"), term=3, disbursement_date=date(2024, 1, 1),
                                   first_due_date=date(2023, 12, 1))
    assert exc.value.type.slug == "validation-error"
    assert exc.value.errors[0]["pointer"] == "/first_due_date"


def test_a_retired_product_takes_no_new_loans(database, cash):
    with database.transaction() as conn:
        assert service.get_active_product_version(conn, cash["id"])["status"] == "active"
        service.retire_product(conn, cash["id"])
    with database.transaction() as conn:
        with pytest.raises(Problem) as exc:
            service.get_active_product_version(conn, cash["id"])
        assert exc.value.type.slug == "product-retired" and exc.value.status_code == 409
        # The versions loans were made on stay readable.
        assert service.get_product_version(conn, cash["id"], 1)["version"] == 1


def test_unknown_product_or_version_is_404(database, cash):
    with database.transaction() as conn:
        for pid, version in (("prod_nothing", None), ("line_x", None), (cash["id"], 9)):
            with pytest.raises(Problem) as exc:
                service.get_product_version(conn, pid, version)
            assert exc.value.status_code == 404


def test_concurrent_new_versions_are_numbered_one_after_the_other(database, cash):
    barrier = threading.Barrier(4)
    results, failures = [], []

    def bump(i: int) -> None:
        barrier.wait()
        try:
            with database.transaction() as conn:
                results.append(service.new_version(conn, cash["id"], {"name": f"Cash v{i}"})["version"])
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            failures.append(exc)

    threads = [threading.Thread(target=bump, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert sorted(results) == [2, 3, 4, 5]
    with database.transaction() as conn:
        assert service.get_product_version(conn, cash["id"])["current_version"] == 5


def test_fields_never_set_follow_their_defaults_after_a_patch(database, cash):
    # DEMO-CASH-12M set neither rounding places nor term.min/max: they follow the currency and the
    # allowed terms.
    with database.transaction() as conn:
        v2 = service.new_version(conn, cash["id"], {"currency": "JPY", "amount": {"min": "500", "max": "50000"},
                                                    "term": {"allowed": [6, 24]}, "apr_cap": "22"})
    assert v2["rounding"]["places"] == 0 and v2["amount"] == {"min": "500", "max": "50000"}
    assert v2["term"] == {"min": 6, "max": 24, "allowed": [6, 24]}
    # An explicit value stays until it is unset with null.
    with database.transaction() as conn:
        v3 = service.new_version(conn, cash["id"], {"apr_cap": None})
    assert v3["apr_cap"] is None and v3["worst_case_apr"]["cap"] == "24"


def test_a_single_rate_product_moves_its_range_with_its_default(database):
    with database.transaction() as conn:
        p = service.create_product(conn, {"code": "ONE", "name": "One rate", "currency": "CNY", "method": "flat",
                                          "rate": {"default": "8"}, "term": {"min": 6, "max": 12},
                                          "amount": {"min": "1000.00", "max": "5000.00"}})
        v2 = service.new_version(conn, p["id"], {"rate": {"default": "9"}})
    assert p["rate"] == {"min": "8", "max": "8", "default": "8"}
    assert v2["rate"] == {"min": "9", "max": "9", "default": "9"}


def test_merge_patch_follows_rfc_7396():
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    assert service.merge_patch(target, {"a": "z", "c": {"f": None}, "l": [3]}) == {"a": "z", "c": {"d": "e"}, "l": [3]}
    assert target == {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
