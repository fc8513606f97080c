"""The platform's conventions: auth, problem+json, request ids, masking in logs, migrations."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import psycopg

from openlend.logs import JsonFormatter, RedactingFilter, mask

ROOT = Path(__file__).resolve().parents[1]


def test_v1_requires_the_admin_token(client):
    r = client.get("/v1/products", headers={"Authorization": ""})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"] == "/problems/unauthorized" and body["status"] == 401 and body["detail"]
    r = client.get("/v1/products", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401


def test_unknown_route_is_a_problem(client):
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404
    assert r.json()["type"] == "/problems/not-found"


def test_malformed_json_is_400(client):
    r = client.post("/v1/schedules/preview", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["type"] == "/problems/malformed-json"


def test_problem_types_are_served_as_pages(client):
    r = client.get("/problems/unauthorized")
    assert r.status_code == 200 and "Authentication required" in r.text
    catalogue = client.get("/problems").json()["data"]
    assert {"type": "/problems/validation-error"}.items() <= catalogue[[p["type"] for p in catalogue].index("/problems/validation-error")].items()


def test_request_id_is_echoed_or_made(client):
    r = client.get("/health")
    assert r.status_code == 200 and r.headers["x-request-id"].startswith("req_")
    r = client.get("/health", headers={"X-Request-Id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"


def test_openapi_lists_the_routes(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for p in ("/v1/schedules/preview", "/v1/products", "/v1/ledger/accounts", "/v1/ledger/trial-balance"):
        assert p in paths, p
    assert client.get("/docs").status_code == 200


def test_logs_mask_id_numbers_cards_and_secrets():
    text = mask("id 110101199003077777 card 6222021234567890123 Authorization: Bearer abc.def password=hunter2")
    assert "110101199003077777" not in text and "6222021234567890123" not in text
    assert "abc.def" not in text and "hunter2" not in text
    assert "110101" in text and "0123" in text  # masked, not erased: support can still tell records apart
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "customer %s", ("110101199003077777",), None)
    RedactingFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert "110101199003077777" not in line["msg"]


def test_schema_comes_from_alembic_only(database_url):
    with psycopg.connect(database_url) as conn:
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    heads = sorted(p.name.split("_")[0] for p in (ROOT / "src/openlend/migrations/versions").glob("0*.py"))
    assert version == heads[-1]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci/run").read_text()
    command = next(line for line in ci.splitlines() if "pytest" in line and not line.startswith("#"))
    assert command.strip() in readme


def test_migrations_downgrade_and_upgrade(database_url):
    from openlend import migrate

    migrate.downgrade(database_url, "base")
    with psycopg.connect(database_url) as conn:
        left = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'").fetchone()[0]
    assert left == 0
    migrate.upgrade(database_url)
    assert migrate.current(database_url) is not None
