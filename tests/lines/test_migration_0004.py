"""Migration 0004 (customers, lines, loans) goes down and up again cleanly."""

from __future__ import annotations

import itertools
import os

import psycopg

from openlend import db as dbmod
from openlend import migrate

_n = itertools.count()
TABLES = ("customers", "credit_lines", "credit_line_limit_changes", "loans", "loan_schedule_versions",
          "loan_scheduled_installments", "loan_installments", "loan_transactions", "loan_posted_totals")


def test_0004_downgrades_and_upgrades(pg_server_url, template_db):
    name = f"openlend_servicing_mig_{os.getpid()}_{next(_n)}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    url = dbmod.with_database(pg_server_url, name)
    try:
        migrate.downgrade(url, "0003")
        with psycopg.connect(url) as conn:
            assert all(conn.execute("SELECT to_regclass(%s)", [t]).fetchone()[0] is None for t in TABLES)
            assert conn.execute("SELECT to_regclass('loan_receipt_seq')").fetchone()[0] is None
        migrate.upgrade(url, "0004")
        with psycopg.connect(url) as conn:
            assert all(conn.execute("SELECT to_regclass(%s)", [t]).fetchone()[0] is not None for t in TABLES)
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
