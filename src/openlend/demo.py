"""Demo data for ``openlend serve --demo``: every report has something to show.

Idempotent: running it again adds nothing that is already there."""

from __future__ import annotations

from .db import Database


def seed(database: Database) -> str:
    from .ledger.demo import seed_demo as seed_ledger
    from .lines.demo import seed_demo as seed_lines
    from .products.demo import seed_demo as seed_products

    from .cob.service import never_closed
    from .loans.demo import seed_history

    parts = []
    with database.transaction() as conn:
        parts.append(seed_products(conn))
        parts.append(seed_ledger(conn))
        fresh = never_closed(conn)
        # a fresh book: the loans come from a replayed history (every state, COB each day); else, as
        # before, from drawdowns disbursed in the past
        parts.append(seed_lines(conn, with_loans=not fresh))
    if fresh:
        parts.append(seed_history(database))
    return "; ".join(p for p in parts if p)
