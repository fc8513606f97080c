"""Stripe's idempotency semantics, including a concurrent request with the same key (409)."""

from __future__ import annotations

import threading
import time

import pytest
from starlette.requests import Request

from openlend.errors import Problem
from openlend.web import idempotent


def make_request(key: str | None, path: str = "/v1/things") -> Request:
    headers = [(b"idempotency-key", key.encode())] if key else []
    return Request({"type": "http", "method": "POST", "path": path, "headers": headers, "query_string": b"",
                    "server": ("test", 80), "scheme": "http", "root_path": ""})


@pytest.fixture
def things(database):
    with database.transaction() as conn:
        conn.execute("CREATE TABLE things (id serial PRIMARY KEY, name text)")
    return database


def count(database) -> int:
    with database.transaction() as conn:
        return conn.execute("SELECT count(*) AS n FROM things").fetchone()["n"]


def create(name: str, delay: float = 0.0):
    def run(conn):
        row = conn.execute("INSERT INTO things (name) VALUES (%s) RETURNING id", [name]).fetchone()
        time.sleep(delay)
        return 201, {"id": row["id"], "name": name}
    return run


def test_same_key_same_body_replays(things):
    r1 = idempotent(make_request("k1"), things, "admin", {"name": "a"}, create("a"))
    r2 = idempotent(make_request("k1"), things, "admin", {"name": "a"}, create("a"))
    assert r1.status_code == r2.status_code == 201
    assert r1.body == r2.body and r2.headers["idempotent-replayed"] == "true"
    assert count(things) == 1


def test_same_key_other_body_is_422_and_writes_nothing(things):
    idempotent(make_request("k1"), things, "admin", {"name": "a"}, create("a"))
    with pytest.raises(Problem) as e:
        idempotent(make_request("k1"), things, "admin", {"name": "b"}, create("b"))
    assert e.value.status_code == 422 and e.value.type.slug == "idempotency-key-reused"
    assert count(things) == 1


def test_same_key_while_first_runs_is_409(things):
    results = {}

    def first():
        results["first"] = idempotent(make_request("k2"), things, "admin", {"name": "slow"}, create("slow", 1.0))

    t = threading.Thread(target=first)
    t.start()
    time.sleep(0.3)
    with pytest.raises(Problem) as e:
        idempotent(make_request("k2"), things, "admin", {"name": "slow"}, create("slow"))
    t.join()
    assert e.value.status_code == 409
    assert results["first"].status_code == 201
    assert count(things) == 1


def test_an_error_stores_no_key(things):
    def boom(conn):
        conn.execute("INSERT INTO things (name) VALUES ('x')")
        raise RuntimeError("rule broken")

    with pytest.raises(RuntimeError):
        idempotent(make_request("k3"), things, "admin", {"name": "x"}, boom)
    assert count(things) == 0
    r = idempotent(make_request("k3"), things, "admin", {"name": "x"}, create("x"))
    assert r.status_code == 201 and "idempotent-replayed" not in r.headers


def test_keys_are_scoped_by_route(things):
    idempotent(make_request("k4", "/v1/a"), things, "admin", {"name": "a"}, create("a"))
    r = idempotent(make_request("k4", "/v1/b"), things, "admin", {"name": "a"}, create("a"))
    assert "idempotent-replayed" not in r.headers
    assert count(things) == 2


def test_required_key_missing(things):
    with pytest.raises(Problem) as e:
        idempotent(make_request(None), things, "admin", {}, create("a"), required=True)
    assert e.value.type.slug == "idempotency-key-required"
