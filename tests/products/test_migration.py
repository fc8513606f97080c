"""Migration 0003 goes down and up again cleanly."""

from __future__ import annotations

import itertools
import os

import psycopg

from openlend import db as dbmod
from openlend import migrate

_n = itertools.count()


def test_0003_downgrades_and_upgrades(pg_server_url, template_db):
    name = f"openlend_products_mig_{os.getpid()}_{next(_n)}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    url = dbmod.with_database(pg_server_url, name)
    try:
        migrate.downgrade(url, "0002")
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT to_regclass('loan_products')").fetchone()[0] is None
        migrate.upgrade(url, "0003")
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT to_regclass('loan_product_versions')").fetchone()[0] is not None
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
