"""Demo data for ``openlend serve --demo``: every report has something to show.

Idempotent: running it again adds nothing that is already there."""

from __future__ import annotations

from .db import Database


def seed(database: Database) -> str:
    from .ledger.demo import seed_demo as seed_ledger
    from .lines.demo import seed_demo as seed_lines
    from .products.demo import seed_demo as seed_products

    parts = []
    with database.transaction() as conn:
        parts.append(seed_products(conn))
        parts.append(seed_ledger(conn))
        parts.append(seed_lines(conn))
    return "; ".join(p for p in parts if p)
