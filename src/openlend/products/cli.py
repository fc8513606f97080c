"""``openlend products``: loan products from the command line (same service, same rules as the API).

    openlend products create --file product.json      (or --file - for stdin)
    openlend products list [--status active|retired] [--limit N] [--cursor ID]
    openlend products get ID [--version N]
    openlend products versions ID
    openlend products new-version ID --file patch.json   (a JSON merge patch of the config)
    openlend products retire ID

Output is the product (or list) as the API shows it.  A refused request prints the problem's
detail and each field's pointer on stderr and exits 1; unreadable input exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import Problem


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("products", help="loan products: create, list, get, new versions, retire")
    sub = p.add_subparsers(dest="products_command", required=True)

    c = sub.add_parser("create", help="create a product from a JSON file (the POST /v1/products body)")
    c.add_argument("--file", "-f", required=True, help="JSON file, or - for stdin")
    c.set_defaults(func=_create)

    ls = sub.add_parser("list", help="list products, newest first")
    ls.add_argument("--status", choices=["active", "retired"])
    ls.add_argument("--limit", type=int, default=20)
    ls.add_argument("--cursor")
    ls.set_defaults(func=_list)

    g = sub.add_parser("get", help="show a product (current version, or --version N)")
    g.add_argument("id")
    g.add_argument("--version", type=int)
    g.set_defaults(func=_get)

    v = sub.add_parser("versions", help="list a product's versions, newest first")
    v.add_argument("id")
    v.add_argument("--limit", type=int, default=100)
    v.set_defaults(func=_versions)

    n = sub.add_parser("new-version", help="make a new version from a JSON merge patch of the config")
    n.add_argument("id")
    n.add_argument("--file", "-f", required=True, help="JSON file, or - for stdin")
    n.set_defaults(func=_new_version)

    r = sub.add_parser("retire", help="retire a product (no new versions, no new loans)")
    r.add_argument("id")
    r.set_defaults(func=_retire)


class _BadInput(Exception):
    pass


def _read_json(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise _BadInput(f"cannot read {path}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _BadInput(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None


def _run(work) -> int:
    from ..cli import fail, open_database, print_json

    try:
        database = open_database()
        try:
            with database.transaction() as conn:
                print_json(work(conn))
        finally:
            database.close()
    except Problem as exc:
        lines = [exc.detail] + [f"  {e['pointer']}: {e['detail']}" for e in exc.errors]
        return fail("\n".join(lines), 1)
    return 0


def _create(args: argparse.Namespace) -> int:
    from ..cli import fail
    from . import service

    try:
        doc = _read_json(args.file)
    except _BadInput as exc:
        return fail(str(exc), 2)
    return _run(lambda conn: service.create_product(conn, doc))


def _list(args: argparse.Namespace) -> int:
    from ..cli import fail
    from . import service

    if not 1 <= args.limit <= 100:
        return fail("--limit must be between 1 and 100")
    return _run(lambda conn: service.list_products(conn, limit=args.limit, cursor=args.cursor, status=args.status))


def _get(args: argparse.Namespace) -> int:
    from . import service

    return _run(lambda conn: service.get_product(conn, args.id, args.version))


def _versions(args: argparse.Namespace) -> int:
    from . import service

    return _run(lambda conn: service.list_versions(conn, args.id, limit=max(1, min(args.limit, 100))))


def _new_version(args: argparse.Namespace) -> int:
    from ..cli import fail
    from . import service

    try:
        patch = _read_json(args.file)
    except _BadInput as exc:
        return fail(str(exc), 2)
    return _run(lambda conn: service.new_version(conn, args.id, patch))


def _retire(args: argparse.Namespace) -> int:
    from . import service

    return _run(lambda conn: service.retire_product(conn, args.id))
