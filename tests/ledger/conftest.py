"""Ledger test fixtures: connections to the test database (helpers live in ledger_helpers.py)."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.rows import dict_row


@pytest.fixture
def conn(database):
    """One connection from the test's pool; each test commits what it means to keep."""
    with database.pool.connection() as c:
        yield c


@pytest.fixture
def raw(database_url):
    """A plain connection (not from the pool) for raw SQL against the guards."""
    with psycopg.connect(database_url, row_factory=dict_row) as c:
        yield c
