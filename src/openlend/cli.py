"""The ``openlend`` command.

    openlend serve [--demo]        start the API (embedded PostgreSQL unless DATABASE_URL is set)
    openlend db upgrade            run migrations
    openlend schedule              JSON terms on stdin -> schedule JSON on stdout
    openlend products ...          loan products
    openlend ledger ...            chart of accounts, entries, trial balance

Each domain adds its own sub-commands through a ``register(subparsers)`` function in its
``cli.py``; commands that need the database get it from :func:`open_database`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .settings import get_settings


def open_database():
    from .db import Database, resolve_database_url, set_database
    from . import migrate

    s = get_settings()
    url = resolve_database_url(s)
    migrate.upgrade(url)
    database = Database(url, min_size=1, max_size=4).open()
    set_database(database)
    return database


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")


def fail(message: str, code: int = 2) -> int:
    sys.stderr.write(f"openlend: {message}\n")
    return code


def cmd_db(args: argparse.Namespace) -> int:
    from .db import redact_url, resolve_database_url
    from . import migrate

    url = resolve_database_url(get_settings())
    if args.db_command == "upgrade":
        migrate.upgrade(url, args.revision)
        print(f"database {redact_url(url)} at revision {migrate.current(url)}")
    elif args.db_command == "current":
        print(migrate.current(url) or "(empty)")
    elif args.db_command == "url":
        print(redact_url(url))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .server import serve

    return serve(demo=args.demo, host=args.host, port=args.port, workers=args.workers)


def cmd_schedule(args: argparse.Namespace) -> int:
    from .schedule.cli import run as run_schedule

    return run_schedule(sys.stdin, sys.stdout, sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openlend", description="openlend: digital consumer lending")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="start the API server")
    p.add_argument("--demo", action="store_true", help="seed demo data and print an admin token if none is set")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--workers", type=int, default=None)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("db", help="database migrations")
    dbsub = p.add_subparsers(dest="db_command", required=True)
    up = dbsub.add_parser("upgrade", help="apply migrations")
    up.add_argument("revision", nargs="?", default="head")
    dbsub.add_parser("current", help="show the current revision")
    dbsub.add_parser("url", help="show the database URL (password hidden)")
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("schedule", help="repayment schedule(s): JSON terms on stdin, JSON schedule(s) on stdout")
    p.set_defaults(func=cmd_schedule)

    from .products.cli import register as register_products
    from .ledger.cli import register as register_ledger

    from .cob.cli import register as register_cob

    register_products(sub)
    register_ledger(sub)
    register_cob(sub)
    __import__("openlend.decisioning.cli", fromlist=["register"]).register(sub)  # openlend model ...
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
